"""The problems ``itercore.bcd`` solves: validated data and the objective."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _core
from .._validation import as_array, as_csr, as_float_array, check_scalar, check_sparse
from .._typing import ArrayLike, MatrixLike

__all__ = ["Quadratic", "LeastSquares", "Logistic", "Softmax"]


def _check_symmetric(M, name):
    """Raise unless the canonical CSR matrix ``M`` equals its transpose to a relative 1e-12.

    One C++ pass (a binary search per stored entry); no transpose is formed."""
    if not M.has_canonical_format:
        M = M.copy()
        M.sum_duplicates()
    worst, scale = _core._csr_max_asymmetry(int(M.shape[0]), M.indptr, M.indices, M.data, 0)
    if worst > 1e-12 * max(scale, 1e-300):
        raise ValueError(f"{name} must be symmetric (max |{name} - {name}.T| = {worst:.3g})")


def _check_lower(lower, n):
    if lower is None:
        return None
    if np.isscalar(lower):
        lower = np.full(n, float(check_scalar(lower, "lower")) if np.isfinite(lower) else float(lower))
    lo = as_float_array(lower, "lower", ndim=1, shape=(n,), dtype=np.float64, finite=False, copy=True)
    if np.isnan(lo).any() or np.isposinf(lo).any():
        raise ValueError("lower must not contain NaN or +inf")
    return lo


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
    def _trusted(cls, A, b, l1=0.0, dtype=np.float64):
        """No checks: ``A`` canonical float64 CSR known to be symmetric, ``b`` float64 (n,)."""
        self = cls.__new__(cls)
        self.A, self.b, self.dtype, self.l1, self.lower, self.n = A, b, np.dtype(dtype), l1, None, A.shape[0]
        return self

    def __init__(self, A: MatrixLike, b: ArrayLike, *, l1: float = 0.0, lower: ArrayLike | None = None) -> None:
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

    def _checked(self):
        """The problem with its public attributes checked again (they may have
        been replaced or altered since construction): at solve time, O(nnz).
        Symmetry is not re-checked."""
        n = self.n = _check_count(self.n, "problem.n")
        M = as_csr(self.A, "problem.A", square=True, dtype=np.float64)
        if M.shape != (n, n):
            raise ValueError(f"problem.A must have shape ({n}, {n}) (that of problem.b), got {M.shape}")
        self.A = M
        self.b = as_float_array(self.b, "problem.b", ndim=1, shape=(n,), dtype=np.float64)
        self.l1 = check_scalar(self.l1, "problem.l1", lower=0.0)
        if self.lower is not None:
            self.lower = _check_lower(self.lower, n)
        return self

    def fun(self, x: ArrayLike) -> float:
        """The objective at ``x`` (``inf`` when a bound is violated)."""
        x = np.asarray(x, dtype=np.float64)
        f = 0.5 * x @ (self.A @ x) - self.b @ x + self.l1 * np.abs(x).sum()
        if self.lower is not None and np.any(x < self.lower):
            return np.inf
        return float(f)


def _check_count(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} was changed after construction (got {value!r}); build a new problem")
    return int(value)


def _check_xy(X, y, xname="X", yname="y"):
    if sp.issparse(X):
        Xc = as_csr(X, xname)
    else:
        Xc = as_float_array(X, xname, ndim=2)
    n = Xc.shape[0]
    yv = as_float_array(y, yname, ndim=1, shape=(n,))
    dtype = np.result_type(Xc.dtype, yv.dtype)
    if Xc.dtype != np.float64:
        Xc = Xc.astype(np.float64)
    return Xc, np.ascontiguousarray(yv, dtype=np.float64), dtype


class LeastSquares:
    """``f(w) = 1/(2 n) ||y - X w||^2 + l1 ||w||_1`` (scikit-learn's Lasso scaling).

    :func:`minimize_quadratic` works on the Gram matrix ``X^T X / n`` (p x p,
    formed once), so it suits a moderate number of features;
    :func:`minimize_smooth` and :func:`lasso` work on ``X`` directly and suit
    large sparse problems.

    Parameters
    ----------
    X : (n, p) dense or sparse array
    y : (n,) array_like
    l1 : float, default 0
    """

    def __init__(self, X: MatrixLike, y: ArrayLike, *, l1: float = 0.0) -> None:
        self.X, self.y, self.dtype = _check_xy(X, y)
        self.l1 = check_scalar(l1, "l1", lower=0.0)
        self.n, self.p = self.X.shape

    def _checked(self):
        """The problem with its public attributes checked again at solve time (O(nnz))."""
        self.X, self.y, _ = _check_xy(self.X, self.y, "problem.X", "problem.y")
        self.l1 = check_scalar(self.l1, "problem.l1", lower=0.0)
        self.n, self.p = self.X.shape
        return self

    def fun(self, w: ArrayLike) -> float:
        r = self.y - self.X @ np.asarray(w, dtype=np.float64)
        return float(0.5 * (r @ r) / self.n + self.l1 * np.abs(w).sum())

    def _offset(self):
        """``f(w) - q(w)`` for the Gram quadratic ``q`` of :meth:`_quadratic`: ``||y||^2 / (2 n)``."""
        return 0.5 * (self.y @ self.y) / self.n

    def _quadratic(self):
        """The quadratic on the Gram matrix: ``1/2 w^T (X^T X / n) w - (X^T y / n)^T w + l1 ||w||_1``."""
        n, X = self.n, self.X
        G = (X.T @ X) / n
        G = sp.csr_array(G.toarray() if sp.issparse(G) else G)
        A = as_csr(G, "X^T X", square=True, dtype=np.float64)
        b = np.ascontiguousarray(np.asarray(X.T @ self.y, dtype=np.float64) / n)
        return Quadratic._trusted(A, b, self.l1, self.dtype)


def _check_features(problem, K):
    """Re-checks ``problem.Xt`` and ``problem.y`` of a Logistic / Softmax at
    solve time (the attributes are public and may have been replaced or
    altered): ``y`` must hold -1/+1 (``K = 1``) or the class ids 0..K-1."""
    Xt = problem.Xt
    if sp.issparse(Xt):
        Xt = as_csr(Xt, "problem.Xt", dtype=np.float64, allow_empty=True)
    else:
        Xt = as_float_array(Xt, "problem.Xt", ndim=2, dtype=np.float64, allow_empty=True)
    p, n = Xt.shape
    y = as_float_array(problem.y, "problem.y", ndim=1, shape=(n,), dtype=np.float64, allow_empty=True)
    ok = np.isin(y, (-1.0, 1.0)).all() if K == 1 else ((y >= 0) & (y < K) & (y == np.floor(y))).all()
    if not ok:
        want = "-1 and +1" if K == 1 else f"the class ids 0..{K - 1} (problem.K = {K})"
        raise ValueError(f"problem.y must hold {want}; it was changed after construction")
    problem.Xt, problem.y, problem.n, problem.p = Xt, y, n, p
    problem.l1 = check_scalar(problem.l1, "problem.l1", lower=0.0)
    problem.l2 = check_scalar(problem.l2, "problem.l2", lower=0.0)
    return problem


def _check_x(X):
    """X^T as a C-order (p, n) float64 array, or as CSR (i.e. X as CSC) when sparse."""
    if sp.issparse(X):
        X = check_sparse(X, "X")  # before scipy's .tocsc() reads the structure
        if 0 in X.shape:  # checked here: the message below would quote the shape of X^T
            raise ValueError(f"X must not be empty, got shape {X.shape}")
        # CSR of X^T is CSC of X: free for CSC input (the layout column updates want)
        Xt = as_csr(X.T if X.format == "csc" else X.tocsc().T, "X", dtype=np.float64)
        return Xt, (X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64))
    Xd = as_float_array(X, "X", ndim=2)
    return np.ascontiguousarray(Xd.T, dtype=np.float64), Xd.dtype


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

    def __init__(self, X: MatrixLike, y: ArrayLike, *, l1: float = 0.0, l2: float = 0.0) -> None:
        self.Xt, self.dtype = _check_x(X)
        n = self.Xt.shape[1]
        yv = as_array(y, "y")
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

    def _checked(self):
        """The problem with its public attributes checked again at solve time (O(nnz))."""
        return _check_features(self, 1)

    def fun(self, w: ArrayLike) -> float:
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
        Integer class ids (any values: the ``K`` distinct ids, sorted, are
        ``classes``, and column ``k`` of ``W`` belongs to ``classes[k]``) or
        a one-hot indicator matrix (``classes = 0..K-1``).
    l2 : float

    Attributes
    ----------
    classes : ndarray
        The class id of each column of ``W``.
    K : int
        The number of classes.
    """

    def __init__(self, X: MatrixLike, Y: ArrayLike, *, l2: float = 0.0) -> None:
        self.Xt, self.dtype = _check_x(X)
        n = self.Xt.shape[1]
        Yv = as_array(Y, "Y")
        if Yv.ndim == 2:
            if Yv.shape[0] != n:
                raise ValueError(f"Y must have {n} rows, got shape {Yv.shape}")
            Yf = as_float_array(Yv, "Y", ndim=2)
            if not (np.isin(Yf, (0.0, 1.0)).all() and np.all(Yf.sum(axis=1) == 1)):
                raise ValueError("Y must be one-hot (one 1 per row) when 2-D")
            labels, K = np.argmax(Yf, axis=1), Yf.shape[1]
            classes = np.arange(K)
        elif Yv.ndim == 1:
            if Yv.shape[0] != n:
                raise ValueError(f"Y must have shape ({n},), got {Yv.shape}")
            if Yv.dtype.kind not in "iu":
                raise TypeError(f"Y must hold integer class ids when 1-D, got dtype {Yv.dtype}")
            # compacted: the weights are sized by the number of classes, not the largest id
            classes, labels = np.unique(Yv, return_inverse=True)
            K = classes.size
        else:
            raise ValueError(f"Y must be 1- or 2-dimensional, got shape {Yv.shape}")
        if K < 2:
            raise ValueError("Y must have at least two classes")
        self.y = np.ascontiguousarray(labels, dtype=np.float64)
        self.K = self._K = K
        self.classes = classes
        self.l1 = 0.0
        self.l2 = check_scalar(l2, "l2", lower=0.0)
        self.n, self.p = n, self.Xt.shape[0]

    def _checked(self):
        """The problem with its public attributes checked again at solve time (O(nnz))."""
        if self.K != self._K or isinstance(self.K, bool):
            raise ValueError(f"problem.K was changed after construction ({self._K} -> {self.K!r}); "
                             "build a new problem")
        return _check_features(self, self._K)

    def fun(self, W: MatrixLike) -> float:
        W = np.asarray(W, dtype=np.float64)
        Z = self.Xt.T @ W
        lse = np.logaddexp.reduce(Z, axis=1)
        return float(np.mean(lse - Z[np.arange(self.n), self.y.astype(int)]) + 0.5 * self.l2 * np.sum(W * W))
