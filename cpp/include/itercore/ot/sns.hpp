#pragma once
/// Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024): a Sinkhorn warm-up, then
/// Newton steps on the concave dual
///   L(f, g) = <f, a> + <g, b> - reg * sum_ij exp((f_i + g_j - M_ij)/reg),
/// whose gradient is (a - P1, b - P^T 1) and whose Hessian is
///   -(1/reg) [[diag(P1), P], [P^T, diag(P^T 1)]].
/// Near the optimum P is nearly sparse, so the Newton system keeps the exact
/// diagonals and a sparsified P: per row, the largest entries holding all but a
/// share `drop` of the row's mass (at most `keep` of them). The matrix is then
/// diagonally dominant (positive definite once one potential is pinned, which
/// removes the null direction (1, -1)) and is solved by Jacobi-preconditioned CG,
/// or, when CG needs many iterations (ill-conditioned, e.g. near-permutation
/// plans at small reg), exactly by a sparse Cholesky of its Schur complement.
/// Steps are damped by Armijo backtracking on L; a step that fails falls back to
/// Sinkhorn iterations. Sparsity adapts: `drop` shrinks and `keep` grows whenever
/// Newton progress stalls.
///
/// Method::sns_paper runs Tang et al.'s Algorithm 1 as written instead: exactly
/// `warmup_iter` (N1) Sinkhorn steps, then only Newton steps, each with the plan
/// block sparsified globally to `density * max(n, m)` entries (fixed), CG, and a
/// backtracking line search (its first trial capped like the hybrid's, by
/// `max_step`: uncapped, the first Newton step on L1 costs overflows and the
/// search fails); no Sinkhorn steps between Newton steps, no fallback, no
/// adaptive density, no direct solver. A line search that fails ends the solve
/// (Status::breakdown).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include <Eigen/SparseCholesky>
#include <Eigen/SparseCore>

#include "../common/cg.hpp"
#include "sinkhorn.hpp"

