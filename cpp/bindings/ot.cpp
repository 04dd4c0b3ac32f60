// pybind11 glue for itercore.ot: entropic optimal transport (Sinkhorn in the
// log domain with a scaling fast path, Sinkhorn-Newton-Sparse, batches).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "binding_utils.hpp"
#include "itercore/ot/batch.hpp"
#include "itercore/ot/sns.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace itercore::ot {
/// For bind::run_released.
inline Status status_of(const Outcome& o) { return o.it.info.status; }
}  // namespace itercore::ot

namespace {

template <class T>
void require_shape(const carray<T>& x, std::initializer_list<py::ssize_t> shape, const char* name) {
  bool ok = x.ndim() == static_cast<py::ssize_t>(shape.size());
  py::ssize_t k = 0;
  for (auto s : shape) ok = ok && x.shape(k++) == s;
  if (!ok) throw std::invalid_argument(std::string(name) + ": wrong shape");
}

py::dict outcome_dict(const ot::Outcome& o, double reg) {
  py::dict d = bind::result_dict(o.it.info);
  d["nit_sinkhorn"] = o.it.sinkhorn_iterations;
  d["nit_newton"] = o.it.newton_iterations;
  d["nit_cg"] = o.it.cg_iterations;
  d["nit_direct"] = o.it.direct_solves;
  d["marginal_error"] = o.stats.marginal_error;
  d["cost"] = o.stats.cost;
  d["value"] = o.stats.cost + reg * o.stats.entropy_term;
  d["dual"] = o.stats.dual;
  return d;
}

template <class Scalar>
void bind_ot(py::module_& m) {
  m.def(
      "solve",
      [](const carray<Scalar>& a, const carray<Scalar>& b, const carray<Scalar>& M, double reg, carray<Scalar> f,
         carray<Scalar> g, carray<Scalar> plan, const ot::Options& opt, py::object callback) {
        if (a.ndim() != 1 || b.ndim() != 1) throw std::invalid_argument("a, b: must be 1-D");
        const py::ssize_t n = a.shape(0), mm = b.shape(0);
        require_shape(M, {n, mm}, "M");
        require_shape(f, {n}, "f");
        require_shape(g, {mm}, "g");
        require_shape(plan, {n, mm}, "plan");
        ot::Problem<Scalar> p{n, mm, a.data(), b.data(), M.data(), reg};
        bind::Callback cb(std::move(callback));
        auto monitor = [&](const char* phase, std::int64_t it, double err, const Scalar* fp, const Scalar* gp) {
          return cb.report(it, err, [&] {
            return py::dict(py::arg("phase") = phase, py::arg("f") = bind::copy_of(fp, n),
                            py::arg("g") = bind::copy_of(gp, mm));
          });
        };
        Scalar* fp = f.mutable_data();
        Scalar* gp = g.mutable_data();
        Scalar* pp = plan.mutable_data();
        const auto out = bind::run_released(cb, [&](Control* control) {
          return ot::solve(p, fp, gp, pp, opt, control, monitor);
        });
        return outcome_dict(out, reg);
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("M").noconvert(), py::arg("reg"),
      py::arg("f").noconvert(), py::arg("g").noconvert(), py::arg("plan").noconvert(), py::arg("options"),
      py::arg("callback"));

  m.def(
      "solve_batch",
      [](const carray<Scalar>& a, const carray<Scalar>& b, const carray<Scalar>& M, double reg, carray<Scalar> f,
         carray<Scalar> g, carray<Scalar> plan, const ot::Options& opt) {
        if (a.ndim() != 2 || b.ndim() != 2 || a.shape(0) != b.shape(0))
          throw std::invalid_argument("a, b: must be 2-D with the same number of rows");
        const py::ssize_t B = a.shape(0), n = a.shape(1), mm = b.shape(1);
        const bool shared = M.ndim() == 2;
        if (shared)
          require_shape(M, {n, mm}, "M");
        else
          require_shape(M, {B, n, mm}, "M");
        require_shape(f, {B, n}, "f");
        require_shape(g, {B, mm}, "g");
        require_shape(plan, {B, n, mm}, "plan");
        std::vector<ot::Outcome> outs;
        const Scalar *ap = a.data(), *bp = b.data(), *Mp = M.data();
        Scalar *fp = f.mutable_data(), *gp = g.mutable_data(), *pp = plan.mutable_data();
        bind::run_released(bind::Callback(py::none()), [&](Control* control) {
          return ot::solve_batch(B, n, mm, ap, bp, Mp, shared, reg, fp, gp, pp, opt, outs, control);
        });
        py::list results;
        for (const auto& o : outs) results.append(outcome_dict(o, reg));
        return results;
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("M").noconvert(), py::arg("reg"),
      py::arg("f").noconvert(), py::arg("g").noconvert(), py::arg("plan").noconvert(), py::arg("options"));
}

}  // namespace

void register_ot(py::module_& parent) {
  py::module_ m = parent.def_submodule("ot", "itercore.ot's cores");
  py::enum_<ot::Method>(m, "Method", "Which iteration runs.")
      .value("sinkhorn", ot::Method::sinkhorn)
      .value("sinkhorn_log", ot::Method::sinkhorn_log)
      .value("sns", ot::Method::sns)
      .value("sns_paper", ot::Method::sns_paper);
  py::enum_<ot::Sparsify>(m, "Sparsify", "How SNS sparsifies its Newton matrix.")
      .value("rows", ot::Sparsify::rows)
      .value("global", ot::Sparsify::global);
  py::enum_<ot::LinearSolver>(m, "LinearSolver", "How SNS solves its Newton systems.")
      .value("auto", ot::LinearSolver::automatic)
      .value("cg", ot::LinearSolver::cg)
      .value("direct", ot::LinearSolver::direct);
  bind::options_class<ot::Options>(m, "Options", "Options of ot::solve and ot::solve_batch (itercore/ot/sinkhorn.hpp).")
      .field("method", &ot::Options::method, "the iteration")
      .field("maxiter", &ot::Options::maxiter, "Sinkhorn iterations (SNS: warm-up and fall-back ones count)")
      .field("max_newton", &ot::Options::max_newton, "Newton steps (SNS only)")
      .field("tol", &ot::Options::tol, "stop when the L1 marginal error <= tol")
      .field("n_threads", &ot::Options::n_threads, "<= 0: the OpenMP default")
      .field("history", &ot::Options::history, "keep the error of every check")
      .field("switch_tol", &ot::Options::switch_tol, "SNS: Sinkhorn warm-up until the error is below this ...")
      .field("warmup_iter", &ot::Options::warmup_iter, "... or this many warm-up iterations")
      .field("predict_sinkhorn", &ot::Options::predict_sinkhorn,
             "sns: after the warm-up, Sinkhorn goes on while its observed linear rate predicts tol within this many "
             "more iterations (0: never)")
      .field("drop_share", &ot::Options::drop_share,
             "initial share of each row's mass the sparsified Hessian may drop (shrunk tenfold on stalls)")
      .field("max_keep", &ot::Options::max_keep, "initial cap on kept Hessian entries per row (doubles on stalls)")
      .field("cg_maxiter", &ot::Options::cg_maxiter, "conjugate-gradient iterations per Newton step")
      .field("fallback_iter", &ot::Options::fallback_iter, "Sinkhorn iterations after a failed Newton step")
      .field("max_step", &ot::Options::max_step, "first trial step moves no potential by more than max_step * reg")
      .field("newton_sinkhorn", &ot::Options::newton_sinkhorn,
             "log-domain Sinkhorn iterations after each accepted Newton step")
      .field("stall_sinkhorn", &ot::Options::stall_sinkhorn,
             "Sinkhorn iterations after a Newton step that did not halve the error")
      .field("linear_solver", &ot::Options::linear_solver, "how Newton systems are solved")
      .field("direct_after", &ot::Options::direct_after,
             "auto: try the direct solve once a CG solve needed more iterations than this")
      .field("direct_max_size", &ot::Options::direct_max_size, "auto: direct only when min(n, m) is at most this")
      .field("sparsify", &ot::Options::sparsify,
             "sns: per-row mass share ('rows') or the largest entries globally ('global'); sns_paper: always global")
      .field("density", &ot::Options::density,
             "global sparsification keeps density * max(n, m) plan entries (Tang et al.: 2; 15 for L1 costs)")
      .field("paper_line_search", &ot::Options::paper_line_search,
             "sns_paper: backtracking halvings before the step counts as failed");
  bind_ot<double>(m);
  bind_ot<float>(m);

  py::module_ t = parent.def_submodule("_testing");
  // Switch the AVX2 kernels (the exp of the log-domain passes and the scaling
  // path's row kernels) off/on (returns whether they were allowed), and
  // whether they run now.
  t.def("ot_allow_simd_exp", [](bool on) { return ot::detail::simd_exp_enabled().exchange(on); }, py::arg("on"));
  t.def("ot_simd_exp_active", [] { return ot::detail::simd_exp_active(); });
  // For tests (private): one sparsified Newton system [[diag(r), S], [S^T, diag(c)]] x = rhs
  // with S given dense (its nonzeros are kept), `fixed` coordinates held at 0;
  // direct=true: the Schur-complement Cholesky path, else Jacobi-PCG to rtol.
  t.def(
      "ot_newton_system",
      [](const carray<double>& Sd, const carray<double>& r, const carray<double>& c, const carray<bool>& fixed,
         const carray<double>& rhs, bool direct, double rtol) {
        require_shape(Sd, {r.shape(0), c.shape(0)}, "S");
        const std::int64_t n = r.shape(0), mm = c.shape(0);
        require_shape(fixed, {n + mm}, "fixed");
        require_shape(rhs, {n + mm}, "rhs");
        ot::detail::SparseRows S;
        S.n = n;
        S.width = std::max<std::int64_t>(mm, 1);
        S.count.assign(static_cast<std::size_t>(n), 0);
        S.col.resize(static_cast<std::size_t>(n * S.width));
        S.val.resize(static_cast<std::size_t>(n * S.width));
        for (std::int64_t i = 0; i < n; ++i)
          for (std::int64_t j = 0; j < mm; ++j)
            if (Sd.data()[i * mm + j] != 0.0) {
              const std::int64_t k = S.count[i]++;
              S.col[i * S.width + k] = j;
              S.val[i * S.width + k] = Sd.data()[i * mm + j];
            }
        std::vector<double> rv(r.data(), r.data() + n), cv(c.data(), c.data() + mm), b(rhs.data(), rhs.data() + n + mm), x;
        std::vector<char> fx(fixed.data(), fixed.data() + n + mm);
        if (direct) {
          ot::detail::NewtonDirect solver;
          const auto res = solver.solve(S, rv, cv, fx, b, x, 1, std::numeric_limits<double>::infinity());
          if (res != ot::detail::NewtonDirect::Result::solved) throw std::runtime_error("direct Newton solve failed");
        } else {
          ot::detail::pcg_newton(S, rv, cv, fx, b, x, rtol, 100000, 1);
        }
        return carray<double>(static_cast<py::ssize_t>(n + mm), x.data());
      },
      py::arg("S").noconvert(), py::arg("r").noconvert(), py::arg("c").noconvert(), py::arg("fixed").noconvert(),
      py::arg("rhs").noconvert(), py::arg("direct"), py::arg("rtol"));
}
