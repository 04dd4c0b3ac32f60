#pragma once
/// L1-regularised least squares (the lasso) by greedy block coordinate descent
/// with a growing working set and Newton steps on the identified active set:
///
///   minimise  P(w) = 1/2 ||y - X w||^2 + lambda ||w||_1      (lambda = n * alpha)
///
/// Outer loop: the full correlation c = X^T r (r = y - X w) gives a feasible
/// dual point theta = r * min(1, lambda / ||c||_inf) and the duality gap
/// P(w) - D(theta), which certifies the distance to the optimum. The working
/// set holds the current support plus the coordinates that violate the
/// optimality conditions most (largest |c_j| - lambda, a Gauss-Southwell-s
/// score), doubling in size. Inner loop on the working set: with its Gram
/// matrix G the gradient h = X_ws^T r is kept exact after each coordinate
/// update in O(|ws|), so the greedy Gauss-Southwell-r rule (the coordinate
/// whose proximal step is largest) costs no more than a cyclic sweep would;
/// once the support's signs are stable, a Newton step on the active set (the
/// solve G_SS w_S = X_S^T y - lambda sign(w_S)) is tried and kept when its
/// signs are consistent, which converges superlinearly after identification
/// (Nutini, Laradji & Schmidt 2022, section 6). Large working sets fall back
/// to cyclic updates on the residual.

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "itercore/bcd/rules.hpp"
#include "itercore/common/csr.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/status.hpp"
#include "itercore/common/threads.hpp"