namespace itercore::ot {

namespace detail {

/// Per-row kept entries of a sparsified plan, fixed width `keep` per row.
struct SparseRows {
  std::int64_t n = 0, width = 0;
  std::vector<std::int64_t> count;
  std::vector<std::int64_t> col;
  std::vector<double> val;
  std::int64_t nnz() const {
    std::int64_t s = 0;
    for (auto c : count) s += c;
    return s;
  }
};

/// Keeps, per row, the largest entries of P holding >= (1 - drop) of the row sum
/// r_i (at most `keep`; entries below r_i * drop / m are never needed).
template <class Scalar>
void sparsify(const Problem<Scalar>& p, const Scalar* P, const std::vector<double>& r, double drop,
              std::int64_t keep, int nt, SparseRows& S) {
  const std::int64_t n = p.n, m = p.m;
  keep = std::max<std::int64_t>(1, std::min(keep, m));
  S.n = n;
  S.width = keep;
  S.count.assign(static_cast<std::size_t>(n), 0);
  S.col.resize(static_cast<std::size_t>(n * keep));
  S.val.resize(static_cast<std::size_t>(n * keep));
  const bool par = parallel_for(n * m, nt);
#pragma omp parallel num_threads(nt) if (par)
  {
    std::vector<std::pair<double, std::int64_t>> cand;
    cand.reserve(static_cast<std::size_t>(std::min<std::int64_t>(m, 4 * keep)));
#pragma omp for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      if (!(p.a[i] > 0) || !(r[i] > 0)) continue;
      const Scalar* Pi = P + i * m;
      const double thr = r[i] * drop / static_cast<double>(m);
      cand.clear();
      for (std::int64_t j = 0; j < m; ++j)
        if (Pi[j] > thr && p.b[j] > 0) cand.emplace_back(static_cast<double>(Pi[j]), j);
      auto greater = [](const auto& x, const auto& y) { return x.first > y.first; };
      if (static_cast<std::int64_t>(cand.size()) > keep) {
        std::nth_element(cand.begin(), cand.begin() + keep, cand.end(), greater);
        cand.resize(static_cast<std::size_t>(keep));
      }
      std::sort(cand.begin(), cand.end(), greater);
      const double target = (1.0 - drop) * r[i];
      double acc = 0.0;
      std::int64_t k = 0;
      for (const auto& e : cand) {
        S.col[static_cast<std::size_t>(i * keep + k)] = e.second;
        S.val[static_cast<std::size_t>(i * keep + k)] = e.first;
        ++k;
        acc += e.first;
        if (acc >= target) break;
      }
      S.count[static_cast<std::size_t>(i)] = k;
    }
  }
}

/// Keeps the `keep_total` largest entries of the whole plan (rows and columns
/// of zero weight excluded), Tang et al.'s sparsification: one threshold for
/// all rows, so a row may keep many entries or none. Entries equal to the
/// threshold are all kept (never a zero one). `vals` is scratch (n * m).
template <class Scalar>
void sparsify_global(const Problem<Scalar>& p, const Scalar* P, std::int64_t keep_total, int nt,
                     std::vector<Scalar>& vals, SparseRows& S) {
  const std::int64_t n = p.n, m = p.m;
  vals.clear();
  vals.reserve(static_cast<std::size_t>(n * m));
  for (std::int64_t i = 0; i < n; ++i) {
    if (!(p.a[i] > 0)) continue;
    const Scalar* Pi = P + i * m;
    for (std::int64_t j = 0; j < m; ++j)
      if (p.b[j] > 0) vals.push_back(Pi[j]);
  }
  const auto total = static_cast<std::int64_t>(vals.size());
  keep_total = std::max<std::int64_t>(1, std::min(keep_total, total));
  Scalar thr = Scalar(0);
  if (total > 0) {
    auto kth = vals.begin() + (keep_total - 1);
    std::nth_element(vals.begin(), kth, vals.end(), [](Scalar x, Scalar y) { return x > y; });
    thr = *kth;
  }
  auto kept = [&](Scalar v) { return v >= thr && v > Scalar(0); };
  S.n = n;
  S.count.assign(static_cast<std::size_t>(n), 0);
  std::int64_t width = 1;
  for (std::int64_t i = 0; i < n; ++i) {
    if (!(p.a[i] > 0)) continue;
    const Scalar* Pi = P + i * m;
    std::int64_t k = 0;
    for (std::int64_t j = 0; j < m; ++j) k += (p.b[j] > 0 && kept(Pi[j])) ? 1 : 0;
    S.count[static_cast<std::size_t>(i)] = k;
    width = std::max(width, k);
  }
  S.width = width;
  S.col.resize(static_cast<std::size_t>(n * width));
  S.val.resize(static_cast<std::size_t>(n * width));
  const bool par = parallel_for(n * m, nt);
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
  for (std::int64_t i = 0; i < n; ++i) {
    if (S.count[static_cast<std::size_t>(i)] == 0) continue;
    const Scalar* Pi = P + i * m;
    std::int64_t k = 0;
    for (std::int64_t j = 0; j < m; ++j)
      if (p.b[j] > 0 && kept(Pi[j])) {
        S.col[static_cast<std::size_t>(i * width + k)] = j;
        S.val[static_cast<std::size_t>(i * width + k)] = static_cast<double>(Pi[j]);
        ++k;
      }
  }
}

/// Solves [[diag(r), S], [S^T, diag(c)]] x = rhs over the free coordinates
/// (`fixed` ones stay 0) by Jacobi-preconditioned CG. Returns iterations done.
inline std::int64_t pcg_newton(const SparseRows& S, const std::vector<double>& r, const std::vector<double>& c,
                               const std::vector<char>& fixed, const std::vector<double>& rhs, std::vector<double>& x,
                               double rtol, std::int64_t maxiter, int nt, bool warm = false) {
  const std::int64_t n = S.n, m = static_cast<std::int64_t>(c.size()), N = n + m;
  const bool par = nt > 1 && S.nnz() >= kParallelEntries;  // a CG mat-vec is tiny: threads rarely pay
  std::vector<double> scratch, b(rhs);
  auto apply = [&](const std::vector<double>& v, std::vector<double>& y) {
#pragma omp parallel for num_threads(nt) if (par) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
      double s = r[i] * v[i];
      const std::int64_t base = i * S.width;
      for (std::int64_t k = 0; k < S.count[i]; ++k) s += S.val[base + k] * v[n + S.col[base + k]];
      y[i] = s;
    }
    column_reduce<double>(n, m, nt, par, scratch, y.data() + n, [&](std::int64_t i, double* acc) {
      const std::int64_t base = i * S.width;
      const double vi = v[i];
      for (std::int64_t k = 0; k < S.count[i]; ++k) acc[S.col[base + k]] += S.val[base + k] * vi;
    });
    for (std::int64_t j = 0; j < m; ++j) y[n + j] += c[j] * v[n + j];
    for (std::int64_t k = 0; k < N; ++k)
      if (fixed[k]) y[k] = 0.0;
  };
  auto jacobi = [&](const std::vector<double>& v, std::vector<double>& out) {
    for (std::int64_t k = 0; k < N; ++k) {
      const double dk = k < n ? r[k] : c[k - n];
      out[k] = (fixed[k] || !(dk > 0)) ? 0.0 : v[k] / dk;
    }
  };
  for (std::int64_t k = 0; k < N; ++k)
    if (fixed[k]) b[k] = 0.0;
  CgWorkspace<double> ws;
  return pcg(apply, jacobi, b, x, rtol, maxiter, warm, ws);
}


