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
#include <vector>
#ifdef ITERCORE_LASSO_TRACE
#include <chrono>
#include <cstdio>
#define LTRACE(...) std::fprintf(stderr, __VA_ARGS__)
static double ltime() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
#else
#define LTRACE(...) ((void)0)
static inline double ltime() { return 0.0; }
#endif

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
    double s = 0.0;
    for (std::int64_t i = 0; i < n; ++i) s += double(c[i]) * v[i];
    return s;
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
  Rule rule = Rule::gs_r;       ///< inside the working set: gs_r (the largest proximal step) or cyclic
  double tol = 1e-8;            ///< on the duality gap relative to P(0) = ||y||^2 / 2
  std::int64_t maxiter = 100;   ///< outer iterations (each one full gradient and gap)
  std::int64_t max_epochs = 10000;  ///< inner passes per outer iteration
  std::int64_t ws_start = 10;   ///< first working-set size
  std::int64_t gram_limit = 2048;   ///< largest working set solved with a Gram matrix
  bool active_set_newton = true;    ///< Newton steps on the active set once its signs settle
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
  }
};

/// Result extras beside SolveInfo.
struct LassoStats {
  double primal = 0.0, dual = 0.0, gap = 0.0;  ///< unscaled: P(w) = 1/2||r||^2 + lambda||w||_1
  std::int64_t coordinate_updates = 0, newton_steps = 0;
};

