// The one extension module, itercore._core: each family registers itself.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_common(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "itercore's compiled cores (private: use the itercore.* modules)";
  register_common(m);
}
