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

import copy

import numpy as np
from scipy.optimize import OptimizeResult

from . import _core, _pipeline
from ._validation import as_float_array, check_callback, check_choice, check_n_threads, check_scalar, result_dtype

__all__ = ["solve", "sinkhorn", "sinkhorn2", "solve_batch"]

_METHODS = ("auto", "sinkhorn", "sns", "sinkhorn_log")
#: ``reg`` below this fraction of the cost range makes ``method="auto"`` use SNS.
AUTO_SNS_BELOW = 5e-3
#: The C++ defaults (``itercore/ot/sinkhorn.hpp``), read from the bound struct.
_D = _pipeline.defaults(_core.ot.Options)


def _default_tol(dtype):
    return 1e-9 if dtype == np.float64 else 1e-5


def _mass_rtol(dtype):
    return 1e-8 if dtype == np.float64 else 1e-5


def _check_weights(x, name, dtype, n=None):
    x = as_float_array(x, name, ndim=1, dtype=dtype, shape=None if n is None else (n,))
    low = x.min()  # (x is not empty) one reduction: np.any(x < 0) costs 3x more on small x
    if low < 0:
        raise ValueError(f"{name} must be non-negative (found {low:g})")
    total = float(x.sum(dtype=np.float64))
    if not total > 0:
        raise ValueError(f"{name} must have a positive total mass")
    return x, total


def _dtype_of(x, name):
    """The dtype of an input (a TypeError naming it for ragged lists and the like)."""
    if hasattr(x, "dtype"):
        return x.dtype
    try:
        return np.asarray(x).dtype
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None


def _check_problem(a, b, M, reg):
    """Validated (a, b, M, reg, dtype); a/b None mean uniform weights."""
    if M is None:
        raise TypeError("M must be an array, got None")
    dts = [_dtype_of(w, name) for w, name in ((M, "M"), (a, "a"), (b, "b")) if w is not None]
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


def _options(meth, tol, maxiter, max_newton, n_threads, history, options, dtype):
    """The checked C++ options struct of a solve."""
    return _pipeline.make_options(_core.ot.Options, dict(
        method=meth, tol=_default_tol(dtype) if tol is None else tol, maxiter=maxiter, max_newton=max_newton,
        n_threads=check_n_threads(n_threads), history=history), options)


