// pybind11 glue for itercore.linalg (relaxation): SOR, SSOR, SSOR-PCG and
// multicolour plans. Validation lives in src/itercore/linalg.py.
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

template <class Scalar, class Index>
void bind_relaxation(py::module_& m) {
  m.def(
      "linalg_diagonal",
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
      "linalg_sor",
      [](Index rows, Index cols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& inv_diag, const carray<Index>& diag_pos, const carray<Scalar>& b, carray<Scalar> x,
         double omega, int sweep, double rtol, double atol, std::int64_t maxiter, int check_every, const carray<Index>& color_ptr,
         int n_threads, bool record_history, py::object callback) {
        auto A = bind::csr_view<Scalar, Index>(rows, cols, indptr, indices, data);
        bind::check_length(inv_diag, rows, "inv_diag");
        bind::check_length(diag_pos, rows, "diag_pos");
        bind::check_length(b, rows, "b");
        bind::check_length(x, rows, "x");
        SorOptions opt;
        opt.omega = omega;
        opt.sweep = static_cast<Sweep>(sweep);
        opt.tol = Tolerance{rtol, atol};
        opt.maxiter = maxiter;
        opt.check_every = check_every;
        opt.n_threads = n_threads;
        opt.record_history = record_history;
        bind::Callback cb(std::move(callback));
        const auto coloring = coloring_of(color_ptr);
        Scalar* xp = x.mutable_data();
        SolveInfo info;
        {
          py::gil_scoped_release nogil;
          Control control = bind::python_control();
          info = sor_solve(A, inv_diag.data(), diag_pos.data(), b.data(), xp, opt, coloring, &control,
                           [&](std::int64_t) { return cb(x); });
        }
        bind::raise_if_interrupted(info, &cb);
        return bind::info_dict(info);
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("inv_diag").noconvert(), py::arg("diag_pos").noconvert(),
      py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("omega"), py::arg("sweep"), py::arg("rtol"),
      py::arg("atol"),
      py::arg("maxiter"), py::arg("check_every"), py::arg("color_ptr").noconvert(), py::arg("n_threads"),
      py::arg("record_history"), py::arg("callback"));

  m.def(
      "linalg_sor_sweep",
      [](Index rows, Index cols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& inv_diag, const carray<Index>& diag_pos, const carray<Scalar>& b, carray<Scalar> x,
         double omega, int sweep, std::int64_t iterations, const carray<Index>& color_ptr, int n_threads) {
        auto A = bind::csr_view<Scalar, Index>(rows, cols, indptr, indices, data);
        bind::check_length(inv_diag, rows, "inv_diag");
        bind::check_length(diag_pos, rows, "diag_pos");
        bind::check_length(b, rows, "b");
        bind::check_length(x, rows, "x");
        const auto coloring = coloring_of(color_ptr);
        Scalar* xp = x.mutable_data();
        SolveInfo info;
        info.status = Status::converged;
        {
          py::gil_scoped_release nogil;
          Control control = bind::python_control();
          for (std::int64_t k = 0; k < iterations; ++k) {
            if (control.poll()) {
              info.status = Status::interrupted;
              break;
            }
            sor_sweep(A, inv_diag.data(), diag_pos.data(), b.data(), xp, static_cast<Scalar>(omega),
                      static_cast<Sweep>(sweep), coloring, n_threads);
          }
        }
        bind::raise_if_interrupted(info);
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("inv_diag").noconvert(), py::arg("diag_pos").noconvert(),
      py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("omega"), py::arg("sweep"), py::arg("iterations"),
      py::arg("color_ptr").noconvert(), py::arg("n_threads"));

  m.def(
      "linalg_ssor_apply",
      [](Index rows, Index cols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& inv_diag, const carray<Index>& diag_pos, double omega, const carray<Scalar>& r,
         const carray<Index>& color_ptr, int n_threads) {
        auto A = bind::csr_view<Scalar, Index>(rows, cols, indptr, indices, data);
        bind::check_length(inv_diag, rows, "inv_diag");
        bind::check_length(diag_pos, rows, "diag_pos");
        bind::check_length(r, rows, "r");
        carray<Scalar> z(static_cast<py::ssize_t>(rows));
        Scalar* zp = z.mutable_data();
        const auto coloring = coloring_of(color_ptr);
        {
          py::gil_scoped_release nogil;
          ssor_apply(A, inv_diag.data(), diag_pos.data(), static_cast<Scalar>(omega), r.data(), zp, coloring,
                     n_threads);
        }
        return z;
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("inv_diag").noconvert(), py::arg("diag_pos").noconvert(),
      py::arg("omega"), py::arg("r").noconvert(), py::arg("color_ptr").noconvert(), py::arg("n_threads"));

  m.def(
      "linalg_ssor_pcg",
      [](Index rows, Index cols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& inv_diag, const carray<Index>& diag_pos, const carray<Scalar>& b, carray<Scalar> x,
         double omega, double rtol, double atol, std::int64_t maxiter, const carray<Index>& color_ptr,
         int n_threads, bool record_history, py::object callback) {
        auto A = bind::csr_view<Scalar, Index>(rows, cols, indptr, indices, data);
        bind::check_length(inv_diag, rows, "inv_diag");
        bind::check_length(diag_pos, rows, "diag_pos");
        bind::check_length(b, rows, "b");
        bind::check_length(x, rows, "x");
        bind::Callback cb(std::move(callback));
        const auto coloring = coloring_of(color_ptr);
        Scalar* xp = x.mutable_data();
        SolveInfo info;
        {
          py::gil_scoped_release nogil;
          Control control = bind::python_control();
          info = ssor_pcg_solve(A, inv_diag.data(), diag_pos.data(), b.data(), xp, omega, Tolerance{rtol, atol},
                                maxiter, coloring, n_threads, record_history, &control,
                                [&](std::int64_t) { return cb(x); }, cb.active());
        }
        bind::raise_if_interrupted(info, &cb);
        return bind::info_dict(info);
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("inv_diag").noconvert(), py::arg("diag_pos").noconvert(),
      py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("omega"), py::arg("rtol"), py::arg("atol"),
      py::arg("maxiter"), py::arg("color_ptr").noconvert(), py::arg("n_threads"), py::arg("record_history"),
      py::arg("callback"));
}

template <class Index>
void bind_plan(py::module_& m) {
  m.def(
      "linalg_multicolor_plan",
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

void register_linalg(py::module_& m) {
  bind_relaxation<double, std::int32_t>(m);
  bind_relaxation<double, std::int64_t>(m);
  bind_relaxation<float, std::int32_t>(m);
  bind_relaxation<float, std::int64_t>(m);
  bind_plan<std::int32_t>(m);
  bind_plan<std::int64_t>(m);
}
