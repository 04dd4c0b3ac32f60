// pybind11 glue for itercore.optimize: KKT assembly and the adaptive
// inexact Newton step (sketched or direct KKT solve, accuracy and descent
// tests, penalty updates). The Newton loop itself lives in Python, since
// every iteration calls the user's functions.
#include <pybind11/pybind11.h>

#include <cstdint>

#include "binding_utils.hpp"
#include "itercore/optimize/eal_step.hpp"
#include "itercore/optimize/kkt.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace {

template <class T>
carray<T> to_array(const std::vector<T>& v) {
  return carray<T>(static_cast<py::ssize_t>(v.size()), v.data());
}

template <class Index>
void bind_kkt(py::module_& m) {
  m.def(
      "optimize_kkt_csr",
      [](Index n, Index mrows, const carray<Index>& b_indptr, const carray<Index>& b_indices,
         const carray<double>& b_data, const carray<Index>& g_indptr, const carray<Index>& g_indices,
         const carray<double>& g_data) {
        auto B = bind::csr_view<double, Index>(n, n, b_indptr, b_indices, b_data);
        auto G = bind::csr_view<double, Index>(mrows, n, g_indptr, g_indices, g_data);
        optimize::CsrOwned<double> K;
        {
          py::gil_scoped_release nogil;
          K = optimize::assemble_kkt(B, G);
        }
        return py::make_tuple(to_array(K.data), to_array(K.indices), to_array(K.indptr));
      },
      py::arg("n"), py::arg("m"), py::arg("b_indptr").noconvert(), py::arg("b_indices").noconvert(),
      py::arg("b_data").noconvert(), py::arg("g_indptr").noconvert(), py::arg("g_indices").noconvert(),
      py::arg("g_data").noconvert());
}

optimize::EalStepOptions step_options(bool use_sketch, bool fallback, double theta, double zeta, double floor,
                                      double nu, int max_updates, int method, std::int64_t block_size,
                                      std::int64_t maxiter, std::uint64_t seed, int n_threads) {
  if (method < 0 || method > 2) throw std::invalid_argument("method must be 0, 1 or 2");
  optimize::EalStepOptions o;
  o.use_sketch = use_sketch;
  o.fallback = fallback;
  o.theta = theta;
  o.zeta = zeta;
  o.floor = floor;
  o.nu = nu;
  o.max_penalty_updates = max_updates;
  o.sketch.method = static_cast<linalg::SketchMethod>(method);
  o.sketch.block_size = block_size;
  o.sketch.maxiter = maxiter;
  o.sketch.seed = seed;
  o.sketch.n_threads = n_threads;
  o.sketch.stall_factor = 1.0;  // hand over to the direct solve as soon as the budget is clearly too small
  return o;
}

template <class Rows>
py::dict run_step(const Rows& K, std::int64_t n, const carray<double>& gradL, double t, carray<double>& z,
                  double eta1, double eta2, const optimize::EalStepOptions& o) {
  const auto N = static_cast<py::ssize_t>(K.rows());
  bind::check_length(gradL, N, "gradL");
  bind::check_length(z, N, "z");
  const double* gp = gradL.data();
  double* zp = z.mutable_data();
  optimize::EalStepInfo s;
  {
    py::gil_scoped_release nogil;
    Control control = bind::python_control();
    s = optimize::eal_step<double>(K, n, gp, t, zp, eta1, eta2, o, &control);
  }
  SolveInfo info;
  info.status = s.status;
  bind::raise_if_interrupted(info);
  py::dict d;
  d["status"] = status_name(s.status);
  d["eta1"] = s.eta1;
  d["eta2"] = s.eta2;
  d["dphi"] = s.dphi;
  d["residual"] = s.residual;
  d["target"] = s.target;
  d["sketch_iterations"] = s.sketch_iterations;
  d["penalty_updates"] = s.penalty_updates;
  d["used_direct"] = s.used_direct;
  return d;
}

}  // namespace

void register_optimize(py::module_& m) {
  bind_kkt<std::int32_t>(m);
  bind_kkt<std::int64_t>(m);
  m.def(
      "optimize_eal_step_dense",
      [](const carray<double>& K, std::int64_t n, const carray<double>& gradL, double t, carray<double> z,
         double eta1, double eta2, bool use_sketch, bool fallback, double theta, double zeta, double floor, double nu,
         int max_updates, int method, std::int64_t block_size, std::int64_t maxiter, std::uint64_t seed,
         int n_threads) {
        if (K.ndim() != 2 || K.shape(0) != K.shape(1)) throw std::invalid_argument("K must be square");
        linalg::DenseRows<double> rows;
        rows.m = rows.n = K.shape(0);
        rows.a = K.data();
        return run_step(rows, n, gradL, t, z, eta1, eta2,
                        step_options(use_sketch, fallback, theta, zeta, floor, nu, max_updates, method, block_size,
                                     maxiter, seed, n_threads));
      },
      py::arg("K").noconvert(), py::arg("n"), py::arg("gradL").noconvert(), py::arg("t"), py::arg("z").noconvert(),
      py::arg("eta1"), py::arg("eta2"), py::arg("use_sketch"), py::arg("fallback"), py::arg("theta"), py::arg("zeta"),
      py::arg("floor"), py::arg("nu"), py::arg("max_updates"), py::arg("method"), py::arg("block_size"),
      py::arg("maxiter"), py::arg("seed"), py::arg("n_threads"));
  m.def(
      "optimize_eal_step_csr",
      [](std::int64_t N, const carray<std::int64_t>& indptr, const carray<std::int64_t>& indices,
         const carray<double>& data, std::int64_t n, const carray<double>& gradL, double t, carray<double> z,
         double eta1, double eta2, bool use_sketch, bool fallback, double theta, double zeta, double floor, double nu,
         int max_updates, int method, std::int64_t block_size, std::int64_t maxiter, std::uint64_t seed,
         int n_threads) {
        linalg::CsrRows<double, std::int64_t> rows{bind::csr_view<double, std::int64_t>(N, N, indptr, indices, data)};
        return run_step(rows, n, gradL, t, z, eta1, eta2,
                        step_options(use_sketch, fallback, theta, zeta, floor, nu, max_updates, method, block_size,
                                     maxiter, seed, n_threads));
      },
      py::arg("N"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("n"), py::arg("gradL").noconvert(), py::arg("t"), py::arg("z").noconvert(), py::arg("eta1"),
      py::arg("eta2"), py::arg("use_sketch"), py::arg("fallback"), py::arg("theta"), py::arg("zeta"), py::arg("floor"),
      py::arg("nu"), py::arg("max_updates"), py::arg("method"), py::arg("block_size"), py::arg("maxiter"),
      py::arg("seed"), py::arg("n_threads"));
}
