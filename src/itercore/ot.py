"""Entropic optimal transport: log-domain Sinkhorn and Sinkhorn-Newton-Sparse.

Solves

    min_P  <P, M> + reg * sum_ij P_ij (log P_ij - 1)   s.t.  P 1 = a,  P^T 1 = b,

whose solution is ``P_ij = exp((f_i + g_j - M_ij) / reg)`` for the dual
potentials ``(f, g)``. Two iterations are available:

- ``"sinkhorn"``: Sinkhorn on the potentials, in the log domain (stable for any
  ``reg > 0``) with a scaling-form fast path (two mat-vecs with a stored kernel
  per iteration) used only where it cannot underflow;
- ``"sns"``: Sinkhorn-Newton-Sparse (Tang et al., ICLR 2024): a Sinkhorn
  warm-up, then Newton steps on the dual with an adaptively sparsified Hessian
  solved by preconditioned conjugate gradients (or, when CG struggles, exactly
  by a sparse Cholesky of its Schur complement), Armijo backtracking, and a
  fall back to Sinkhorn when a Newton step fails. Far fewer iterations when
  ``reg`` is small;
- ``"auto"`` (default) picks ``"sinkhorn"`` when ``reg`` is at least 0.5% of
  the cost range and ``"sns"`` below.

The argument order follows POT (``a, b, M, reg``); ``sinkhorn`` and
``sinkhorn2`` are drop-ins for ``ot.sinkhorn`` and ``ot.sinkhorn2``.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import OptimizeResult

from . import _core
from ._validation import (
    as_float_array,
    check_callback,
    check_choice,
    check_int,
    check_n_threads,
    check_scalar,
    result_dtype,
)
from ._warnings import ConvergenceWarning

__all__ = ["solve", "sinkhorn", "sinkhorn2", "solve_batch"]

_METHODS = ("auto", "sinkhorn", "sns", "sinkhorn_log")
_METHOD_CODE = {"sinkhorn": 0, "sinkhorn_log": 1, "sns": 2}
_STATUS = {"converged": 0, "max_iter": 1, "breakdown": 2, "non_finite": 3, "interrupted": 4, "callback_stop": 5}
_MESSAGES = {
    "converged": "the L1 marginal error reached tol",
    "max_iter": "the iteration limit was reached before tol",
    "breakdown": "the method could not continue",
    "non_finite": "NaN or inf appeared; the last finite potentials are returned",
    "callback_stop": "the callback raised StopIteration",
}
#: ``reg`` below this fraction of the cost range makes ``method="auto"`` use SNS.
AUTO_SNS_BELOW = 5e-3
#: Newton linear solvers (``newton_options["linear_solver"]``) and their core codes.
_LINEAR_SOLVERS = {"auto": 0, "cg": 1, "direct": 2}
#: Expert SNS knobs accepted in ``newton_options`` (name -> (kind, lower bound)).
_NEWTON_OPTIONS = {
    "cg_maxiter": (int, 1),  # conjugate-gradient iterations per Newton step (5000)
    "max_keep": (int, 1),  # initial cap on kept Hessian entries per row (32; doubles on stalls)
    "drop_share": (float, 0.0),  # initial share of a row's mass the sparse Hessian may drop (1e-2)
    "fallback_iter": (int, 0),  # Sinkhorn iterations after a failed Newton step (20)
    "max_step": (float, 0.0),  # first trial step moves a potential by at most max_step * reg (30)
    "newton_sinkhorn": (int, 0),  # log-domain Sinkhorn iterations after each accepted Newton step (1)
    "stall_sinkhorn": (int, 0),  # Sinkhorn iterations after a Newton step that did not halve the error (20)
    "linear_solver": (str, _LINEAR_SOLVERS),  # Newton systems: "auto", "cg" or "direct" ("auto")
    "direct_after": (int, 0),  # auto: direct once a CG solve needed more iterations than this (200)
    "direct_max_size": (int, 1),  # auto: direct only when min(n, m) is at most this (5000)
}


def _check_newton_options(options):
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise TypeError(f"newton_options must be a dict or None, got {type(options).__name__}")
    out = {}
    for key, value in options.items():
        if key not in _NEWTON_OPTIONS:
            valid = ", ".join(sorted(_NEWTON_OPTIONS))
            raise ValueError(f"newton_options has an unknown key {key!r}; valid keys: {valid}")
        kind, lower = _NEWTON_OPTIONS[key]
        name = f"newton_options[{key!r}]"
        if kind is str:
            out[key] = lower[check_choice(value, name, tuple(lower))]
        elif kind is int:
            out[key] = check_int(value, name, lower=lower)
        else:
            out[key] = check_scalar(value, name, lower=lower, lower_inclusive=False)
    if "drop_share" in out and out["drop_share"] >= 1:
        raise ValueError(f"newton_options['drop_share'] must be < 1, got {out['drop_share']}")
    return out


def _default_tol(dtype):
    return 1e-9 if dtype == np.float64 else 1e-5


def _mass_rtol(dtype):
    return 1e-8 if dtype == np.float64 else 1e-5


def _check_weights(x, name, dtype, n=None):
    x = as_float_array(x, name, ndim=1, dtype=dtype, shape=None if n is None else (n,))
    if np.any(x < 0):
        raise ValueError(f"{name} must be non-negative (found {x.min():g})")
    total = float(x.sum(dtype=np.float64))
    if not total > 0:
        raise ValueError(f"{name} must have a positive total mass")
    return x, total


def _check_problem(a, b, M, reg):
    """Validated (a, b, M, reg, dtype); a/b None mean uniform weights."""
    if M is None:
        raise TypeError("M must be an array, got None")
    M_in = np.asarray(M) if not hasattr(M, "dtype") else M
    dts = [getattr(M_in, "dtype", np.float64)]
    for w in (a, b):
        if w is not None:
            dts.append(getattr(w, "dtype", np.asarray(w).dtype))
    dtype = result_dtype(*dts)
    M = as_float_array(M, "M", ndim=2, dtype=dtype)
    n, m = M.shape
    if a is None:
        a = np.full(n, 1.0 / n, dtype=dtype)
    if b is None:
        b = np.full(m, 1.0 / m, dtype=dtype)
    a, sa = _check_weights(a, "a", dtype)
    b, sb = _check_weights(b, "b", dtype)
    if M.shape != (a.shape[0], b.shape[0]):
        raise ValueError(f"M must have shape (len(a), len(b)) = ({a.shape[0]}, {b.shape[0]}), got {M.shape}")
    if abs(sa - sb) > _mass_rtol(dtype) * max(sa, sb):
        raise ValueError(f"a and b must have the same total mass: sum(a) = {sa!r}, sum(b) = {sb!r}")
    reg = check_scalar(reg, "reg", lower=0.0, lower_inclusive=False)
    return a, b, M, reg, dtype


def _resolve_method(method, M, reg):
    method = check_choice(method, "method", _METHODS)
    if method != "auto":
        return method
    span = float(M.max()) - float(M.min()) if M.size else 0.0
    return "sns" if span > 0 and reg < AUTO_SNS_BELOW * span else "sinkhorn"


def _start(x0, name, size, weights, dtype):
    if x0 is None:
        return np.zeros(size, dtype=dtype)
    x = as_float_array(x0, name, ndim=1, shape=(size,), dtype=dtype, finite=False, copy=True)
    if np.isnan(x).any() or not np.isfinite(x[weights > 0]).all():
        raise ValueError(f"{name} must be finite where the weights are positive")
    return x


def _common_options(tol, maxiter, max_newton, switch_tol, warmup_iter, dtype):
    tol = _default_tol(dtype) if tol is None else check_scalar(tol, "tol", lower=0.0)
    maxiter = check_int(maxiter, "maxiter", lower=0)
    max_newton = check_int(max_newton, "max_newton", lower=0)
    switch_tol = check_scalar(switch_tol, "switch_tol", lower=0.0)
    warmup_iter = check_int(warmup_iter, "warmup_iter", lower=0)
    return tol, maxiter, max_newton, switch_tol, warmup_iter


def solve(a, b, M, reg, *, method="auto", tol=None, maxiter=10000, max_newton=100, f0=None, g0=None,
          callback=None, n_threads=None, switch_tol=1e-1, warmup_iter=50, newton_options=None, history=False):
    """Entropic optimal transport between histograms ``a`` and ``b``.

    Parameters
    ----------
    a : (n,) array_like or None
        Source weights, non-negative (zeros allowed: those rows carry no
        mass). ``None`` means uniform.
    b : (m,) array_like or None
        Target weights, same total mass as ``a`` (relative 1e-8; 1e-5 for
        float32).
    M : (n, m) array_like
        Cost matrix, finite. float32 when ``a``, ``b`` and ``M`` are all
        float32 (then everything is computed and returned in float32), else
        float64.
    reg : float
        Entropic regularization, > 0.
    method : {"auto", "sinkhorn", "sns", "sinkhorn_log"}
        ``"sinkhorn"``: log-domain Sinkhorn with the scaling fast path;
        ``"sinkhorn_log"``: the same iteration in the log domain only;
        ``"sns"``: Sinkhorn-Newton-Sparse; ``"auto"``: ``"sns"`` when ``reg``
        is below 0.5% of ``M.max() - M.min()``, else ``"sinkhorn"``.
    tol : float, optional
        Stop when the L1 marginal error ``||P 1 - a||_1 + ||P^T 1 - b||_1``
        is at most ``tol``. Default 1e-9 (1e-5 for float32).
    maxiter : int
        Sinkhorn iterations allowed (SNS: warm-up and fall-back ones).
    max_newton : int
        Newton steps allowed (SNS only).
    f0, g0 : array_like, optional
        Starting dual potentials (e.g. ``f`` and ``g`` of an earlier result).
    callback : callable, optional
        ``callback(intermediate)`` after every iteration, with an
        ``OptimizeResult`` holding ``phase`` ("sinkhorn" or "newton"),
        ``nit``, ``marginal_error``, ``f``, ``g``. Raise ``StopIteration``
        to stop.
    n_threads : int, optional
        OpenMP threads (``None``: the runtime default; ``-1``: all CPUs).
    switch_tol, warmup_iter : float, int
        SNS: the Sinkhorn warm-up runs until the marginal error is below
        ``switch_tol`` or for ``warmup_iter`` iterations.
    newton_options : dict, optional
        Expert SNS knobs: ``cg_maxiter`` (CG iterations per Newton step,
        default 5000), ``max_keep`` (initial kept Hessian entries per row, 32,
        doubled when Newton stalls), ``drop_share`` (initial share of a row's
        mass the sparsified Hessian may drop, 1e-2, shrunk tenfold on
        stalls), ``fallback_iter`` (Sinkhorn iterations after a failed Newton
        step, 20), ``max_step`` (the first trial step moves no potential by
        more than ``max_step * reg``, 30), ``newton_sinkhorn`` (log-domain
        Sinkhorn iterations after each accepted Newton step, 1),
        ``stall_sinkhorn`` (Sinkhorn iterations after a Newton step that did
        not halve the marginal error, 20), ``linear_solver`` (how Newton
        systems are solved: ``"cg"`` Jacobi-preconditioned CG; ``"direct"``
        an exact sparse Cholesky of the Schur complement on the smaller side;
        ``"auto"``, the default: CG, and direct once a CG solve needed more
        than ``direct_after`` (200) iterations, ``min(n, m) <=
        direct_max_size`` (5000) and the factorization costs fewer flops than
        that CG solve did).
    history : bool
        Keep the marginal error of every iteration in ``result.history``.

    Returns
    -------
    result : scipy.optimize.OptimizeResult
        ``plan`` (n, m), ``f``, ``g`` (dual potentials: ``plan =
        exp((f[:, None] + g[None, :] - M) / reg)``; ``-inf`` for zero
        weights), ``cost`` (``<plan, M>``), ``value`` (the entropic
        objective), ``marginal_error`` (recomputed from ``plan``), ``nit``
        (total), ``nit_sinkhorn``, ``nit_newton``, ``nit_cg``, ``nit_direct``
        (Newton systems solved directly), ``method``,
        ``status`` (0 converged, 1 iteration limit, 3 non-finite,
        5 callback stop), ``success``, ``message``, ``history``.

    Warns
    -----
    ConvergenceWarning
        When the tolerance was not reached; the message gives the achieved
        marginal error.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import ot
    >>> x = np.linspace(0, 1, 50)
    >>> M = (x[:, None] - x[None, :]) ** 2
    >>> a = np.full(50, 1 / 50)
    >>> res = ot.solve(a, a, M, reg=1e-3)
    >>> bool(res.success), res.marginal_error <= 1e-9
    (True, True)
    """
    a, b, M, reg, dtype = _check_problem(a, b, M, reg)
    meth = _resolve_method(method, M, reg)
    tol, maxiter, max_newton, switch_tol, warmup_iter = _common_options(
        tol, maxiter, max_newton, switch_tol, warmup_iter, dtype)
    callback = check_callback(callback)
    nt = check_n_threads(n_threads)
    extra = _check_newton_options(newton_options)
    n, m = M.shape
    f = _start(f0, "f0", n, a, dtype)
    g = _start(g0, "g0", m, b, dtype)
    plan = np.empty((n, m), dtype=dtype)

    cb = None
    if callback is not None:
        def cb(phase, nit, err, fc, gc):
            callback(OptimizeResult(phase=phase, nit=nit, marginal_error=err, f=fc, g=gc))

    info = _core.ot_solve(a, b, M, reg, f, g, plan, _METHOD_CODE[meth], maxiter, max_newton, tol,
                                      switch_tol, warmup_iter, nt, bool(history), cb, extra)
    return _result(info, plan, f, g, meth, tol, history)


def _result(info, plan, f, g, method, tol, history):
    name = info["status"]
    status = _STATUS[name]
    err = float(info["marginal_error"])
    res = OptimizeResult(
        plan=plan, f=f, g=g, cost=float(info["cost"]), value=float(info["value"]), marginal_error=err,
        nit=int(info["iterations"]), nit_sinkhorn=int(info["sinkhorn_iterations"]),
        nit_newton=int(info["newton_iterations"]), nit_cg=int(info["cg_iterations"]),
        nit_direct=int(info["direct_solves"]), method=method,
        status=status, success=name == "converged", message=_MESSAGES.get(name, name),
    )
    if history:
        res.history = np.asarray(info["history"])
    if name in ("max_iter", "non_finite", "breakdown"):
        warnings.warn(f"itercore.ot ({method}) did not converge: marginal error {err:.3e} > tol {tol:.1e} "
                      f"({res.message})", ConvergenceWarning, stacklevel=3)
    return res


def sinkhorn(a, b, M, reg, **kwargs):
    """The optimal plan, like ``ot.sinkhorn(a, b, M, reg)`` (POT).

    Keyword arguments are those of :func:`solve`. Returns the (n, m) plan.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import ot
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> P = ot.sinkhorn([0.5, 0.5], [0.5, 0.5], M, 0.1)
    >>> np.round(P, 4)
    array([[0.5, 0. ],
           [0. , 0.5]])
    """
    return solve(a, b, M, reg, **kwargs).plan


def sinkhorn2(a, b, M, reg, **kwargs):
    """The transport cost ``<P, M>`` of the optimal plan, like ``ot.sinkhorn2`` (POT).

    Keyword arguments are those of :func:`solve`.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import ot
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> round(ot.sinkhorn2([0.5, 0.5], [0.5, 0.5], M, 0.1), 6)
    4.5e-05
    """
    return solve(a, b, M, reg, **kwargs).cost


def solve_batch(a, b, M, reg, *, method="auto", tol=None, maxiter=10000, max_newton=100, n_threads=None,
                switch_tol=1e-1, warmup_iter=50, newton_options=None):
    """Many independent problems of the same size, solved in parallel.

    Parameters
    ----------
    a : (B, n) array_like
        Source weights, one row per problem.
    b : (B, m) array_like
        Target weights, one row per problem (each with the mass of its ``a``).
    M : (n, m) or (B, n, m) array_like
        A cost shared by all problems, or one per problem.
    reg : float
        Entropic regularization (shared), > 0.
    method, tol, maxiter, max_newton, switch_tol, warmup_iter, newton_options
        As in :func:`solve` (``"auto"`` decides once, from the whole ``M``).
    n_threads : int, optional
        Problems solved at once (each on one thread).

    Returns
    -------
    result : scipy.optimize.OptimizeResult
        ``plan`` (B, n, m), ``f`` (B, n), ``g`` (B, m), and per-problem
        arrays ``cost``, ``value``, ``marginal_error``, ``nit``, ``status``,
        ``converged``; ``success`` is true when every problem converged.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import ot
    >>> x = np.linspace(0, 1, 20)
    >>> M = (x[:, None] - x[None, :]) ** 2
    >>> rng = np.random.default_rng(0)
    >>> A = rng.random((4, 20)); A /= A.sum(1, keepdims=True)
    >>> B = np.full((4, 20), 1 / 20)
    >>> res = ot.solve_batch(A, B, M, 1e-2)
    >>> res.plan.shape, bool(res.success)
    ((4, 20, 20), True)
    """
    dts = [getattr(x, "dtype", np.asarray(x).dtype) for x in (a, b, M)]
    dtype = result_dtype(*dts)
    a = as_float_array(a, "a", ndim=2, dtype=dtype)
    B, n = a.shape
    b = as_float_array(b, "b", ndim=2, dtype=dtype)
    if b.shape[0] != B:
        raise ValueError(f"b must have one row per problem ({B}), got shape {b.shape}")
    m = b.shape[1]
    M = as_float_array(M, "M", ndim=(2, 3), dtype=dtype)
    if M.shape not in ((n, m), (B, n, m)):
        raise ValueError(f"M must have shape ({n}, {m}) or ({B}, {n}, {m}), got {M.shape}")
    for name, w in (("a", a), ("b", b)):
        if np.any(w < 0):
            raise ValueError(f"{name} must be non-negative (found {w.min():g})")
    sa = a.sum(axis=1, dtype=np.float64)
    sb = b.sum(axis=1, dtype=np.float64)
    if np.any(sa <= 0):
        raise ValueError(f"a must have a positive total mass in every row (row {int(np.argmin(sa))})")
    if np.any(sb <= 0):
        raise ValueError(f"b must have a positive total mass in every row (row {int(np.argmin(sb))})")
    bad = np.abs(sa - sb) > _mass_rtol(dtype) * np.maximum(sa, sb)
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"a and b must have the same total mass in every problem: problem {k} has "
                         f"sum(a) = {sa[k]!r}, sum(b) = {sb[k]!r}")
    reg = check_scalar(reg, "reg", lower=0.0, lower_inclusive=False)
    meth = _resolve_method(method, M, reg)
    tol, maxiter, max_newton, switch_tol, warmup_iter = _common_options(
        tol, maxiter, max_newton, switch_tol, warmup_iter, dtype)
    nt = check_n_threads(n_threads)
    extra = _check_newton_options(newton_options)
    f = np.zeros((B, n), dtype=dtype)
    g = np.zeros((B, m), dtype=dtype)
    plan = np.empty((B, n, m), dtype=dtype)
    infos = _core.ot_solve_batch(a, b, M, reg, f, g, plan, _METHOD_CODE[meth], maxiter, max_newton, tol,
                                 switch_tol, warmup_iter, nt, extra)
    names = [d["status"] for d in infos]
    res = OptimizeResult(
        plan=plan, f=f, g=g,
        cost=np.array([d["cost"] for d in infos]), value=np.array([d["value"] for d in infos]),
        marginal_error=np.array([d["marginal_error"] for d in infos]),
        nit=np.array([d["iterations"] for d in infos], dtype=np.int64),
        status=np.array([_STATUS[s] for s in names], dtype=np.int64),
        converged=np.array([s == "converged" for s in names], dtype=bool), method=meth,
    )
    res.success = bool(res.converged.all())
    res.message = "all problems converged" if res.success else f"{int((~res.converged).sum())} of {B} problems did not converge"
    if not res.success:
        worst = float(res.marginal_error[~res.converged].max())
        warnings.warn(f"itercore.ot.solve_batch ({meth}): {res.message}; worst marginal error {worst:.3e} > "
                      f"tol {tol:.1e}", ConvergenceWarning, stacklevel=2)
    return res
