#pragma once
// itercore.completion bindings, shared by completion.cpp (double; also the
// enums and the options struct) and completion_float.cpp (float): the cores
// instantiate heavy Eigen dense solvers, so each scalar type is its own
// translation unit and the two compile in parallel. Glue only: the Python
// layer (src/itercore/completion.py) validates, builds the CSR/CSC pair, the
// factor buffers and the checked AltMinOptions; the cores live in
// cpp/include/itercore/completion/.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
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

/// The observations twice: by rows (m x n CSR) and by columns (n x m CSR of the transpose).
template <class Scalar, class Index>
struct Observed {
  CsrView<Scalar, Index> rows, cols;
};

template <class Scalar, class Index>
Observed<Scalar, Index> observed(const carray<Index>& r_indptr, const carray<Index>& r_indices,
                                 const carray<Scalar>& r_data, const carray<Index>& c_indptr,
                                 const carray<Index>& c_indices, const carray<Scalar>& c_data) {
  if (r_indptr.ndim() != 1 || c_indptr.ndim() != 1 || r_indptr.shape(0) < 1 || c_indptr.shape(0) < 1)
    throw std::invalid_argument("indptr must be 1-D and non-empty");
  const Index m = static_cast<Index>(r_indptr.shape(0) - 1), n = static_cast<Index>(c_indptr.shape(0) - 1);
  return {bind::csr_view<Scalar, Index>(m, n, r_indptr, r_indices, r_data),
          bind::csr_view<Scalar, Index>(n, m, c_indptr, c_indices, c_data)};
}

template <class Scalar>
Scalar* factor_ptr(carray<Scalar>& F, py::ssize_t rows, std::int64_t k, const char* name) {
  if (F.ndim() != 2 || F.shape(0) != rows || F.shape(1) != static_cast<py::ssize_t>(k))
    throw std::invalid_argument(std::string(name) + ": wrong shape");
  return F.mutable_data();
}

template <class Scalar>
std::int64_t rank_of(const carray<Scalar>& U) {
  return U.ndim() == 2 ? U.shape(1) : 0;
}

template <class Scalar, class Index>
using ValidationArrays = std::tuple<carray<Index>, carray<Index>, carray<Scalar>>;

