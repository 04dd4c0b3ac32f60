#pragma once
/// Thread-count resolution. `n_threads <= 0` means the OpenMP runtime's
/// current default (OMP_NUM_THREADS, omp_set_num_threads, threadpoolctl).

#ifdef _OPENMP
#include <omp.h>
#endif

namespace itercore {

/// True when the cores were compiled with OpenMP.
constexpr bool have_openmp() noexcept {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

/// The number of threads a parallel region of this thread would use by default.
inline int default_threads() noexcept {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// Resolves a requested count: positive is taken as is (1 without OpenMP),
/// anything else becomes the runtime default.
inline int resolve_threads(int requested) noexcept {
  if (!have_openmp()) return 1;
  return requested > 0 ? requested : default_threads();
}

}  // namespace itercore
