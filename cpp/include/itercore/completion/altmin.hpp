#pragma once
/// Low-rank matrix completion by alternating minimization (Gu, Song, Yin &
/// Zhang, "Low Rank Matrix Completion via Robust Alternating Minimization in
/// Nearly Linear Time", ICLR 2024): from U (m x k), alternate
///
///     V <- argmin_V ||P_Omega(U V^T - M)||^2 + reg ||V||^2   (one solve per column)
///     U <- argmin_U ||P_Omega(U V^T - M)||^2 + reg ||U||^2   (one solve per row)
///
/// with the per-line solvers of row_solvers.hpp, exact or approximate. A sweep
/// is one V half-step then one U half-step. The observed entries are held
/// once by rows (CSR) and once by columns (the CSR of the transpose).
///
/// Stopping, checked once per sweep at O(|Omega| k):
/// - without a validation set: the relative residual over Omega,
///   r = ||P_Omega(U V^T - M)|| / ||P_Omega(M)||, satisfies r <= tol or
///   |r_prev - r| <= tol * r_prev;
/// - with a validation set (entries held out of Omega): the validation RMSE
///   stops improving by more than tol relatively; if it got worse, the
///   previous sweep's factors are restored and that sweep is not counted
///   (iterations and histories describe the returned factors).

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "itercore/common/csr.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/status.hpp"
#include "itercore/common/threads.hpp"
#include "init.hpp"
#include "row_solvers.hpp"

namespace itercore::completion {

/// Entries held out for stopping (coordinate format, borrowed).
template <class Scalar, class Index>
struct Validation {
  const Index* rows = nullptr;
  const Index* cols = nullptr;
  const Scalar* values = nullptr;
  std::int64_t size = 0;
};

/// Every setting of a completion: the per-line solves (RowOptions: method,
/// reg, inner_maxiter, inner_tol, sketch_ratio, seed), the start (InitOptions:
/// init, oversample, power_iters; read by `initialise` only) and the outer
/// loop below. One flat struct, so that the bindings expose each field once by
/// its Python name; `altmin` passes it to `half_step` as its RowOptions.
struct AltMinOptions : RowOptions, InitOptions {
  std::int64_t maxiter = 50; ///< sweeps (0: return the start)
  double tol = 1e-8;         ///< stopping tolerance, finite and >= 0 (see the stopping rules above)
  int n_threads = 0;         ///< OpenMP threads; <= 0: the OpenMP default

