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
/// Adaptive accuracy condition (residual r = K z + gradL of the inexact step):
///     ||r|| <= max( min(theta * eta2, ||gradL||^zeta) * ||gradL||, floor_share * tol ).
/// The theta*eta2 factor makes the inexact step inherit the exact step's
/// descent (the error terms eta2 grad_x L^T r_x and the K^{-1} r terms are
/// bounded by a fraction of the eta2 ||gradL||^2 decrease); ||gradL||^zeta
/// (zeta = 1/2 by default) sharpens the accuracy as the iterates converge,
/// giving the superlinear local rate; the floor (a fraction of the outer
/// tolerance) avoids solving more accurately than the outer test can see.
/// Descent test:
///     grad L_eta^T z <= -(eta2 / 2) ||gradL||^2.
/// When it fails the penalties are updated, eta1 <- nu^2 eta1, eta2 <- eta2 / nu,
/// which also tightens the accuracy target; the sketch solve resumes from the
/// current z until the tightened condition holds, and the test is repeated.
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
  eal_sketch = 0,  ///< sketch-and-project to the adaptive accuracy target (LU fallback)
  eal_direct = 1,  ///< LU only
};

/// Knobs of the adaptive step (defaults from the paper's experiments). The
/// defaults here are the only ones: the Python layer reads them from the
/// bound struct (itercore/optimize/minimize.hpp adds the Newton loop's).
struct EalStepOptions {
  Method method = Method::eal_sketch;  ///< how K z = -grad L is solved
  double tol = 1e-8;                   ///< the outer stopping test ||grad L|| <= tol (it sets the accuracy floor)
  double floor_share = 0.01;           ///< smallest accuracy target: floor_share * tol (absolute)
  double theta = 0.5;                  ///< accuracy constant theta
  double zeta = 0.5;                   ///< accuracy sharpening exponent
  double nu = 1.5;                     ///< penalty growth factor
  int max_penalty_updates = 60;        ///< descent-test retries before giving up
  bool fallback = true;                ///< direct solve when the sketch misses its target in budget
  linalg::SketchMethod sketch = linalg::SketchMethod::kaczmarz;  ///< the random sketch
  std::int64_t block_size = 1;         ///< sketch columns (rows per Kaczmarz step)
  std::int64_t sketch_maxiter = -1;    ///< sketch iterations per Newton step; -1: max(20000, 200 (n + m))
  /// give up on the sketch (and fall back) once its extrapolated rate needs more than
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
    so.maxiter = sketch_maxiter >= 0 ? sketch_maxiter : std::max<std::int64_t>(20000, 200 * N);
    so.seed = (seed + 7919ull * static_cast<std::uint64_t>(k)) & ((std::uint64_t(1) << 63) - 1);
    so.n_threads = n_threads;
    so.stall_factor = stall_factor;
    return so;
  }
};

/// What the step did.
struct EalStepInfo {
  Status status = Status::converged;  ///< breakdown: singular K or the descent test never held (see descent_failed)
  double eta1 = 1.0, eta2 = 0.1;      ///< penalties after the updates
  double dphi = 0.0;                  ///< grad L_eta^T z (the merit's directional derivative)
  double residual = 0.0;              ///< ||K z + gradL||
  double target = 0.0;                ///< the accuracy target that was met (last)
  std::int64_t sketch_iterations = 0;
  int penalty_updates = 0;
  bool used_direct = false;           ///< the direct solve produced z
  bool descent_failed = false;        ///< breakdown because max_penalty_updates updates never met the descent test
};

/// y = K x by rows (K any linalg::*Rows).
template <class Scalar, class Rows>
void rows_matvec(const Rows& K, const Scalar* x, Scalar* y) {
  for (std::int64_t i = 0; i < K.rows(); ++i) y[i] = K.dot(i, x);
}

/// The adaptive accuracy target for penalty eta2 and ||gradL|| = gnorm.
inline double accuracy_target(double gnorm, double eta2, const EalStepOptions& o) {
  const double factor = std::min(o.theta * eta2, std::pow(gnorm, o.zeta));
  return std::max(factor * gnorm, o.floor_share * o.tol);
}