namespace detail {
inline double soft_threshold(double z, double t) { return z > t ? z - t : (z < -t ? z + t : 0.0); }

/// One Newton step on the support S (positions in the working set), with an
/// exact line search of the lasso objective along it. On the orthant of the
/// current signs s the objective is the quadratic 1/2 w^T G w - b^T w +
/// lambda s^T w (h = b - G w is the negative gradient of the smooth part); the
/// direction d solves (G_SS + eps I) d = h_S - lambda s_S (eps > 0 keeps it
/// defined when columns are collinear or |S| > n). Along w + t d, t in [0, 1],
/// the lasso objective is convex and piecewise quadratic, with a break where
/// a coordinate crosses zero: its exact minimiser t* is found by scanning the
/// breaks in order (a coordinate whose break is t* is set exactly to zero;
/// those crossed before t* change sign), as in feature-sign search (Lee,
/// Battle, Raina & Ng 2007). `apply(q, delta)` moves one coordinate and
/// updates h, rr = ||r||^2 and yr. Returns t* (1: the full step, the signs were
/// right) or 0 when no step was taken (factorisation failed, or rounding made
/// the objective grow: the iterate is then restored).
template <class Apply>
double newton_line_search(const Eigen::MatrixXd& G, const std::vector<std::int64_t>& S, std::vector<double>& wk,
                          std::vector<double>& h, double lambda, double eps, Apply&& apply, double& rr, double& yr) {
  const std::int64_t m = static_cast<std::int64_t>(S.size());
  Eigen::MatrixXd Gs(m, m);
  Eigen::VectorXd g(m), hs(m);
  for (std::int64_t a = 0; a < m; ++a) {
    const double w = wk[S[a]];
    hs[a] = h[S[a]];
    g[a] = hs[a] - lambda * (w > 0 ? 1.0 : -1.0);
    for (std::int64_t b = 0; b <= a; ++b) Gs(a, b) = G(S[a], S[b]);
  }
  for (std::int64_t a = 0; a < m; ++a) Gs(a, a) += eps;
  Eigen::LLT<Eigen::MatrixXd> f(Gs);  // reads the lower triangle
  if (f.info() != Eigen::Success) return 0.0;
  const Eigen::VectorXd d = f.solve(g);
  if (!d.allFinite()) return 0.0;
  for (std::int64_t a = 0; a < m; ++a) Gs(a, a) -= eps;
  const double dGd = d.dot(Gs.selfadjointView<Eigen::Lower>() * d);
  // phi'(t) = slope + t dGd with slope = -d.h_S + lambda sum d_a sign(w_a + t d_a), piecewise
  double slope = -d.dot(hs);
  std::vector<std::pair<double, std::int64_t>> breaks;
  for (std::int64_t a = 0; a < m; ++a) {
    const double w = wk[S[a]];
    slope += lambda * d[a] * (w > 0 ? 1.0 : -1.0);
    if (w * d[a] < 0.0 && -w / d[a] < 1.0) breaks.emplace_back(-w / d[a], a);
  }
  std::sort(breaks.begin(), breaks.end());
  double t = 1.0;
  std::int64_t zero_from = -1, zero_to = -1;  // breaks[zero_from, zero_to) sit at t (set to zero)
  double lo = 0.0;
  bool found = false;
  for (std::size_t q = 0; q <= breaks.size() && !found; ++q) {
    const double hi = q < breaks.size() ? breaks[q].first : 1.0;
    if (slope + hi * dGd >= 0.0) {  // the minimiser is in [lo, hi]
      t = dGd > 0.0 ? std::clamp(-slope / dGd, lo, hi) : lo;
      found = true;
      break;
    }
    if (q == breaks.size()) break;  // slope still < 0 at t = 1: take the full step
    // cross the break (and any at the same t): the slope jumps by 2 lambda |d_a|
    std::size_t e = q;
    while (e < breaks.size() && breaks[e].first == hi) {
      slope += 2.0 * lambda * std::abs(d[breaks[e].second]);
      ++e;
    }
    if (slope + hi * dGd >= 0.0) {  // the subgradient holds 0 at the break: stop on it
      t = hi;
      zero_from = static_cast<std::int64_t>(q);
      zero_to = static_cast<std::int64_t>(e);
      found = true;
      break;
    }
    lo = hi;
    q = e - 1;
  }
  if (!(t > 0.0)) return 0.0;
  double l1 = 0.0;
  for (double w : wk) l1 += std::abs(w);
  const double p_old = 0.5 * rr + lambda * l1;
  const std::vector<double> h_old = h, w_old = wk;
  const double rr_old = rr, yr_old = yr;
  std::vector<char> to_zero;
  if (zero_from >= 0) {
    to_zero.assign(m, 0);
    for (std::int64_t q = zero_from; q < zero_to; ++q) to_zero[breaks[q].second] = 1;
  }
  for (std::int64_t a = 0; a < m; ++a) {
    const double delta = !to_zero.empty() && to_zero[a] ? -wk[S[a]] : t * d[a];
    if (delta != 0.0) apply(S[a], delta);
  }
  double l1_new = 0.0;
  for (double w : wk) l1_new += std::abs(w);
  const double p_new = 0.5 * rr + lambda * l1_new;
  if (!(p_new <= p_old)) {  // rounding (or a non-finite value): keep the coordinate-descent iterate
    h = h_old;
    wk = w_old;
    rr = rr_old;
    yr = yr_old;
    return 0.0;
  }
  return t;
}
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
    [[maybe_unused]] const double t_ws = ltime();
    [[maybe_unused]] std::int64_t tr_epochs = 0, tr_newton = 0, tr_full = 0;
    [[maybe_unused]] double tr_newton_t = 0.0, tr_gram_t = 0.0;
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
      tr_gram_t = ltime() - t_ws;
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
      std::vector<std::int64_t> S;
      S.reserve(k);
      for (std::int64_t epoch = 0; epoch < opt.max_epochs; ++epoch) {
        bool moved = false;
        for (std::int64_t u = 0; u < k; ++u) {
          std::int64_t q = u;
          double best = 0.0, delta = 0.0;
          if (greedy) {  // GS-r: the largest proximal step
            q = -1;
            for (std::int64_t a = 0; a < k; ++a) {
              if (diag[a] <= 0.0) continue;
              const double z = detail::soft_threshold(wk[a] + h[a] / diag[a], lambda / diag[a]) - wk[a];
              const double v = z * z * diag[a];
              if (v > best) {
                best = v;
                q = a;
                delta = z;
              }
            }
            if (q < 0) break;
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
        ++tr_epochs;
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
          if (S.empty() || !(rate_nt >= rate_cd || work_since >= cost)) break;
          work_since = 0.0;
          [[maybe_unused]] const double t0n = ltime();
          const double t = detail::newton_line_search(G, S, wk, h, lambda, 1e-12 * max_diag, apply, rr, yr);
          tr_newton_t += ltime() - t0n;
          ++tr_newton;
          tr_full += t >= 1.0;
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
      // residual-based cyclic coordinate descent on a large working set
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
    LTRACE("outer %lld k %lld gram %d: %.4fs (gram %.4f, newton %.4f) epochs %lld newton %lld full %lld gap %.3e\n",
           (long long)outer, (long long)k, int(use_gram), ltime() - t_ws, tr_gram_t, tr_newton_t, (long long)tr_epochs,
           (long long)tr_newton, (long long)tr_full, st.gap / scale);
    if (stop_all) {
      info.status = Status::interrupted;
      break;
    }
  }
  return info;
}

}  // namespace itercore::bcd
