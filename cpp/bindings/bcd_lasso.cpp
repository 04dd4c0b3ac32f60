// pybind11 glue for itercore.bcd's lasso core (bcd/lasso.hpp): greedy
// coordinate descent on a working set with active-set Newton steps, one
// binding per layout of X (dense, sparse CSC given as CSR of X^T).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <functional>

#include "bcd_columns.hpp"
#include "binding_utils.hpp"
#include "itercore/bcd/lasso.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace {

using I64 = std::int64_t;

template <class Cols>
py::dict lasso_run(const Cols& X, const carray<double>& y, carray<double>& w, double lambda,
                   const bcd::LassoOptions& opt, py::object callback) {
  bind::check_length(y, X.n, "y");
  bind::check_length(w, X.p, "w");
  const I64 p = X.p;
  const double n = static_cast<double>(X.n);
  bind::Callback cb(std::move(callback));
  std::function<bool(I64, const double*, double, double)> monitor;
  if (cb.active())
    monitor = [&](I64 outer, const double* wc, double primal, double optimality) {
      return cb.report(outer, optimality, [&] {
        return py::dict(py::arg("x") = bind::copy_of(wc, p), py::arg("fun") = primal / n);
      });
    };
  bcd::LassoStats st;
  double* wp = w.mutable_data();
  const double* yp = y.data();
  const SolveInfo info = bind::run_released(
      cb, [&](Control* control) { return bcd::lasso_solve(X, yp, lambda, wp, opt, st, control, monitor); });
  py::dict d = bind::result_dict(info);
  d["primal"] = st.primal;
  d["dual"] = st.dual;
  d["gap"] = st.gap;
  d["coordinate_updates"] = st.coordinate_updates;
  d["newton_steps"] = st.newton_steps;
  d["extrapolations"] = st.extrapolations;
  return d;
}

template <class Index>
void bind_sparse(py::module_& m) {
  m.def(
      "lasso_sparse",
      [](Index n, Index p, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& y, carray<double> w, double lam, const bcd::LassoOptions& opt, py::object callback) {
        return lasso_run(bind::sparse_columns(n, p, indptr, indices, data), y, w, lam, opt, std::move(callback));
      },
      "The lasso 1/2 ||y - X w||^2 + lam ||w||_1 on sparse X (X^T as CSR), in place from w.", py::arg("n"),
      py::arg("p"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("y").noconvert(), py::arg("w").noconvert(), py::arg("lam"), py::arg("options"), py::arg("callback"));
}

}  // namespace

void register_bcd_lasso(py::module_& parent) {
  py::module_ m = parent.def_submodule("bcd");
  bind::options_class<bcd::LassoOptions>(m, "LassoOptions", "Options of bcd::lasso_solve (itercore/bcd/lasso.hpp).")
      .field("rule", &bcd::LassoOptions::rule,
             "inside the working set: cyclic (with Anderson extrapolation) or gs-r (the largest proximal step)")
      .field("tol", &bcd::LassoOptions::tol, "on the duality gap relative to P(0) = ||y||^2 / 2")
      .field("maxiter", &bcd::LassoOptions::maxiter, "outer iterations (each one full gradient and gap)")
      .field("max_epochs", &bcd::LassoOptions::max_epochs, "inner passes per outer iteration")
      .field("ws_start", &bcd::LassoOptions::ws_start, "first working-set size")
      .field("gram_limit", &bcd::LassoOptions::gram_limit, "largest working set solved with a Gram matrix")
      .field("active_set_newton", &bcd::LassoOptions::active_set_newton,
             "Newton steps on the active set (exact line search along them)")
      .field("newton_limit", &bcd::LassoOptions::newton_limit,
             "largest support given a Newton step (its Gram block is newton_limit^2)")
      .field("anderson", &bcd::LassoOptions::anderson,
             "Anderson extrapolation of the cyclic iterates from the last this many epochs (0: none)")
      .field("history", &bcd::LassoOptions::history, "record the relative gap at each outer iteration")
      .field("n_threads", &bcd::LassoOptions::n_threads,
             "threads for the full gradient and sparse Gram matrices; <= 0: the OpenMP default");
  m.def(
      "lasso_dense",
      [](const carray<double>& xt, const carray<double>& y, carray<double> w, double lam, const bcd::LassoOptions& opt,
         py::object callback) {
        return lasso_run(bind::dense_columns(xt), y, w, lam, opt, std::move(callback));
      },
      "The lasso 1/2 ||y - X w||^2 + lam ||w||_1 on dense X (given as X^T, p x n), in place from w.",
      py::arg("xt").noconvert(), py::arg("y").noconvert(), py::arg("w").noconvert(), py::arg("lam"),
      py::arg("options"), py::arg("callback"));
  bind_sparse<std::int32_t>(m);
  bind_sparse<std::int64_t>(m);
}
