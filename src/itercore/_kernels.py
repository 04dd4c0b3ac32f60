"""Private Python entry points to the shared C++ kernels.

Families reuse these (a parallel CSR mat-vec, a power iteration for spectral
estimates); the test suite uses them to check threads, the GIL and Ctrl-C.
"""

from __future__ import annotations

import numpy as np

from . import _core
from ._validation import as_csr, as_float_array, check_int, check_n_threads, check_scalar


def csr_args(M):
    """The ``(rows, cols, indptr, indices, data)`` a core takes for a validated CSR."""
    return (int(M.shape[0]), int(M.shape[1]), M.indptr, M.indices, M.data)


def csr_matvec(A, x, *, n_threads=None):
    """``A @ x`` by the parallel C++ kernel (A any sparse/dense matrix)."""
    M = as_csr(A, "A")
    xv = as_float_array(x, "x", ndim=1, shape=(M.shape[1],), dtype=M.dtype)
    return _core._csr_matvec(*csr_args(M), xv, check_n_threads(n_threads))


def power_iteration(A, x0=None, *, maxiter=1000, tol=1e-6, n_threads=None, seed=0):
    """Dominant eigenvalue of a square matrix by power iteration.

    Returns ``(eigenvalue, x, info)`` with the Rayleigh quotient of the last
    unit iterate ``x`` and the core's info dict.
    """
    M = as_csr(A, "A", square=True)
    if x0 is None:
        x = np.random.default_rng(seed).standard_normal(M.shape[0]).astype(M.dtype)
    else:
        x = as_float_array(x0, "x0", ndim=1, shape=(M.shape[0],), dtype=M.dtype, copy=True)
    maxiter = check_int(maxiter, "maxiter", lower=0)
    tol = check_scalar(tol, "tol", lower=0.0)
    lam, info = _core._power_iteration(*csr_args(M), x, maxiter, tol, check_n_threads(n_threads))
    return lam, x, info
