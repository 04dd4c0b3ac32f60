#pragma once
/// Initialisation of alternating minimization: the top-k left singular
/// vectors of the rescaled observed matrix (m n / |Omega|) P_Omega(M), by a
/// randomised range finder with power iterations (Halko, Martinsson & Tropp),
/// then rows of large norm clipped (incoherence) and the result re-orthonormalised
/// by QR, as in the initialisation step of Gu, Song, Yin & Zhang (ICLR 2024).
///
/// Everything is sparse: products with the observed matrix cost O(|Omega| l)
/// through its CSR (rows) and CSC (columns, stored as the CSR of the
/// transpose); nothing m x n is ever formed. Random numbers come from
/// `Rng(seed, stream)` with one stream per row of the test matrix, so a seed
/// reproduces the factors whatever the thread count.

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "itercore/common/csr.hpp"
#include "itercore/common/random.hpp"
#include "itercore/common/threads.hpp"
#include "row_solvers.hpp"

namespace itercore::completion {

/// Rows of U of norm above kClip * sqrt(k / m) (kClip times the average row
/// norm of an m x k orthonormal matrix) are scaled down to that norm.
inline constexpr double kClip = 4.0;

namespace detail {

template <class Scalar>
using RowMajorMat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class Scalar>
using ColMat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

/// Y = alpha A X for a CSR A (rows x cols) and a dense X (cols x l), rows in parallel.
template <class Scalar, class Index>
void spmm(const CsrView<Scalar, Index>& A, const RowMajorMat<Scalar>& X, RowMajorMat<Scalar>& Y, int nt,
          Scalar alpha = Scalar(1)) {
  Y.setZero(A.rows, X.cols());
  const bool par = nt > 1 && static_cast<double>(A.nnz()) * static_cast<double>(X.cols()) >= 2.0e5;
#pragma omp parallel for num_threads(nt) if (par) schedule(dynamic, 64)
  for (Index i = 0; i < A.rows; ++i) {
    const Eigen::Index l = X.cols();
    Scalar* y = Y.data() + static_cast<Eigen::Index>(i) * l;
    for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
      const Scalar a = alpha * A.data[p];
      const Scalar* x = X.data() + static_cast<Eigen::Index>(A.indices[p]) * l;
      for (Eigen::Index t = 0; t < l; ++t) y[t] += a * x[t];
    }
  }
}

/// Orthonormal basis of the columns of Y (thin Householder QR), in place.
template <class Scalar>
void orthonormalise(RowMajorMat<Scalar>& Y) {
  const Eigen::Index rows = Y.rows(), cols = Y.cols();
  const ColMat<Scalar> Yc = Y;
  Eigen::HouseholderQR<ColMat<Scalar>> qr(Yc);
  ColMat<Scalar> Q = ColMat<Scalar>::Identity(rows, cols);
  Q.applyOnTheLeft(qr.householderQ());
  Y = Q;
}

/// Clip rows of U (m x k) to norm <= kClip sqrt(k/m), then re-orthonormalise.
template <class Scalar>
void clip_and_orthonormalise(RowMajorMat<Scalar>& U) {
  const double m = static_cast<double>(U.rows()), k = static_cast<double>(U.cols());
  const Scalar tau = static_cast<Scalar>(kClip * std::sqrt(k / m));
  for (Eigen::Index i = 0; i < U.rows(); ++i) {
    const Scalar nrm = U.row(i).norm();
    if (nrm > tau) U.row(i) *= tau / nrm;
  }
  orthonormalise(U);
}

/// rows x cols standard normal matrix, row i drawn from stream `stream0 + i`.
template <class Scalar>
RowMajorMat<Scalar> gaussian(Eigen::Index rows, Eigen::Index cols, std::uint64_t seed, std::uint64_t stream0,
                             int nt) {
  RowMajorMat<Scalar> G(rows, cols);
  const bool par = nt > 1 && static_cast<double>(rows) * static_cast<double>(cols) >= 1.0e5;
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
  for (Eigen::Index i = 0; i < rows; ++i) {
    Rng rng(seed, stream0 + static_cast<std::uint64_t>(i));
    for (Eigen::Index j = 0; j < cols; ++j) G(i, j) = static_cast<Scalar>(rng.normal());
  }
  return G;
}

/// The range finder's last step: with Q (m x l, orthonormal columns) spanning
/// the range of A and Z = A^T Q (n x l), the top k left singular vectors of A,
/// Q W, where W holds the top k eigenvectors of B B^T = Z^T Z (B = Q^T A),
/// largest first. Dense and small (l x l); shared with the distributed start,
/// which forms Q and Z from blocks of A on several machines.
template <class Scalar>
RowMajorMat<Scalar> top_left_vectors(const RowMajorMat<Scalar>& Q, const RowMajorMat<Scalar>& Z, std::int64_t k) {
  const Eigen::Index l = Q.cols();
  const ColMat<Scalar> BBt = Z.transpose() * Z;
  Eigen::SelfAdjointEigenSolver<ColMat<Scalar>> eig(BBt);
  // eigenvalues ascending: the top k are the last k columns, largest first.
  ColMat<Scalar> W(l, k);
  for (std::int64_t j = 0; j < k; ++j) W.col(j) = eig.eigenvectors().col(l - 1 - j);
  return Q * W;
}

}  // namespace detail

