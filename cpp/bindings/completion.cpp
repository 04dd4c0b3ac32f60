// itercore.completion, double precision (float lives in completion_float.cpp
// so the two heavy instantiations compile in parallel).
#include "completion_binding.hpp"

void register_completion(pybind11::module_& m) {
  itercore_completion_bindings::bind_completion<double, std::int32_t>(m);
  itercore_completion_bindings::bind_completion<double, std::int64_t>(m);
}
