"""Multilevel graph solves (the core in ``cpp/include/itercore/bcd/forest_amg.hpp``):
an aggregation hierarchy smoothed by forest-block sweeps, as a
``scipy.sparse.linalg.LinearOperator`` (one V-cycle) and as a CG solver."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse.linalg as sla
from scipy.optimize import OptimizeResult

from .. import _core, _pipeline
from .._typing import ArrayLike, CallbackLike, MatrixLike, OptionsLike
from .._validation import as_csr, as_float_array, check_callback, check_int
from ._forest_pcg import _as_linear_system
from ._problems import LeastSquares, Quadratic, _check_symmetric
from ._quadratic import _start

__all__ = ["forest_amg", "forest_amg_preconditioner", "ForestAMGPreconditioner"]

#: The C++ defaults (``bcd::ForestAmgOptions``), read from the bound struct.
_D = _pipeline.defaults(_core.bcd.ForestAmgOptions)


class ForestAMGPreconditioner(sla.LinearOperator):
    """One V-cycle of the forest-block multilevel hierarchy of an SPD matrix,
    as a :class:`scipy.sparse.linalg.LinearOperator` (an approximation of
    ``A^{-1}``, symmetric positive definite: usable as ``M=`` of
    :func:`scipy.sparse.linalg.cg`). Made by :func:`forest_amg_preconditioner`.

    Attributes
    ----------
    level_sizes, level_nnz : list of int
        Variables and stored entries of each level (finest first).
    operator_complexity, grid_complexity : float
        Stored entries (variables) of all levels over those of ``A``.
    setup_time : float
        Seconds the hierarchy took to build.
    """

    def __init__(self, core: Any, n: int, setup_time: float) -> None:
        super().__init__(np.float64, (n, n))
        self._amg = core
        stats = core.stats()
        self.level_sizes = list(stats["level_sizes"])
        self.level_nnz = list(stats["level_nnz"])
        self.operator_complexity = float(stats["operator_complexity"])
        self.grid_complexity = float(stats["grid_complexity"])
        self.setup_time = float(setup_time)

    def _matvec(self, r):
        r = np.asarray(r)
        shape = r.shape
        v = as_float_array(r.reshape(1, -1), "x", ndim=2, dtype=np.float64)
        return self._amg.apply(np.ascontiguousarray(v)).reshape(shape)

    def _matmat(self, R):
        V = as_float_array(np.asarray(R).T, "X", ndim=2, dtype=np.float64)
        return np.ascontiguousarray(self._amg.apply(np.ascontiguousarray(V)).T)

    def _adjoint(self):
        return self  # symmetric

    def __repr__(self):
        return (f"<ForestAMGPreconditioner n={self.shape[0]} levels={self.level_sizes} "
                f"operator_complexity={self.operator_complexity:.3f}>")


def _options(options, **keywords):
    return _pipeline.make_options(_core.bcd.ForestAmgOptions, keywords, options)


def _build(A, opts):
    """The hierarchy of the canonical float64 CSR ``A`` (checked by the caller)."""
    t = time.perf_counter()
    core = _core.bcd.ForestAMG(int(A.shape[0]), A.indptr, A.indices, A.data, opts)
    return ForestAMGPreconditioner(core, A.shape[0], time.perf_counter() - t)


def forest_amg_preconditioner(A: MatrixLike, *, options: OptionsLike = None) -> ForestAMGPreconditioner:
    """A multilevel preconditioner for a graph Laplacian system: one V-cycle
    of an aggregation hierarchy whose smoother is the forest-block sweep, as a
    :class:`scipy.sparse.linalg.LinearOperator`.

    Built for symmetric positive definite M-matrices: a weighted graph
    Laplacian plus a non-negative diagonal that is positive somewhere in each
    connected component (label propagation's system, a screened Poisson
    problem). The variables are grouped into aggregates (a seed and its
    strongly coupled neighbours, then the rest attached to a neighbouring
    aggregate); the prolongation is piecewise constant on them, smoothed by
    one damped Jacobi step (smoothed aggregation); the coarse matrix is the
    Galerkin product ``P^T A P``; levels are added until at most
    ``max_coarse`` variables remain, solved by a sparse Cholesky
    factorisation. The V-cycle makes the same symmetric forest-block sweep
    (:func:`forest_pcg`'s block SSOR, blocks in order then in reverse) before
    and after each coarse correction, so it is symmetric positive definite and
    valid as the ``M`` of conjugate gradients. Serial (no ``n_threads``).

    Parameters
    ----------
    A : (n, n) sparse or dense array
        Symmetric positive definite with a positive diagonal (best an
        M-matrix: non-positive off-diagonal entries). Copied: later changes to
        ``A`` do not reach the hierarchy.
    options : dict, optional
        Fields of the C++ ``bcd::ForestAmgOptions``: ``strength`` (edges
        with ``|a_ij| >= strength sqrt(a_ii a_jj)`` are strong and
        aggregated, default 0: all of them), ``smoothing`` (the Jacobi weight
        smoothing the prolongation over a bound of ``rho(D^-1 A)``, default
        4/3; 0 keeps it piecewise constant), ``max_coarse`` (the size solved
        directly, default 500), ``max_levels`` (25), ``sweeps`` (symmetric
        sweeps before and after each coarse correction, 1), ``omega`` (block
        SSOR relaxation of the sweeps, 1).

    Returns
    -------
    ForestAMGPreconditioner
        The operator ``x -> B x`` (one V-cycle from zero), with
        ``level_sizes``, ``level_nnz``, ``operator_complexity`` and
        ``setup_time``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, scipy.sparse.linalg as sla
    >>> from itercore import bcd
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(100, 100))
    >>> A = (sp.kron(sp.identity(100), T) + sp.kron(T, sp.identity(100)) + 1e-3 * sp.identity(10000)).tocsr()
    >>> M = bcd.forest_amg_preconditioner(A)
    >>> M.level_sizes[:2], M.operator_complexity < 1.5
    ([10000, 1730], True)
    >>> x, info = sla.cg(A, np.ones(10000), M=M, rtol=1e-8)
    >>> info, bool(np.linalg.norm(A @ x - 1) <= 1e-8 * 100)
    (0, True)
    """
    M = as_csr(A, "A", square=True, dtype=np.float64)
    _check_symmetric(M, "A")
    opts = _options(options)
    return _build(M, opts)


def forest_amg(problem: Quadratic | LeastSquares, *, x0: ArrayLike | None = None, tol: float = _D.tol, maxiter: int | None = None,
               callback: CallbackLike = None, options: OptionsLike = None) -> OptimizeResult:
    """Conjugate gradients preconditioned by a forest-block multilevel V-cycle
    (:func:`forest_amg_preconditioner`), for a sparse quadratic without L1 or
    bounds whose matrix is a graph Laplacian system (an SPD M-matrix).

    Where :func:`forest_pcg`'s single-level sweep needs a number of
    iterations that grows with the graph's diameter (about ``sqrt(kappa)``),
    the coarse levels remove the smooth error the sweeps leave, and the
    iteration count stays nearly flat as the graph grows. The hierarchy's
    set-up is timed apart from the solve.

    Parameters
    ----------
    problem : Quadratic or LeastSquares
        Without ``l1`` or ``lower``; ``A`` symmetric positive definite with a
        positive diagonal.
    x0 : (n,) array_like, optional
        Start (zeros by default).
    tol : float
        Stop when the true relative residual ``||A x - b|| / ||b|| <= tol``
        (default 1e-8).
    maxiter : int, optional
        CG iterations, one V-cycle each (default ``max(1000, n)``).
    callback : callable, optional
        ``callback(intermediate_result)`` after each iteration, an
        ``OptimizeResult`` with ``x`` (a copy), ``nit`` and ``optimality``
        (the relative residual); raise ``StopIteration`` to stop.
    options : dict, optional
        The hierarchy's fields of the C++ ``bcd::ForestAmgOptions`` (see
        :func:`forest_amg_preconditioner`).

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``nit`` (CG iterations), ``optimality`` (the relative
        residual), ``success``, ``status`` (0 converged, 1 iteration limit, 2
        breakdown: ``A`` is not positive definite, 3 non-finite, 5 callback
        stop), ``message``, ``setup_time`` and ``solve_time`` (seconds),
        ``level_sizes`` and ``operator_complexity``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore import bcd
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(200, 200))
    >>> A = sp.kron(sp.identity(200), T) + sp.kron(T, sp.identity(200)) + 1e-4 * sp.identity(40000)
    >>> res = bcd.forest_amg(bcd.Quadratic(A, np.ones(40000)))
    >>> bool(res.success), res.nit < 20, res.level_sizes[:2]
    (True, True, [40000, 6861])
    """
    q = _as_linear_system(problem)
    opts = _options(options, tol=tol)
    if maxiter is None:
        opts.maxiter = max(1000, q.n)
    else:
        opts.maxiter = check_int(maxiter, "maxiter", lower=0)
    x = _start(x0, q.n)
    hook = _pipeline.result_callback(check_callback(callback), "optimality")
    M = _build(q.A, opts)
    t = time.perf_counter()
    info = M._amg.solve(q.b[None], x[None], opts.tol, opts.maxiter, hook)[0]
    solve_time = time.perf_counter() - t
    res = _pipeline.make_result(info, x=x.astype(q.dtype, copy=False), fun=problem.fun(x),
                                optimality=info["residual"], setup_time=M.setup_time, solve_time=solve_time,
                                level_sizes=M.level_sizes, operator_complexity=M.operator_complexity)
    if res.status == _pipeline.BREAKDOWN:
        res.message = "CG broke down: A is not positive definite (breakdown)"
    _pipeline.warn_not_converged("itercore.bcd.forest_amg", res.status, res.optimality, opts.tol,
                                 "relative residual")
    return res
