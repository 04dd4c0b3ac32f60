"""Low-rank matrix completion by alternating minimization.

:func:`altmin` recovers a rank-``k`` matrix ``M ~ U V^T`` from a subset of
its entries. The default methods (``"auto"``, ``"cholesky"``, ``"cg"``) are
exact alternating least squares (or a few CG steps on its normal equations)
on all the observations, started like Gu, Song, Yin & Zhang, "Low Rank Matrix
Completion via Robust Alternating Minimization in Nearly Linear Time" (ICLR
2024). ``method="paper"`` runs that paper's algorithm: disjoint observation
subsets per half-step, a clipped SVD start, sketch-preconditioned
regressions (OSNAP subspace embedding) and QR after each half-step. In the
paper "robust" means that the analysis tolerates approximately solved
regressions, not noise or outliers. ``docs/completion.md`` has the
"Fidelity to the paper" table.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg
from scipy.optimize import OptimizeResult

from . import _core, _pipeline
from ._validation import (as_array, as_float_array, check_bool, check_callback, check_int, check_n_threads,
                          check_sparse, seed_to_uint64)
from ._typing import ArrayLike, CallbackLike, FloatArray, MatrixLike, OptionsLike, SeedLike

__all__ = ["altmin", "AltMinResult"]

#: The C++ defaults (``AltMinOptions`` in ``itercore/completion/*.hpp``), read from the bound struct.
_D = _pipeline.defaults(_core.completion.AltMinOptions)


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
    history : ndarray
        With ``history=True`` only: the relative residual at the start and
        after each sweep.
    validation_history : ndarray
        With ``history=True`` and ``validation`` only: the RMSE on the
        validation entries at the start and after each sweep.
    status : int
        The shared status table (``itercore._pipeline.STATUS``): 0 converged,
        1 ``maxiter`` sweeps done first, 3 NaN or inf appeared (the last finite
        factors are returned), 5 the callback raised ``StopIteration``.
    success : bool
        ``status == 0``.
    message : str
        A sentence describing ``status``.
    cold_rows, cold_cols : ndarray of int
        Rows / columns without any observation (their factor is zero).
    """

    def predict(self, rows: ArrayLike, cols: ArrayLike) -> FloatArray:
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
    arr = as_array(idx, name)
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
        X = check_sparse(X, name)  # before scipy's .tocoo() reads the structure
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
    arr = as_array(arr, name)
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
        validation = check_sparse(validation, "validation")
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


def _options(keywords, options):
    """The checked C++ ``AltMinOptions`` from public keywords and the expert ``options`` dict."""
    return _pipeline.make_options(_core.completion.AltMinOptions, keywords, options)


def _start(x0, init_opts, rows, cols, m, n, rank, dtype):
    """The starting factors ``(U, V)``: ``x0`` as given with ``V = 0``, else the core's start."""
    if x0 is not None:
        U = as_float_array(x0, "x0", ndim=2, shape=(m, rank), dtype=dtype, copy=True)
        return U, np.zeros((n, rank), dtype=dtype)
    U = np.empty((m, rank), dtype=dtype)
    V = np.empty((n, rank), dtype=dtype)
    _core.completion.initialise(*rows, *cols, U, V, init_opts)
    return U, V


def _last_change(hist):
    """The relative change of the last step of a history (NaN with fewer than two entries)."""
    if len(hist) < 2 or not hist[-2] > 0:
        return float("nan")
    return abs(float(hist[-2]) - float(hist[-1])) / float(hist[-2])


