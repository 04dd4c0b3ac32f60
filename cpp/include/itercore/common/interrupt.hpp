#pragma once
/// Cooperative interruption and progress reporting for long solves.
///
/// Cores never talk to Python. They call `Control::poll()` between iterations,
/// from the calling thread and never inside a parallel region; a binding may
/// install a hook that reacquires the GIL and checks for Ctrl-C, and a
/// per-iteration monitor that runs a user callback.

#include <chrono>
#include <cstdint>

namespace itercore {

/// A cheap, optional hook: returns true when the solve must stop.
using InterruptFn = bool (*)(void* context);

/// Hooks a core consults while it iterates. Default-constructed: no hooks.
struct Control {
  InterruptFn interrupt = nullptr;  ///< polled at most every `poll_seconds`
  void* interrupt_context = nullptr;
  double poll_seconds = 0.05;       ///< wall-clock spacing between interrupt polls

  /// Returns true when the interrupt hook asks to stop. Costs one clock read
  /// when a hook is installed and nothing otherwise; call it once per
  /// iteration (or every few iterations when an iteration is tiny).
  bool poll() {
    if (interrupt == nullptr) return false;
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - last_poll_).count() < poll_seconds) return false;
    last_poll_ = now;
    return interrupt(interrupt_context);
  }

 private:
  std::chrono::steady_clock::time_point last_poll_ = std::chrono::steady_clock::now();
};

}  // namespace itercore
