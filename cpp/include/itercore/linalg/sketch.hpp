#pragma once
/// Sketch-and-project solvers for consistent linear systems A x = b
/// (Gower & Richtarik's framework with the Euclidean metric):
///
///     x <- x - A^T S (S^T A A^T S)^+ S^T (A x - b),
///
/// with S an m x k random sketch drawn afresh each iteration:
///   - kaczmarz: k rows of the identity, rows sampled with probability
///     proportional to their squared norms (randomized block Kaczmarz;
///     k = 1 is Strohmer & Vershynin's randomized Kaczmarz);
///   - gaussian: i.i.d. standard normal entries;
///   - count: each row of A is hashed to one of k buckets with a random sign.
///
/// Every update lies in range(A^T), so from x0 = 0 the iterates converge to the
/// minimum-norm solution of an under-determined consistent system.
/// The solve stops when ||b - A x||_2 <= max(rtol ||b||, atol) (rtol = 0
/// makes atol an absolute target), checked every `check_every` iterations.
/// Randomness comes from itercore::Rng(seed, 0): a seed fixes the iterates.

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "itercore/common/csr.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/random.hpp"
#include "itercore/common/status.hpp"
#include "itercore/common/threads.hpp"

namespace itercore::linalg {

/// Which random sketch S the solver draws each iteration.
enum class SketchMethod : int {
  kaczmarz = 0,  ///< block_size rows of the identity, sampled by squared row norm
  gaussian = 1,  ///< i.i.d. standard normal entries
  count = 2,     ///< count sketch: each row hashed to one of block_size buckets with a random sign
};

/// Row access to a dense, row-major m x n matrix (borrowed).
template <class Scalar>
struct DenseRows {
  std::int64_t m = 0, n = 0;
  const Scalar* a = nullptr;

  std::int64_t rows() const noexcept { return m; }
  std::int64_t cols() const noexcept { return n; }
  Scalar dot(std::int64_t i, const Scalar* x) const noexcept {
    const Scalar* r = a + i * n;
    Scalar s = 0;
    for (std::int64_t j = 0; j < n; ++j) s += r[j] * x[j];
    return s;
  }
  /// x += alpha * a_i
  void axpy(std::int64_t i, Scalar alpha, Scalar* x) const noexcept {
    const Scalar* r = a + i * n;
    for (std::int64_t j = 0; j < n; ++j) x[j] += alpha * r[j];
  }
  Scalar row_row(std::int64_t p, std::int64_t q) const noexcept { return dot(p, a + q * n); }
  /// r = b - A x, returns ||r|| (double accumulation).
  double residual(const Scalar* x, const Scalar* b, Scalar* r, int nt) const {
    double ss = 0.0;
    if (nt <= 1 || m * n < kParallelNnz) {  // no OpenMP region at all: even a serialized one costs
      for (std::int64_t i = 0; i < m; ++i) {
        const Scalar ri = b[i] - dot(i, x);
        r[i] = ri;
        ss += static_cast<double>(ri) * static_cast<double>(ri);
      }
      return std::sqrt(ss);
    }
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : ss)
    for (std::int64_t i = 0; i < m; ++i) {
      const Scalar ri = b[i] - dot(i, x);
      r[i] = ri;
      ss += static_cast<double>(ri) * static_cast<double>(ri);
    }
    return std::sqrt(ss);
  }
};

/// Row access to a CSR matrix (borrowed; canonical: sorted, unique columns).
template <class Scalar, class Index>
struct CsrRows {
  CsrView<Scalar, Index> A;