def altmin(X: MatrixLike, rank: int, *, method: str = _D.method.name, reg: float = _D.reg, init: str = _D.init.name,
           x0: tuple[ArrayLike, ArrayLike] | None = None, maxiter: int = _D.maxiter, tol: float = _D.tol,
           validation: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None, callback: CallbackLike = None,
           n_threads: int | None = None, seed: SeedLike = None, history: bool = False, options: OptionsLike = None
           ) -> AltMinResult:
    """Complete a low-rank matrix from observed entries by alternating minimization.

    Minimises ``||P_Omega(U V^T - M)||^2 + reg (||U||^2 + ||V||^2)`` over
    ``U`` (m x rank) and ``V`` (n x rank) by alternating least-squares
    updates, one small problem per column (for ``V``) and per row (for
    ``U``), in parallel. ``U`` starts from the top singular vectors of the
    rescaled observed matrix (randomised sparse SVD, rows of large norm
    scaled down, QR). The default solvers are exact alternating least
    squares, not the method of Gu, Song, Yin & Zhang (ICLR 2024);
    ``method="paper"`` is that method. "Robust" in the paper's title means
    that its analysis tolerates approximately solved updates; it is not
    robustness to noise or outliers.

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
    method : {"auto", "cholesky", "cg", "sketch", "paper"}, optional
        ``"paper"``: Gu et al.'s Algorithm 1. The observations are split at
        random into ``2 * maxiter + 1`` disjoint subsets (one for the start,
        one per half-step); ``U`` starts from the top-``rank`` SVD of the
        rescaled first subset, rows with norm above ``2 mu sqrt(rank / m)``
        set to zero (``options["mu"]``, default 2), then QR; each half-step
        solves its regressions with the ``"sketch"`` solver on its own subset
        from zero to high accuracy (``inner_tol`` 1e-10 and
        ``inner_maxiter`` 60 unless given), then orthonormalises the new
        factor by QR. The returned
        ``V`` is orthonormal and ``M ~ U V^T``. It needs many observations
        (each half-step sees about ``1 / (2 maxiter + 1)`` of them); it
        stops early once the relative residual over all observations is
        ``<= tol``; ``validation`` is not supported. The other values name
        the per-row solver of the default alternating least squares. ``"cholesky"``: exact (k x k Gram, or the dual c x c
        system when a row has fewer observations c than ``rank``; with
        ``reg=0`` such a row gets the minimum-norm least-squares solution).
        ``"cg"``: a few (``options["inner_maxiter"]``, default 3)
        warm-started Jacobi-preconditioned conjugate-gradient steps (no
        ``rank**2`` cost per entry; on a row with ``c < rank`` and ``reg=0``
        it keeps the warm start's component that the row does not
        determine). ``"sketch"``: the paper's sketch preconditioner (Cholesky
        factor of the Gram of an OSNAP sketch of the row's design,
        ``ceil(sketch_ratio * rank * ln(rank + 1))`` rows, ``sketch_nnz``
        signs per column) then preconditioned CG until the row's
        residual shrank by ``inner_tol`` (at most 20 steps); rows not longer
        than the sketch are solved exactly. ``"auto"`` (default): per row,
        ``"cholesky"`` for ``rank <= 16`` and for rows with ``c >= 8 * rank``,
        else ``"cg"`` (see ``docs/completion.md`` for the measurements behind
        the rule).
    reg : float, optional
        Ridge weight on both factors (``>= 0``; default 0).
    init : {"svd", "random"}, optional
        How ``U`` starts when ``x0`` is not given: the randomised SVD start
        (default) or a random orthonormal matrix.
    x0 : ndarray of shape (m, rank), optional
        Starting ``U``, used as given (``V`` then starts at zero and ``init``
        is not used).
    maxiter : int, optional
        Maximum number of sweeps (a sweep updates ``V`` then ``U``; default
        50). ``0`` returns the start (status 1, with a warning).
    tol : float, optional
        Without ``validation``: stop when the relative residual over the
        observations ``r`` satisfies ``r <= tol`` or changes by at most
        ``tol * r`` in a sweep (default 1e-8). With ``validation``: stop when
        the validation RMSE improves by at most ``tol`` relatively; if it got
        worse, the previous sweep's factors are returned (``nit`` and the
        histories then describe them: the discarded sweep is not counted).
    validation : tuple ``(rows, cols, values)`` or sparse matrix, optional
        Held-out entries for stopping (see ``tol``).
    callback : callable, optional
        ``callback(intermediate_result)`` after each sweep with an
        ``OptimizeResult`` holding ``nit``, ``residual`` and copies of the
        factors ``U`` and ``V``. Raise ``StopIteration`` to stop.
    n_threads : int, optional
        OpenMP threads of the start and of the sweeps (``None``: the runtime
        default; ``-1``: all CPUs).
    seed : None, int or numpy.random.Generator, optional
        Randomness of the start and of the sketches. The same seed gives the
        same factors for the same ``n_threads`` (in fact for any: every row
        draws from its own stream).
    history : bool, optional
        Keep the relative residual of the start and of every sweep in
        ``result.history`` (and the validation RMSE in
        ``result.validation_history``).
    options : dict, optional
        Expert knobs (fields of the C++ ``AltMinOptions``; an unknown key is a
        ``TypeError`` naming the closest valid one): ``reg_by_count``
        (``True``: each row's and column's ridge is ``reg`` times its number
        of observations, the weighting of ALS-WR and of Spark MLlib's ALS,
        whose ``regParam`` is then this ``reg``; default ``False``),
        ``inner_maxiter`` (CG
        steps per row for ``"cg"`` and ``"auto"``'s CG rows, at most for
        ``"sketch"``; default -1: 3, and 20 for ``"sketch"``), ``inner_tol``
        (a row's CG stops once its normal-equation residual
        ``||F^T (b - F x) - reg x||`` has shrunk to ``inner_tol`` times its
        value at the warm start; default 1e-3), ``sketch_ratio`` (sketch rows
        ``ceil(sketch_ratio * rank * ln(rank + 1))``, at least ``rank + 1``;
        default 1), ``sketch_rows`` (> 0: exactly this many sketch rows;
        default -1), ``sketch_nnz`` (signs per sketch column, default 4; 1 is
        a CountSketch), ``mu`` (``"paper"`` only, default 2), ``oversample`` and
        ``power_iters`` (the randomised SVD start: extra columns, default 10,
        and power iterations, default 2).

    Returns
    -------
    AltMinResult
        ``U``, ``V``, ``predict(rows, cols)``, ``nit``, ``residual``,
        ``status`` (0 converged, 1 ``maxiter`` reached, 3 NaN or inf, 5
        callback stop), ``success``, ``message``, ``cold_rows``,
        ``cold_cols``, and with ``history=True`` ``history`` and
        ``validation_history``. Rows and columns with no observation get a
        zero factor; ``predict`` warns for them.

    Warns
    -----
    ConvergenceWarning
        When the sweeps end before the stopping test is met (with the last
        relative change, the relative residual and ``tol``; for
        ``maxiter=0``, the start's relative residual), or when NaN or inf
        stopped the sweeps.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore.completion import altmin
    >>> rng = np.random.default_rng(0)
    >>> M = rng.standard_normal((300, 3)) @ rng.standard_normal((3, 200))
    >>> r, c = np.nonzero(rng.random(M.shape) < 0.2)
    >>> res = altmin((r, c, M[r, c], M.shape), rank=3, seed=0)
    >>> res.success, res.status
    (True, 0)
    >>> err = np.linalg.norm(res.U @ res.V.T - M) / np.linalg.norm(M)
    >>> bool(err < 1e-6)
    True
    """
    rows, cols = _observations(X)
    m, n = rows[0].shape[0] - 1, cols[0].shape[0] - 1
    dtype, idx_t = rows[2].dtype, rows[1].dtype
    rank = check_int(rank, "rank", lower=1)
    history = check_bool(history, "history")
    if rank >= min(m, n):
        raise ValueError(f"rank must be < min(m, n) = {min(m, n)}, got {rank}")
    paper = isinstance(method, str) and method == "paper"
    mu = _PAPER_MU
    if paper:
        options = dict(options or {})
        mu = options.pop("mu", _PAPER_MU)
        # the paper's regressions are solved to high accuracy (log(1/eps) preconditioned steps)
        options.setdefault("inner_tol", _PAPER_INNER_TOL)
        options.setdefault("inner_maxiter", _PAPER_INNER_MAXITER)
        if not (isinstance(mu, (int, float)) and np.isfinite(mu) and mu > 0):
            raise ValueError(f"options['mu'] must be a finite number > 0, got {mu!r}")
    opts = _options(dict(method="sketch" if paper else method, reg=reg, init=init, maxiter=maxiter, tol=tol,
                         n_threads=check_n_threads(n_threads), seed=seed_to_uint64(seed)), options)
    hook = _pipeline.result_callback(check_callback(callback), "residual")
    val = _validation_set(validation, (m, n), dtype, idx_t)
    if paper:
        if val is not None:
            raise ValueError("validation is not supported with method='paper' (the paper's algorithm runs a "
                             "fixed number of sweeps on disjoint observation subsets)")
        return _altmin_paper(rows, cols, m, n, rank, opts, hook, x0, history, float(mu))
    U, V = _start(x0, opts, rows, cols, m, n, rank, dtype)
    info = _core.completion.altmin(*rows, *cols, U, V, opts, val, hook)
    return _result(info, U, V, np.diff(rows[0]) == 0, np.diff(cols[0]) == 0, opts, history,
                   val is not None, "itercore.completion.altmin")


