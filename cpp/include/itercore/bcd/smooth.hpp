#pragma once
/// Block coordinate descent for smooth losses of a linear model, dense or sparse X:
///
///   f(W) = 1/n sum_i loss(x_i^T W, y_i) + l2/2 ||W||^2 + l1 ||W||_1,
///
/// with W of shape p x K: binary logistic (K = 1, loss log(1 + exp(-y z)),
/// y in {-1, +1}), softmax (K >= 2, loss logsumexp(z) - z_y) or squares
/// (K = 1, loss (z - y)^2 / 2). A block is a set of features (all K of their
/// weights). The scores Z = X W, the loss derivative R and the per-row losses
/// are kept up to date after each block update in time proportional to the
/// stored entries of the block's columns (the rows they touch), so a block
/// gradient G_b = X_b^T R + l2 W_b costs O(nnz(X_b) K) on sparse X.
///
/// Greedy rules (gs, gsl, gsq) on sparse X keep the full gradient G and the
/// block scores incremental too: a row-major copy of X (built once, O(nnz))
/// pushes the change of R on each touched row i into G (G_j += X_ij dR_i for
/// the j stored in row i), the updated block's own G is recomputed (its l2
/// term), and only the blocks holding a touched feature are re-scored in an
/// indexed max-heap (O(log n_blocks) each; one O(n_blocks) heapify when most
/// blocks are touched). A pick is then the heap's top, after
/// O(sum of the touched rows' nnz times K) of updates, instead of a full
/// gradient O(nnz(X) K) and a scan of all blocks; every check (each
/// `check_every` iterations) still recomputes G from scratch and rebuilds the
/// heap, so rounding cannot drift. Dense X (every row touched) computes the
/// full gradient per pick (threaded over columns on large X).
///
/// With L1 (K = 1) the `matrix` and `newton` updates solve the proximal block
/// subproblem min_d g^T d + 1/2 d^T H d + l1 ||w_b + d||_1 by coordinate passes
/// on the small quadratic (H the Hessian bound: descent without a line search;
/// or the exact Hessian with an Armijo search on the composite objective), and
/// `optimality` is the relative duality gap, a certificate. Once the signs of W
/// settle (the active set is identified), a Newton step on the active set, with
/// a projected Armijo search, converges superlinearly (Nutini, Laradji &
/// Schmidt 2022, section 6).

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

#include "itercore/bcd/lasso.hpp"
#include "itercore/bcd/rules.hpp"
#include "itercore/common/csr.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/random.hpp"
#include "itercore/common/status.hpp"
#include "itercore/common/threads.hpp"

namespace itercore::bcd {

/// The loss of a linear model.
enum class SmoothLoss : int {
  logistic = 0,  ///< binary logistic, y in {-1, +1}, K = 1
  softmax = 1,   ///< multinomial logistic, y the class ids, K >= 2 classes
  squares = 2,   ///< (z - y)^2 / 2, K = 1
};

/// Knobs of a smooth-loss BCD solve (`SmoothBCD`). The defaults here are the
/// only ones: the Python layer reads them from the bound struct.
struct SmoothOptions {
  Rule rule = Rule::gsl;             ///< block selection (not gs_r: that is the lasso's)
  Update update = Update::gradient;  ///< gradient, diagonal (GSD's bound), matrix (Hessian bound) or newton (logistic)
  double tol = 1e-8;                 ///< on the relative duality gap (L1, K = 1), else max |(proximal) gradient mapping|
  std::int64_t maxiter = 1000;       ///< block updates
  std::int64_t check_every = 0;      ///< block updates between optimality checks; 0: one sweep (1 with history)
  std::uint64_t seed = 0;            ///< for the random and lipschitz rules
  bool history = false;              ///< record the objective at each check
  int n_threads = 0;                 ///< threads for full-gradient recomputations on large X; <= 0: the OpenMP default
  int inner_passes = 100;            ///< coordinate passes on a proximal block subproblem
  /// With L1 (K = 1): once the signs of W are the same at two checks a sweep
  /// apart, try a Newton step on the active set (kept when the objective drops).
  bool active_set_newton = true;
  std::int64_t max_active = 2000;    ///< no active-set Newton on larger supports (dense |S|^2 Hessian)
  /// Sparse X with a greedy rule: keep G and the block scores (heap) up to date
  /// after each update instead of recomputing the full gradient per pick;
  /// false forces the full-gradient path (for tests and benchmarks).
  bool incremental_greedy = true;
  /// Fixed feature blocks (the partition given), or variable: the `block_size` best features under the
  /// (greedy) rule each iteration; the partition given must then be the singletons in order.
  BlockKind kind = BlockKind::fixed;
  std::int64_t block_size = 1;  ///< tau for variable blocks
  std::int64_t iht_iters = 10;  ///< gsq on variable blocks (no L1): iterative-hard-thresholding steps (0: GSD)

  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    if (rule == Rule::gs_r)
      throw std::invalid_argument("rule must be 'cyclic', 'random', 'lipschitz', 'gs', 'gsl', 'gsq' or 'gsd' "
                                  "('gs-r' is the lasso's)");
    if (update == Update::tmp)
      throw std::invalid_argument("update must not be 'tmp' here: two-metric projection is for a Quadratic with "
                                  "lower bounds");
    if (update == Update::message_passing)
      throw std::invalid_argument("update must not be 'message-passing' here: it needs a Quadratic problem "
                                  "(forest blocks of a sparse Hessian)");
    if (!(tol >= 0.0)) throw std::invalid_argument("tol must be >= 0");
    if (maxiter < 0) throw std::invalid_argument("maxiter must be >= 0");
    if (check_every < 0) throw std::invalid_argument("check_every must be >= 0");
    if (inner_passes < 1) throw std::invalid_argument("inner_passes must be >= 1");
    if (max_active < 0) throw std::invalid_argument("max_active must be >= 0");
    if (kind == BlockKind::greedy_forest)
      throw std::invalid_argument("blocks: greedy forests need a Quadratic problem");
    if (kind == BlockKind::variable && !greedy_rule(rule))
      throw std::invalid_argument("rule must be 'gs', 'gsl', 'gsq' or 'gsd' for blocks chosen greedily "
                                  "(variable blocks)");
    if (block_size < 1) throw std::invalid_argument("block_size must be >= 1");
    if (iht_iters < 0) throw std::invalid_argument("iht_iters must be >= 0");
  }
};

