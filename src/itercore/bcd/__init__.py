"""Block coordinate descent with greedy block rules, message passing on
forest blocks and active-set Newton steps for L1 (``itercore.bcd``).

Implements the methods of Nutini, Laradji & Schmidt, "Let's Make Block
Coordinate Descent Converge Faster: Faster Greedy Rules, Message-Passing,
Active-Set Complexity, and Superlinear Convergence" (JMLR 2022). One public
function per C++ core, and :func:`minimize`, which picks among them:

- :func:`minimize_quadratic`: :class:`Quadratic` (and :class:`LeastSquares`
  through its Gram matrix) with a choice of block partition (``blocks``),
  selection rule (``rule``) and block update (``update``), including the
  exact O(``|b|``) message-passing solve of forest blocks;
- :func:`minimize_smooth`: :class:`Logistic` (L1 / L2), :class:`Softmax` (L2)
  and :class:`LeastSquares` on dense or sparse features, with the scores
  ``X W`` kept up to date after each block update in time proportional to
  the non-zeros touched; with L1 a duality gap certifies the answer;
- :func:`forest_pcg`: conjugate gradients preconditioned by a symmetric sweep
  of exact forest-block solves (sparse quadratics);
- :func:`forest_amg` and :func:`forest_amg_preconditioner`: the same sweep as
  the smoother of an aggregation multigrid V-cycle, for graph Laplacian
  systems (CG, or a ``LinearOperator`` for scipy's ``cg``);
- :func:`lasso`: L1-regularised least squares with scikit-learn's scaling,
  by greedy coordinate descent on a growing working set with Newton steps on
  the identified active set, certified by a duality gap;
- :func:`label_propagation` for graph semi-supervised learning (a sparse
  quadratic per class, :func:`forest_amg` or :func:`forest_pcg`).

The C++ cores compute in float64; float32 input gives float32 output.
"""

from __future__ import annotations

from typing import Any

from .. import _core
from .._validation import check_choice
from ._forest_amg import ForestAMGPreconditioner, forest_amg, forest_amg_preconditioner
from ._forest_pcg import forest_pcg
from ._label_propagation import label_propagation
from ._lasso import lasso
from ._partition import BLOCKS, lattice_forests
from ._problems import LeastSquares, Logistic, Quadratic, Softmax
from ._quadratic import minimize_quadratic
from ._smooth import minimize_smooth
from scipy.optimize import OptimizeResult

__all__ = ["Quadratic", "LeastSquares", "Logistic", "Softmax", "minimize", "minimize_quadratic", "minimize_smooth",
           "forest_pcg", "forest_amg", "forest_amg_preconditioner", "ForestAMGPreconditioner", "lasso", "label_propagation", "lattice_forests", "RULES", "LASSO_RULES", "UPDATES",
           "BLOCKS", "METHODS"]

#: Block selection rules of :func:`minimize`, :func:`minimize_quadratic` and
#: :func:`minimize_smooth`: the C++ ``bcd::Rule`` enum but the lasso's ``"gs-r"``.
RULES = ("cyclic", "random", "lipschitz", "gs", "gsl", "gsq", "gsd")
#: Coordinate rules of :func:`lasso` inside its working set.
LASSO_RULES = ("gs-r", "cyclic")
#: Block updates (the C++ ``bcd::Update`` enum); ``"message-passing"`` and
#: ``"tmp"`` (two-metric projection, with lower bounds) are for quadratics,
#: ``"newton"`` equals ``"matrix"`` on them and is for Logistic among the
#: smooth problems; ``"diagonal"`` is GSD's diagonal-bound step.
UPDATES = tuple(_core.bcd.Update.__members__)
#: ``method=`` of :func:`minimize`: ``"bcd"`` block coordinate descent
#: (:func:`minimize_quadratic` or :func:`minimize_smooth`, by problem),
#: ``"cg"`` :func:`forest_pcg`.
METHODS = ("bcd", "cg")


def minimize(problem: Quadratic | LeastSquares | Logistic | Softmax, *, method: str = "bcd", **kwargs: Any
             ) -> OptimizeResult:
    """Minimise a problem by block coordinate descent: dispatches to the
    function of the core that solves it.

    - ``method="bcd"`` (default): :class:`Logistic`, :class:`Softmax`, and
      :class:`LeastSquares` with ``l1 > 0`` and ``update="matrix"`` or
      ``"newton"`` (on X, certified by the duality gap) go to
      :func:`minimize_smooth`; :class:`Quadratic` and other
      :class:`LeastSquares` (through the Gram matrix) to
      :func:`minimize_quadratic`;
    - ``method="cg"``: :func:`forest_pcg` (Quadratic or LeastSquares without
      L1 or bounds).

    Parameters
    ----------
    problem : Quadratic, LeastSquares, Logistic or Softmax
    method : {"bcd", "cg"}
        Plain block coordinate descent (default), or conjugate gradients
        preconditioned by a symmetric sweep of exact forest-block solves
        (block SSOR; it converges like the square root of BCD's rate).
    **kwargs
        The keyword arguments of the function chosen (``x0``, ``rule``,
        ``blocks``, ``block_size``, ``update``, ``tol``, ``maxiter``,
        ``callback``, ``seed``, ``history``, ``options``, ...); one it does
        not take is a ``TypeError``.

    Returns
    -------
    OptimizeResult
        That of the function chosen.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore import bcd
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.standard_normal((200, 40)), rng.standard_normal(200)
    >>> res = bcd.minimize(bcd.LeastSquares(X, y), rule="gsq", blocks="sorted",
    ...                    block_size=5, update="matrix")
    >>> bool(res.success)
    True
    >>> bool(np.allclose(res.x, np.linalg.lstsq(X, y, rcond=None)[0], atol=1e-6))
    True
    """
    if check_choice(method, "method", METHODS) == "cg":
        return forest_pcg(problem, **kwargs)
    on_features = isinstance(problem, (Logistic, Softmax)) or (
        isinstance(problem, LeastSquares) and problem.l1 > 0 and kwargs.get("update") in ("matrix", "newton"))
    if on_features:
        return minimize_smooth(problem, **kwargs)
    return minimize_quadratic(problem, **kwargs)


# The public objects say they live here (their docstrings are this module's doctests).
for _obj in (Quadratic, LeastSquares, Logistic, Softmax, minimize_quadratic, minimize_smooth, forest_pcg, lasso,
             label_propagation, lattice_forests, forest_amg, forest_amg_preconditioner, ForestAMGPreconditioner):
    _obj.__module__ = __name__
del _obj
