#pragma once
// Glue shared by itercore.bcd's binding files (bcd*.cpp): partition views.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>

#include "binding_utils.hpp"
#include "itercore/bcd/rules.hpp"

namespace itercore::bind {

/// Borrows a partition of 0..n-1 from CSR-style int64 arrays (block k holds
/// idx[ptr[k] .. ptr[k+1])); the core checks that it covers every variable once.
inline bcd::Partition partition_view(const carray<std::int64_t>& ptr, const carray<std::int64_t>& idx,
                                     std::int64_t n) {
  if (ptr.ndim() != 1 || ptr.shape(0) < 2) throw std::invalid_argument("blocks: an empty partition");
  check_length(idx, n, "blocks");
  return bcd::Partition{ptr.data(), idx.data(), static_cast<std::int64_t>(ptr.shape(0)) - 1};
}

}  // namespace itercore::bind
