// itercore.completion, single precision (see completion.cpp).
#include "completion_binding.hpp"

void register_completion_float(pybind11::module_& parent) {
  itercore_completion_bindings::bind_completion<float, std::int32_t>(parent);
  itercore_completion_bindings::bind_completion<float, std::int64_t>(parent);
}