/// Compressed lists of a sparsified plan's kept entries, from one side.
struct Adjacency {
  std::vector<std::int64_t> ptr, idx;
  std::vector<double> val;
};

/// Row lists of S and their transpose (column lists over m columns).
inline void both_sides(const SparseRows& S, std::int64_t m, Adjacency& R, Adjacency& C) {
  const std::int64_t n = S.n;
  R.ptr.assign(static_cast<std::size_t>(n + 1), 0);
  C.ptr.assign(static_cast<std::size_t>(m + 1), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    R.ptr[i + 1] = R.ptr[i] + S.count[i];
    for (std::int64_t k = 0; k < S.count[i]; ++k) ++C.ptr[S.col[i * S.width + k] + 1];
  }
  for (std::int64_t j = 0; j < m; ++j) C.ptr[j + 1] += C.ptr[j];
  const auto nnz = static_cast<std::size_t>(R.ptr[n]);
  R.idx.resize(nnz);
  R.val.resize(nnz);
  C.idx.resize(nnz);
  C.val.resize(nnz);
  std::vector<std::int64_t> next(C.ptr.begin(), C.ptr.end() - 1);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t k = 0; k < S.count[i]; ++k) {
      const std::int64_t j = S.col[i * S.width + k];
      const double v = S.val[i * S.width + k];
      R.idx[R.ptr[i] + k] = j;
      R.val[R.ptr[i] + k] = v;
      C.idx[next[j]] = i;
      C.val[next[j]++] = v;
    }
}

/// Exact solve of the sparsified Newton system [[diag(r), S], [S^T, diag(c)]] x = rhs
/// (`fixed` coordinates stay 0, their equations dropped). The larger side E is
/// eliminated, leaving the SPD Schur complement on the smaller side K,
///   A = diag(d_K) - S_EK^T diag(d_E)^-1 S_EK,
/// which is sparse when the plan is (each E entry with k kept entries adds a
/// k x k block) and is factored by a simplicial sparse Cholesky with AMD
/// ordering. A is formed without the cancellation of d_K - sum s^2 / d_E (which
/// loses all digits when a row's mass sits in one entry, as in near-permutation
/// plans): its diagonal is the column's dropped mass plus s_ek * (rest of row e)
/// / d_e, so A is a weighted graph Laplacian plus a non-negative diagonal, plus
/// a relative 1e-12 * d_K guard against components without dropped mass.
class NewtonDirect {
 public:
  enum class Result { solved, too_costly, failed };

  /// Flops of the last factorization and solve (formation included).
  double last_flops() const { return flops_; }