namespace itercore::bcd {

/// Columns of a dense X stored as the rows of X^T (p x n, C order).
template <class Scalar>
struct DenseColumns {
  using scalar = Scalar;
  const Scalar* xt = nullptr;
  std::int64_t n = 0, p = 0;
  std::int64_t nnz(std::int64_t) const { return n; }
  double dot(std::int64_t j, const double* v) const {
    const Scalar* c = xt + j * n;
    if constexpr (std::is_same_v<Scalar, double>) {  // Eigen's dot: vectorised, several accumulators
      return Eigen::Map<const Eigen::VectorXd>(c, n).dot(Eigen::Map<const Eigen::VectorXd>(v, n));
    } else {
      double s = 0.0;
      for (std::int64_t i = 0; i < n; ++i) s += double(c[i]) * v[i];
      return s;
    }
  }
  void axpy(std::int64_t j, double a, double* v) const {
    const Scalar* c = xt + j * n;
    for (std::int64_t i = 0; i < n; ++i) v[i] += a * double(c[i]);
  }
  /// Cross products X_a^T X_b of the columns listed in a and b.
  Eigen::MatrixXd gram_block(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) const {
    auto gather = [&](const std::vector<std::int64_t>& cols) {
      Eigen::MatrixXd M(n, static_cast<std::int64_t>(cols.size()));
      for (std::size_t q = 0; q < cols.size(); ++q)
        for (std::int64_t i = 0; i < n; ++i) M(i, q) = double(xt[cols[q] * n + i]);
      return M;
    };
    const Eigen::MatrixXd A = gather(a), B = gather(b);
    return A.transpose().lazyProduct(B);  // no GEMM threads: this runs inside a serial solve
  }
  /// Gram matrix of the columns `ws` (k x k).
  Eigen::MatrixXd gram(const std::vector<std::int64_t>& ws, int n_threads) const {
    const std::int64_t k = static_cast<std::int64_t>(ws.size());
    Eigen::MatrixXd Xw(n, k);
    for (std::int64_t q = 0; q < k; ++q)
      for (std::int64_t i = 0; i < n; ++i) Xw(i, q) = double(xt[ws[q] * n + i]);
    (void)n_threads;  // Eigen's rank update runs serially here
    Eigen::MatrixXd G(k, k);
    G.setZero();
    G.selfadjointView<Eigen::Lower>().rankUpdate(Xw.transpose());
    G.triangularView<Eigen::StrictlyUpper>() = G.transpose();
    return G;
  }
};

/// Columns of a sparse X as the rows of X^T in CSR (i.e. X in CSC).
template <class Scalar, class Index>
struct SparseColumns {
  using scalar = Scalar;
  CsrView<Scalar, Index> xt;
  std::int64_t n = 0, p = 0;
  std::int64_t nnz(std::int64_t j) const { return xt.indptr[j + 1] - xt.indptr[j]; }
  double dot(std::int64_t j, const double* v) const {
    double s = 0.0;
    for (Index q = xt.indptr[j]; q < xt.indptr[j + 1]; ++q) s += double(xt.data[q]) * v[xt.indices[q]];
    return s;
  }
  void axpy(std::int64_t j, double a, double* v) const {
    for (Index q = xt.indptr[j]; q < xt.indptr[j + 1]; ++q) v[xt.indices[q]] += a * double(xt.data[q]);
  }
  Eigen::MatrixXd gram_block(const std::vector<std::int64_t>& a, const std::vector<std::int64_t>& b) const {
    Eigen::MatrixXd G(static_cast<std::int64_t>(a.size()), static_cast<std::int64_t>(b.size()));
    std::vector<double> dense(n, 0.0);
    for (std::size_t c = 0; c < b.size(); ++c) {
      const std::int64_t j = b[c];
      for (Index q = xt.indptr[j]; q < xt.indptr[j + 1]; ++q) dense[xt.indices[q]] = double(xt.data[q]);
      for (std::size_t r = 0; r < a.size(); ++r) G(r, c) = dot(a[r], dense.data());
      for (Index q = xt.indptr[j]; q < xt.indptr[j + 1]; ++q) dense[xt.indices[q]] = 0.0;
    }
    return G;
  }
  Eigen::MatrixXd gram(const std::vector<std::int64_t>& ws, int n_threads) const {
    const std::int64_t k = static_cast<std::int64_t>(ws.size());
    Eigen::MatrixXd G(k, k);
    const int nt = resolve_threads(n_threads);
    std::int64_t work = 0;
    for (auto j : ws) work += nnz(j);
#pragma omp parallel num_threads(nt) if (nt > 1 && work * k > 50000000)
    {
      std::vector<double> dense(n, 0.0);
#pragma omp for schedule(dynamic, 8)
      for (std::int64_t a = 0; a < k; ++a) {
        const std::int64_t j = ws[a];
        for (Index q = xt.indptr[j]; q < xt.indptr[j + 1]; ++q) dense[xt.indices[q]] = double(xt.data[q]);
        for (std::int64_t c = 0; c <= a; ++c) G(a, c) = dot(ws[c], dense.data());
        for (Index q = xt.indptr[j]; q < xt.indptr[j + 1]; ++q) dense[xt.indices[q]] = 0.0;
      }
    }
    G.triangularView<Eigen::StrictlyUpper>() = G.transpose();
    return G;
  }
};

/// Knobs of `lasso_solve`. The defaults here are the only ones: the Python
/// layer reads them from the bound struct.
struct LassoOptions {
  Rule rule = Rule::cyclic;     ///< inside the working set: cyclic (with Anderson extrapolation) or gs_r (the largest proximal step)
  double tol = 1e-8;            ///< on the duality gap relative to P(0) = ||y||^2 / 2
  std::int64_t maxiter = 100;   ///< outer iterations (each one full gradient and gap)
  std::int64_t max_epochs = 10000;  ///< inner passes per outer iteration
  std::int64_t ws_start = 10;   ///< first working-set size
  std::int64_t gram_limit = 2048;   ///< largest working set solved with a Gram matrix
  bool active_set_newton = true;    ///< Newton steps on the active set (exact line search along them)
  std::int64_t newton_limit = 2048;  ///< largest support given a Newton step (its Gram block is newton_limit^2)
  std::int64_t anderson = 5;    ///< Anderson extrapolation of the cyclic iterates from the last this many epochs (0: none)
  bool history = false;         ///< record the relative gap at each outer iteration
  int n_threads = 0;            ///< threads for the full gradient and sparse Gram matrices; <= 0: the OpenMP default