/// Visits the stored entries (row, value) of column j of a dense X.
template <class S, class F>
inline void for_column(const DenseColumns<S>& X, std::int64_t j, F&& f) {
  const S* c = X.xt + j * X.n;
  for (std::int64_t i = 0; i < X.n; ++i) f(i, double(c[i]));
}
/// Visits the stored entries (row, value) of column j of a sparse X.
template <class S, class I, class F>
inline void for_column(const SparseColumns<S, I>& X, std::int64_t j, F&& f) {
  for (I q = X.xt.indptr[j]; q < X.xt.indptr[j + 1]; ++q) f(std::int64_t(X.xt.indices[q]), double(X.xt.data[q]));
}
/// Column j of a dense X dotted with v: Eigen's vectorised reduction (the plain
/// loop in DenseColumns::dot cannot be vectorised without reassociation).
template <class S>
inline double column_dot(const DenseColumns<S>& X, std::int64_t j, const double* v) {
  using V = Eigen::Matrix<S, Eigen::Dynamic, 1>;
  return Eigen::Map<const V>(X.xt + j * X.n, X.n).template cast<double>().dot(Eigen::Map<const Eigen::VectorXd>(v, X.n));
}
template <class S, class I>
inline double column_dot(const SparseColumns<S, I>& X, std::int64_t j, const double* v) {
  return X.dot(j, v);
}
template <class S>
constexpr bool is_dense_columns(const DenseColumns<S>*) { return true; }
template <class S, class I>
constexpr bool is_dense_columns(const SparseColumns<S, I>*) { return false; }
/// The column-index type of a row-major copy of X (the CSC index type for sparse X).
template <class Cols>
struct RowIndexOf { using type = std::int64_t; };
template <class S, class I>
struct RowIndexOf<SparseColumns<S, I>> { using type = I; };
template <class S>
inline std::int64_t stored_entries(const DenseColumns<S>& X) { return X.n * X.p; }
template <class S, class I>
inline std::int64_t stored_entries(const SparseColumns<S, I>& X) { return X.xt.nnz(); }

/// The solver over a column-access type (DenseColumns or SparseColumns);
/// `y` holds +-1 (logistic), class ids (softmax) or targets (squares).
template <class Cols>
class SmoothBCD {
 public:
  using Mat = Eigen::MatrixXd;
  using Vec = Eigen::VectorXd;

  /// `loss` with K outputs (1, or the classes of softmax), penalties l1 (not
  /// softmax) and l2 >= 0, fixed feature `blocks`.
  SmoothBCD(const Cols& X, const double* y, std::int64_t K, SmoothLoss loss, double l1, double l2,
            const Partition& blocks, const SmoothOptions& opt)
      : X_(X), n_(X.n), p_(X.p), K_(K), y_(y), loss_(loss), l1_(l1), l2_(l2), blocks_(blocks), opt_(opt) {
    opt.check();
    const bool softmax = loss == SmoothLoss::softmax;
    if (K < 1 || (softmax && K < 2) || (!softmax && K != 1)) throw std::invalid_argument("K: does not match the loss");
    if (!(l1 >= 0.0) || !(l2 >= 0.0)) throw std::invalid_argument("l1, l2 must be >= 0");
    if (softmax && l1 > 0.0) throw std::invalid_argument("l1: not available for Softmax");
    if (loss != SmoothLoss::logistic && opt.update == Update::newton) {
      if (softmax) throw std::invalid_argument("update: 'newton' is for Logistic; use 'matrix'");
      opt_.update = Update::matrix;  // squares: the bound is the exact Hessian
    }
    const std::int64_t nb = blocks.n_blocks;
    check_partition(blocks, p_);
    variable_ = opt.kind == BlockKind::variable;
    if (variable_) {
      bool singletons = nb == p_;
      for (std::int64_t k = 0; singletons && k < nb; ++k) singletons = blocks.idx[k] == k && blocks.ptr[k] == k;
      if (!singletons) throw std::invalid_argument("blocks: variable blocks need the singleton partition in order");
    }
    const std::int64_t sweep = variable_ ? (p_ + opt.block_size - 1) / opt.block_size : nb;
    if (opt_.check_every == 0) opt_.check_every = opt.history ? 1 : sweep;  // one sweep between checks
    // curvature bound of the loss: 1/4 (logistic), 1/2 (softmax: diag(p) - p p^T <= I/2), 1 (squares, exact)
    curv_ = loss_ == SmoothLoss::logistic ? 0.25 : (softmax ? 0.5 : 1.0);
    gap_mode_ = l1_ > 0.0 && !softmax;
    buf_.assign(n_, 0.0);
    mark_.assign(n_, 0);
    L_.resize(nb);
    const bool prox_matrix = opt_.update == Update::matrix && l1_ > 0.0;
    const bool need_chol = (opt_.update == Update::matrix && !prox_matrix) || opt.rule == Rule::gsq;
    if (need_chol) chol_.resize(nb);
    if (opt.rule == Rule::gsq) Minv_.resize(nb);
    const bool prox_gsq = opt.rule == Rule::gsq && l1_ > 0.0;  // the proximal GS-q score solves block models
    if (prox_matrix || prox_gsq) Mb_.resize(nb);
    Dd_.assign(p_, 0.0);
    const double c = curv_ / double(n_);
    for (std::int64_t k = 0; k < nb; ++k) {
      const std::int64_t m = bsize(k);
      Mat M = weighted_gram(blocks_.idx + blocks_.ptr[k], m, [c](std::int64_t) { return c; });
      M.diagonal().array() += l2_;
      // the largest eigenvalue of the bound (the block Lipschitz constant)
      if (m == 1) {
        L_[k] = std::max(M(0, 0), 1e-300);
      } else {
        Eigen::SelfAdjointEigenSolver<Mat> es(M, Eigen::EigenvaluesOnly);
        L_[k] = std::max(es.eigenvalues()(m - 1), 1e-300);
      }
      if (need_chol) chol_[k].compute(M);
      if (opt.rule == Rule::gsq && m <= kSmallBlock) Minv_[k] = chol_[k].solve(Mat::Identity(m, m));
      if (prox_matrix || prox_gsq) Mb_[k] = M;
      // GSD's diagonal bound D_{b,i} = sum_{j in b} |M_ij| >= M (diagonal dominance), per feature
      for (std::int64_t q = 0; q < m; ++q) Dd_[blocks_.idx[blocks_.ptr[k] + q]] = std::max(M.row(q).cwiseAbs().sum(), 1e-300);
    }
    const bool greedy = greedy_rule(opt.rule);
    incr_ = greedy && !variable_ && opt.incremental_greedy && !is_dense_columns(static_cast<const Cols*>(nullptr));
    if (variable_ && (opt.rule == Rule::gsd || opt.rule == Rule::gsq || opt.update == Update::diagonal)) {
      // the whole Hessian bound c X^T X / n + l2 I: GSD's D_j = sum_i |M_ji| (a bound for any block), IHT's M d
      std::vector<std::int64_t> all(p_);
      for (std::int64_t j = 0; j < p_; ++j) all[j] = j;
      Mfull_ = weighted_gram(all.data(), p_, [c](std::int64_t) { return c; });
      Mfull_.diagonal().array() += l2_;
      Dfull_.resize(p_);
      for (std::int64_t j = 0; j < p_; ++j) Dfull_[j] = std::max(Mfull_.row(j).cwiseAbs().sum(), 1e-300);
    }
    if (incr_) build_rows();
    if (opt.rule == Rule::lipschitz) {
      double s = 0.0;
      cumL_.resize(nb);
      for (std::int64_t k = 0; k < nb; ++k) cumL_[k] = (s += L_[k]);
    }
  }

