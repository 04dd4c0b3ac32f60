#pragma once
/// Assembly of the Lagrangian Newton (KKT) matrix
///
///     K = [[B, G^T],
///          [G, 0  ]]      (B: n x n Hessian approximation, G: m x n Jacobian)
///
/// from CSR blocks, in CSR with int64 offsets and column indices, so a sparse
/// problem stays sparse end to end (the dense path assembles with NumPy).

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "itercore/common/csr.hpp"

namespace itercore::optimize {

/// An owning CSR matrix (int64 indices), the output of `assemble_kkt`.
template <class Scalar>
struct CsrOwned {
  std::int64_t rows = 0, cols = 0;
  std::vector<std::int64_t> indptr, indices;
  std::vector<Scalar> data;
};

/// K = [[B, G^T], [G, 0]] with sorted column indices in every row
/// (B and G canonical CSR: sorted, unique columns). B's stored zeros are kept
/// so the pattern does not depend on the values.
template <class Scalar, class Index>
CsrOwned<Scalar> assemble_kkt(const CsrView<Scalar, Index>& B, const CsrView<Scalar, Index>& G) {
  if (B.rows != B.cols) throw std::invalid_argument("assemble_kkt: B must be square");
  if (G.cols != B.cols) throw std::invalid_argument("assemble_kkt: G must have as many columns as B");
  const std::int64_t n = B.rows, m = G.rows, N = n + m;
  // G^T by a counting pass: column i of G becomes row i of G^T; rows of G are
  // visited in order, so each G^T row comes out sorted.
  std::vector<std::int64_t> tptr(n + 1, 0);
  for (std::int64_t p = 0; p < G.nnz(); ++p) ++tptr[G.indices[p] + 1];
  for (std::int64_t i = 0; i < n; ++i) tptr[i + 1] += tptr[i];
  std::vector<std::int64_t> tcol(G.nnz()), fill(tptr.begin(), tptr.end() - 1);
  std::vector<Scalar> tval(G.nnz());
  for (std::int64_t j = 0; j < m; ++j)
    for (Index p = G.indptr[j]; p < G.indptr[j + 1]; ++p) {
      const std::int64_t q = fill[G.indices[p]]++;
      tcol[q] = j;
      tval[q] = G.data[p];
    }
  CsrOwned<Scalar> K;
  K.rows = K.cols = N;
  const std::int64_t nnz = static_cast<std::int64_t>(B.nnz()) + 2 * static_cast<std::int64_t>(G.nnz());
  K.indptr.resize(N + 1);
  K.indices.reserve(nnz);
  K.data.reserve(nnz);
  K.indptr[0] = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    for (Index p = B.indptr[i]; p < B.indptr[i + 1]; ++p) {
      K.indices.push_back(B.indices[p]);
      K.data.push_back(B.data[p]);
    }
    for (std::int64_t q = tptr[i]; q < tptr[i + 1]; ++q) {
      K.indices.push_back(n + tcol[q]);
      K.data.push_back(tval[q]);
    }
    K.indptr[i + 1] = static_cast<std::int64_t>(K.indices.size());
  }
  for (std::int64_t j = 0; j < m; ++j) {
    for (Index p = G.indptr[j]; p < G.indptr[j + 1]; ++p) {
      K.indices.push_back(G.indices[p]);
      K.data.push_back(G.data[p]);
    }
    K.indptr[n + j + 1] = static_cast<std::int64_t>(K.indices.size());
  }
  return K;
}

}  // namespace itercore::optimize
