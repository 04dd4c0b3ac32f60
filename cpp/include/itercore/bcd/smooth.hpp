#pragma once
/// Block coordinate descent for (multinomial) logistic regression on dense X:
///
///   f(W) = 1/n sum_i loss(x_i^T W, y_i) + l2/2 ||W||^2 + l1 ||W||_1,
///
/// with W of shape p x K (K = 1: binary logistic, loss log(1 + exp(-y z)),
/// y in {-1, +1}; K >= 2: softmax, loss logsumexp(z) - z_{y}). A block is a
/// set of features (all K of their weights). The scores Z = X W (n x K) are
/// kept up to date after each block update in O(n |b| K), so a block gradient
/// G_b = X_b^T R / n + l2 W_b (R the loss derivative at Z) costs O(n |b| K).
/// Greedy rules score every block and so need the full gradient, O(n p K), per
/// iteration: they pay when an iteration's progress matters more than its cost.

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <stdexcept>
#include <vector>

#include "itercore/bcd/rules.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/random.hpp"
#include "itercore/common/status.hpp"

namespace itercore::bcd {

struct SmoothOptions {
  Rule rule = Rule::gsl;
  Update update = Update::gradient;
  const std::int64_t* block_ptr = nullptr;  ///< fixed feature blocks, CSR-style
  const std::int64_t* block_idx = nullptr;
  std::int64_t n_blocks = 0;
  double l1 = 0.0, l2 = 0.0;
  double tol = 1e-8;         ///< on the infinity norm of the (proximal) gradient mapping
  std::int64_t maxiter = 1000;
  std::int64_t check_every = 1;
  std::uint64_t seed = 0;
  bool history = false;      ///< objective per check
};

/// The solver. `xt` is X^T (p x n, C order); `y` holds +-1 (K = 1) or class ids (K >= 2).
template <class Scalar>
class SmoothBCD {
 public:
  using Mat = Eigen::MatrixXd;
  using Vec = Eigen::VectorXd;

  SmoothBCD(const Scalar* xt, std::int64_t n, std::int64_t p, const double* y, std::int64_t K, const SmoothOptions& opt)
      : xt_(xt), n_(n), p_(p), K_(K), y_(y), opt_(opt) {
    if (K < 1) throw std::invalid_argument("K must be >= 1");
    if (K > 1 && (opt.l1 > 0.0)) throw std::invalid_argument("l1: not available for Softmax");
    if (opt.l1 > 0.0 && opt.update != Update::gradient) throw std::invalid_argument("update: L1 needs update='gradient'");
    if (K > 1 && opt.update == Update::newton) throw std::invalid_argument("update: 'newton' is for Logistic; use 'matrix'");
    if (opt.update == Update::message_passing) throw std::invalid_argument("update: message-passing needs a Quadratic problem");
    if (opt.maxiter < 0) throw std::invalid_argument("maxiter must be >= 0");
    if (opt.check_every < 1) throw std::invalid_argument("check_every must be >= 1");
    const std::int64_t nb = opt.n_blocks;
    if (nb < 1 || opt.block_ptr[0] != 0 || opt.block_ptr[nb] != p) throw std::invalid_argument("blocks: bad partition");
    // curvature bound of the loss: 1/4 (logistic), 1/2 (softmax: diag(p) - p p^T <= I/2)
    curv_ = K == 1 ? 0.25 : 0.5;
    L_.resize(nb);
    const bool need_chol = opt.update == Update::matrix || opt.rule == Rule::gsq;
    if (need_chol) chol_.resize(nb);
    for (std::int64_t k = 0; k < nb; ++k) {
      const std::int64_t m = bsize(k);
      const Mat Xb = block_cols(k);
      Mat M = Xb.transpose() * Xb * (curv_ / double(n_));
      M.diagonal().array() += opt.l2;
      // the largest eigenvalue of the bound (the block Lipschitz constant)
      Eigen::SelfAdjointEigenSolver<Mat> es(M, Eigen::EigenvaluesOnly);
      L_[k] = std::max(es.eigenvalues()(m - 1), 1e-300);
      if (need_chol) chol_[k].compute(M);
    }
    if (opt.rule == Rule::lipschitz) {
      double c = 0.0;
      cumL_.resize(nb);
      for (std::int64_t k = 0; k < nb; ++k) cumL_[k] = (c += L_[k]);
    }
  }

