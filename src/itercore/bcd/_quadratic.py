"""Block coordinate descent on a sparse quadratic (the core in
``cpp/include/itercore/bcd/quadratic.hpp``): validate, options, partition,
run the core, result."""

from __future__ import annotations

import numpy as np

from .. import _core, _pipeline
from .._validation import as_float_array, check_callback, check_choice, check_int, seed_to_uint64
from ._partition import BLOCKS, CHOSEN_EACH_ITERATION, fixed_partition
from ._problems import LeastSquares, Quadratic
from scipy.optimize import OptimizeResult
from .._typing import ArrayLike, CallbackLike, OptionsLike, SeedLike

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


def minimize_quadratic(problem: Quadratic, *, x0: ArrayLike | None = None, rule: str = _D.rule.name,
                       blocks: str = "sorted", block_size: int | None = None, update: str = _D.update.name,
                       tol: float = _D.tol, maxiter: int | None = None, callback: CallbackLike = None,
                       seed: SeedLike = None, history: bool = _D.history,
                       lattice_shape: tuple[int, int] | None = None, options: OptionsLike = None) -> OptimizeResult:
    """Block coordinate descent on a sparse quadratic (:class:`Quadratic`, or
    :class:`LeastSquares` through its Gram matrix ``X^T X / n``).

    Serial: the core has no threads (no ``n_threads``).

    Parameters
    ----------
    problem : Quadratic or LeastSquares
    x0 : (n,) array_like, optional
        Start (zeros by default; raised to ``lower`` where below it).
    rule : {"cyclic", "random", "lipschitz", "gs", "gsl", "gsq", "gsd"}
        Block selection. ``gs``: largest ``||g_b||``; ``gsl`` (default):
        largest ``||g_b||^2 / L_b``; ``gsq``: largest ``g_b^T A_bb^{-1} g_b``
        (computed by message passing on forest blocks; for
        ``blocks="variable"`` the paper's iterative-hard-thresholding
        approximation, ``options["iht_iters"]`` steps); ``gsd``: largest
        ``sum_i g_i^2 / D_{b,i}`` with the diagonal bound
        ``D_{b,i} = sum_{j in b} |A_ij|`` (``sum_j |A_ij|`` for variable
        blocks). With L1 or bounds ``gs`` and ``gsl`` score the
        proximal-gradient mapping, ``gsq`` and ``gsd`` the decrease of the
        block's proximal model (the proximal GS-q rule; coordinate-wise with
        ``A_ii`` for ``gsq`` on variable blocks). Blocks chosen each
        iteration (``"variable"``, ``"greedy-forest"``) need a greedy rule.
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
    update : {"gradient", "diagonal", "matrix", "newton", "message-passing", "tmp"}
        ``gradient`` (default): ``x_b -= g_b / L_b`` (``L_b`` the largest
        eigenvalue of ``A_bb`` for blocks of at most 64 variables, a
        Gershgorin bound above; proximal with L1 / bounds). ``diagonal``:
        ``x_b -= D_b^{-1} g_b`` with ``gsd``'s diagonal bound (proximal with
        L1 / bounds). ``tmp``: two-metric projection for ``lower`` bounds
        (Newton on the variables off their bound, a scaled gradient on those
        held at it, a projected backtracking search; with ``l1 > 0`` it
        needs ``lower >= 0``). ``matrix``: the exact block solve
        with the block Hessian (dense Cholesky; ``newton`` is the same on a
        quadratic); with L1 / bounds the exact block subproblem, solved by
        coordinate passes inside the block. ``message-passing``: the exact
        solve of a forest block in O(``|b|``); needs forest blocks
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
        (block updates between optimality checks; 0, the default: one sweep),
        ``exact_lipschitz`` (True: ``L_b = lambda_max(A_bb)`` for blocks of at
        most 64 variables; False: the Gershgorin bound everywhere),
        ``iht_iters`` (10) and ``iht_step`` (0: ``1 / lambda_max(A)``) of
        ``gsq`` on variable blocks, ``support_in_block`` (variable blocks
        with L1 / bounds: when the free variables and the other violators
        all fit in ``block_size``, the block holds all of them: the paper's
        superlinear phase with ``update="newton"`` or ``"tmp"``).

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
