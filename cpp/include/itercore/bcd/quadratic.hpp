#pragma once
/// Block coordinate descent on a sparse quadratic
///   f(x) = 1/2 x^T A x - b^T x + l1 ||x||_1,  subject to x >= lower (optional),
/// with A symmetric positive definite in CSR. The gradient g = A x - b is kept
/// up to date after each block update in time proportional to the stored
/// entries of the block's rows, so greedy rules never recompute it in full;
/// coordinate-wise Gauss-Southwell rules use an indexed max-heap.

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

#include "itercore/bcd/forest.hpp"
#include "itercore/bcd/rules.hpp"
#include "itercore/common/csr.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/random.hpp"
#include "itercore/common/status.hpp"

namespace itercore::bcd {

/// Knobs of a quadratic BCD solve (`QuadraticBCD`). The defaults here are the
/// only ones: the Python layer reads them from the bound struct.
struct QuadraticOptions {
  Rule rule = Rule::gsl;              ///< block selection (not gs_r: that is the lasso's)
  Update update = Update::gradient;   ///< block update (newton equals matrix on a quadratic)
  BlockKind kind = BlockKind::fixed;  ///< a fixed partition, variable blocks or greedy forests
  std::int64_t block_size = 1;        ///< tau for variable blocks; the size cap of greedy forests
  double tol = 1e-8;                  ///< stop when ||prox-gradient mapping|| / ||b|| <= tol
  std::int64_t maxiter = 1000;        ///< block updates
  std::int64_t check_every = 0;       ///< block updates between checks; 0: a sweep (1 with history, greedy forests)
  std::uint64_t seed = 0;             ///< for the random and lipschitz rules
  bool history = false;               ///< record the objective at each check
  /// L_b = the largest eigenvalue of A_bb (the paper's block Lipschitz constant) for blocks of at most
  /// 64 variables; larger blocks, or false, use the Gershgorin bound max_i sum_{j in b} |A_ij|
  bool exact_lipschitz = true;
  std::int64_t iht_iters = 10;        ///< gsq on variable blocks: iterative-hard-thresholding steps (0: the GSD choice)
  double iht_step = 0.0;              ///< the IHT step mu; 0: 1 / lambda_max(A) (power iteration)
  /// Variable blocks with L1 / bounds: when the free variables (non-zero, off their bound) and the other
  /// violators all fit in a block, the block holds all of them (the paper's superlinear phase once the
  /// active set is found: a Newton-type update then solves the reduced problem); otherwise the rule decides
  bool support_in_block = false;

  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    if (rule == Rule::gs_r)
      throw std::invalid_argument("rule must be 'cyclic', 'random', 'lipschitz', 'gs', 'gsl', 'gsq' or 'gsd' "
                                  "('gs-r' is the lasso's)");
    if (kind != BlockKind::fixed && !greedy_rule(rule))
      throw std::invalid_argument("rule must be 'gs', 'gsl' or 'gsq' for blocks chosen greedily "
                                  "(variable blocks, greedy forests)");
    if (kind == BlockKind::greedy_forest && update != Update::message_passing)
      throw std::invalid_argument("update must be 'message-passing' for greedy forest blocks");
    if (block_size < 1) throw std::invalid_argument("block_size must be >= 1");
    if (kind == BlockKind::variable && update == Update::message_passing && block_size > 1)
      throw std::invalid_argument("update must not be 'message-passing' for variable blocks of more than one "
                                  "variable (they need not be forests)");
    if (!(tol >= 0.0)) throw std::invalid_argument("tol must be >= 0");
    if (maxiter < 0) throw std::invalid_argument("maxiter must be >= 0");
    if (check_every < 0) throw std::invalid_argument("check_every must be >= 0");
    if (iht_iters < 0) throw std::invalid_argument("iht_iters must be >= 0");
    if (!(iht_step >= 0.0)) throw std::invalid_argument("iht_step must be >= 0");
    if (kind == BlockKind::greedy_forest && (update == Update::diagonal || update == Update::tmp))
      throw std::invalid_argument("update must be 'message-passing' for greedy forest blocks");
  }
};

/// Per-check monitor: (iterations, x, objective, optimality) -> false to stop.
template <class Scalar>
using Monitor = std::function<bool(std::int64_t, const Scalar*, double, double)>;

namespace detail {

inline double soft(double z, double t) { return z > t ? z - t : (z < -t ? z + t : 0.0); }

}  // namespace detail

/// The quadratic solver. Construct once per problem, then `solve`.
template <class Scalar, class Index>
class QuadraticBCD {
 public:
  using Vec = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;
  using Mat = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

