// pybind11 glue for itercore.bcd's quadratic core (bcd/quadratic.hpp): block
// coordinate descent on 1/2 x^T A x - b^T x + l1 ||x||_1, x >= lower, A in CSR.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>

#include "bcd_binding.hpp"
#include "binding_utils.hpp"
#include "itercore/bcd/quadratic.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace {

using I64 = std::int64_t;

/// The optional lower bounds (None: unbounded), checked to length n and held
/// in `hold` for the duration of the call; returns their data or nullptr.
const double* lower_bounds(const py::object& lower, I64 n, carray<double>& hold) {
  if (lower.is_none()) return nullptr;
  hold = lower.cast<carray<double>>();
  bind::check_length(hold, n, "lower");
  return hold.data();
}

template <class Index>
void bind_index(py::module_& m, py::module_& t) {
  m.def(
      "quadratic",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& b, carray<double> x, const carray<I64>& block_ptr, const carray<I64>& block_idx,
         double l1, py::object lower, const bcd::QuadraticOptions& opt, py::object callback) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        bind::check_length(b, n, "b");
        bind::check_length(x, n, "x");
        const bcd::Partition blocks =
            opt.kind == bcd::BlockKind::fixed ? bind::partition_view(block_ptr, block_idx, n) : bcd::Partition{};
        carray<double> low;
        const double* lp = lower_bounds(lower, n, low);
        bind::Callback cb(std::move(callback));
        bcd::Monitor<double> monitor;
        if (cb.active())
          monitor = [&](I64 it, const double* xc, double fun, double optimality) {
            return cb.report(it, optimality, [&] {
              return py::dict(py::arg("x") = bind::copy_of(xc, n), py::arg("fun") = fun);
            });
          };
        double* xp = x.mutable_data();
        const double* bp = b.data();
        const SolveInfo info = bind::run_released(cb, [&](Control* control) {
          bcd::QuadraticBCD<double, Index> solver(A, bp, blocks, opt, l1, lp);
          return solver.solve(xp, control, monitor);
        });
        return bind::result_dict(info);
      },
      "BCD on a sparse quadratic, in place from x; blocks (CSR-style) for kind 'fixed' only.", py::arg("n"),
      py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("block_ptr").noconvert(),
      py::arg("block_idx").noconvert(), py::arg("l1"), py::arg("lower"), py::arg("options"), py::arg("callback"));

  // Tests: the block a greedy rule picks at (x, g = A x - b), fixed blocks.
  t.def(
      "bcd_greedy_block",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<double>& b, const carray<double>& x, const carray<double>& g, const carray<I64>& block_ptr,
         const carray<I64>& block_idx, const bcd::QuadraticOptions& opt, double l1, py::object lower) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        bind::check_length(b, n, "b");
        bind::check_length(x, n, "x");
        bind::check_length(g, n, "g");
        carray<double> low;
        const double* lp = lower_bounds(lower, n, low);
        const bool fixed = opt.kind == bcd::BlockKind::fixed;
        const bcd::Partition blocks = fixed ? bind::partition_view(block_ptr, block_idx, n) : bcd::Partition{};
        bcd::QuadraticBCD<double, Index> solver(A, b.data(), blocks, opt, l1, lp);
        if (fixed) return py::object(py::int_(solver.greedy_block(x.data(), g.data())));
        const std::vector<I64> blk = solver.variable_block(x.data(), g.data());
        return py::object(bind::copy_of(blk.data(), static_cast<py::ssize_t>(blk.size())));
      },
      "The block a greedy rule picks at (x, g = A x - b): its index (fixed blocks) or its variables (variable).",
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("b").noconvert(), py::arg("x").noconvert(), py::arg("g").noconvert(), py::arg("block_ptr").noconvert(),
      py::arg("block_idx").noconvert(), py::arg("options"), py::arg("l1") = 0.0, py::arg("lower") = py::none());
}

}  // namespace

void register_bcd_quadratic(py::module_& parent) {
  py::module_ m = parent.def_submodule("bcd");
  py::enum_<bcd::BlockKind>(m, "BlockKind", "How blocks are formed.")
      .value("fixed", bcd::BlockKind::fixed)
      .value("variable", bcd::BlockKind::variable)
      .value("greedy-forest", bcd::BlockKind::greedy_forest);
  bind::options_class<bcd::QuadraticOptions>(m, "QuadraticOptions",
                                             "Options of bcd::QuadraticBCD (itercore/bcd/quadratic.hpp).")
      .field("rule", &bcd::QuadraticOptions::rule, "block selection (not gs-r: that is the lasso's)")
      .field("update", &bcd::QuadraticOptions::update, "block update (newton equals matrix on a quadratic)")
      .field("kind", &bcd::QuadraticOptions::kind, "a fixed partition, variable blocks or greedy forests")
      .field("block_size", &bcd::QuadraticOptions::block_size,
             "tau for variable blocks; the size cap of greedy forests")
      .field("tol", &bcd::QuadraticOptions::tol, "stop when ||prox-gradient mapping|| / ||b|| <= tol")
      .field("maxiter", &bcd::QuadraticOptions::maxiter, "block updates")
      .field("check_every", &bcd::QuadraticOptions::check_every,
             "block updates between optimality checks; 0: one sweep (1 with history or greedy forests)")
      .field("seed", &bcd::QuadraticOptions::seed, "for the random and lipschitz rules")
      .field("history", &bcd::QuadraticOptions::history, "record the objective at each check")
      .field("exact_lipschitz", &bcd::QuadraticOptions::exact_lipschitz,
             "L_b = lambda_max(A_bb) for blocks of <= 64 variables (the paper's); else the Gershgorin bound")
      .field("iht_iters", &bcd::QuadraticOptions::iht_iters,
             "gsq on variable blocks: iterative-hard-thresholding steps (0: the GSD choice)")
      .field("iht_step", &bcd::QuadraticOptions::iht_step, "the IHT step mu; 0: 1 / lambda_max(A) (power iteration)")
      .field("support_in_block", &bcd::QuadraticOptions::support_in_block,
             "variable blocks with L1 / bounds: the free (non-zero, off-bound) variables and the other violators, "
             "when they all fit");
  py::module_ t = parent.def_submodule("_testing");
  bind_index<std::int32_t>(m, t);
  bind_index<std::int64_t>(m, t);
}
