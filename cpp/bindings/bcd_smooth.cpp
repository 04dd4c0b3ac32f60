// pybind11 glue for itercore.bcd's smooth core (bcd/smooth.hpp): block
// coordinate descent for logistic / softmax / squares losses of a linear
// model, one binding per layout of X (dense, sparse CSC given as CSR of X^T).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <functional>

#include "bcd_binding.hpp"
#include "bcd_columns.hpp"
#include "binding_utils.hpp"
#include "itercore/bcd/smooth.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace {

using I64 = std::int64_t;

template <class Cols>
py::dict smooth_solve(const Cols& X, const carray<double>& y, carray<double>& W, I64 K, bcd::SmoothLoss loss,
                      double l1, double l2, const carray<I64>& block_ptr, const carray<I64>& block_idx,
                      const bcd::SmoothOptions& opt, py::object callback) {
  const I64 p = X.p;
  bind::check_length(y, X.n, "y");
  if (W.ndim() != 2 || W.shape(0) != p || W.shape(1) != K) throw std::invalid_argument("W: wrong shape");
  const bcd::Partition blocks = bind::partition_view(block_ptr, block_idx, p);
  bind::Callback cb(std::move(callback));
  std::function<bool(I64, const double*, double, double)> monitor;
  if (cb.active())
    monitor = [&](I64 it, const double* wc, double fun, double optimality) {
      return cb.report(it, optimality, [&] {
        py::object x = K == 1 ? py::object(bind::copy_of(wc, p)) : py::object(bind::copy_of(wc, p, K));
        return py::dict(py::arg("x") = x, py::arg("fun") = fun);
      });
    };
  double fun = 0.0, gap = 0.0, p0 = 0.0;
  I64 newton_steps = 0;
  double* wp = W.mutable_data();
  const double* yp = y.data();
  const SolveInfo info = bind::run_released(cb, [&](Control* control) {
    bcd::SmoothBCD<Cols> solver(X, yp, K, loss, l1, l2, blocks, opt);
    SolveInfo out = solver.solve(wp, control, monitor);
    fun = solver.objective();
    gap = solver.gap();
    p0 = solver.objective_at_zero();
    newton_steps = solver.newton_steps();
    return out;
  });
  py::dict d = bind::result_dict(info);
  d["fun"] = fun;
  d["gap"] = gap;
  d["p0"] = p0;
  d["newton_steps"] = newton_steps;
  return d;
}

template <class Index>
void bind_sparse(py::module_& m) {
  m.def(
      "smooth_sparse",
      [](Index n, Index p, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& y, carray<double> W, I64 K, bcd::SmoothLoss loss, double l1, double l2,
         const carray<I64>& block_ptr, const carray<I64>& block_idx, const bcd::SmoothOptions& opt,
         py::object callback) {
        return smooth_solve(bind::sparse_columns(n, p, indptr, indices, data), y, W, K, loss, l1, l2, block_ptr,
                            block_idx, opt, std::move(callback));
      },
      "Smooth-loss BCD on sparse X (X^T as CSR: indptr, indices, data), in place from W (p, K).", py::arg("n"),
      py::arg("p"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("y").noconvert(), py::arg("W").noconvert(), py::arg("K"), py::arg("loss"), py::arg("l1"),
      py::arg("l2"), py::arg("block_ptr").noconvert(), py::arg("block_idx").noconvert(), py::arg("options"),
      py::arg("callback"));
}

}  // namespace

void register_bcd_smooth(py::module_& parent) {
  py::module_ m = parent.def_submodule("bcd");
  py::enum_<bcd::SmoothLoss>(m, "SmoothLoss", "The loss of a linear model.")
      .value("logistic", bcd::SmoothLoss::logistic)
      .value("softmax", bcd::SmoothLoss::softmax)
      .value("squares", bcd::SmoothLoss::squares);
  bind::options_class<bcd::SmoothOptions>(m, "SmoothOptions", "Options of bcd::SmoothBCD (itercore/bcd/smooth.hpp).")
      .field("rule", &bcd::SmoothOptions::rule, "block selection (not gs-r: that is the lasso's)")
      .field("update", &bcd::SmoothOptions::update,
             "gradient, matrix (Hessian bound) or newton (logistic: exact block Hessian)")
      .field("tol", &bcd::SmoothOptions::tol,
             "on the relative duality gap (L1, K = 1) or the largest |(proximal) gradient mapping|")
      .field("maxiter", &bcd::SmoothOptions::maxiter, "block updates")
      .field("check_every", &bcd::SmoothOptions::check_every,
             "block updates between optimality checks; 0: one sweep (1 with history)")
      .field("seed", &bcd::SmoothOptions::seed, "for the random and lipschitz rules")
      .field("history", &bcd::SmoothOptions::history, "record the objective at each check")
      .field("n_threads", &bcd::SmoothOptions::n_threads,
             "threads for full-gradient recomputations on large X; <= 0: the OpenMP default")
      .field("inner_passes", &bcd::SmoothOptions::inner_passes, "coordinate passes on a proximal block subproblem")
      .field("active_set_newton", &bcd::SmoothOptions::active_set_newton,
             "with L1 (K = 1): Newton steps on the active set once the signs of W settle")
      .field("max_active", &bcd::SmoothOptions::max_active,
             "no active-set Newton on larger supports (dense |S|^2 Hessian)")
      .field("incremental_greedy", &bcd::SmoothOptions::incremental_greedy,
             "sparse X, greedy rule: gradient and block scores kept up to date (false: full gradient per pick)")
      .field("kind", &bcd::SmoothOptions::kind,
             "fixed feature blocks, or variable: the block_size best features each iteration (singleton partition)")
      .field("block_size", &bcd::SmoothOptions::block_size, "tau for variable blocks")
      .field("iht_iters", &bcd::SmoothOptions::iht_iters,
             "gsq on variable blocks (no L1): iterative-hard-thresholding steps (0: the GSD choice)");
  m.def(
      "smooth_dense",
      [](const carray<double>& xt, const carray<double>& y, carray<double> W, I64 K, bcd::SmoothLoss loss, double l1,
         double l2, const carray<I64>& block_ptr, const carray<I64>& block_idx, const bcd::SmoothOptions& opt,
         py::object callback) {
        return smooth_solve(bind::dense_columns(xt), y, W, K, loss, l1, l2, block_ptr, block_idx, opt,
                            std::move(callback));
      },
      "Smooth-loss BCD on dense X (given as X^T, p x n, C order), in place from W (p, K).",
      py::arg("xt").noconvert(), py::arg("y").noconvert(), py::arg("W").noconvert(), py::arg("K"), py::arg("loss"),
      py::arg("l1"), py::arg("l2"), py::arg("block_ptr").noconvert(), py::arg("block_idx").noconvert(),
      py::arg("options"), py::arg("callback"));
  bind_sparse<std::int32_t>(m);
  bind_sparse<std::int64_t>(m);
}
