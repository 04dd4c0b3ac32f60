"""Block coordinate descent for smooth losses of a linear model (the core in
``cpp/include/itercore/bcd/smooth.hpp``): validate, options, feature blocks,
run the core (dense or sparse X), result."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _core, _pipeline
from .._validation import as_float_array, check_callback, check_choice, check_int, check_n_threads, seed_to_uint64
from ._partition import BLOCKS, FEATURE_BLOCKS, fixed_partition
from ._problems import LeastSquares, Logistic, Softmax, _check_x
from scipy.optimize import OptimizeResult
from .._typing import ArrayLike, CallbackLike, OptionsLike, SeedLike

__all__ = ["minimize_smooth"]

#: The C++ defaults (``bcd::SmoothOptions``), read from the bound struct.
_D = _pipeline.defaults(_core.bcd.SmoothOptions)
_RANDOM_RULES = ("random", "lipschitz")


def _features(problem):
    """``(X^T, y, K, loss, l1, l2)`` of a problem given by its features
    (its public attributes checked again: they may have changed)."""
    if isinstance(problem, (Logistic, Softmax, LeastSquares)):
        problem = problem._checked()
    if isinstance(problem, Logistic):
        return problem.Xt, problem.y, 1, "logistic", problem.l1, problem.l2
    if isinstance(problem, Softmax):
        return problem.Xt, problem.y, problem.K, "softmax", 0.0, problem.l2
    if isinstance(problem, LeastSquares):  # 1/(2n)||y - Xw||^2 + l1 ||w||_1 on X itself
        return _check_x(problem.X)[0], problem.y, 1, "squares", problem.l1, 0.0
    raise TypeError("problem must be a bcd.Logistic, bcd.Softmax or bcd.LeastSquares (Quadratic: "
                    f"bcd.minimize_quadratic), got {type(problem).__name__}")


def _column_sq_norms(Xt):
    if sp.issparse(Xt):
        return np.asarray(Xt.multiply(Xt).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", Xt, Xt)


def _solve(Xt, y, W, loss, l1, l2, part, opts, hook):
    """Runs the core in place from ``W`` (p, K) on the feature blocks ``part``; the core's result dict."""
    ptr, idx = part
    loss = getattr(_core.bcd.SmoothLoss, loss)
    K = W.shape[1]
    if sp.issparse(Xt):
        p, n = Xt.shape
        return _core.bcd.smooth_sparse(n, p, Xt.indptr, Xt.indices, Xt.data, y, W, K, loss, l1, l2, ptr, idx, opts,
                                       hook)
    return _core.bcd.smooth_dense(Xt, y, W, K, loss, l1, l2, ptr, idx, opts, hook)


