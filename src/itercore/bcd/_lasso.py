"""The lasso by greedy coordinate descent on a working set (the core in
``cpp/include/itercore/bcd/lasso.hpp``): validate, options, run the core
(dense or sparse X), result."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _core, _pipeline
from .._validation import as_csr, as_float_array, check_callback, check_n_threads, check_scalar, check_sparse
from scipy.optimize import OptimizeResult
from .._typing import ArrayLike, CallbackLike, MatrixLike, OptionsLike

__all__ = ["lasso"]

#: The C++ defaults (``bcd::LassoOptions``), read from the bound struct.
_D = _pipeline.defaults(_core.bcd.LassoOptions)


def _design(X):
    """``(X^T, n, p, dtype)``: X^T as a C-order (p, n) float64 array, or as CSR (X as CSC) when sparse."""
    if sp.issparse(X):
        X = check_sparse(X, "X")  # before scipy's .tocsc() reads the structure
        n, p = X.shape
        # CSR of X^T is CSC of X: free for CSC input (the layout coordinate descent wants)
        return as_csr(X.T if X.format == "csc" else X.tocsc().T, "X", dtype=np.float64), n, p, X.dtype
    if (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in (np.float32, np.float64)
            and X.flags.f_contiguous and not X.flags.c_contiguous):
        # X^T of a Fortran-ordered X is C-contiguous: checked and used without a copy (float64)
        Xt = as_float_array(X.T, "X", ndim=2, dtype=np.float64)
        return Xt, X.shape[0], X.shape[1], X.dtype
    Xd = as_float_array(X, "X", ndim=2)
    n, p = Xd.shape
    return np.ascontiguousarray(Xd.T, dtype=np.float64), n, p, Xd.dtype


def _solve(Xt, y, w, lam, opts, hook):
    """Runs the core in place from ``w`` with L1 weight ``lam = n alpha``; the core's result dict."""
    if sp.issparse(Xt):
        p, n = Xt.shape
        return _core.bcd.lasso_sparse(n, p, Xt.indptr, Xt.indices, Xt.data, y, w, lam, opts, hook)
    return _core.bcd.lasso_dense(Xt, y, w, lam, opts, hook)


