#pragma once
/// One adaptive inexact Newton step on the exact augmented Lagrangian
/// (Hong, Na, Mahoney, Kolar, ICML 2023), everything but the line search:
///
/// Problem: min f(x) s.t. c(x) = 0, Lagrangian L = f + lambda^T c, G = dc/dx,
/// gradient gradL = (grad_x L, c) (length N = n + m), H = Hessian of L in x.
/// Merit (exact augmented Lagrangian):
///     L_eta = f + lambda^T c + (eta1/2)||c||^2 + (eta2/2)||grad_x L||^2,
///     grad_x L_eta      = grad_x L + eta2 H grad_x L + eta1 G^T c,
///     grad_lambda L_eta = c + eta2 G grad_x L.
/// Newton system: K z = -gradL, K = [[B, G^T], [G, 0]], B = H + t I.
///
/// Adaptive accuracy condition (residual r = K z + gradL of the inexact step).
/// `accuracy = paper` (the default; Hong et al. 2023, as in the authors' code
/// AdaSketch-Newton):
///     ||K|| Psi ||r|| <= theta_t delta ||gradL||,
///     theta_t = theta min(1, ||gradL||)^zeta   (zeta > 0: theta_t -> 0, the
///                                              superlinear variant),
///     delta  <- max(min(delta, delta_trial), delta_min) at the start of a step,
///     delta_trial = (1/2 - beta) eta2 / ((1 + eta1 + eta2) Upsilon^2 Psi^2),
/// with Psi = 20 max(||B||^2, 1) / (min(xi_G, 1) min(xi_B, 1)) and
/// Upsilon = max(||G||, ||H||, 1) (xi_G = lambda_min(G G^T), xi_B the
/// Hessian-modification constant), all supplied by the caller in StepScales;
/// a floor floor_share * tol on the target (0: none, the paper) keeps the
/// solve from chasing accuracies the outer test cannot see.
/// `accuracy = fixed` (a non-adaptive baseline for the reproduction):
///     ||r|| <= max(theta ||gradL||, floor_share * tol), penalties as in paper.
/// `accuracy = legacy` (itercore's earlier rule, not in the paper):
///     ||r|| <= max( min(theta * eta2, ||gradL||^zeta) * ||gradL||, floor_share * tol ).
/// Descent test:
///     grad L_eta^T z <= -(eta2 / 2) ||gradL||^2.
/// When it fails the penalties are updated, eta1 <- nu^2 eta1, eta2 <- eta2 / nu
/// (paper: delta <- max(min(delta / nu^4, delta_trial), delta_min)), which also
/// tightens the accuracy target; the sketch solve resumes from the current z
/// until the tightened condition holds, and the test is repeated. Paper: the
/// updates stop once eta1 > eta1_max or eta2 < eta2_min and the current
/// direction is then taken as it is (the authors' safeguard); legacy: at most
/// max_penalty_updates updates, then breakdown.
/// Paper, fallback off: a sketch solve that misses its target within its
/// budget (sketch_maxiter per solve) leaves the direction as it is and the
/// descent test decides, as in the authors' code; with fallback on (or
/// legacy), the LU solve replaces it.
///
/// The merit gradient needs H grad_x L, G grad_x L and G^T c; all three come
/// from two products with K itself (H = B - t I), so the step needs nothing
/// beyond K, gradL and t.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "direct.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/status.hpp"
#include "itercore/linalg/sketch.hpp"