/// Computes the step z (length N) for K z = -gradL and adapts (eta1, eta2).
/// `n` is the number of primal variables; `t` the shift inside B = H + t I;
/// `k` the Newton iteration (it seeds the sketches).
template <class Scalar, class Rows>
EalStepInfo eal_step(const Rows& K, std::int64_t n, const Scalar* gradL, double t, Scalar* z, double eta1,
                     double eta2, std::int64_t k, const EalStepOptions& o, Control* control = nullptr) {
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  const std::int64_t N = K.rows();
  if (K.cols() != N || n < 0 || n > N) throw std::invalid_argument("eal_step: K must be (n + m) x (n + m)");
  o.check();
  if (!(eta1 > 0.0) || !(eta2 > 0.0)) throw std::invalid_argument("eal_step: eta1, eta2 must be > 0");
  const linalg::SketchOptions base = o.sketch_options(N, k);
  EalStepInfo out;
  out.eta1 = eta1;
  out.eta2 = eta2;
  Eigen::Map<const Vec> g(gradL, N);
  Eigen::Map<Vec> zv(z, N);
  const double gnorm = static_cast<double>(g.norm());
  Vec rhs = -g, r(N);

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
  auto sketch_to = [&](double target) -> bool {
    linalg::SketchOptions so = base;
    so.rtol = 0.0;  // an absolute target: ||rhs - K z|| <= target
    so.atol = target;
    so.maxiter = std::max<std::int64_t>(0, base.maxiter - out.sketch_iterations);
    so.seed = base.seed + static_cast<std::uint64_t>(out.penalty_updates) * 0x9E3779B97F4A7C15ull;
    const SolveInfo si = linalg::sketch_project<Scalar>(K, rhs.data(), z, so, control);
    out.sketch_iterations += si.iterations;
    if (si.status == Status::interrupted) {
      out.status = Status::interrupted;
      return false;
    }
    return si.status == Status::converged;
  };

  zv.setZero();
  out.target = accuracy_target(gnorm, out.eta2, o);
  bool ok;
  if (o.method == Method::eal_sketch) {
    ok = sketch_to(out.target);
    if (!ok && out.status == Status::interrupted) return out;
    if (!ok) {
      if (!o.fallback) {
        out.status = Status::max_iter;
        out.residual = residual();
        return out;
      }
      zv.setZero();
      ok = direct();
    }
  } else {
    ok = direct();
  }
  if (!ok) return out;
  out.residual = residual();

  for (;;) {
    const double e1 = out.eta1, e2 = out.eta2;
    // grad_x L_eta = gx + eta2 (B gx - t gx) + eta1 G^T c ; grad_lambda L_eta = c + eta2 G gx
    Vec merit_grad(N);
    merit_grad.head(n) = g.head(n) + Scalar(e2) * (Kgx.head(n) - Scalar(t) * g.head(n)) + Scalar(e1) * Kc.head(n);
    merit_grad.tail(N - n) = g.tail(N - n) + Scalar(e2) * Kgx.tail(N - n);
    out.dphi = static_cast<double>(merit_grad.dot(zv));
    if (!std::isfinite(out.dphi)) {
      out.status = Status::non_finite;
      return out;
    }
    if (out.dphi <= -0.5 * e2 * gnorm * gnorm) {
      out.status = Status::converged;
      return out;
    }
    if (out.penalty_updates >= o.max_penalty_updates) {
      out.status = Status::breakdown;
      out.descent_failed = true;
      return out;
    }
    out.eta1 = e1 * o.nu * o.nu;
    out.eta2 = e2 / o.nu;
    ++out.penalty_updates;
    out.target = accuracy_target(gnorm, out.eta2, o);
    if (!out.used_direct && out.residual > out.target) {
      // The tightened accuracy condition: resume the sketch solve from z.
      if (!sketch_to(out.target)) {
        if (out.status == Status::interrupted) return out;
        if (!o.fallback) {
          out.status = Status::max_iter;
          out.residual = residual();
          return out;
        }
        if (!direct()) return out;
      }
      out.residual = residual();
    }
    if (control && control->poll()) {
      out.status = Status::interrupted;
      return out;
    }
  }
}

}  // namespace itercore::optimize
