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

namespace {

ot::Options make_options(std::int64_t max_iter, std::int64_t max_newton, double tol, double switch_tol,
                         std::int64_t warmup_iter, int n_threads, bool record_history, const py::dict& extra) {
  ot::Options o;
  if (extra.contains("cg_maxiter")) o.cg_max_iter = extra["cg_maxiter"].cast<std::int64_t>();
  if (extra.contains("max_keep")) o.max_keep = extra["max_keep"].cast<std::int64_t>();
  if (extra.contains("drop_share")) o.drop_share = extra["drop_share"].cast<double>();
  if (extra.contains("max_step")) o.max_step = extra["max_step"].cast<double>();
  if (extra.contains("newton_sinkhorn")) o.newton_sinkhorn = extra["newton_sinkhorn"].cast<std::int64_t>();
  if (extra.contains("stall_sinkhorn")) o.stall_sinkhorn = extra["stall_sinkhorn"].cast<std::int64_t>();
  if (extra.contains("linear_solver")) o.linear_solver = extra["linear_solver"].cast<int>();
  if (extra.contains("direct_after")) o.direct_after = extra["direct_after"].cast<std::int64_t>();
  if (extra.contains("direct_max_size")) o.direct_max_size = extra["direct_max_size"].cast<std::int64_t>();
  if (extra.contains("fallback_iter")) o.fallback_iter = extra["fallback_iter"].cast<std::int64_t>();
  o.max_iter = max_iter;
  o.max_newton = max_newton;
  o.tol = tol;
  o.switch_tol = switch_tol;
  o.warmup_iter = warmup_iter;
  o.n_threads = n_threads;
  o.record_history = record_history;
  return o;
}

template <class T>
void require_shape(const carray<T>& x, std::initializer_list<py::ssize_t> shape, const char* name) {
  bool ok = x.ndim() == static_cast<py::ssize_t>(shape.size());
  py::ssize_t k = 0;
  for (auto s : shape) ok = ok && x.shape(k++) == s;
  if (!ok) throw std::invalid_argument(std::string(name) + ": wrong shape");
}

py::dict outcome_dict(const ot::Outcome& o, double reg) {
  py::dict d = bind::info_dict(o.it.info);
  d["sinkhorn_iterations"] = o.it.sinkhorn_iterations;
  d["newton_iterations"] = o.it.newton_iterations;
  d["cg_iterations"] = o.it.cg_iterations;
  d["direct_solves"] = o.it.direct_solves;
  d["marginal_error"] = o.stats.marginal_error;
  d["cost"] = o.stats.cost;
  d["value"] = o.stats.cost + reg * o.stats.entropy_term;
  d["dual"] = o.stats.dual;
  return d;
}

template <class Scalar>
void bind_ot(py::module_& m) {
  m.def(
      "ot_solve",
      [](const carray<Scalar>& a, const carray<Scalar>& b, const carray<Scalar>& M, double reg, carray<Scalar> f,
         carray<Scalar> g, carray<Scalar> plan, int method, std::int64_t max_iter, std::int64_t max_newton,
         double tol, double switch_tol, std::int64_t warmup_iter, int n_threads, bool record_history,
         py::object callback, const py::dict& extra) {
        if (a.ndim() != 1 || b.ndim() != 1) throw std::invalid_argument("a, b: must be 1-D");
        const py::ssize_t n = a.shape(0), mm = b.shape(0);
        require_shape(M, {n, mm}, "M");
        require_shape(f, {n}, "f");
        require_shape(g, {mm}, "g");
        require_shape(plan, {n, mm}, "plan");
        if (method < 0 || method > 2) throw std::invalid_argument("method: unknown");
        ot::Problem<Scalar> p{n, mm, a.data(), b.data(), M.data(), reg};
        const auto opt = make_options(max_iter, max_newton, tol, switch_tol, warmup_iter, n_threads, record_history, extra);
        bind::Callback cb(std::move(callback));
        auto monitor = [&](const char* phase, std::int64_t it, double err, const Scalar* fp, const Scalar* gp) {
          if (!cb.active()) return true;
          py::gil_scoped_acquire gil;
          carray<Scalar> fc(n, fp), gc(mm, gp);  // copies: the core keeps iterating on its own
          return cb(std::string(phase), it, err, fc, gc);
        };
        Scalar* fp = f.mutable_data();
        Scalar* gp = g.mutable_data();
        Scalar* pp = plan.mutable_data();
        ot::Outcome out;
        {
          py::gil_scoped_release nogil;
          Control control = bind::python_control();
          out = ot::solve(p, fp, gp, pp, static_cast<ot::Method>(method), opt, &control, monitor);
        }
        bind::raise_if_interrupted(out.it.info, &cb);
        return outcome_dict(out, reg);
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("M").noconvert(), py::arg("reg"),
      py::arg("f").noconvert(), py::arg("g").noconvert(), py::arg("plan").noconvert(), py::arg("method"),
      py::arg("max_iter"), py::arg("max_newton"), py::arg("tol"), py::arg("switch_tol"), py::arg("warmup_iter"),
      py::arg("n_threads"), py::arg("record_history"), py::arg("callback"), py::arg("extra"));

  m.def(
      "ot_solve_batch",
      [](const carray<Scalar>& a, const carray<Scalar>& b, const carray<Scalar>& M, double reg, carray<Scalar> f,
         carray<Scalar> g, carray<Scalar> plan, int method, std::int64_t max_iter, std::int64_t max_newton,
         double tol, double switch_tol, std::int64_t warmup_iter, int n_threads, const py::dict& extra) {
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
        if (method < 0 || method > 2) throw std::invalid_argument("method: unknown");
        const auto opt = make_options(max_iter, max_newton, tol, switch_tol, warmup_iter, n_threads, false, extra);
        std::vector<ot::Outcome> outs;
        Status st;
        const Scalar *ap = a.data(), *bp = b.data(), *Mp = M.data();
        Scalar *fp = f.mutable_data(), *gp = g.mutable_data(), *pp = plan.mutable_data();
        {
          py::gil_scoped_release nogil;
          Control control = bind::python_control();
          st = ot::solve_batch(B, n, mm, ap, bp, Mp, shared, reg, fp, gp, pp, static_cast<ot::Method>(method), opt,
                               outs, &control);
        }
        SolveInfo whole;
        whole.status = st;
        bind::raise_if_interrupted(whole);
        py::list results;
        for (const auto& o : outs) results.append(outcome_dict(o, reg));
        return results;
      },
      py::arg("a").noconvert(), py::arg("b").noconvert(), py::arg("M").noconvert(), py::arg("reg"),
      py::arg("f").noconvert(), py::arg("g").noconvert(), py::arg("plan").noconvert(), py::arg("method"),
      py::arg("max_iter"), py::arg("max_newton"), py::arg("tol"), py::arg("switch_tol"), py::arg("warmup_iter"),
      py::arg("n_threads"), py::arg("extra"));
}

}  // namespace

void register_ot(py::module_& m) {
  bind_ot<double>(m);
  bind_ot<float>(m);
  // For tests: switch the AVX2 exp kernel of the log-domain passes off/on
  // (returns whether it was allowed), and whether it runs now.
  m.def("ot_allow_simd_exp", [](bool on) { return ot::detail::simd_exp_enabled().exchange(on); }, py::arg("on"));
  m.def("ot_simd_exp_active", [] { return ot::detail::simd_exp_active(); });
  // For tests (private): one sparsified Newton system [[diag(r), S], [S^T, diag(c)]] x = rhs
  // with S given dense (its nonzeros are kept), `fixed` coordinates held at 0;
  // direct=true: the Schur-complement Cholesky path, else Jacobi-PCG to rtol.
  m.def(
      "_ot_newton_system",
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
