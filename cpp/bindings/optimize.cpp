// pybind11 glue for itercore.optimize: KKT assembly and the adaptive
// inexact Newton step (sketched or direct KKT solve, accuracy and descent
// tests, penalty updates). The Newton loop itself lives in Python, since
// every iteration calls the user's functions.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <typeinfo>

#include "binding_utils.hpp"
#include "itercore/optimize/eal_step.hpp"
#include "itercore/optimize/kkt.hpp"
#include "itercore/optimize/minimize.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;
using optimize::Options;

namespace itercore::optimize {
/// For bind::run_released.
inline Status status_of(const EalStepInfo& s) { return s.status; }
}  // namespace itercore::optimize

namespace {

template <class T>
carray<T> to_array(const std::vector<T>& v) {
  return carray<T>(static_cast<py::ssize_t>(v.size()), v.data());
}

template <class Index>
void bind_kkt(py::module_& m) {
  m.def(
      "kkt_csr",
      [](Index n, Index mrows, const carray<Index>& b_indptr, const carray<Index>& b_indices,
         const carray<double>& b_data, const carray<Index>& g_indptr, const carray<Index>& g_indices,
         const carray<double>& g_data) {
        auto B = bind::csr_view<double, Index>(n, n, b_indptr, b_indices, b_data);
        auto G = bind::csr_view<double, Index>(mrows, n, g_indptr, g_indices, g_data);
        optimize::CsrOwned<double> K;
        {
          py::gil_scoped_release nogil;  // an assembly, not a solve: nothing to interrupt or report
          K = optimize::assemble_kkt(B, G);
        }
        return py::make_tuple(to_array(K.data), to_array(K.indices), to_array(K.indptr));
      },
      py::arg("n"), py::arg("m"), py::arg("b_indptr").noconvert(), py::arg("b_indices").noconvert(),
      py::arg("b_data").noconvert(), py::arg("g_indptr").noconvert(), py::arg("g_indices").noconvert(),
      py::arg("g_data").noconvert());
}

template <class Rows>
py::dict run_step(const Rows& K, std::int64_t n, const carray<double>& gradL, double t, carray<double>& z,
                  double eta1, double eta2, std::int64_t k, const Options& o, const py::tuple& scales) {
  const auto N = static_cast<py::ssize_t>(K.rows());
  bind::check_length(gradL, N, "gradL");
  bind::check_length(z, N, "z");
  const double* gp = gradL.data();
  double* zp = z.mutable_data();
  optimize::StepScales sc;
  if (scales.size() != 0) {
    if (scales.size() != 5) throw std::invalid_argument("scales must be (psi, upsilon, knorm, beta, delta)");
    sc.psi = scales[0].cast<double>();
    sc.upsilon = scales[1].cast<double>();
    sc.knorm = scales[2].cast<double>();
    sc.beta = scales[3].cast<double>();
    sc.delta = scales[4].cast<double>();
  }
  const auto s = bind::run_released(bind::Callback(py::none()), [&](Control* control) {
    return optimize::eal_step<double>(K, n, gp, t, zp, eta1, eta2, k, o, control, sc);
  });
  py::dict d;
  d["status"] = static_cast<int>(s.status);
  d["eta1"] = s.eta1;
  d["eta2"] = s.eta2;
  d["dphi"] = s.dphi;
  d["residual"] = s.residual;
  d["target"] = s.target;
  d["nit_sketch"] = s.sketch_iterations;
  d["penalty_updates"] = s.penalty_updates;
  d["used_direct"] = s.used_direct;
  d["descent_failed"] = s.descent_failed;
  d["delta"] = s.delta;
  d["theta_t"] = s.theta_t;
  d["target_missed"] = s.target_missed;
  d["penalty_capped"] = s.penalty_capped;
  return d;
}

}  // namespace

