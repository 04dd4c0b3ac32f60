#pragma once
/// One entry point over the methods (with the final plan and objective), and a
/// batched driver that solves many independent problems in parallel, one
/// problem per thread.

#include <algorithm>
#include <cstdint>
#include <vector>

#include "sinkhorn.hpp"
#include "sns.hpp"

namespace itercore::ot {

/// What `solve` returns beside the arrays.
struct Outcome {
  OtInfo it;
  detail::PlanStats stats;  ///< recomputed from the returned plan
};

/// Runs `opt.method` on (f, g) (start in, result out), then writes the plan
/// P_ij = exp((f_i + g_j - M_ij)/reg) into `plan` (n x m, also the work
/// buffer) and measures its marginal error, cost and entropic objective.
/// `opt` is taken by value: with a const reference to the caller's struct
/// (the bound, Python-owned one) the 2-thread scaling iterations measured
/// 15-20% slower (interleaved runs, n = 1000); the cause was not found.
template <class Scalar, class Monitor = NoMonitor>
Outcome solve(const Problem<Scalar>& p, Scalar* f, Scalar* g, Scalar* plan, Options opt,
              Control* control = nullptr, Monitor&& monitor = Monitor()) {
  Outcome out;
  switch (opt.method) {
    case Method::sinkhorn:
    case Method::sinkhorn_log:
      out.it = sinkhorn(p, f, g, plan, opt, control, monitor);
      break;
    case Method::sns:
    case Method::sns_paper:
      out.it = sns(p, f, g, plan, opt, control, monitor);
      break;
    default:
      throw std::invalid_argument("ot: unknown method");
  }
  std::vector<double> r, c;
  std::vector<Scalar> scratch;
  out.stats = detail::evaluate_plan(p, f, g, plan, r, c, scratch, resolve_threads(opt.n_threads), true);
  out.it.info.residual = out.stats.marginal_error;
  return out;
}

/// Many problems of the same size n x m. Problem k reads a + k n, b + k m and
/// M + k n m (or M itself when `shared_cost`), and writes f + k n, g + k m,
/// plan + k n m and outcomes[k]. Problems run in parallel, one per thread
/// (each single-threaded); Ctrl-C is polled between rounds of problems.
/// Returns Status::interrupted when a poll asked to stop (later problems are
/// left unsolved), else Status::converged (per-problem statuses in outcomes).
template <class Scalar>
Status solve_batch(std::int64_t batch, std::int64_t n, std::int64_t m, const Scalar* a, const Scalar* b,
                   const Scalar* M, bool shared_cost, double reg, Scalar* f, Scalar* g, Scalar* plan,
                   const Options& opt, std::vector<Outcome>& outcomes, Control* control = nullptr) {
  if (batch < 0) throw std::invalid_argument("ot: batch must be >= 0");
  const int nt = resolve_threads(opt.n_threads);
  outcomes.assign(static_cast<std::size_t>(batch), Outcome{});
  Options one = opt;
  one.n_threads = 1;
  if (batch > 0) {
    Problem<Scalar> p0{n, m, a, b, M, reg};
    detail::check_problem(p0, opt);  // throws here, not inside a parallel region
  }
  for (std::int64_t start = 0; start < batch; start += nt) {
    if (control && control->poll()) return Status::interrupted;
    const std::int64_t stop = std::min(batch, start + nt);
#pragma omp parallel for num_threads(nt) if (nt > 1 && stop - start > 1) schedule(dynamic, 1)
    for (std::int64_t k = start; k < stop; ++k) {
      Problem<Scalar> pk{n, m, a + k * n, b + k * m, shared_cost ? M : M + k * n * m, reg};
      outcomes[static_cast<std::size_t>(k)] = solve(pk, f + k * n, g + k * m, plan + k * n * m, one);
    }
  }
  return Status::converged;
}

}  // namespace itercore::ot
