"""Low-rank matrix completion by (robust, sketch-preconditioned) alternating minimization.

:func:`altmin` recovers a rank-``k`` matrix ``M ~ U V^T`` from a subset of
its entries. It follows Gu, Song, Yin & Zhang, "Low Rank Matrix Completion via
Robust Alternating Minimization in Nearly Linear Time" (ICLR 2024):
initialise ``U`` from the top-``k`` singular vectors of the rescaled observed
matrix (randomised sparse SVD, rows of large norm clipped, QR), then alternate
exact or approximate least-squares solves for ``V`` and ``U``, one small
``k``-unknown problem per column and per row, in parallel.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from scipy.optimize import OptimizeResult

from . import _core
from ._validation import (
    as_float_array,
    check_callback,
    check_choice,
    check_int,
    check_n_threads,
    check_scalar,
    seed_to_uint64,
)
from ._warnings import ConvergenceWarning

__all__ = ["altmin", "AltMinResult"]

_SOLVERS = {"cholesky": 0, "cg": 1, "sketch": 2, "auto": 3}
_INIT = {"svd": 0, "random": 1}
_INNER_MAXITER = {"cholesky": 0, "cg": 3, "sketch": 20, "auto": 3}

_MESSAGES = {
    "converged": "converged",
    "max_iter": "maximum number of sweeps reached before the stopping test was met",
    "non_finite": "NaN or inf appeared; the last finite factors are returned",
    "callback_stop": "the callback asked to stop",
    "breakdown": "breakdown",
}


class AltMinResult(OptimizeResult):
    """Result of :func:`altmin` (a ``scipy.optimize.OptimizeResult``).

    Attributes
    ----------
    U : ndarray, shape (m, rank)
        Row factor. Rows of ``M`` with no observation have a zero row here.
    V : ndarray, shape (n, rank)
        Column factor (``M ~ U @ V.T``). Columns with no observation have a
        zero row here.
    nit : int
        Sweeps performed (one sweep = a ``V`` update then a ``U`` update).
    residual : float
        Final relative residual ``||P_Omega(U V^T - M)|| / ||P_Omega(M)||``.
    residual_history : ndarray
        The relative residual at the initialisation and after each sweep.
    validation_history : ndarray or None
        RMSE on the validation entries at the initialisation and after each
        sweep, when ``validation`` was given.
    status : str
        ``"converged"``, ``"max_iter"``, ``"non_finite"`` or ``"callback_stop"``.
    success : bool
        ``status == "converged"``.
    message : str
        A sentence describing ``status``.
    cold_rows, cold_cols : ndarray of int
        Rows / columns without any observation (their factor is zero).
    """

    def predict(self, rows, cols):
        """Predicted entries ``(U V^T)[rows[t], cols[t]]``.

        Warns (``UserWarning``) when an index refers to a row or column with no
        observation (cold start): its factor is zero, so the prediction is 0.
        """
        m, n = self.U.shape[0], self.V.shape[0]
        r = _index_array(rows, "rows", m)
        c = _index_array(cols, "cols", n)
        if r.shape != c.shape:
            raise ValueError(f"rows and cols must have the same shape, got {r.shape} and {c.shape}")
        cold = np.isin(r, self.cold_rows).sum() + np.isin(c, self.cold_cols).sum()
        if cold:
            warnings.warn(
                f"{cold} requested entries lie in rows or columns without observations "
                "(cold start): their factors are zero and the prediction is 0",
                UserWarning,
                stacklevel=2,
            )
        return np.einsum("ij,ij->i", self.U[r.ravel()], self.V[c.ravel()]).reshape(r.shape)


def _index_array(idx, name, bound):
    arr = np.asarray(idx)
    if arr.dtype.kind not in "iu":
        if arr.size == 0:
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= bound):
        raise ValueError(f"{name} has indices outside [0, {bound})")
    return arr.astype(np.int64, copy=False)


def _coo_parts(X, name):
    """``(rows, cols, values, shape)`` from a sparse matrix or a tuple, or None for canonical CSR."""
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"{name} must be 2-dimensional, got shape {X.shape}")
        if X.format == "csr":
            return X
        C = X.tocoo()
        return C.row, C.col, C.data, C.shape
    if isinstance(X, tuple) and len(X) == 4:
        rows, cols, values, shape = X
        try:
            shape = tuple(int(s) for s in shape)
        except TypeError:
            raise TypeError(f"{name}: shape must be a pair of ints") from None
        if len(shape) != 2:
            raise ValueError(f"{name}: shape must be a pair of ints, got {shape}")
        return rows, cols, values, shape
    raise TypeError(
        f"{name} must be a scipy sparse matrix/array or a (rows, cols, values, shape) tuple, got {type(X).__name__}"
    )


def _check_indices(arr, name, bound, n_values):
    arr = np.asarray(arr)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}")
    if arr.shape[0] != n_values:
        raise ValueError(f"{name} must have one entry per value ({n_values}), got {arr.shape[0]}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must be an integer array, got dtype {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= bound):
        raise ValueError(f"{name} has indices outside [0, {bound})")
    return arr


def _observations(X, name="X"):
    """Validated observations as (CSR by rows, CSR of the transpose), same dtypes.

    A canonical CSR input passes through without a copy; duplicates raise.
    """
    parts = _coo_parts(X, name)
    if sp.issparse(parts):
        M = parts
        m, n = M.shape
        if m == 0 or n == 0:
            raise ValueError(f"{name} must not be empty, got shape {M.shape}")
        values = as_float_array(M.data, f"{name} values", ndim=1, allow_empty=True)
        idx_t = M.indices.dtype
        if idx_t not in (np.int32, np.int64) or M.indptr.dtype != idx_t:
            idx_t = np.dtype(np.int64)
        indptr = np.ascontiguousarray(M.indptr, dtype=idx_t)
        indices = np.ascontiguousarray(M.indices, dtype=idx_t)
        nnz = int(indptr[-1]) if indptr.size else 0
        if indptr.shape != (m + 1,) or indptr[0] != 0 or np.any(np.diff(indptr) < 0) or nnz > indices.shape[0]:
            raise ValueError(f"{name} has an invalid CSR structure (indptr)")
        indices, values = indices[:nnz], values[:nnz]
        if nnz and (indices.min() < 0 or indices.max() >= n):
            raise ValueError(f"{name} has column indices outside [0, {n})")
        row_of = np.repeat(np.arange(m, dtype=idx_t), np.diff(indptr))
        sorted_rows = nnz == 0 or bool(np.all((np.diff(indices) > 0) | (np.diff(row_of) > 0)))
        if not sorted_rows:  # unsorted or duplicate: go through the general path
            return _from_coo(row_of, indices, values, (m, n), name, idx_t)
    else:
        rows, cols, values, shape = parts
        m, n = shape
        if m <= 0 or n <= 0:
            raise ValueError(f"{name} must not be empty, got shape {shape}")
        values = as_float_array(values, f"{name} values", ndim=1, allow_empty=True)
        rows = _check_indices(rows, f"{name} rows", m, values.shape[0])
        cols = _check_indices(cols, f"{name} cols", n, values.shape[0])
        idx_t = rows.dtype if rows.dtype == cols.dtype and rows.dtype in (np.int32, np.int64) else np.dtype(np.int64)
        if max(m, n, values.shape[0]) > np.iinfo(np.int32).max:
            idx_t = np.dtype(np.int64)
        return _from_coo(rows, cols, values, (m, n), name, idx_t)
    if nnz == 0:
        raise ValueError(f"{name} has no observed entries")
    return _finish(indptr, indices, values, (m, n), idx_t)


def _from_coo(rows, cols, values, shape, name, idx_t):
    m, n = shape
    if values.shape[0] == 0:
        raise ValueError(f"{name} has no observed entries")
    key = rows.astype(np.int64) * n + cols.astype(np.int64)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    dup = np.flatnonzero(skey[1:] == skey[:-1])
    if dup.size:
        first = order[dup[0]]
        raise ValueError(
            f"{name} has duplicate observations, first at (row, col) = ({int(rows[first])}, {int(cols[first])})"
        )
    r = rows[order].astype(idx_t)
    indices = np.ascontiguousarray(cols[order], dtype=idx_t)
    vals = np.ascontiguousarray(values[order])
    indptr = np.zeros(m + 1, dtype=idx_t)
    np.cumsum(np.bincount(r, minlength=m), out=indptr[1:])
    return _finish(indptr, indices, vals, shape, idx_t)


def _finish(indptr, indices, values, shape, idx_t):
    m, n = shape
    if not np.isfinite(values).all():
        raise ValueError("X must contain only finite values (found NaN or inf)")
    # the transpose by scipy's O(nnz) counting sort (rows come out sorted
    # inside each column); a stable argsort of the columns cost 4x more and ran
    # on one core before every solve
    T = sp.csr_array((values, indices, indptr), shape=(m, n)).tocsc()
    t_indptr = np.ascontiguousarray(T.indptr, dtype=idx_t)
    t_indices = np.ascontiguousarray(T.indices, dtype=idx_t)
    t_values = np.ascontiguousarray(T.data, dtype=values.dtype)
    return (indptr, indices, values), (t_indptr, t_indices, t_values)


def _validation_set(validation, shape, dtype, idx_t):
    if validation is None:
        return None
    m, n = shape
    if sp.issparse(validation):
        if validation.shape != shape:
            raise ValueError(f"validation must have the shape of X {shape}, got {validation.shape}")
        C = validation.tocoo()
        rows, cols, values = C.row, C.col, C.data
    elif isinstance(validation, tuple) and len(validation) in (3, 4):
        rows, cols, values = validation[:3]
        if len(validation) == 4 and tuple(validation[3]) != shape:
            raise ValueError(f"validation must have the shape of X {shape}, got {tuple(validation[3])}")
    else:
        raise TypeError("validation must be None, a sparse matrix or a (rows, cols, values) tuple")
    values = as_float_array(values, "validation values", ndim=1, dtype=dtype)
    rows = _check_indices(rows, "validation rows", m, values.shape[0])
    cols = _check_indices(cols, "validation cols", n, values.shape[0])
    return (np.ascontiguousarray(rows, dtype=idx_t), np.ascontiguousarray(cols, dtype=idx_t), values)


def altmin(X, rank, *, reg=0.0, solver="auto", maxiter=50, tol=1e-8, init="svd", seed=None, callback=None,
           n_threads=None, validation=None, inner_maxiter=None, inner_tol=1e-3, sketch_ratio=4.0):
    """Complete a low-rank matrix from observed entries by alternating minimization.

    Minimises ``||P_Omega(U V^T - M)||^2 + reg (||U||^2 + ||V||^2)`` over
    ``U`` (m x rank) and ``V`` (n x rank) by alternating exact or approximate
    least-squares updates, one small problem per column (for ``V``) and per
    row (for ``U``), in parallel. ``U`` starts from the top singular vectors of
    the rescaled observed matrix (randomised sparse SVD, rows of large norm
    clipped, QR), as in Gu, Song, Yin & Zhang (ICLR 2024).

    Parameters
    ----------
    X : scipy sparse matrix/array or tuple ``(rows, cols, values, shape)``
        The observed entries. Every stored entry is an observation,
        explicit zeros included. Duplicate ``(row, col)`` pairs raise.
        float32 values give float32 factors; other real types become float64.
        A canonical CSR input (sorted, no duplicates; int32 or int64 indices)
        is used without copying.
    rank : int
        Target rank, ``1 <= rank < min(m, n)``.
    reg : float, optional
        Ridge weight on both factors (``>= 0``).
    solver : {"auto", "cholesky", "cg", "sketch"}, optional
        Per-row solver. ``"cholesky"``: exact (k x k Gram, or the dual c x c
        system when a row has fewer observations c than ``rank``; with
        ``reg=0`` such a row gets the minimum-norm least-squares solution).
        ``"cg"``: ``inner_maxiter`` warm-started Jacobi-preconditioned
        conjugate-gradient steps (no ``rank**2`` cost per entry; on a row with
        ``c < rank`` and ``reg=0`` it keeps the warm start's component that the
        row does not determine). ``"sketch"``: the paper's sketch
        preconditioner (Cholesky factor of the Gram of a CountSketch of the
        row's design, ``sketch_ratio * rank`` rows) then preconditioned CG
        until the row's residual shrank by ``inner_tol``; rows not longer than
        the sketch are solved exactly. ``"auto"``: per row, ``"cholesky"`` for
        ``rank <= 16`` and for rows with ``c >= 8 * rank``, else ``"cg"``
        (see ``docs/completion.md`` for the measurements behind the rule).
    maxiter : int, optional
        Maximum number of sweeps (a sweep updates ``V`` then ``U``).
        ``0`` returns the initialisation.
    tol : float, optional
        Without ``validation``: stop when the relative residual over the
        observations ``r`` satisfies ``r <= tol`` or changes by at most
        ``tol * r`` in a sweep. With ``validation``: stop when the validation
        RMSE improves by at most ``tol`` relatively; if it got worse, the
        previous sweep's factors are returned (``nit`` and the histories
        then describe them: the discarded sweep is not counted).
    init : {"svd", "random"} or ndarray of shape (m, rank), optional
        Initial ``U``: the randomised SVD start, a random orthonormal matrix,
        or an explicit array (used as given; ``V`` then starts at zero).
    seed : None, int or numpy.random.Generator, optional
        Randomness of the initialisation and of the sketches. The same seed
        gives the same factors for the same ``n_threads``.
    callback : callable, optional
        ``callback(intermediate)`` after each sweep with an
        ``OptimizeResult`` holding ``nit``, ``residual`` and the live factors
        ``U`` and ``V`` (copy them to keep them). Raise ``StopIteration`` to stop.
    n_threads : int, optional
        OpenMP threads (``None``: the runtime default; ``-1``: all CPUs).
    validation : tuple ``(rows, cols, values)`` or sparse matrix, optional
        Held-out entries for stopping (see ``tol``).
    inner_maxiter : int, optional
        CG steps per row (``"cg"`` and ``"auto"``: default 3; ``"sketch"``: at
        most, default 20). Ignored by ``"cholesky"``.
    inner_tol : float, optional
        A row's CG stops once its normal-equation residual
        ``||F^T (b - F x) - reg x||`` has shrunk to ``inner_tol`` times its
        value at the warm start (from a zero start: the relative residual).
    sketch_ratio : float, optional
        Sketch rows per unknown (``>= 1``) for ``"sketch"``.

    Returns
    -------
    AltMinResult
        ``U``, ``V``, ``predict(rows, cols)``, ``nit``, ``residual``,
        ``residual_history``, ``validation_history``, ``status``, ``success``,
        ``message``, ``cold_rows``, ``cold_cols``. Rows and columns with no
        observation get a zero factor; ``predict`` warns for them.

    Warns
    -----
    ConvergenceWarning
        When ``maxiter`` sweeps end before the stopping test is met (with the
        achieved residual change and ``tol``).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore.completion import altmin
    >>> rng = np.random.default_rng(0)
    >>> M = rng.standard_normal((300, 3)) @ rng.standard_normal((3, 200))
    >>> r, c = np.nonzero(rng.random(M.shape) < 0.2)
    >>> res = altmin((r, c, M[r, c], M.shape), rank=3, seed=0)
    >>> res.status
    'converged'
    >>> err = np.linalg.norm(res.U @ res.V.T - M) / np.linalg.norm(M)
    >>> bool(err < 1e-6)
    True
    """
    (indptr, indices, values), (t_indptr, t_indices, t_values) = _observations(X)
    m, n = indptr.shape[0] - 1, t_indptr.shape[0] - 1
    dtype = values.dtype
    idx_t = indices.dtype
    rank = check_int(rank, "rank", lower=1)
    if rank >= min(m, n):
        raise ValueError(f"rank must be < min(m, n) = {min(m, n)}, got {rank}")
    reg = check_scalar(reg, "reg", lower=0.0)
    solver = check_choice(solver, "solver", tuple(_SOLVERS))
    maxiter = check_int(maxiter, "maxiter", lower=0)
    tol = check_scalar(tol, "tol", lower=0.0)
    callback = check_callback(callback)
    threads = check_n_threads(n_threads)
    inner_maxiter = _INNER_MAXITER[solver] if inner_maxiter is None else check_int(inner_maxiter, "inner_maxiter",
                                                                                    lower=0)
    inner_tol = check_scalar(inner_tol, "inner_tol", lower=0.0)
    sketch_ratio = check_scalar(sketch_ratio, "sketch_ratio", lower=1.0)
    val = _validation_set(validation, (m, n), dtype, idx_t)
    seed64 = seed_to_uint64(seed)

    rows_args = (indptr, indices, values)
    cols_args = (t_indptr, t_indices, t_values)
    if isinstance(init, str):
        method = check_choice(init, "init", tuple(_INIT))
        U = np.empty((m, rank), dtype=dtype)
        V = np.empty((n, rank), dtype=dtype)
        _core.completion_init(m, n, *rows_args, *cols_args, U, V, _INIT[method], seed64, threads, 10, 2)
    else:
        U = as_float_array(init, "init", ndim=2, shape=(m, rank), dtype=dtype, copy=True)
        V = np.zeros((n, rank), dtype=dtype)

    def on_sweep(nit, residual):
        callback(OptimizeResult(nit=int(nit), residual=float(residual), U=U, V=V))

    empty_i = np.empty(0, dtype=idx_t)
    vr, vc, vv = val if val is not None else (empty_i, empty_i, np.empty(0, dtype=dtype))
    info = _core.completion_altmin(
        m, n, *rows_args, *cols_args, U, V, _SOLVERS[solver], reg, inner_maxiter, inner_tol, sketch_ratio,
        seed64, maxiter, tol, threads, vr, vc, vv, val is not None, on_sweep if callback is not None else None,
    )
    status = info["status"]
    history = np.asarray(info["history"])
    res = AltMinResult(
        U=U,
        V=V,
        nit=int(info["iterations"]),
        residual=float(info["residual"]),
        residual_history=history,
        validation_history=np.asarray(info["validation_history"]) if val is not None else None,
        status=status,
        success=status == "converged",
        message=_MESSAGES.get(status, status),
        cold_rows=np.flatnonzero(np.diff(indptr) == 0),
        cold_cols=np.flatnonzero(np.diff(t_indptr) == 0),
    )
    if status == "max_iter" and maxiter > 0:
        change = abs(history[-2] - history[-1]) / history[-2] if len(history) > 1 and history[-2] > 0 else np.nan
        warnings.warn(
            f"altmin did not converge in {maxiter} sweeps: relative residual {res.residual:.3e}, "
            f"last relative change {change:.3e}, tol {tol:.1e}",
            ConvergenceWarning,
            stacklevel=2,
        )
    elif status == "non_finite":
        warnings.warn(f"altmin stopped: {res.message}", ConvergenceWarning, stacklevel=2)
    return res


def _half_step(X, F, *, reg=0.0, solver="cholesky", inner_maxiter=None, inner_tol=1e-3, sketch_ratio=4.0,
               x0=None, seed=0, n_threads=None):
    """One half-step (private, for tests): for each row j of ``X`` (lines x other),
    ``argmin_x ||F[Omega_j] x - X[j, Omega_j]||^2 + reg ||x||^2`` with warm start ``x0``."""
    (indptr, indices, values), _ = _observations(X)
    lines, other = indptr.shape[0] - 1, int(X.shape[1])
    F = as_float_array(F, "F", ndim=2, shape=(other, None), dtype=values.dtype)
    k = F.shape[1]
    Xout = (np.zeros((lines, k), dtype=values.dtype) if x0 is None
            else as_float_array(x0, "x0", ndim=2, shape=(lines, k), dtype=values.dtype, copy=True))
    inner = _INNER_MAXITER[solver] if inner_maxiter is None else inner_maxiter
    _core.completion_half_step(lines, other, indptr, indices, values, F, Xout, _SOLVERS[solver], float(reg),
                               int(inner), float(inner_tol), float(sketch_ratio), int(seed),
                               check_n_threads(n_threads))
    return Xout
