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
- ``"sns_paper"``: Tang et al.'s Algorithm 1 as written: ``warmup_iter``
  Sinkhorn steps, then pure Newton steps with the plan sparsified globally to
  ``density * max(n, m)`` entries, CG and a backtracking line search;
- ``"auto"`` (default) picks ``"sinkhorn"`` when ``reg`` is at least 0.5% of
  the cost range and ``"sns"`` below.

The argument order follows POT's ``ot.sinkhorn`` (``a, b, M, reg``); ``sinkhorn``
and ``sinkhorn2`` are drop-ins for ``ot.sinkhorn`` and ``ot.sinkhorn2``. The
solver itself is :func:`entropic` (and :func:`entropic_batch`), not ``solve``:
POT's ``ot.solve(M, a, b, reg)`` and ``ot.solve_batch(M, reg, a, b)`` take
another argument order and return another result, so itercore does not reuse
those names (``itercore.ot.solve`` raises an ``AttributeError`` that says so).
"""

from __future__ import annotations

import copy
import threading
import warnings
from typing import Any

import numpy as np
from scipy.optimize import OptimizeResult

from . import _core, _pipeline
from .distributed import is_dask_collection
from ._typing import ArrayLike, CallbackLike, FloatArray, OptionsLike
from ._validation import (as_float_array, check_callback, check_choice, check_int, check_n_threads, check_scalar,
                          result_dtype)
from ._warnings import ConvergenceWarning

__all__ = ["entropic", "sinkhorn", "sinkhorn2", "entropic_batch", "SinkhornConvergenceWarning"]

_METHODS = ("auto", "sinkhorn", "sns", "sinkhorn_log", "sns_paper")
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


def entropic(a: ArrayLike | None, b: ArrayLike | None, M: ArrayLike, reg: float, *, method: str = "auto",
             tol: float | None = None, maxiter: int = _D.maxiter, max_newton: int = _D.max_newton,
             f0: ArrayLike | None = None, g0: ArrayLike | None = None, callback: CallbackLike = None,
             n_threads: int | None = None, history: bool = False, options: OptionsLike = None) -> OptimizeResult:
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
    method : {"auto", "sinkhorn", "sns", "sinkhorn_log", "sns_paper"}
        ``"sinkhorn"``: log-domain Sinkhorn with the scaling fast path;
        ``"sinkhorn_log"``: the same iteration in the log domain only;
        ``"sns"``: Sinkhorn-Newton-Sparse (itercore's hybrid of Newton and
        Sinkhorn steps); ``"sns_paper"``: Tang et al.'s Algorithm 1 as
        written (``warmup_iter`` Sinkhorn steps, then Newton steps only, the
        plan sparsified globally, CG, line search; a failed line search ends
        the solve with status 2); ``"auto"``: ``"sns"`` when ``reg``
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
        ``warmup_iter``, 50, iterations), ``predict_sinkhorn`` (after the
        warm-up, Sinkhorn goes on while its own linear rate, measured over
        the last 5 iterations, predicts ``tol`` within this many more
        iterations, 100; 0: Newton right after the warm-up), ``cg_maxiter`` (CG iterations per Newton step,
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
        that CG solve did), ``sparsify`` (``"rows"``, the default, keeps per
        row the entries holding all but ``drop_share`` of its mass;
        ``"global"``, Tang et al.'s, the ``density * max(n, m)`` largest
        entries of the whole plan; ``"sns_paper"`` always uses ``"global"``),
        ``density`` (2.0, the paper's for squared costs; it uses 15 for L1
        costs), ``paper_line_search`` (``"sns_paper"``: halvings before a
        step counts as failed, 30).

    Returns
    -------
    result : scipy.optimize.OptimizeResult
        ``plan`` (n, m), ``f``, ``g`` (dual potentials: ``plan =
        exp((f[:, None] + g[None, :] - M) / reg)``; ``-inf`` for zero
        weights), ``cost`` (``<plan, M>``), ``value`` (the entropic
        objective), ``marginal_error`` (recomputed from ``plan``), ``nit``
        (total), ``nit_sinkhorn``, ``nit_newton`` (for every method: 0 Newton
        steps for Sinkhorn), ``nit_cg``, ``nit_direct``
        (Newton systems solved directly), ``method``,
        ``status`` (0 converged, 1 iteration limit, 2 breakdown: a failed
        ``"sns_paper"`` line search, 3 non-finite, 5 callback stop), ``success``, ``message``, ``history``.

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
    >>> res = ot.entropic(a, a, M, reg=1e-3)
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
    if not getattr(_quiet, "on", False):  # the POT drop-ins warn in POT's way instead
        _pipeline.warn_not_converged(f"itercore.ot.entropic ({meth})", res.status, res.marginal_error, opts.tol,
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


def sinkhorn(a: ArrayLike | None, b: ArrayLike | None, M: ArrayLike, reg: float, method: str = "sinkhorn",
             numItermax: int = 1000, stopThr: float = 1e-9, verbose: bool = False, log: bool = False,
             warn: bool = True, warmstart: tuple[ArrayLike, ArrayLike] | None = None, *, n_threads: int | None = None,
             options: OptionsLike = None, **kwargs: Any) -> Any:
    """The optimal plan: a drop-in for POT's ``ot.sinkhorn`` (same signature, results and warnings).

    Runs :func:`entropic` (or :func:`entropic_batch` for several targets)
    with POT's names translated; see ``docs/coming_from.md`` for the whole
    mapping.

    Parameters
    ----------
    a : (dim_a,) array_like
        Source weights; ``[]`` means uniform.
    b : (dim_b,) or (dim_b, n_hists) array_like
        Target weights; ``[]`` means uniform. A matrix holds ``n_hists``
        targets, solved together (:func:`entropic_batch`); then the result is
        their ``n_hists`` losses ``<P_k, M>``, as in POT.
    M : (dim_a, dim_b) array_like
        Cost matrix.
    reg : float
        Entropic regularization (> 0).
    method : str
        POT's method name, case-insensitive, mapped to the nearest itercore
        iteration (all converge to the same plan): ``"sinkhorn"``,
        ``"sinkhorn_stabilized"``, ``"greenkhorn"`` -> ``"sinkhorn"``;
        ``"sinkhorn_log"`` -> ``"sinkhorn_log"``; ``"sinkhorn_epsilon_scaling"``
        -> ``"auto"`` (SNS when ``reg`` is small); itercore's ``"sns"`` and
        ``"auto"`` are accepted too. Another name raises POT's
        ``ValueError("Unknown method ...")``.
    numItermax : int
        Iteration limit (``maxiter``).
    stopThr : float
        Tolerance on the L1 marginal error (``tol``; stricter than POT's test,
        the 2-norm of the column error).
    verbose : bool
        Print POT's ``It. | Err`` table (after the solve, every 10 iterations).
    log : bool
        Also return POT's log dictionary, with the keys POT returns for
        ``method`` (``err`` every 10 iterations, ``niter``/``n_iter``, and the
        scalings ``u``, ``v`` / log-scalings ``log_u``, ``log_v`` / potentials
        ``alpha``, ``beta`` in POT's convention: ``P = diag(u) K diag(v)``,
        ``K = exp(-M / reg)``; ``P = exp((alpha_i + beta_j - M_ij) / reg)``).
    warn : bool
        Warn :class:`SinkhornConvergenceWarning` (a ``UserWarning`` whose
        message starts ``"Sinkhorn did not converge"``, as POT's, and an
        ``itercore.ConvergenceWarning``) when ``stopThr`` was not reached.
    warmstart : tuple of two arrays, optional
        POT's starting log-scalings ``(log_u, log_v)`` (shapes ``(dim_a,)``,
        ``(dim_b,)``, or ``(dim_a, n_hists)``, ``(dim_b, n_hists)``); for
        ``"sinkhorn_stabilized"`` and ``"sinkhorn_epsilon_scaling"`` the
        potentials ``(alpha, beta)``, as POT reads them.
    n_threads, options
        itercore's, as in :func:`entropic`.
    **kwargs
        POT's method-specific ``tau``, ``epsilon0``, ``numInnerItermax``,
        ``print_period``, ``stopInnerThr``: accepted, no effect (they tune
        POT's own stabilization). Any other keyword is a ``TypeError``.

    Returns
    -------
    gamma : (dim_a, dim_b) ndarray
        The plan (``(n_hists,)`` losses when ``b`` is a matrix).
    log : dict
        Only with ``log=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import ot
    >>> ot.sinkhorn([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], 1)  # POT's own example
    array([[0.36552929, 0.13447071],
           [0.13447071, 0.36552929]])
    >>> P, log = ot.sinkhorn([], [], [[0.0, 1.0], [1.0, 0.0]], 0.1, log=True)  # [] is uniform
    >>> np.round(P, 4), sorted(log)
    (array([[0.5, 0. ],
           [0. , 0.5]]), ['err', 'niter', 'u', 'v'])
    """
    plans, costs, info = _pot_solve(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, warmstart,
                                    n_threads, options, kwargs, "sinkhorn")
    out = costs if plans is None else plans
    return (out, info) if log else out


def sinkhorn2(a: ArrayLike | None, b: ArrayLike | None, M: ArrayLike, reg: float, method: str = "sinkhorn",
              numItermax: int = 1000, stopThr: float = 1e-9, verbose: bool = False, log: bool = False,
              warn: bool = False, warmstart: tuple[ArrayLike, ArrayLike] | None = None, *,
              n_threads: int | None = None, options: OptionsLike = None, **kwargs: Any) -> Any:
    """The loss ``<P, M>`` of the optimal plan: a drop-in for POT's ``ot.sinkhorn2``.

    The same parameters as :func:`sinkhorn` (``warn`` defaults to False, as
    in POT). Returns the loss, a NumPy scalar of the input's dtype, or the
    ``(n_hists,)`` losses when ``b`` is a ``(dim_b, n_hists)`` matrix; with
    ``log=True`` also POT's log dictionary.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import ot
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> round(float(ot.sinkhorn2([0.5, 0.5], [0.5, 0.5], M, 0.1)), 6)
    4.5e-05
    >>> ot.sinkhorn2([0.5, 0.5], np.array([[0.5, 1.0], [0.5, 0.0]]), M, 0.1).round(6)  # two targets
    array([4.5e-05, 5.0e-01])
    """
    _, costs, info = _pot_solve(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, warmstart,
                                n_threads, options, kwargs, "sinkhorn2")
    return (costs, info) if log else costs


def entropic_batch(a: ArrayLike | None, b: ArrayLike | None, M: ArrayLike, reg: float, *, method: str = "auto",
                   tol: float | None = None, maxiter: int = _D.maxiter, max_newton: int = _D.max_newton,
                   n_threads: int | None = None, options: OptionsLike = None) -> OptimizeResult:
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
        As in :func:`entropic` (``"auto"`` decides once, from the whole ``M``).
    n_threads : int, optional
        Problems solved at once (each on one thread).

    Returns
    -------
    result : scipy.optimize.OptimizeResult
        ``plan`` (B, n, m), ``f`` (B, n), ``g`` (B, m), and per-problem
        arrays ``cost``, ``value``, ``marginal_error``, ``nit``,
        ``nit_sinkhorn``, ``nit_newton``, ``status``, ``converged``; ``success`` is true when every problem converged.

    Notes
    -----
    Dask arrays (``a``, ``b`` and a per-problem ``M`` chunked along the
    batch axis; install ``itercore[distributed]``) run one task per chunk on
    the current Dask client and give Dask arrays in the result, computed
    when asked for; ``success`` is then not set (``converged`` says per
    problem) and non-convergence does not warn. See
    :mod:`itercore.distributed`.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import ot
    >>> x = np.linspace(0, 1, 20)
    >>> M = (x[:, None] - x[None, :]) ** 2
    >>> rng = np.random.default_rng(0)
    >>> A = rng.random((4, 20)); A /= A.sum(1, keepdims=True)
    >>> B = np.full((4, 20), 1 / 20)
    >>> res = ot.entropic_batch(A, B, M, 1e-2)
    >>> res.plan.shape, bool(res.success)
    ((4, 20, 20), True)
    """
    if any(is_dask_collection(x) for x in (a, b, M)):  # chunks of problems on a Dask cluster
        from .distributed import ot_entropic_batch

        return ot_entropic_batch(a, b, M, reg, method=method, tol=tol, maxiter=maxiter, max_newton=max_newton,
                              n_threads=n_threads, options=options)
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
        nit_sinkhorn=np.array([d["nit_sinkhorn"] for d in infos], dtype=np.int64),
        nit_newton=np.array([d["nit_newton"] for d in infos], dtype=np.int64),
        status=status, converged=status == _pipeline.CONVERGED, method=meth,
    )
    res.success = bool(res.converged.all())
    failed = int((~res.converged).sum())
    res.message = "all problems converged" if res.success else f"{failed} of {B} problems did not converge"
    if not res.success and not getattr(_quiet, "on", False):
        worst = int(np.argmax(np.where(res.converged, -np.inf, res.marginal_error)))
        _pipeline.warn_not_converged(f"itercore.ot.entropic_batch ({meth}, {res.message}; worst problem {worst})",
                                     status[worst], res.marginal_error[worst], opts.tol, "marginal error",
                                     stacklevel=2)
    return res


