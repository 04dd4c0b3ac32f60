#pragma once
/// SOR, SSOR and SSOR-preconditioned CG on CSR matrices.
///
/// Conventions: A = D + L + U (diagonal, strict lower, strict upper triangles).
/// The SOR update of row i is x_i <- x_i + omega (b_i - sum_j a_ij x_j) / a_ii,
/// which equals (1 - omega) x_i + omega * (Gauss-Seidel value) and needs no
/// branch on the diagonal. Rows are visited in natural order, or colour by
/// colour for a multicolour ordering (rows of one colour share no entry, so
/// each colour is swept in parallel). A multicoloured matrix is passed already
/// permuted to colour order (see multicolor.hpp) with `color_ptr` giving the
/// row range of each colour; `color_ptr == nullptr` means natural order.

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "../common/csr.hpp"
#include "../common/interrupt.hpp"
#include "../common/status.hpp"
#include "../common/threads.hpp"

namespace itercore::linalg {

/// Direction of an SOR sweep; symmetric = forward then backward (SSOR).
enum class Sweep : int { forward = 0, backward = 1, symmetric = 2 };

/// Row ranges of a multicolour ordering (nullptr/0 = natural order).
template <class Index>
struct Coloring {
  const Index* color_ptr = nullptr;  ///< n_colors + 1 row offsets into the permuted matrix
  Index n_colors = 0;
  bool natural() const noexcept { return color_ptr == nullptr || n_colors == 0; }
};

/// Computes 1/a_ii and the position of a_ii in each row. Column indices must
/// be sorted within rows (scipy's canonical CSR) for `diag_pos` to split L
/// from U. Returns -1, or the first row whose diagonal is missing, zero or
/// not finite (the caller reports it).
template <class Scalar, class Index>
Index diagonal_inverse(const CsrView<Scalar, Index>& A, Scalar* inv_diag, Index* diag_pos) {
  for (Index i = 0; i < A.rows; ++i) {
    Index pos = -1;
    for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
      if (A.indices[p] == i) {
        pos = p;
        break;
      }
    }
    if (pos < 0) return i;
    const Scalar d = A.data[pos];
    if (d == Scalar(0) || !std::isfinite(static_cast<double>(d))) return i;
    inv_diag[i] = Scalar(1) / d;
    if (diag_pos) diag_pos[i] = pos;
  }
  return -1;
}

namespace detail {

/// The plain SOR row update (used where rows are independent: one colour).
template <class Scalar, class Index>
inline void sor_row(const CsrView<Scalar, Index>& A, const Scalar* inv_diag, const Scalar* b, Scalar* x, Scalar omega,
                    Index i) noexcept {
  Scalar sigma = 0;
  for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p) sigma += A.data[p] * x[A.indices[p]];
  x[i] += omega * (b[i] - sigma) * inv_diag[i];
}

/// The SOR row update for a natural-order sweep, where each row waits for
/// the unknown the previous row just wrote. That freshest unknown (the last
/// entry left of the diagonal going forward, the first right of it going
/// backward) enters last, as x_i = e_i - (w_i a_if) x_f with e_i computed
/// from older values: the chain from row to row is one multiply and one
/// subtraction instead of the whole row sum, so rows overlap in the CPU.
template <class Scalar, class Index>
inline void sor_row_chained(const CsrView<Scalar, Index>& A, const Scalar* inv_diag, const Index* diag_pos,
                            const Scalar* b, Scalar* x, Scalar omega, Index i, bool forward) noexcept {
  const Index lo = A.indptr[i], hi = A.indptr[i + 1], d = diag_pos[i];
  const Index fresh = forward ? (d > lo ? d - 1 : Index(-1)) : (d + 1 < hi ? d + 1 : Index(-1));
  Scalar t = 0;
  if (fresh < 0) {
    for (Index p = lo; p < hi; ++p) t += A.data[p] * x[A.indices[p]];
  } else {
    for (Index p = lo; p < fresh; ++p) t += A.data[p] * x[A.indices[p]];
    for (Index p = fresh + 1; p < hi; ++p) t += A.data[p] * x[A.indices[p]];
  }
  const Scalar w = omega * inv_diag[i];
  Scalar e = x[i] + w * (b[i] - t);
  if (fresh >= 0) e -= (w * A.data[fresh]) * x[A.indices[fresh]];
  x[i] = e;
}