  /// Solves into x (n + m). With `flop_cap` finite, gives up (too_costly) after
  /// the symbolic analysis when the factorization would cost more flops than that.
  Result solve(const SparseRows& S, const std::vector<double>& r, const std::vector<double>& c,
               const std::vector<char>& fixed, const std::vector<double>& rhs, std::vector<double>& x, int nt,
               double flop_cap) {
    const std::int64_t n = S.n, m = static_cast<std::int64_t>(c.size());
    both_sides(S, m, rows_, cols_);
    const bool elim_rows = n >= m;  // eliminate the larger side
    const Adjacency& E2K = elim_rows ? rows_ : cols_;
    const Adjacency& K2E = elim_rows ? cols_ : rows_;
    const std::int64_t nE = elim_rows ? n : m, nK = elim_rows ? m : n;
    const std::int64_t offE = elim_rows ? 0 : n, offK = elim_rows ? n : 0;
    const double* dE = elim_rows ? r.data() : c.data();
    const double* dK = elim_rows ? c.data() : r.data();
    auto freeE = [&](std::int64_t e) { return !fixed[offE + e] && dE[e] > 0; };
    auto freeK = [&](std::int64_t k) { return !fixed[offK + k] && dK[k] > 0; };

    // mass of each E entry outside its kept entries (>= 0)
    dropE_.assign(static_cast<std::size_t>(nE), 0.0);
    for (std::int64_t e = 0; e < nE; ++e) {
      double kept = 0.0;
      for (std::int64_t q = E2K.ptr[e]; q < E2K.ptr[e + 1]; ++q) kept += E2K.val[q];
      dropE_[e] = std::max(0.0, dE[e] - kept);
    }
    // lower triangle of A, column by column (each thread owns its columns)
    cols_of_A_.resize(static_cast<std::size_t>(nK));
    double form_flops = 0.0;
    for (std::int64_t e = 0; e < nE; ++e) {
      const double k = static_cast<double>(E2K.ptr[e + 1] - E2K.ptr[e]);
      form_flops += k * k;
    }
    flops_ = form_flops;
    if (form_flops > flop_cap) return Result::too_costly;  // not even worth forming
    const bool par = nt > 1 && form_flops >= static_cast<double>(kParallelEntries);
#pragma omp parallel num_threads(nt) if (par)
    {
      std::vector<double> acc(static_cast<std::size_t>(nK), 0.0);
      std::vector<std::int64_t> touched;
#pragma omp for schedule(dynamic, 64)
      for (std::int64_t k = 0; k < nK; ++k) {
        auto& colk = cols_of_A_[k];
        colk.clear();
        if (!freeK(k)) {
          colk.emplace_back(static_cast<int>(k), 1.0);
          continue;
        }
        double kept = 0.0, diag = 0.0;
        touched.clear();
        for (std::int64_t q = K2E.ptr[k]; q < K2E.ptr[k + 1]; ++q) {
          const std::int64_t e = K2E.idx[q];
          const double s = K2E.val[q];
          kept += s;
          if (!freeE(e)) {  // x_e = 0: only the diagonal d_K keeps this entry
            diag += s;
            continue;
          }
          const double w = s / dE[e];
          double others = 0.0;
          for (std::int64_t t = E2K.ptr[e]; t < E2K.ptr[e + 1]; ++t) {
            const std::int64_t l = E2K.idx[t];
            if (l == k) continue;
            others += E2K.val[t];
            if (l > k && freeK(l)) {
              if (acc[l] == 0.0) touched.push_back(l);
              acc[l] -= w * E2K.val[t];
            }
          }
          diag += w * (others + dropE_[e]);
        }
        diag += std::max(0.0, dK[k] - kept) + 1e-12 * dK[k];
        std::sort(touched.begin(), touched.end());
        colk.emplace_back(static_cast<int>(k), diag);
        for (auto l : touched) {
          if (acc[l] != 0.0) colk.emplace_back(static_cast<int>(l), acc[l]);
          acc[l] = 0.0;
        }
      }
    }
    std::int64_t nnz = 0;
    for (const auto& col : cols_of_A_) nnz += static_cast<std::int64_t>(col.size());
    A_.resize(static_cast<Eigen::Index>(nK), static_cast<Eigen::Index>(nK));
    A_.resizeNonZeros(static_cast<Eigen::Index>(nnz));
    {
      int* outer = A_.outerIndexPtr();
      int* inner = A_.innerIndexPtr();
      double* vals = A_.valuePtr();
      std::int64_t q = 0;
      for (std::int64_t k = 0; k < nK; ++k) {
        outer[k] = static_cast<int>(q);
        for (const auto& [l, v] : cols_of_A_[k]) {
          inner[q] = l;
          vals[q++] = v;
        }
      }
      outer[nK] = static_cast<int>(q);
    }
    llt_.analyzePattern(A_);
    const double fact_flops = llt_.factor_flops();
    flops_ = form_flops + fact_flops;
    if (fact_flops > flop_cap) return Result::too_costly;
    llt_.factorize(A_);
    if (llt_.info() != Eigen::Success) return Result::failed;

    // Schur right-hand side, solve, back-substitution on E
    Eigen::VectorXd bK(static_cast<Eigen::Index>(nK));
    for (std::int64_t k = 0; k < nK; ++k) {
      if (!freeK(k)) {
        bK[k] = 0.0;
        continue;
      }
      double v = rhs[offK + k];
      for (std::int64_t q = K2E.ptr[k]; q < K2E.ptr[k + 1]; ++q) {
        const std::int64_t e = K2E.idx[q];
        if (freeE(e)) v -= K2E.val[q] * rhs[offE + e] / dE[e];
      }
      bK[k] = v;
    }
    const Eigen::VectorXd xK = llt_.solve(bK);
    std::vector<double>& y = xbuf_;  // x is left untouched unless the solve succeeds
    y.assign(static_cast<std::size_t>(n + m), 0.0);
    for (std::int64_t k = 0; k < nK; ++k) y[offK + k] = freeK(k) ? xK[k] : 0.0;
    for (std::int64_t e = 0; e < nE; ++e) {
      if (!freeE(e)) continue;
      double v = rhs[offE + e];
      for (std::int64_t q = E2K.ptr[e]; q < E2K.ptr[e + 1]; ++q) v -= E2K.val[q] * y[offK + E2K.idx[q]];
      y[offE + e] = v / dE[e];
    }
    for (double v : y)
      if (!std::isfinite(v)) return Result::failed;
    x.swap(y);
    return Result::solved;
  }

