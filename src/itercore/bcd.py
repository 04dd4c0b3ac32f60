"""Block coordinate descent with greedy block rules, message passing on
forest blocks and active-set Newton steps for L1 (``itercore.bcd``).

Implements the methods of Nutini, Laradji & Schmidt, "Let's Make Block
Coordinate Descent Converge Faster: Faster Greedy Rules, Message-Passing,
Active-Set Complexity, and Superlinear Convergence" (JMLR 2022):

- :class:`Quadratic` and :class:`LeastSquares` problems solved by
  :func:`minimize` with a choice of block partition (``blocks``), selection
  rule (``rule``) and block update (``update``), including the exact
  O(|b|) message-passing solve of forest blocks;
- :class:`Logistic` (L1 / L2) and :class:`Softmax` (L2) on dense or sparse
  features, with the scores ``X W`` kept up to date after each block update
  in time proportional to the non-zeros touched; with L1 a duality gap
  certifies the answer;
- :func:`label_propagation` for graph semi-supervised learning (a sparse
  quadratic, greedy forest blocks by default);
- :func:`lasso`, L1-regularised least squares with scikit-learn's scaling,
  by greedy coordinate descent on a growing working set with Newton steps on
  the identified active set, certified by a duality gap.

The C++ cores compute in float64; float32 input gives float32 output.
"""

from __future__ import annotations


import numpy as np
import scipy.sparse as sp
from scipy.optimize import OptimizeResult

from . import _core
from ._validation import (
    as_csr,
    as_float_array,
    check_callback,
    check_choice,
    check_int,
    check_n_threads,
    check_scalar,
    seed_to_uint64,
)
from ._warnings import ConvergenceWarning

__all__ = ["Quadratic", "LeastSquares", "Logistic", "Softmax", "minimize", "lasso", "label_propagation", "RULES", "UPDATES", "BLOCKS"]

#: Block selection rules accepted by :func:`minimize`.
RULES = ("cyclic", "random", "lipschitz", "gs", "gsl", "gsq")
#: Block updates accepted by :func:`minimize` (``newton`` equals ``matrix`` on quadratics).
UPDATES = ("gradient", "matrix", "newton", "message-passing")
#: Block partitions accepted by :func:`minimize`.
BLOCKS = ("order", "balanced", "sorted", "variable", "coloring", "red-black", "forest", "ordered-forest", "lattice",
          "greedy-forest")

_RULE_CODE = {r: i for i, r in enumerate(RULES)}
_UPDATE_CODE = {"gradient": 0, "matrix": 1, "newton": 2, "message-passing": 3}
_FIXED, _VARIABLE, _GREEDY_FOREST = 0, 1, 2
_RANDOM_RULES = ("random", "lipschitz")


def _warn(msg):
    import warnings

    warnings.warn(msg, ConvergenceWarning, stacklevel=3)


def _csr_args(M):
    return (int(M.shape[0]), M.indptr, M.indices, M.data)


def _check_symmetric(M, name):
    """Raise unless the canonical CSR matrix ``M`` equals its transpose to a relative 1e-12.

    One C++ pass (a binary search per stored entry); no transpose is formed."""
    if not M.has_canonical_format:
        M = M.copy()
        M.sum_duplicates()
    worst, scale = _core._csr_max_asymmetry(int(M.shape[0]), M.indptr, M.indices, M.data, 0)
    if worst > 1e-12 * max(scale, 1e-300):
        raise ValueError(f"{name} must be symmetric (max |{name} - {name}.T| = {worst:.3g})")


# --- problems ------------------------------------------------------------------

class Quadratic:
    """The sparse quadratic ``f(x) = 1/2 x^T A x - b^T x + l1 ||x||_1``, ``x >= lower``.

    Parameters
    ----------
    A : sparse or dense (n, n) array
        Symmetric positive definite (positive diagonal required; symmetry is
        checked to 1e-12 relative). float32/float64 values, int32/int64
        indices.
    b : (n,) array_like
    l1 : float, default 0
        L1 weight; ``update="gradient"``, ``"matrix"`` and ``"newton"`` handle
        it (proximal steps), ``"message-passing"`` does not.
    lower : None, float or (n,) array_like
        Lower bounds (``-inf`` allowed); as for ``l1``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore import bcd
    >>> A = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(50, 50), format="csr")
    >>> res = bcd.minimize(bcd.Quadratic(A, np.ones(50)), blocks="greedy-forest",
    ...                    update="message-passing")
    >>> bool(res.success), res.nit
    (True, 1)
    """

    @classmethod
    def _trusted(cls, A, b):
        """No checks: ``A`` canonical float64 CSR known to be symmetric, ``b`` float64 (n,)."""
        self = cls.__new__(cls)
        self.A, self.b, self.dtype, self.l1, self.lower, self.n = A, b, np.dtype(np.float64), 0.0, None, A.shape[0]
        return self

    def __init__(self, A, b, l1=0.0, lower=None):
        M = as_csr(A, "A", square=True)
        _check_symmetric(M, "A")
        n = M.shape[0]
        bv = as_float_array(b, "b", ndim=1, shape=(n,))
        self.dtype = np.result_type(M.dtype, bv.dtype)
        self.A = M if M.dtype == np.float64 else M.astype(np.float64)
        self.b = np.ascontiguousarray(bv, dtype=np.float64)
        self.l1 = check_scalar(l1, "l1", lower=0.0)
        self.lower = _check_lower(lower, n)
        self.n = n

    def fun(self, x):
        """The objective at ``x`` (``inf`` when a bound is violated)."""
        x = np.asarray(x, dtype=np.float64)
        f = 0.5 * x @ (self.A @ x) - self.b @ x + self.l1 * np.abs(x).sum()
        if self.lower is not None and np.any(x < self.lower):
            return np.inf
        return float(f)