/// Rows [lo, hi) of one colour: independent, so in parallel when large.
template <class Scalar, class Index>
void sor_block(const CsrView<Scalar, Index>& A, const Scalar* inv_diag, const Scalar* b, Scalar* x, Scalar omega,
               Index lo, Index hi, bool reverse, int nt) {
  const std::int64_t work = static_cast<std::int64_t>(A.indptr[hi] - A.indptr[lo]);
  const bool par = nt > 1 && work >= kParallelNnz;
  if (!reverse) {
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
    for (Index i = lo; i < hi; ++i) sor_row(A, inv_diag, b, x, omega, i);
  } else {
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
    for (Index i = hi - 1; i >= lo; --i) sor_row(A, inv_diag, b, x, omega, i);
  }
}

}  // namespace detail

/// One forward or backward SOR sweep in place (a symmetric sweep is forward
/// then backward, both with omega). Natural order is serial by nature and
/// needs `diag_pos` (from diagonal_inverse); multicolour order runs each
/// colour's rows in parallel.
template <class Scalar, class Index>
void sor_sweep(const CsrView<Scalar, Index>& A, const Scalar* inv_diag, const Index* diag_pos, const Scalar* b,
               Scalar* x, Scalar omega, Sweep sweep, const Coloring<Index>& coloring = {}, int n_threads = 0) {
  const int nt = resolve_threads(n_threads);
  auto forward = [&] {
    if (coloring.natural()) {
      for (Index i = 0; i < A.rows; ++i) detail::sor_row_chained(A, inv_diag, diag_pos, b, x, omega, i, true);
    } else {
      for (Index c = 0; c < coloring.n_colors; ++c)
        detail::sor_block(A, inv_diag, b, x, omega, coloring.color_ptr[c], coloring.color_ptr[c + 1], false, nt);
    }
  };
  auto backward = [&] {
    if (coloring.natural()) {
      for (Index i = A.rows - 1; i >= 0; --i) detail::sor_row_chained(A, inv_diag, diag_pos, b, x, omega, i, false);
    } else {
      for (Index c = coloring.n_colors - 1; c >= 0; --c)
        detail::sor_block(A, inv_diag, b, x, omega, coloring.color_ptr[c], coloring.color_ptr[c + 1], true, nt);
    }
  };
  if (sweep != Sweep::backward) forward();
  if (sweep != Sweep::forward) backward();
}

/// ||b - A x||_2 without storing the residual.
template <class Scalar, class Index>
double residual_norm(const CsrView<Scalar, Index>& A, const Scalar* x, const Scalar* b, int n_threads = 0) {
  const int nt = resolve_threads(n_threads);
  const bool par = nt > 1 && static_cast<std::int64_t>(A.nnz()) >= kParallelNnz;
  double ss = 0.0;
#pragma omp parallel for num_threads(nt) if (par) schedule(static) reduction(+ : ss)
  for (Index i = 0; i < A.rows; ++i) {
    const double r = static_cast<double>(b[i]) - static_cast<double>(A.row_dot(i, x));
    ss += r * r;
  }
  return std::sqrt(ss);
}

/// The stopping target shared by the solvers: ||b - A x|| <= max(rtol ||b||, atol).
inline double stop_target(double rtol, double atol, double bnorm) noexcept { return std::max(rtol * bnorm, atol); }

namespace detail {
inline void check_tolerances(double rtol, double atol) {
  if (!(rtol >= 0.0) || !std::isfinite(rtol)) throw std::invalid_argument("rtol must be finite and >= 0");
  if (!(atol >= 0.0) || !std::isfinite(atol)) throw std::invalid_argument("atol must be finite and >= 0");
}
inline void check_omega(double omega) {
  if (!(omega > 0.0 && omega < 2.0)) throw std::invalid_argument("omega must lie in the open interval (0, 2)");
}
}  // namespace detail