template <class Scalar, class Index>
void bind_completion(py::module_& parent) {
  py::module_ m = parent.def_submodule("completion", "itercore.completion's cores");
  py::module_ t = parent.def_submodule("_testing");

  m.def(
      "initialise",
      [](const carray<Index>& r_indptr, const carray<Index>& r_indices, const carray<Scalar>& r_data,
         const carray<Index>& c_indptr, const carray<Index>& c_indices, const carray<Scalar>& c_data,
         carray<Scalar> U, carray<Scalar> V, const AltMinOptions& opt) {
        const auto obs = observed(r_indptr, r_indices, r_data, c_indptr, c_indices, c_data);
        const std::int64_t k = rank_of(U);
        Scalar* up = factor_ptr(U, obs.rows.rows, k, "U");
        Scalar* vp = factor_ptr(V, obs.rows.cols, k, "V");
        bind::run_released(bind::Callback(py::none()), [&](Control*) {
          initialise(obs.rows, obs.cols, k, opt, opt.seed, up, vp, opt.n_threads);
          return Status::converged;
        });
      },
      py::arg("r_indptr").noconvert(), py::arg("r_indices").noconvert(), py::arg("r_data").noconvert(),
      py::arg("c_indptr").noconvert(), py::arg("c_indices").noconvert(), py::arg("c_data").noconvert(),
      py::arg("U").noconvert(), py::arg("V").noconvert(), py::arg("options"));

  m.def(
      "altmin",
      [](const carray<Index>& r_indptr, const carray<Index>& r_indices, const carray<Scalar>& r_data,
         const carray<Index>& c_indptr, const carray<Index>& c_indices, const carray<Scalar>& c_data,
         carray<Scalar> U, carray<Scalar> V, const AltMinOptions& opt,
         const std::optional<ValidationArrays<Scalar, Index>>& validation, py::object callback) {
        const auto obs = observed(r_indptr, r_indices, r_data, c_indptr, c_indices, c_data);
        const py::ssize_t mm = obs.rows.rows, nn = obs.rows.cols;
        const std::int64_t k = rank_of(U);
        Scalar* up = factor_ptr(U, mm, k, "U");
        Scalar* vp = factor_ptr(V, nn, k, "V");
        Validation<Scalar, Index> val;
        if (validation) {
          const auto& [vr, vc, vv] = *validation;
          if (vr.ndim() != 1 || vc.ndim() != 1 || vv.ndim() != 1 || vr.shape(0) != vc.shape(0) ||
              vr.shape(0) != vv.shape(0))
            throw std::invalid_argument("validation: rows, cols and values must be 1-D of equal length");
          val = {vr.data(), vc.data(), vv.data(), static_cast<std::int64_t>(vr.shape(0))};
        }
        bind::Callback cb(std::move(callback));
        auto monitor = [&](std::int64_t sweep, double residual) {
          return cb.report(sweep, residual, [&] {
            return py::dict(py::arg("U") = bind::copy_of(static_cast<const Scalar*>(up), mm, k),
                            py::arg("V") = bind::copy_of(static_cast<const Scalar*>(vp), nn, k));
          });
        };
        std::vector<double> val_history;
        const SolveInfo info = bind::run_released(cb, [&](Control* control) {
          return altmin(obs.rows, obs.cols, k, up, vp, opt, validation ? &val : nullptr, &val_history, monitor,
                        control);
        });
        py::dict d = bind::result_dict(info);
        d["validation_history"] =
            py::array_t<double>(static_cast<py::ssize_t>(val_history.size()), val_history.data());
        return d;
      },
      py::arg("r_indptr").noconvert(), py::arg("r_indices").noconvert(), py::arg("r_data").noconvert(),
      py::arg("c_indptr").noconvert(), py::arg("c_indices").noconvert(), py::arg("c_data").noconvert(),
      py::arg("U").noconvert(), py::arg("V").noconvert(), py::arg("options"),
      py::arg("validation").noconvert() = py::none(), py::arg("callback") = py::none());

  // One half-step, X[j] <- the solve of line j of the CSR (indptr, indices,
  // data) against F (other x k), from the warm start in X, with the per-line
  // part of `options`: itercore.completion's method="paper" driver, the tests
  // and the per-row benchmark.
  auto half = [](const carray<Index>& indptr, const carray<Index>& indices, const carray<Scalar>& data,
                 const carray<Scalar>& F, carray<Scalar> X, const AltMinOptions& opt) {
    if (indptr.ndim() != 1 || indptr.shape(0) < 1) throw std::invalid_argument("indptr must be 1-D and non-empty");
    if (F.ndim() != 2) throw std::invalid_argument("F: wrong shape");
    const Index lines = static_cast<Index>(indptr.shape(0) - 1), other = static_cast<Index>(F.shape(0));
    auto A = bind::csr_view<Scalar, Index>(lines, other, indptr, indices, data);
    const std::int64_t k = F.shape(1);
    if (k <= 0) throw std::invalid_argument("F: rank must be >= 1");
    Scalar* xp = factor_ptr(X, lines, k, "X");
    opt.check();
    bind::run_released(bind::Callback(py::none()), [&](Control*) {
      const int nt = resolve_threads(opt.n_threads);
      std::vector<RowScratch<Scalar>> scratch;
      for (int i = 0; i < nt; ++i) scratch.emplace_back(k, max_line(A), opt);
      half_step(A, F.data(), k, xp, opt, scratch, nt);
      return Status::converged;
    });
  };
  for (py::module_* mod : {&m, &t})
    mod->def((mod == &m ? "half_step" : "completion_half_step"), half, py::arg("indptr").noconvert(),
             py::arg("indices").noconvert(), py::arg("data").noconvert(), py::arg("F").noconvert(),
             py::arg("X").noconvert(), py::arg("options"));
}

}  // namespace itercore_completion_bindings