def _check_lower(lower, n):
    if lower is None:
        return None
    if np.isscalar(lower):
        lower = np.full(n, float(check_scalar(lower, "lower")) if np.isfinite(lower) else float(lower))
    lo = as_float_array(lower, "lower", ndim=1, shape=(n,), dtype=np.float64, finite=False, copy=True)
    if np.isnan(lo).any() or np.isposinf(lo).any():
        raise ValueError("lower must not contain NaN or +inf")
    return lo


class LeastSquares:
    """``f(w) = 1/(2 n) ||y - X w||^2 + l1 ||w||_1`` (scikit-learn's Lasso scaling).

    :func:`minimize` works on the Gram matrix ``X^T X / n`` (p x p, formed
    once), so it suits a moderate number of features; :func:`lasso` works on
    ``X`` directly and suits large sparse problems.

    Parameters
    ----------
    X : (n, p) dense or sparse array
    y : (n,) array_like
    l1 : float, default 0
    """

    def __init__(self, X, y, l1=0.0):
        self.X, self.y, self.dtype = _check_xy(X, y)
        self.l1 = check_scalar(l1, "l1", lower=0.0)
        self.n, self.p = self.X.shape

    def fun(self, w):
        r = self.y - self.X @ np.asarray(w, dtype=np.float64)
        return float(0.5 * (r @ r) / self.n + self.l1 * np.abs(w).sum())

    def _quadratic(self):
        n = self.n
        X = self.X
        G = (X.T @ X) / n
        G = sp.csr_array(G.toarray() if sp.issparse(G) else G)
        q = Quadratic.__new__(Quadratic)
        q.A = as_csr(G, "X^T X", square=True, dtype=np.float64)
        q.b = np.ascontiguousarray(np.asarray(X.T @ self.y, dtype=np.float64) / n)
        q.l1, q.lower, q.n, q.dtype = self.l1, None, self.p, self.dtype
        return q


def _check_xy(X, y):
    if sp.issparse(X):
        Xc = as_csr(X, "X")
    else:
        Xc = as_float_array(X, "X", ndim=2)
    n = Xc.shape[0]
    yv = as_float_array(y, "y", ndim=1, shape=(n,))
    dtype = np.result_type(Xc.dtype, yv.dtype)
    if Xc.dtype != np.float64:
        Xc = Xc.astype(np.float64)
    return Xc, np.ascontiguousarray(yv, dtype=np.float64), dtype


class Logistic:
    """Binary logistic regression,
    ``f(w) = 1/n sum_i log(1 + exp(-y_i x_i^T w)) + l2/2 ||w||^2 + l1 ||w||_1``.

    Parameters
    ----------
    X : (n, p) array_like or sparse matrix
        Features. Sparse input is kept sparse (stored once as CSC; pass CSC
        to avoid the conversion): a block update costs time proportional to
        the non-zeros of its columns.
    y : (n,) array_like
        Two distinct label values; the larger one is the positive class.
    l1, l2 : float
        Penalty weights. With ``l1 > 0``, :func:`minimize` reports the
        duality gap (``result.gap``; ``result.optimality`` is the gap over
        ``f(0) = log 2``) and stops on it; every update handles L1
        (``matrix`` and ``newton`` solve the proximal block subproblem).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore import bcd
    >>> rng = np.random.default_rng(0)
    >>> X = sp.random(300, 50, density=0.1, random_state=1, format="csc")
    >>> y = (X @ rng.standard_normal(50) > 0).astype(int)
    >>> res = bcd.minimize(bcd.Logistic(X, y, l1=0.01), update="newton", block_size=5, rule="gsl")
    >>> bool(res.success), bool(res.gap <= 1e-8 * np.log(2))
    (True, True)
    """

    K = 1

    def __init__(self, X, y, l1=0.0, l2=0.0):
        self.Xt, self.dtype = _check_x(X)
        n = self.Xt.shape[1]
        yv = np.asarray(y)
        if yv.shape != (n,):
            raise ValueError(f"y must have shape ({n},), got {yv.shape}")
        yv = as_float_array(yv, "y", ndim=1, shape=(n,), dtype=np.float64)
        vals = np.unique(yv)
        if vals.size != 2:
            raise ValueError(f"y must hold exactly two distinct labels, got {vals.size}")
        self.classes = vals
        self.y = np.ascontiguousarray(np.where(yv == vals[1], 1.0, -1.0))
        self.l1 = check_scalar(l1, "l1", lower=0.0)
        self.l2 = check_scalar(l2, "l2", lower=0.0)
        self.n, self.p = n, self.Xt.shape[0]

    def fun(self, w):
        z = self.Xt.T @ np.asarray(w, dtype=np.float64)
        return float(np.mean(np.logaddexp(0.0, -self.y * z)) + 0.5 * self.l2 * (w @ w) + self.l1 * np.abs(w).sum())


class Softmax:
    """Multinomial logistic regression,
    ``f(W) = 1/n sum_i [logsumexp(x_i^T W) - x_i^T W_{:, y_i}] + l2/2 ||W||_F^2``, W of shape (p, K).

    Parameters
    ----------
    X : (n, p) array_like or sparse matrix
        Features (sparse input kept sparse, as for :class:`Logistic`).
    Y : (n,) int array_like or (n, K) one-hot array_like
        Class ids ``0..K-1`` or a one-hot indicator matrix.
    l2 : float
    """

    def __init__(self, X, Y, l2=0.0):
        self.Xt, self.dtype = _check_x(X)
        n = self.Xt.shape[1]
        Yv = np.asarray(Y)
        if Yv.ndim == 2:
            if Yv.shape[0] != n:
                raise ValueError(f"Y must have {n} rows, got shape {Yv.shape}")
            Yf = as_float_array(Yv, "Y", ndim=2)
            if not (np.isin(Yf, (0.0, 1.0)).all() and np.all(Yf.sum(axis=1) == 1)):
                raise ValueError("Y must be one-hot (one 1 per row) when 2-D")
            labels, K = np.argmax(Yf, axis=1), Yf.shape[1]
        elif Yv.ndim == 1:
            if Yv.shape[0] != n:
                raise ValueError(f"Y must have shape ({n},), got {Yv.shape}")
            if Yv.dtype.kind not in "iu":
                raise TypeError(f"Y must hold integer class ids when 1-D, got dtype {Yv.dtype}")
            if Yv.size and Yv.min() < 0:
                raise ValueError("Y must hold class ids >= 0")
            labels, K = Yv, int(Yv.max()) + 1
        else:
            raise ValueError(f"Y must be 1- or 2-dimensional, got shape {Yv.shape}")
        if K < 2:
            raise ValueError("Y must have at least two classes")
        self.y = np.ascontiguousarray(labels, dtype=np.float64)
        self.K = K
        self.l1 = 0.0
        self.l2 = check_scalar(l2, "l2", lower=0.0)
        self.n, self.p = n, self.Xt.shape[0]

    def fun(self, W):
        W = np.asarray(W, dtype=np.float64)
        Z = self.Xt.T @ W
        lse = np.logaddexp.reduce(Z, axis=1)
        return float(np.mean(lse - Z[np.arange(self.n), self.y.astype(int)]) + 0.5 * self.l2 * np.sum(W * W))