/// Options of sor_solve (sor_sweep reads omega, sweep and n_threads). The
/// defaults here are the only ones: the Python layer reads them from the
/// bound struct (itercore._core.linalg.SorOptions).
struct SorOptions {
  double omega = 1.0;            ///< relaxation parameter, in (0, 2); 1 is Gauss-Seidel
  Sweep sweep = Sweep::forward;  ///< row order of a sweep; symmetric = forward then backward, counted once
  double rtol = 1e-8;            ///< stop when ||b - A x|| <= max(rtol ||b||, atol)
  double atol = 0.0;             ///< absolute floor of the stopping test
  std::int64_t maxiter = -1;     ///< sweeps; -1: max(10 n, 10000) (SOR needs O(n) sweeps on 2-D Poisson)
  int check_every = 10;          ///< largest gap, in sweeps, between residual checks
  int n_threads = 0;             ///< <= 0: the OpenMP default (multicolour sweeps and residuals)
  bool history = false;          ///< keep the residual of every check in SolveInfo::history

  /// The sweep budget for an n x n system.
  std::int64_t max_sweeps(std::int64_t n) const noexcept {
    return maxiter >= 0 ? maxiter : std::max<std::int64_t>(10 * n, 10000);
  }
  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    detail::check_omega(omega);
    if (sweep != Sweep::forward && sweep != Sweep::backward && sweep != Sweep::symmetric)
      throw std::invalid_argument("sweep must be forward, backward or symmetric");
    detail::check_tolerances(rtol, atol);
    if (maxiter < -1) throw std::invalid_argument("maxiter must be >= 0 (or -1: automatic)");
    if (check_every < 1) throw std::invalid_argument("check_every must be >= 1");
  }
};

/// Options of ssor_pcg_solve (ssor_apply reads omega and n_threads).
struct SsorPcgOptions {
  double omega = 1.0;         ///< SSOR parameter, in (0, 2); 1 is symmetric Gauss-Seidel
  double rtol = 1e-8;         ///< stop when ||b - A x|| <= max(rtol ||b||, atol) (true residual)
  double atol = 0.0;          ///< absolute floor of the stopping test
  std::int64_t maxiter = -1;  ///< CG iterations; -1: 10 n
  int n_threads = 0;          ///< <= 0: the OpenMP default (vector operations, multicolour sweeps)
  bool history = false;       ///< keep the (estimated) residual of every iteration in SolveInfo::history
  int max_restarts = 3;       ///< restarts from the true residual when the recursion drifted, then breakdown

  /// The iteration budget for an n x n system.
  std::int64_t max_iterations(std::int64_t n) const noexcept { return maxiter >= 0 ? maxiter : 10 * n; }
  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    detail::check_omega(omega);
    detail::check_tolerances(rtol, atol);
    if (maxiter < -1) throw std::invalid_argument("maxiter must be >= 0 (or -1: automatic)");
    if (max_restarts < 0) throw std::invalid_argument("max_restarts must be >= 0");
  }
};