  std::int64_t rows() const noexcept { return A.rows; }
  std::int64_t cols() const noexcept { return A.cols; }
  Scalar dot(std::int64_t i, const Scalar* x) const noexcept { return A.row_dot(static_cast<Index>(i), x); }
  void axpy(std::int64_t i, Scalar alpha, Scalar* x) const noexcept {
    for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p) x[A.indices[p]] += alpha * A.data[p];
  }
  /// a_p . a_q by merging the sorted column lists.
  Scalar row_row(std::int64_t p, std::int64_t q) const noexcept {
    Index i = A.indptr[p], ie = A.indptr[p + 1], j = A.indptr[q], je = A.indptr[q + 1];
    Scalar s = 0;
    while (i < ie && j < je) {
      const Index ci = A.indices[i], cj = A.indices[j];
      if (ci == cj) {
        s += A.data[i++] * A.data[j++];
      } else if (ci < cj) {
        ++i;
      } else {
        ++j;
      }
    }
    return s;
  }
  double residual(const Scalar* x, const Scalar* b, Scalar* r, int nt) const {
    if (nt > 1 && static_cast<std::int64_t>(A.nnz()) >= kParallelNnz) return csr_residual(A, x, b, r, nt);
    double ss = 0.0;  // serial without entering an OpenMP region (tiny systems check often)
    for (Index i = 0; i < A.rows; ++i) {
      const Scalar ri = b[i] - A.row_dot(i, x);
      r[i] = ri;
      ss += static_cast<double>(ri) * static_cast<double>(ri);
    }
    return std::sqrt(ss);
  }
};

/// Options of a sketch-and-project solve. The defaults here are the only
/// ones: the Python layer reads them from the bound struct
/// (itercore._core.linalg.SketchOptions).
struct SketchOptions {
  SketchMethod method = SketchMethod::kaczmarz;  ///< the random sketch drawn each iteration
  std::int64_t block_size = 1;   ///< k, the number of sketch columns (rows for Kaczmarz); above m, m is used
  double rtol = 1e-8;            ///< stop when ||b - A x||_2 <= max(rtol ||b||_2, atol)
  double atol = 0.0;             ///< absolute floor of the stopping test
  std::int64_t maxiter = -1;     ///< sketch iterations; -1: max(1000, ceil(100 max(m, n) / block_size))
  std::int64_t check_every = 0;  ///< iterations between residual checks; 0: about one pass over the rows
                                 ///< for Kaczmarz (at least 16), every iteration for the dense sketches
  std::uint64_t seed = 0;        ///< the random stream (itercore::Rng(seed, 0)); a seed fixes the iterates
  int n_threads = 0;             ///< <= 0: the OpenMP default; threads the residual checks (the sketch
                                 ///< iterations themselves are serial)
  bool history = false;          ///< keep the residual of every check in SolveInfo::history
  /// > 0: give up early (Status::max_iter) once the observed geometric rate
  /// of the best residual since the start, extrapolated, needs more than
  /// stall_factor times the remaining budget to reach the target; judged
  /// only after 20 passes over the rows. The early rate of sketch-and-project
  /// is faster than its asymptotic one, so the extrapolation is optimistic
  /// and giving up on it is safe. 0: never.
  double stall_factor = 0.0;
  /// Kaczmarz only: sample the rows uniformly (Hong et al. 2023's setting)
  /// instead of proportionally to their squared norms (Strohmer-Vershynin).
  bool uniform = false;

  /// The iteration budget for an m x n system.
  std::int64_t max_iterations(std::int64_t m, std::int64_t n) const noexcept {
    if (maxiter >= 0) return maxiter;
    const std::int64_t mn = std::max(m, n);
    const std::int64_t k = effective_block_size(m);
    return std::max<std::int64_t>(1000, (100 * mn + k - 1) / k);
  }
  /// The block size used for m rows: block_size, at most max(m, 1) (a sketch
  /// of more than m columns projects onto no more than all m rows; the clamp
  /// also keeps k + anything and k-sized allocations bounded).
  std::int64_t effective_block_size(std::int64_t m) const noexcept {
    return std::min<std::int64_t>(block_size, std::max<std::int64_t>(m, 1));
  }
  /// The stopping target for a right-hand side of norm bnorm.
  double stop_target(double bnorm) const noexcept { return std::max(rtol * bnorm, atol); }
  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    if (method != SketchMethod::kaczmarz && method != SketchMethod::gaussian && method != SketchMethod::count)
      throw std::invalid_argument("method must be kaczmarz, gaussian or count");
    if (block_size < 1) throw std::invalid_argument("block_size must be >= 1");
    if (!(rtol >= 0.0) || !std::isfinite(rtol)) throw std::invalid_argument("rtol must be finite and >= 0");
    if (!(atol >= 0.0) || !std::isfinite(atol)) throw std::invalid_argument("atol must be finite and >= 0");
    if (maxiter < -1) throw std::invalid_argument("maxiter must be >= 0 (or -1: automatic)");
    if (check_every < 0) throw std::invalid_argument("check_every must be >= 0 (0: automatic)");
    if (!(stall_factor >= 0.0)) throw std::invalid_argument("stall_factor must be >= 0");
  }
};