def _result(info, U, V, cold_rows, cold_cols, opts, history, validated, solver):
    """The ``AltMinResult`` of a completion and its warning (shared with
    :func:`itercore.distributed.altmin`): ``info`` is the core's result dict,
    ``cold_rows``/``cold_cols`` masks of the lines with no observation."""
    res = _pipeline.make_result(
        info, result_cls=AltMinResult, history=history, U=U, V=V, residual=float(info["residual"]),
        cold_rows=np.flatnonzero(cold_rows), cold_cols=np.flatnonzero(cold_cols))
    if history and validated:
        res.validation_history = info["validation_history"]
    if res.status == _pipeline.NON_FINITE or res.nit == 0:  # (maxiter=0: no change measured yet)
        _pipeline.warn_not_converged(solver, res.status, res.residual, opts.tol, "relative residual", stacklevel=3)
    else:
        if not validated:
            label, change, measure = f"relative residual {res.residual:.3e}", _last_change(info["history"]), \
                "last relative change"
        else:
            vh = info["validation_history"]
            label, change, measure = f"validation RMSE {vh[-1]:.3e}", _last_change(vh), \
                "last relative validation improvement"
        _pipeline.warn_not_converged(f"{solver} ({label})", res.status, change, opts.tol, measure, stacklevel=3)
    return res