/// SOR until ||b - A x|| <= max(rtol ||b||, atol) or maxiter sweeps.
///
/// The residual costs as much as a sweep, so it is computed every few sweeps:
/// the gap is predicted from the observed contraction rate (checking every
/// sweep near the target, rarely far from it), capped at `check_every`, and
/// the residual is always computed at the end. `monitor(sweeps_done, residual)`
/// runs after every sweep (`residual`: that of the last check) and returns
/// false to stop (user callbacks).
/// On NaN/inf the last finite checked iterate is restored.
template <class Scalar, class Index, class Monitor>
SolveInfo sor_solve(const CsrView<Scalar, Index>& A, const Scalar* inv_diag, const Index* diag_pos, const Scalar* b,
                    Scalar* x, const SorOptions& opt, const Coloring<Index>& coloring, Control* control, Monitor&& monitor) {
  if (A.rows != A.cols) throw std::invalid_argument("A must be square");
  opt.check();
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const Index n = A.rows;
  const int nt = resolve_threads(opt.n_threads);
  Eigen::Map<const Vec> bv(b, n);
  Eigen::Map<Vec> xv(x, n);
  const double bnorm = static_cast<double>(bv.template cast<double>().norm());
  const double target = stop_target(opt.rtol, opt.atol, bnorm);
  const Scalar omega = static_cast<Scalar>(opt.omega);
  const int max_gap = opt.check_every;
  const std::int64_t maxiter = opt.max_sweeps(n);

  SolveInfo info;
  Vec last_good = xv;
  double res = residual_norm(A, x, b, nt);
  if (opt.history) info.history.push_back(res);
  info.residual = res;
  if (!std::isfinite(res)) {
    info.status = Status::non_finite;
    return info;
  }
  if (res <= target) {
    info.status = Status::converged;
    return info;
  }
  std::int64_t next_check = 1;
  std::int64_t last_check = 0;
  bool checked_now = true;
  info.status = Status::max_iter;
  for (std::int64_t it = 1; it <= maxiter; ++it) {
    if (control && control->poll()) {
      info.status = Status::interrupted;
      break;
    }
    sor_sweep(A, inv_diag, diag_pos, b, x, omega, opt.sweep, coloring, nt);
    info.iterations = it;
    checked_now = false;
    if (!monitor(it, info.residual)) {
      info.status = Status::callback_stop;
      break;
    }
    if (it == next_check || it == maxiter) {
      const double r = residual_norm(A, x, b, nt);
      checked_now = true;
      if (!std::isfinite(r)) {
        xv = last_good;
        info.status = Status::non_finite;
        break;
      }
      if (opt.history) info.history.push_back(r);
      if (r <= target) {
        info.residual = r;
        info.status = Status::converged;
        break;
      }
      // Predict the sweeps left from the contraction rate since the last check.
      std::int64_t gap = max_gap;
      const double rate = std::pow(r / res, 1.0 / static_cast<double>(it - last_check));
      if (rate > 0.0 && rate < 1.0) {
        const double need = std::log(target / r) / std::log(rate);
        gap = std::clamp<std::int64_t>(static_cast<std::int64_t>(std::ceil(need)), 1, max_gap);
      }
      res = r;
      info.residual = r;
      last_check = it;
      next_check = it + gap;
      last_good = xv;
    }
  }
  if (!checked_now && info.status != Status::non_finite) {
    const double r = residual_norm(A, x, b, nt);
    if (std::isfinite(r)) {
      info.residual = r;
      if (opt.history) info.history.push_back(r);
    } else {
      xv = last_good;
      info.status = Status::non_finite;
    }
  }
  return info;
}

/// z = M^{-1} r for the SSOR preconditioner
/// M = (D + omega L) D^{-1} (D + omega U) / (omega (2 - omega)),
/// by a forward and a backward triangular sweep (O(nnz)). Requires sorted
/// column indices and `diag_pos` from diagonal_inverse. With a multicolour
/// ordering each colour's rows are solved in parallel.
template <class Scalar, class Index>
void ssor_apply(const CsrView<Scalar, Index>& A, const Scalar* inv_diag, const Index* diag_pos, Scalar omega,
                const Scalar* r, Scalar* z, const Coloring<Index>& coloring = {}, int n_threads = 0) {
  const int nt = resolve_threads(n_threads);
  // Forward: (D + omega L) y = r, kept in z. As in the natural SOR sweep, the
  // freshest unknown (the last lower entry) enters last, so consecutive rows
  // wait on one multiply-subtract rather than on the whole row sum.
  auto lower_row = [&](Index i) {
    const Index lo = A.indptr[i], d = diag_pos[i];
    Scalar s = 0;
    for (Index p = lo; p + 1 < d; ++p) s += A.data[p] * z[A.indices[p]];
    Scalar e = (r[i] - omega * s) * inv_diag[i];
    if (d > lo) e -= (omega * A.data[d - 1] * inv_diag[i]) * z[A.indices[d - 1]];
    z[i] = e;
  };
  // Backward: (D + omega U) z = D y, scaled by omega (2 - omega) at the end.
  const Scalar scale = omega * (Scalar(2) - omega);
  auto upper_row = [&](Index i) {
    const Index d = diag_pos[i], hi = A.indptr[i + 1];
    Scalar s = 0;
    for (Index p = d + 2; p < hi; ++p) s += A.data[p] * z[A.indices[p]];
    Scalar e = z[i] - omega * s * inv_diag[i];
    if (d + 1 < hi) e -= (omega * A.data[d + 1] * inv_diag[i]) * z[A.indices[d + 1]];
    z[i] = e;
  };
  if (coloring.natural()) {
    for (Index i = 0; i < A.rows; ++i) lower_row(i);
    for (Index i = A.rows - 1; i >= 0; --i) upper_row(i);
  } else {
    for (Index c = 0; c < coloring.n_colors; ++c) {
      const Index lo = coloring.color_ptr[c], hi = coloring.color_ptr[c + 1];
      const bool par = nt > 1 && static_cast<std::int64_t>(A.indptr[hi] - A.indptr[lo]) >= kParallelNnz;
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
      for (Index i = lo; i < hi; ++i) lower_row(i);
    }
    for (Index c = coloring.n_colors - 1; c >= 0; --c) {
      const Index lo = coloring.color_ptr[c], hi = coloring.color_ptr[c + 1];
      const bool par = nt > 1 && static_cast<std::int64_t>(A.indptr[hi] - A.indptr[lo]) >= kParallelNnz;
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
      for (Index i = lo; i < hi; ++i) upper_row(i);
    }
  }
  const bool par = nt > 1 && static_cast<std::int64_t>(A.rows) >= kParallelNnz;
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
  for (Index i = 0; i < A.rows; ++i) z[i] *= scale;
}