def solve(a, b, M, reg, *, method="auto", tol=None, maxiter=_D.maxiter, max_newton=_D.max_newton, f0=None,
          g0=None, callback=None, n_threads=None, history=False, options=None):
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
        is at most ``tol``. Default 1e-9 (1e-5 for float32). ``success`` means
        this holds for the returned ``plan``, its sums taken in float64: in
        float32 the core may iterate past its own test to get there, and
        reports ``status`` 2 (breakdown) when float32 cannot.
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
    history : bool
        Keep the marginal error of every iteration in ``result.history``.
    options : dict, optional
        Expert SNS knobs (the fields of the C++ ``ot::Options``; an unknown
        key is a ``TypeError`` naming the closest valid one):
        ``switch_tol`` and ``warmup_iter`` (the Sinkhorn warm-up runs until
        the marginal error is below ``switch_tol``, 0.1, or for
        ``warmup_iter``, 50, iterations), ``cg_maxiter`` (CG iterations per Newton step,
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
    opts = _options(meth, tol, maxiter, max_newton, n_threads, history, options, dtype)
    hook = _pipeline.result_callback(check_callback(callback), "marginal_error")
    n, m = M.shape
    f = _start(f0, "f0", n, a, dtype)
    g = _start(g0, "g0", m, b, dtype)
    plan = np.empty((n, m), dtype=dtype)
    info = _core.ot.solve(a, b, M, reg, f, g, plan, opts, hook)
    info, message = _honest(info, a, b, M, reg, f, g, plan, opts, hook)
    res = _pipeline.make_result(
        info, message=message, history=history, plan=plan, f=f, g=g, cost=info["cost"], value=info["value"],
        marginal_error=info["marginal_error"], nit_sinkhorn=info["nit_sinkhorn"], nit_newton=info["nit_newton"],
        nit_cg=info["nit_cg"], nit_direct=info["nit_direct"], method=meth)
    _pipeline.warn_not_converged(f"itercore.ot.solve ({meth})", res.status, res.marginal_error, opts.tol,
                                 "marginal error", reason=message)
    return res


def _plan_error(plan, a, b):
    """The L1 marginal error of ``plan``, summed in float64."""
    return float(np.abs(plan.sum(axis=1, dtype=np.float64) - a).sum()
                 + np.abs(plan.sum(axis=0, dtype=np.float64) - b).sum())


#: Warm-started re-runs with a tighter internal tolerance before a converged
#: solve whose returned plan misses ``tol`` is reported as such.
_HONEST_RETRIES = 3


def _honest(info, a, b, M, reg, f, g, plan, opts, hook):
    """``success`` only when the returned plan meets ``tol``: the core stops on
    the error of its iterate, the plan is formed after; in float32 the plan's
    marginal error, summed in float64, can exceed it. Re-runs the core from
    the returned potentials with a tighter internal tolerance (up to
    ``_HONEST_RETRIES`` times); if the plan still misses ``tol`` the status is
    ``breakdown`` and the message says why. Returns ``(info, message)``."""
    if info["status"] != _pipeline.CONVERGED:
        return info, None
    err = max(_plan_error(plan, a, b), float(info["marginal_error"]))
    if err <= opts.tol:
        info["marginal_error"] = err if plan.dtype == np.float32 else info["marginal_error"]
        return info, None
    nit = {key: info[key] for key in ("nit", "nit_sinkhorn", "nit_newton", "nit_cg", "nit_direct") if key in info}
    retry = copy.copy(opts)
    for _ in range(_HONEST_RETRIES):
        retry.tol = retry.tol * min(0.25, 0.5 * opts.tol / err)
        info = _core.ot.solve(a, b, M, reg, f, g, plan, retry, hook)
        for key in nit:
            nit[key] += info[key]
        err = max(_plan_error(plan, a, b), float(info["marginal_error"]))
        if err <= opts.tol:  # the returned plan meets tol, whatever stopped the tighter re-run
            info["status"] = _pipeline.CONVERGED
            break
        if info["status"] != _pipeline.CONVERGED:  # iteration limit, non-finite, callback stop: as reported
            break
    info.update(nit)
    info["marginal_error"] = err
    if info["status"] == _pipeline.CONVERGED and err > opts.tol:
        info["status"] = _pipeline.BREAKDOWN
        return info, (f"the marginal error of the returned plan ({err:.3e}, summed in float64) stays above tol in "
                      f"{plan.dtype} arithmetic; use float64 input or a larger tol")
    return info, None


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


def solve_batch(a, b, M, reg, *, method="auto", tol=None, maxiter=_D.maxiter, max_newton=_D.max_newton,
                n_threads=None, options=None):
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
    method, tol, maxiter, max_newton, options
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
    dts = [_dtype_of(x, name) for x, name in ((a, "a"), (b, "b"), (M, "M"))]
    dtype = result_dtype(*dts)
    a = as_float_array(a, "a", ndim=2, dtype=dtype)
    B, n = a.shape
    b = as_float_array(b, "b", ndim=2, dtype=dtype)
    if b.shape[0] != B:
        raise ValueError(f"b must have one row per problem, as many as a has ({B}), got shape {b.shape}")
    m = b.shape[1]
    M = as_float_array(M, "M", ndim=(2, 3), dtype=dtype)
    if M.shape not in ((n, m), (B, n, m)):
        raise ValueError(f"M must have shape ({n}, {m}) or ({B}, {n}, {m}) to match a {a.shape} and b {b.shape}, "
                         f"got {M.shape}")
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
    opts = _options(meth, tol, maxiter, max_newton, n_threads, False, options, dtype)
    f = np.zeros((B, n), dtype=dtype)
    g = np.zeros((B, m), dtype=dtype)
    plan = np.empty((B, n, m), dtype=dtype)
    infos = _core.ot.solve_batch(a, b, M, reg, f, g, plan, opts)
    # converged only where the returned plan meets tol (its sums in float64; see solve's _honest)
    errs = (np.abs(plan.sum(axis=2, dtype=np.float64) - a).sum(axis=1)
            + np.abs(plan.sum(axis=1, dtype=np.float64) - b).sum(axis=1))
    for k, (d, err) in enumerate(zip(infos, errs)):
        if d["status"] == _pipeline.CONVERGED and not max(float(err), d["marginal_error"]) <= opts.tol:
            infos[k], _ = _honest(d, a[k], b[k], M if M.ndim == 2 else M[k], reg, f[k], g[k], plan[k], opts, None)
    status = np.array([d["status"] for d in infos], dtype=np.int64)
    res = OptimizeResult(
        plan=plan, f=f, g=g,
        cost=np.array([d["cost"] for d in infos]), value=np.array([d["value"] for d in infos]),
        marginal_error=np.array([d["marginal_error"] for d in infos]),
        nit=np.array([d["nit"] for d in infos], dtype=np.int64),
        status=status, converged=status == _pipeline.CONVERGED, method=meth,
    )
    res.success = bool(res.converged.all())
    failed = int((~res.converged).sum())
    res.message = "all problems converged" if res.success else f"{failed} of {B} problems did not converge"
    if not res.success:
        worst = int(np.argmax(np.where(res.converged, -np.inf, res.marginal_error)))
        _pipeline.warn_not_converged(f"itercore.ot.solve_batch ({meth}, {res.message}; worst problem {worst})",
                                     status[worst], res.marginal_error[worst], opts.tol, "marginal error",
                                     stacklevel=2)
    return res