namespace itercore::optimize {

/// How the Newton steps' KKT systems are solved (the public `method`).
enum class Method : int {
  eal_sketch = 0,  ///< sketch-and-project to the adaptive accuracy target (LU fallback only when `fallback`)
  eal_direct = 1,  ///< LU only (an exact-Newton SQP on the same merit)
};

/// Which adaptive accuracy condition stops the sketch solve (the public `options["accuracy"]`).
enum class Accuracy : int {
  paper = 0,   ///< Hong et al.: ||K|| Psi ||r|| <= theta_t delta ||gradL||
  legacy = 1,  ///< itercore's earlier rule: ||r|| <= min(theta eta2, ||gradL||^zeta) ||gradL||
  fixed = 2,   ///< non-adaptive baseline: ||r|| <= theta ||gradL|| (penalty handling as in paper)
};

/// The per-Newton-step constants of the paper's condition, computed by the
/// caller (norm estimates by power iterations on the sparse operators).
struct StepScales {
  double psi = 1.0;      ///< Psi = 20 max(||B||^2, 1) / (min(xi_G, 1) min(xi_B, 1))
  double upsilon = 1.0;  ///< Upsilon = max(||G||, ||H||, 1)
  double knorm = 1.0;    ///< ||K||
  double beta = 0.1;     ///< the Armijo constant (enters delta_trial)
  double delta = 0.1;    ///< delta carried over from the previous step
};

/// Knobs of the adaptive step (defaults from the paper's experiments). The
/// defaults here are the only ones: the Python layer reads them from the
/// bound struct (itercore/optimize/minimize.hpp adds the Newton loop's).
struct EalStepOptions {
  Method method = Method::eal_sketch;  ///< how K z = -grad L is solved
  Accuracy accuracy = Accuracy::paper; ///< the adaptive accuracy condition (paper or legacy)
  double tol = 1e-8;                   ///< the outer stopping test ||grad L|| <= tol (it sets the accuracy floor)
  double floor_share = 0.01;           ///< smallest accuracy target: floor_share * tol (absolute; 0: none, the paper)
  double theta = 1.0;                  ///< accuracy constant theta (paper: theta_t = theta min(1, ||grad L||)^zeta)
  double zeta = 0.0;                   ///< accuracy sharpening exponent (paper: 0 keeps theta_t = theta; > 0: theta_t -> 0)
  double delta = 0.1;                  ///< paper: initial delta of the accuracy condition
  double delta_min = 1e-6;             ///< paper: delta is not shrunk below this (the authors' safeguard)
  double xi_B = 0.1;                   ///< paper: Hessian-modification constant (B = H + (xi_B + ||H||) I when needed)
  double eta1_max = 1e8;               ///< paper: penalty updates stop once eta1 exceeds this
  double eta2_min = 1e-8;              ///< paper: penalty updates stop once eta2 falls below this
  double nu = 1.5;                     ///< penalty growth factor
  int max_penalty_updates = 60;        ///< legacy: descent-test retries before giving up
  bool fallback = false;               ///< LU solve when the sketch misses its target in budget (not in the paper)
  linalg::SketchMethod sketch = linalg::SketchMethod::kaczmarz;  ///< the random sketch
  bool uniform = true;                 ///< Kaczmarz rows sampled uniformly (the paper); false: by squared row norm
  std::int64_t block_size = 1;         ///< sketch columns (rows per Kaczmarz step)
  std::int64_t sketch_maxiter = -1;    ///< sketch iterations per sketch solve; -1: max(20000, 200 (n + m))
  /// with fallback: give up on the sketch (and fall back) once its extrapolated rate needs more than
  /// stall_factor times the remaining budget (linalg::SketchOptions::stall_factor); 0: never
  double stall_factor = 1.0;
  std::uint64_t seed = 0;              ///< Newton iteration k sketches with seed + 7919 k (mod 2^63)
  int n_threads = 0;                   ///< threads of the sketch's residual checks; <= 0: the OpenMP default

  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    if (!(tol > 0) || !std::isfinite(tol)) throw std::invalid_argument("tol must be finite and > 0");
    if (!(floor_share >= 0) || !std::isfinite(floor_share))
      throw std::invalid_argument("floor_share must be finite and >= 0");
    if (!(theta > 0) || !std::isfinite(theta)) throw std::invalid_argument("theta must be finite and > 0");
    if (!(zeta >= 0) || !std::isfinite(zeta)) throw std::invalid_argument("zeta must be finite and >= 0");
    if (!(delta > 0) || !std::isfinite(delta)) throw std::invalid_argument("delta must be finite and > 0");
    if (!(delta_min > 0) || !std::isfinite(delta_min)) throw std::invalid_argument("delta_min must be finite and > 0");
    if (!(xi_B > 0) || !std::isfinite(xi_B)) throw std::invalid_argument("xi_B must be finite and > 0");
    if (!(eta1_max > 0)) throw std::invalid_argument("eta1_max must be > 0");
    if (!(eta2_min >= 0) || !std::isfinite(eta2_min)) throw std::invalid_argument("eta2_min must be finite and >= 0");
    if (!(nu > 1) || !std::isfinite(nu)) throw std::invalid_argument("nu must be finite and > 1");
    if (max_penalty_updates < 0) throw std::invalid_argument("max_penalty_updates must be >= 0");
    if (block_size < 1) throw std::invalid_argument("block_size must be >= 1");
    if (sketch_maxiter < -1) throw std::invalid_argument("sketch_maxiter must be >= 0 (or -1: automatic)");
    if (!(stall_factor >= 0) || !std::isfinite(stall_factor))
      throw std::invalid_argument("stall_factor must be finite and >= 0");
  }

  /// The sketch solver's options for Newton iteration k of a system with N rows
  /// (the target is set per solve).
  linalg::SketchOptions sketch_options(std::int64_t N, std::int64_t k) const {
    linalg::SketchOptions so;
    so.method = sketch;
    so.block_size = block_size;
    so.uniform = uniform;
    so.maxiter = sketch_maxiter >= 0 ? sketch_maxiter : std::max<std::int64_t>(20000, 200 * N);
    so.seed = (seed + 7919ull * static_cast<std::uint64_t>(k)) & ((std::uint64_t(1) << 63) - 1);
    so.n_threads = n_threads;
    // giving up early only pays when something (the LU fallback) takes over
    so.stall_factor = fallback ? stall_factor : 0.0;
    return so;
  }
};

