// pybind11 glue for the sketch-and-project linear solvers (itercore._sketch),
// in the _core.linalg submodule beside the relaxation solvers.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "binding_utils.hpp"
#include "itercore/linalg/sketch.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;
using linalg::SketchMethod;
using linalg::SketchOptions;

namespace {

/// Runs the core with the GIL released; the callback gets a copy of x at each check.
template <class Scalar, class Rows>
py::dict run(const Rows& rows, const carray<Scalar>& b, carray<Scalar>& x, const SketchOptions& opt,
             py::object callback) {
  bind::check_length(b, static_cast<py::ssize_t>(rows.rows()), "b");
  bind::check_length(x, static_cast<py::ssize_t>(rows.cols()), "x");
  bind::Callback cb(std::move(callback));
  const py::ssize_t n = x.shape(0);
  linalg::SketchMonitor<Scalar> monitor = nullptr;
  if (cb.active()) {
    monitor = [&cb, n](std::int64_t it, double residual, const Scalar* xp) {
      return cb.report(it, residual, [&] { return py::dict(py::arg("x") = bind::copy_of(xp, n)); });
    };
  }
  const Scalar* bp = b.data();
  Scalar* xp = x.mutable_data();
  return bind::result_dict(bind::run_released(cb, [&](Control* control) {
    return linalg::sketch_project<Scalar>(rows, bp, xp, opt, control, monitor);
  }));
}

template <class Scalar>
void bind_dense(py::module_& m) {
  m.def(
      "sketch_dense",
      [](const carray<Scalar>& A, const carray<Scalar>& b, carray<Scalar> x, const SketchOptions& opt,
         py::object callback) {
        if (A.ndim() != 2) throw std::invalid_argument("A must be 2-D");
        linalg::DenseRows<Scalar> rows;
        rows.m = A.shape(0);
        rows.n = A.shape(1);
        rows.a = A.data();
        return run<Scalar>(rows, b, x, opt, std::move(callback));
      },
      py::arg("A").noconvert(), py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("options"),
      py::arg("callback"));
}

template <class Scalar, class Index>
void bind_csr(py::module_& m) {
  m.def(
      "sketch_csr",
      [](Index nrows, Index ncols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& b, carray<Scalar> x, const SketchOptions& opt, py::object callback) {
        linalg::CsrRows<Scalar, Index> rows{bind::csr_view<Scalar, Index>(nrows, ncols, indptr, indices, data)};
        return run<Scalar>(rows, b, x, opt, std::move(callback));
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("options"),
      py::arg("callback"));
}

}  // namespace

void register_sketch(py::module_& parent) {
  py::module_ m = parent.def_submodule("linalg");  // shared with register_linalg
  py::enum_<SketchMethod>(m, "SketchMethod", "The random sketch drawn each iteration.")
      .value("kaczmarz", SketchMethod::kaczmarz)
      .value("gaussian", SketchMethod::gaussian)
      .value("count", SketchMethod::count);
  // `target` (a C++-only override of rtol/atol for optimize::eal_step) is not bound.
  bind::options_class<SketchOptions>(m, "SketchOptions",
                                     "Options of linalg::sketch_project (itercore/linalg/sketch.hpp).")
      .field("method", &SketchOptions::method, "the random sketch drawn each iteration")
      .field("block_size", &SketchOptions::block_size, "k, the number of sketch columns (rows for Kaczmarz)")
      .field("rtol", &SketchOptions::rtol, "stop when ||b - A x||_2 <= max(rtol ||b||_2, atol)")
      .field("atol", &SketchOptions::atol, "absolute floor of the stopping test")
      .field("maxiter", &SketchOptions::maxiter, "sketch iterations; -1: max(1000, ceil(100 max(m, n) / block_size))")
      .field("check_every", &SketchOptions::check_every,
             "iterations between residual checks; 0: about one pass over the rows for Kaczmarz (at least 16), "
             "every iteration for the dense sketches")
      .field("seed", &SketchOptions::seed, "the random stream; a seed fixes the iterates")
      .field("n_threads", &SketchOptions::n_threads,
             "<= 0: the OpenMP default; threads the residual checks (the sketch iterations are serial)")
      .field("history", &SketchOptions::history, "keep the residual of every check")
      .field("stall_factor", &SketchOptions::stall_factor,
             "> 0: give up early (max_iter) once the extrapolated rate needs more than stall_factor times the "
             "remaining budget (judged after 20 passes over the rows); 0: never");
  bind_dense<double>(m);
  bind_dense<float>(m);
  bind_csr<double, std::int32_t>(m);
  bind_csr<double, std::int64_t>(m);
  bind_csr<float, std::int32_t>(m);
  bind_csr<float, std::int64_t>(m);
}