  /// Solves in place from W (p x K, C order).
  /// `monitor(iterations, W, objective, optimality)` runs at each check; false stops.
  SolveInfo solve(double* W, Control* control = nullptr,
                  const std::function<bool(std::int64_t, const double*, double, double)>& monitor = nullptr) {
    SolveInfo info;
    info.status = Status::max_iter;
    Rng rng(opt_.seed, 0);
    Z_.assign(n_ * K_, 0.0);
    for (std::int64_t j = 0; j < p_; ++j)
      for (std::int64_t c = 0; c < K_; ++c)
        if (W[j * K_ + c] != 0.0) X_.axpy(j, W[j * K_ + c], &Z_[c * n_]);
    R_.assign(n_ * K_, 0.0);
    li_.assign(n_, 0.0);
    G_.resize(p_ * K_);
    double f = exact_objective(W);
    full_gradient(W);
    double meas = optimality(W, f);
    info.residual = meas;
    if (opt_.history) info.history.push_back(f);
    if (!std::isfinite(meas) || !std::isfinite(f)) {
      info.status = Status::non_finite;
      objective_ = f;
      return info;
    }
    if (meas <= opt_.tol) {
      info.status = Status::converged;
      objective_ = f;
      return info;
    }
    std::int64_t cursor = 0;
    const std::int64_t nb = blocks_.n_blocks;
    for (std::int64_t it = 0; it < opt_.maxiter; ++it) {
      if (control && control->poll()) {
        info.status = Status::interrupted;
        break;
      }
      // R is current (rows refreshed after the last update)
      std::int64_t k;
      switch (opt_.rule) {
        case Rule::cyclic: k = cursor; cursor = (cursor + 1) % nb; break;
        case Rule::random: k = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(nb))); break;
        case Rule::lipschitz: {
          const double u = rng.uniform() * cumL_.back();
          k = std::min<std::int64_t>(std::upper_bound(cumL_.begin(), cumL_.end(), u) - cumL_.begin(), nb - 1);
          break;
        }
        default:
          if (variable_) {
            full_gradient(W);
            choose_features(W, vblock_);
            k = -1;
          } else if (incr_) {
            if (heap_stale_) rebuild_heap(W);
            k = heap_.top();
          } else {
            full_gradient(W);
            k = argmax_block(W);
          }
          break;
      }
      const std::int64_t m = k >= 0 ? bsize(k) : static_cast<std::int64_t>(vblock_.size());
      const std::int64_t* idx = k >= 0 ? blocks_.idx + blocks_.ptr[k] : vblock_.data();
      // the block's Lipschitz constant, Hessian bound and its factor: precomputed (fixed) or formed now (variable)
      double Lblk = 0.0;
      const Mat* Mblk = nullptr;
      const Eigen::LLT<Mat>* Cblk = nullptr;
      if (k >= 0) {
        Lblk = L_[k];
        if (!Mb_.empty()) Mblk = &Mb_[k];
        if (!chol_.empty()) Cblk = &chol_[k];
      } else {
        form_variable_block(idx, m);
        Lblk = vL_;
        Mblk = &vM_;
        Cblk = &vchol_;
      }
      const std::vector<double>& Ddiag = k >= 0 ? Dd_ : Dfull_;
      collect_rows(idx, m);
      const bool check_now = (it + 1) % opt_.check_every == 0 || it + 1 == opt_.maxiter;
      if (incr_ && !check_now) save_rows_R();
      Mat Gb(m, K_);
      for (std::int64_t q = 0; q < m; ++q)
        for (std::int64_t c = 0; c < K_; ++c) Gb(q, c) = block_grad(idx[q], c, W);
      Mat D(m, K_);
      if (opt_.update == Update::gradient || opt_.update == Update::diagonal) {
        for (std::int64_t q = 0; q < m; ++q) {
          const double Lq = opt_.update == Update::gradient ? Lblk : Ddiag[idx[q]];
          for (std::int64_t c = 0; c < K_; ++c) {
            const double w = W[idx[q] * K_ + c];
            D(q, c) = soft(w - Gb(q, c) / Lq, l1_ / Lq) - w;
          }
        }
      } else if (opt_.update == Update::matrix) {
        if (l1_ > 0.0) D = prox_subproblem(*Mblk, Gb, W, idx);
        else D = -Cblk->solve(Gb);
      } else {  // Newton on the block (logistic), then backtracking below
        const double inv = 1.0 / double(n_);
        auto hrow = [&](std::int64_t i) {
          const double s = 1.0 / (1.0 + std::exp(-Z_[i]));
          buf2_[i] = s * (1.0 - s) * inv;
        };
        buf2_.resize(n_);
        if (all_rows_) for (std::int64_t i = 0; i < n_; ++i) hrow(i);
        else for (std::int64_t i : rows_) hrow(i);
        Mat H = weighted_gram(idx, m, [&](std::int64_t i) { return buf2_[i]; });
        H.diagonal().array() += l2_ + 1e-12;
        if (l1_ > 0.0) {
          D = prox_subproblem(H, Gb, W, idx);
        } else {
          Eigen::LLT<Mat> f2(H);
          if (f2.info() != Eigen::Success) {
            info.status = Status::breakdown;
            break;
          }
          D = -f2.solve(Gb);
        }
      }
      if (!D.allFinite()) {
        info.status = Status::non_finite;
        break;
      }
      // apply with backtracking (Newton) / as is (the bounds guarantee descent)
      double t = 1.0;
      const double f_old = f;
      // decrease predicted by the model's linear part (composite with L1: Tseng & Yun's Armijo rule)
      double slope = (Gb.array() * D.array()).sum();
      if (l1_ > 0.0)
        for (std::int64_t q = 0; q < m; ++q)
          for (std::int64_t c = 0; c < K_; ++c) {
            const double w = W[idx[q] * K_ + c];
            slope += l1_ * (std::abs(w + D(q, c)) - std::abs(w));
          }
      const bool search = opt_.update == Update::newton;
      for (int ls = 0; ls < 30; ++ls) {
        apply_step(idx, m, D, t, W, search);
        f = search ? loss_sum_ / double(n_) + pen_ : f_old;
        // Armijo, with slack for rounding once the block is (nearly) optimal
        const double slack = 8.0 * std::numeric_limits<double>::epsilon() * std::abs(f_old);
        if (opt_.update != Update::newton || f <= f_old + 1e-4 * t * slope + slack || !std::isfinite(f_old)) break;
        apply_step(idx, m, D, -t, W, search);  // undo and halve
        t *= 0.5;
      }
      if (!std::isfinite(f)) {
        apply_step(idx, m, D, -t, W, search);
        f = exact_objective(W);
        info.status = Status::non_finite;
        break;
      }
      info.iterations = it + 1;
      // incremental G and block scores (a check recomputes G below anyway)
      if (incr_ && !check_now) push_gradient(k, idx, m, W);
      if (check_now) {
        f = exact_objective(W);  // re-sum the running totals: no drift
        full_gradient(W);
        meas = optimality(W, f);
        info.residual = meas;
        if (opt_.history) info.history.push_back(f);
        if (!std::isfinite(meas)) {
          info.status = Status::non_finite;
          break;
        }
        if (meas > opt_.tol && active_newton_ready(W, it + 1) && active_set_newton(W, f)) {
          ++newton_steps_;
          f = exact_objective(W);
          full_gradient(W);
          meas = optimality(W, f);
          info.residual = meas;
          if (!std::isfinite(meas)) {
            info.status = Status::non_finite;
            break;
          }
        }
        if (meas <= opt_.tol) {
          info.status = Status::converged;
          break;
        }
        if (monitor && !monitor(it + 1, W, f, meas)) {
          info.status = Status::callback_stop;
          break;
        }
      }
    }
    objective_ = exact_objective(W);
    if (info.status != Status::converged) {
      full_gradient(W);
      info.residual = optimality(W, objective_);
    }
    return info;
  }

  double objective() const { return objective_; }
  /// Accepted Newton steps on the active set.
  std::int64_t newton_steps() const { return newton_steps_; }
  /// The last duality gap computed (L1 logistic / squares; 0 otherwise), in the objective's scaling.
  double gap() const { return gap_; }
  /// The objective at W = 0 (the gap is relative to it).
  double objective_at_zero() const { return p0_; }

 private:
  std::int64_t bsize(std::int64_t k) const { return blocks_.ptr[k + 1] - blocks_.ptr[k]; }

  static double soft(double z, double t) { return z > t ? z - t : (z < -t ? z + t : 0.0); }

  /// M = X_b^T diag(h) X_b for the block's columns (h(i) a callable), in O(m^2 nnz / p).
  template <class H>
  Mat weighted_gram(const std::int64_t* idx, std::int64_t m, H&& h) {
    Mat M(m, m);
    for (std::int64_t b = 0; b < m; ++b) {
      for_column(X_, idx[b], [&](std::int64_t i, double v) { buf_[i] = v * h(i); });
      for (std::int64_t a = 0; a <= b; ++a) M(a, b) = M(b, a) = column_dot(X_, idx[a], buf_.data());
      for_column(X_, idx[b], [&](std::int64_t i, double) { buf_[i] = 0.0; });
    }
    return M;
  }

  /// True when an active-set Newton step is due: L1, K = 1, the sign pattern of
  /// W unchanged since the previous check at least a sweep ago.
  bool active_newton_ready(const double* W, std::int64_t it) {
    if (!opt_.active_set_newton || !gap_mode_ || it - last_newton_check_ < blocks_.n_blocks) return false;
    last_newton_check_ = it;
    std::vector<signed char> sg(p_);
    std::int64_t nz = 0, entries = 0;
    for (std::int64_t j = 0; j < p_; ++j) {
      sg[j] = W[j] > 0.0 ? 1 : (W[j] < 0.0 ? -1 : 0);
      if (sg[j] != 0) {
        ++nz;
        entries += X_.nnz(j);
      }
    }
    const bool same = sg == signs_;
    signs_.swap(sg);
    // the Hessian on S costs ~ |S| nnz(X_S) / 2: at most ~20 full gradients' worth
    const bool affordable = double(nz) * double(entries) <= 40.0 * double(stored_entries(X_)) + 1e6;
    return same && nz > 0 && nz <= opt_.max_active && affordable;
  }

  /// One Newton step on the active set S = {j : w_j != 0} with signs fixed:
  /// d = -H_SS^{-1} (G_S + l1 sign(w_S)), then an Armijo search on the
  /// objective over w_S + t d projected onto the orthant of w_S (weights that
  /// would change sign become 0). Returns false (W unchanged) when no step helps.
  bool active_set_newton(double* W, double f) {
    std::vector<std::int64_t> S;
    for (std::int64_t j = 0; j < p_; ++j)
      if (W[j] != 0.0) S.push_back(j);
    const std::int64_t m = static_cast<std::int64_t>(S.size());
    collect_rows(S.data(), m);
    const double inv = 1.0 / double(n_);
    buf2_.resize(n_);
    auto hrow = [&](std::int64_t i) {
      if (loss_ == SmoothLoss::squares) {
        buf2_[i] = inv;
      } else {
        const double s = 1.0 / (1.0 + std::exp(-Z_[i]));
        buf2_[i] = s * (1.0 - s) * inv;
      }
    };
    if (all_rows_) for (std::int64_t i = 0; i < n_; ++i) hrow(i);
    else for (std::int64_t i : rows_) hrow(i);
    Mat H = weighted_gram(S.data(), m, [&](std::int64_t i) { return buf2_[i]; });
    H.diagonal().array() += l2_ + 1e-12;
    Mat g(m, 1);
    for (std::int64_t q = 0; q < m; ++q) g(q, 0) = G_[S[q]] + l1_ * (W[S[q]] > 0.0 ? 1.0 : -1.0);
    Eigen::LLT<Mat> llt(H);
    if (llt.info() != Eigen::Success) return false;
    const Mat d = -llt.solve(g);
    if (!d.allFinite()) return false;
    Mat D(m, 1);
    double t = 1.0;
    for (int ls = 0; ls < 20; ++ls, t *= 0.5) {
      double slope = 0.0;
      for (std::int64_t q = 0; q < m; ++q) {
        const double w = W[S[q]], wn = w + t * d(q, 0);
        D(q, 0) = (wn > 0.0) == (w > 0.0) ? wn - w : -w;  // project onto the orthant
        slope += g(q, 0) * D(q, 0);
      }
      if (!(slope < 0.0)) return false;
      apply_step(S.data(), m, D, 1.0, W);
      const double fn = loss_sum_ / double(n_) + pen_;
      if (fn <= f + 1e-4 * slope) return true;
      apply_step(S.data(), m, D, -1.0, W);  // undo
    }
    return false;
  }

  /// The rows the block's columns touch (all rows for dense X).
  void collect_rows(const std::int64_t* idx, std::int64_t m) {
    all_rows_ = is_dense_columns(static_cast<const Cols*>(nullptr));
    if (all_rows_) return;
    rows_.clear();
    for (std::int64_t q = 0; q < m; ++q)
      for_column(X_, idx[q], [&](std::int64_t i, double) {
        if (!mark_[i]) {
          mark_[i] = 1;
          rows_.push_back(i);
        }
      });
    for (std::int64_t i : rows_) mark_[i] = 0;
  }

  /// Approximately minimises g^T d + 1/2 d^T H d + l1 ||w_b + d||_1 (K = 1) by
  /// coordinate passes from d = 0; every coordinate step decreases the model.
  Mat prox_subproblem(const Mat& H, const Mat& g, const double* W, const std::int64_t* idx) {
    const std::int64_t m = H.rows();
    Vec d = Vec::Zero(m), Hd = Vec::Zero(m);
    for (int pass = 0; pass < opt_.inner_passes; ++pass) {
      double change = 0.0, scale = 0.0;
      for (std::int64_t q = 0; q < m; ++q) {
        const double h = H(q, q);
        if (!(h > 0.0)) continue;
        const double v = W[idx[q]] + d[q];
        const double vn = soft(v - (g(q, 0) + Hd[q]) / h, l1_ / h);
        const double delta = vn - v;
        if (delta != 0.0) {
          d[q] += delta;
          Hd += H.col(q) * delta;
        }
        change = std::max(change, std::abs(delta));
        scale = std::max(scale, std::abs(vn));
      }
      if (change <= 1e-13 * scale) break;
    }
    return d;
  }

  /// W_b += t D and the scores, derivatives (and, with `need_loss`, the row
  /// losses and their sum) of the touched rows. Updates without a line search
  /// skip the losses (a log per row); checks re-sum them from scratch.
  void apply_step(const std::int64_t* idx, std::int64_t m, const Mat& D, double t, double* W, bool need_loss = true) {
    for (std::int64_t q = 0; q < m; ++q)
      for (std::int64_t c = 0; c < K_; ++c) {
        const double d = t * D(q, c);
        if (d == 0.0) continue;
        double& w = W[idx[q] * K_ + c];
        const double old = w;
        w += d;
        pen_ += 0.5 * l2_ * (w * w - old * old) + l1_ * (std::abs(w) - std::abs(old));
        X_.axpy(idx[q], d, &Z_[c * n_]);
      }
    if (!need_loss && loss_ == SmoothLoss::logistic) {
      const double inv = 1.0 / double(n_);
      auto deriv = [&](std::int64_t i) {
        const double yz = y_[i] * Z_[i];
        const double e = std::exp(-std::abs(yz));
        R_[i] = -y_[i] * (yz > 0 ? e / (1.0 + e) : 1.0 / (1.0 + e)) * inv;
      };
      if (all_rows_) for (std::int64_t i = 0; i < n_; ++i) deriv(i);
      else for (std::int64_t i : rows_) deriv(i);
      loss_stale_ = true;
    } else if (all_rows_) {
      loss_sum_ = 0.0;
      for (std::int64_t i = 0; i < n_; ++i) loss_sum_ += refresh_row(i);
    } else {
      for (std::int64_t i : rows_) {
        const double old = li_[i];
        loss_sum_ += refresh_row(i) - old;
      }
    }
  }

  /// Recomputes the loss of row i (stored in li_) and its derivative R (divided by n).
  double refresh_row(std::int64_t i) {
    const double inv = 1.0 / double(n_);
    double l;
    if (loss_ == SmoothLoss::logistic) {
      const double yz = y_[i] * Z_[i];
      // log(1 + exp(-yz)) and sigmoid(-yz) stably, from one exponential
      const double e = std::exp(-std::abs(yz));
      l = std::log1p(e) + (yz > 0 ? 0.0 : -yz);
      R_[i] = -y_[i] * (yz > 0 ? e / (1.0 + e) : 1.0 / (1.0 + e)) * inv;
    } else if (loss_ == SmoothLoss::squares) {
      const double r = Z_[i] - y_[i];
      l = 0.5 * r * r;
      R_[i] = r * inv;
    } else {
      double mx = Z_[i];
      for (std::int64_t c = 1; c < K_; ++c) mx = std::max(mx, Z_[c * n_ + i]);
      double se = 0.0;
      for (std::int64_t c = 0; c < K_; ++c) {
        const double e = std::exp(Z_[c * n_ + i] - mx);
        R_[c * n_ + i] = e;  // one exponential per class, normalised below
        se += e;
      }
      const std::int64_t yi = static_cast<std::int64_t>(y_[i]);
      l = mx + std::log(se) - Z_[yi * n_ + i];
      const double is = 1.0 / se;
      for (std::int64_t c = 0; c < K_; ++c) R_[c * n_ + i] = (R_[c * n_ + i] * is - (c == yi ? 1.0 : 0.0)) * inv;
    }
    li_[i] = l;
    return l;
  }

  /// Refreshes every row and the penalty from scratch; returns the objective.
  double exact_objective(const double* W) {
    loss_stale_ = false;
    loss_sum_ = 0.0;
    for (std::int64_t i = 0; i < n_; ++i) loss_sum_ += refresh_row(i);
    double l2 = 0.0, l1 = 0.0;
    for (std::int64_t j = 0; j < p_ * K_; ++j) {
      l2 += W[j] * W[j];
      l1 += std::abs(W[j]);
    }
    pen_ = 0.5 * l2_ * l2 + l1_ * l1;
    return loss_sum_ / double(n_) + pen_;
  }

  double block_grad(std::int64_t j, std::int64_t c, const double* W) const {
    return column_dot(X_, j, &R_[c * n_]) + l2_ * W[j * K_ + c];
  }

  /// G = X^T R + l2 W, threaded over columns when X is large (>= 10^6 stored
  /// entries times K: below that, on a loaded machine, fork/join and spinning
  /// workers cost more than the product; measured 10x slower at 2 x 10^5).
  void full_gradient(const double* W) {
    heap_stale_ = true;
    const int nt = resolve_threads(opt_.n_threads);
    const bool par = nt > 1 && stored_entries(X_) * K_ >= 10 * kParallelNnz;
#pragma omp parallel for num_threads(nt) if (par) schedule(dynamic, 16)
    for (std::int64_t j = 0; j < p_; ++j)
      for (std::int64_t c = 0; c < K_; ++c) G_[j * K_ + c] = block_grad(j, c, W);
  }

  /// The proximal-gradient mapping of one weight with step 1/L (the gradient without L1).
  double mapping(std::int64_t j, std::int64_t c, const double* W, double L) const {
    const double g = G_[j * K_ + c];
    if (l1_ <= 0.0) return g;
    const double w = W[j * K_ + c];
    return L * (w - soft(w - g / L, l1_ / L));
  }

  /// Variable blocks: the block's Hessian bound M (from the whole bound when formed, else c X_b^T X_b / n
  /// + l2 I), its largest eigenvalue and (for matrix updates without L1) its Cholesky factor.
  void form_variable_block(const std::int64_t* idx, std::int64_t m) {
    if (Mfull_.size() > 0) {
      vM_.resize(m, m);
      for (std::int64_t a = 0; a < m; ++a)
        for (std::int64_t b = 0; b < m; ++b) vM_(a, b) = Mfull_(idx[a], idx[b]);
    } else {
      const double c = curv_ / double(n_);
      vM_ = weighted_gram(idx, m, [c](std::int64_t) { return c; });
      vM_.diagonal().array() += l2_;
    }
    if (m == 1) {
      vL_ = std::max(vM_(0, 0), 1e-300);
    } else {
      Eigen::SelfAdjointEigenSolver<Mat> es(vM_, Eigen::EigenvaluesOnly);
      vL_ = std::max(es.eigenvalues()(m - 1), 1e-300);
    }
    if (opt_.update == Update::matrix && l1_ <= 0.0) vchol_.compute(vM_);
  }

  /// Variable blocks: the `block_size` features with the largest scores (summed over the K classes) from G:
  /// gs ||g_j||^2, gsl ||g_j||^2 / M_jj, gsd (twice the diagonal proximal decrease with D_j = sum_i |M_ji|),
  /// gsq: with L1 the coordinate-wise proximal GS-q (M_jj), else IHT from the GSD choice.
  void choose_features(const double* W, std::vector<std::int64_t>& out) {
    fscore_.assign(p_, 0.0);
    cand_.clear();
    const bool iht = opt_.rule == Rule::gsq && l1_ <= 0.0 && opt_.iht_iters > 0;
    for (std::int64_t j = 0; j < p_; ++j) {
      double s = 0.0;
      for (std::int64_t c = 0; c < K_; ++c) {
        const double v = mapping(j, c, W, L_[j]);
        switch (opt_.rule) {
          case Rule::gs: s += v * v; break;
          case Rule::gsd: s += 2.0 * coord_decrease(j, c, W, Dfull_[j]); break;
          case Rule::gsq:
            s += l1_ > 0.0 ? 2.0 * coord_decrease(j, c, W, L_[j]) : v * v / (iht ? Dfull_[j] : L_[j]);
            break;
          default: s += v * v / L_[j]; break;  // gsl
        }
      }
      fscore_[j] = s;
      if (s > 0.0) cand_.push_back(j);
    }
    if (cand_.empty()) cand_.push_back(0);
    const std::int64_t tau = std::min<std::int64_t>(opt_.block_size, static_cast<std::int64_t>(cand_.size()));
    auto cmp = [&](std::int64_t a, std::int64_t b) { return fscore_[a] > fscore_[b] || (fscore_[a] == fscore_[b] && a < b); };
    if (tau < static_cast<std::int64_t>(cand_.size())) std::nth_element(cand_.begin(), cand_.begin() + tau, cand_.end(), cmp);
    out.assign(cand_.begin(), cand_.begin() + tau);
    if (iht && tau < p_) iht_features(out, tau);
    std::sort(out.begin(), out.end());
  }

  /// IHT on min_{d with <= tau non-zero features} <G, d> + 1/2 <d, M d> (M the whole bound, the same for
  /// every class), d <- H_tau(d - mu (G + M d)) from the GSD choice; the block is the support of d.
  void iht_features(std::vector<std::int64_t>& block, std::int64_t tau) {
    if (!(mu_ > 0.0)) {  // 1 / lambda_max(M) by power iteration (1% margin)
      Vec v = Vec::LinSpaced(p_, 1.0, 2.0), w;
      double lam = 0.0;
      for (int it = 0; it < 100; ++it) {
        w = Mfull_ * v;
        lam = v.dot(w) / v.squaredNorm();
        if (!(w.norm() > 0.0)) break;
        v = w / w.norm();
      }
      mu_ = lam > 0.0 ? 1.0 / (1.01 * lam) : 1.0;
    }
    dI_.assign(p_ * K_, 0.0);
    uI_.resize(p_ * K_);
    for (std::int64_t j : block)
      for (std::int64_t c = 0; c < K_; ++c) dI_[j * K_ + c] = -G_[j * K_ + c] / Dfull_[j];
    std::vector<std::int64_t> cand;
    for (std::int64_t it = 0; it < opt_.iht_iters; ++it) {
      for (std::int64_t t = 0; t < p_ * K_; ++t) uI_[t] = dI_[t] - mu_ * G_[t];
      for (std::int64_t i : block)
        for (std::int64_t j = 0; j < p_; ++j) {
          const double mji = Mfull_(j, i);
          if (mji == 0.0) continue;
          for (std::int64_t c = 0; c < K_; ++c) uI_[j * K_ + c] -= mu_ * mji * dI_[i * K_ + c];
        }
      cand.clear();
      fscore_.assign(p_, 0.0);
      for (std::int64_t j = 0; j < p_; ++j) {
        double s = 0.0;
        for (std::int64_t c = 0; c < K_; ++c) s += uI_[j * K_ + c] * uI_[j * K_ + c];
        fscore_[j] = s;
        if (s > 0.0) cand.push_back(j);
      }
      const std::int64_t t = std::min<std::int64_t>(tau, static_cast<std::int64_t>(cand.size()));
      if (t == 0) break;
      auto cmp = [&](std::int64_t a, std::int64_t b) { return fscore_[a] > fscore_[b] || (fscore_[a] == fscore_[b] && a < b); };
      if (t < static_cast<std::int64_t>(cand.size())) std::nth_element(cand.begin(), cand.begin() + t, cand.end(), cmp);
      cand.resize(t);
      double change = 0.0, size = 0.0;
      for (std::int64_t j : block)
        for (std::int64_t c = 0; c < K_; ++c) change += dI_[j * K_ + c] * dI_[j * K_ + c];
      for (std::int64_t j : cand)
        for (std::int64_t c = 0; c < K_; ++c) {
          const double u = uI_[j * K_ + c], d = dI_[j * K_ + c];
          change += (u - d) * (u - d) - d * d;
          size += u * u;
        }
      for (std::int64_t j : block)
        for (std::int64_t c = 0; c < K_; ++c) dI_[j * K_ + c] = 0.0;
      for (std::int64_t j : cand)
        for (std::int64_t c = 0; c < K_; ++c) dI_[j * K_ + c] = uI_[j * K_ + c];
      block = cand;
      if (change <= 1e-20 * size) break;
    }
  }

  /// The decrease of weight (j, c)'s proximal model with curvature D: g^2 / (2 D) without L1.
  double coord_decrease(std::int64_t j, std::int64_t c, const double* W, double D) const {
    const double g = G_[j * K_ + c];
    if (l1_ <= 0.0) return 0.5 * g * g / D;
    const double w = W[j * K_ + c], z = soft(w - g / D, l1_ / D), d = z - w;
    return std::max(0.0, -(g * d + 0.5 * D * d * d + l1_ * (std::abs(z) - std::abs(w))));
  }

  static double xlogx(double a) { return a > 0.0 ? a * std::log(a) : 0.0; }

  /// Duality gap at W (G and the rows current). The dual point is the loss
  /// derivative -R scaled by c in (0, 1] so that ||X^T u||_inf <= l1 (without l2;
  /// with l2 the conjugate is finite everywhere and the better of c and 1 is kept).
  double duality_gap(const double* W, double primal) {
    double cinf = 0.0;  // ||X^T R||_inf
    for (std::int64_t j = 0; j < p_; ++j) cinf = std::max(cinf, std::abs(G_[j] - l2_ * W[j]));
    const double cs = cinf > l1_ ? l1_ / cinf : 1.0;
    const double inv = 1.0 / double(n_);
    auto dual = [&](double c) {
      double d = 0.0;
      if (loss_ == SmoothLoss::logistic) {
        // -F*(-u) = -1/n sum h*(c s_i), h*(a) = a log a + (1 - a) log(1 - a), s_i = sigmoid(-y_i z_i)
        for (std::int64_t i = 0; i < n_; ++i) {
          const double yz = y_[i] * Z_[i];
          const double e = std::exp(-std::abs(yz)), lo = e / (1.0 + e), hi = 1.0 / (1.0 + e);
          const double s = yz > 0 ? lo : hi, s1 = yz > 0 ? hi : lo;  // sigmoid(-yz), sigmoid(yz)
          const double a = c * s, a1 = s1 + s * (1.0 - c);  // 1 - a without cancellation
          d -= xlogx(a) + xlogx(a1);
        }
        d *= inv;
      } else {  // squares: u = c (y - z) / n, -F*(-u) = u^T y - n/2 ||u||^2
        double uy = 0.0, uu = 0.0;
        for (std::int64_t i = 0; i < n_; ++i) {
          const double r = y_[i] - Z_[i];
          uy += r * y_[i];
          uu += r * r;
        }
        d = (c * uy - 0.5 * c * c * uu) * inv;
      }
      if (l2_ > 0.0) {
        double s = 0.0;
        for (std::int64_t j = 0; j < p_; ++j) {
          const double e = std::max(c * std::abs(G_[j] - l2_ * W[j]) - l1_, 0.0);
          s += e * e;
        }
        d -= s / (2.0 * l2_);
      }
      return d;
    };
    double D = dual(cs);
    if (l2_ > 0.0 && cs < 1.0) D = std::max(D, dual(1.0));
    return std::max(primal - D, 0.0);
  }

  double optimality(const double* W, double f) {
    if (gap_mode_) {
      if (loss_ == SmoothLoss::logistic) {
        p0_ = std::log(2.0);
      } else {
        double s = 0.0;
        for (std::int64_t i = 0; i < n_; ++i) s += y_[i] * y_[i];
        p0_ = 0.5 * s / double(n_);
      }
      gap_ = duality_gap(W, f);
      return gap_ / (p0_ > 0.0 ? p0_ : 1.0);
    }
    double mx = 0.0;
    for (std::int64_t k = 0; k < blocks_.n_blocks; ++k)
      for (std::int64_t q = blocks_.ptr[k]; q < blocks_.ptr[k + 1]; ++q)
        for (std::int64_t c = 0; c < K_; ++c) mx = std::max(mx, std::abs(mapping(blocks_.idx[q], c, W, L_[k])));
    return mx;
  }

  /// The greedy score of block k from G and W: ||g_b||^2 (gs), ||g_b||^2 / L_b
  /// (gsl) or g_b^T H_b^{-1} g_b (gsq, H_b the Hessian bound), g_b the
  /// (proximal-)gradient mapping. Both the brute-force scan and the heap use it.
  double block_score(std::int64_t k, const double* W) {
    const std::int64_t m = bsize(k);
    const std::int64_t* idx = blocks_.idx + blocks_.ptr[k];
    double s = 0.0;
    if (opt_.rule == Rule::gsd) {  // twice the decrease of the diagonal (proximal) model: sum g^2 / D without L1
      for (std::int64_t q = 0; q < m; ++q)
        for (std::int64_t c = 0; c < K_; ++c) s += 2.0 * coord_decrease(idx[q], c, W, Dd_[idx[q]]);
      return s;
    }
    if (opt_.rule == Rule::gsq && l1_ > 0.0) {
      // proximal GS-q (K = 1): twice the decrease of the block model g^T d + 1/2 d^T M d + l1 (|w + d| - |w|)
      if (m == 1) return 2.0 * coord_decrease(idx[0], 0, W, Mb_[k](0, 0));
      Mat g(m, 1);
      for (std::int64_t q = 0; q < m; ++q) g(q, 0) = G_[idx[q]];
      const Mat d = prox_subproblem(Mb_[k], g, W, idx);
      double dec = -(g.array() * d.array()).sum() - 0.5 * (d.transpose() * Mb_[k] * d)(0, 0);
      for (std::int64_t q = 0; q < m; ++q) dec -= l1_ * (std::abs(W[idx[q]] + d(q, 0)) - std::abs(W[idx[q]]));
      return 2.0 * std::max(dec, 0.0);
    }
    if (opt_.rule == Rule::gsq && m <= kSmallBlock) {
      // small blocks: g^T M^{-1} g with the inverse bound formed once (no solver call per score)
      sv_.resize(m * K_);
      for (std::int64_t q = 0; q < m; ++q)
        for (std::int64_t c = 0; c < K_; ++c) sv_[c * m + q] = mapping(idx[q], c, W, L_[k]);
      const Mat& Mi = Minv_[k];
      for (std::int64_t c = 0; c < K_; ++c) {
        const double* g = &sv_[c * m];
        for (std::int64_t a = 0; a < m; ++a) {
          double t = 0.0;
          for (std::int64_t b = 0; b < m; ++b) t += Mi(a, b) * g[b];
          s += g[a] * t;
        }
      }
      return s;
    }
    if (opt_.rule == Rule::gsq) {
      sg_.resize(m, K_);
      for (std::int64_t q = 0; q < m; ++q)
        for (std::int64_t c = 0; c < K_; ++c) sg_(q, c) = mapping(idx[q], c, W, L_[k]);
      sh_ = sg_;
      chol_[k].solveInPlace(sh_);
      return (sg_.array() * sh_.array()).sum();
    }
    for (std::int64_t q = 0; q < m; ++q)
      for (std::int64_t c = 0; c < K_; ++c) {
        const double v = mapping(idx[q], c, W, L_[k]);
        s += v * v;
      }
    return opt_.rule == Rule::gsl ? s / L_[k] : s;
  }

  /// Brute force: the block with the largest score (the first on ties), O(p K).
  std::int64_t argmax_block(const double* W) {
    std::int64_t best = 0;
    double bs = -1.0;
    for (std::int64_t k = 0; k < blocks_.n_blocks; ++k) {
      const double s = block_score(k, W);
      if (s > bs) {
        bs = s;
        best = k;
      }
    }
    return best;
  }

  /// A row-major copy of X's pattern and values and the feature -> block map
  /// (incremental greedy path), O(nnz + n + p).
  void build_rows() {
    rptr_.assign(n_ + 1, 0);
    for (std::int64_t j = 0; j < p_; ++j) for_column(X_, j, [&](std::int64_t i, double) { ++rptr_[i + 1]; });
    for (std::int64_t i = 0; i < n_; ++i) rptr_[i + 1] += rptr_[i];
    rcol_.resize(rptr_[n_]);
    rval_.resize(rptr_[n_]);
    std::vector<std::int64_t> next(rptr_.begin(), rptr_.end() - 1);
    for (std::int64_t j = 0; j < p_; ++j)
      for_column(X_, j, [&](std::int64_t i, double v) {
        rcol_[next[i]] = static_cast<RowIndex>(j);
        rval_[next[i]++] = v;
      });
    fblock_.resize(p_);
    for (std::int64_t k = 0; k < blocks_.n_blocks; ++k)
      for (std::int64_t q = blocks_.ptr[k]; q < blocks_.ptr[k + 1]; ++q) fblock_[blocks_.idx[q]] = k;
    keys_.assign(blocks_.n_blocks, 0.0);
    bmark_.assign(blocks_.n_blocks, 0);
  }

  static constexpr std::size_t kAhead = 8;
  static constexpr std::int64_t kSmallBlock = 16;  ///< gsq scores use an explicit inverse up to this size
  static void prefetch(const void* a) {
#if defined(__GNUC__)
    __builtin_prefetch(a);
#else
    (void)a;
#endif
  }

  /// Scores every block from the (exact) G and heapifies, O(p K + n_blocks).
  void rebuild_heap(const double* W) {
    for (std::int64_t k = 0; k < blocks_.n_blocks; ++k) keys_[k] = block_score(k, W);
    heap_.assign(keys_);
    heap_stale_ = false;
  }

  /// Keeps R of the rows the chosen block touches (before its update).
  void save_rows_R() {
    Rold_.resize(rows_.size() * K_);
    for (std::size_t t = 0; t < rows_.size(); ++t)
      for (std::int64_t c = 0; c < K_; ++c) Rold_[t * K_ + c] = R_[c * n_ + rows_[t]];
  }

  /// After block k's update: G_j += X_ij (R_i - R_i^old) over the touched rows i
  /// and their stored j, the block's own G recomputed (with its l2 term), and
  /// the blocks holding a touched feature re-scored in the heap.
  void push_gradient(std::int64_t k, const std::int64_t* idx, std::int64_t m, const double* W) {
    tblocks_.clear();
    auto touch = [&](std::int64_t b) {
      if (!bmark_[b]) {
        bmark_[b] = 1;
        tblocks_.push_back(b);
      }
    };
    touch(k);
    dR_.resize(K_);
    const std::size_t nr = rows_.size();
    for (std::size_t t = 0; t < nr; ++t) {
      const std::int64_t i = rows_[t];
      // the rows are scattered over X: prefetch a row's pointers, then its entries, ahead of use
      if (t + 2 * kAhead < nr) prefetch(&rptr_[rows_[t + 2 * kAhead]]);
      if (t + kAhead < nr) {
        const std::int64_t q0 = rptr_[rows_[t + kAhead]];
        prefetch(&rcol_[q0]);
        prefetch(&rval_[q0]);
      }
      bool any = false;
      for (std::int64_t c = 0; c < K_; ++c) {
        dR_[c] = R_[c * n_ + i] - Rold_[t * K_ + c];
        any = any || dR_[c] != 0.0;
      }
      if (!any) continue;
      if (K_ == 1) {
        const double d = dR_[0];
        for (std::int64_t q = rptr_[i]; q < rptr_[i + 1]; ++q) {
          G_[rcol_[q]] += rval_[q] * d;
          touch(fblock_[rcol_[q]]);
        }
      } else {
        for (std::int64_t q = rptr_[i]; q < rptr_[i + 1]; ++q) {
          const std::int64_t j = rcol_[q];
          const double v = rval_[q];
          double* g = &G_[j * K_];
          for (std::int64_t c = 0; c < K_; ++c) g[c] += v * dR_[c];
          touch(fblock_[j]);
        }
      }
    }
    for (std::int64_t q = 0; q < m; ++q)
      for (std::int64_t c = 0; c < K_; ++c) G_[idx[q] * K_ + c] = block_grad(idx[q], c, W);
    const std::int64_t nt = static_cast<std::int64_t>(tblocks_.size());
    for (std::int64_t b : tblocks_) {
      keys_[b] = block_score(b, W);
      bmark_[b] = 0;
    }
    // many touched blocks: one O(n_blocks) heapify beats nt sift operations
    std::int64_t lg = 1;
    while ((std::int64_t(1) << lg) < blocks_.n_blocks) ++lg;
    if (nt * lg > blocks_.n_blocks) heap_.assign(keys_);
    else for (std::int64_t b : tblocks_) heap_.update(b, keys_[b]);
  }

  using RowIndex = typename RowIndexOf<Cols>::type;
  Cols X_;
  std::int64_t n_, p_, K_;
  const double* y_;
  SmoothLoss loss_;
  double l1_, l2_;  ///< penalty weights
  Partition blocks_;
  SmoothOptions opt_;
  double curv_ = 0.25;
  double objective_ = 0.0, gap_ = 0.0, p0_ = 0.0;
  double loss_sum_ = 0.0, pen_ = 0.0;
  bool gap_mode_ = false, all_rows_ = true, loss_stale_ = false;
  std::int64_t newton_steps_ = 0, last_newton_check_ = 0;
  std::vector<signed char> signs_;
  std::vector<double> L_, cumL_, Z_, R_, G_, li_, buf_, buf2_;
  std::vector<char> mark_;
  std::vector<std::int64_t> rows_;
  std::vector<Eigen::LLT<Mat>> chol_;
  std::vector<Mat> Mb_;
  std::vector<double> Dd_;  ///< GSD's diagonal bound per feature (its fixed block's absolute row sum of the bound)
  // variable blocks
  bool variable_ = false;
  Mat Mfull_, vM_;           ///< the whole Hessian bound (when GSD / IHT need it); the current block's
  std::vector<double> Dfull_, fscore_, dI_, uI_;
  std::vector<std::int64_t> vblock_, cand_;
  double vL_ = 0.0, mu_ = 0.0;
  Eigen::LLT<Mat> vchol_;
  // incremental greedy path (sparse X): row-major X, feature -> block, heap of block scores
  bool incr_ = false, heap_stale_ = true;
  std::vector<std::int64_t> rptr_, fblock_, tblocks_;
  std::vector<RowIndex> rcol_;
  std::vector<double> rval_, Rold_, dR_, keys_;
  std::vector<char> bmark_;
  IndexedMaxHeap heap_;
  std::vector<Mat> Minv_;  ///< gsq: the inverse Hessian bound of blocks of <= kSmallBlock features
  std::vector<double> sv_;
  Mat sg_, sh_;  ///< scratch of block_score (gsq)
};

}  // namespace itercore::bcd
