#pragma once
// Glue shared by itercore.bcd's binding files (bcd*.cpp): partition views.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

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

/// The per-iteration monitor of a CG solve for the Python callback: a copy of
/// x (length n) and the residual; empty when there is no callback.
inline std::function<bool(std::int64_t, const double*, double)> x_monitor(Callback& cb, std::int64_t n) {
  if (!cb.active()) return {};
  return [&cb, n](std::int64_t it, const double* xc, double residual) {
    return cb.report(it, residual, [&] { return pybind11::dict(pybind11::arg("x") = copy_of(xc, n)); });
  };
}

/// Solves the k right-hand sides b_c = B[c] (rows of length n) one after
/// another into the rows of X by solve(b, x) -> SolveInfo; an interrupt or
/// a callback stop ends the sequence. Returns the infos of the rows solved.
template <class Solve>
std::vector<SolveInfo> solve_rows(std::int64_t k, std::int64_t n, const double* B, double* X, Solve&& solve) {
  std::vector<SolveInfo> infos;
  for (std::int64_t c = 0; c < k; ++c) {
    infos.push_back(solve(B + c * n, X + c * n));
    const Status st = infos.back().status;
    if (st == Status::interrupted || st == Status::callback_stop) break;
  }
  return infos;
}

}  // namespace itercore::bind
