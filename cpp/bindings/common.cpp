// Build information and the shared internal kernels (CSR mat-vec, power
// iteration) that the test suite uses to check threads, the GIL and Ctrl-C.
#include <Eigen/Core>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "binding_utils.hpp"
#include "itercore/common/csr.hpp"
#include "itercore/common/threads.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace {

py::dict build_info() {
  py::dict d;
  d["version"] = ITERCORE_VERSION;
  d["compiler"] = ITERCORE_CXX_COMPILER;
  d["cxx_flags"] = ITERCORE_CXX_FLAGS;
  d["build_type"] = ITERCORE_BUILD_TYPE;
#ifdef _OPENMP
  d["openmp"] = true;
  d["openmp_version"] = static_cast<int>(_OPENMP);
#else
  d["openmp"] = false;
  d["openmp_version"] = 0;
#endif
  d["eigen_version"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                       std::to_string(EIGEN_MINOR_VERSION);
  d["simd"] = Eigen::SimdInstructionSetsInUse();
#ifdef ITERCORE_WITH_CUDA
  d["cuda"] = true;
#else
  d["cuda"] = false;
#endif
  return d;
}

template <class Scalar, class Index>
void bind_kernels(py::module_& m, py::module_& testing) {
  m.def(
      "_csr_check",
      [](Index rows, Index cols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         bool check_finite) {
        if (indptr.ndim() != 1 || indptr.shape(0) != static_cast<py::ssize_t>(rows) + 1) return 1;
        if (data.size() < indices.size()) return 1;
        py::gil_scoped_release nogil;
        return check_csr(rows, cols, indptr.data(), indices.data(), check_finite ? data.data() : nullptr,
                         static_cast<Index>(indices.size()));
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("check_finite"));
  m.def(
      "_csr_max_asymmetry",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         int n_threads) {
        auto A = bind::csr_view<Scalar, Index>(n, n, indptr, indices, data);
        double worst = 0.0, max_abs = 0.0;
        {
          py::gil_scoped_release nogil;
          worst = csr_max_asymmetry(A, max_abs, n_threads);
        }
        return py::make_tuple(worst, max_abs);
      },
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("n_threads"));
  // The shared kernels' own entry points exist for the test suite only (threads, GIL, Ctrl-C).
  testing.def(
      "csr_matvec",
      [](Index rows, Index cols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         const carray<Scalar>& x, int n_threads) {
        auto A = bind::csr_view<Scalar, Index>(rows, cols, indptr, indices, data);
        bind::check_length(x, cols, "x");
        carray<Scalar> y(static_cast<py::ssize_t>(rows));
        Scalar* yp = y.mutable_data();
        {
          py::gil_scoped_release nogil;
          csr_matvec(A, x.data(), yp, n_threads);
        }
        return y;
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("x").noconvert(), py::arg("n_threads"));
  testing.def(
      "power_iteration",
      [](Index rows, Index cols, const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
         carray<Scalar> x, std::int64_t maxiter, double tol, int n_threads) {
        auto A = bind::csr_view<Scalar, Index>(rows, cols, indptr, indices, data);
        bind::check_length(x, cols, "x");
        double eigenvalue = 0.0;
        Scalar* xp = x.mutable_data();
        const auto info = bind::run_released(bind::Callback(py::none()), [&](Control* control) {
          return power_iteration(A, xp, eigenvalue, maxiter, tol, n_threads, control);
        });
        return py::make_tuple(eigenvalue, bind::result_dict(info));
      },
      py::arg("rows"), py::arg("cols"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("x").noconvert(), py::arg("maxiter"), py::arg("tol"), py::arg("n_threads"));
}

}  // namespace

void register_common(py::module_& m) {
  // One status table for every family (itercore._pipeline.STATUS gives the
  // sentences); bound once, by name.
  py::enum_<Status>(m, "Status", "Why a solve stopped (shared by every core).")
      .value("converged", Status::converged)
      .value("max_iter", Status::max_iter)
      .value("breakdown", Status::breakdown)
      .value("non_finite", Status::non_finite)
      .value("interrupted", Status::interrupted)
      .value("callback_stop", Status::callback_stop);
  // Entry points that exist only for the test suite live here, not beside the product's.
  py::module_ testing = m.def_submodule("_testing", "Test-only entry points (private).");
  m.def("build_info", &build_info, "How the extension was built (for itercore.show_config).");
  m.def("_default_threads", &default_threads, "OpenMP's default thread count for the calling thread.");
  bind_kernels<double, std::int32_t>(m, testing);
  bind_kernels<double, std::int64_t>(m, testing);
  bind_kernels<float, std::int32_t>(m, testing);
  bind_kernels<float, std::int64_t>(m, testing);
}
