"""The one solve pipeline every itercore family goes through.

A public function validates its arrays (``_validation``), then

1. :func:`make_options` fills the core's C++ options struct (bound by name in
   ``cpp/bindings``; its defaults are the C++ initialisers, never restated
   here) from the keyword arguments and the expert ``options`` dict, and runs
   the struct's own ``check()``;
2. the binding runs the core with the GIL released, a Ctrl-C hook and, when a
   callback is given, the one progress report ``hook(nit, error, state)``
   that :func:`linear_callback` / :func:`result_callback` turn into the
   user's ``callback(xk)`` or ``callback(intermediate_result)``;
3. :func:`make_result` builds the ``OptimizeResult`` (or :func:`linear_info`
   the ``info`` of an ``(x, info)`` return) with the status table
   :data:`STATUS`, and :func:`warn_not_converged` applies the one warning
   policy.
"""

from __future__ import annotations

import difflib
import warnings
from types import SimpleNamespace

import numpy as np
from scipy.optimize import OptimizeResult

from . import _core
from ._warnings import ConvergenceWarning

__all__ = [
    "STATUS",
    "status_name",
    "defaults",
    "make_options",
    "make_result",
    "linear_info",
    "warn_linear",
    "warn_not_converged",
    "linear_callback",
    "result_callback",
]

#: The shared status table: ``status`` int -> (name, message). The ints are
#: those of the C++ ``itercore::Status`` enum (``_core.Status``), for every family.
STATUS = {
    int(_core.Status.converged): ("converged", "the stopping test was met"),
    int(_core.Status.max_iter): ("max_iter", "the iteration limit was reached before the stopping test was met"),
    int(_core.Status.breakdown): ("breakdown", "the method could not continue (breakdown)"),
    int(_core.Status.non_finite): ("non_finite", "NaN or inf appeared; the last finite iterate is returned"),
    int(_core.Status.interrupted): ("interrupted", "interrupted"),
    int(_core.Status.callback_stop): ("callback_stop", "the callback raised StopIteration"),
}
CONVERGED = int(_core.Status.converged)
MAX_ITER = int(_core.Status.max_iter)
BREAKDOWN = int(_core.Status.breakdown)
NON_FINITE = int(_core.Status.non_finite)
CALLBACK_STOP = int(_core.Status.callback_stop)


def status_name(status):
    """The short name of a status int (``"converged"``, ``"max_iter"``, ...)."""
    return STATUS[int(status)][0]


def defaults(options_cls):
    """The C++ defaults of an options struct as a namespace (for signatures)."""
    o = options_cls()
    return SimpleNamespace(**{name: getattr(o, name) for name in options_cls._fields})


def _closest(key, valid):
    near = difflib.get_close_matches(str(key), valid, n=1)
    return f"; did you mean {near[0]!r}?" if near else f"; valid: {', '.join(sorted(valid))}"


_KINDS = {}


def _kinds(options_cls):
    """field -> (kind, enum members or None), read once per options struct."""
    kinds = _KINDS.get(options_cls)
    if kinds is None:
        o = options_cls()
        kinds = {}
        for name in options_cls._fields:
            v = getattr(o, name)
            members = getattr(type(v), "__members__", None)
            kind = "enum" if members is not None else type(v).__name__  # bool, int, float
            kinds[name] = (kind, members)
        _KINDS[options_cls] = kinds
    return kinds


def _int_type(options_cls, field):
    """The C++ integer type of an int field, probed (for error messages)."""
    def fits(v):
        try:
            setattr(options_cls(), field, v)
            return True
        except TypeError:
            return False
    bits = 64 if fits(2**31) else 32
    return f"{bits}-bit unsigned integer" if not fits(-1) else f"{bits}-bit signed integer"


def _set(opts, kinds, field, value, label):
    """``opts.field = value`` with a TypeError/ValueError naming ``label``."""
    kind, members = kinds[field]
    if kind == "enum":  # a bound enum: choices are given by name
        if isinstance(value, str):
            if value not in members:
                valid = ", ".join(repr(k) for k in members)
                raise ValueError(f"{label} must be one of {valid}; got {value!r}")
            value = members[value]
        elif type(value) is not type(next(iter(members.values()))):
            raise TypeError(f"{label} must be a str, got {type(value).__name__}")
    elif kind == "bool":
        if not isinstance(value, (bool, np.bool_)) and not (isinstance(value, int) and value in (0, 1)):
            raise TypeError(f"{label} must be a bool, got {type(value).__name__}")
        value = bool(value)
    elif kind == "int":
        if isinstance(value, (bool, np.bool_)) or not hasattr(value, "__index__"):
            raise TypeError(f"{label} must be an int, got {type(value).__name__}")
    elif kind == "float":
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.floating, np.integer)):
            raise TypeError(f"{label} must be a real number, got {type(value).__name__}")
        value = float(value)
        if value != value:
            raise ValueError(f"{label} must not be NaN")
    try:
        setattr(opts, field, value)
    except TypeError:
        if kind == "int":  # the type was checked above: pybind11 refuses ints that overflow the field
            raise ValueError(f"{label} is out of range: it must fit the core's {_int_type(type(opts), field)}, "
                             f"got {value}") from None
        raise TypeError(f"{label} must be {kind}, got {type(value).__name__}") from None
    except (OverflowError, ValueError) as exc:
        raise ValueError(f"{label} is out of range: {exc}") from None