  void check() const {
    RowOptions::check();
    InitOptions::check();
    if (maxiter < 0) throw std::invalid_argument("maxiter must be >= 0");
    if (!(tol >= 0.0) || !std::isfinite(tol)) throw std::invalid_argument("tol must be finite and >= 0");
  }
};

/// Scale and norm of the observed values, computed once per solve: max |M|
/// (1 when all are 0) and ||P_Omega(M)|| / max |M|.
struct ObservedNorm {
  double scale = 1.0;
  double scaled_norm = 0.0;
};

template <class Scalar, class Index>
ObservedNorm observed_norm(const CsrView<Scalar, Index>& obs) {
  ObservedNorm out;
  double mx = 0.0;
  for (Index p = 0; p < obs.nnz(); ++p) mx = std::max(mx, std::abs(static_cast<double>(obs.data[p])));
  out.scale = mx > 0.0 ? mx : 1.0;
  double ss = 0.0;
  for (Index p = 0; p < obs.nnz(); ++p) {
    const double v = static_cast<double>(obs.data[p]) / out.scale;
    ss += v * v;
  }
  out.scaled_norm = std::sqrt(ss);
  return out;
}

/// ||P_Omega(U V^T - M)|| / ||P_Omega(M)|| (the absolute norm over max|M| when
/// M is 0 on Omega), accumulated in double after scaling by max |M| so that
/// large values cannot overflow the sum. Cost O(|Omega| k).
template <class Scalar, class Index>
double relative_residual(const CsrView<Scalar, Index>& obs, const ObservedNorm& norm, const Scalar* U,
                         const Scalar* V, std::int64_t k, int nt) {
  const double inv = 1.0 / norm.scale;
  double rr = 0.0;
  const bool par = nt > 1 && static_cast<double>(obs.nnz()) * static_cast<double>(k) >= 2.0e5;
#pragma omp parallel for num_threads(nt) if (par) schedule(dynamic, 64) reduction(+ : rr)
  for (Index i = 0; i < obs.rows; ++i) {
    const Scalar* u = U + static_cast<std::int64_t>(i) * k;
    for (Index p = obs.indptr[i]; p < obs.indptr[i + 1]; ++p) {
      const Scalar* v = V + static_cast<std::int64_t>(obs.indices[p]) * k;
      Scalar dot = 0;
      for (std::int64_t t = 0; t < k; ++t) dot += u[t] * v[t];
      const double r = (static_cast<double>(dot) - static_cast<double>(obs.data[p])) * inv;
      rr += r * r;
    }
  }
  const double rn = std::sqrt(rr);
  return norm.scaled_norm > 0.0 ? rn / norm.scaled_norm : rn;
}

/// Root-mean-square error of U V^T on the validation entries.
template <class Scalar, class Index>
double validation_rmse(const Validation<Scalar, Index>& val, const Scalar* U, const Scalar* V, std::int64_t k) {
  using RowVec = Eigen::Matrix<Scalar, 1, Eigen::Dynamic>;
  double ss = 0.0;
  for (std::int64_t t = 0; t < val.size; ++t) {
    const Eigen::Map<const RowVec> u(U + static_cast<std::int64_t>(val.rows[t]) * k, k);
    const Eigen::Map<const RowVec> v(V + static_cast<std::int64_t>(val.cols[t]) * k, k);
    const double r = static_cast<double>(u.dot(v)) - static_cast<double>(val.values[t]);
    ss += r * r;
  }
  return val.size > 0 ? std::sqrt(ss / static_cast<double>(val.size)) : 0.0;
}

/// Alternating minimization from (U, V) (row-major, m x k and n x k; V is the
/// warm start of the first V half-step for the cg and sketch solvers).
/// `rows`: the observations as an m x n CSR; `cols`: the same as an n x m CSR.
/// Returns the status, the sweeps done and, in `info.history`, the relative
/// residual before the first sweep and after each one. `val` (may be null)
/// switches to validation stopping; `val_history` receives its RMSE per check.
/// `monitor(sweep, residual)` runs after each sweep from the calling thread and
/// returns false to stop (Status::callback_stop). On NaN/inf the previous
/// sweep's factors are restored and the status is non_finite.
template <class Scalar, class Index, class Monitor>
SolveInfo altmin(const CsrView<Scalar, Index>& rows, const CsrView<Scalar, Index>& cols, std::int64_t k, Scalar* U,
                 Scalar* V, const AltMinOptions& opt, const Validation<Scalar, Index>* val,
                 std::vector<double>* val_history, Monitor&& monitor, Control* control = nullptr) {
  using RM = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  opt.check();
  const std::int64_t m = rows.rows, n = rows.cols;
  if (cols.rows != n || cols.cols != m || cols.nnz() != rows.nnz())
    throw std::invalid_argument("altmin: the CSR and CSC views disagree");
  if (k <= 0) throw std::invalid_argument("rank must be >= 1");
  const int nt = resolve_threads(opt.n_threads);
  const std::int64_t c_max = std::max(max_line(rows), max_line(cols));
  std::vector<RowScratch<Scalar>> scratch;
  scratch.reserve(static_cast<std::size_t>(nt));
  for (int t = 0; t < nt; ++t) scratch.emplace_back(k, c_max, opt);

  Eigen::Map<RM> Um(U, m, k), Vm(V, n, k);
  RM Ub = Um, Vb = Vm;  // the previous sweep's factors (NaN recovery, validation)
  SolveInfo info;
  info.status = Status::max_iter;
  const ObservedNorm mnorm = observed_norm(rows);
  double res = relative_residual(rows, mnorm, U, V, k, nt);
  info.history.push_back(res);
  info.residual = res;
  double vres = 0.0;
  if (val) {
    vres = validation_rmse(*val, U, V, k);
    if (val_history) val_history->push_back(vres);
  }
  if (!std::isfinite(res) || !Um.allFinite() || !Vm.allFinite()) {  // no finite iterate to start from
    info.status = Status::non_finite;
    return info;
  }
  const std::uint64_t lines = static_cast<std::uint64_t>(std::max(m, n)) + 1;
  RowOptions ropt = opt;  // its per-line part, with the stream of each half-step
  for (std::int64_t it = 0; it < opt.maxiter; ++it) {
    if (control && control->poll()) {
      info.status = Status::interrupted;
      break;
    }
    Ub = Um;
    Vb = Vm;
    ropt.stream_base = (2 * static_cast<std::uint64_t>(it)) * lines;
    half_step(cols, static_cast<const Scalar*>(U), k, V, ropt, scratch, nt);
    ropt.stream_base += lines;
    const double rr = half_step(rows, static_cast<const Scalar*>(V), k, U, ropt, scratch, nt, 1.0 / mnorm.scale);
    info.iterations = it + 1;
    // the residual of the new (U, V) over Omega, accumulated by the U half-step
    const double new_res = mnorm.scaled_norm > 0.0 ? std::sqrt(rr) / mnorm.scaled_norm : std::sqrt(rr);
    if (!std::isfinite(new_res) || !Um.allFinite() || !Vm.allFinite()) {
      Um = Ub;
      Vm = Vb;
      info.status = Status::non_finite;
      break;
    }
    const double prev = res;
    res = new_res;
    info.history.push_back(res);
    info.residual = res;
    bool done = false;
    if (val) {
      const double v_new = validation_rmse(*val, U, V, k);
      if (val_history) val_history->push_back(v_new);
      if (v_new > vres) {  // worse: return the previous sweep's factors, as if it had not run
        Um = Ub;
        Vm = Vb;
        info.history.pop_back();
        if (val_history) val_history->pop_back();
        info.iterations = it;
        info.residual = prev;
        info.status = Status::converged;
        break;
      }
      done = vres - v_new <= opt.tol * vres;
      vres = v_new;
    } else {
      done = res <= opt.tol || std::abs(prev - res) <= opt.tol * prev;
    }
    if (!monitor(it + 1, res)) {
      info.status = Status::callback_stop;
      break;
    }
    if (done) {
      info.status = Status::converged;
      break;
    }
  }
  return info;
}

}  // namespace itercore::completion
