// pybind11 glue for itercore.linalg (relaxation): SOR, SSOR, SSOR-PCG and
// multicolour plans, in the _core.linalg submodule. Validation of the arrays
// lives in src/itercore/linalg.py; the options structs check themselves.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "binding_utils.hpp"
#include "itercore/linalg/multicolor.hpp"
#include "itercore/linalg/relaxation.hpp"

namespace py = pybind11;
using namespace itercore;
using namespace itercore::linalg;
using bind::carray;

namespace {

template <class Index>
Coloring<Index> coloring_of(const carray<Index>& color_ptr) {
  Coloring<Index> c;
  if (color_ptr.size() > 1) {
    c.color_ptr = color_ptr.data();
    c.n_colors = static_cast<Index>(color_ptr.size() - 1);
  }
  return c;
}

template <class T>
carray<T> to_array(const std::vector<T>& v) {
  carray<T> out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

/// A square system as _System in linalg.py holds it: the CSR arrays (natural
/// or colour order), 1 / diag, the diagonal's positions and the colour ranges.
template <class Scalar, class Index>
struct System {
  CsrView<Scalar, Index> A;
  const Scalar* inv_diag;
  const Index* diag_pos;
  Coloring<Index> coloring;
};

template <class Scalar, class Index>
System<Scalar, Index> system_of(Index n, const carray<Index>& indptr, const carray<Index>& indices,
                                const carray<Scalar>& data, const carray<Scalar>& inv_diag,
                                const carray<Index>& diag_pos, const carray<Index>& color_ptr) {
  bind::check_length(inv_diag, n, "inv_diag");
  bind::check_length(diag_pos, n, "diag_pos");
  return {bind::csr_view<Scalar, Index>(n, n, indptr, indices, data), inv_diag.data(), diag_pos.data(),
          coloring_of(color_ptr)};
}

/// The monitor of a solve: the one progress report, with a copy of x.
template <class Scalar>
auto x_monitor(bind::Callback& cb, const Scalar* x, py::ssize_t n) {
  return [&cb, x, n](std::int64_t it, double residual) {
    return cb.report(it, residual, [&] { return py::dict(py::arg("x") = bind::copy_of(x, n)); });
  };
}

#define ITERCORE_SYSTEM_ARGS                                                                                    \
  py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),    \
      py::arg("inv_diag").noconvert(), py::arg("diag_pos").noconvert(), py::arg("color_ptr").noconvert()

template <class Scalar, class Index>
void bind_relaxation(py::module_& m) {
  using Sys = System<Scalar, Index>;
  m.def(
      "diagonal",
      [](Index rows, Index cols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data) {
        auto A = bind::csr_view<Scalar, Index>(rows, cols, indptr, indices, data);
        carray<Scalar> inv_diag(static_cast<py::ssize_t>(rows));
        carray<Index> diag_pos(static_cast<py::ssize_t>(rows));
        Index bad;
        {
          py::gil_scoped_release nogil;
          bad = diagonal_inverse(A, inv_diag.mutable_data(), diag_pos.mutable_data());
        }
        return py::make_tuple(inv_diag, diag_pos, bad);
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert());

  m.def(
      "sor",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& inv_diag, const carray<Index>& diag_pos, const carray<Index>& color_ptr,
         const carray<Scalar>& b, carray<Scalar> x, const SorOptions& opt, py::object callback) {
        const Sys s = system_of(n, indptr, indices, data, inv_diag, diag_pos, color_ptr);
        bind::check_length(b, n, "b");
        bind::check_length(x, n, "x");
        bind::Callback cb(std::move(callback));
        Scalar* xp = x.mutable_data();
        auto monitor = x_monitor(cb, xp, n);
        const Scalar* bp = b.data();
        return bind::result_dict(bind::run_released(cb, [&](Control* control) {
          return sor_solve(s.A, s.inv_diag, s.diag_pos, bp, xp, opt, s.coloring, control, monitor);
        }));
      },
      ITERCORE_SYSTEM_ARGS, py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("options"),
      py::arg("callback"));

  // `iterations` sweeps in place, no residuals (reads omega, sweep, n_threads).
  m.def(
      "sor_sweep",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& inv_diag, const carray<Index>& diag_pos, const carray<Index>& color_ptr,
         const carray<Scalar>& b, carray<Scalar> x, const SorOptions& opt, std::int64_t iterations) {
        const Sys s = system_of(n, indptr, indices, data, inv_diag, diag_pos, color_ptr);
        bind::check_length(b, n, "b");
        bind::check_length(x, n, "x");
        opt.check();
        Scalar* xp = x.mutable_data();
        const Scalar* bp = b.data();
        bind::run_released(bind::Callback(py::none()), [&](Control* control) {
          const int nt = resolve_threads(opt.n_threads);
          for (std::int64_t k = 0; k < iterations; ++k) {
            if (control->poll()) return Status::interrupted;
            sor_sweep(s.A, s.inv_diag, s.diag_pos, bp, xp, static_cast<Scalar>(opt.omega), opt.sweep, s.coloring, nt);
          }
          return Status::converged;
        });
      },
      ITERCORE_SYSTEM_ARGS, py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("options"),
      py::arg("iterations"));