def lasso(X: MatrixLike, y: ArrayLike, alpha: float, *, x0: ArrayLike | None = None, tol: float = _D.tol,
          maxiter: int = _D.maxiter, rule: str = _D.rule.name, active_set_newton: bool = _D.active_set_newton,
          callback: CallbackLike = None, n_threads: int | None = None, history: bool = _D.history,
          options: OptionsLike = None) -> OptimizeResult:
    """L1-regularised least squares, ``min_w 1/(2 n) ||y - X w||^2 + alpha ||w||_1``.

    scikit-learn's ``Lasso(alpha, fit_intercept=False)`` objective, solved by
    coordinate descent on a working set (the support plus the largest
    optimality violations) with the working set's Gram matrix while it is the
    cheaper way (else on the residual), Anderson extrapolation of the cyclic
    epochs, and Newton steps on the active set with an exact line search
    along them (a coordinate that reaches zero leaves the support). Every
    outer iteration computes the duality gap, a certificate:
    ``P(w) - P(w*) <= gap``.

    Parameters
    ----------
    X : (n, p) dense or sparse array
        Dense input is used as a Fortran (column-major) float64 array: pass
        ``np.asfortranarray(X)`` to avoid a copy. Sparse input is converted
        to CSC once.
    y : (n,) array_like
    alpha : float
        L1 weight (>= 0). ``alpha >= alpha_max = ||X^T y||_inf / n`` gives ``w = 0``.
    x0 : (p,) array_like, optional
        Warm start.
    tol : float
        Stop when the duality gap divided by ``P(0) = ||y||^2 / (2 n)`` is
        ``<= tol`` (default 1e-8).
    maxiter : int
        Outer iterations (working-set rounds; default 100).
    rule : {"cyclic", "gs-r"}
        Coordinate rule inside the working set (:data:`LASSO_RULES`; default
        ``"cyclic"``, extrapolated by Anderson acceleration; ``"gs-r"`` takes
        the coordinate whose proximal step is largest, from the working set's
        Gram matrix).
    active_set_newton : bool
        Newton steps on the active set, each followed by an exact line search
        of the objective along it, when they lower the objective faster per
        flop than coordinate descent (default True).
    callback : callable, optional
        ``callback(intermediate_result)`` after each outer iteration but the
        first, an ``OptimizeResult`` with ``x`` (a copy), ``fun``, ``nit`` and
        ``optimality`` (the relative gap); ``StopIteration`` stops.
    n_threads : int, optional
        Threads for the full gradient and, on sparse X, the Gram matrix
        (``None``: the OpenMP default).
    history : bool
        Record the relative gap at each outer iteration.
    options : dict, optional
        Expert fields of the C++ ``bcd::LassoOptions``: ``max_epochs`` (inner
        passes per outer iteration, 10000), ``ws_start`` (first working-set
        size, 10), ``gram_limit`` (largest working set solved with a Gram
        matrix, 2048), ``newton_limit`` (largest support given a Newton
        step, 2048), ``anderson``
        (Anderson extrapolation from the last this many cyclic epochs, 5;
        0 turns it off).

    Returns
    -------
    OptimizeResult
        ``x``, ``fun`` (the objective), ``gap`` (absolute duality gap in the
        same scaling), ``optimality`` (the relative gap), ``nit``, ``success``,
        ``status`` (0 converged: the relative gap is ``<= tol``; 1 iteration
        limit; 2 no coordinate violates optimality but the gap is still above
        ``tol``, rounding error at extreme data scales; 3 non-finite; 5
        callback stop), ``message``, ``n_newton`` (Newton steps taken),
        ``n_extrapolations`` (Anderson extrapolations kept), ``history`` when
        asked.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import bcd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 300)); y = X[:, :5] @ np.ones(5)
    >>> res = bcd.lasso(X, y, alpha=0.1)
    >>> bool(res.success), int((res.x != 0).sum()) < 30
    (True, True)
    """
    Xt, n, p, xdtype = _design(X)
    yv = as_float_array(y, "y", ndim=1, shape=(n,))
    dtype = np.result_type(xdtype, yv.dtype)
    yv = np.ascontiguousarray(yv, dtype=np.float64)
    alpha = check_scalar(alpha, "alpha", lower=0.0)
    opts = _pipeline.make_options(_core.bcd.LassoOptions, dict(
        tol=tol, maxiter=maxiter, rule=rule, active_set_newton=active_set_newton, history=history,
        n_threads=check_n_threads(n_threads)), options)
    hook = _pipeline.result_callback(check_callback(callback), "optimality")
    w = np.zeros(p) if x0 is None else as_float_array(x0, "x0", ndim=1, shape=(p,), dtype=np.float64, copy=True)
    info = _solve(Xt, yv, w, n * alpha, opts, hook)
    message = None
    if info["status"] == _pipeline.CONVERGED and not info["residual"] <= opts.tol:
        # the core stops when no coordinate violates optimality any more; at extreme data scales the gap
        # is then rounding noise above tol: that is not success
        info["status"] = _pipeline.BREAKDOWN if np.isfinite(info["residual"]) else _pipeline.NON_FINITE
        message = (f"no coordinate violates optimality, but the relative duality gap {info['residual']:.3e} is "
                   f"above tol (rounding error at this data scale)")
    res = _pipeline.make_result(info, message=message, history=opts.history, x=w.astype(dtype, copy=False),
                                fun=info["primal"] / n, gap=info["gap"] / n, optimality=info["residual"],
                                n_newton=int(info["newton_steps"]), n_extrapolations=int(info["extrapolations"]))
    _pipeline.warn_not_converged("itercore.bcd.lasso", res.status, res.optimality, opts.tol, "relative duality gap",
                                 reason=message)
    return res