# ---------------------------------------------------------------------------------------------
# POT drop-ins: ot.sinkhorn / ot.sinkhorn2 with POT's signature, results, log and warnings.

class SinkhornConvergenceWarning(ConvergenceWarning, UserWarning):
    """The non-convergence warning of the POT drop-ins :func:`sinkhorn` and :func:`sinkhorn2`.

    Both an :class:`itercore.ConvergenceWarning` (so itercore's filters see
    it) and a ``UserWarning`` whose message starts as POT's does
    (``"Sinkhorn did not converge"``), so a POT user's
    ``warnings.filterwarnings(...)`` keeps working. The message goes on with
    the achieved marginal error and ``stopThr``.
    """


#: POT's ``method=`` names (matched case-insensitively, as POT does) and the itercore method each runs.
#: Every one converges to the same plan; they differ in how they get there.
POT_METHODS = {
    "sinkhorn": "sinkhorn",  # POT: Sinkhorn-Knopp scalings; itercore: the same, stabilized, log-domain fallback
    "sinkhorn_log": "sinkhorn_log",  # the log-domain iteration in both
    "sinkhorn_stabilized": "sinkhorn",  # POT absorbs large scalings into potentials, as itercore's "sinkhorn" does
    "sinkhorn_epsilon_scaling": "auto",  # POT's small-reg accelerator; itercore's is SNS, chosen by "auto"
    "greenkhorn": "sinkhorn",  # greedy one-row/column Sinkhorn: same fixed point, itercore runs full sweeps
    "auto": "auto",  # itercore's own names are accepted too
    "sns": "sns",
}
#: The ``log`` keys POT returns for each method (itercore's ``"auto"``/``"sns"`` return those of sinkhorn_log).
_POT_LOG_KEYS = {
    "sinkhorn": ("err", "niter", "u", "v"),
    "sinkhorn_log": ("err", "niter", "log_u", "log_v", "u", "v"),
    "sinkhorn_stabilized": ("err", "n_iter", "logu", "logv", "alpha", "beta", "warmstart"),
    "sinkhorn_epsilon_scaling": ("err", "alpha", "beta", "warmstart", "niter"),
    "greenkhorn": ("u", "v", "n_iter"),
    "auto": ("err", "niter", "log_u", "log_v", "u", "v"),
    "sns": ("err", "niter", "log_u", "log_v", "u", "v"),
}
#: Methods whose ``warmstart`` POT reads as potentials (alpha, beta); the others read log-scalings (log u, log v).
_WARMSTART_POTENTIALS = ("sinkhorn_stabilized", "sinkhorn_epsilon_scaling")
#: POT's method-specific keywords (``**kwargs`` of ``ot.sinkhorn``) that tune POT's own stabilization
#: and have no counterpart here: accepted and ignored.
_POT_IGNORED = ("tau", "epsilon0", "numInnerItermax", "print_period", "stopInnerThr")
_quiet = threading.local()  # set while a drop-in runs entropic/entropic_batch: the drop-in warns in POT's way