namespace detail {

/// Calls f(i) for every row, in order (forward) or reverse; with a colouring,
/// colour by colour with each colour's rows in parallel.
template <class Scalar, class Index, class F>
void for_rows(const CsrView<Scalar, Index>& A, const Coloring<Index>& coloring, int nt, bool forward, F&& f) {
  if (coloring.natural()) {
    if (forward)
      for (Index i = 0; i < A.rows; ++i) f(i);
    else
      for (Index i = A.rows - 1; i >= 0; --i) f(i);
    return;
  }
  for (Index k = 0; k < coloring.n_colors; ++k) {
    const Index c = forward ? k : coloring.n_colors - 1 - k;
    const Index lo = coloring.color_ptr[c], hi = coloring.color_ptr[c + 1];
    const bool par = nt > 1 && static_cast<std::int64_t>(A.indptr[hi] - A.indptr[lo]) >= kParallelNnz;
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
    for (Index i = lo; i < hi; ++i) f(i);
  }
}

}  // namespace detail

/// SSOR-preconditioned conjugate gradients for symmetric positive definite A,
/// by Eisenstat's trick (its own CG loop, not common/cg.hpp: the trick fuses
/// the product with A into the preconditioner's two sweeps).
///
/// With D_w = D / omega, M = (D_w + L) D_w^{-1} (D_w + U) / (2 - omega), PCG
/// on A with M is CG on  A^ = (D_w + L)^{-1} A (D_w + U)^{-1}  with the
/// diagonal preconditioner (2 - omega) D_w, in the variables
/// x^ = (D_w + U) x. Since A = (D_w + L) + (D_w + U) - (2 D_w - D),
///   A^ p = t + (D_w + L)^{-1} (p - (2 D_w - D) t),  t = (D_w + U)^{-1} p,
/// one backward and one forward triangular sweep: about one pass over A per
/// iteration instead of two (a product with A plus two sweeps). The iterates
/// are those of PCG with M in exact arithmetic.
///
/// Stopping: the true residual is r = (D_w + L) r^. Its norm is estimated
/// from ||r^|| times the ratio seen at the last exact check, and computed
/// exactly when the estimate reaches the target (or every 10 iterations);
/// on convergence x is recovered and b - A x recomputed; if the recursion
/// drifted, CG restarts from the true residual (at most `max_restarts` times).
/// A non-positive p^T A^ p or r^T z is a breakdown (A not SPD).
/// `monitor(it, residual)` runs after each iteration with the (estimated)
/// residual; when `x_each_iteration` is set, x is recovered first so the
/// monitor can read it (costs a sweep).
template <class Scalar, class Index, class Monitor>
SolveInfo ssor_pcg_solve(const CsrView<Scalar, Index>& A, const Scalar* inv_diag, const Index* diag_pos,
                         const Scalar* b, Scalar* x, const SsorPcgOptions& opt, const Coloring<Index>& coloring,
                         Control* control, Monitor&& monitor, bool x_each_iteration = false) {
  if (A.rows != A.cols) throw std::invalid_argument("A must be square");
  opt.check();
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const Index n = A.rows;
  const std::int64_t maxiter = opt.max_iterations(n);
  const int nt = resolve_threads(opt.n_threads);
  const bool par = nt > 1 && static_cast<std::int64_t>(A.nnz()) >= kParallelNnz;
  const Scalar w = static_cast<Scalar>(opt.omega);
  const Scalar k_scale = Scalar(2) / w - Scalar(1);      // (2 D_w - D) = k_scale * D
  const Scalar p_scale = (Scalar(2) - w) / w;             // (2 - omega) D_w = p_scale * D
  Vec dvals(n);
  for (Index i = 0; i < n; ++i) dvals[i] = A.data[diag_pos[i]];
  auto diag = [&](Index i) { return dvals[i]; };

  // out = (D_w + U)^{-1} v, backward; the first upper entry (freshest) enters last.
  auto upper_solve = [&](const Scalar* v, Scalar* out) {
    detail::for_rows(A, coloring, nt, false, [&](Index i) {
      const Index d = diag_pos[i], hi = A.indptr[i + 1];
      Scalar s = 0;
      for (Index p = d + 2; p < hi; ++p) s += A.data[p] * out[A.indices[p]];
      const Scalar g = w * inv_diag[i];
      Scalar e = g * (v[i] - s);
      if (d + 1 < hi) e -= (g * A.data[d + 1]) * out[A.indices[d + 1]];
      out[i] = e;
    });
  };
  // out = (D_w + U) v and out = (D_w + L) v (products, any order).
  auto upper_mult = [&](const Scalar* v, Scalar* out) {
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
    for (Index i = 0; i < n; ++i) {
      Scalar s = diag(i) / w * v[i];
      for (Index p = diag_pos[i] + 1; p < A.indptr[i + 1]; ++p) s += A.data[p] * v[A.indices[p]];
      out[i] = s;
    }
  };
  auto lower_mult = [&](const Scalar* v, Scalar* out) {
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
    for (Index i = 0; i < n; ++i) {
      Scalar s = diag(i) / w * v[i];
      for (Index p = A.indptr[i]; p < diag_pos[i]; ++p) s += A.data[p] * v[A.indices[p]];
      out[i] = s;
    }
  };
  // out = (D_w + L)^{-1} v, forward.
  auto lower_solve = [&](const Scalar* v, Scalar* out) {
    detail::for_rows(A, coloring, nt, true, [&](Index i) {
      const Index lo = A.indptr[i], d = diag_pos[i];
      Scalar s = 0;
      for (Index p = lo; p + 1 < d; ++p) s += A.data[p] * out[A.indices[p]];
      const Scalar g = w * inv_diag[i];
      Scalar e = g * (v[i] - s);
      if (d > lo) e -= (g * A.data[d - 1]) * out[A.indices[d - 1]];
      out[i] = e;
    });
  };
  auto dot = [&](const Vec& u, const Vec& v) {
    double acc = 0.0;
#pragma omp parallel for num_threads(nt) if (par) schedule(static) reduction(+ : acc)
    for (Index i = 0; i < n; ++i) acc += static_cast<double>(u[i]) * static_cast<double>(v[i]);
    return acc;
  };

  Eigen::Map<const Vec> bv(b, n);
  Eigen::Map<Vec> xv(x, n);
  Vec xh(n), rh(n), z(n), p(n), q(n), t(n), y(n);
  const double bnorm = static_cast<double>(bv.template cast<double>().norm());
  const double target = stop_target(opt.rtol, opt.atol, bnorm);

  SolveInfo info;
  double rnorm = csr_residual(A, x, b, t.data(), nt);  // t = b - A x0
  info.residual = rnorm;
  if (opt.history) info.history.push_back(rnorm);
  if (!std::isfinite(rnorm)) {
    info.status = Status::non_finite;
    return info;
  }
  if (rnorm <= target) {
    info.status = Status::converged;
    return info;
  }
  upper_mult(x, xh.data());
  // (Re)start CG from the true residual held in t.
  double rz = 0.0, ratio = 1.0;
  std::int64_t last_exact = 0;
  auto restart = [&] {
    lower_solve(t.data(), rh.data());
    for (Index i = 0; i < n; ++i) z[i] = p_scale * diag(i) * rh[i];
    p = z;
    rz = dot(rh, z);
    const double rhn = std::sqrt(dot(rh, rh));
    ratio = rhn > 0.0 ? rnorm / rhn : 1.0;
  };
  restart();
  int restarts = 0;
  bool x_current = true;  // x holds (D_w + U)^{-1} xh
  info.status = Status::max_iter;
  for (std::int64_t it = 1; it <= maxiter; ++it) {
    if (control && control->poll()) {
      info.status = Status::interrupted;
      break;
    }
    if (!(rz > 0.0)) {
      info.status = std::isfinite(rz) ? Status::breakdown : Status::non_finite;
      break;
    }
    // q = A^ p = t + y with t = (D_w + U)^{-1} p and (D_w + L) y = p - (2 D_w - D) t.
    upper_solve(p.data(), t.data());
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
    for (Index i = 0; i < n; ++i) q[i] = p[i] - k_scale * diag(i) * t[i];
    lower_solve(q.data(), y.data());
    double pq = 0.0;
#pragma omp parallel for num_threads(nt) if (par) schedule(static) reduction(+ : pq)
    for (Index i = 0; i < n; ++i) {
      q[i] = t[i] + y[i];
      pq += static_cast<double>(p[i]) * static_cast<double>(q[i]);
    }
    if (!(pq > 0.0)) {
      info.status = std::isfinite(pq) ? Status::breakdown : Status::non_finite;
      break;
    }
    const Scalar alpha = static_cast<Scalar>(rz / pq);
    if (!std::isfinite(static_cast<double>(alpha))) {
      info.status = Status::non_finite;
      break;
    }
    double rr = 0.0;
#pragma omp parallel for num_threads(nt) if (par) schedule(static) reduction(+ : rr)
    for (Index i = 0; i < n; ++i) {
      xh[i] += alpha * p[i];
      rh[i] -= alpha * q[i];
      rr += static_cast<double>(rh[i]) * static_cast<double>(rh[i]);
    }
    x_current = false;
    info.iterations = it;
    const double rhn = std::sqrt(rr);
    if (!std::isfinite(rhn)) {
      xh -= alpha * p;  // back to the last finite iterate
      info.status = Status::non_finite;
      break;
    }
    double estimate = ratio * rhn;
    if (estimate <= target || it - last_exact >= 10) {
      lower_mult(rh.data(), y.data());  // the true residual of the recursion
      const double exact = static_cast<double>(y.norm());
      ratio = rhn > 0.0 ? exact / rhn : ratio;
      last_exact = it;
      estimate = exact;
    }
    info.residual = estimate;
    if (opt.history) info.history.push_back(estimate);
    if (x_each_iteration) {
      upper_solve(xh.data(), x);
      x_current = true;
    }
    if (!monitor(it, estimate)) {
      info.status = Status::callback_stop;
      break;
    }
    if (estimate <= target && last_exact == it) {
      if (!x_current) upper_solve(xh.data(), x);
      x_current = true;
      rnorm = csr_residual(A, x, b, t.data(), nt);
      info.residual = rnorm;
      if (rnorm <= target) {
        info.status = Status::converged;
        break;
      }
      if (restarts++ >= opt.max_restarts) {
        info.status = Status::breakdown;  // stagnation at the precision limit
        break;
      }
      upper_mult(x, xh.data());
      restart();
      continue;
    }
    double rz_new = 0.0;
#pragma omp parallel for num_threads(nt) if (par) schedule(static) reduction(+ : rz_new)
    for (Index i = 0; i < n; ++i) {
      z[i] = p_scale * diag(i) * rh[i];
      rz_new += static_cast<double>(rh[i]) * static_cast<double>(z[i]);
    }
    const Scalar beta = static_cast<Scalar>(rz_new / rz);
    rz = rz_new;
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
    for (Index i = 0; i < n; ++i) p[i] = z[i] + beta * p[i];
  }
  if (!x_current) upper_solve(xh.data(), x);
  if (info.status != Status::converged) {
    const double true_norm = residual_norm(A, x, b, nt);
    if (std::isfinite(true_norm)) info.residual = true_norm;
  }
  return info;
}

}  // namespace itercore::linalg
