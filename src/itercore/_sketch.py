"""Sketch-and-project solvers for consistent linear systems.

``sketch_solve`` is re-exported as ``itercore.linalg.sketch_solve``.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from . import _core
from ._kernels import csr_args
from ._validation import (
    as_csr,
    as_float_array,
    check_callback,
    check_choice,
    check_int,
    check_n_threads,
    check_scalar,
    result_dtype,
    seed_to_uint64,
)
from ._warnings import ConvergenceWarning

__all__ = ["sketch_solve"]

_METHODS = {"kaczmarz": 0, "gaussian": 1, "count": 2}


def _as_operator(A):
    """A validated dense C-contiguous array or canonical CSR matrix."""
    if sp.issparse(A):
        return as_csr(A, "A", allow_empty=True)
    if hasattr(A, "matvec") and not isinstance(A, np.ndarray):
        raise TypeError(f"A must be a dense array or a scipy sparse matrix (sketching needs its rows), "
                        f"got {type(A).__name__}")
    return as_float_array(A, "A", ndim=2, allow_empty=True)


def _run(M, b, x, method, block_size, target, maxiter, check_every, seed, n_threads, callback):
    """Calls the core on a validated operator; ``x`` is updated in place."""
    if sp.issparse(M):
        return _core.sketch_solve_csr(*csr_args(M), b, x, method, block_size, target, maxiter, check_every,
                                      seed, n_threads, callback)
    return _core.sketch_solve_dense(M, b, x, method, block_size, target, maxiter, check_every, seed,
                                    n_threads, callback)


def sketch_solve(A, b, x0=None, *, method="kaczmarz", block_size=1, rtol=1e-8, atol=0.0, maxiter=None,
                 seed=None, callback=None, n_threads=None):
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
        Starting point (default zeros).
    method : {"kaczmarz", "gaussian", "count"}
        ``"kaczmarz"``: randomized (block) Kaczmarz, ``block_size`` rows
        sampled with probability proportional to their squared norms;
        ``"gaussian"``: Gaussian sketch with ``block_size`` columns;
        ``"count"``: count sketch with ``block_size`` buckets.
    block_size : int
        Number of sketch columns ``k`` (rows per Kaczmarz step).
    rtol, atol : float
        Stop when ``||b - A x|| <= max(rtol * ||b||, atol)``.
    maxiter : int, optional
        Sketch iterations (default ``100 * max(m, n) / block_size`` rounded up,
        at least 1000).
    seed : None, int or numpy.random.Generator
        The same seed gives the same iterates.
    callback : callable, optional
        ``callback(xk)`` at every residual check (about once per pass over
        the rows for Kaczmarz, every iteration for the dense sketches);
        raising ``StopIteration`` stops the solve.
    n_threads : int, optional
        Threads for the residual checks (``None``: OpenMP default).

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
    x, info, _ = _sketch_solve(A, b, x0, method=method, block_size=block_size, rtol=rtol, atol=atol,
                               maxiter=maxiter, seed=seed, callback=callback, n_threads=n_threads)
    return x, info


def _sketch_solve(A, b, x0=None, *, method="kaczmarz", block_size=1, rtol=1e-8, atol=0.0, maxiter=None,
                  seed=None, callback=None, n_threads=None):
    """:func:`sketch_solve` returning ``(x, info, details)``; ``details`` has
    ``status``, ``iterations``, ``residual`` (``||b - A x||``) and ``history``
    (the residual at every check)."""
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
    method_id = _METHODS[check_choice(method, "method", tuple(_METHODS))]
    block_size = check_int(block_size, "block_size", lower=1)
    rtol = check_scalar(rtol, "rtol", lower=0.0)
    atol = check_scalar(atol, "atol", lower=0.0)
    if maxiter is None:
        maxiter = max(1000, -(-100 * max(m, n) // block_size))
    maxiter = check_int(maxiter, "maxiter", lower=0)
    check_callback(callback)
    nt = check_n_threads(n_threads)
    seed64 = seed_to_uint64(seed)
    target = max(rtol * float(np.linalg.norm(bv.astype(np.float64))), atol)
    if m == 0 or n == 0:
        res = float(np.linalg.norm(bv))
        ok = res <= target
        return x, (0 if ok else -1), {"status": "converged" if ok else "breakdown", "iterations": 0,
                                      "residual": res, "history": np.zeros(0)}
    info = _run(M, bv, x, method_id, block_size, target, maxiter, 0, seed64, nt, callback)
    status = info["status"]
    nit = max(1, int(info["iterations"]))
    code = {"converged": 0, "max_iter": nit, "callback_stop": nit}.get(status, -1)
    if status not in ("converged", "callback_stop"):
        warnings.warn(f"sketch_solve({method!r}) stopped ({status}) after {info['iterations']} iterations with "
                      f"residual {info['residual']:.3e} > tolerance {target:.3e}", ConvergenceWarning,
                      stacklevel=3)
    return x, code, info
