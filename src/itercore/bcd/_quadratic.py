"""Block coordinate descent on a sparse quadratic (the core in
``cpp/include/itercore/bcd/quadratic.hpp``): validate, options, partition,
run the core, result."""

from __future__ import annotations

import numpy as np

from .. import _core, _pipeline
from .._validation import as_float_array, check_callback, check_choice, check_int, seed_to_uint64
from ._partition import BLOCKS, CHOSEN_EACH_ITERATION, fixed_partition
from ._problems import LeastSquares, Quadratic

__all__ = ["minimize_quadratic"]

#: The C++ defaults (``bcd::QuadraticOptions``), read from the bound struct.
_D = _pipeline.defaults(_core.bcd.QuadraticOptions)
_RANDOM_RULES = ("random", "lipschitz")
_NO_BLOCKS = (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64))


def _as_quadratic(problem):
    if isinstance(problem, Quadratic):
        return problem._checked()  # public attributes: checked again at solve time
    if isinstance(problem, LeastSquares):
        return problem._checked()._quadratic()
    raise TypeError("problem must be a bcd.Quadratic or bcd.LeastSquares (Logistic and Softmax: "
                    f"bcd.minimize_smooth), got {type(problem).__name__}")


def _start(x0, n, lower=None):
    if x0 is None:
        x = np.zeros(n)
    else:
        x = as_float_array(x0, "x0", ndim=1, shape=(n,), dtype=np.float64, copy=True)
    return x if lower is None else np.maximum(x, lower)


