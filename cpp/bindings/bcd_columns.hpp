#pragma once
// Glue shared by the lasso and smooth bindings: the two layouts of X their
// cores read (X^T dense p x n, or X^T as CSR, i.e. X in CSC).
#include <pybind11/numpy.h>

#include <stdexcept>

#include "binding_utils.hpp"
#include "itercore/bcd/lasso.hpp"

namespace itercore::bind {

/// Dense X given as its C-ordered transpose (p x n).
inline bcd::DenseColumns<double> dense_columns(const carray<double>& xt) {
  if (xt.ndim() != 2) throw std::invalid_argument("xt must be 2-D");
  bcd::DenseColumns<double> X;
  X.xt = xt.data();
  X.p = xt.shape(0);
  X.n = xt.shape(1);
  return X;
}

/// Sparse X (n x p) given as the CSR arrays of X^T.
template <class Index>
bcd::SparseColumns<double, Index> sparse_columns(Index n, Index p, const carray<Index>& indptr,
                                                 const carray<Index>& indices, const carray<double>& data) {
  bcd::SparseColumns<double, Index> X;
  X.xt = csr_view<double, Index>(p, n, indptr, indices, data);
  X.n = n;
  X.p = p;
  return X;
}

}  // namespace itercore::bind
