// itercore.completion, single precision (see completion.cpp).
#include "completion_binding.hpp"

void register_completion_float(pybind11::module_& m) {
  itercore_completion_bindings::bind_completion<float, std::int32_t>(m);
  itercore_completion_bindings::bind_completion<float, std::int64_t>(m);
}