def _half_step(X, F, *, x0=None, n_threads=None, seed=0, **options):
    """One half-step (private, for tests and the per-row benchmark): for each row
    j of ``X`` (lines x other), ``argmin_x ||F[Omega_j] x - X[j, Omega_j]||^2 +
    reg ||x||^2`` from the warm start ``x0`` (default 0). ``options``: the
    per-row fields of ``AltMinOptions`` (``method``, ``reg``, ``inner_maxiter``,
    ``inner_tol``, ``sketch_ratio``); ``seed`` is passed to the core as is."""
    (indptr, indices, values), _ = _observations(X)
    lines, other = indptr.shape[0] - 1, int(X.shape[1])
    F = as_float_array(F, "F", ndim=2, shape=(other, None), dtype=values.dtype)
    k = F.shape[1]
    Xout = (np.zeros((lines, k), dtype=values.dtype) if x0 is None
            else as_float_array(x0, "x0", ndim=2, shape=(lines, k), dtype=values.dtype, copy=True))
    opts = _options(dict(options, n_threads=check_n_threads(n_threads), seed=seed), None)
    _core.completion.half_step(indptr, indices, values, F, Xout, opts)
    return Xout


#: method="paper": the incoherence mu of the clipping threshold 2 mu sqrt(k / m)
#: (options["mu"]); 2 puts the threshold at 4 sqrt(k / m), about four times the
#: row norm of an incoherent orthonormal U.
_PAPER_MU = 2.0
#: method="paper": each row's preconditioned CG runs from zero until its normal-equation
#: residual shrank by this factor (the paper's high-accuracy regression, eps per half-step) ...
_PAPER_INNER_TOL = 1e-10
#: ... in at most this many steps (a subspace-embedding preconditioner needs a few per decade).
_PAPER_INNER_MAXITER = 60


def _csr_of(r, c, v, shape, idx_t):
    """Canonical CSR arrays (indptr, indices, values) of COO entries (unique, any order)."""
    M = sp.csr_array((v, (r, c)), shape=shape)
    M.sort_indices()
    return (np.ascontiguousarray(M.indptr, dtype=idx_t), np.ascontiguousarray(M.indices, dtype=idx_t),
            np.ascontiguousarray(M.data, dtype=v.dtype))


def _orthonormal(A):
    """Q of the thin QR of A (m x k)."""
    return np.ascontiguousarray(np.linalg.qr(A)[0], dtype=A.dtype)


def _paper_start(sub, m, n, rank, mu, seed, dtype):
    """U_0 of Gu et al. (after Jain, Netrapalli, Sanghavi): top-k left singular vectors of
    (1/p) P_Omega0(M), rows with norm above 2 mu sqrt(k/m) set to zero, then QR."""
    r, c, v = sub
    p = max(r.size, 1) / (m * n)
    Mh = sp.csr_array((v.astype(np.float64) / p, (r, c)), shape=(m, n))
    v0 = np.random.default_rng(seed).standard_normal(min(m, n))
    if rank < min(m, n) - 1:
        U = scipy.sparse.linalg.svds(Mh, k=rank, v0=v0, solver="arpack", return_singular_vectors="u")[0]
    else:
        U = np.linalg.svd(Mh.toarray(), full_matrices=False)[0][:, :rank]
    thr = 2.0 * mu * np.sqrt(rank / m)
    U = np.where((np.linalg.norm(U, axis=1) > thr)[:, None], 0.0, U)
    if not np.any(U):
        U = np.random.default_rng(seed).standard_normal((m, rank))
    return _orthonormal(U.astype(dtype))