  /// Throws std::invalid_argument naming the first invalid field.
  void check() const {
    if (rule != Rule::gs_r && rule != Rule::cyclic)
      throw std::invalid_argument("rule must be 'gs-r' or 'cyclic' for the lasso");
    if (!(tol >= 0.0)) throw std::invalid_argument("tol must be >= 0");
    if (maxiter < 0) throw std::invalid_argument("maxiter must be >= 0");
    if (max_epochs < 1) throw std::invalid_argument("max_epochs must be >= 1");
    if (ws_start < 1) throw std::invalid_argument("ws_start must be >= 1");
    if (gram_limit < 0) throw std::invalid_argument("gram_limit must be >= 0");
    if (newton_limit < 0) throw std::invalid_argument("newton_limit must be >= 0");
    if (anderson < 0 || anderson > 64) throw std::invalid_argument("anderson must be in [0, 64]");
  }
};

/// Result extras beside SolveInfo.
struct LassoStats {
  double primal = 0.0, dual = 0.0, gap = 0.0;  ///< unscaled: P(w) = 1/2||r||^2 + lambda||w||_1
  std::int64_t coordinate_updates = 0, newton_steps = 0, extrapolations = 0;
};

namespace detail {
inline double soft_threshold(double z, double t) { return z > t ? z - t : (z < -t ? z + t : 0.0); }

/// A Newton step on a support S with an exact line search of the lasso objective
/// along it. On the orthant of the current signs s the objective is the quadratic
/// 1/2 ||y - X w||^2 + lambda s^T w; with hs = X_S^T r (the negative gradient of
/// the smooth part on S) the direction d solves (G_SS + eps I) d = hs - lambda s
/// (eps > 0 keeps it defined when columns are collinear or |S| > n). Along
/// w + t d, t in [0, 1], the lasso objective is convex and piecewise quadratic,
/// with a break where a coordinate crosses zero: its exact minimiser t* is
/// found by scanning the breaks in order (coordinates whose break is t* are set
/// exactly to zero, those crossed before t* change sign), as in feature-sign
/// search (Lee, Battle, Raina & Ng 2007). `Gs` holds G_SS in its lower
/// triangle and is overwritten. Fills `delta` (the move of each coordinate of
/// S) and returns t* (1: the full step, the signs were right), or 0 when the
/// factorisation failed.
inline double newton_line_search(Eigen::MatrixXd& Gs, const Eigen::VectorXd& hs, const Eigen::VectorXd& wS,
                                 double lambda, double eps, Eigen::VectorXd& delta) {
  const std::int64_t m = hs.size();
  Eigen::VectorXd g(m);
  for (std::int64_t a = 0; a < m; ++a) g[a] = hs[a] - lambda * (wS[a] > 0 ? 1.0 : -1.0);
  const Eigen::MatrixXd G0 = Gs.selfadjointView<Eigen::Lower>();
  for (std::int64_t a = 0; a < m; ++a) Gs(a, a) += eps;
  Eigen::LLT<Eigen::Ref<Eigen::MatrixXd>> f(Gs);  // in place, reads the lower triangle
  if (f.info() != Eigen::Success) return 0.0;
  const Eigen::VectorXd d = f.solve(g);
  if (!d.allFinite()) return 0.0;
  const double dGd = d.dot(G0 * d);
  // phi'(t) = slope + t dGd with slope = -d.hs + lambda sum d_a sign(w_a + t d_a), piecewise
  double slope = -d.dot(hs);
  std::vector<std::pair<double, std::int64_t>> breaks;
  for (std::int64_t a = 0; a < m; ++a) {
    const double w = wS[a];
    slope += lambda * d[a] * (w > 0 ? 1.0 : -1.0);
    if (w * d[a] < 0.0 && -w / d[a] < 1.0) breaks.emplace_back(-w / d[a], a);
  }
  std::sort(breaks.begin(), breaks.end());
  double t = 1.0, lo = 0.0;
  std::size_t zero_from = 0, zero_to = 0;  // breaks[zero_from, zero_to) sit at t (set to zero)
  for (std::size_t q = 0;; ) {
    const double hi = q < breaks.size() ? breaks[q].first : 1.0;
    if (slope + hi * dGd >= 0.0) {  // the minimiser is in [lo, hi]
      t = dGd > 0.0 ? std::clamp(-slope / dGd, lo, hi) : lo;
      break;
    }
    if (q == breaks.size()) break;  // slope still < 0 at t = 1: the full step
    std::size_t e = q;  // cross the break (and any at the same t): the slope jumps by 2 lambda |d_a|
    while (e < breaks.size() && breaks[e].first == hi) slope += 2.0 * lambda * std::abs(d[breaks[e++].second]);
    if (slope + hi * dGd >= 0.0) {  // the subgradient holds 0 at the break: stop on it
      t = hi;
      zero_from = q;
      zero_to = e;
      break;
    }
    lo = hi;
    q = e;
  }
  delta = t * d;
  for (std::size_t q = zero_from; q < zero_to; ++q) delta[breaks[q].second] = -wS[breaks[q].second];
  return t > 0.0 ? t : 0.0;
}

/// Anderson extrapolation of the iterates of a fixed-point map (coordinate-descent
/// epochs), as skglm and celer use it (Bertrand & Massias 2021): after K + 1 stored
/// iterates w_0..w_K, with U the K differences w_{i+1} - w_i, the weights c = z / sum(z)
/// with (U^T U) z = 1 give the extrapolated point sum_i c_i w_{i+1}. The caller
/// keeps it only if it lowers the objective; the store then starts again.
class Anderson {
 public:
  Anderson(std::int64_t K, std::int64_t k) : K_(K), W_(K > 0 ? k : 0, K > 0 ? K + 1 : 0) {}
  /// Stores w (length k); true when K + 1 iterates are stored (extrapolate() may then run).
  bool push(const std::vector<double>& w) {
    if (K_ <= 0) return false;
    W_.col(count_) = Eigen::Map<const Eigen::VectorXd>(w.data(), W_.rows());
    if (++count_ <= K_) return false;
    count_ = 0;
    return true;
  }
  /// The extrapolated point into `out` (length k); false if the weights are not finite.
  bool extrapolate(std::vector<double>& out) const {
    const Eigen::MatrixXd U = W_.rightCols(K_) - W_.leftCols(K_);
    Eigen::MatrixXd C = U.transpose().lazyProduct(U);
    const double reg = 1e-12 * C.trace();
    if (!(reg > 0.0)) return false;  // no move, or non-finite
    C.diagonal().array() += reg;
    const Eigen::VectorXd z = C.ldlt().solve(Eigen::VectorXd::Ones(K_));
    const double sz = z.sum();
    if (!z.allFinite() || sz == 0.0) return false;
    Eigen::Map<Eigen::VectorXd>(out.data(), W_.rows()).noalias() = W_.rightCols(K_).lazyProduct(z / sz);
    for (double v : out)
      if (!std::isfinite(v)) return false;
    return true;
  }