/// What the step did.
struct EalStepInfo {
  Status status = Status::converged;  ///< breakdown: singular K or the descent test never held (see descent_failed)
  double eta1 = 1.0, eta2 = 0.1;      ///< penalties after the updates
  double dphi = 0.0;                  ///< grad L_eta^T z (the merit's directional derivative)
  double residual = 0.0;              ///< ||K z + gradL||
  double target = 0.0;                ///< the last accuracy target on ||K z + gradL||
  double delta = 0.1;                 ///< paper: delta after the step (carried to the next step)
  double theta_t = 1.0;               ///< paper: theta_t used in the step
  std::int64_t sketch_iterations = 0;
  int penalty_updates = 0;
  bool used_direct = false;           ///< the direct solve produced z
  bool descent_failed = false;        ///< breakdown because max_penalty_updates updates never met the descent test
  bool target_missed = false;         ///< paper, no fallback: some sketch solve ended above its target
  bool penalty_capped = false;        ///< paper: the direction was taken at the penalty limits without the descent test
};

/// y = K x by rows (K any linalg::*Rows).
template <class Scalar, class Rows>
void rows_matvec(const Rows& K, const Scalar* x, Scalar* y) {
  for (std::int64_t i = 0; i < K.rows(); ++i) y[i] = K.dot(i, x);
}

/// The legacy accuracy target for penalty eta2 and ||gradL|| = gnorm.
inline double accuracy_target(double gnorm, double eta2, const EalStepOptions& o) {
  const double factor = std::min(o.theta * eta2, std::pow(gnorm, o.zeta));
  return std::max(factor * gnorm, o.floor_share * o.tol);
}

/// The paper's delta_trial for penalties (eta1, eta2).
inline double delta_trial(double eta1, double eta2, const StepScales& sc) {
  return (0.5 - sc.beta) * eta2 / ((1.0 + eta1 + eta2) * sc.upsilon * sc.upsilon * sc.psi * sc.psi);
}

/// The paper's target on ||r||: theta_t delta ||gradL|| / (||K|| Psi), floored.
inline double paper_target(double gnorm, double theta_t, double delta, const StepScales& sc,
                           const EalStepOptions& o) {
  return std::max(theta_t * delta * gnorm / (sc.knorm * sc.psi), o.floor_share * o.tol);
}