def _check_x(X):
    """X^T as a C-order (p, n) float64 array, or as CSR (i.e. X as CSC) when sparse."""
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got shape {X.shape}")
        if 0 in X.shape:  # checked here: the message below would quote the shape of X^T
            raise ValueError(f"X must not be empty, got shape {X.shape}")
        # CSR of X^T is CSC of X: free for CSC input (the layout column updates want)
        Xt = as_csr(X.T if X.format == "csc" else X.tocsc().T, "X", dtype=np.float64)
        return Xt, (X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64))
    Xd = as_float_array(X, "X", ndim=2)
    return np.ascontiguousarray(Xd.T, dtype=np.float64), Xd.dtype


def _column_sq_norms(Xt):
    if sp.issparse(Xt):
        return np.asarray(Xt.multiply(Xt).sum(axis=1)).ravel()
    return np.einsum("ij,ij->i", Xt, Xt)


# --- partitions -----------------------------------------------------------------

def _chunks(order, size):
    n = order.shape[0]
    ptr = np.arange(0, n + size, size, dtype=np.int64)
    ptr[-1] = n
    ptr = np.unique(np.minimum(ptr, n))
    return ptr, np.ascontiguousarray(order, dtype=np.int64)


def _from_labels(labels):
    if labels.size < 2 or bool((labels[1:] >= labels[:-1]).all()):
        order = np.arange(labels.size, dtype=np.int64)  # blocks of consecutive variables: no sort
    else:
        order = np.argsort(labels, kind="stable").astype(np.int64)
    counts = np.bincount(labels)
    ptr = np.concatenate([[0], np.cumsum(counts[counts > 0])]).astype(np.int64)
    return ptr, order


def lattice_forests(shape):
    """The two-forest partition of an ``n1 x n2`` lattice (row-major numbering).

    Forest 0 is a comb: the even rows without their last column, joined by
    column 0; forest 1 the odd rows without their first column, joined by the
    last column. Both induce trees of the lattice graph. Returns the forest
    (0 or 1) of each node.
    """
    n1, n2 = shape
    i, j = np.divmod(np.arange(n1 * n2), n2)
    even = (i % 2) == 0
    f0 = (even & (j < n2 - 1)) | (~even & (j == 0))
    if n2 == 1:
        f0 = even
    return np.where(f0, 0, 1).astype(np.int64)