void register_optimize(py::module_& parent) {
  py::module_ m = parent.def_submodule("optimize", "itercore.optimize's cores");
  py::enum_<optimize::Method>(m, "Method", "How the Newton steps' KKT systems are solved.")
      .value("eal-sketch", optimize::Method::eal_sketch)
      .value("eal-direct", optimize::Method::eal_direct);
  py::enum_<optimize::Accuracy>(m, "Accuracy", "The adaptive accuracy condition of the sketched KKT solves.")
      .value("paper", optimize::Accuracy::paper)
      .value("legacy", optimize::Accuracy::legacy)
      .value("fixed", optimize::Accuracy::fixed);
  // The `sketch` field is a linalg::SketchMethod: bound once, by the linalg family (_core.linalg.SketchMethod).
  bind::options_class<Options>(m, "Options",
                               "Options of itercore.optimize.minimize: the Newton step's (itercore/optimize/"
                               "eal_step.hpp) and the Newton loop's (itercore/optimize/minimize.hpp).")
      .field("method", &Options::method, "how K z = -grad L is solved")
      .field("tol", &Options::tol, "stop when ||grad L|| <= tol (also sets the accuracy floor)")
      .field("maxiter", &Options::maxiter, "Newton iterations")
      .field("seed", &Options::seed, "Newton iteration k sketches with seed + 7919 k (mod 2^63)")
      .field("n_threads", &Options::n_threads, "threads of the sketch's residual checks; <= 0: the OpenMP default")
      .field("sketch", &Options::sketch, "the random sketch")
      .field("uniform", &Options::uniform,
             "Kaczmarz rows sampled uniformly (the paper); False: by squared row norm")
      .field("accuracy", &Options::accuracy, "the accuracy condition: 'paper', 'legacy' or 'fixed' (||r|| <= theta ||grad L||)")
      .field("delta", &Options::delta, "paper: initial delta of the accuracy condition")
      .field("delta_min", &Options::delta_min, "paper: delta is not shrunk below this")
      .field("xi_B", &Options::xi_B, "paper: Hessian-modification constant")
      .field("eta1_max", &Options::eta1_max, "paper: penalty updates stop once eta1 exceeds this")
      .field("eta2_min", &Options::eta2_min, "paper: penalty updates stop once eta2 falls below this")
      .field("block_size", &Options::block_size, "sketch columns (rows per Kaczmarz step)")
      .field("sketch_maxiter", &Options::sketch_maxiter,
                           "sketch iterations per sketch solve; -1: max(20000, 200 (n + m))")
      .field("fallback", &Options::fallback, "LU solve when the sketch misses its target in budget (not in the paper)")
      .field("stall_factor", &Options::stall_factor,
                     "with fallback: give up on the sketch once its extrapolated rate needs more than stall_factor "
                     "times the remaining budget; 0: never")
      .field("eta1", &Options::eta1, "initial penalty on ||c||^2 in the merit")
      .field("eta2", &Options::eta2, "initial penalty on ||grad_x L||^2 in the merit")
      .field("nu", &Options::nu, "penalty growth factor")
      .field("max_penalty_updates", &Options::max_penalty_updates, "legacy: descent-test retries before giving up")
      .field("theta", &Options::theta, "accuracy constant theta")
      .field("zeta", &Options::zeta, "accuracy sharpening exponent")
      .field("floor_share", &Options::floor_share, "smallest accuracy target: floor_share * tol (0: none)")
      .field("beta", &Options::beta, "Armijo constant of the line search on the merit")
      .field("max_backtracks", &Options::max_backtracks, "step halvings before the line search fails")
      .field("sparse", &Options::sparse,
             "always assemble K in CSR (else only when the Jacobian or the Hessian is sparse)")
      .field("bfgs_max_n", &Options::bfgs_max_n, "largest n for the dense BFGS matrix");

  bind_kkt<std::int32_t>(m);
  bind_kkt<std::int64_t>(m);
  m.def(
      "eal_step_dense",
      [](const carray<double>& K, std::int64_t n, const carray<double>& gradL, double t, carray<double> z,
         double eta1, double eta2, std::int64_t k, const Options& o, const py::tuple& scales) {
        if (K.ndim() != 2 || K.shape(0) != K.shape(1)) throw std::invalid_argument("K must be square");
        linalg::DenseRows<double> rows;
        rows.m = rows.n = K.shape(0);
        rows.a = K.data();
        return run_step(rows, n, gradL, t, z, eta1, eta2, k, o, scales);
      },
      py::arg("K").noconvert(), py::arg("n"), py::arg("gradL").noconvert(), py::arg("t"), py::arg("z").noconvert(),
      py::arg("eta1"), py::arg("eta2"), py::arg("k"), py::arg("options"), py::arg("scales") = py::tuple());
  m.def(
      "eal_step_csr",
      [](std::int64_t N, const carray<std::int64_t>& indptr, const carray<std::int64_t>& indices,
         const carray<double>& data, std::int64_t n, const carray<double>& gradL, double t, carray<double> z,
         double eta1, double eta2, std::int64_t k, const Options& o, const py::tuple& scales) {
        linalg::CsrRows<double, std::int64_t> rows{bind::csr_view<double, std::int64_t>(N, N, indptr, indices, data)};
        return run_step(rows, n, gradL, t, z, eta1, eta2, k, o, scales);
      },
      py::arg("N"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("n"), py::arg("gradL").noconvert(), py::arg("t"), py::arg("z").noconvert(), py::arg("eta1"),
      py::arg("eta2"), py::arg("k"), py::arg("options"), py::arg("scales") = py::tuple());
}
