// The one extension module, itercore._core. Every cpp/bindings/<family>.cpp
// defines `void register_<family>(pybind11::module_&)`; CMake lists them in
// itercore_families.inc, so a new family needs no edit here.
#include <pybind11/pybind11.h>

namespace py = pybind11;

#define ITERCORE_FAMILY(name) void register_##name(py::module_& m);
#include "itercore_families.inc"
#undef ITERCORE_FAMILY

PYBIND11_MODULE(_core, m) {
  m.doc() = "itercore's compiled cores (private: use the itercore.* modules)";
#define ITERCORE_FAMILY(name) register_##name(m);
#include "itercore_families.inc"
#undef ITERCORE_FAMILY
}
