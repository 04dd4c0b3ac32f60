"""Sketch-and-project solvers for consistent linear systems.

``sketch_solve`` is re-exported as ``itercore.linalg.sketch_solve``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from . import _core, _pipeline
from ._kernels import csr_args
from ._validation import (as_csr, as_float_array, check_callback, check_int, check_n_threads, result_dtype,
                          seed_to_uint64)
from ._typing import ArrayLike, CallbackLike, FloatArray, MatrixLike, OptionsLike, SeedLike

__all__ = ["sketch_solve"]

#: The C++ defaults (``itercore/linalg/sketch.hpp``), read from the bound struct.
_D = _pipeline.defaults(_core.linalg.SketchOptions)
#: The struct fields :func:`sketch_solve` takes as keywords (the others are expert ``options``).
_KEYWORDS = frozenset(("method", "block_size", "rtol", "atol", "maxiter", "seed", "n_threads"))


def _as_operator(A):
    """A validated dense C-contiguous array or canonical CSR matrix."""
    if sp.issparse(A):
        return as_csr(A, "A", allow_empty=True)
    if hasattr(A, "matvec") and not isinstance(A, np.ndarray):
        raise TypeError(f"A must be a dense array or a scipy sparse matrix (sketching needs its rows), "
                        f"got {type(A).__name__}")
    return as_float_array(A, "A", ndim=2, allow_empty=True)


def _solve(A, b, *, x0=None, callback=None, options=None, history=False, stacklevel=2, **keywords):
    """The one pipeline step of :func:`sketch_solve`: validate, fill and check
    ``SketchOptions``, run the core, warn when the tolerance was missed.

    ``keywords`` are the public struct keywords (``method``, ``block_size``,
    ``rtol``, ``atol``, ``maxiter``, ``seed``, ``n_threads``; ``None`` keeps
    the C++ default); ``history`` keeps the residual of every check;
    ``stacklevel`` is counted from the caller of this function. Returns
    ``(x, res)`` with ``res`` the core's result dict: int ``status``, ``nit``,
    ``residual`` (``||b - A x||``), ``history``.
    """
    for key in keywords:
        if key not in _KEYWORDS:
            raise TypeError(f"sketch_solve() got an unexpected keyword argument {key!r}")
    M = _as_operator(A)
    m, n = M.shape
    bv = as_float_array(b, "b", ndim=1, allow_empty=True)
    if bv.shape != (m,):
        raise ValueError(f"b must have shape ({m},) to match A {M.shape}, got {bv.shape}")
    dtype = result_dtype(M.dtype, bv.dtype)
    if M.dtype != dtype:
        M = M.astype(dtype)
    bv = np.ascontiguousarray(bv, dtype=dtype)
    if x0 is None:
        x = np.zeros(n, dtype=dtype)
    else:
        x = as_float_array(x0, "x0", ndim=1, allow_empty=True, dtype=dtype, copy=True)
        if x.shape != (n,):
            raise ValueError(f"x0 must have shape ({n},) to match A {M.shape}, got {x.shape}")
    if keywords.get("maxiter") is not None:  # None: the struct's automatic budget
        check_int(keywords["maxiter"], "maxiter", lower=0)
    keywords["seed"] = seed_to_uint64(keywords.get("seed"))
    keywords["n_threads"] = check_n_threads(keywords.get("n_threads"))
    # (x, info) has no residual history for the user: only the step's callers (tests) ask for it
    opts = _pipeline.make_options(_core.linalg.SketchOptions, keywords, options,
                                  derived=dict(history=bool(history)))
    hook = _pipeline.linear_callback(check_callback(callback))
    if sp.issparse(M):
        res = _core.linalg.sketch_csr(*csr_args(M), bv, x, opts, hook)
    else:
        res = _core.linalg.sketch_dense(M, bv, x, opts, hook)
    _pipeline.warn_linear(f"itercore.linalg.sketch_solve ({opts.method.name})", res, bv, opts.rtol, opts.atol,
                          stacklevel=stacklevel + 1)
    return x, res


def sketch_solve(A: MatrixLike, b: ArrayLike, *, x0: ArrayLike | None = None, method: str = _D.method.name,
                 block_size: int | None = _D.block_size, rtol: float = _D.rtol, atol: float = _D.atol,
                 maxiter: int | None = None, seed: SeedLike = None, callback: CallbackLike = None,
                 n_threads: int | None = None, options: OptionsLike = None) -> tuple[FloatArray, int]:
    """Solve a consistent linear system ``A x = b`` by randomized sketch-and-project.

    Each iteration draws a random sketch ``S`` (``m x k``) and projects the
    iterate onto the solution set of the sketched system ``S^T A x = S^T b``:
    ``x <- x - A^T S (S^T A A^T S)^+ S^T (A x - b)``. Square, over- and
    under-determined systems are accepted; for an under-determined system
    started from ``x0 = 0`` the iterates converge to the minimum-norm
    solution (every update lies in the row space of ``A``).

    Parameters
    ----------
    A : (m, n) array_like or scipy sparse matrix
        The matrix; sparse input is used as CSR (int32 or int64 indices,
        no copy when already canonical CSR).
    b : (m,) array_like
        Right-hand side; the system must be consistent.
    x0 : (n,) array_like, optional
        Starting point (default zeros). Not modified.
    method : {"kaczmarz", "gaussian", "count"}
        ``"kaczmarz"`` (default): randomized (block) Kaczmarz, ``block_size``
        rows sampled with probability proportional to their squared norms;
        ``"gaussian"``: Gaussian sketch with ``block_size`` columns;
        ``"count"``: count sketch with ``block_size`` buckets.
    block_size : int
        Number of sketch columns ``k`` (rows per Kaczmarz step); default 1.
        Values above the number of rows ``m`` are used as ``m`` (a sketch
        of more columns projects onto no more than all the rows).
    rtol, atol : float
        Stop when ``||b - A x|| <= max(rtol * ||b||, atol)`` (default
        ``rtol=1e-8``, ``atol=0``).
    maxiter : int, optional
        Sketch iterations (default ``100 * max(m, n) / block_size`` rounded up,
        at least 1000).
    seed : None, int or numpy.random.Generator
        The same seed gives the same iterates.
    callback : callable, optional
        ``callback(xk)`` with a copy of the iterate at every residual check
        (about once per pass over the rows for Kaczmarz, every iteration for
        the dense sketches); raising ``StopIteration`` stops the solve.
    n_threads : int, optional
        Threads for the residual checks (``None``: OpenMP default); the
        sketch iterations themselves are serial.
    options : dict, optional
        Expert fields of ``itercore._core.linalg.SketchOptions``:
        ``check_every`` (iterations between residual checks; 0, the default:
        about one pass over the rows for Kaczmarz, at least 16, every
        iteration for the dense sketches) and ``stall_factor`` (> 0: give up
        early once the observed rate cannot reach the target within
        ``stall_factor`` times the remaining budget; default 0, never).

    Returns
    -------
    x : ndarray
        The last iterate (float32 for float32 input, else float64).
    info : int
        0 when converged; > 0 the iterations done without converging (the
        budget ran out, with a :class:`~itercore.ConvergenceWarning`, or a
        callback stopped the solve); < 0 breakdown or NaN/inf.

    Examples
    --------
    >>> import numpy as np
    >>> from itercore.linalg import sketch_solve
    >>> A = np.array([[2.0, 1.0], [1.0, 3.0], [0.0, 1.0]])
    >>> x, info = sketch_solve(A, A @ np.array([1.0, -1.0]), seed=0)
    >>> np.round(x, 6), info
    (array([ 1., -1.]), 0)
    """
    x, res = _solve(A, b, x0=x0, callback=callback, options=options, method=method, block_size=block_size, rtol=rtol,
                    atol=atol, maxiter=maxiter, seed=seed, n_threads=n_threads)
    return x, _pipeline.linear_info(res["status"], res["nit"])