/// Computes the step z (length N) for K z = -gradL and adapts (eta1, eta2)
/// (and, for the paper's condition, delta). `n` is the number of primal
/// variables; `t` the shift inside B = H + t I; `k` the Newton iteration (it
/// seeds the sketches); `sc` the paper's per-step constants (unused by legacy).
template <class Scalar, class Rows>
EalStepInfo eal_step(const Rows& K, std::int64_t n, const Scalar* gradL, double t, Scalar* z, double eta1,
                     double eta2, std::int64_t k, const EalStepOptions& o, Control* control = nullptr,
                     const StepScales& sc = StepScales{}) {
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const std::int64_t N = K.rows();
  if (K.cols() != N || n < 0 || n > N) throw std::invalid_argument("eal_step: K must be (n + m) x (n + m)");
  o.check();
  if (!(eta1 > 0.0) || !(eta2 > 0.0)) throw std::invalid_argument("eal_step: eta1, eta2 must be > 0");
  // paper and fixed share the penalty handling (limits, go on after a missed target)
  const bool paper = o.accuracy != Accuracy::legacy;
  const bool fixed = o.accuracy == Accuracy::fixed;
  if (o.accuracy == Accuracy::paper && (!(sc.psi > 0) || !(sc.knorm > 0) || !(sc.upsilon > 0) || !(sc.delta > 0) || !std::isfinite(sc.psi) ||
                !std::isfinite(sc.knorm) || !std::isfinite(sc.upsilon)))
    throw std::invalid_argument("eal_step: psi, upsilon, knorm and delta must be finite and > 0");
  const linalg::SketchOptions base = o.sketch_options(N, k);
  EalStepInfo out;
  out.eta1 = eta1;
  out.eta2 = eta2;
  Eigen::Map<const Vec> g(gradL, N);
  Eigen::Map<Vec> zv(z, N);
  const double gnorm = static_cast<double>(g.norm());
  Vec rhs = -g, r(N);
  out.theta_t = paper ? o.theta * std::pow(std::min(1.0, gnorm), o.zeta) : o.theta;
  if (paper) out.delta = std::max(std::min(sc.delta, delta_trial(eta1, eta2, sc)), o.delta_min);
  auto target_now = [&]() {
    if (fixed) return std::max(o.theta * gnorm, o.floor_share * o.tol);
    return paper ? paper_target(gnorm, out.theta_t, out.delta, sc, o) : accuracy_target(gnorm, out.eta2, o);
  };

  // Pieces of grad L_eta: K [gx; 0] = [B gx; G gx], K [0; c] = [G^T c; 0].
  Vec gx0 = g, c0 = g, Kgx(N), Kc(N);
  gx0.tail(N - n).setZero();
  c0.head(n).setZero();
  rows_matvec(K, gx0.data(), Kgx.data());
  rows_matvec(K, c0.data(), Kc.data());

  auto residual = [&]() {
    rows_matvec(K, z, r.data());
    r += g;
    return static_cast<double>(r.norm());
  };
  auto direct = [&]() -> bool {
    out.used_direct = true;
    out.status = direct_solve(K, rhs.data(), z);
    return out.status == Status::converged;
  };
  // Sketch solve from the current z to the current target; false: missed it.
  // Paper: each solve gets the whole budget (the authors cap each accuracy
  // loop); legacy: the budget is shared by the step's solves.
  auto sketch_to = [&](double target) -> bool {
    linalg::SketchOptions so = base;
    so.rtol = 0.0;  // an absolute target: ||rhs - K z|| <= target
    so.atol = target;
    so.maxiter = paper ? base.maxiter : std::max<std::int64_t>(0, base.maxiter - out.sketch_iterations);
    so.seed = base.seed + static_cast<std::uint64_t>(out.penalty_updates) * 0x9E3779B97F4A7C15ull;
    const SolveInfo si = linalg::sketch_project<Scalar>(K, rhs.data(), z, so, control);
    out.sketch_iterations += si.iterations;
    if (si.status == Status::interrupted) {
      out.status = Status::interrupted;
      return false;
    }
    return si.status == Status::converged;
  };
  // After a missed target: true to go on with z (paper without fallback), else
  // z from LU (fallback) or a max_iter status (legacy without fallback).
  auto on_miss = [&]() -> bool {
    if (out.status == Status::interrupted) return false;
    if (o.fallback) {
      zv.setZero();
      return direct();
    }
    if (paper) {
      out.target_missed = true;
      return true;
    }
    out.status = Status::max_iter;
    out.residual = residual();
    return false;
  };

  zv.setZero();
  out.target = target_now();
  bool ok;
  if (o.method == Method::eal_sketch) {
    ok = sketch_to(out.target) || on_miss();
  } else {
    ok = direct();
  }
  if (!ok) return out;
  out.status = Status::converged;
  out.residual = residual();

  for (;;) {
    const double e1 = out.eta1, e2 = out.eta2;
    if (paper && (e1 > o.eta1_max || e2 < o.eta2_min)) {
      // the authors' safeguard: at the penalty limits the direction is taken as it is
      out.penalty_capped = true;
    }
    // grad_x L_eta = gx + eta2 (B gx - t gx) + eta1 G^T c ; grad_lambda L_eta = c + eta2 G gx
    Vec merit_grad(N);
    merit_grad.head(n) = g.head(n) + Scalar(e2) * (Kgx.head(n) - Scalar(t) * g.head(n)) + Scalar(e1) * Kc.head(n);
    merit_grad.tail(N - n) = g.tail(N - n) + Scalar(e2) * Kgx.tail(N - n);
    out.dphi = static_cast<double>(merit_grad.dot(zv));
    if (!std::isfinite(out.dphi)) {
      out.status = Status::non_finite;
      return out;
    }
    if (out.penalty_capped || out.dphi <= -0.5 * e2 * gnorm * gnorm) {
      out.status = Status::converged;
      return out;
    }
    if (!paper && out.penalty_updates >= o.max_penalty_updates) {
      out.status = Status::breakdown;
      out.descent_failed = true;
      return out;
    }
    out.eta1 = e1 * o.nu * o.nu;
    out.eta2 = e2 / o.nu;
    ++out.penalty_updates;
    if (paper) {
      const double nu4 = o.nu * o.nu * o.nu * o.nu;
      out.delta = std::max(std::min(out.delta / nu4, delta_trial(out.eta1, out.eta2, sc)), o.delta_min);
    }
    out.target = target_now();
    if (!out.used_direct && out.residual > out.target) {
      // The tightened accuracy condition: resume the sketch solve from z.
      if (!sketch_to(out.target) && !on_miss()) return out;
      out.status = Status::converged;
      out.residual = residual();
    }
    if (control && control->poll()) {
      out.status = Status::interrupted;
      return out;
    }
  }
}

}  // namespace itercore::optimize
