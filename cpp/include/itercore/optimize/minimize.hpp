#pragma once
/// Knobs of itercore.optimize.minimize: those of the adaptive step (eal_step.hpp)
/// plus those of the Newton loop around it. The loop runs in Python (every
/// iteration calls the user's functions) and reads its knobs from this struct,
/// bound by name as `_core.optimize.Options`: the defaults here are the only ones.

#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "eal_step.hpp"

namespace itercore::optimize {

struct Options : EalStepOptions {
  std::int64_t maxiter = 1000;       ///< Newton iterations
  double eta1 = 1.0;                 ///< initial penalty on ||c||^2 in the merit
  double eta2 = 0.1;                 ///< initial penalty on ||grad_x L||^2 in the merit
  double beta = 0.1;                 ///< Armijo constant of the line search on the merit
  std::int64_t max_backtracks = 40;  ///< step halvings before the line search fails
  bool sparse = false;               ///< always assemble K in CSR (else only when the Jacobian or Hessian is sparse)
  std::int64_t bfgs_max_n = 3000;    ///< largest n for the dense BFGS matrix (no Hessian of fun or a constraint)

  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    EalStepOptions::check();
    if (maxiter < 0) throw std::invalid_argument("maxiter must be >= 0");
    if (!(eta1 > 0) || !std::isfinite(eta1)) throw std::invalid_argument("eta1 must be finite and > 0");
    if (!(eta2 > 0) || !std::isfinite(eta2)) throw std::invalid_argument("eta2 must be finite and > 0");
    if (!(beta > 0 && beta < 1)) throw std::invalid_argument("beta must be in (0, 1)");
    if (max_backtracks < 0) throw std::invalid_argument("max_backtracks must be >= 0");
    if (bfgs_max_n < 1) throw std::invalid_argument("bfgs_max_n must be >= 1");
  }
};

}  // namespace itercore::optimize