  // z = M^{-1} r for the SSOR preconditioner (reads omega, n_threads).
  m.def(
      "ssor_apply",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& inv_diag, const carray<Index>& diag_pos, const carray<Index>& color_ptr,
         const carray<Scalar>& r, const SsorPcgOptions& opt) {
        const Sys s = system_of(n, indptr, indices, data, inv_diag, diag_pos, color_ptr);
        bind::check_length(r, n, "r");
        carray<Scalar> z(static_cast<py::ssize_t>(n));
        Scalar* zp = z.mutable_data();
        {
          py::gil_scoped_release nogil;
          ssor_apply(s.A, s.inv_diag, s.diag_pos, static_cast<Scalar>(opt.omega), r.data(), zp, s.coloring,
                     opt.n_threads);
        }
        return z;
      },
      ITERCORE_SYSTEM_ARGS, py::arg("r").noconvert(), py::arg("options"));

  m.def(
      "ssor_pcg",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& inv_diag, const carray<Index>& diag_pos, const carray<Index>& color_ptr,
         const carray<Scalar>& b, carray<Scalar> x, const SsorPcgOptions& opt, py::object callback) {
        const Sys s = system_of(n, indptr, indices, data, inv_diag, diag_pos, color_ptr);
        bind::check_length(b, n, "b");
        bind::check_length(x, n, "x");
        bind::Callback cb(std::move(callback));
        Scalar* xp = x.mutable_data();
        auto monitor = x_monitor(cb, xp, n);
        const Scalar* bp = b.data();
        const bool x_each_iteration = cb.active();
        return bind::result_dict(bind::run_released(cb, [&](Control* control) {
          return ssor_pcg_solve(s.A, s.inv_diag, s.diag_pos, bp, xp, opt, s.coloring, control, monitor,
                                x_each_iteration);
        }));
      },
      ITERCORE_SYSTEM_ARGS, py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("options"),
      py::arg("callback"));
}

#undef ITERCORE_SYSTEM_ARGS

template <class Index>
void bind_plan(py::module_& m) {
  m.def(
      "multicolor_plan",
      [](Index rows, const carray<Index>& indptr, const carray<Index>& indices) {
        CsrView<double, Index> A;  // the plan reads the pattern only
        A.rows = A.cols = rows;
        if (indptr.ndim() != 1 || indptr.shape(0) != static_cast<py::ssize_t>(rows) + 1)
          throw std::invalid_argument("indptr must have rows + 1 entries");
        A.indptr = indptr.data();
        A.indices = indices.data();
        MulticolorPlan<Index> plan;
        {
          py::gil_scoped_release nogil;
          plan = build_multicolor_plan(A);
        }
        return py::make_tuple(to_array(plan.perm), to_array(plan.color_ptr), to_array(plan.indptr),
                              to_array(plan.indices), to_array(plan.source));
      },
      py::arg("rows"), py::arg("indptr").noconvert(), py::arg("indices").noconvert());
}

}  // namespace

void register_linalg(py::module_& parent) {
  py::module_ m = parent.def_submodule("linalg", "itercore.linalg's cores");
  py::enum_<Sweep>(m, "Sweep", "Row order of an SOR sweep.")
      .value("forward", Sweep::forward)
      .value("backward", Sweep::backward)
      .value("symmetric", Sweep::symmetric);
  bind::options_class<SorOptions>(m, "SorOptions", "Options of linalg::sor_solve (itercore/linalg/relaxation.hpp).")
      .field("omega", &SorOptions::omega, "relaxation parameter, in (0, 2); 1 is Gauss-Seidel")
      .field("sweep", &SorOptions::sweep, "row order of a sweep; symmetric = forward then backward, counted once")
      .field("rtol", &SorOptions::rtol, "stop when ||b - A x|| <= max(rtol ||b||, atol)")
      .field("atol", &SorOptions::atol, "absolute floor of the stopping test")
      .field("maxiter", &SorOptions::maxiter, "sweeps; -1: max(10 n, 10000)")
      .field("check_every", &SorOptions::check_every, "largest gap, in sweeps, between residual checks")
      .field("n_threads", &SorOptions::n_threads, "<= 0: the OpenMP default (multicolour sweeps and residuals)")
      .field("history", &SorOptions::history, "keep the residual of every check");
  bind::options_class<SsorPcgOptions>(m, "SsorPcgOptions",
                                      "Options of linalg::ssor_pcg_solve (itercore/linalg/relaxation.hpp).")
      .field("omega", &SsorPcgOptions::omega, "SSOR parameter, in (0, 2); 1 is symmetric Gauss-Seidel")
      .field("rtol", &SsorPcgOptions::rtol, "stop when ||b - A x|| <= max(rtol ||b||, atol) (true residual)")
      .field("atol", &SsorPcgOptions::atol, "absolute floor of the stopping test")
      .field("maxiter", &SsorPcgOptions::maxiter, "CG iterations; -1: 10 n")
      .field("n_threads", &SsorPcgOptions::n_threads,
             "<= 0: the OpenMP default (vector operations, multicolour sweeps)")
      .field("history", &SsorPcgOptions::history, "keep the (estimated) residual of every iteration")
      .field("max_restarts", &SsorPcgOptions::max_restarts,
             "restarts from the true residual when the recursion drifted, then breakdown");
  bind_relaxation<double, std::int32_t>(m);
  bind_relaxation<double, std::int64_t>(m);
  bind_relaxation<float, std::int32_t>(m);
  bind_relaxation<float, std::int64_t>(m);
  bind_plan<std::int32_t>(m);
  bind_plan<std::int64_t>(m);
}