def _pot_method(method):
    key = method.lower() if isinstance(method, str) else None
    if key not in POT_METHODS:
        raise ValueError(f"Unknown method {method!r}. method must be one of {', '.join(map(repr, POT_METHODS))} "
                         f"(POT's names, and itercore's 'auto' and 'sns')")
    return key


def _pot_weights(w, size, dtype):
    """POT's convention: ``[]`` (or ``None``) means uniform weights."""
    if w is None or (not hasattr(w, "shape") and len(w) == 0) or (hasattr(w, "shape") and w.size == 0):
        return np.full(size, 1.0 / size, dtype=dtype)
    return w


def _run_quietly(fn, *args, **kwargs):
    _quiet.on = True
    try:
        return fn(*args, **kwargs)
    finally:
        _quiet.on = False


def _pot_solve(a, b, M, reg, method, numItermax, stopThr, verbose, log, warn, warmstart, n_threads, options,
               kwargs, name):
    """The shared body of :func:`sinkhorn` and :func:`sinkhorn2`: (plans or None, costs, log dict or None)."""
    for key in kwargs:
        if key not in _POT_IGNORED:
            raise TypeError(f"{name}() got an unexpected keyword argument {key!r} (POT's method-specific "
                            f"{', '.join(_POT_IGNORED)} are accepted and ignored)")
    key = _pot_method(method)
    numItermax = check_int(numItermax, "numItermax", lower=0)
    stopThr = check_scalar(stopThr, "stopThr", lower=0.0)
    if M is None:
        raise TypeError("M must be an array, got None")
    M = np.asarray(M) if not hasattr(M, "shape") else M
    if len(M.shape) != 2:
        raise ValueError(f"M must be 2-D (dim_a, dim_b), got shape {M.shape}")
    n, m = M.shape
    if n == 0 or m == 0:
        raise ValueError(f"M must not be empty, got shape {M.shape}")
    dtype = result_dtype(getattr(M, "dtype", np.float64))
    a = _pot_weights(a, n, dtype)
    b = _pot_weights(b, m, dtype)
    b_shape = np.shape(b)
    many = len(b_shape) == 2
    k = b_shape[1] if many else None
    f0 = g0 = None
    if warmstart is not None:
        if not isinstance(warmstart, (tuple, list)) or len(warmstart) != 2:
            raise TypeError("warmstart must be a pair (log_u, log_v) of arrays")
        shape_u, shape_v = ((n, k), (m, k)) if many else ((n,), (m,))
        wu = as_float_array(warmstart[0], "warmstart[0]", shape=shape_u, dtype=np.float64, finite=False)
        wv = as_float_array(warmstart[1], "warmstart[1]", shape=shape_v, dtype=np.float64, finite=False)
        scale = 1.0 if key in _WARMSTART_POTENTIALS else check_scalar(reg, "reg", lower=0.0, lower_inclusive=False)
        f0, g0 = wu * scale, wv * scale
    meth = POT_METHODS[key]
    record = bool(log or verbose)
    common = dict(method=meth, tol=stopThr, maxiter=numItermax, n_threads=n_threads, options=options)
    if not many:
        res = _run_quietly(entropic, a, b, M, reg, f0=f0, g0=g0, history=record, **common)
        plans, costs, f, g, nits = res.plan, res.plan.dtype.type(res.cost), res.f, res.g, res.nit
        errors = list(res.history[::10]) if record else []
        status, error = res.status, res.marginal_error
    else:
        b2 = as_float_array(b, "b", ndim=2, dtype=None)
        if b2.shape[0] != m:
            raise ValueError(f"b must have shape (dim_b, n_hists) = ({m}, n_hists), got {b2.shape}")
        if f0 is None:
            a1 = as_float_array(a, "a", ndim=1, shape=(n,))
            res = _run_quietly(entropic_batch, np.broadcast_to(a1, (k, n)), b2.T, M, reg, **common)
            rows = [(res.f[j], res.g[j], res.nit[j], res.status[j], res.marginal_error[j]) for j in range(k)]
        else:  # entropic_batch has no warm start: one solve per target
            one = [_run_quietly(entropic, a, b2[:, j], M, reg, f0=f0[:, j], g0=g0[:, j], **common) for j in range(k)]
            rows = [(r.f, r.g, r.nit, r.status, r.marginal_error) for r in one]
            res = OptimizeResult(cost=np.array([r.cost for r in one]), plan=np.stack([r.plan for r in one]))
        plans = None
        costs = np.asarray(res.cost, dtype=res.plan.dtype)
        f = np.stack([r[0] for r in rows], axis=1)
        g = np.stack([r[1] for r in rows], axis=1)
        nits = int(max(r[2] for r in rows))
        worst = max(range(k), key=lambda j: (rows[j][3] != _pipeline.CONVERGED, rows[j][4]))
        status, error = rows[worst][3], rows[worst][4]
        errors = [max(r[4] for r in rows)]
    if verbose:
        _print_pot_table(errors, res)
    if warn and int(status) not in (_pipeline.CONVERGED, _pipeline.CALLBACK_STOP):
        warnings.warn(
            "Sinkhorn did not converge. You might want to increase the number of iterations `numItermax` or the "
            f"regularization parameter `reg`. (itercore.ot.{name}, method {key!r}: {_pipeline.STATUS[int(status)][0]}, "
            f"marginal error {error:.3e} > stopThr {stopThr:.1e} after {nits} iterations)",
            SinkhornConvergenceWarning, stacklevel=3)
    if not log:
        return plans, costs, None
    reg = float(reg)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        entries = {"err": errors, "niter": nits, "n_iter": nits, "u": np.exp(f / reg), "v": np.exp(g / reg),
                   "log_u": f / reg, "log_v": g / reg, "logu": f / reg, "logv": g / reg, "alpha": f, "beta": g,
                   "warmstart": (f, g)}
    return plans, costs, {k: entries[k] for k in _POT_LOG_KEYS[key]}


def _print_pot_table(errors, res):
    """POT's ``verbose=True`` table (iteration | error, every 10 iterations), printed after the solve."""
    print("{:5s}|{:12s}".format("It.", "Err") + "\n" + "-" * 19)
    for i, err in enumerate(errors):
        print("{:5d}|{:8e}|".format(10 * i, err))


#: POT names that itercore deliberately does not define, and what to call instead.
_NOT_POT = {
    "solve": "POT's ot.solve(M, a, b, reg) has another argument order and result; "
             "itercore's entropic OT solver is itercore.ot.entropic(a, b, M, reg) (an OptimizeResult), "
             "and itercore.ot.sinkhorn / sinkhorn2 are POT's drop-ins (see docs/coming_from.md)",
    "solve_batch": "POT's ot.solve_batch(M, reg, a, b) has another argument order and result; "
                   "itercore's batch solver is itercore.ot.entropic_batch(a, b, M, reg) (see docs/coming_from.md)",
}


def __getattr__(name):
    if name in _NOT_POT:
        raise AttributeError(f"module 'itercore.ot' has no attribute {name!r}: {_NOT_POT[name]}")
    raise AttributeError(f"module 'itercore.ot' has no attribute {name!r}")