def _setup(q, *, rule, blocks, block_size, update, tol, maxiter, seed, history, lattice_shape, options):
    """The checked ``QuadraticOptions`` and the fixed partition ``(ptr, idx)``
    (``None`` for blocks chosen each iteration)."""
    blocks = check_choice(blocks, "blocks", BLOCKS)
    kind = blocks if blocks in CHOSEN_EACH_ITERATION else "fixed"
    n = q.n
    block_size = check_int(block_size, "block_size", lower=1, allow_none=True)
    if block_size is None:
        block_size = n if kind == "greedy-forest" else 1
    block_size = min(block_size, n)
    opts = _pipeline.make_options(_core.bcd.QuadraticOptions, dict(
        rule=rule, update=update, block_size=block_size, tol=tol, maxiter=maxiter, history=history), options,
        derived=dict(kind=_core.bcd.BlockKind.__members__[kind]))
    part, n_blocks = None, -(-n // block_size)
    if kind == "fixed":
        part = fixed_partition(blocks, n, block_size, lipschitz=q.A.diagonal, A=q.A, lattice_shape=lattice_shape)
        n_blocks = part[0].shape[0] - 1
    if maxiter is None:  # 1000 sweeps' worth
        opts.maxiter = 10000 if kind == "greedy-forest" else 1000 * n_blocks
    opts.seed = seed_to_uint64(seed) if opts.rule.name in _RANDOM_RULES else 0
    return opts, part


def _solve(q, x, part, opts, hook):
    """Runs the core in place from ``x`` on the partition ``part``; the core's result dict."""
    ptr, idx = _NO_BLOCKS if part is None else part
    return _core.bcd.quadratic(q.n, q.A.indptr, q.A.indices, q.A.data, q.b, x, ptr, idx, q.l1, q.lower, opts, hook)


def _lasso_gap(X, y, w, alpha):
    """The duality gap of ``w`` for 1/(2n)||y - Xw||^2 + alpha ||w||_1, in that scaling."""
    n = y.shape[0]
    r = y - X @ w
    c = np.abs(X.T @ r).max() if X.shape[1] else 0.0
    lam = n * alpha
    s = min(1.0, lam / c) if c > 0 else 1.0
    primal = 0.5 * r @ r + lam * np.abs(w).sum()
    dual = s * (y @ r) - 0.5 * s * s * (r @ r)
    return float(primal - dual) / n


def minimize_quadratic(problem, *, x0=None, rule=_D.rule.name, blocks="sorted", block_size=None,
                       update=_D.update.name, tol=_D.tol, maxiter=None, callback=None, seed=None, history=_D.history,
                       lattice_shape=None, options=None):
    """Block coordinate descent on a sparse quadratic (:class:`Quadratic`, or
    :class:`LeastSquares` through its Gram matrix ``X^T X / n``).

    Serial: the core has no threads (no ``n_threads``).

    Parameters
    ----------
    problem : Quadratic or LeastSquares
    x0 : (n,) array_like, optional
        Start (zeros by default; raised to ``lower`` where below it).
    rule : {"cyclic", "random", "lipschitz", "gs", "gsl", "gsq"}
        Block selection. ``gs``: largest ``||g_b||``; ``gsl`` (default):
        largest ``||g_b||^2 / L_b``; ``gsq``: largest ``g_b^T A_bb^{-1} g_b``
        (computed by message passing on forest blocks; for
        ``blocks="variable"`` the diagonal bound GSD,
        ``g_i^2 / sum_j |A_ij|``). With L1 or bounds the greedy rules score
        the proximal-gradient mapping. Blocks chosen each iteration
        (``"variable"``, ``"greedy-forest"``) need a greedy rule.
    blocks : str
        ``"order"``, ``"sorted"`` (default; by Lipschitz constant),
        ``"balanced"`` (similar average Lipschitz constant per block): fixed
        blocks of ``block_size``. ``"variable"``: the ``block_size`` best
        coordinates under ``rule`` each iteration. ``"coloring"``:
        independent sets of a greedy colouring; ``"red-black"`` and
        ``"lattice"`` (the two-forest comb partition) for a row-major
        ``lattice_shape`` grid; ``"forest"``: a greedy partition into forests
        (few, large, interleaved forests); ``"ordered-forest"``: consecutive
        variables in index order, a new block starting wherever the next
        variable would close a cycle (on a row-major lattice: the rows,
        shifted by one); ``"greedy-forest"``: a forest grown in ``rule``
        order each iteration (at most ``block_size`` variables).
    block_size : int, optional
        Default 1 (coordinate descent), ``n`` for greedy forests.
    update : {"gradient", "matrix", "newton", "message-passing"}
        ``gradient`` (default): ``x_b -= g_b / L_b`` (``L_b`` a Gershgorin
        bound; proximal with L1 / bounds). ``matrix``: the exact block solve
        with the block Hessian (dense Cholesky; ``newton`` is the same on a
        quadratic); with L1 / bounds the exact block subproblem, solved by
        coordinate passes inside the block. ``message-passing``: the exact
        solve of a forest block in O(|b|); needs forest blocks
        (``forest``, ``ordered-forest``, ``lattice``, ``coloring``,
        ``red-black``, ``greedy-forest`` or singletons), refuses others and
        L1 / bounds.
    tol : float
        Stop when ``optimality <= tol`` (default 1e-8): the relative residual
        ``||A x - b|| / ||b||``; with L1 or bounds the norm of the
        proximal-gradient mapping (scaled by the diagonal) over ``||b||``.
    maxiter : int, optional
        Block updates (default 1000 sweeps' worth: ``1000 * n / block size``;
        10000 for greedy forests).
    callback : callable, optional
        ``callback(intermediate_result)`` at each optimality check (once per
        sweep, or per iteration with ``history=True`` or greedy forests), an
        ``OptimizeResult`` with ``x`` (a copy), ``fun``, ``nit`` and
        ``optimality``; raise ``StopIteration`` to stop.
    seed : None, int or numpy.random.Generator
        For ``rule="random"`` and ``"lipschitz"``.
    history : bool
        Record the objective at every check (``result.history``).
    lattice_shape : (int, int), optional
        Grid shape for ``blocks="red-black"`` / ``"lattice"``.
    options : dict, optional
        Expert fields of the C++ ``bcd::QuadraticOptions``: ``check_every``
        (block updates between optimality checks; 0, the default: one sweep).

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``nit`` (block updates), ``optimality``, ``success``,
        ``status`` (0 converged, 1 iteration limit, 2 a block system was not
        positive definite, 3 non-finite, 5 callback stop), ``message``,
        ``history`` when asked. :class:`LeastSquares` with ``l1 > 0`` also
        ``gap``, the lasso duality gap of ``x`` (``fun - min f <= gap``).

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import bcd
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((200, 40)), rng.standard_normal(200)
    >>> res = bcd.minimize_quadratic(bcd.LeastSquares(X, y), rule="gsq", blocks="sorted",
    ...                              block_size=5, update="matrix")
    >>> bool(res.success), bool(np.allclose(res.x, np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-6))
    (True, True)
    """
    q = _as_quadratic(problem)
    opts, part = _setup(q, rule=rule, blocks=blocks, block_size=block_size, update=update, tol=tol,
                        maxiter=maxiter, seed=seed, history=history, lattice_shape=lattice_shape, options=options)
    x = _start(x0, q.n, q.lower)
    ls = isinstance(problem, LeastSquares)
    offset = problem._offset() if ls else 0.0  # f(w) = q(w) + ||y||^2 / (2 n)
    hook = _pipeline.result_callback(check_callback(callback), "optimality")
    if hook is not None and offset:
        report = hook
        hook = lambda nit, error, state: report(nit, error, dict(state, fun=state["fun"] + offset))  # noqa: E731
    info = _solve(q, x, part, opts, hook)
    res = _pipeline.make_result(info, history=opts.history, x=x.astype(q.dtype, copy=False), fun=problem.fun(x),
                                optimality=info["residual"])
    if ls and problem.l1 > 0:
        res.gap = _lasso_gap(problem.X, problem.y, x, problem.l1)
    if opts.history:
        res.history = res.history + offset
    if res.status == _pipeline.BREAKDOWN:
        res.message = "a block system was not positive definite (breakdown)"
    _pipeline.warn_not_converged("itercore.bcd.minimize_quadratic", res.status, res.optimality, opts.tol,
                                 "optimality")
    return res