  /// `blocks` is read for BlockKind::fixed only; `l1` >= 0 and the lower
  /// bounds `lower` (n values, or null) need the gradient, matrix or newton update.
  QuadraticBCD(const CsrView<Scalar, Index>& A, const Scalar* b, const Partition& blocks, const QuadraticOptions& opt,
               double l1 = 0.0, const double* lower = nullptr)
      : A_(A), b_(b), blocks_(blocks), opt_(opt), l1_(l1), lower_(lower), n_(A.rows), scratch_(A.rows) {
    opt.check();
    if (A.rows != A.cols) throw std::invalid_argument("A must be square");
    if (!(l1 >= 0.0)) throw std::invalid_argument("l1 must be >= 0");
    constrained_ = l1 > 0.0 || lower != nullptr;
    if (constrained_ && opt.update == Update::message_passing)
      throw std::invalid_argument("update 'message-passing' does not handle l1 / lower bounds; use 'gradient', "
                                  "'matrix' or 'newton' (proximal)");
    if (opt.update == Update::tmp) {
      if (!lower) throw std::invalid_argument("update 'tmp' (two-metric projection) needs lower bounds");
      if (l1 > 0.0)
        for (std::int64_t i = 0; i < n_; ++i)
          if (!(lower[i] >= 0.0))
            throw std::invalid_argument("update 'tmp' with l1 > 0 needs lower >= 0 everywhere (l1 ||x||_1 is then "
                                        "linear on the feasible set)");
    }
    if (opt.update == Update::newton) opt_.update = Update::matrix;  // identical on a quadratic
    // a single coordinate: the exact solve is the 1/A_ii step
    if (opt.kind == BlockKind::variable && opt.update == Update::message_passing) opt_.update = Update::gradient;
    diag_.assign(n_, Scalar(0));
    absrow_.assign(n_, Scalar(0));
    for (std::int64_t i = 0; i < n_; ++i)
      for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p) {
        if (A.indices[p] == i) diag_[i] += A.data[p];
        absrow_[i] += std::abs(A.data[p]);
      }
    for (std::int64_t i = 0; i < n_; ++i)
      if (!(diag_[i] > Scalar(0))) throw std::invalid_argument("A must have a positive diagonal");
    if (opt_.kind == BlockKind::fixed) setup_fixed();
    if (opt_.check_every == 0) {  // one sweep between checks
      const std::int64_t sweep = opt_.kind == BlockKind::fixed      ? blocks_.n_blocks
                                 : opt_.kind == BlockKind::variable ? (n_ + opt_.block_size - 1) / opt_.block_size
                                                                    : 1;
      opt_.check_every = opt_.history ? 1 : std::max<std::int64_t>(1, sweep);
    }
  }

  /// Index of the block a greedy rule picks from the current state (fixed blocks);
  /// exposed for tests that compare it with a brute-force argmax.
  std::int64_t greedy_block(const Scalar* x, const Scalar* g) {
    x_ = x;
    g_ = g;
    return argmax_block();
  }

  /// The variable block the rule picks from the current state (sorted); for tests.
  std::vector<std::int64_t> variable_block(const Scalar* x, const Scalar* g) {
    x_ = x;
    g_ = g;
    std::vector<std::int64_t> block;
    choose_variable(block);
    return block;
  }

  /// The IHT step mu used by gsq on variable blocks.
  double iht_mu() {
    if (opt_.iht_step > 0.0) return opt_.iht_step;
    if (mu_ > 0.0) return mu_;
    // lambda_max(A) by power iteration (a lower estimate; 1% margin, capped by Gershgorin's upper bound)
    double gersh = 0.0;
    for (std::int64_t i = 0; i < n_; ++i) gersh = std::max(gersh, double(absrow_[i]));
    std::vector<Scalar> v(n_), w(n_);
    for (std::int64_t i = 0; i < n_; ++i) v[i] = Scalar(1.0 + 0.01 * double(i % 97));
    double lam = 0.0;
    for (int it = 0; it < 100; ++it) {
      double vv = 0.0;
      for (std::int64_t i = 0; i < n_; ++i) vv += double(v[i]) * double(v[i]);
      csr_matvec(A_, v.data(), w.data(), 1);
      double vw = 0.0, ww = 0.0;
      for (std::int64_t i = 0; i < n_; ++i) {
        vw += double(v[i]) * double(w[i]);
        ww += double(w[i]) * double(w[i]);
      }
      lam = vw / vv;
      if (!(ww > 0.0)) break;
      const double inv = 1.0 / std::sqrt(ww);
      for (std::int64_t i = 0; i < n_; ++i) v[i] = Scalar(double(w[i]) * inv);
    }
    lam = std::min(gersh, 1.01 * lam);
    mu_ = lam > 0.0 ? 1.0 / lam : 1.0;
    return mu_;
  }

  /// Solves in place from the start x. `history` receives the objective per
  /// check when asked for.
  SolveInfo solve(Scalar* x, Control* control = nullptr, const Monitor<Scalar>& monitor = nullptr) {
    SolveInfo info;
    Rng rng(opt_.seed, 0);
    gvec_.resize(n_);
    Scalar* g = gvec_.data();
    x_ = x;
    g_ = g;
    recompute_gradient(x);
    double bn = 0.0;
    for (std::int64_t i = 0; i < n_; ++i) bn += double(b_[i]) * double(b_[i]);
    bnorm_ = bn > 0.0 ? std::sqrt(bn) : 1.0;
    const bool heap = use_heap();
    if (heap) init_heap();
    std::int64_t cursor = 0;
    info.status = Status::max_iter;
    double meas = optimality(x, g);
    info.residual = meas;
    if (opt_.history) info.history.push_back(objective(x, g));
    if (!std::isfinite(meas)) {
      info.status = Status::non_finite;
      return info;
    }
    if (meas <= opt_.tol) {
      info.status = Status::converged;
      return info;
    }
    std::vector<std::int64_t> block;
    std::vector<Scalar> d;
    const bool big_blocks = opt_.kind == BlockKind::greedy_forest || avg_block_ >= 256;
    for (std::int64_t it = 0; it < opt_.maxiter; ++it) {
      if ((big_blocks || (it & 255) == 0) && control && control->poll()) {
        info.status = Status::interrupted;
        break;
      }
      // --- choose the block
      const std::int64_t* bidx = nullptr;
      std::int64_t bsize = 0;
      std::int64_t fixed_k = -1;
      if (opt_.kind == BlockKind::fixed) {
        if (heap) fixed_k = heap_.top();
        else fixed_k = choose_fixed(it, cursor, rng);
        bidx = blocks_.idx + blocks_.ptr[fixed_k];
        bsize = blocks_.ptr[fixed_k + 1] - blocks_.ptr[fixed_k];
      } else {
        choose_variable(block);
        bidx = block.data();
        bsize = static_cast<std::int64_t>(block.size());
      }
      // --- compute the step
      d.assign(bsize, Scalar(0));
      bool ok = true;
      if (bsize > 0) ok = step(fixed_k, bidx, bsize, d);
      if (!ok) {
        info.status = Status::breakdown;
        break;
      }
      bool finite = true;
      for (std::int64_t k = 0; k < bsize; ++k) finite = finite && std::isfinite(double(d[k]));
      if (!finite) {
        info.status = Status::non_finite;
        break;
      }
      // --- apply it and update the gradient in O(nnz of the block's rows)
      for (std::int64_t k = 0; k < bsize; ++k) {
        const std::int64_t i = bidx[k];
        if (d[k] == Scalar(0)) continue;
        x[i] += d[k];
        for (Index p = A_.indptr[i]; p < A_.indptr[i + 1]; ++p) g[A_.indices[p]] += A_.data[p] * d[k];
      }
      if (heap) {
        for (std::int64_t k = 0; k < bsize; ++k) {
          const std::int64_t i = bidx[k];
          heap_.update(i, coord_score(i));
          if (d[k] == Scalar(0)) continue;
          for (Index p = A_.indptr[i]; p < A_.indptr[i + 1]; ++p) heap_.update(A_.indices[p], coord_score(A_.indices[p]));
        }
      }
      info.iterations = it + 1;
      if ((it + 1) % opt_.check_every == 0 || it + 1 == opt_.maxiter) {
        meas = optimality(x, g);
        if (meas <= opt_.tol) {  // confirm on a freshly computed gradient
          recompute_gradient(x);
          if (heap) init_heap();
          meas = optimality(x, g);
        }
        info.residual = meas;
        const double f = objective(x, g);
        if (opt_.history) info.history.push_back(f);
        if (!std::isfinite(meas) || !std::isfinite(f)) {
          info.status = Status::non_finite;
          break;
        }
        if (meas <= opt_.tol) {
          info.status = Status::converged;
          break;
        }
        if (monitor && !monitor(it + 1, x, f, meas)) {
          info.status = Status::callback_stop;
          break;
        }
      }
    }
    if (info.status != Status::converged) info.residual = optimality(x, g);
    return info;
  }

  /// f(x) from the current gradient g = A x - b.
  double objective(const Scalar* x, const Scalar* g) const {
    double f = 0.0, l1 = 0.0;
    for (std::int64_t i = 0; i < n_; ++i) {
      f += 0.5 * double(x[i]) * (double(g[i]) - double(b_[i]));
      l1 += std::abs(double(x[i]));
    }
    return f + l1_ * l1;
  }

  /// ||A_ii (x - prox(x - g / A_ii))|| / ||b||: the relative residual ||A x - b|| / ||b||
  /// without L1 or bounds, and a proximal-gradient optimality measure with them.
  double optimality(const Scalar* x, const Scalar* g) const {
    double s = 0.0;
    for (std::int64_t i = 0; i < n_; ++i) {
      const double m = mapping(i, x, g);
      s += m * m;
    }
    return std::sqrt(s) / bnorm_;
  }

  const std::vector<Scalar>& gradient() const { return gvec_; }

 private:
  /// diag * (x_i - prox(x_i - g_i / diag)): the per-coordinate optimality violation.
  double mapping(std::int64_t i, const Scalar* x, const Scalar* g) const {
    if (!constrained_) return double(g[i]);
    const double L = double(diag_[i]);
    double z = detail::soft(double(x[i]) - double(g[i]) / L, l1_ / L);
    if (lower_) z = std::max(z, lower_[i]);
    return L * (double(x[i]) - z);
  }

  double coord_score(std::int64_t i) const {
    const double m = mapping(i, x_, g_);
    switch (opt_.rule) {
      case Rule::gs: return m * m;
      case Rule::gsq:
      case Rule::gsd:  // one coordinate: D = A_ii = the exact Hessian; with L1 / bounds the proximal GS-q score
        return constrained_ ? 2.0 * coord_decrease(i, double(diag_[i])) : m * m / double(diag_[i]);
      default: return m * m / double(diag_[i]);  // gsl
    }
  }

  /// The decrease of coordinate i's proximal model with curvature D,
  ///   -min_d g_i d + D/2 d^2 + r_i(x_i + d) - r_i(x_i),  r_i = l1 |.| + [. >= lower_i],
  /// g_i^2 / (2 D) without L1 / bounds; the minimiser in `step` when given.
  double coord_decrease(std::int64_t i, double D, double* step = nullptr) const {
    const double x = double(x_[i]), g = double(g_[i]);
    if (!constrained_) {
      if (step) *step = -g / D;
      return 0.5 * g * g / D;
    }
    double z = detail::soft(x - g / D, l1_ / D);
    if (lower_) z = std::max(z, lower_[i]);
    const double d = z - x;
    if (step) *step = d;
    return std::max(0.0, -(g * d + 0.5 * D * d * d + l1_ * (std::abs(z) - std::abs(x))));
  }

  /// Coordinate blocks listed 0..n-1 with a greedy rule: a heap keyed by variable.
  bool use_heap() const {
    return opt_.kind == BlockKind::fixed && max_block_ == 1 && identity_singletons_ && greedy_rule(opt_.rule);
  }
  void init_heap() {
    std::vector<double> keys(n_blocks());
    for (std::int64_t k = 0; k < n_blocks(); ++k) keys[k] = coord_score(blocks_.idx[blocks_.ptr[k]]);
    heap_.assign(keys);
  }

  std::int64_t n_blocks() const { return blocks_.n_blocks; }

  void recompute_gradient(const Scalar* x) {
    Scalar* g = gvec_.data();
    csr_matvec(A_, x, g, 1);
    for (std::int64_t i = 0; i < n_; ++i) g[i] -= b_[i];
  }

  /// L_b: the largest eigenvalue of A_bb (the paper's) for blocks of at most 64 variables with
  /// `exact_lipschitz`, else the Gershgorin bound max_i sum_{j in b} |A_ij| >= lambda_max(A_bb).
  Scalar block_lipschitz(const std::int64_t* idx, std::int64_t m) {
    if (m == 1) return diag_[idx[0]];
    if (opt_.exact_lipschitz && m <= 64) {
      Eigen::SelfAdjointEigenSolver<Mat> es(dense_block(idx, m), Eigen::EigenvaluesOnly);
      if (es.info() == Eigen::Success) return std::max(es.eigenvalues()(m - 1), Scalar(1e-300));
    }
    for (std::int64_t k = 0; k < m; ++k) scratch_.local[idx[k]] = k;
    Scalar L = 0;
    for (std::int64_t k = 0; k < m; ++k) {
      const std::int64_t i = idx[k];
      Scalar s = 0;
      for (Index p = A_.indptr[i]; p < A_.indptr[i + 1]; ++p)
        if (scratch_.local[A_.indices[p]] >= 0) s += std::abs(A_.data[p]);
      L = std::max(L, s);
    }
    for (std::int64_t k = 0; k < m; ++k) scratch_.local[idx[k]] = -1;
    return L;
  }

  Mat dense_block(const std::int64_t* idx, std::int64_t m) {
    Mat H = Mat::Zero(m, m);
    for (std::int64_t k = 0; k < m; ++k) scratch_.local[idx[k]] = k;
    for (std::int64_t k = 0; k < m; ++k) {
      const std::int64_t i = idx[k];
      for (Index p = A_.indptr[i]; p < A_.indptr[i + 1]; ++p) {
        const std::int64_t l = scratch_.local[A_.indices[p]];
        if (l >= 0) H(k, l) += A_.data[p];
      }
    }
    for (std::int64_t k = 0; k < m; ++k) scratch_.local[idx[k]] = -1;
    return H;
  }

  void setup_fixed() {
    const std::int64_t nb = blocks_.n_blocks;
    max_block_ = check_partition(blocks_, n_);
    identity_singletons_ = max_block_ == 1;  // then nb == n_ and block k is {block_idx[k]}
    for (std::int64_t k = 0; identity_singletons_ && k < nb; ++k) identity_singletons_ = blocks_.idx[k] == k;
    avg_block_ = double(n_) / double(nb);
    // GSD's diagonal bound of each fixed block: D_{b,i} = sum_{j in b} |A_ij| (diagonal dominance: D_b >= A_bb)
    dfix_.assign(n_, Scalar(0));
    for (std::int64_t k = 0; k < nb; ++k) {
      const std::int64_t* idx = blocks_.idx + blocks_.ptr[k];
      const std::int64_t m = blocks_.ptr[k + 1] - blocks_.ptr[k];
      for (std::int64_t q = 0; q < m; ++q) scratch_.local[idx[q]] = q;
      for (std::int64_t q = 0; q < m; ++q)
        for (Index p = A_.indptr[idx[q]]; p < A_.indptr[idx[q] + 1]; ++p)
          if (scratch_.local[A_.indices[p]] >= 0) dfix_[idx[q]] += std::abs(A_.data[p]);
      for (std::int64_t q = 0; q < m; ++q) scratch_.local[idx[q]] = -1;
    }
    block_L_.resize(nb);
    for (std::int64_t k = 0; k < nb; ++k)
      block_L_[k] = block_lipschitz(blocks_.idx + blocks_.ptr[k], blocks_.ptr[k + 1] - blocks_.ptr[k]);
    if (opt_.rule == Rule::lipschitz) {
      cumL_.resize(nb);
      double c = 0.0;
      for (std::int64_t k = 0; k < nb; ++k) cumL_[k] = (c += double(block_L_[k]));
    }
    const bool need_forest = opt_.update == Update::message_passing;
    const bool need_dense = opt_.update == Update::matrix || opt_.update == Update::tmp ||
                            (opt_.rule == Rule::gsq && !need_forest && max_block_ > 1);
    if (need_forest || (opt_.rule == Rule::gsq && max_block_ > 1 && !need_dense)) {
      forests_.resize(nb);
      for (std::int64_t k = 0; k < nb; ++k)
        if (!build_forest_block(A_, blocks_.idx + blocks_.ptr[k], blocks_.ptr[k + 1] - blocks_.ptr[k],
                                forests_[k], scratch_))
          throw std::invalid_argument("blocks: block " + std::to_string(k) +
                                      " is not a forest in the graph of A (message-passing needs forest blocks)");
      if (need_forest) factor_forests();
    }
    if (need_dense) {
      double cost = 0.0;
      for (std::int64_t k = 0; k < nb; ++k) {
        const double m = double(blocks_.ptr[k + 1] - blocks_.ptr[k]);
        cost += m * m;
      }
      if (cost > 5e7) throw std::invalid_argument("block_size: blocks too large for dense block factorizations");
      chol_.resize(nb);
      if (constrained_ && (opt_.update == Update::matrix || opt_.update == Update::tmp || opt_.rule == Rule::gsq))
        dense_.resize(nb);
      for (std::int64_t k = 0; k < nb; ++k) {
        Mat H = dense_block(blocks_.idx + blocks_.ptr[k], blocks_.ptr[k + 1] - blocks_.ptr[k]);
        chol_[k].compute(H);
        if (chol_[k].info() != Eigen::Success) throw std::invalid_argument("A: a diagonal block is not positive definite");
        if (!dense_.empty()) dense_[k] = std::move(H);
      }
    }
  }

  /// Fixed forest blocks: the elimination (pivots and multipliers) depends
  /// on A only, so it is done once per block; `fpos_` maps the block's listed
  /// order to its elimination order. A block whose pivots fail keeps an empty
  /// factor and is solved by `forest_solve` (which then reports the breakdown).
  void factor_forests() {
    const std::int64_t nb = n_blocks();
    fpiv_.assign(nb, {});
    fell_.assign(nb, {});
    fpos_.assign(nb, {});
    for (std::int64_t k = 0; k < nb; ++k) {
      const ForestBlock<Scalar>& fb = forests_[k];
      const std::int64_t m = static_cast<std::int64_t>(fb.size());
      std::vector<Scalar> piv(m), ell(m, Scalar(0));
      bool ok = true;
      for (std::int64_t q = 0; q < m; ++q) piv[q] = diag_[fb.nodes[q]];
      for (std::int64_t q = m - 1; q >= 0 && ok; --q) {
        ok = piv[q] > Scalar(0);
        const std::int64_t p = fb.parent[q];
        if (!ok || p < 0) continue;
        ell[q] = fb.weight[q] / piv[q];
        piv[p] -= ell[q] * fb.weight[q];
      }
      if (!ok) continue;
      for (std::int64_t q = 0; q < m; ++q) piv[q] = Scalar(1) / piv[q];
      const std::int64_t* idx = blocks_.idx + blocks_.ptr[k];
      for (std::int64_t q = 0; q < m; ++q) scratch_.local[fb.nodes[q]] = q;
      std::vector<std::int64_t> pos(m);
      for (std::int64_t q = 0; q < m; ++q) pos[q] = scratch_.local[idx[q]];
      for (std::int64_t q = 0; q < m; ++q) scratch_.local[fb.nodes[q]] = -1;
      fpiv_[k] = std::move(piv);
      fell_[k] = std::move(ell);
      fpos_[k] = std::move(pos);
    }
  }

  std::int64_t choose_fixed(std::int64_t it, std::int64_t& cursor, Rng& rng) {
    switch (opt_.rule) {
      case Rule::cyclic: {
        const std::int64_t k = cursor;
        cursor = (cursor + 1) % n_blocks();
        return k;
      }
      case Rule::random: return static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(n_blocks())));
      case Rule::lipschitz: {
        const double u = rng.uniform() * cumL_.back();
        auto pos = std::upper_bound(cumL_.begin(), cumL_.end(), u) - cumL_.begin();
        return std::min<std::int64_t>(pos, n_blocks() - 1);
      }
      default: (void)it; return argmax_block();
    }
  }

  /// Score of block k under the greedy rule (brute force over the block).
  double block_score(std::int64_t k) {
    const std::int64_t* idx = blocks_.idx + blocks_.ptr[k];
    const std::int64_t m = blocks_.ptr[k + 1] - blocks_.ptr[k];
    double s = 0.0;
    if (opt_.rule == Rule::gsd) {  // twice the decrease of the diagonal (proximal) model, sum_i g_i^2 / D_{b,i} without L1
      for (std::int64_t q = 0; q < m; ++q) s += 2.0 * coord_decrease(idx[q], double(dfix_[idx[q]]));
      return s;
    }
    if (opt_.rule == Rule::gsq && constrained_) {
      // proximal GS-q: twice the decrease of the exact block model g_b^T d + 1/2 d^T A_bb d + r(x_b + d) - r(x_b)
      if (m == 1) return 2.0 * coord_decrease(idx[0], double(diag_[idx[0]]));
      std::vector<Scalar> d(m, Scalar(0));
      if (!prox_block_step(k, idx, m, d)) return std::numeric_limits<double>::infinity();
      const Mat& H = dense_[k];
      double dec = 0.0;
      for (std::int64_t a = 0; a < m; ++a) {
        const std::int64_t i = idx[a];
        double hd = 0.0;
        for (std::int64_t c = 0; c < m; ++c) hd += double(H(a, c)) * double(d[c]);
        const double z = double(x_[i]) + double(d[a]);
        dec -= double(g_[i]) * double(d[a]) + 0.5 * double(d[a]) * hd + l1_ * (std::abs(z) - std::abs(double(x_[i])));
      }
      return 2.0 * std::max(dec, 0.0);
    }
    for (std::int64_t q = 0; q < m; ++q) {
      const double v = mapping(idx[q], x_, g_);
      s += v * v;
    }
    if (opt_.rule == Rule::gs) return s;
    if (opt_.rule == Rule::gsl || m == 1) return m == 1 ? s / double(diag_[idx[0]]) : s / double(block_L_[k]);
    // gsq: v_b^T A_bb^{-1} v_b with v the gradient, or with L1 / bounds the
    // proximal-gradient mapping (the raw gradient would keep picking a block
    // that is already optimal at a kink or a bound)
    if (!chol_.empty()) {
      Vec gb(m);
      for (std::int64_t q = 0; q < m; ++q) gb[q] = Scalar(mapping(idx[q], x_, g_));
      return double(gb.dot(chol_[k].solve(gb)));
    }
    const ForestBlock<Scalar>& fb = forests_[k];
    rhs_.resize(m);
    work_.resize(m);
    sol_.resize(m);
    for (std::int64_t q = 0; q < m; ++q) rhs_[q] = Scalar(mapping(fb.nodes[q], x_, g_));
    if (!forest_solve(fb, diag_.data(), rhs_, work_, sol_.data())) return std::numeric_limits<double>::infinity();
    double v = 0.0;
    for (std::int64_t q = 0; q < m; ++q) v += mapping(fb.nodes[q], x_, g_) * double(sol_[q]);
    return v;
  }

  std::int64_t argmax_block() {
    std::int64_t best = 0;
    double bs = -1.0;
    for (std::int64_t k = 0; k < n_blocks(); ++k) {
      const double s = block_score(k);
      if (s > bs) {
        bs = s;
        best = k;
      }
    }
    return best;
  }

  /// Variable blocks: the tau best coordinates (gs: |g_i|, gsl: |g_i| / sqrt(A_ii),
  /// gsq -> GSD: g_i^2 / D_i with D_i = sum_j |A_ij| >= the block Hessian's diagonal bound);
  /// greedy forests: a forest grown over all coordinates in that order.
  void choose_variable(std::vector<std::int64_t>& block) {
    scores_.resize(n_);
    order_.clear();
    for (std::int64_t i = 0; i < n_; ++i) {
      const double m = mapping(i, x_, g_);
      double s;
      const bool var = opt_.kind == BlockKind::variable;
      switch (opt_.rule) {
        case Rule::gs: s = m * m; break;
        case Rule::gsd:  // D_i = sum_j |A_ij| bounds A_bb's diagonal for any block
          s = var && constrained_ ? 2.0 * coord_decrease(i, double(absrow_[i])) : m * m / double(absrow_[i]);
          break;
        case Rule::gsq:
          if (!var) s = m * m / double(diag_[i]);
          else if (constrained_) s = 2.0 * coord_decrease(i, double(diag_[i]));  // coordinate-wise proximal GS-q
          else s = m * m / double(absrow_[i]);  // GSD: the start of the IHT below
          break;
        default: s = m * m / double(diag_[i]); break;
      }
      scores_[i] = s;
      if (s > 0.0) order_.push_back(i);
    }
    if (opt_.kind == BlockKind::variable) {
      const std::int64_t tau_max = opt_.block_size;
      if (opt_.support_in_block && constrained_) {
        // the free variables with every other violator, when all of them fit (else the rule alone: a block
        // filled by free variables already optimal among themselves would never change again)
        std::int64_t n_free = 0, n_viol = 0;
        for (std::int64_t i = 0; i < n_; ++i) {
          const bool f = is_free(i);
          n_free += f;
          n_viol += !f && scores_[i] > 0.0;
        }
        if (n_free + n_viol <= tau_max)
          for (std::int64_t i = 0; i < n_; ++i)
            if (is_free(i)) {
              if (!(scores_[i] > 0.0)) order_.push_back(i);
              scores_[i] = std::numeric_limits<double>::infinity();
            }
      }
      const std::int64_t tau = std::min<std::int64_t>(tau_max, static_cast<std::int64_t>(order_.size()));
      auto cmp = [&](std::int64_t a, std::int64_t c) { return scores_[a] > scores_[c] || (scores_[a] == scores_[c] && a < c); };
      if (tau < static_cast<std::int64_t>(order_.size())) std::nth_element(order_.begin(), order_.begin() + tau, order_.end(), cmp);
      block.assign(order_.begin(), order_.begin() + tau);
      if (opt_.rule == Rule::gsq && !constrained_ && opt_.iht_iters > 0 && tau < static_cast<std::int64_t>(order_.size()))
        iht_block(block, tau);
      std::sort(block.begin(), block.end());
      return;
    }
    // Greedy forests visit the candidates best first. An exact sort costs
    // O(n log n) per iteration and dominates on large graphs, so candidates are
    // ordered by octave of their score (a stable counting sort, O(n)): the
    // order is greedy to within a factor of 2 in the rule's value.
    int top = std::numeric_limits<int>::min();
    for (std::int64_t i : order_) top = std::max(top, std::ilogb(scores_[i]));
    constexpr int kBuckets = 64;
    std::int64_t count[kBuckets + 1] = {0};
    auto bucket = [&](std::int64_t i) { return std::min(kBuckets - 1, top - std::ilogb(scores_[i])); };
    for (std::int64_t i : order_) ++count[bucket(i) + 1];
    for (int k = 0; k < kBuckets; ++k) count[k + 1] += count[k];
    sorted_.resize(order_.size());
    for (std::int64_t i : order_) sorted_[count[bucket(i)]++] = i;
    grow_greedy_forest(A_, sorted_.data(), static_cast<std::int64_t>(sorted_.size()), opt_.block_size, block, scratch_);
  }

  /// Not at the kink of the L1 term nor at its lower bound.
  bool is_free(std::int64_t i) const {
    const double x = double(x_[i]);
    if (lower_ && !(x > lower_[i])) return false;
    return !(l1_ > 0.0 && x == 0.0);
  }

  /// GSQ for variable blocks (the paper's approximation): iterative hard thresholding on
  ///   min_{||d||_0 <= tau} g^T d + 1/2 d^T A d,
  /// d <- H_tau(d - mu (g + A d)), from the GSD choice (d_i = -g_i / D_i on it), until d stops
  /// changing or `iht_iters` steps; the block is the support of d. A d costs the rows of the support.
  void iht_block(std::vector<std::int64_t>& block, std::int64_t tau) {
    const double mu = iht_mu();
    dvec_.assign(n_, 0.0);
    uvec_.resize(n_);
    for (std::int64_t i : block) dvec_[i] = -double(g_[i]) / double(absrow_[i]);
    std::vector<std::int64_t> cand;
    for (std::int64_t it = 0; it < opt_.iht_iters; ++it) {
      for (std::int64_t i = 0; i < n_; ++i) uvec_[i] = dvec_[i] - mu * double(g_[i]);
      for (std::int64_t i : block)
        for (Index p = A_.indptr[i]; p < A_.indptr[i + 1]; ++p) uvec_[A_.indices[p]] -= mu * double(A_.data[p]) * dvec_[i];
      cand.clear();
      for (std::int64_t i = 0; i < n_; ++i)
        if (uvec_[i] != 0.0) cand.push_back(i);
      const std::int64_t t = std::min<std::int64_t>(tau, static_cast<std::int64_t>(cand.size()));
      if (t == 0) break;
      auto cmp = [&](std::int64_t a, std::int64_t c) {
        const double ua = std::abs(uvec_[a]), uc = std::abs(uvec_[c]);
        return ua > uc || (ua == uc && a < c);
      };
      if (t < static_cast<std::int64_t>(cand.size())) std::nth_element(cand.begin(), cand.begin() + t, cand.end(), cmp);
      cand.resize(t);
      // change ||d_new - d_old||^2 and the new iterate
      double change = 0.0, size = 0.0;
      for (std::int64_t i : block) change += dvec_[i] * dvec_[i];  // old entries, corrected below where kept
      for (std::int64_t i : cand) {
        change += (uvec_[i] - dvec_[i]) * (uvec_[i] - dvec_[i]) - dvec_[i] * dvec_[i];
        size += uvec_[i] * uvec_[i];
      }
      for (std::int64_t i : block) dvec_[i] = 0.0;
      for (std::int64_t i : cand) dvec_[i] = uvec_[i];
      block = cand;
      if (change <= 1e-20 * size) break;
    }
    for (std::int64_t i : block) dvec_[i] = 0.0;
  }

  /// Two-metric projection (Gafni & Bertsekas) on the block for x >= lower (and l1 ||x||_1, linear there):
  /// with h = g + l1 and the epsilon-active set E = {i : x_i <= lower_i + eps, h_i > 0}
  /// (eps = min(1e-3, ||x_b - P(x_b - h_b)||)), the direction is Newton on the others
  /// (-A_FF^{-1} h_F) and diagonally scaled on E (-h_i / A_ii); the step is the largest of
  /// 1, 1/2, ... along the projected path max(x_b + t d, lower_b) with the decrease
  /// f(x) - f(x(t)) >= 1e-4 (t h_F^T (-d_F) + h_E^T (x_E - x_E(t))) (f is quadratic on the block: exact).
  /// No step found: the diagonal-bound step (always a descent step).
  bool tmp_step(std::int64_t fixed_k, const std::int64_t* idx, std::int64_t m, std::vector<Scalar>& d) {
    Mat local;
    if (fixed_k < 0) local = dense_block(idx, m);
    const Mat& H = fixed_k >= 0 ? dense_[fixed_k] : local;
    Eigen::VectorXd h(m), x(m), lo(m), dir(m);
    double w = 0.0;
    for (std::int64_t q = 0; q < m; ++q) {
      const std::int64_t i = idx[q];
      h[q] = double(g_[i]) + l1_;
      x[q] = double(x_[i]);
      lo[q] = lower_[i];
      const double pg = x[q] - std::max(x[q] - h[q], lo[q]);
      w += pg * pg;
    }
    const double eps = std::min(1e-3, std::sqrt(w));
    std::vector<std::int64_t> F, E;
    for (std::int64_t q = 0; q < m; ++q) {
      if (std::isfinite(lo[q]) && x[q] <= lo[q] + eps && h[q] > 0.0) E.push_back(q);
      else F.push_back(q);
    }
    dir.setZero();
    for (std::int64_t q : E) dir[q] = -h[q] / double(H(q, q));
    if (!F.empty()) {
      const std::int64_t f = static_cast<std::int64_t>(F.size());
      Eigen::MatrixXd HF(f, f);
      Eigen::VectorXd hF(f);
      for (std::int64_t a = 0; a < f; ++a) {
        hF[a] = h[F[a]];
        for (std::int64_t c = 0; c < f; ++c) HF(a, c) = double(H(F[a], F[c]));
      }
      Eigen::LDLT<Eigen::MatrixXd> ldlt(HF);
      if (ldlt.info() != Eigen::Success || !ldlt.isPositive()) return false;
      const Eigen::VectorXd dF = -ldlt.solve(hF);
      for (std::int64_t a = 0; a < f; ++a) dir[F[a]] = dF[a];
    }
    Eigen::MatrixXd Hd = H.template cast<double>();
    double slopeF = 0.0;
    for (std::int64_t q : F) slopeF += h[q] * dir[q];
    for (double t = 1.0; t > 1e-12; t *= 0.5) {
      Eigen::VectorXd delta(m);
      double lin = 0.0, rhs = t * slopeF;
      for (std::int64_t q = 0; q < m; ++q) {
        delta[q] = std::max(x[q] + t * dir[q], lo[q]) - x[q];
        lin += h[q] * delta[q];
      }
      for (std::int64_t q : E) rhs += h[q] * delta[q];
      const double df = lin + 0.5 * delta.dot(Hd * delta);
      if (df <= 1e-4 * rhs && (df < 0.0 || delta.squaredNorm() == 0.0)) {
        for (std::int64_t q = 0; q < m; ++q) d[q] = Scalar(delta[q]);
        return true;
      }
    }
    diagonal_step(fixed_k, idx, m, d);
    return true;
  }

  /// x_b <- prox(x_b - D_b^{-1} g_b) with GSD's diagonal bound D_b (fixed blocks: sum_{j in b} |A_ij|;
  /// variable blocks: sum_j |A_ij|), coordinate-wise and exact for L1 / bounds.
  void diagonal_step(std::int64_t fixed_k, const std::int64_t* idx, std::int64_t m, std::vector<Scalar>& d) {
    for (std::int64_t q = 0; q < m; ++q) {
      const std::int64_t i = idx[q];
      double step = 0.0;
      coord_decrease(i, double(fixed_k >= 0 ? dfix_[i] : absrow_[i]), &step);
      d[q] = Scalar(step);
    }
  }

  /// Proximal matrix step with L1 / bounds: d minimises the block model
  ///   g_b^T d + 1/2 d^T A_bb d + l1 ||x_b + d||_1,  x_b + d >= lower_b,
  /// which is f itself restricted to the block (the block Hessian is exact),
  /// by cyclic coordinate passes that keep A_bb d up to date; stops when no
  /// coordinate moves by more than 1e-14 of the block's largest value, or
  /// after 500 passes.
  bool prox_block_step(std::int64_t fixed_k, const std::int64_t* idx, std::int64_t m, std::vector<Scalar>& d) {
    Mat local;
    if (fixed_k < 0) local = dense_block(idx, m);
    const Mat& H = fixed_k >= 0 ? dense_[fixed_k] : local;
    Vec hd = Vec::Zero(m);
    for (int pass = 0; pass < 500; ++pass) {
      double moved = 0.0, size = 0.0;
      for (std::int64_t q = 0; q < m; ++q) {
        const std::int64_t i = idx[q];
        const double h = double(H(q, q));
        if (!(h > 0.0)) return false;
        const double u = double(x_[i]) + double(d[q]);
        double z = detail::soft(u - (double(g_[i]) + double(hd[q])) / h, l1_ / h);
        if (lower_) z = std::max(z, lower_[i]);
        const double delta = z - u;
        size = std::max(size, std::abs(z));
        if (delta == 0.0) continue;
        d[q] += Scalar(delta);
        hd.noalias() += H.col(q) * Scalar(delta);
        moved = std::max(moved, std::abs(delta));
      }
      if (m == 1 || moved <= 1e-14 * size) break;
    }
    return true;
  }

  bool step(std::int64_t fixed_k, const std::int64_t* idx, std::int64_t m, std::vector<Scalar>& d) {
    switch (opt_.update) {
      case Update::gradient: {
        const Scalar L = fixed_k >= 0 ? block_L_[fixed_k] : block_lipschitz(idx, m);
        for (std::int64_t q = 0; q < m; ++q) {
          const std::int64_t i = idx[q];
          double z = double(x_[i]) - double(g_[i]) / double(L);
          if (l1_ > 0.0) z = detail::soft(z, l1_ / double(L));
          if (lower_) z = std::max(z, lower_[i]);
          d[q] = Scalar(z - double(x_[i]));
        }
        return true;
      }
      case Update::diagonal: diagonal_step(fixed_k, idx, m, d); return true;
      case Update::tmp: return tmp_step(fixed_k, idx, m, d);
      case Update::matrix:
      case Update::newton: {
        if (constrained_) return prox_block_step(fixed_k, idx, m, d);
        Vec gb(m);
        for (std::int64_t q = 0; q < m; ++q) gb[q] = g_[idx[q]];
        Vec dq;
        if (fixed_k >= 0) dq = -chol_[fixed_k].solve(gb);
        else {
          Eigen::LDLT<Mat> f(dense_block(idx, m));
          if (f.info() != Eigen::Success || !f.isPositive()) return false;
          dq = -f.solve(gb);
        }
        for (std::int64_t q = 0; q < m; ++q) d[q] = dq[q];
        return true;
      }
      case Update::message_passing: {
        ForestBlock<Scalar> local_fb;
        const ForestBlock<Scalar>* fb = nullptr;
        if (fixed_k >= 0 && !fpiv_.empty() && !fpiv_[fixed_k].empty()) {
          // factored once: gather, eliminate leaves to roots, substitute back, scatter
          const ForestBlock<Scalar>& f = forests_[fixed_k];
          const Scalar* ipiv = fpiv_[fixed_k].data();
          const Scalar* ell = fell_[fixed_k].data();
          const std::int64_t* par = f.parent.data();
          rhs_.resize(m);
          sol_.resize(m);
          for (std::int64_t q = 0; q < m; ++q) rhs_[q] = -g_[f.nodes[q]];
          for (std::int64_t q = m - 1; q >= 0; --q)
            if (par[q] >= 0) rhs_[par[q]] -= ell[q] * rhs_[q];
          for (std::int64_t q = 0; q < m; ++q)
            sol_[q] = rhs_[q] * ipiv[q] - (par[q] >= 0 ? ell[q] * sol_[par[q]] : Scalar(0));
          const std::int64_t* pos = fpos_[fixed_k].data();
          for (std::int64_t q = 0; q < m; ++q) d[q] = sol_[pos[q]];
          return true;
        }
        if (fixed_k >= 0) fb = &forests_[fixed_k];
        else {
          if (!build_forest_block(A_, idx, m, local_fb, scratch_)) return false;
          fb = &local_fb;
        }
        rhs_.resize(m);
        work_.resize(m);
        sol_.resize(m);
        for (std::int64_t q = 0; q < m; ++q) rhs_[q] = -g_[fb->nodes[q]];
        if (!forest_solve(*fb, diag_.data(), rhs_, work_, sol_.data())) return false;
        // d is ordered like idx; map through the local positions
        for (std::int64_t q = 0; q < m; ++q) scratch_.local[fb->nodes[q]] = q;
        for (std::int64_t q = 0; q < m; ++q) d[q] = sol_[scratch_.local[idx[q]]];
        for (std::int64_t q = 0; q < m; ++q) scratch_.local[idx[q]] = -1;
        return true;
      }
    }
    return false;
  }

  CsrView<Scalar, Index> A_;
  const Scalar* b_;
  Partition blocks_;
  QuadraticOptions opt_;
  double l1_ = 0.0;
  const double* lower_ = nullptr;  ///< lower bounds, or null
  std::int64_t n_;
  bool constrained_ = false;
  bool identity_singletons_ = false;
  std::int64_t max_block_ = 0;
  double avg_block_ = 1.0;
  double bnorm_ = 1.0;
  std::vector<Scalar> diag_, absrow_, dfix_, block_L_, gvec_, rhs_, work_, sol_;
  std::vector<double> cumL_, scores_, dvec_, uvec_;
  double mu_ = 0.0;  ///< the IHT step, once estimated
  std::vector<std::int64_t> order_, sorted_;
  std::vector<ForestBlock<Scalar>> forests_;
  std::vector<std::vector<Scalar>> fpiv_, fell_;  ///< per fixed forest block: inverse pivots, multipliers
  std::vector<std::vector<std::int64_t>> fpos_;   ///< listed position -> elimination position
  std::vector<Eigen::LLT<Mat>> chol_;
  std::vector<Mat> dense_;  ///< fixed blocks of A, kept for proximal matrix steps
  ForestScratch scratch_;
  IndexedMaxHeap heap_;
  const Scalar* x_ = nullptr;
  const Scalar* g_ = nullptr;
};

}  // namespace itercore::bcd