  /// Solves in place from W (p x K, C order).
  SolveInfo solve(double* W, Control* control = nullptr,
                  const std::function<bool(std::int64_t, const double*, double)>& monitor = nullptr) {
    SolveInfo info;
    info.status = Status::max_iter;
    Rng rng(opt_.seed, 0);
    Z_.assign(n_ * K_, 0.0);
    for (std::int64_t j = 0; j < p_; ++j)
      for (std::int64_t c = 0; c < K_; ++c)
        if (W[j * K_ + c] != 0.0) axpy_col(j, W[j * K_ + c], c);
    R_.resize(n_ * K_);
    G_.resize(p_ * K_);
    double f = loss_and_derivative() + penalty(W);
    full_gradient(W);
    double meas = optimality(W);
    info.residual = meas;
    if (opt_.history) info.history.push_back(f);
    if (!std::isfinite(meas) || !std::isfinite(f)) {
      info.status = Status::non_finite;
      return info;
    }
    if (meas <= opt_.tol) {
      info.status = Status::converged;
      return info;
    }
    std::int64_t cursor = 0;
    const std::int64_t nb = opt_.n_blocks;
    std::vector<double> oldW;
    for (std::int64_t it = 0; it < opt_.maxiter; ++it) {
      if (control && control->poll()) {
        info.status = Status::interrupted;
        break;
      }
      // R is current (loss_and_derivative after the last update)
      std::int64_t k;
      switch (opt_.rule) {
        case Rule::cyclic: k = cursor; cursor = (cursor + 1) % nb; break;
        case Rule::random: k = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(nb))); break;
        case Rule::lipschitz: {
          const double u = rng.uniform() * cumL_.back();
          k = std::min<std::int64_t>(std::upper_bound(cumL_.begin(), cumL_.end(), u) - cumL_.begin(), nb - 1);
          break;
        }
        default: full_gradient(W); k = argmax_block(W); break;
      }
      const std::int64_t m = bsize(k);
      const std::int64_t* idx = opt_.block_idx + opt_.block_ptr[k];
      Mat Gb(m, K_);
      for (std::int64_t q = 0; q < m; ++q)
        for (std::int64_t c = 0; c < K_; ++c) Gb(q, c) = block_grad(idx[q], c, W);
      Mat D(m, K_);
      if (opt_.update == Update::gradient) {
        for (std::int64_t q = 0; q < m; ++q)
          for (std::int64_t c = 0; c < K_; ++c) {
            const double w = W[idx[q] * K_ + c];
            double z = w - Gb(q, c) / L_[k];
            if (opt_.l1 > 0.0) {
              const double t = opt_.l1 / L_[k];
              z = z > t ? z - t : (z < -t ? z + t : 0.0);
            }
            D(q, c) = z - w;
          }
      } else if (opt_.update == Update::matrix) {
        D = -chol_[k].solve(Gb);
      } else {  // Newton on the block (logistic), then backtracking below
        Mat Xb = block_cols(k);
        Vec h(n_);
        for (std::int64_t i = 0; i < n_; ++i) {
          const double s = 1.0 / (1.0 + std::exp(-Z_[i]));
          h[i] = s * (1.0 - s) / double(n_);
        }
        Mat H = Xb.transpose() * h.asDiagonal() * Xb;
        H.diagonal().array() += opt_.l2 + 1e-12;
        Eigen::LLT<Mat> f2(H);
        if (f2.info() != Eigen::Success) {
          info.status = Status::breakdown;
          break;
        }
        D = -f2.solve(Gb);
      }
      if (!D.allFinite()) {
        info.status = Status::non_finite;
        break;
      }
      // apply with backtracking (Newton) / as is (the bounds guarantee descent)
      double t = 1.0;
      const double f_old = f;
      oldW.assign(W, W + p_ * K_);
      double slope = (Gb.array() * D.array()).sum();
      for (int ls = 0; ls < 30; ++ls) {
        apply_step(idx, m, D, t, W);
        f = loss_and_derivative() + penalty(W);
        // Armijo, with slack for rounding once the block is (nearly) optimal
        const double slack = 8.0 * std::numeric_limits<double>::epsilon() * std::abs(f_old);
        if (opt_.update != Update::newton || f <= f_old + 1e-4 * t * slope + slack || !std::isfinite(f_old)) break;
        apply_step(idx, m, D, -t, W);  // undo and halve
        t *= 0.5;
      }
      if (!std::isfinite(f)) {
        apply_step(idx, m, D, -t, W);
        std::copy(oldW.begin(), oldW.end(), W);
        f = loss_and_derivative() + penalty(W);
        info.status = Status::non_finite;
        break;
      }
      info.iterations = it + 1;
      if ((it + 1) % opt_.check_every == 0 || it + 1 == opt_.maxiter) {
        full_gradient(W);
        meas = optimality(W);
        info.residual = meas;
        if (opt_.history) info.history.push_back(f);
        if (!std::isfinite(meas)) {
          info.status = Status::non_finite;
          break;
        }
        if (meas <= opt_.tol) {
          info.status = Status::converged;
          break;
        }
        if (monitor && !monitor(it + 1, W, f)) {
          info.status = Status::callback_stop;
          break;
        }
      }
    }
    objective_ = f;
    if (info.status != Status::converged) {
      loss_and_derivative();
      full_gradient(W);
      info.residual = optimality(W);
    }
    return info;
  }

  double objective() const { return objective_; }

 private:
  std::int64_t bsize(std::int64_t k) const { return opt_.block_ptr[k + 1] - opt_.block_ptr[k]; }

  Mat block_cols(std::int64_t k) const {
    const std::int64_t m = bsize(k);
    Mat Xb(n_, m);
    for (std::int64_t q = 0; q < m; ++q) {
      const Scalar* col = xt_ + opt_.block_idx[opt_.block_ptr[k] + q] * n_;
      for (std::int64_t i = 0; i < n_; ++i) Xb(i, q) = double(col[i]);
    }
    return Xb;
  }

  void axpy_col(std::int64_t j, double a, std::int64_t c) {
    const Scalar* col = xt_ + j * n_;
    for (std::int64_t i = 0; i < n_; ++i) Z_[i * K_ + c] += a * double(col[i]);
  }

  void apply_step(const std::int64_t* idx, std::int64_t m, const Mat& D, double t, double* W) {
    for (std::int64_t q = 0; q < m; ++q)
      for (std::int64_t c = 0; c < K_; ++c) {
        const double d = t * D(q, c);
        if (d == 0.0) continue;
        W[idx[q] * K_ + c] += d;
        axpy_col(idx[q], d, c);
      }
  }

  /// Mean loss at Z; fills R with its derivative (divided by n).
  double loss_and_derivative() {
    double s = 0.0;
    const double inv = 1.0 / double(n_);
    if (K_ == 1) {
      for (std::int64_t i = 0; i < n_; ++i) {
        const double yz = y_[i] * Z_[i];
        // log(1 + exp(-yz)) computed stably
        s += yz > 0 ? std::log1p(std::exp(-yz)) : -yz + std::log1p(std::exp(yz));
        R_[i] = -y_[i] / (1.0 + std::exp(yz)) * inv;
      }
    } else {
      for (std::int64_t i = 0; i < n_; ++i) {
        const double* z = &Z_[i * K_];
        double mx = z[0];
        for (std::int64_t c = 1; c < K_; ++c) mx = std::max(mx, z[c]);
        double se = 0.0;
        for (std::int64_t c = 0; c < K_; ++c) se += std::exp(z[c] - mx);
        const std::int64_t yi = static_cast<std::int64_t>(y_[i]);
        s += mx + std::log(se) - z[yi];
        for (std::int64_t c = 0; c < K_; ++c) R_[i * K_ + c] = (std::exp(z[c] - mx) / se - (c == yi ? 1.0 : 0.0)) * inv;
      }
    }
    return s * inv;
  }

  double penalty(const double* W) const {
    double l2 = 0.0, l1 = 0.0;
    for (std::int64_t j = 0; j < p_ * K_; ++j) {
      l2 += W[j] * W[j];
      l1 += std::abs(W[j]);
    }
    return 0.5 * opt_.l2 * l2 + opt_.l1 * l1;
  }

  double block_grad(std::int64_t j, std::int64_t c, const double* W) const {
    const Scalar* col = xt_ + j * n_;
    double s = 0.0;
    for (std::int64_t i = 0; i < n_; ++i) s += double(col[i]) * R_[i * K_ + c];
    return s + opt_.l2 * W[j * K_ + c];
  }

  void full_gradient(const double* W) {
    for (std::int64_t j = 0; j < p_; ++j)
      for (std::int64_t c = 0; c < K_; ++c) G_[j * K_ + c] = block_grad(j, c, W);
  }

  /// The proximal-gradient mapping of one weight with step 1/L (the gradient without L1).
  double mapping(std::int64_t j, std::int64_t c, const double* W, double L) const {
    const double g = G_[j * K_ + c];
    if (opt_.l1 <= 0.0) return g;
    const double w = W[j * K_ + c];
    double z = w - g / L;
    const double t = opt_.l1 / L;
    z = z > t ? z - t : (z < -t ? z + t : 0.0);
    return L * (w - z);
  }

  double optimality(const double* W) const {
    double mx = 0.0;
    for (std::int64_t k = 0; k < opt_.n_blocks; ++k)
      for (std::int64_t q = opt_.block_ptr[k]; q < opt_.block_ptr[k + 1]; ++q)
        for (std::int64_t c = 0; c < K_; ++c) mx = std::max(mx, std::abs(mapping(opt_.block_idx[q], c, W, L_[k])));
    return mx;
  }

  std::int64_t argmax_block(const double* W) const {
    std::int64_t best = 0;
    double bs = -1.0;
    for (std::int64_t k = 0; k < opt_.n_blocks; ++k) {
      const std::int64_t m = bsize(k);
      Mat Gb(m, K_);
      double s = 0.0;
      for (std::int64_t q = 0; q < m; ++q)
        for (std::int64_t c = 0; c < K_; ++c) {
          const double v = mapping(opt_.block_idx[opt_.block_ptr[k] + q], c, W, L_[k]);
          Gb(q, c) = v;
          s += v * v;
        }
      if (opt_.rule == Rule::gsl) s /= L_[k];
      else if (opt_.rule == Rule::gsq) s = (Gb.array() * chol_[k].solve(Gb).array()).sum();
      if (s > bs) {
        bs = s;
        best = k;
      }
    }
    return best;
  }

  const Scalar* xt_;
  std::int64_t n_, p_, K_;
  const double* y_;
  SmoothOptions opt_;
  double curv_ = 0.25;
  double objective_ = 0.0;
  std::vector<double> L_, cumL_, Z_, R_, G_;
  std::vector<Eigen::LLT<Mat>> chol_;
};

}  // namespace itercore::bcd
