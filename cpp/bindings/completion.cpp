// pybind11 glue for itercore.completion: the enums, the options struct and the
// double-precision cores (float lives in completion_float.cpp so that the two
// heavy instantiations compile in parallel; both share completion_binding.hpp).
#include "completion_binding.hpp"

void register_completion(pybind11::module_& parent) {
  namespace py = pybind11;
  using namespace itercore::completion;
  py::module_ m = parent.def_submodule("completion", "itercore.completion's cores");
  py::enum_<RowSolver>(m, "RowSolver", "The per-row least-squares solver (method=).")
      .value("cholesky", RowSolver::cholesky)
      .value("cg", RowSolver::cg)
      .value("sketch", RowSolver::sketch)
      .value("auto", RowSolver::automatic);
  py::enum_<InitMethod>(m, "InitMethod", "How U starts (init=).")
      .value("svd", InitMethod::svd)
      .value("random", InitMethod::random);
  itercore::bind::options_class<AltMinOptions>(
      m, "AltMinOptions", "Options of completion::initialise and completion::altmin (itercore/completion/*.hpp).")
      .field("method", &RowOptions::method, "the per-row solver")
      .field("reg", &RowOptions::reg, "ridge weight on both factors (finite, >= 0)")
      .field("reg_by_count", &RowOptions::reg_by_count,
             "true: each line's ridge is reg times its observation count (ALS-WR, Spark ALS)")
      .field("inner_maxiter", &RowOptions::inner_maxiter,
             "CG steps per row (cg, auto's CG rows; at most, sketch); -1: per method (3; sketch 20)")
      .field("inner_tol", &RowOptions::inner_tol,
             "a row's CG ends when its normal-equation residual shrank by this factor")
      .field("sketch_ratio", &RowOptions::sketch_ratio, "sketch rows s = ceil(sketch_ratio k ln(k + 1)), at least k + 1")
      .field("sketch_rows", &RowOptions::sketch_rows, "> 0: exactly this many sketch rows (at least k + 1); -1: automatic")
      .field("sketch_nnz", &RowOptions::sketch_nnz, "non-zeros per sketch column (OSNAP); 1: CountSketch")
      .field("seed", &RowOptions::seed, "randomness of the start and of the sketches")
      .field("init", &InitOptions::init, "the start of U")
      .field("oversample", &InitOptions::oversample, "svd start: extra range-finder columns")
      .field("power_iters", &InitOptions::power_iters, "svd start: power iterations")
      .field("maxiter", &AltMinOptions::maxiter, "sweeps (0: return the start)")
      .field("tol", &AltMinOptions::tol, "stopping tolerance (finite, >= 0)")
      .field("n_threads", &AltMinOptions::n_threads, "<= 0: the OpenMP default");
  itercore_completion_bindings::bind_completion<double, std::int32_t>(parent);
  itercore_completion_bindings::bind_completion<double, std::int64_t>(parent);
}