 private:
  std::int64_t K_, count_ = 0;
  Eigen::MatrixXd W_;
};
}  // namespace detail

/// Lasso primal, dual and gap at w with residual r = y - X w and c = X^T r.
inline void lasso_gap(const std::vector<double>& r, const double* y, std::int64_t n, double cmax, double l1w,
                      double lambda, LassoStats& st) {
  double rr = 0.0, yr = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    rr += r[i] * r[i];
    yr += y[i] * r[i];
  }
  const double s = cmax > lambda ? lambda / cmax : 1.0;
  st.primal = 0.5 * rr + lambda * l1w;
  st.dual = s * yr - 0.5 * s * s * rr;
  st.gap = st.primal - st.dual;
}

/// Solves the lasso with weight `lambda` (= n alpha) in place from w (length
/// p); `y` has length n. `monitor(outer iterations, w, P(w), relative gap)`
/// runs after each outer iteration but the first; false stops.
template <class Cols>
SolveInfo lasso_solve(const Cols& X, const double* y, double lambda, double* w, const LassoOptions& opt,
                      LassoStats& st, Control* control = nullptr,
                      const std::function<bool(std::int64_t, const double*, double, double)>& monitor = nullptr) {
  const std::int64_t n = X.n, p = X.p;
  opt.check();
  if (!(lambda >= 0.0)) throw std::invalid_argument("alpha must be >= 0");
  const bool greedy = opt.rule == Rule::gs_r;  // else cyclic
  const int nt = resolve_threads(opt.n_threads);
  SolveInfo info;
  info.status = Status::max_iter;
  std::vector<double> r(y, y + n), c(p), norms(p);
  double yy = 0.0;
  for (std::int64_t i = 0; i < n; ++i) yy += y[i] * y[i];
  const double scale = yy > 0.0 ? 0.5 * yy : 1.0;  // P(0)
  std::int64_t total_nnz = 0;
  for (std::int64_t j = 0; j < p; ++j) total_nnz += X.nnz(j);
  // threads only pay on large problems (and hurt badly on a busy machine)
  const bool par = nt > 1 && total_nnz >= 50 * kParallelNnz;
  {
    std::vector<double> ones(n, 1.0);
#pragma omp parallel for num_threads(nt) if (par) schedule(dynamic, 64)
    for (std::int64_t j = 0; j < p; ++j) {
      double s = 0.0;
      if constexpr (std::is_same_v<Cols, DenseColumns<typename Cols::scalar>>) {
        const auto* col = X.xt + j * n;
        if constexpr (std::is_same_v<typename Cols::scalar, double>)
          s = Eigen::Map<const Eigen::VectorXd>(col, n).squaredNorm();
        else
          for (std::int64_t i = 0; i < n; ++i) s += double(col[i]) * double(col[i]);
      } else {
        for (auto q = X.xt.indptr[j]; q < X.xt.indptr[j + 1]; ++q) s += double(X.xt.data[q]) * double(X.xt.data[q]);
      }
      norms[j] = s;
    }
  }
  for (std::int64_t j = 0; j < p; ++j)
    if (w[j] != 0.0) X.axpy(j, -w[j], r.data());
  std::int64_t ws_size = std::max<std::int64_t>(1, std::min(opt.ws_start, p));
  std::vector<std::int64_t> ws, order(p);
  // Gram entries of the last working set, reused when features stay in it
  std::vector<std::int64_t> prev_ws, prev_pos(p, -1);
  Eigen::MatrixXd prev_G;
  std::vector<double> score(p);
  auto full_gradient = [&]() {
    double cmax = 0.0;
#pragma omp parallel for num_threads(nt) if (par) schedule(dynamic, 64) reduction(max : cmax)
    for (std::int64_t j = 0; j < p; ++j) {
      c[j] = X.dot(j, r.data());
      cmax = std::max(cmax, std::abs(c[j]));
    }
    return cmax;
  };
  auto l1norm = [&]() {
    double s = 0.0;
    for (std::int64_t j = 0; j < p; ++j) s += std::abs(w[j]);
    return s;
  };
  for (std::int64_t outer = 0;; ++outer) {
    if (control && control->poll()) {
      info.status = Status::interrupted;
      break;
    }
    const double cmax = full_gradient();
    lasso_gap(r, y, n, cmax, l1norm(), lambda, st);
    info.residual = st.gap / scale;
    if (opt.history) info.history.push_back(info.residual);
    if (!std::isfinite(info.residual)) {
      info.status = Status::non_finite;
      break;
    }
    if (info.residual <= opt.tol) {
      info.status = Status::converged;
      break;
    }
    if (outer >= opt.maxiter) break;
    if (monitor && outer > 0 && !monitor(outer, w, st.primal, info.residual)) {
      info.status = Status::callback_stop;
      break;
    }
    info.iterations = outer + 1;
    // --- working set: the support, then the largest violations |c_j| - lambda (scaled)
    std::int64_t support = 0;
    for (std::int64_t j = 0; j < p; ++j) {
      if (w[j] != 0.0) {
        score[j] = std::numeric_limits<double>::infinity();
        ++support;
      } else {
        score[j] = norms[j] > 0.0 ? (std::abs(c[j]) - lambda) / std::sqrt(norms[j]) : -1.0;
      }
    }
    // pruned working set (as in celer): twice the support, at least ws_start
    ws_size = std::min<std::int64_t>(p, std::max<std::int64_t>({opt.ws_start, 2 * support, std::int64_t(1)}));
    std::iota(order.begin(), order.end(), std::int64_t(0));
    auto cmp = [&](std::int64_t a, std::int64_t b) { return score[a] > score[b] || (score[a] == score[b] && a < b); };
    std::nth_element(order.begin(), order.begin() + (ws_size - 1), order.end(), cmp);
    ws.clear();
    for (std::int64_t q = 0; q < ws_size; ++q)
      if (score[order[q]] > 0.0 || w[order[q]] != 0.0) ws.push_back(order[q]);
    if (ws.empty()) {  // no violation left: the gap is numerical noise at this scale
      info.status = Status::converged;
      break;
    }
    std::sort(ws.begin(), ws.end());
    const std::int64_t k = static_cast<std::int64_t>(ws.size());
    const double inner_target = 0.3 * st.gap;
    // --- inner solve on the working set
    std::vector<double> wk(k), h(k), diag(k);
    for (std::int64_t q = 0; q < k; ++q) {
      wk[q] = w[ws[q]];
      h[q] = c[ws[q]];
      diag[q] = norms[ws[q]];
    }
    bool stop_all = false;
    // A Gram epoch costs ~k^2, a residual epoch ~2 * nnz(ws): use the Gram
    // matrix (and greedy GS-r + Newton) only while it is the cheaper one.
    std::int64_t ws_nnz = 0;
    for (std::int64_t q = 0; q < k; ++q) ws_nnz += X.nnz(ws[q]);
    const bool use_gram = k <= opt.gram_limit && (k <= 64 || k * k <= 4 * ws_nnz);
    if (use_gram) {
      Eigen::MatrixXd G(k, k);
      {
        std::vector<std::int64_t> kept, fresh_pos, fresh;
        for (std::int64_t q = 0; q < k; ++q) {
          if (prev_pos[ws[q]] >= 0) kept.push_back(q);
          else {
            fresh_pos.push_back(q);
            fresh.push_back(ws[q]);
          }
        }
        if (kept.size() * 2 < static_cast<std::size_t>(k)) {
          G = X.gram(ws, opt.n_threads);
        } else {
          for (std::int64_t a : kept)
            for (std::int64_t c : kept) G(a, c) = prev_G(prev_pos[ws[a]], prev_pos[ws[c]]);
          if (!fresh.empty()) {
            const Eigen::MatrixXd B = X.gram_block(ws, fresh);  // k x |fresh|
            for (std::size_t c = 0; c < fresh.size(); ++c)
              for (std::int64_t a = 0; a < k; ++a) G(a, fresh_pos[c]) = G(fresh_pos[c], a) = B(a, c);
          }
        }
        for (std::int64_t j : prev_ws) prev_pos[j] = -1;
        prev_ws = ws;
        for (std::int64_t q = 0; q < k; ++q) prev_pos[ws[q]] = q;
        prev_G = G;
      }
      std::vector<double> xty(k);
      for (std::int64_t q = 0; q < k; ++q) xty[q] = h[q];
      // X_ws^T y = h + G w_ws
      for (std::int64_t q = 0; q < k; ++q)
        if (wk[q] != 0.0)
          for (std::int64_t a = 0; a < k; ++a) xty[a] += G(a, q) * wk[q];
      double rr = 0.0, yr = 0.0;
      for (std::int64_t i = 0; i < n; ++i) {
        rr += r[i] * r[i];
        yr += y[i] * r[i];
      }
      auto inner_gap = [&]() {
        double hmax = 0.0, l1 = 0.0;
        for (std::int64_t q = 0; q < k; ++q) {
          hmax = std::max(hmax, std::abs(h[q]));
          l1 += std::abs(wk[q]);
        }
        const double s = hmax > lambda ? lambda / hmax : 1.0;
        return (0.5 * rr + lambda * l1) - (s * yr - 0.5 * s * s * rr);
      };
      auto apply = [&](std::int64_t q, double delta) {
        rr += -2.0 * delta * h[q] + delta * delta * G(q, q);
        yr -= delta * xty[q];
        wk[q] += delta;
        for (std::int64_t a = 0; a < k; ++a) h[a] -= G(a, q) * delta;
        ++st.coordinate_updates;
      };
      // Newton steps on the active set when they pay: the objective decrease per unit of
      // work (flops) of the last Newton step against that of the last coordinate-descent
      // epoch; a step that stopped paying is retried once the epochs since cost as much
      const double epoch_cost = double(greedy ? 2 : 1) * double(k) * double(k);
      double work_since = 0.0, rate_cd = 0.0, rate_nt = std::numeric_limits<double>::infinity();
      double max_diag = 0.0;
      for (std::int64_t q = 0; q < k; ++q) max_diag = std::max(max_diag, diag[q]);
      auto objective = [&]() {
        double l1 = 0.0;
        for (std::int64_t q = 0; q < k; ++q) l1 += std::abs(wk[q]);
        return 0.5 * rr + lambda * l1;
      };
      double p_now = objective();
      detail::Anderson acc(greedy ? 0 : opt.anderson, k);
      std::vector<double> w_acc(k);
      std::vector<std::int64_t> S;
      S.reserve(k);
      // GS-r scores: 1/diag and lambda/diag once (0 for empty columns: their score is 0)
      std::vector<double> inv_diag(k), thr(k), gs_score(greedy ? k : 0);
      for (std::int64_t q = 0; q < k; ++q) {
        inv_diag[q] = diag[q] > 0.0 ? 1.0 / diag[q] : 0.0;
        thr[q] = lambda * inv_diag[q];
      }
      for (std::int64_t epoch = 0; epoch < opt.max_epochs; ++epoch) {
        bool moved = false;
        for (std::int64_t u = 0; u < k; ++u) {
          std::int64_t q = u;
          double best = 0.0, delta = 0.0;
          if (greedy) {  // GS-r: the largest proximal step, scored branch-free (vectorised) first
            for (std::int64_t a = 0; a < k; ++a) {
              const double u = wk[a] + h[a] * inv_diag[a];
              const double z = u - std::clamp(u, -thr[a], thr[a]) - wk[a];
              gs_score[a] = z * z * diag[a];
            }
            q = -1;
            for (std::int64_t a = 0; a < k; ++a)
              if (gs_score[a] > best) {
                best = gs_score[a];
                q = a;
              }
            if (q < 0) break;
            delta = detail::soft_threshold(wk[q] + h[q] / diag[q], lambda / diag[q]) - wk[q];
          } else {
            if (diag[q] <= 0.0) continue;
            delta = detail::soft_threshold(wk[q] + h[q] / diag[q], lambda / diag[q]) - wk[q];
          }
          if (delta != 0.0) {
            apply(q, delta);
            moved = true;
          }
        }
        double g_in = inner_gap();
        if (!std::isfinite(g_in)) break;
        if (!moved || g_in <= 1e-3 * inner_target) break;
        work_since += epoch_cost;
        if (!greedy && acc.push(wk) && acc.extrapolate(w_acc)) {  // Anderson (cyclic epochs only)
          const std::vector<double> h_old = h, w_old = wk;
          const double rr_old = rr, yr_old = yr, p_old = objective();
          for (std::int64_t q = 0; q < k; ++q)
            if (w_acc[q] != wk[q]) apply(q, w_acc[q] - wk[q]);
          if (objective() < p_old) {
            ++st.extrapolations;
            g_in = inner_gap();
          } else {
            h = h_old;
            wk = w_old;
            rr = rr_old;
            yr = yr_old;
          }
        }
        {
          const double p_new = objective();
          rate_cd = (p_now - p_new) / epoch_cost;
          p_now = p_new;
        }
        for (int burst = 0; opt.active_set_newton && burst < 8; ++burst) {
          S.clear();
          for (std::int64_t q = 0; q < k; ++q)
            if (wk[q] != 0.0) S.push_back(q);
          const double m = double(S.size());
          const double cost = m * m * m / 3.0 + m * m + 2.0 * m * double(k);
          if (S.empty() || m > double(opt.newton_limit) || !(rate_nt >= rate_cd || work_since >= cost)) break;
          work_since = 0.0;
          double t = 0.0;
          {
            const std::int64_t ms = static_cast<std::int64_t>(S.size());
            Eigen::MatrixXd Gs(ms, ms);
            Eigen::VectorXd hs(ms), wS(ms), delta;
            for (std::int64_t a2 = 0; a2 < ms; ++a2) {
              hs[a2] = h[S[a2]];
              wS[a2] = wk[S[a2]];
              for (std::int64_t b2 = 0; b2 <= a2; ++b2) Gs(a2, b2) = G(S[a2], S[b2]);
            }
            t = detail::newton_line_search(Gs, hs, wS, lambda, 1e-12 * max_diag, delta);
            if (t > 0.0) {
              const std::vector<double> h_old = h, w_old = wk;
              const double rr_old = rr, yr_old = yr, p_old = objective();
              for (std::int64_t a2 = 0; a2 < ms; ++a2)
                if (delta[a2] != 0.0) apply(S[a2], delta[a2]);
              if (!(objective() <= p_old)) {  // rounding: keep the coordinate-descent iterate
                h = h_old;
                wk = w_old;
                rr = rr_old;
                yr = yr_old;
                t = 0.0;
              }
            }
          }
          const double p_new = objective();
          rate_nt = (p_now - p_new) / cost;
          p_now = p_new;
          if (t > 0.0) ++st.newton_steps;
          g_in = inner_gap();
          // a full step (the signs were right) leaves the rest to coordinate descent (new
          // coordinates); a step stopped by a sign change is followed by another while it pays
          if (t <= 0.0 || t >= 1.0 || g_in <= inner_target) break;
        }
        if (g_in <= inner_target) break;
        if ((epoch & 7) == 7 && control && control->poll()) {
          stop_all = true;
          break;
        }
      }
    } else {
      // residual-based cyclic coordinate descent on a large working set, with Anderson
      // extrapolation (kept when it lowers the objective: r is then recomputed on the ws)
      detail::Anderson acc(opt.anderson, k);
      std::vector<double> w_acc(k), r_acc;
      // Newton steps on the support as in the Gram path, its Gram block computed per try
      // (costly here: the first try waits until the epochs have cost as much)
      const double epoch_cost = 2.0 * double(ws_nnz);
      double work_since = 0.0, rate_cd = 0.0, rate_nt = 0.0;
      auto objective_r = [&]() {
        double l1 = 0.0, rr = 0.0;
        for (std::int64_t q = 0; q < k; ++q) l1 += std::abs(wk[q]);
        for (std::int64_t i = 0; i < n; ++i) rr += r[i] * r[i];
        return 0.5 * rr + lambda * l1;
      };
      double p_now = objective_r(), max_diag = 0.0;
      for (std::int64_t q = 0; q < k; ++q) max_diag = std::max(max_diag, diag[q]);
      std::vector<std::int64_t> S, Scols;
      for (std::int64_t epoch = 0; epoch < opt.max_epochs; ++epoch) {
        for (std::int64_t q = 0; q < k; ++q) {
          const std::int64_t j = ws[q];
          if (diag[q] <= 0.0) continue;
          const double hj = X.dot(j, r.data());
          const double delta = detail::soft_threshold(wk[q] + hj / diag[q], lambda / diag[q]) - wk[q];
          if (delta != 0.0) {
            wk[q] += delta;
            X.axpy(j, -delta, r.data());
            ++st.coordinate_updates;
          }
        }
        if (acc.push(wk) && acc.extrapolate(w_acc)) {
          r_acc = r;
          double l1_old = 0.0, l1_new = 0.0, rr_old = 0.0, rr_new = 0.0;
          for (std::int64_t q = 0; q < k; ++q) {
            l1_old += std::abs(wk[q]);
            l1_new += std::abs(w_acc[q]);
            if (w_acc[q] != wk[q]) X.axpy(ws[q], wk[q] - w_acc[q], r_acc.data());
          }
          for (std::int64_t i = 0; i < n; ++i) {
            rr_old += r[i] * r[i];
            rr_new += r_acc[i] * r_acc[i];
          }
          if (0.5 * rr_new + lambda * l1_new < 0.5 * rr_old + lambda * l1_old) {
            r.swap(r_acc);
            wk.swap(w_acc);
            ++st.extrapolations;
          }
        }
        work_since += epoch_cost;
        {
          const double p_new = objective_r();
          rate_cd = (p_now - p_new) / epoch_cost;
          p_now = p_new;
        }
        for (int burst = 0; opt.active_set_newton && burst < 4; ++burst) {
          S.clear();
          Scols.clear();
          double nnz_s = 0.0;
          for (std::int64_t q = 0; q < k; ++q)
            if (wk[q] != 0.0) {
              S.push_back(q);
              Scols.push_back(ws[q]);
              nnz_s += double(X.nnz(ws[q]));
            }
          const double m = double(S.size());
          const double cost = 0.5 * m * nnz_s + m * m * m / 3.0 + 4.0 * nnz_s;
          if (S.empty() || m > double(opt.newton_limit) || !(rate_nt >= rate_cd || work_since >= cost)) break;
          work_since = 0.0;
          const std::int64_t ms = static_cast<std::int64_t>(S.size());
          Eigen::MatrixXd Gs = X.gram(Scols, opt.n_threads);
          Eigen::VectorXd hs(ms), wS(ms), delta;
          for (std::int64_t a = 0; a < ms; ++a) {
            hs[a] = X.dot(Scols[a], r.data());
            wS[a] = wk[S[a]];
          }
          const double t = detail::newton_line_search(Gs, hs, wS, lambda, 1e-12 * max_diag, delta);
          double p_new = p_now;
          if (t > 0.0) {
            r_acc = r;
            for (std::int64_t a = 0; a < ms; ++a)
              if (delta[a] != 0.0) {
                wk[S[a]] += delta[a];
                X.axpy(Scols[a], -delta[a], r.data());
              }
            p_new = objective_r();
            if (!(p_new <= p_now)) {  // rounding: keep the coordinate-descent iterate
              r.swap(r_acc);
              for (std::int64_t a = 0; a < ms; ++a) wk[S[a]] = wS[a];
              p_new = p_now;
            } else {
              ++st.newton_steps;
            }
          }
          rate_nt = (p_now - p_new) / cost;
          p_now = p_new;
          if (t <= 0.0 || t >= 1.0) break;
        }
        if (epoch % 5 == 4) {
          double hmax = 0.0, l1 = 0.0, rr = 0.0, yr = 0.0;
          for (std::int64_t q = 0; q < k; ++q) {
            hmax = std::max(hmax, std::abs(X.dot(ws[q], r.data())));
            l1 += std::abs(wk[q]);
          }
          for (std::int64_t i = 0; i < n; ++i) {
            rr += r[i] * r[i];
            yr += y[i] * r[i];
          }
          const double s = hmax > lambda ? lambda / hmax : 1.0;
          if ((0.5 * rr + lambda * l1) - (s * yr - 0.5 * s * s * rr) <= inner_target) break;
          if (control && control->poll()) {
            stop_all = true;
            break;
          }
        }
      }
      for (std::int64_t q = 0; q < k; ++q) w[ws[q]] = wk[q];  // r is already exact
    }
    if (use_gram) {
      bool finite = true;
      for (std::int64_t q = 0; q < k; ++q) finite = finite && std::isfinite(wk[q]);
      if (!finite) {
        info.status = Status::non_finite;
        break;
      }
      for (std::int64_t q = 0; q < k; ++q) {
        const double delta = wk[q] - w[ws[q]];
        if (delta != 0.0) X.axpy(ws[q], -delta, r.data());
        w[ws[q]] = wk[q];
      }
    }
    if (stop_all) {
      info.status = Status::interrupted;
      break;
    }
  }
  return info;
}

}  // namespace itercore::bcd
