#pragma once
/// Direct solves of the KKT system K z = rhs: dense LU with full pivoting
/// (rank-revealing, so a singular K, e.g. from a rank-deficient constraint
/// Jacobian, is reported instead of producing garbage) and sparse LU
/// (Eigen::SparseLU, COLAMD ordering). K is symmetric indefinite; Eigen has no
/// Bunch-Kaufman LDL^T, and its LDLT without 2x2 pivots is not reliable on
/// saddle-point matrices, so LU is used for both.

#include <Eigen/Dense>
#include <Eigen/SparseCore>
#include <Eigen/SparseLU>
#include <cmath>
#include <cstdint>

#include "itercore/common/status.hpp"
#include "itercore/common/threads.hpp"
#include "itercore/linalg/sketch.hpp"

namespace itercore::optimize {

/// Dense K (row-major, N x N): z = K^{-1} rhs. Status::breakdown when K is
/// numerically singular (rank < N at LU's default threshold).
template <class Scalar>
Status direct_solve(const linalg::DenseRows<Scalar>& K, const Scalar* rhs, Scalar* z) {
  using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  Eigen::Map<const Mat> A(K.a, K.m, K.n);
  Eigen::FullPivLU<Mat> lu(A);
  if (lu.rank() < K.m) return Status::breakdown;
  Eigen::Map<Vec>(z, K.n) = lu.solve(Eigen::Map<const Vec>(rhs, K.m));
  return Eigen::Map<Vec>(z, K.n).allFinite() ? Status::converged : Status::non_finite;
}

/// Sets the calling thread's OpenMP thread count for a scope (the ICV is
/// per thread, so other threads are not affected) and restores it.
class OmpThreadsScope {
 public:
  explicit OmpThreadsScope(int n) {
#ifdef _OPENMP
    old_ = omp_get_max_threads();
    omp_set_num_threads(n);
#else
    (void)n;
#endif
  }
  ~OmpThreadsScope() {
#ifdef _OPENMP
    omp_set_num_threads(old_);
#endif
  }
  OmpThreadsScope(const OmpThreadsScope&) = delete;
  OmpThreadsScope& operator=(const OmpThreadsScope&) = delete;

 private:
  int old_ = 1;
};

/// Sparse K (CSR): z = K^{-1} rhs by SparseLU. Status::breakdown when the
/// factorization finds K singular. Runs on one thread: Eigen parallelizes
/// SparseLU's small supernodal GEMMs with OpenMP, which made the 12k x 12k
/// PDE-control KKT factorization 3.5x slower with 2 threads than with 1.
template <class Scalar, class Index>
Status direct_solve(const linalg::CsrRows<Scalar, Index>& K, const Scalar* rhs, Scalar* z) {
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using RowMat = Eigen::SparseMatrix<Scalar, Eigen::RowMajor, Index>;
  using ColMat = Eigen::SparseMatrix<Scalar, Eigen::ColMajor, int>;
  const auto& A = K.A;
  Eigen::Map<const RowMat> Ar(A.rows, A.cols, A.nnz(), A.indptr, A.indices, A.data);
  ColMat Ac = Ar.template cast<Scalar>();
  Ac.makeCompressed();
  OmpThreadsScope one_thread(1);
  Eigen::SparseLU<ColMat, Eigen::COLAMDOrdering<int>> lu;
  lu.analyzePattern(Ac);
  lu.factorize(Ac);
  if (lu.info() != Eigen::Success) return Status::breakdown;
  Vec sol = lu.solve(Eigen::Map<const Vec>(rhs, A.rows));
  if (lu.info() != Eigen::Success) return Status::breakdown;
  if (!sol.allFinite()) return Status::non_finite;
  Eigen::Map<Vec>(z, A.cols) = sol;
  return Status::converged;
}

}  // namespace itercore::optimize
