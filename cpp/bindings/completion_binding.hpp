#pragma once
// itercore.completion bindings, shared by completion.cpp (double) and
// completion_float.cpp (float): the cores instantiate heavy Eigen dense
// solvers, so each scalar type is its own translation unit and the two
// compile in parallel. Glue only: the Python layer (src/itercore/completion.py) validates, builds
// the CSR/CSC pair and the factor buffers; the cores live in
// cpp/include/itercore/completion/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "binding_utils.hpp"
#include "itercore/completion/altmin.hpp"
#include "itercore/completion/init.hpp"
#include "itercore/completion/row_solvers.hpp"

namespace itercore_completion_bindings {

namespace py = pybind11;
using namespace itercore;
using namespace itercore::completion;
using bind::carray;

template <class Scalar>
inline Scalar* factor_ptr(carray<Scalar>& F, py::ssize_t rows, std::int64_t k, const char* name) {
  if (F.ndim() != 2 || F.shape(0) != rows || F.shape(1) != static_cast<py::ssize_t>(k))
    throw std::invalid_argument(std::string(name) + ": wrong shape");
  return F.mutable_data();
}

inline RowOptions row_options(int solver, double reg, int inner_maxiter, double inner_tol, double sketch_ratio,
                       std::uint64_t seed) {
  if (solver < 0 || solver > 3) throw std::invalid_argument("solver: unknown code");
  RowOptions o;
  o.solver = static_cast<RowSolver>(solver);
  o.reg = reg;
  o.inner_maxiter = inner_maxiter;
  o.inner_tol = inner_tol;
  o.sketch_ratio = sketch_ratio;
  o.seed = seed;
  o.check();
  return o;
}

template <class Scalar, class Index>
void bind_completion(py::module_& m) {
  m.def(
      "completion_init",
      [](Index rows, Index cols, const carray<Index>& r_indptr, const carray<Index>& r_indices,
         const carray<Scalar>& r_data, const carray<Index>& c_indptr, const carray<Index>& c_indices,
         const carray<Scalar>& c_data, carray<Scalar> U, carray<Scalar> V, int method, std::uint64_t seed,
         int n_threads, std::int64_t oversample, int power_iters) {
        auto R = bind::csr_view<Scalar, Index>(rows, cols, r_indptr, r_indices, r_data);
        auto C = bind::csr_view<Scalar, Index>(cols, rows, c_indptr, c_indices, c_data);
        const std::int64_t k = U.ndim() == 2 ? U.shape(1) : 0;
        Scalar* up = factor_ptr(U, rows, k, "U");
        Scalar* vp = factor_ptr(V, cols, k, "V");
        if (method != 0 && method != 1) throw std::invalid_argument("method: unknown code");
        {
          py::gil_scoped_release nogil;
          initialise(R, C, k, static_cast<InitMethod>(method), seed, up, vp, n_threads, oversample, power_iters);
        }
      },
      py::arg("rows"), py::arg("cols"), py::arg("r_indptr").noconvert(), py::arg("r_indices").noconvert(),
      py::arg("r_data").noconvert(), py::arg("c_indptr").noconvert(), py::arg("c_indices").noconvert(),
      py::arg("c_data").noconvert(), py::arg("U").noconvert(), py::arg("V").noconvert(), py::arg("method"),
      py::arg("seed"), py::arg("n_threads"), py::arg("oversample"), py::arg("power_iters"));

  m.def(
      "completion_half_step",
      [](Index lines, Index other, const carray<Index>& indptr, const carray<Index>& indices,
         const carray<Scalar>& data, const carray<Scalar>& F, carray<Scalar> X, int solver, double reg,
         int inner_maxiter, double inner_tol, double sketch_ratio, std::uint64_t seed, int n_threads) {
        auto A = bind::csr_view<Scalar, Index>(lines, other, indptr, indices, data);
        const std::int64_t k = X.ndim() == 2 ? X.shape(1) : 0;
        if (k <= 0) throw std::invalid_argument("X: rank must be >= 1");
        if (F.ndim() != 2 || F.shape(0) != static_cast<py::ssize_t>(other) || F.shape(1) != static_cast<py::ssize_t>(k))
          throw std::invalid_argument("F: wrong shape");
        Scalar* xp = factor_ptr(X, lines, k, "X");
        const RowOptions opt = row_options(solver, reg, inner_maxiter, inner_tol, sketch_ratio, seed);
        {
          py::gil_scoped_release nogil;
          const int nt = resolve_threads(n_threads);
          std::vector<RowScratch<Scalar>> scratch;
          for (int t = 0; t < nt; ++t) scratch.emplace_back(k, max_line(A), opt);
          half_step(A, F.data(), k, xp, opt, scratch, nt);
        }
      },
      py::arg("lines"), py::arg("other"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(),
      py::arg("data").noconvert(), py::arg("F").noconvert(), py::arg("X").noconvert(), py::arg("solver"),
      py::arg("reg"), py::arg("inner_maxiter"), py::arg("inner_tol"), py::arg("sketch_ratio"), py::arg("seed"),
      py::arg("n_threads"));

  m.def(
      "completion_altmin",
      [](Index rows, Index cols, const carray<Index>& r_indptr, const carray<Index>& r_indices,
         const carray<Scalar>& r_data, const carray<Index>& c_indptr, const carray<Index>& c_indices,
         const carray<Scalar>& c_data, carray<Scalar> U, carray<Scalar> V, int solver, double reg,
         int inner_maxiter, double inner_tol, double sketch_ratio, std::uint64_t seed, std::int64_t maxiter,
         double tol, int n_threads, const carray<Index>& val_rows, const carray<Index>& val_cols,
         const carray<Scalar>& val_values, bool use_validation, py::object callback) {
        auto R = bind::csr_view<Scalar, Index>(rows, cols, r_indptr, r_indices, r_data);
        auto C = bind::csr_view<Scalar, Index>(cols, rows, c_indptr, c_indices, c_data);
        const std::int64_t k = U.ndim() == 2 ? U.shape(1) : 0;
        Scalar* up = factor_ptr(U, rows, k, "U");
        Scalar* vp = factor_ptr(V, cols, k, "V");
        AltMinOptions opt;
        opt.row = row_options(solver, reg, inner_maxiter, inner_tol, sketch_ratio, seed);
        opt.maxiter = maxiter;
        opt.tol = tol;
        opt.n_threads = n_threads;
        Validation<Scalar, Index> val;
        if (use_validation) {
          if (val_rows.ndim() != 1 || val_cols.ndim() != 1 || val_values.ndim() != 1 ||
              val_rows.shape(0) != val_cols.shape(0) || val_rows.shape(0) != val_values.shape(0))
            throw std::invalid_argument("validation: rows, cols and values must be 1-D of equal length");
          val.rows = val_rows.data();
          val.cols = val_cols.data();
          val.values = val_values.data();
          val.size = val_rows.shape(0);
        }
        bind::Callback cb(std::move(callback));
        std::vector<double> val_history;
        SolveInfo info;
        {
          py::gil_scoped_release nogil;
          Control control = bind::python_control();
          auto monitor = [&cb](std::int64_t sweep, double residual) { return cb(sweep, residual); };
          info = altmin(R, C, k, up, vp, opt, use_validation ? &val : nullptr, &val_history, monitor, &control);
        }
        bind::raise_if_interrupted(info, &cb);
        py::dict d = bind::info_dict(info);
        d["validation_history"] =
            py::array_t<double>(static_cast<py::ssize_t>(val_history.size()), val_history.data());
        return d;
      },
      py::arg("rows"), py::arg("cols"), py::arg("r_indptr").noconvert(), py::arg("r_indices").noconvert(),
      py::arg("r_data").noconvert(), py::arg("c_indptr").noconvert(), py::arg("c_indices").noconvert(),
      py::arg("c_data").noconvert(), py::arg("U").noconvert(), py::arg("V").noconvert(), py::arg("solver"),
      py::arg("reg"), py::arg("inner_maxiter"), py::arg("inner_tol"), py::arg("sketch_ratio"), py::arg("seed"),
      py::arg("maxiter"), py::arg("tol"), py::arg("n_threads"), py::arg("val_rows").noconvert(),
      py::arg("val_cols").noconvert(), py::arg("val_values").noconvert(), py::arg("use_validation"),
      py::arg("callback"));
}

}  // namespace itercore_completion_bindings