/// How to initialise U (Python: `init=`, by these names).
enum class InitMethod : int { svd = 0, random = 1 };

/// Settings of `initialise`. Field names are the Python ones.
struct InitOptions {
  InitMethod init = InitMethod::svd;  ///< the start: randomised SVD of the rescaled observations, or random
  std::int64_t oversample = 10;       ///< svd: extra columns of the randomised range finder (>= 0)
  int power_iters = 2;                ///< svd: power iterations of the range finder (>= 0)

  void check() const {
    if (oversample < 0) throw std::invalid_argument("oversample must be >= 0");
    if (power_iters < 0) throw std::invalid_argument("power_iters must be >= 0");
  }
};

namespace detail {

/// The body of `initialise` (parameters already checked).
template <class Scalar, class Index>
void initialise_impl(const CsrView<Scalar, Index>& rows, const CsrView<Scalar, Index>& cols, std::int64_t k,
                     InitMethod method, std::uint64_t seed, Scalar* U0, Scalar* V0, int nt, std::int64_t oversample,
                     int power_iters) {
  using RM = RowMajorMat<Scalar>;
  const std::int64_t m = rows.rows, n = rows.cols;
  // Work with A / max|A| (same singular vectors) so that huge values cannot
  // overflow the QR; the scale comes back in V0.
  Scalar amax = 0;
  for (Index p = 0; p < rows.nnz(); ++p) amax = std::max(amax, static_cast<Scalar>(std::abs(rows.data[p])));
  const Scalar inv = amax > Scalar(0) ? Scalar(1) / amax : Scalar(1);
  RM U;
  if (method == InitMethod::random) {
    U = gaussian<Scalar>(m, k, seed, 0, nt);
    orthonormalise(U);
  } else {
    const std::int64_t l = std::min<std::int64_t>(k + oversample, std::min(m, n));
    const RM G = gaussian<Scalar>(n, l, seed, 0, nt);
    RM Y, Z;
    spmm(rows, G, Y, nt, inv);  // Y = A G
    for (int t = 0; t < power_iters; ++t) {
      orthonormalise(Y);
      spmm(cols, Y, Z, nt, inv);  // Z = A^T Y
      orthonormalise(Z);
      spmm(rows, Z, Y, nt, inv);  // Y = A Z
    }
    orthonormalise(Y);  // Q: m x l, range of A
    spmm(cols, Y, Z, nt, inv);  // Z = A^T Q = B^T (n x l)
    U = top_left_vectors(Y, Z, k);
  }
  clip_and_orthonormalise(U);
  Eigen::Map<RM>(U0, m, k) = U;
  RM V;
  spmm(cols, U, V, nt, inv);
  const Scalar scale = static_cast<Scalar>(static_cast<double>(m) * static_cast<double>(n) /
                                           static_cast<double>(std::max<std::int64_t>(1, rows.nnz())));
  Eigen::Map<RM>(V0, n, k) = (scale * (amax > Scalar(0) ? amax : Scalar(1))) * V;
}

}  // namespace detail

/// Writes U0 (m x k, orthonormal columns) and V0 = (m n / |Omega|) P_Omega(M)^T U0
/// (n x k), both row-major. `rows` is the observed matrix by rows (m x n CSR),
/// `cols` the same entries by columns (n x m CSR of the transpose). `seed`
/// draws the random test (svd) or start (random) matrix; `n_threads` <= 0:
/// the OpenMP default.
template <class Scalar, class Index>
void initialise(const CsrView<Scalar, Index>& rows, const CsrView<Scalar, Index>& cols, std::int64_t k,
                const InitOptions& opt, std::uint64_t seed, Scalar* U0, Scalar* V0, int n_threads = 0) {
  const std::int64_t m = rows.rows, n = rows.cols;
  if (cols.rows != rows.cols || cols.cols != rows.rows || cols.nnz() != rows.nnz())
    throw std::invalid_argument("initialise: the CSR and CSC views disagree");
  if (k <= 0 || k >= std::min(m, n)) throw std::invalid_argument("rank must be in [1, min(m, n))");
  opt.check();
  const int nt = resolve_threads(n_threads);
  eigen_single_threaded(
      [&] { detail::initialise_impl(rows, cols, k, opt.init, seed, U0, V0, nt, opt.oversample, opt.power_iters); });
}


}  // namespace itercore::completion