def _partition(q, blocks, block_size, lattice_shape):
    n = q.n
    if blocks == "order":
        return _chunks(np.arange(n), block_size)
    diag = q.A.diagonal() if blocks in ("sorted", "balanced") else None
    if blocks == "sorted":
        return _chunks(np.argsort(-diag, kind="stable"), block_size)
    if blocks == "balanced":
        nb = -(-n // block_size)
        order = np.argsort(-diag, kind="stable")
        pos = np.arange(n)
        rnd, k = np.divmod(pos, nb)
        block = np.where(rnd % 2 == 0, k, nb - 1 - k)  # snake: similar average L per block
        return _from_labels(block[np.argsort(order)].astype(np.int64))
    if blocks in ("coloring", "forest", "ordered-forest"):
        return _from_labels(_core.bcd_partition(*_csr_args(q.A), blocks))
    if blocks in ("red-black", "lattice"):
        if lattice_shape is None:
            raise ValueError(f"lattice_shape is required for blocks={blocks!r}")
        shape = tuple(check_int(s, "lattice_shape", lower=1) for s in lattice_shape)
        if len(shape) != 2 or shape[0] * shape[1] != n:
            raise ValueError(f"lattice_shape must be two ints with product {n}, got {lattice_shape}")
        if blocks == "red-black":
            i, j = np.divmod(np.arange(n), shape[1])
            return _from_labels(((i + j) % 2).astype(np.int64))
        return _from_labels(lattice_forests(shape))
    raise AssertionError(blocks)


# --- the driver -----------------------------------------------------------------

def minimize(problem, x0=None, *, rule="gsl", blocks="sorted", block_size=None, update="gradient", tol=1e-8,
             maxiter=None, callback=None, seed=None, n_threads=None, history=False, lattice_shape=None,
             active_set_newton=True, accelerate=None, omega=1.0):
    """Minimise a problem by block coordinate descent.

    Parameters
    ----------
    problem : Quadratic, LeastSquares, Logistic or Softmax
        :class:`Logistic` and :class:`Softmax` take fixed feature blocks
        (``order``, ``sorted``, ``balanced``; a block holds all ``K`` weights
        of its features) and the updates ``gradient`` (step ``1/L_b``),
        ``matrix`` (the block Hessian bound ``c X_b^T X_b / n + l2 I`` with
        ``c = 1/4`` logistic, ``1/2`` softmax) and, for Logistic, ``newton``
        (the exact block Hessian with Armijo backtracking). With ``l1 > 0``
        ``matrix`` and ``newton`` are proximal: the block subproblem
        ``min_d g^T d + 1/2 d^T H d + l1 ||x_b + d||_1`` is solved by
        coordinate passes (Newton with an Armijo search on the composite
        objective). :class:`LeastSquares` with ``l1 > 0`` and ``update``
        ``"matrix"`` / ``"newton"`` is solved the same way on ``X`` (not its
        Gram matrix), with fixed feature blocks and the lasso duality gap.
    x0 : (n,) array_like, optional
        Start (zeros by default).
    rule : {"cyclic", "random", "lipschitz", "gs", "gsl", "gsq"}
        Block selection. ``gs``: largest ``||g_b||``; ``gsl``: largest
        ``||g_b||^2 / L_b``; ``gsq``: largest ``g_b^T H_bb^{-1} g_b`` (for
        ``blocks="variable"`` the diagonal bound GSD, ``g_i^2 / sum_j |H_ij|``).
        With L1 or bounds the greedy rules score the proximal-gradient mapping.
    blocks : str
        ``"order"``, ``"sorted"`` (by Lipschitz constant), ``"balanced"``
        (similar average Lipschitz constant per block): fixed blocks of
        ``block_size``. ``"variable"``: the ``block_size`` best coordinates
        under ``rule`` each iteration. ``"coloring"``: independent sets of
        a greedy colouring; ``"red-black"`` and ``"lattice"`` (the two-forest
        comb partition) for a row-major ``lattice_shape`` grid; ``"forest"``:
        a greedy partition into forests (few, large, interleaved forests);
        ``"ordered-forest"``: consecutive variables in index order, a new
        block starting wherever the next variable would close a cycle (on a
        row-major lattice: the rows, shifted by one); ``"greedy-forest"``: a
        forest grown in ``rule`` order each iteration (at most ``block_size``
        variables).
    block_size : int, optional
        Default 1 for fixed and variable blocks (coordinate descent) and
        ``n`` for greedy forests.
    update : {"gradient", "matrix", "newton", "message-passing"}
        ``gradient``: ``x_b -= g_b / L_b`` (``L_b`` a Gershgorin bound; proximal
        with L1 / bounds). ``matrix``: the exact block solve with the block
        Hessian (dense Cholesky; ``newton`` is the same on a quadratic); with
        L1 / bounds on a Quadratic the exact block subproblem, solved by
        coordinate passes inside the block.
        ``message-passing``: the exact solve of a forest block in O(|b|);
        needs forest blocks (``forest``, ``lattice``, ``coloring``,
        ``red-black``, ``greedy-forest`` or singletons) and refuses others.
    tol : float
        Stop when ``optimality <= tol``: the relative residual
        ``||A x - b|| / ||b||`` (the gradient over ``||b||``); with L1 or bounds
        the norm of the proximal-gradient mapping (scaled by the diagonal)
        over ``||b||``. Logistic / Softmax: the largest entry of the gradient
        (of the proximal-gradient mapping) in absolute value; with L1, the
        relative duality gap (see Returns).
    maxiter : int, optional
        Block updates (default 1000 sweeps' worth: ``1000 * n / block size``;
        10000 for greedy forests).
    callback : callable, optional
        ``callback(xk)`` at each optimality check (once per sweep, or per
        iteration with ``history=True`` or greedy forests); raise
        ``StopIteration`` to stop.
    seed : None, int or numpy.random.Generator
        For ``rule="random"`` and ``"lipschitz"``.
    n_threads : int, optional
        Accepted for API symmetry; the quadratic core runs serially.
    history : bool
        Record the objective at every iteration (``result.history``; costs
        O(n) per iteration, and for :class:`Logistic` / :class:`Softmax`
        a full gradient per iteration: greedy rules on sparse X then lose
        their incremental gradient).
    lattice_shape : (int, int), optional
        Grid shape for ``blocks="red-black"`` / ``"lattice"``.
    active_set_newton : bool, default True
        L1 :class:`Logistic` / :class:`LeastSquares` on X: once the signs of
        the iterate are unchanged over a sweep, try a Newton step on the
        active set (kept when the objective drops; ``result.n_newton`` counts
        them). After the active set is identified this converges
        superlinearly.
    accelerate : {None, "cg"}
        ``None``: plain block coordinate descent. ``"cg"`` (:class:`Quadratic`
        without ``l1`` / ``lower``, or :class:`LeastSquares` without ``l1``;
        a fixed partition into forest blocks; ``update="message-passing"``):
        conjugate gradients preconditioned by one symmetric BCD sweep -- the
        blocks in order, then in reverse, each solved exactly by message
        passing (block SSOR with relaxation ``omega``). BCD converges like
        block Gauss-Seidel, this like its square root. ``rule`` is not used
        (the sweep visits the blocks in order), ``nit`` counts CG
        iterations (each costs about two sweeps) and the stopping test is
        the true relative residual. Best with ``blocks="ordered-forest"``.
    omega : float
        Relaxation of the block SSOR preconditioner, in (0, 2); 1 is
        symmetric block Gauss-Seidel. Only with ``accelerate="cg"``.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``nit`` (block updates; CG iterations with
        ``accelerate="cg"``), ``optimality``, ``success``, ``status``,
        ``message`` and ``history`` when asked. With ``l1 > 0``
        (:class:`Logistic`, :class:`LeastSquares`) also ``gap``, the duality
        gap of the returned ``x`` in the objective's scaling, a certificate:
        ``fun - min f <= gap``. For :class:`Logistic` with ``l1 > 0`` and
        :class:`LeastSquares` with ``l1 > 0`` and ``update="matrix"`` or
        ``"newton"``, ``optimality`` is that gap over ``f(0)`` (``log 2``,
        ``||y||^2 / (2 n)``) and ``tol`` bounds it.

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
    rule = check_choice(rule, "rule", RULES)
    update = check_choice(update, "update", UPDATES)
    blocks = check_choice(blocks, "blocks", BLOCKS)
    tol = check_scalar(tol, "tol", lower=0.0)
    callback = check_callback(callback)
    check_n_threads(n_threads)
    if accelerate is not None:
        accelerate = check_choice(accelerate, "accelerate", ("cg",))
    omega = check_scalar(omega, "omega", lower=0.0, lower_inclusive=False)
    if not omega < 2.0:
        raise ValueError(f"omega must lie in (0, 2), got {omega}")
    if accelerate is not None and not isinstance(problem, (Quadratic, LeastSquares)):
        raise ValueError(f"accelerate={accelerate!r} needs a Quadratic or LeastSquares problem, "
                         f"got {type(problem).__name__}")
    if isinstance(problem, (Logistic, Softmax)):
        return _minimize_smooth(problem, x0, rule, blocks, block_size, update, tol, maxiter, callback, seed, history,
                                n_threads, active_set_newton)
    if isinstance(problem, LeastSquares) and problem.l1 > 0 and update in ("matrix", "newton") and accelerate is None:
        # proximal matrix updates work on X (the smooth core, squared loss), certified by the duality gap
        return _minimize_smooth(_SquaresOnX(problem), x0, rule, blocks, block_size, update, tol, maxiter, callback,
                                seed, history, n_threads, active_set_newton)
    if isinstance(problem, Quadratic):
        q = problem
    elif isinstance(problem, LeastSquares):
        q = problem._quadratic()
    else:
        raise TypeError("problem must be a bcd.Quadratic, LeastSquares, Logistic or Softmax, "
                        f"got {type(problem).__name__}")
    n = q.n
    kind = _GREEDY_FOREST if blocks == "greedy-forest" else (_VARIABLE if blocks == "variable" else _FIXED)
    if accelerate == "cg":
        return _minimize_pcg(problem, q, x0, blocks, block_size, update, tol, maxiter, callback, history,
                             lattice_shape, omega)
    block_size = check_int(block_size, "block_size", lower=1, allow_none=True)
    if block_size is None:
        block_size = n if kind == _GREEDY_FOREST else 1
    block_size = min(block_size, n)
    if (q.l1 > 0 or q.lower is not None) and update == "message-passing":
        raise ValueError("update='message-passing' does not handle l1 / lower; use update='gradient', "
                         "'matrix' or 'newton' (proximal)")
    if update == "message-passing" and kind == _VARIABLE and block_size > 1:
        raise ValueError("update='message-passing' needs forest blocks; blocks='variable' blocks need not be forests")
    if kind != _FIXED and rule not in ("gs", "gsl", "gsq"):
        raise ValueError(f"rule must be 'gs', 'gsl' or 'gsq' for blocks={blocks!r} (blocks chosen greedily), "
                         f"got {rule!r}")
    if kind == _GREEDY_FOREST and update != "message-passing":
        raise ValueError("blocks='greedy-forest' needs update='message-passing'")
    if kind == _VARIABLE and block_size == 1 and update == "message-passing":
        update = "gradient"  # a single coordinate: the exact solve is the 1/A_ii step
    if kind == _FIXED:
        ptr, idx = _partition(q, blocks, block_size, lattice_shape)
        n_blocks = ptr.shape[0] - 1
    else:
        ptr = np.zeros(1, dtype=np.int64)
        idx = np.zeros(0, dtype=np.int64)
        n_blocks = -(-n // block_size) if kind == _VARIABLE else 1
    if maxiter is None:
        maxiter = 10000 if kind == _GREEDY_FOREST else 1000 * n_blocks
    maxiter = check_int(maxiter, "maxiter", lower=0)
    check_every = 1 if (history or kind == _GREEDY_FOREST) else max(1, n_blocks)
    if x0 is None:
        x = np.zeros(n)
    else:
        x = as_float_array(x0, "x0", ndim=1, shape=(n,), dtype=np.float64, copy=True)
    if q.lower is not None:
        x = np.maximum(x, q.lower)
    useed = seed_to_uint64(seed) if rule in _RANDOM_RULES else 0
    info = _core.bcd_quadratic(*_csr_args(q.A), q.b, x, _RULE_CODE[rule], _UPDATE_CODE[update], kind, ptr, idx,
                               block_size, q.l1, q.lower, tol, maxiter, check_every, useed, bool(history), callback)
    res = _result(info, x.astype(q.dtype, copy=False), tol, "optimality")
    res.fun = problem.fun(x)
    if isinstance(problem, LeastSquares) and problem.l1 > 0:
        res.gap = _lasso_rel_gap(problem.X, problem.y, x, problem.l1) * 0.5 * (problem.y @ problem.y) / problem.n
    if history:
        offset = 0.5 * (problem.y @ problem.y) / problem.n if isinstance(problem, LeastSquares) else 0.0
        res.history = info["history"] + offset
    return res


def _minimize_pcg(problem, q, x0, blocks, block_size, update, tol, maxiter, callback, history, lattice_shape,
                  omega, rhs=None):
    """Quadratic: CG preconditioned by a symmetric forest-block sweep (block SSOR).

    ``rhs`` (k, n), when given, replaces ``q.b`` by k right-hand sides solved
    one after the other with one preconditioner set-up; a list of results."""
    if q.l1 > 0 or q.lower is not None:
        raise ValueError("accelerate='cg' does not handle l1 / lower; use accelerate=None")
    if blocks in ("greedy-forest", "variable"):
        raise ValueError(f"accelerate='cg' needs a fixed partition into forest blocks, got blocks={blocks!r}")
    if update != "message-passing":
        raise ValueError(f"accelerate='cg' needs update='message-passing' (exact forest-block solves), "
                         f"got {update!r}")
    if history:
        raise ValueError("history is not recorded with accelerate='cg'; use accelerate=None")
    n = q.n
    block_size = min(check_int(1 if block_size is None else block_size, "block_size", lower=1), max(n, 1))
    ptr, idx = _partition(q, blocks, block_size, lattice_shape)
    maxiter = check_int(max(1000, 10 * n) if maxiter is None else maxiter, "maxiter", lower=0)
    if rhs is not None:
        X = np.zeros_like(rhs)
        infos = _core.bcd_forest_pcg(*_csr_args(q.A), rhs, X, ptr, idx, float(omega), tol, maxiter, callback)
        results = [_result(info, X[c], tol, "relative residual") for c, info in enumerate(infos)]
        for c in range(len(infos), rhs.shape[0]):  # the callback stopped an earlier solve: not started
            results.append(OptimizeResult(x=X[c], nit=0, optimality=float("inf"), success=False,
                                          status="callback_stop", message=_MESSAGES["callback_stop"]))
        return results
    if x0 is None:
        x = np.zeros(n)
    else:
        x = as_float_array(x0, "x0", ndim=1, shape=(n,), dtype=np.float64, copy=True)
    info = _core.bcd_forest_pcg(*_csr_args(q.A), q.b, x, ptr, idx, float(omega), tol, maxiter, callback)
    res = _result(info, x.astype(q.dtype, copy=False), tol, "relative residual")
    res.fun = problem.fun(x)
    return res


class _SquaresOnX:
    """LeastSquares seen by the smooth core: 1/(2n)||y - Xw||^2 + l1 ||w||_1 on X itself."""

    K = 1
    l2 = 0.0

    def __init__(self, ls):
        self.Xt, _ = _check_x(ls.X)
        self.y, self.l1, self.n, self.p, self.dtype = ls.y, ls.l1, ls.n, ls.p, ls.dtype
        self.name = "LeastSquares"


_LOSS_CODE = {Logistic: 0, Softmax: 1, _SquaresOnX: 2}

# Greedy rules on sparse X keep the gradient and the block scores (an indexed heap)
# up to date after each block update; False forces the full gradient per pick
# (the path before; private, for tests and bench/compare_bcd_smooth.py).
_SMOOTH_INCREMENTAL = True


def _minimize_smooth(problem, x0, rule, blocks, block_size, update, tol, maxiter, callback, seed, history,
                     n_threads, active_set_newton=True):
    """Logistic / Softmax / LeastSquares on X: fixed feature blocks, scores kept up to date."""
    name = getattr(problem, "name", type(problem).__name__)
    if update == "message-passing":
        raise ValueError("update='message-passing' needs a Quadratic problem (forest blocks of a sparse Hessian)")
    if blocks not in ("order", "sorted", "balanced"):
        raise ValueError(f"blocks must be 'order', 'sorted' or 'balanced' for {name}, got {blocks!r}")
    if isinstance(problem, Softmax) and update == "newton":
        raise ValueError("update='newton' is available for Logistic; use update='matrix' for Softmax")
    p, K = problem.p, problem.K
    block_size = min(check_int(1 if block_size is None else block_size, "block_size", lower=1), p)
    shim = type("P", (), {"n": p, "A": sp.diags(_column_sq_norms(problem.Xt)).tocsr()})()
    ptr, idx = _partition(shim, blocks, block_size, None)
    n_blocks = ptr.shape[0] - 1
    maxiter = check_int(1000 * n_blocks if maxiter is None else maxiter, "maxiter", lower=0)
    shape = (p,) if K == 1 else (p, K)
    if x0 is None:
        W = np.zeros((p, K))
    else:
        W = as_float_array(x0, "x0", shape=shape, ndim=len(shape), dtype=np.float64, copy=True).reshape(p, K)
    useed = seed_to_uint64(seed) if rule in _RANDOM_RULES else 0
    check_every = 1 if history else n_blocks
    cb = None
    if callback is not None:
        cb = (lambda w: callback(w.ravel())) if K == 1 else callback
    args = (problem.y, W, K, _LOSS_CODE[type(problem)], _RULE_CODE[rule], _UPDATE_CODE[update], ptr, idx,
            problem.l1, problem.l2, tol, maxiter, check_every, useed, bool(history), check_n_threads(n_threads),
            bool(active_set_newton), cb)
    Xt = problem.Xt
    if sp.issparse(Xt):
        info = _core.bcd_smooth_sparse(problem.n, p, Xt.indptr, Xt.indices, Xt.data, *args,
                                       incremental=bool(_SMOOTH_INCREMENTAL))
    else:
        info = _core.bcd_smooth_dense(Xt, *args)
    x = W.ravel() if K == 1 else W
    gap_mode = problem.l1 > 0 and K == 1
    res = _result(info, x.astype(problem.dtype, copy=False), tol,
                  "relative duality gap" if gap_mode else "optimality")
    res.fun = float(info["fun"])
    if gap_mode:
        res.gap = float(info["gap"])
        res.n_newton = int(info["newton_steps"])
    if history:
        res.history = info["history"]
    return res


_MESSAGES = {
    "converged": "converged: optimality <= tol",
    "max_iter": "the iteration budget ran out before optimality <= tol",
    "breakdown": "a block system was not positive definite",
    "non_finite": "NaN or inf appeared; the last finite iterate is returned",
    "callback_stop": "stopped by the callback",
}


def _result(info, x, tol, measure):
    status = info["status"]
    res = OptimizeResult(x=x, nit=int(info["iterations"]), optimality=float(info["residual"]),
                         success=status == "converged", status=status, message=_MESSAGES.get(status, status))
    if status not in ("converged", "callback_stop"):
        _warn(f"bcd stopped ({status}) with {measure} {res.optimality:.3e} > tol {tol:.3e}")
    return res


# --- lasso ----------------------------------------------------------------------

def _lasso_rel_gap(X, y, w, alpha):
    """Relative duality gap of ``w`` for 1/(2n)||y - Xw||^2 + alpha ||w||_1 (divided by P(0))."""
    n = y.shape[0]
    r = y - X @ w
    c = np.abs(X.T @ r).max() if X.shape[1] else 0.0
    lam = n * alpha
    s = min(1.0, lam / c) if c > 0 else 1.0
    primal = 0.5 * r @ r + lam * np.abs(w).sum()
    dual = s * (y @ r) - 0.5 * s * s * (r @ r)
    p0 = 0.5 * (y @ y)
    return float((primal - dual) / (p0 if p0 > 0 else 1.0))


def lasso(X, y, alpha, *, x0=None, tol=1e-8, maxiter=100, rule="gs-r", newton=True, callback=None,
          n_threads=None, history=False):
    """L1-regularised least squares, ``min_w 1/(2 n) ||y - X w||^2 + alpha ||w||_1``.

    scikit-learn's ``Lasso(alpha, fit_intercept=False)`` objective, solved by
    greedy coordinate descent on a growing working set (the support plus the
    largest optimality violations), with the working set's Gram matrix so the
    greedy Gauss-Southwell-r rule costs what a cyclic sweep would, and Newton
    steps on the identified active set. Every outer iteration computes the
    duality gap, a certificate: ``P(w) - P(w*) <= gap``.

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
        ``<= tol``.
    maxiter : int
        Outer iterations (working-set rounds).
    rule : {"gs-r", "cyclic"}
        Coordinate rule inside the working set.
    newton : bool
        Try Newton steps on the active set once the signs settle.
    callback : callable, optional
        ``callback(wk)`` after each outer iteration; ``StopIteration`` stops.
    n_threads : int, optional
        Threads for the full gradient and the Gram matrix.
    history : bool
        Record the relative gap at each outer iteration.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun`` (the objective), ``gap`` (absolute duality gap in the
        same scaling), ``optimality`` (the relative gap), ``nit``, ``success``,
        ``status``, ``message``, ``n_newton``, ``history`` when asked.

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
    if sp.issparse(X):
        Xc = X
        if X.ndim != 2:
            raise ValueError(f"X must be 2-dimensional, got shape {X.shape}")
        n, p = X.shape
        # CSR of X^T is CSC of X: free for CSC input (the layout coordinate descent wants)
        Xt = as_csr(X.T if X.format == "csc" else X.tocsc().T, "X", dtype=np.float64)
    else:
        Xd = as_float_array(X, "X", ndim=2)
        Xc = Xd
        n, p = Xd.shape
        Xt = np.ascontiguousarray(Xd.T, dtype=np.float64)
    yv = as_float_array(y, "y", ndim=1, shape=(n,))
    dtype = np.result_type(Xc.dtype, yv.dtype)
    yv = np.ascontiguousarray(yv, dtype=np.float64)
    alpha = check_scalar(alpha, "alpha", lower=0.0)
    tol = check_scalar(tol, "tol", lower=0.0)
    maxiter = check_int(maxiter, "maxiter", lower=0)
    rule = check_choice(rule, "rule", ("gs-r", "cyclic"))
    callback = check_callback(callback)
    nt = check_n_threads(n_threads)
    if x0 is None:
        w = np.zeros(p)
    else:
        w = as_float_array(x0, "x0", ndim=1, shape=(p,), dtype=np.float64, copy=True)
    args = (yv, w, n * alpha, tol, maxiter, rule == "gs-r", bool(newton), bool(history), nt, callback)
    if sp.issparse(Xt):
        info = _core.bcd_lasso_sparse(n, p, Xt.indptr, Xt.indices, Xt.data, *args)
    else:
        info = _core.bcd_lasso_dense(Xt, *args)
    res = _result(info, w.astype(dtype, copy=False), tol, "relative duality gap")
    res.fun = float(info["primal"]) / n
    res.gap = float(info["gap"]) / n
    res.n_newton = int(info["newton_steps"])
    if history:
        res.history = info["history"]
    return res


# --- label propagation ----------------------------------------------------------

def _graph_laplacian(W, extra):
    """``(W', D - W' + diag(extra))``: W' is the canonical float64 CSR ``W``
    without its diagonal and explicit zeros, D its weighted degrees; the
    second is canonical CSR too, built by inserting the diagonal into each
    row of ``-W'`` (O(nnz), no sparse arithmetic)."""
    n = W.shape[0]
    rows = np.repeat(np.arange(n, dtype=W.indices.dtype), np.diff(W.indptr))
    if (W.indices == rows).any() or (W.data == 0).any():
        W = W.copy()
        W.data[W.indices == rows] = 0.0
        W.eliminate_zeros()
        rows = np.repeat(np.arange(n, dtype=W.indices.dtype), np.diff(W.indptr))
    nnz = W.nnz
    idx_t = np.int64 if nnz + n > np.iinfo(np.int32).max else W.indices.dtype
    after = W.indices > rows  # entries right of the diagonal shift by one more
    pos = np.arange(nnz, dtype=np.int64) + rows + after
    below = np.bincount(rows, weights=~after, minlength=n).astype(np.int64)
    indptr = W.indptr.astype(np.int64) + np.arange(n + 1, dtype=np.int64)
    dpos = indptr[:-1] + below
    indices = np.empty(nnz + n, dtype=idx_t)
    data = np.empty(nnz + n)
    indices[pos] = W.indices
    data[pos] = -W.data
    indices[dpos] = np.arange(n)
    data[dpos] = np.bincount(rows, weights=W.data, minlength=n) + extra
    A = sp.csr_array((data, indices, indptr.astype(idx_t)), shape=(n, n))
    A.has_canonical_format = True
    return W, A


def label_propagation(W, labels, *, weight=1.0, reg=0.0, rule="gsl", blocks="ordered-forest",
                      update="message-passing", accelerate="auto", omega=1.0, tol=1e-8, maxiter=None, callback=None,
                      seed=None, n_threads=None, lattice_shape=None, block_size=None):
    """Graph semi-supervised learning by label propagation (a sparse quadratic).

    For each class ``c`` minimises
    ``1/2 sum_{i<j} W_ij (x_i - x_j)^2 + weight/2 sum_{i labelled} (x_i - y_i)^2 + reg/2 ||x||^2``
    with ``y_i = +1`` for class ``c`` and ``-1`` otherwise, i.e. solves
    ``(L + weight * P + reg * I) x = weight * P y`` with ``L`` the graph Laplacian
    and ``P`` the diagonal indicator of labelled nodes. Two classes need one
    solve, ``k > 2`` classes ``k`` (one-vs-rest).

    Parameters
    ----------
    W : (n, n) sparse or dense array
        Symmetric non-negative edge weights (the diagonal is ignored).
    labels : (n,) int array_like
        Class of each node, ``-1`` for unlabelled.
    weight : float
        Weight of the labelled-fit term (> 0).
    reg : float
        Ridge weight (>= 0). With ``reg = 0`` every connected component needs
        a labelled node (else the system is singular; an error says so).
    accelerate : {"auto", None, "cg"}
        ``"auto"`` (default): ``"cg"`` -- conjugate gradients preconditioned
        by a symmetric sweep of exact forest-block solves (see
        :func:`minimize`) -- when ``blocks`` is a fixed partition and
        ``update="message-passing"``, plain block coordinate descent
        otherwise (e.g. ``blocks="greedy-forest"``). ``None``: plain BCD.
    omega : float
        Block SSOR relaxation in (0, 2) for ``accelerate="cg"``. On lattices
        1.4 took 21 iterations where 1.0 took 30; on k-nearest-neighbour
        graphs 1.0-1.2 did best, so the default stays 1.0.
    rule, blocks, update, tol, maxiter, callback, seed, n_threads, lattice_shape, block_size
        As in :func:`minimize`. The default, ``blocks="ordered-forest"`` with
        ``accelerate="cg"``, was the fastest on lattices here (see
        ``docs/bcd.md``); the paper's greedy forests are
        ``blocks="greedy-forest"``. With ``k > 2`` classes the solves run one
        after the other (with ``accelerate="cg"`` on one preconditioner
        set-up) and ``callback`` sees the iterates of each in turn.

    Returns
    -------
    OptimizeResult
        ``x`` the scores (``(n,)`` for two classes, positive means class 1;
        ``(n, k)`` otherwise), ``labels`` the predicted class of each node,
        ``nit`` (summed over solves), ``optimality`` (the worst relative residual),
        ``success``, ``status``, ``message``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore import bcd
    >>> T = sp.diags([1.0, 1.0], [-1, 1], shape=(30, 30))
    >>> W = sp.kron(sp.identity(30), T) + sp.kron(T, sp.identity(30))
    >>> labels = -np.ones(900, dtype=int); labels[::10] = np.arange(90) % 2  # 10% labelled
    >>> res = bcd.label_propagation(W, labels)  # forest-block-preconditioned CG
    >>> bool(res.success), bool(np.all(res.labels[::10] == labels[::10]))
    (True, True)
    >>> res = bcd.label_propagation(W, labels, blocks="lattice", rule="cyclic", lattice_shape=(30, 30),
    ...                             accelerate=None)  # plain BCD on the two-tree partition
    >>> bool(res.success)
    True
    """
    Wc = as_csr(W, "W", square=True, dtype=np.float64)
    _check_symmetric(Wc, "W")
    if Wc.nnz and Wc.data.min() < 0:
        raise ValueError("W must have non-negative weights")
    n = Wc.shape[0]
    lab = np.asarray(labels)
    if lab.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {lab.shape}")
    if lab.dtype.kind not in "iub":
        raise TypeError(f"labels must be integers (-1 for unlabelled), got dtype {lab.dtype}")
    lab = lab.astype(np.int64)
    if lab.min() < -1:
        raise ValueError("labels must be >= -1 (-1 marks unlabelled nodes)")
    labelled = lab >= 0
    if not labelled.any():
        raise ValueError("labels must contain at least one labelled node")
    weight = check_scalar(weight, "weight", lower=0.0, lower_inclusive=False)
    reg = check_scalar(reg, "reg", lower=0.0)
    if isinstance(accelerate, str) and accelerate == "auto":
        fixed = isinstance(blocks, str) and blocks not in ("greedy-forest", "variable")
        accelerate = "cg" if fixed and update == "message-passing" else None
    elif accelerate is not None:
        accelerate = check_choice(accelerate, "accelerate", ("auto", None, "cg"))
    Wc, A = _graph_laplacian(Wc, weight * labelled + reg)
    if reg == 0.0:
        from scipy.sparse.csgraph import connected_components

        ncomp, comp = connected_components(Wc, directed=False)
        has = np.zeros(ncomp, dtype=bool)
        has[comp[labelled]] = True
        if not has.all():
            raise ValueError("labels: a connected component of W has no labelled node; set reg > 0")
    classes = int(lab.max()) + 1
    targets = [1] if classes <= 2 else list(range(classes))
    Y = np.stack([weight * np.where(labelled, np.where(lab == c, 1.0, -1.0), 0.0) for c in targets])
    q = Quadratic._trusted(A, Y[0])  # A = D - W + diag(...) is symmetric since W is
    if accelerate == "cg":  # one preconditioner set-up for all classes
        results = _minimize_pcg(q, q, None, blocks, block_size, update, tol, maxiter, callback, False,
                                lattice_shape, omega, rhs=Y)
    else:
        results = []
        for y in Y:
            q.b = y
            results.append(minimize(q, rule=rule, blocks=blocks, update=update, tol=tol, maxiter=maxiter,
                                    callback=callback, seed=seed, n_threads=n_threads, lattice_shape=lattice_shape,
                                    block_size=block_size, accelerate=accelerate, omega=omega))
    xs = [res.x for res in results]
    nit = sum(res.nit for res in results)
    opt = max(res.optimality for res in results)
    status = next((res.status for res in results if res.status != "converged"), "converged")
    if classes <= 2:
        x = xs[0]
        pred = (x > 0).astype(np.int64)
    else:
        x = np.stack(xs, axis=1)
        pred = np.argmax(x, axis=1).astype(np.int64)
    return OptimizeResult(x=x, labels=pred, nit=nit, optimality=opt, success=status == "converged", status=status,
                          message=_MESSAGES.get(status, status))