def make_options(options_cls, keywords=None, options=None, *, options_name="options", derived=None):
    """Fill a C++ options struct and check it.

    Parameters
    ----------
    options_cls : type
        A bound options struct (``_core.<family>.<Solver>Options``).
    keywords : dict, optional
        Public keyword arguments by field name; ``None`` values keep the C++
        default. Errors name the keyword.
    options : dict or None
        The user's expert options (``options=`` of the public function); an
        unknown key is a ``TypeError`` naming it and the closest valid name;
        a key that is also a public keyword must be passed as that keyword.
    options_name : str
        How the public function calls its expert dict (for messages).
    derived : dict, optional
        Fields the function sets from its other arguments (not settable
        through ``options``).

    Returns
    -------
    An instance of ``options_cls``, checked by its own ``check()``
    (``ValueError`` naming the field).
    """
    opts = options_cls()
    kinds = _kinds(options_cls)
    keywords = keywords or {}
    for key, value in keywords.items():
        if value is not None:
            _set(opts, kinds, key, value, key)
    derived = derived or {}
    for key, value in derived.items():
        setattr(opts, key, value)
    if options is not None:
        if not isinstance(options, dict):
            raise TypeError(f"{options_name} must be a dict or None, got {type(options).__name__}")
        expert = [f for f in options_cls._fields if f not in keywords and f not in derived]
        for key, value in options.items():
            if key in keywords:
                raise TypeError(f"{options_name}[{key!r}]: pass {key} as a keyword argument")
            if key in derived:
                raise TypeError(f"{options_name}[{key!r}] is set from the function's other arguments")
            if key not in expert:
                raise TypeError(f"{options_name} has an unknown key {key!r}{_closest(key, expert)}")
            _set(opts, kinds, key, value, f"{options_name}[{key!r}]")
    try:
        opts.check()
    except ValueError as exc:  # the C++ check names the field; say where it came from
        field = str(exc).split(" ", 1)[0]
        if options is not None and field in options:
            raise ValueError(f"{options_name}[{field!r}]: {exc}") from None
        raise
    return opts


def make_result(info, *, result_cls=OptimizeResult, history=False, message=None, **fields):
    """The ``OptimizeResult`` of a solve from the core's result dict.

    ``info`` has ``status`` (an int of :data:`STATUS`), ``nit`` and
    ``history``; ``fields`` are the family's own (``x``, the error measures,
    ...). Sets ``success``, ``status``, ``message``, ``nit`` the same way for
    every family; ``message`` (the precise reason, e.g. which breakdown)
    replaces the table's sentence when given; ``history`` is kept only when
    asked for.
    """
    status = int(info["status"])
    res = result_cls(**fields)
    res.status = status
    res.success = status == CONVERGED
    res.message = STATUS[status][1] if message is None else message
    res.nit = int(info["nit"])
    if history:
        res.history = info["history"]
    return res


def warn_not_converged(solver, status, error, tol, measure, *, reason=None, stacklevel=2):
    """The one warning policy: a ``ConvergenceWarning`` stating the achieved
    ``measure`` and the tolerance, for any status but converged and callback
    stop; ``reason`` replaces the status table's sentence. ``stacklevel`` is
    counted from the public function (2: its caller)."""
    status = int(status)
    if status in (CONVERGED, CALLBACK_STOP):
        return
    why = STATUS[status][1] if reason is None else reason
    warnings.warn(f"{solver} did not converge ({STATUS[status][0]}: {why}): "
                  f"{measure} {error:.3e} > tol {tol:.1e}", ConvergenceWarning, stacklevel=stacklevel + 1)


def warn_linear(solver, info, b, rtol, atol, *, stacklevel=2):
    """:func:`warn_not_converged` for an ``(x, info)`` solver: the relative
    residual ``info["residual"] / ||b||`` against ``max(rtol, atol / ||b||)``
    (absolute when ``b = 0``); the solver label names the iterations done."""
    if int(info["status"]) in (CONVERGED, CALLBACK_STOP):  # the common case: no norm of b to take
        return
    with np.errstate(over="ignore"):  # b near the overflow limit: the message says inf
        bnorm = float(np.linalg.norm(b))
    target = max(rtol * bnorm, atol)
    if bnorm > 0:
        error, tol, measure = info["residual"] / bnorm, target / bnorm, "relative residual"
    else:
        error, tol, measure = info["residual"], target, "residual"
    warn_not_converged(f"{solver} ({info['nit']} iterations)", info["status"], error, tol, measure,
                       stacklevel=stacklevel + 1)


def linear_info(status, nit):
    """scipy's ``info`` for an ``(x, info)`` return: 0 converged, the
    iterations done (> 0) when stopped early, -1 breakdown or NaN/inf."""
    status = int(status)
    if status == CONVERGED:
        return 0
    if status in (MAX_ITER, CALLBACK_STOP):
        return max(int(nit), 1)
    return -1


def linear_callback(callback, transform=None):
    """The core's progress hook for a linear solver: ``callback(xk)`` with a
    copy of the iterate (``transform`` maps the core's copy to the user's
    order, e.g. undoing a permutation)."""
    if callback is None:
        return None
    if transform is None:
        return lambda nit, error, state: callback(state["x"])
    return lambda nit, error, state: callback(transform(state["x"]))


def result_callback(callback, measure, **static):
    """The core's progress hook for the other solvers: scipy's
    ``callback(intermediate_result)``, an ``OptimizeResult`` with ``nit``,
    the error ``measure`` by its name, the state arrays (copies) and ``static``."""
    if callback is None:
        return None

    def hook(nit, error, state):
        res = OptimizeResult(static)
        res.update(state)
        res.nit = int(nit)
        res[measure] = float(error)
        callback(res)

    return hook