def _altmin_paper(rows, cols, m, n, rank, opts, hook, x0, history, mu):
    """method="paper": Gu, Song, Yin & Zhang (ICLR 2024), Algorithm 1 (after JNS13).

    Omega is split at random into 2T + 1 disjoint subsets (T = maxiter): one
    for the start, one for each half-step. Each half-step solves its
    multiple-response regression row by row with the sketch-preconditioned
    solver (OSNAP subspace embedding, options sketch_ratio / sketch_nnz /
    sketch_rows, to the relative accuracy inner_tol) and orthonormalises the
    new factor by QR; the last U update is returned un-orthonormalised, so
    that M ~ U V^T with orthonormal V.
    """
    indptr, indices, values = rows
    dtype, idx_t = values.dtype, indices.dtype
    r_all = np.repeat(np.arange(m, dtype=np.int64), np.diff(indptr).astype(np.int64))
    c_all = indices.astype(np.int64)
    T = int(opts.maxiter)
    seed = int(opts.seed)
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2 * T + 1, size=values.shape[0])
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(2 * T + 2))
    subsets = [order[bounds[i]:bounds[i + 1]] for i in range(2 * T + 1)]

    def sub(i):
        sel = subsets[i]
        return r_all[sel], c_all[sel], values[sel]

    if x0 is not None:
        U = _orthonormal(as_float_array(x0, "x0", ndim=2, shape=(m, rank), dtype=dtype, copy=True))
    else:
        U = _paper_start(sub(0), m, n, rank, mu, seed, dtype)
    V = np.zeros((n, rank), dtype=dtype)

    def residual(U, V):
        pred = np.einsum("ij,ij->i", U[r_all], V[c_all])
        den = float(np.linalg.norm(values))
        return float(np.linalg.norm(pred - values)) / den if den > 0 else 0.0

    hist = [residual(U, V)]
    status = _pipeline.MAX_ITER
    nit = 0
    mask = (1 << 64) - 1
    for t in range(T):
        r, c, v = sub(2 * t + 1)
        ho = _copy_options(opts, seed=(seed + 0x9E3779B97F4A7C15 * (2 * t + 1)) & mask)
        Vh = np.zeros((n, rank), dtype=dtype)
        _core.completion.half_step(*_csr_of(c, r, v, (n, m), idx_t), U, Vh, ho)
        r, c, v = sub(2 * t + 2)
        ho = _copy_options(opts, seed=(seed + 0x9E3779B97F4A7C15 * (2 * t + 2)) & mask)
        Vq = _orthonormal(Vh)
        Uh = np.zeros((m, rank), dtype=dtype)
        _core.completion.half_step(*_csr_of(r, c, v, (m, n), idx_t), Vq, Uh, ho)
        if not (np.isfinite(Uh).all() and np.isfinite(Vq).all()):
            status = _pipeline.NON_FINITE
            break
        nit = t + 1
        U, V = Uh, Vq
        res = residual(U, V)
        hist.append(res)
        if hook is not None:
            try:
                hook(nit, res, {"U": U.copy(), "V": V.copy()})
            except StopIteration:
                status = _pipeline.CALLBACK_STOP
                break
        if res <= opts.tol:
            status = _pipeline.CONVERGED
            break
        if t + 1 < T:
            U = _orthonormal(Uh)
    info = {"status": status, "nit": nit, "history": np.array(hist)}
    res = _pipeline.make_result(
        info, result_cls=AltMinResult, history=history, U=U, V=V, residual=hist[-1],
        cold_rows=np.flatnonzero(np.diff(rows[0]) == 0), cold_cols=np.flatnonzero(np.diff(cols[0]) == 0))
    _pipeline.warn_not_converged("itercore.completion.altmin (paper)", res.status, res.residual, opts.tol,
                                 "relative residual")
    return res


def _copy_options(opts, **changes):
    """A copy of the bound AltMinOptions with some fields changed."""
    out = type(opts)()
    for f in type(opts)._fields:
        setattr(out, f, getattr(opts, f))
    for k, v in changes.items():
        setattr(out, k, v)
    return out
