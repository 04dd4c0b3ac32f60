#pragma once
/// Solve outcome shared by every itercore core: a status code, the iteration
/// count and the final residual, plus an optional residual history.

#include <cstdint>
#include <vector>

namespace itercore {

/// Why a solve stopped. Non-convergence is a status, never an exception.
enum class Status : int {
  converged = 0,      ///< the stopping test was met
  max_iter = 1,       ///< the iteration budget ran out first
  breakdown = 2,      ///< the method cannot continue (e.g. a zero curvature)
  non_finite = 3,     ///< NaN or inf appeared; the last finite iterate is kept
  interrupted = 4,    ///< the interrupt hook asked to stop (Ctrl-C)
  callback_stop = 5,  ///< the user's callback asked to stop
};

/// Short, stable name of a status (for messages and the Python layer).
inline const char* status_name(Status s) noexcept {
  switch (s) {
    case Status::converged: return "converged";
    case Status::max_iter: return "max_iter";
    case Status::breakdown: return "breakdown";
    case Status::non_finite: return "non_finite";
    case Status::interrupted: return "interrupted";
    case Status::callback_stop: return "callback_stop";
  }
  return "unknown";
}

/// What a core returns beside its output arrays.
struct SolveInfo {
  Status status = Status::max_iter;
  std::int64_t iterations = 0;
  double residual = 0.0;          ///< the final value of the method's stopping measure
  std::vector<double> history;    ///< the stopping measure at each check, when asked for
};

}  // namespace itercore
