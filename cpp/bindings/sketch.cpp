// pybind11 glue for the sketch-and-project linear solvers (itercore._sketch).
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

SketchOptions sketch_options(int method, std::int64_t block_size, double target, std::int64_t maxiter,
                             std::int64_t check_every, std::uint64_t seed, int n_threads) {
  if (method < 0 || method > 2) throw std::invalid_argument("method must be 0 (kaczmarz), 1 (gaussian) or 2 (count)");
  SketchOptions o;
  o.method = static_cast<SketchMethod>(method);
  o.block_size = block_size;
  o.target = target;
  o.maxiter = maxiter;
  o.check_every = check_every;
  o.seed = seed;
  o.n_threads = n_threads;
  o.history = true;
  return o;
}

/// Runs the core with the GIL released; the callback gets a copy of x.
template <class Scalar, class Rows>
py::dict run(const Rows& rows, const carray<Scalar>& b, carray<Scalar>& x, const SketchOptions& opt,
             py::object callback) {
  bind::check_length(b, static_cast<py::ssize_t>(rows.rows()), "b");
  bind::check_length(x, static_cast<py::ssize_t>(rows.cols()), "x");
  bind::Callback cb(std::move(callback));
  const py::ssize_t n = x.shape(0);
  linalg::SketchMonitor<Scalar> monitor = nullptr;
  if (cb.active()) {
    monitor = [&cb, n](std::int64_t, double, const Scalar* xp) {
      py::gil_scoped_acquire gil;
      carray<Scalar> xc(n, xp);  // a copy: the solver keeps writing x
      return cb(xc);
    };
  }
  const Scalar* bp = b.data();
  Scalar* xp = x.mutable_data();
  SolveInfo info;
  {
    py::gil_scoped_release nogil;
    Control control = bind::python_control();
    info = linalg::sketch_project<Scalar>(rows, bp, xp, opt, &control, monitor);
  }
  bind::raise_if_interrupted(info, &cb);
  return bind::info_dict(info);
}

template <class Scalar>
void bind_dense(py::module_& m) {
  m.def(
      "sketch_solve_dense",
      [](const carray<Scalar>& A, const carray<Scalar>& b, carray<Scalar> x, int method, std::int64_t block_size,
         double target, std::int64_t maxiter, std::int64_t check_every, std::uint64_t seed, int n_threads,
         py::object callback) {
        if (A.ndim() != 2) throw std::invalid_argument("A must be 2-D");
        linalg::DenseRows<Scalar> rows;
        rows.m = A.shape(0);
        rows.n = A.shape(1);
        rows.a = A.data();
        return run<Scalar>(rows, b, x, sketch_options(method, block_size, target, maxiter, check_every, seed, n_threads),
                           std::move(callback));
      },
      py::arg("A").noconvert(), py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("method"),
      py::arg("block_size"), py::arg("target"), py::arg("maxiter"), py::arg("check_every"), py::arg("seed"),
      py::arg("n_threads"), py::arg("callback"));
}

template <class Scalar, class Index>
void bind_csr(py::module_& m) {
  m.def(
      "sketch_solve_csr",
      [](Index nrows, Index ncols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& b, carray<Scalar> x, int method, std::int64_t block_size, double target,
         std::int64_t maxiter, std::int64_t check_every, std::uint64_t seed, int n_threads, py::object callback) {
        linalg::CsrRows<Scalar, Index> rows{bind::csr_view<Scalar, Index>(nrows, ncols, indptr, indices, data)};
        return run<Scalar>(rows, b, x, sketch_options(method, block_size, target, maxiter, check_every, seed, n_threads),
                           std::move(callback));
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("method"),
      py::arg("block_size"), py::arg("target"), py::arg("maxiter"), py::arg("check_every"), py::arg("seed"),
      py::arg("n_threads"), py::arg("callback"));
}

}  // namespace

void register_sketch(py::module_& m) {
  bind_dense<double>(m);
  bind_dense<float>(m);
  bind_csr<double, std::int32_t>(m);
  bind_csr<double, std::int64_t>(m);
  bind_csr<float, std::int32_t>(m);
  bind_csr<float, std::int64_t>(m);
}
