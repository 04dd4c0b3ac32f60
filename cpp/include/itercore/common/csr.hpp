#pragma once
/// A non-owning view of a compressed sparse row matrix (scipy's CSR layout)
/// and the parallel kernels every family reuses.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "interrupt.hpp"
#include "status.hpp"
#include "threads.hpp"

namespace itercore {

/// Loops over fewer stored entries than this run serially: below it, forking
/// and joining threads costs more than it saves, and on an oversubscribed
/// machine (threads of a pipeline each solving) spinning workers cost far more.
inline constexpr std::int64_t kParallelNnz = 100000;

/// Borrowed CSR arrays; the caller keeps them alive and valid
/// (indptr[0] = 0, non-decreasing, column indices in [0, cols)).
template <class Scalar, class Index>
struct CsrView {
  Index rows = 0;
  Index cols = 0;
  const Index* indptr = nullptr;   ///< rows + 1 offsets
  const Index* indices = nullptr;  ///< column of each stored entry
  const Scalar* data = nullptr;    ///< value of each stored entry

  Index nnz() const noexcept { return rows > 0 ? indptr[rows] : Index(0); }

  /// Dot product of row i with a dense vector.
  template <class Vec>
  Scalar row_dot(Index i, const Vec& x) const noexcept {
    Scalar s = 0;
    for (Index p = indptr[i]; p < indptr[i + 1]; ++p) s += data[p] * x[indices[p]];
    return s;
  }
};

/// Checks, in one pass, that borrowed CSR arrays cannot make a kernel read
/// out of bounds (indptr[0] = 0, non-decreasing, indptr[rows] <= capacity,
/// every column index in [0, cols)) and, when `data` is given, that every
/// stored value is finite. Returns 0, or 1 (bad indptr ends), 2 (indptr
/// decreases), 3 (a column index out of range), 4 (a NaN or inf value).
template <class Scalar, class Index>
int check_csr(Index rows, Index cols, const Index* indptr, const Index* indices, const Scalar* data,
              Index capacity) {
  if (indptr[0] != 0 || indptr[rows] > capacity || indptr[rows] < 0) return 1;
  for (Index i = 0; i < rows; ++i)
    if (indptr[i + 1] < indptr[i]) return 2;
  bool bad_index = false;
  bool bad_value = false;
  const Index nnz = indptr[rows];
  for (Index p = 0; p < nnz; ++p) bad_index |= (indices[p] < 0) | (indices[p] >= cols);
  if (data)
    for (Index p = 0; p < nnz; ++p) bad_value |= !std::isfinite(data[p]);
  return bad_index ? 3 : (bad_value ? 4 : 0);
}

/// y = A x, rows split across threads (static schedule: each row is O(row nnz)).
template <class Scalar, class Index>
void csr_matvec(const CsrView<Scalar, Index>& A, const Scalar* x, Scalar* y, int n_threads = 0) {
  const int nt = resolve_threads(n_threads);
  const bool par = nt > 1 && static_cast<std::int64_t>(A.nnz()) >= kParallelNnz;
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
  for (Index i = 0; i < A.rows; ++i) y[i] = A.row_dot(i, x);
}

/// r = b - A x and returns ||r||_2 (accumulated in double).
template <class Scalar, class Index>
double csr_residual(const CsrView<Scalar, Index>& A, const Scalar* x, const Scalar* b, Scalar* r,
                    int n_threads = 0) {
  const int nt = resolve_threads(n_threads);
  const bool par = nt > 1 && static_cast<std::int64_t>(A.nnz()) >= kParallelNnz;
  double ss = 0.0;
#pragma omp parallel for num_threads(nt) if (par) schedule(static) reduction(+ : ss)
  for (Index i = 0; i < A.rows; ++i) {
    const Scalar ri = b[i] - A.row_dot(i, x);
    r[i] = ri;
    ss += static_cast<double>(ri) * static_cast<double>(ri);
  }
  return std::sqrt(ss);
}

/// Largest |A_ij - A_ji| of a square CSR matrix whose rows hold sorted,
/// distinct column indices (an entry stored on one side only counts against
/// 0); `max_abs` receives max |A_ij|. Checks symmetry without forming A^T:
/// one binary search per stored entry, rows split across threads.
template <class Scalar, class Index>
double csr_max_asymmetry(const CsrView<Scalar, Index>& A, double& max_abs, int n_threads = 0) {
  if (A.rows != A.cols) throw std::invalid_argument("csr_max_asymmetry: A must be square");
  const int nt = resolve_threads(n_threads);
  const bool par = nt > 1 && static_cast<std::int64_t>(A.nnz()) >= kParallelNnz;
  double worst = 0.0, big = 0.0;
#pragma omp parallel for num_threads(nt) if (par) schedule(static) reduction(max : worst, big)
  for (Index i = 0; i < A.rows; ++i) {
    for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
      const Index j = A.indices[p];
      const double a = static_cast<double>(A.data[p]);
      big = std::max(big, std::abs(a));
      if (j == i) continue;
      const Index* first = A.indices + A.indptr[j];
      const Index* last = A.indices + A.indptr[j + 1];
      const Index* q = std::lower_bound(first, last, i);
      const double t = (q != last && *q == i) ? static_cast<double>(A.data[A.indptr[j] + (q - first)]) : 0.0;
      worst = std::max(worst, std::abs(a - t));
    }
  }
  max_abs = big;
  return worst;
}

/// Power iteration for the dominant eigenvalue of a square A: x <- A x / ||A x||.
/// Stops when successive estimates of |lambda| differ by <= tol * |lambda|.
/// `x` holds the start vector (non-zero) and returns the last iterate;
/// `eigenvalue` receives the Rayleigh quotient x^T A x of the unit iterate.
template <class Scalar, class Index>
SolveInfo power_iteration(const CsrView<Scalar, Index>& A, Scalar* x, double& eigenvalue, std::int64_t maxiter,
                          double tol, int n_threads = 0, Control* control = nullptr) {
  if (A.rows != A.cols) throw std::invalid_argument("power_iteration: A must be square");
  if (maxiter < 0) throw std::invalid_argument("power_iteration: maxiter must be >= 0");
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  Eigen::Map<Vec> xv(x, A.rows);
  Vec y(A.rows);
  SolveInfo info;
  const double n0 = static_cast<double>(xv.norm());
  if (!(n0 > 0.0) || !std::isfinite(n0)) {
    info.status = n0 == 0.0 ? Status::breakdown : Status::non_finite;
    return info;
  }
  xv /= static_cast<Scalar>(n0);
  double previous = 0.0;
  eigenvalue = 0.0;
  info.status = Status::max_iter;
  for (std::int64_t it = 0; it < maxiter; ++it) {
    if (control && control->poll()) {
      info.status = Status::interrupted;
      break;
    }
    csr_matvec(A, x, y.data(), n_threads);
    const double lambda = static_cast<double>(xv.dot(y));
    const double ny = static_cast<double>(y.norm());
    info.iterations = it + 1;
    if (!std::isfinite(ny)) {
      info.status = Status::non_finite;
      break;
    }
    eigenvalue = lambda;
    if (ny == 0.0) {
      info.status = Status::breakdown;
      break;
    }
    xv = y / static_cast<Scalar>(ny);
    info.residual = std::abs(ny - previous) / ny;
    if (it > 0 && info.residual <= tol) {
      info.status = Status::converged;
      break;
    }
    previous = ny;
  }
  return info;
}

}  // namespace itercore
