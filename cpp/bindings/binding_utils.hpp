#pragma once
// pybind11 glue shared by every family's bindings: array views, the Ctrl-C
// hook, the callback trampoline and status reporting. No numerics here.

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "itercore/common/csr.hpp"
#include "itercore/common/interrupt.hpp"
#include "itercore/common/status.hpp"

namespace itercore::bind {

namespace py = pybind11;

/// A C-contiguous NumPy array of exactly this dtype (no conversion: a wrong
/// dtype or layout is a Python-layer bug and must not silently copy).
template <class T>
using carray = py::array_t<T, py::array::c_style>;

/// A 1-D array of length n, or std::invalid_argument naming it (a Python-layer bug).
inline void check_length(const py::array& a, py::ssize_t n, const char* name) {
  if (a.ndim() != 1 || a.shape(0) != n) throw std::invalid_argument(std::string(name) + ": wrong length");
}

/// Borrow a CSR view from scipy-layout arrays (validated by the Python layer).
template <class Scalar, class Index>
CsrView<Scalar, Index> csr_view(Index rows, Index cols, const carray<Index>& indptr, const carray<Index>& indices,
                                const carray<Scalar>& data) {
  if (indptr.ndim() != 1 || indptr.shape(0) != static_cast<py::ssize_t>(rows) + 1)
    throw std::invalid_argument("indptr must have rows + 1 entries");
  if (indices.ndim() != 1 || data.ndim() != 1 || indices.shape(0) != data.shape(0))
    throw std::invalid_argument("indices and data must be 1-D of equal length");
  CsrView<Scalar, Index> A;
  A.rows = rows;
  A.cols = cols;
  A.indptr = indptr.data();
  A.indices = indices.data();
  A.data = data.data();
  if (static_cast<py::ssize_t>(A.nnz()) > indices.shape(0)) throw std::invalid_argument("indptr[-1] exceeds nnz");
  return A;
}

/// Interrupt hook: reacquire the GIL and let Python handle pending signals.
/// Returns true (stop) when a handler raised, e.g. KeyboardInterrupt.
inline bool python_signal_hook(void*) {
  py::gil_scoped_acquire gil;
  return PyErr_CheckSignals() != 0;
}

/// A Control whose hook checks for Ctrl-C.
inline Control python_control() {
  Control c;
  c.interrupt = &python_signal_hook;
  return c;
}

/// Runs a Python callback from a core that released the GIL. StopIteration
/// means "stop quietly"; any other exception stops the solve and is re-raised
/// by `rethrow()` once the GIL is held again.
class Callback {
 public:
  explicit Callback(py::object fn) : fn_(std::move(fn)) {}
  bool active() const { return !fn_.is_none(); }

  /// The one progress report every core's monitor sends: with the GIL held,
  /// calls fn(nit, error, state) where `make_state()` builds a dict of COPIES
  /// (never a buffer the core still writes). The Python layer's wrapper
  /// (itercore._pipeline) turns that into the user's `callback(xk)` or
  /// `callback(intermediate_result)`. Returns false when the solve must stop.
  template <class MakeState>
  bool report(std::int64_t nit, double error, MakeState&& make_state) {
    if (!active()) return true;
    py::gil_scoped_acquire gil;
    try {
      fn_(nit, error, make_state());
      return true;
    } catch (py::error_already_set& e) {
      if (e.matches(PyExc_StopIteration)) return false;
      error_ = std::current_exception();
      return false;
    } catch (...) {
      error_ = std::current_exception();
      return false;
    }
  }

  /// Re-raises an exception the callback threw (call with the GIL held).
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  py::object fn_;
  std::exception_ptr error_;
};

/// A fresh NumPy copy of n values (for callbacks: the core keeps its buffer).
template <class T>
carray<T> copy_of(const T* p, py::ssize_t n) {
  return carray<T>(n, p);
}

/// A fresh (rows, cols) row-major NumPy copy.
template <class T>
carray<T> copy_of(const T* p, py::ssize_t rows, py::ssize_t cols) {
  return carray<T>({rows, cols}, p);
}

/// The status of a core's result; families whose cores return a wider struct
/// add an overload in their own namespace (found by argument-dependent lookup).
inline Status status_of(const SolveInfo& info) { return info.status; }
inline Status status_of(Status s) { return s; }

/// Runs `solve(Control*)` with the GIL released and the Ctrl-C hook installed;
/// then, with the GIL held again, re-raises what the callback threw, or
/// KeyboardInterrupt when the solve was interrupted. Every binding runs its
/// core through this one function.
template <class F>
auto run_released(const Callback& cb, F&& solve) {
  using R = decltype(solve(std::declval<Control*>()));
  std::optional<R> out;
  {
    py::gil_scoped_release nogil;
    Control control = python_control();
    out.emplace(solve(&control));
  }
  cb.rethrow();
  if (status_of(*out) == Status::interrupted) {
    if (PyErr_Occurred()) throw py::error_already_set();
    PyErr_SetNone(PyExc_KeyboardInterrupt);
    throw py::error_already_set();
  }
  return std::move(*out);
}

/// The shared part of every result, as a dict: `status` (the int of the
/// Status enum: one table for every family), `nit`, `residual` (the core's
/// stopping measure) and `history`. Families add their own keys to it.
inline py::dict result_dict(const SolveInfo& info) {
  py::dict d;
  d["status"] = static_cast<int>(info.status);
  d["nit"] = info.iterations;
  d["residual"] = info.residual;
  d["history"] = py::array_t<double>(static_cast<py::ssize_t>(info.history.size()), info.history.data());
  return d;
}

/// Binds an options struct by name, as osqp-python binds its settings: one
/// read-write property per field with the field's doc, `_fields` listing the
/// names in declaration order, and `check()` running the struct's own
/// parameter check (std::invalid_argument naming the field -> ValueError).
/// Defaults live in the struct's initialisers only; Python reads them.
template <class T>
class options_class : public py::class_<T> {
 public:
  options_class(py::handle scope, const char* name, const char* doc) : py::class_<T>(scope, name, doc) {
    this->def(py::init<>());
    this->def("check", [](const T& o) { o.check(); }, "Raise ValueError naming the first invalid field.");
    this->def("__copy__", [](const T& o) { return T(o); });
    this->attr("_fields") = py::tuple();
  }

  /// One field: `member` (of T or of a struct T derives from) exposed as
  /// `name` with `doc` (its `///<` comment).
  template <class F, class Base>
  options_class& field(const char* name, F Base::*member, const char* doc) {
    static_assert(std::is_base_of_v<Base, T>, "a field of the options struct or of one of its bases");
    F T::*as_member = member;  // a base's member is a member of T
    this->def_readwrite(name, as_member, doc);
    py::list names(this->attr("_fields"));
    names.append(name);
    this->attr("_fields") = py::tuple(names);
    return *this;
  }
};

}  // namespace itercore::bind
