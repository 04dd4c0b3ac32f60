// pybind11 glue for itercore.bcd's forest PCG core (bcd/forest_pcg.hpp):
// conjugate gradients preconditioned by a symmetric forest-block sweep.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "bcd_binding.hpp"
#include "binding_utils.hpp"
#include "itercore/bcd/forest_pcg.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace {

using I64 = std::int64_t;

/// B, X: (k, n) C order, k right-hand sides sharing one preconditioner set-up.
void check_rows(const carray<double>& B, const carray<double>& X, I64 n) {
  if (B.ndim() != 2 || B.shape(1) != static_cast<py::ssize_t>(n)) throw std::invalid_argument("b: must be (k, n)");
  if (X.ndim() != 2 || X.shape(0) != B.shape(0) || X.shape(1) != B.shape(1))
    throw std::invalid_argument("x must have the shape of b");
}

template <class Index>
void bind_index(py::module_& m, py::module_& t) {
  m.def(
      "forest_pcg",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& B, carray<double> X, const carray<I64>& block_ptr, const carray<I64>& block_idx,
         const bcd::ForestPcgOptions& opt, py::object callback) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        check_rows(B, X, n);
        const I64 k = B.shape(0);
        const bcd::Partition blocks = bind::partition_view(block_ptr, block_idx, n);
        bind::Callback cb(std::move(callback));
        const auto monitor = bind::x_monitor(cb, n);
        std::vector<SolveInfo> infos;
        double* xp = X.mutable_data();
        const double* bp = B.data();
        if (k > 0)
          bind::run_released(cb, [&](Control* control) {
            bcd::ForestPCG<double, Index> pcg(A, blocks, opt);
            infos = bind::solve_rows(k, n, bp, xp, [&](const double* b, double* x) {
              return pcg.solve(b, x, control, monitor);
            });
            return infos.back();
          });
        py::list out;
        for (const SolveInfo& info : infos) out.append(bind::result_dict(info));
        return out;
      },
      "A x = b for each row of B by forest-block-preconditioned CG, in place from the rows of X; one result "
      "dict per right-hand side solved (a stop ends the sequence).",
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("B").noconvert(), py::arg("X").noconvert(), py::arg("block_ptr").noconvert(),
      py::arg("block_idx").noconvert(), py::arg("options"), py::arg("callback"));

  // Tests: each row of R times the preconditioner's inverse M^{-1}, no solve.
  t.def(
      "bcd_forest_preconditioner",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<I64>& block_ptr, const carray<I64>& block_idx, double omega, const carray<double>& R) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        carray<double> Z({R.ndim() == 2 ? R.shape(0) : py::ssize_t(0), static_cast<py::ssize_t>(n)});
        check_rows(R, Z, n);
        bcd::ForestPcgOptions opt;
        opt.omega = omega;
        bcd::ForestPCG<double, Index> pcg(A, bind::partition_view(block_ptr, block_idx, n), opt);
        for (I64 c = 0; c < R.shape(0); ++c) pcg.apply(R.data() + c * n, Z.mutable_data() + c * n);
        return Z;
      },
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("block_ptr").noconvert(), py::arg("block_idx").noconvert(), py::arg("omega"), py::arg("R").noconvert());
}

}  // namespace

void register_bcd_forest_pcg(py::module_& parent) {
  py::module_ m = parent.def_submodule("bcd");
  bind::options_class<bcd::ForestPcgOptions>(m, "ForestPcgOptions",
                                             "Options of bcd::ForestPCG (itercore/bcd/forest_pcg.hpp).")
      .field("omega", &bcd::ForestPcgOptions::omega, "block SSOR relaxation, in (0, 2)")
      .field("tol", &bcd::ForestPcgOptions::tol, "stop when ||A x - b|| / ||b|| <= tol")
      .field("maxiter", &bcd::ForestPcgOptions::maxiter, "CG iterations");
  py::module_ t = parent.def_submodule("_testing");
  bind_index<std::int32_t>(m, t);
  bind_index<std::int64_t>(m, t);
}