/// Called at each residual check with (iterations done, residual, x);
/// returning false stops the solve with Status::callback_stop.
template <class Scalar>
using SketchMonitor = std::function<bool(std::int64_t, double, const Scalar*)>;

/// The automatic check spacing: about one pass over the rows for Kaczmarz
/// (a residual costs one pass, so checks add at most ~the work they watch;
/// at least 16 steps, so tiny systems are not dominated by checks), and every
/// iteration for the dense sketches (each costs k passes already).
inline std::int64_t default_check_every(SketchMethod method, std::int64_t m, std::int64_t k) {
  if (method == SketchMethod::kaczmarz) return std::max<std::int64_t>(16, (m + k - 1) / k);
  return 1;
}

/// Solves A x = b by sketch-and-project from the iterate in `x` (in/out).
/// `Rows` is DenseRows or CsrRows. Returns the status, the iterations done
/// and the final residual norm. NaN/inf stops with Status::non_finite and
/// restores the last iterate whose residual was finite.
template <class Scalar, class Rows>
SolveInfo sketch_project(const Rows& A, const Scalar* b, Scalar* x, const SketchOptions& opt,
                         Control* control = nullptr, const SketchMonitor<Scalar>& monitor = nullptr) {
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  const std::int64_t m = A.rows(), n = A.cols();
  opt.check();
  const int nt = resolve_threads(opt.n_threads);
  const std::int64_t k = opt.effective_block_size(m);
  const std::int64_t maxiter = opt.max_iterations(m, n);
  const double target = opt.stop_target(Eigen::Map<const Vec>(b, m).template cast<double>().norm());
  const std::int64_t check_every =
      opt.check_every > 0 ? opt.check_every : default_check_every(opt.method, m, k);

  SolveInfo info;
  Eigen::Map<Vec> xv(x, n);
  Vec r(m), last_good = xv;
  double res0 = 0.0, best = 0.0;
  const std::int64_t stall_warmup = std::max<std::int64_t>(4 * check_every, 20 * ((m + k - 1) / k));
  auto check = [&](std::int64_t it) -> bool {  // true: stop
    const double res = A.residual(x, b, r.data(), nt);
    info.iterations = it;
    if (!std::isfinite(res)) {
      xv = last_good;
      info.status = Status::non_finite;
      return true;
    }
    last_good = xv;
    info.residual = res;
    if (opt.history) info.history.push_back(res);
    if (res <= target) {
      info.status = Status::converged;
      return true;
    }
    if (it > 0 && monitor && !monitor(it, res, x)) {
      info.status = Status::callback_stop;
      return true;
    }
    if (it == 0) {
      res0 = best = res;
    } else {
      best = std::min(best, res);
    }
    // The residual of Kaczmarz-type methods is not monotone (the error is, in
    // expectation), so the rate is taken from the best residual seen and only
    // judged after a warm-up of 20 passes over the rows (and 4 checks).
    if (opt.stall_factor > 0.0 && it >= stall_warmup && res0 > 0.0) {
      const double rate = std::log(best / res0) / static_cast<double>(it);  // per iteration, < 0 if progressing
      const double need = rate < 0.0 ? std::log(target / best) / rate : HUGE_VAL;
      if (need > opt.stall_factor * static_cast<double>(maxiter - it)) return true;  // stays max_iter
    }
    return false;
  };
  info.status = Status::max_iter;
  if (m == 0 || n == 0) {
    info.residual = m == 0 ? 0.0 : Eigen::Map<const Vec>(b, m).template cast<double>().norm();
    info.status = info.residual <= target ? Status::converged : Status::breakdown;
    return info;
  }
  if (check(0)) return info;

  Rng rng(opt.seed, 0);
  // Kaczmarz: cumulative squared row norms for sampling proportional to them.
  std::vector<double> cum;
  if (opt.method == SketchMethod::kaczmarz) {
    cum.resize(m);
    double total = 0.0;
    for (std::int64_t i = 0; i < m; ++i) {
      total += static_cast<double>(A.row_row(i, i));
      cum[i] = total;
    }
    if (!(total > 0.0)) {  // A = 0: nothing to project onto
      info.status = Status::breakdown;
      return info;
    }
  }
  auto sample_row = [&]() -> std::int64_t {
    if (opt.uniform) return static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(m)));
    const double u = rng.uniform() * cum.back();
    auto it = std::upper_bound(cum.begin(), cum.end(), u);
    return std::min<std::int64_t>(static_cast<std::int64_t>(it - cum.begin()), m - 1);
  };

  std::vector<std::int64_t> rows_k(k);
  Mat W, M(k, k);
  Vec e(k), y(k), sb(k);
  if (opt.method != SketchMethod::kaczmarz) W.resize(n, k);

  for (std::int64_t it = 1; it <= maxiter; ++it) {
    if (opt.method == SketchMethod::kaczmarz) {
      if (k == 1) {
        const std::int64_t i = sample_row();
        const Scalar nrm = A.row_row(i, i);
        if (nrm > Scalar(0)) A.axpy(i, (b[i] - A.dot(i, x)) / nrm, x);
      } else {
        for (auto& i : rows_k) i = sample_row();
        for (std::int64_t p = 0; p < k; ++p) {
          e[p] = b[rows_k[p]] - A.dot(rows_k[p], x);
          for (std::int64_t q = 0; q <= p; ++q) M(p, q) = M(q, p) = A.row_row(rows_k[p], rows_k[q]);
        }
        // Repeated rows make M singular: the pseudo-inverse gives the projection.
        y = M.completeOrthogonalDecomposition().solve(e);
        for (std::int64_t p = 0; p < k; ++p) A.axpy(rows_k[p], y[p], x);
      }
    } else {
      // W = A^T S and sb = S^T b, drawing S one row at a time (never stored).
      W.setZero();
      sb.setZero();
      for (std::int64_t i = 0; i < m; ++i) {
        if (opt.method == SketchMethod::gaussian) {
          for (std::int64_t j = 0; j < k; ++j) {
            const Scalar g = static_cast<Scalar>(rng.normal());
            A.axpy(i, g, W.col(j).data());
            sb[j] += g * b[i];
          }
        } else {
          const auto j = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(k)));
          const Scalar s = (rng() >> 63) ? Scalar(1) : Scalar(-1);
          A.axpy(i, s, W.col(j).data());
          sb[j] += s * b[i];
        }
      }
      e.noalias() = W.transpose() * xv;
      e -= sb;  // S^T (A x - b)
      if (k == 1) {
        const Scalar nw = W.col(0).squaredNorm();
        if (nw > Scalar(0)) xv.noalias() -= W.col(0) * (e[0] / nw);
      } else {
        M.noalias() = W.transpose() * W;
        y = M.completeOrthogonalDecomposition().solve(e);
        xv.noalias() -= W * y;
      }
    }
    const bool last = it == maxiter;
    if (it % check_every == 0 || last) {
      if (check(it)) return info;
    }
    if (control && control->poll()) {
      info.iterations = it;
      info.status = Status::interrupted;
      return info;
    }
  }
  return info;
}

}  // namespace itercore::linalg
