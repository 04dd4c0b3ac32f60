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
/// removes the null direction (1, -1)) and is solved by Jacobi-preconditioned CG.
/// Steps are damped by Armijo backtracking on L; a step that fails falls back to
/// Sinkhorn iterations. Sparsity adapts: `drop` shrinks and `keep` grows whenever
/// Newton progress stalls.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

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

/// Solves [[diag(r), S], [S^T, diag(c)]] x = rhs over the free coordinates
/// (`fixed` ones stay 0) by Jacobi-preconditioned CG. Returns iterations done.
inline std::int64_t pcg_newton(const SparseRows& S, const std::vector<double>& r, const std::vector<double>& c,
                               const std::vector<char>& fixed, const std::vector<double>& rhs, std::vector<double>& x,
                               double rtol, std::int64_t max_iter, int nt) {
  const std::int64_t n = S.n, m = static_cast<std::int64_t>(c.size()), N = n + m;
  const bool par = nt > 1 && S.nnz() >= kParallelEntries;  // a CG mat-vec is tiny: threads rarely pay
  std::vector<double> res(rhs), z(N), d(N), q(N), scratch;
  x.assign(static_cast<std::size_t>(N), 0.0);
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
  auto precond = [&](const std::vector<double>& v, std::vector<double>& out) {
    for (std::int64_t k = 0; k < N; ++k) {
      const double dk = k < n ? r[k] : c[k - n];
      out[k] = (fixed[k] || !(dk > 0)) ? 0.0 : v[k] / dk;
    }
  };
  for (std::int64_t k = 0; k < N; ++k)
    if (fixed[k]) res[k] = 0.0;
  double bnorm = 0.0;
  for (double v : res) bnorm += v * v;
  bnorm = std::sqrt(bnorm);
  if (!(bnorm > 0)) return 0;
  precond(res, z);
  d = z;
  double rz = 0.0;
  for (std::int64_t k = 0; k < N; ++k) rz += res[k] * z[k];
  std::int64_t it = 0;
  while (it < max_iter) {
    apply(d, q);
    double dq = 0.0;
    for (std::int64_t k = 0; k < N; ++k) dq += d[k] * q[k];
    if (!(dq > 0)) break;
    const double alpha = rz / dq;
    double rn = 0.0;
    for (std::int64_t k = 0; k < N; ++k) {
      x[k] += alpha * d[k];
      res[k] -= alpha * q[k];
      rn += res[k] * res[k];
    }
    ++it;
    if (std::sqrt(rn) <= rtol * bnorm) break;
    precond(res, z);
    double rz_new = 0.0;
    for (std::int64_t k = 0; k < N; ++k) rz_new += res[k] * z[k];
    const double beta = rz_new / rz;
    rz = rz_new;
    for (std::int64_t k = 0; k < N; ++k) d[k] = z[k] + beta * d[k];
  }
  return it;
}

}  // namespace detail

/// SNS on the potentials f (n), g (m) (start on entry, result on exit). `work`
/// is a required n x m buffer (it may be the output plan). Arguments as for
/// `sinkhorn`; the monitor sees phases "sinkhorn" and "newton".
template <class Scalar, class Monitor = NoMonitor>
OtInfo sns(const Problem<Scalar>& p, Scalar* f, Scalar* g, Scalar* work, const Options& opt,
           Control* control = nullptr, Monitor&& monitor = Monitor()) {
  detail::check_problem(p, opt);
  if (work == nullptr) throw std::invalid_argument("sns: a work buffer of n * m entries is required");
  if (!(opt.drop_share > 0 && opt.drop_share < 1)) throw std::invalid_argument("sns: drop_share must be in (0, 1)");
  if (opt.max_keep < 1) throw std::invalid_argument("sns: max_keep must be >= 1");
  const int nt = resolve_threads(opt.n_threads);
  const std::int64_t n = p.n, m = p.m, N = n + m;
  detail::sanitize_potentials(p, f, g);
  detail::SinkhornEngine<Scalar> eng(p, f, g, opt.scaling ? work : nullptr, nt, opt.scaling);
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
  auto sinkhorn_phase = [&](double until, std::int64_t budget, bool log_only = false) -> bool {
    for (std::int64_t k = 0; k < budget && out.sinkhorn_iterations < opt.max_iter; ++k) {
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
      if (opt.record_history) info.history.push_back(err);
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

  if (sinkhorn_phase(opt.switch_tol, opt.warmup_iter)) return finish();
  if (opt.max_newton == 0) return finish();

  // Newton phase.
  std::vector<Scalar> Pt(static_cast<std::size_t>(n * m));
  Scalar* P = work;
  Scalar* Ptrial = Pt.data();
  std::vector<double> r, c, rt, ct, rhs(N), d;
  std::vector<Scalar> scratch, f_try(n), g_try(m);
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
    detail::sparsify(p, P, r, drop, keep, nt, S);
    for (auto& v : rhs) v *= p.reg;
    const double err_before = st.marginal_error;
    const double rtol = std::min(0.1, std::sqrt(st.marginal_error));
    out.cg_iterations += detail::pcg_newton(S, r, c, fixed, rhs, d, rtol, opt.cg_max_iter, nt);
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
    for (int ls = 0; ls < 8; ++ls, alpha *= 0.5) {
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
      if (ratio > 0.5 || alpha < 1.0) {  // stalling: a denser Hessian
        drop = std::max(drop * 0.1, 1e-12);
        keep = std::min(keep * 2, m);
      }
      if (opt.record_history) info.history.push_back(st.marginal_error);
      info.residual = st.marginal_error;
      if (!monitor("newton", out.newton_iterations, st.marginal_error, static_cast<const Scalar*>(f),
                   static_cast<const Scalar*>(g))) {
        info.status = Status::callback_stop;
        break;
      }
      if (opt.newton_sinkhorn > 0 && st.marginal_error > opt.tol && out.sinkhorn_iterations < opt.max_iter) {
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
          out.sinkhorn_iterations < opt.max_iter) {
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
    } else {
      // Newton failed to make progress: tighten the sparsification, run Sinkhorn.
      drop = std::max(drop * 0.1, 1e-12);
      keep = std::min(keep * 2, m);
      ++out.newton_iterations;  // the failed attempt counts against the budget
      if (out.sinkhorn_iterations >= opt.max_iter) continue;
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
