// pybind11 glue for itercore.bcd, the family's shared part: the `_core.bcd`
// submodule, the Rule / Update enums and the graph partitions. Each core has
// its own file: bcd_quadratic.cpp, bcd_smooth.cpp, bcd_lasso.cpp,
// bcd_forest_pcg.cpp. Values are float64 (the Python layer converts);
// indices int32 or int64.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "bcd_binding.hpp"
#include "binding_utils.hpp"
#include "itercore/bcd/forest.hpp"
#include "itercore/bcd/forest_pcg.hpp"
#include "itercore/bcd/rules.hpp"

namespace py = pybind11;
using namespace itercore;
using bind::carray;

namespace {

using I64 = std::int64_t;

template <class Index, class Fn>
void bind_partition(py::module_& m, const char* name, Fn partition, const char* doc) {
  m.def(
      name,
      [partition](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        std::vector<I64> lab;
        {
          py::gil_scoped_release nogil;
          lab = partition(A);
        }
        return carray<I64>(static_cast<py::ssize_t>(lab.size()), lab.data());
      },
      doc, py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert());
}

template <class Index>
void bind_index(py::module_& m, py::module_& t) {
  using View = CsrView<double, Index>;
  bind_partition<Index>(m, "greedy_coloring", [](const View& A) { return bcd::greedy_coloring(A); },
                        "The block (colour) of each variable: independent sets of a greedy colouring.");
  bind_partition<Index>(m, "forest_partition", [](const View& A) { return bcd::greedy_forest_partition(A); },
                        "The block of each variable: a greedy partition into forests of the graph of A.");
  bind_partition<Index>(m, "ordered_forest_partition", [](const View& A) { return bcd::ordered_forest_partition(A); },
                        "The block of each variable: consecutive variables, a new block where a cycle would close.");

  // Tests: the exact solve of a forest block by message passing (rhs in the order of `block`).
  t.def(
      "bcd_forest_solve",
      [](Index n, const carray<Index>& indptr, const carray<Index>& indices, const carray<double>& data,
         const carray<I64>& block, const carray<double>& rhs) {
        auto A = bind::csr_view<double, Index>(n, n, indptr, indices, data);
        const I64 m = block.shape(0);
        bind::check_length(rhs, m, "rhs");
        for (I64 k = 0; k < m; ++k)
          if (block.data()[k] < 0 || block.data()[k] >= n) throw std::invalid_argument("block: index out of range");
        std::vector<double> diag(n, 0.0);
        for (I64 i = 0; i < n; ++i)
          for (Index p = A.indptr[i]; p < A.indptr[i + 1]; ++p)
            if (A.indices[p] == i) diag[i] += A.data[p];
        bcd::ForestScratch s(n);
        bcd::ForestBlock<double> fb;
        if (!bcd::build_forest_block(A, block.data(), m, fb, s))
          throw std::invalid_argument("block: not a forest in the graph of A");
        std::vector<I64> pos(n, -1);
        for (I64 k = 0; k < m; ++k) pos[block.data()[k]] = k;
        std::vector<double> r(m), work(m), d(m);
        for (I64 q = 0; q < m; ++q) r[q] = rhs.data()[pos[fb.nodes[q]]];
        if (!bcd::forest_solve(fb, diag.data(), r, work, d.data()))
          throw std::invalid_argument("A: the block is not positive definite");
        carray<double> out(static_cast<py::ssize_t>(m));
        for (I64 q = 0; q < m; ++q) out.mutable_data()[pos[fb.nodes[q]]] = d[q];
        return out;
      },
      py::arg("n"), py::arg("indptr").noconvert(), py::arg("indices").noconvert(), py::arg("data").noconvert(),
      py::arg("block").noconvert(), py::arg("rhs").noconvert());
}

}  // namespace

void register_bcd(py::module_& parent) {
  py::module_ m = parent.def_submodule("bcd", "itercore.bcd's cores (one binding file per core: bcd_*.cpp)");
  py::enum_<bcd::Rule>(m, "Rule", "How the next block (coordinate) is chosen.")
      .value("cyclic", bcd::Rule::cyclic)
      .value("random", bcd::Rule::random)
      .value("lipschitz", bcd::Rule::lipschitz)
      .value("gs", bcd::Rule::gs)
      .value("gsl", bcd::Rule::gsl)
      .value("gsq", bcd::Rule::gsq)
      .value("gs-r", bcd::Rule::gs_r)
      .value("gsd", bcd::Rule::gsd);
  py::enum_<bcd::Update>(m, "Update", "How a chosen block is updated.")
      .value("gradient", bcd::Update::gradient)
      .value("matrix", bcd::Update::matrix)
      .value("newton", bcd::Update::newton)
      .value("message-passing", bcd::Update::message_passing)
      .value("diagonal", bcd::Update::diagonal)
      .value("tmp", bcd::Update::tmp);
  py::module_ t = parent.def_submodule("_testing");
  bind_index<std::int32_t>(m, t);
  bind_index<std::int64_t>(m, t);
}