 private:
  /// Simplicial LLT that reports the flops of its factorization after analyzePattern.
  struct Llt : Eigen::SimplicialLLT<Eigen::SparseMatrix<double>, Eigen::Lower, Eigen::AMDOrdering<int>> {
    double factor_flops() const {
      double s = 0.0;
      for (Eigen::Index k = 0; k < this->m_nonZerosPerCol.size(); ++k) {
        const double z = static_cast<double>(this->m_nonZerosPerCol[k]) + 1.0;
        s += z * z;
      }
      return s;
    }
  };
  Adjacency rows_, cols_;
  std::vector<double> dropE_, xbuf_;
  std::vector<std::vector<std::pair<int, double>>> cols_of_A_;
  Eigen::SparseMatrix<double> A_;
  Llt llt_;
  double flops_ = 0.0;
};

}  // namespace detail

/// auto linear solver: a factorization costing at most this many CG
/// iterations' flops is always worth trying once CG needed `direct_after`.
inline constexpr double kDirectWorth = 100.0;

/// SNS on the potentials f (n), g (m) (start on entry, result on exit). `work`
/// is a required n x m buffer (it may be the output plan). Arguments as for
/// `sinkhorn`; the monitor sees phases "sinkhorn" and "newton".
template <class Scalar, class Monitor = NoMonitor>
OtInfo sns(const Problem<Scalar>& p, Scalar* f, Scalar* g, Scalar* work, const Options& opt,
           Control* control = nullptr, Monitor&& monitor = Monitor()) {
  detail::check_problem(p, opt);
  if (work == nullptr) throw std::invalid_argument("sns: a work buffer of n * m entries is required");
  const int nt = resolve_threads(opt.n_threads);
  const std::int64_t n = p.n, m = p.m, N = n + m;
  detail::sanitize_potentials(p, f, g);
  const bool scaling = opt.method != Method::sinkhorn_log;
  detail::SinkhornEngine<Scalar> eng(p, f, g, scaling ? work : nullptr, nt, scaling);
  OtInfo out;
  SolveInfo& info = out.info;
  info.status = Status::max_iter;
  info.residual = std::numeric_limits<double>::infinity();
  auto finish = [&]() {
    out.info.iterations = out.sinkhorn_iterations + out.newton_iterations;
    return out;
  };

  // Sinkhorn steps until the error is below `until` or `budget` steps are done.
  // Returns true when the solve is over (converged, stopped, non-finite).
  std::vector<double> errs;  // the errors of the Sinkhorn steps (for the rate prediction)
  auto sinkhorn_phase = [&](double until, std::int64_t budget, bool log_only = false) -> bool {
    for (std::int64_t k = 0; k < budget && out.sinkhorn_iterations < opt.maxiter; ++k) {
      if (control && control->poll()) {
        info.status = Status::interrupted;
        return true;
      }
      bool done = false, finite = true;
      const double err = eng.step(opt.tol, done, finite, log_only);
      if (!finite) {
        info.status = Status::non_finite;
        return true;
      }
      info.residual = err;
      errs.push_back(err);
      if (opt.history) info.history.push_back(err);
      if (done) {
        info.status = Status::converged;
        return true;
      }
      ++out.sinkhorn_iterations;
      if (!monitor("sinkhorn", out.sinkhorn_iterations, err, static_cast<const Scalar*>(f),
                   static_cast<const Scalar*>(g))) {
        info.status = Status::callback_stop;
        return true;
      }
      if (err <= until) break;
    }
    return false;
  };

  const bool paper = opt.method == Method::sns_paper;
  const bool global = paper || opt.sparsify == Sparsify::global;
  // the paper: exactly N1 Sinkhorn steps (unless they converge)
  if (sinkhorn_phase(paper ? 0.0 : opt.switch_tol, opt.warmup_iter)) return finish();
  if (opt.max_newton == 0) return finish();
  // Per problem: where Sinkhorn itself converges fast (its error falls by a
  // steady factor rho an iteration, measured over the last 5), it goes on
  // while log(tol / err) / log(rho) <= predict_sinkhorn: a Newton step costs
  // several exp passes over M, a stored-kernel Sinkhorn iteration one read of
  // K. (E.g. the random assignment at n = 2000, reg = 1e-3 converges in ~50
  // Sinkhorn iterations, faster than any Newton phase; where Sinkhorn needs
  // thousands, the prediction is far above the bound and Newton starts at once.)
  auto predicted = [&]() {
    const std::size_t k = errs.size();
    if (k < 3) return std::numeric_limits<double>::infinity();
    const std::size_t w = std::min<std::size_t>(5, k - 1);
    const double e = errs[k - 1], e0 = errs[k - 1 - w];
    if (!(e > opt.tol) || !(e0 > e) || !std::isfinite(e0)) return std::numeric_limits<double>::infinity();
    const double rho = std::pow(e / e0, 1.0 / static_cast<double>(w));
    return std::log(opt.tol / e) / std::log(rho);
  };
  if (!paper)
    while (opt.predict_sinkhorn > 0 && out.sinkhorn_iterations < opt.maxiter &&
           predicted() <= static_cast<double>(opt.predict_sinkhorn))
      if (sinkhorn_phase(0.0, 1)) return finish();

  // Newton phase.
  std::vector<Scalar> Pt(static_cast<std::size_t>(n * m));
  Scalar* P = work;
  Scalar* Ptrial = Pt.data();
  std::vector<double> r, c, rt, ct, rhs(N), d;
  std::vector<Scalar> scratch, f_try(n), g_try(m), global_vals;
  const auto keep_total = static_cast<std::int64_t>(std::ceil(opt.density * static_cast<double>(std::max(n, m))));
  std::vector<char> fixed(static_cast<std::size_t>(N), 0);
  std::int64_t pin = -1;
  for (std::int64_t i = 0; i < n; ++i) fixed[i] = !(p.a[i] > 0);
  for (std::int64_t j = 0; j < m; ++j) {
    fixed[n + j] = !(p.b[j] > 0);
    if (p.b[j] > 0) pin = j;
  }
  fixed[n + pin] = 1;  // removes the null direction (1, -1)
  double drop = opt.drop_share;
  std::int64_t keep = std::min(opt.max_keep, m);
  detail::SparseRows S;
  detail::NewtonDirect direct;
  bool prefer_direct = false;   // auto: the direct solve paid at the last step
  std::int64_t last_cg = 0;     // iterations of the last CG solve (auto: how much CG struggles)
  double direct_refused = 0.0;  // flops of the last direct solve found too costly (auto)

  eng.invalidate();  // P below overwrites the kernel buffer
  auto st = detail::evaluate_plan(p, f, g, P, r, c, scratch, nt, false);
  while (true) {
    if (!st.finite) {
      info.status = Status::non_finite;
      break;
    }
    info.residual = st.marginal_error;
    if (st.marginal_error <= opt.tol) {
      info.status = Status::converged;
      break;
    }
    if (out.newton_iterations >= opt.max_newton) {
      info.status = Status::max_iter;
      break;
    }
    if (control && control->poll()) {
      info.status = Status::interrupted;
      break;
    }
    // gradient of L (ascent) and the Newton system scaled by reg
    double gd = 0.0;
    for (std::int64_t i = 0; i < n; ++i) rhs[i] = fixed[i] ? 0.0 : (p.a[i] - r[i]);
    for (std::int64_t j = 0; j < m; ++j) rhs[n + j] = fixed[n + j] ? 0.0 : (p.b[j] - c[j]);
    if (global)
      detail::sparsify_global(p, P, keep_total, nt, global_vals, S);
    else
      detail::sparsify(p, P, r, drop, keep, nt, S);
    for (auto& v : rhs) v *= p.reg;
    const double err_before = st.marginal_error;
    const double rtol = std::min(0.1, std::sqrt(st.marginal_error));
    // Linear solve. "direct": Schur complement + sparse Cholesky. "auto": the
    // direct solve when CG is known to struggle here (the last CG solve needed
    // more than `direct_after` iterations) and the factorization costs no more
    // flops than that CG solve (at least `kDirectWorth` iterations' worth);
    // else CG, stopped after `direct_after` iterations to try the direct solve,
    // and continued where it stopped when that costs too much.
    const double cg_flops_per_iter = 4.0 * static_cast<double>(S.nnz()) + 10.0 * static_cast<double>(N);
    const LinearSolver lin = paper ? LinearSolver::cg : opt.linear_solver;  // the paper: CG
    const bool auto_direct = lin == LinearSolver::automatic && std::min(n, m) <= opt.direct_max_size;
    const double cap = lin == LinearSolver::direct
                           ? std::numeric_limits<double>::infinity()
                           : std::max(kDirectWorth, static_cast<double>(last_cg)) * cg_flops_per_iter;
    bool solved = false;
    auto try_direct = [&]() {
      const auto res = direct.solve(S, r, c, fixed, rhs, d, nt, cap);
      solved = res == detail::NewtonDirect::Result::solved;
      if (solved) ++out.direct_solves;
      if (res == detail::NewtonDirect::Result::too_costly) direct_refused = direct.last_flops();
      prefer_direct = solved;
    };
    const bool direct_first = lin == LinearSolver::direct || (auto_direct && (prefer_direct || last_cg > opt.direct_after) &&
                                                         direct_refused <= cap);
    if (direct_first) try_direct();
    if (!solved) {
      // (probe only until a factorization was once found too costly: after
      // that, only a CG solve as costly as it brings the direct solve back)
      const bool probe = auto_direct && !direct_first && direct_refused == 0.0 && opt.direct_after < opt.cg_maxiter;
      std::int64_t its = detail::pcg_newton(S, r, c, fixed, rhs, d, rtol, probe ? opt.direct_after : opt.cg_maxiter, nt);
      if (probe && its >= opt.direct_after) {
        try_direct();
        if (!solved)  // continue CG where it stopped
          its += detail::pcg_newton(S, r, c, fixed, rhs, d, rtol, opt.cg_maxiter - its, nt, true);
      }
      if (!solved) last_cg = its;
      out.cg_iterations += its;
    }
    if (control && control->poll()) {
      info.status = Status::interrupted;
      break;
    }
    for (std::int64_t k = 0; k < N; ++k) gd += d[k] * rhs[k] / p.reg;

    // Armijo backtracking on L (or any decrease of the marginal error, which
    // stays measurable when L's change is below rounding near the optimum).
    bool accepted = false;
    // P changes by exp(step / reg): a first trial that moves a potential by
    // many reg would only be cut back by the line search, one exp pass a try.
    double dmax = 0.0;
    for (std::int64_t k = 0; k < N; ++k) dmax = std::max(dmax, std::abs(d[k]));
    double alpha = dmax * opt.max_step > 0 && dmax > opt.max_step * p.reg ? opt.max_step * p.reg / dmax : 1.0;
    detail::PlanStats trial;
    const std::int64_t tries = paper ? opt.paper_line_search : 8;
    for (std::int64_t ls = 0; ls < tries; ++ls, alpha *= 0.5) {
      for (std::int64_t i = 0; i < n; ++i) f_try[i] = fixed[i] ? f[i] : static_cast<Scalar>(f[i] + alpha * d[i]);
      for (std::int64_t j = 0; j < m; ++j)
        g_try[j] = fixed[n + j] ? g[j] : static_cast<Scalar>(g[j] + alpha * d[n + j]);
      trial = detail::evaluate_plan(p, f_try.data(), g_try.data(), Ptrial, rt, ct, scratch, nt, false);
      if (!trial.finite) continue;
      if (trial.dual >= st.dual + 1e-4 * alpha * gd || trial.marginal_error < st.marginal_error) {
        accepted = true;
        break;
      }
    }
    if (accepted) {
      ++out.newton_iterations;
      const double ratio = trial.marginal_error / st.marginal_error;
      std::copy(f_try.begin(), f_try.end(), f);
      std::copy(g_try.begin(), g_try.end(), g);
      std::swap(P, Ptrial);
      std::swap(r, rt);
      std::swap(c, ct);
      st = trial;
      if (!paper && (ratio > 0.5 || alpha < 1.0)) {  // stalling: a denser Hessian
        drop = std::max(drop * 0.1, 1e-12);
        keep = std::min(keep * 2, m);
      }
      if (opt.history) info.history.push_back(st.marginal_error);
      info.residual = st.marginal_error;
      if (!monitor("newton", out.newton_iterations, st.marginal_error, static_cast<const Scalar*>(f),
                   static_cast<const Scalar*>(g))) {
        info.status = Status::callback_stop;
        break;
      }
      if (paper) continue;  // Algorithm 1: Newton steps only
      if (opt.newton_sinkhorn > 0 && st.marginal_error > opt.tol && out.sinkhorn_iterations < opt.maxiter) {
        // A sparsified Newton step fixes the potentials' global shape but can
        // leave rows and columns off their marginals; a Sinkhorn iteration
        // (one exp pass) rescales them before the next step.
        eng.invalidate();  // the potentials moved: its first error must measure the columns
        if (sinkhorn_phase(0.0, opt.newton_sinkhorn, true)) return finish();
        eng.invalidate();
        P = work;
        Ptrial = Pt.data();
        st = detail::evaluate_plan(p, f, g, P, r, c, scratch, nt, false);
      }
      if (opt.stall_sinkhorn > 0 && st.marginal_error > 0.5 * err_before && st.marginal_error > opt.tol &&
          out.sinkhorn_iterations < opt.maxiter) {
        // Too little progress (far from the optimum the sparsified Hessian can
        // be a poor model, e.g. W2 on a grid at reg 1e-4, where Newton alone
        // stalls): Sinkhorn iterations, each a fraction of a Newton step's cost.
        eng.invalidate();
        if (sinkhorn_phase(0.0, opt.stall_sinkhorn)) return finish();
        eng.invalidate();
        P = work;
        Ptrial = Pt.data();
        st = detail::evaluate_plan(p, f, g, P, r, c, scratch, nt, false);
      }
    } else if (paper) {
      // Algorithm 1 has no fall-back: the solve ends here.
      ++out.newton_iterations;
      info.status = Status::breakdown;
      break;
    } else {
      // Newton failed to make progress: tighten the sparsification, run Sinkhorn.
      drop = std::max(drop * 0.1, 1e-12);
      keep = std::min(keep * 2, m);
      ++out.newton_iterations;  // the failed attempt counts against the budget
      if (out.sinkhorn_iterations >= opt.maxiter) continue;
      eng.invalidate();  // the engine's kernel buffer (work) held a plan
      if (sinkhorn_phase(0.0, opt.fallback_iter)) return finish();
      eng.invalidate();
      P = work;
      Ptrial = Pt.data();
      st = detail::evaluate_plan(p, f, g, P, r, c, scratch, nt, false);
    }
  }
  return finish();
}

}  // namespace itercore::ot