def minimize_smooth(problem: LeastSquares | Logistic | Softmax, *, x0: ArrayLike | None = None,
                    rule: str = _D.rule.name, blocks: str = "sorted", block_size: int | None = None,
                    update: str = _D.update.name, tol: float = _D.tol, maxiter: int | None = None,
                    callback: CallbackLike = None, seed: SeedLike = None, history: bool = _D.history,
                    n_threads: int | None = None, active_set_newton: bool = _D.active_set_newton,
                    options: OptionsLike = None) -> OptimizeResult:
    """Block coordinate descent for a smooth loss of a linear model on its
    features ``X``, dense or sparse: :class:`Logistic` (L1 / L2),
    :class:`Softmax` (L2) or :class:`LeastSquares` (on ``X``, not its Gram
    matrix).

    A block is a set of features (all ``K`` weights of each). The scores
    ``X W`` are kept up to date after each block update in time proportional
    to the non-zeros of the block's columns; on sparse X the greedy rules keep
    the gradient and the block scores (an indexed heap) up to date too.

    Parameters
    ----------
    problem : Logistic, Softmax or LeastSquares
    x0 : (p,) or, for Softmax, (p, K) array_like, optional
        Start (zeros by default).
    rule : {"cyclic", "random", "lipschitz", "gs", "gsl", "gsq", "gsd"}
        Block selection (default ``"gsl"``), as in :func:`minimize_quadratic`
        with ``L_b`` the largest eigenvalue of the block's Hessian bound,
        for ``gsq`` that bound as ``H_b`` (with L1: the decrease of the
        block's proximal model) and for ``gsd`` its absolute row sums over
        the block as the diagonal bound.
    blocks : {"order", "sorted", "balanced", "variable"}
        Fixed feature blocks of ``block_size`` (default 1): in order, sorted
        by column norm (default), or with similar average column norms; or
        ``"variable"``: the ``block_size`` best features under a greedy
        ``rule`` each iteration (a full gradient per pick; ``gsd`` and
        ``gsq`` form the whole Hessian bound, p x p, once).
    update : {"gradient", "diagonal", "matrix", "newton"}
        ``gradient`` (default, step ``1/L_b``), ``diagonal`` (``gsd``'s
        diagonal bound, per-feature steps), ``matrix`` (the block Hessian
        bound ``c X_b^T X_b / n + l2 I``, ``c = 1/4`` logistic, ``1/2``
        softmax, 1 squares) and, for Logistic, ``newton`` (the exact block
        Hessian with Armijo backtracking; on squares it equals ``matrix``).
        With ``l1 > 0``, ``matrix`` and ``newton`` are proximal: the block
        subproblem ``min_d g^T d + 1/2 d^T H d + l1 ||x_b + d||_1`` is solved
        by coordinate passes (Newton with an Armijo search on the composite
        objective).
    tol : float
        Stop when ``optimality <= tol`` (default 1e-8): with ``l1 > 0``
        (Logistic, LeastSquares) the relative duality gap, ``gap / f(0)``;
        otherwise the largest entry of the gradient (of the proximal-gradient
        mapping) in absolute value.
    maxiter : int, optional
        Block updates (default 1000 sweeps' worth: ``1000 * p / block size``).
    callback : callable, optional
        ``callback(intermediate_result)`` at each optimality check (once per
        sweep, or per iteration with ``history=True``), an ``OptimizeResult``
        with ``x`` (a copy, shaped like ``result.x``), ``fun``, ``nit`` and
        ``optimality``; raise ``StopIteration`` to stop.
    seed : None, int or numpy.random.Generator
        For ``rule="random"`` and ``"lipschitz"``.
    history : bool
        Record the objective at every check (costs a full gradient per
        iteration: greedy rules on sparse X then lose their incremental
        gradient).
    n_threads : int, optional
        Threads of the full-gradient recomputations (greedy rules on dense X,
        every check) on large X (``None``: the OpenMP default).
    active_set_newton : bool
        With ``l1 > 0`` (Logistic, LeastSquares): once the signs of the
        iterate are unchanged over a sweep, try a Newton step on the active
        set, kept when the objective drops (default True; ``result.n_newton``
        counts them). After the active set is identified this converges
        superlinearly.
    options : dict, optional
        Expert fields of the C++ ``bcd::SmoothOptions``: ``check_every``
        (block updates between checks; 0, the default: one sweep),
        ``inner_passes`` (coordinate passes on a proximal block subproblem,
        100), ``max_active`` (no active-set Newton on larger supports, 2000),
        ``incremental_greedy`` (sparse X with a greedy rule: keep the gradient
        and block scores up to date, default True; False recomputes the full
        gradient per pick), ``iht_iters`` (``gsq`` on variable blocks
        without L1: iterative-hard-thresholding steps, 10; 0: the GSD choice).

    Returns
    -------
    OptimizeResult
        ``x`` (``(p,)``, or ``(p, K)`` for Softmax), ``fun``, ``nit`` (block
        updates), ``optimality``, ``success``, ``status`` (0 converged, 1
        iteration limit, 2 a block Hessian was not positive definite, 3
        non-finite, 5 callback stop), ``message``, ``history`` when asked.
        With ``l1 > 0`` also ``gap``, the duality gap of ``x`` in the
        objective's scaling (``fun - min f <= gap``), and ``n_newton``.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import bcd
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((300, 20)); y = (X[:, 0] + 0.5 * rng.standard_normal(300) > 0).astype(int)
    >>> res = bcd.minimize_smooth(bcd.Logistic(X, y, l1=0.01), update="newton", block_size=4)
    >>> bool(res.success), bool(res.gap <= 1e-8 * np.log(2))
    (True, True)
    """
    Xt, y, K, loss, l1, l2 = _features(problem)
    name = type(problem).__name__
    if check_choice(blocks, "blocks", BLOCKS) not in FEATURE_BLOCKS:
        raise ValueError(f"blocks must be 'order', 'sorted', 'balanced' or 'variable' for {name} (blocks of "
                         f"features), got {blocks!r}")
    p = Xt.shape[0]
    block_size = min(check_int(1 if block_size is None else block_size, "block_size", lower=1), p)
    variable = blocks == "variable"
    opts = _pipeline.make_options(_core.bcd.SmoothOptions, dict(
        rule=rule, update=update, tol=tol, maxiter=maxiter, history=history, n_threads=check_n_threads(n_threads),
        active_set_newton=active_set_newton), options,
        derived=dict(kind=_core.bcd.BlockKind.__members__["variable" if variable else "fixed"],
                     block_size=block_size))
    # variable blocks: the core chooses them; it keeps the singleton partition for its per-feature bookkeeping
    part = fixed_partition("order" if variable else blocks, p, 1 if variable else block_size,
                           lipschitz=lambda: _column_sq_norms(Xt))
    if maxiter is None:  # 1000 sweeps' worth
        opts.maxiter = 1000 * (-(-p // block_size) if variable else part[0].shape[0] - 1)
    opts.seed = seed_to_uint64(seed) if opts.rule.name in _RANDOM_RULES else 0
    shape = (p,) if K == 1 else (p, K)
    if x0 is None:
        W = np.zeros((p, K))
    else:
        W = as_float_array(x0, "x0", shape=shape, ndim=len(shape), dtype=np.float64, copy=True).reshape(p, K)
    hook = _pipeline.result_callback(check_callback(callback), "optimality")
    info = _solve(Xt, y, W, loss, l1, l2, part, opts, hook)
    gap_mode = l1 > 0 and K == 1
    res = _pipeline.make_result(info, history=opts.history, x=W.reshape(shape).astype(problem.dtype, copy=False),
                                fun=float(info["fun"]), optimality=info["residual"])
    if gap_mode:
        res.gap = float(info["gap"])
        res.n_newton = int(info["newton_steps"])
    if res.status == _pipeline.BREAKDOWN:
        res.message = "a block Hessian was not positive definite (breakdown)"
    _pipeline.warn_not_converged(f"itercore.bcd.minimize_smooth ({name})", res.status, res.optimality, opts.tol,
                                 "relative duality gap" if gap_mode else "optimality")
    return res
