"""Conjugate gradients preconditioned by a symmetric forest-block sweep (the
core in ``cpp/include/itercore/bcd/forest_pcg.hpp``): validate, options,
partition, run the core, result."""

from __future__ import annotations

from .. import _core, _pipeline
from .._validation import check_callback, check_choice, check_int
from ._partition import BLOCKS, CHOSEN_EACH_ITERATION, fixed_partition
from ._problems import LeastSquares, Quadratic
from ._quadratic import _start
from scipy.optimize import OptimizeResult
from .._typing import ArrayLike, CallbackLike, OptionsLike

__all__ = ["forest_pcg"]

#: The C++ defaults (``bcd::ForestPcgOptions``), read from the bound struct.
_D = _pipeline.defaults(_core.bcd.ForestPcgOptions)


def _as_linear_system(problem):
    """The :class:`Quadratic` whose minimiser solves ``A x = b`` (no L1, no bounds)."""
    if isinstance(problem, LeastSquares):
        q = problem._checked()._quadratic()
    elif isinstance(problem, Quadratic):
        q = problem._checked()  # public attributes: checked again at solve time
    else:
        raise TypeError("problem must be a bcd.Quadratic or bcd.LeastSquares for forest_pcg (method='cg'), "
                        f"got {type(problem).__name__}")
    if q.l1 > 0 or q.lower is not None:
        raise ValueError("problem has l1 > 0 or lower bounds, which forest_pcg (method='cg') does not handle; "
                         "use minimize_quadratic (method='bcd')")
    return q


def _setup(q, *, blocks, block_size, omega, tol, maxiter, lattice_shape, options):
    """The checked ``ForestPcgOptions`` and the partition ``(ptr, idx)``."""
    blocks = check_choice(blocks, "blocks", BLOCKS)
    if blocks in CHOSEN_EACH_ITERATION:
        raise ValueError(f"blocks must be a fixed partition into forests (the preconditioner sweeps over them in "
                         f"order), got {blocks!r}")
    opts = _pipeline.make_options(_core.bcd.ForestPcgOptions, dict(omega=omega, tol=tol, maxiter=maxiter), options)
    n = q.n
    block_size = min(check_int(1 if block_size is None else block_size, "block_size", lower=1), max(n, 1))
    part = fixed_partition(blocks, n, block_size, lipschitz=q.A.diagonal, A=q.A, lattice_shape=lattice_shape)
    if maxiter is None:
        opts.maxiter = max(1000, 10 * n)
    return opts, part


def _solve(q, B, X, part, opts, hook):
    """Solves ``A x = b`` for each row of ``B`` (k, n), in place from the rows
    of ``X``, with one preconditioner set-up; the core's result dicts, one per
    right-hand side solved (a stop ends the sequence)."""
    ptr, idx = part
    return _core.bcd.forest_pcg(q.n, q.A.indptr, q.A.indices, q.A.data, B, X, ptr, idx, opts, hook)


def forest_pcg(problem: Quadratic, *, x0: ArrayLike | None = None, blocks: str = "ordered-forest",
               block_size: int | None = None, omega: float = _D.omega, tol: float = _D.tol,
               maxiter: int | None = None, callback: CallbackLike = None,
               lattice_shape: tuple[int, int] | None = None, options: OptionsLike = None) -> OptimizeResult:
    """Conjugate gradients preconditioned by a symmetric sweep of exact
    forest-block solves, for a sparse quadratic without L1 or bounds
    (:class:`Quadratic`, or :class:`LeastSquares` through its Gram matrix).

    Block coordinate descent with exact (message-passing) forest-block solves
    converges like block Gauss-Seidel, in a number of sweeps that grows like
    the condition number; this keeps the blocks and their O(``|b|``) solves as the
    block SSOR preconditioner of CG (the blocks in order, then in reverse,
    relaxation ``omega``) and converges like its square root. Serial: the core
    has no threads (no ``n_threads``).

    Parameters
    ----------
    problem : Quadratic or LeastSquares
        Without ``l1`` or ``lower``.
    x0 : (n,) array_like, optional
        Start (zeros by default).
    blocks : str
        A fixed partition of :func:`minimize_quadratic` whose blocks are
        forests in the graph of ``A`` (default ``"ordered-forest"``, the
        fastest on lattices here; also ``"forest"``, ``"lattice"``,
        ``"coloring"``, ``"red-black"``, or singletons such as ``"order"``
        with ``block_size=1``). Blocks that are not forests are refused.
    block_size : int, optional
        For ``order`` / ``sorted`` / ``balanced`` (default 1).
    omega : float
        Relaxation of the block SSOR preconditioner, in (0, 2) (default 1:
        symmetric block Gauss-Seidel).
    tol : float
        Stop when the true relative residual ``||A x - b|| / ||b|| <= tol``
        (default 1e-8).
    maxiter : int, optional
        CG iterations (each costs about two sweeps; default ``max(1000, 10 n)``).
    callback : callable, optional
        ``callback(intermediate_result)`` after each iteration, an
        ``OptimizeResult`` with ``x`` (a copy), ``nit`` and ``optimality``
        (the relative residual); raise ``StopIteration`` to stop.
    lattice_shape : (int, int), optional
        Grid shape for ``blocks="red-black"`` / ``"lattice"``.
    options : dict, optional
        Expert fields of the C++ ``bcd::ForestPcgOptions`` beyond the
        keywords above (none yet: its fields are ``omega``, ``tol`` and
        ``maxiter``).

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``nit`` (CG iterations), ``optimality`` (the relative
        residual), ``success``, ``status`` (0 converged, 1 iteration limit, 2
        breakdown: ``A`` is not positive definite, 3 non-finite, 5 callback
        stop), ``message``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore import bcd
    >>> A = sp.diags([-1.0, 2.01, -1.0], [-1, 0, 1], shape=(1000, 1000), format="csr")
    >>> res = bcd.forest_pcg(bcd.Quadratic(A, np.ones(1000)), blocks="order", block_size=1000)
    >>> bool(res.success), res.nit
    (True, 1)
    """
    q = _as_linear_system(problem)
    opts, part = _setup(q, blocks=blocks, block_size=block_size, omega=omega, tol=tol, maxiter=maxiter,
                        lattice_shape=lattice_shape, options=options)
    x = _start(x0, q.n)
    hook = _pipeline.result_callback(check_callback(callback), "optimality")
    info = _solve(q, q.b[None], x[None], part, opts, hook)[0]
    res = _pipeline.make_result(info, x=x.astype(q.dtype, copy=False), fun=problem.fun(x),
                                optimality=info["residual"])
    if res.status == _pipeline.BREAKDOWN:
        res.message = "CG broke down: A is not positive definite (breakdown)"
    _pipeline.warn_not_converged("itercore.bcd.forest_pcg", res.status, res.optimality, opts.tol,
                                 "relative residual")
    return res
