"""Input checks shared by every solver family.

Every public function validates here, once, and raises ``TypeError`` or
``ValueError`` naming the offending argument. Arrays that already have an
accepted dtype and layout pass through without a copy.
"""

from __future__ import annotations

import numbers
import operator
import os

import numpy as np
import scipy.sparse as sp

__all__ = [
    "as_float_array",
    "as_csr",
    "result_dtype",
    "check_n_threads",
    "check_random_state",
    "seed_to_uint64",
    "check_scalar",
    "check_int",
    "check_choice",
    "check_callback",
]

_FLOATS = (np.float32, np.float64)
_INDEX_TYPES = (np.int32, np.int64)


def _float_dtype(dtype, name, allowed=_FLOATS):
    """The floating dtype an input of ``dtype`` is computed in."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {dtype}")
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {dtype}")
    if dtype.type in allowed:
        return dtype
    return np.dtype(np.float64)


def result_dtype(*dtypes):
    """float32 only when every input is float32, else float64."""
    return np.dtype(np.float32) if all(np.dtype(d) == np.float32 for d in dtypes) else np.dtype(np.float64)


def as_float_array(x, name, *, ndim=None, shape=None, dtype=None, finite=True, allow_empty=False,
                   copy=False):
    """Coerce ``x`` to a C-contiguous float32/float64 array, checking it.

    Parameters
    ----------
    x : array_like
        The input.
    name : str
        The argument's name, used in error messages.
    ndim : int or tuple of int, optional
        Accepted number(s) of dimensions.
    shape : tuple, optional
        Required shape; ``None`` entries match any length.
    dtype : dtype, optional
        Force this dtype; by default float32 and float64 are kept and any
        other real type becomes float64.
    finite : bool
        Reject NaN and inf.
    allow_empty : bool
        Accept arrays with no elements.
    copy : bool
        Always return a fresh, writeable array (for in/out arguments).
    """
    if sp.issparse(x):
        raise TypeError(f"{name} must be a dense array, got a sparse {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None
    target = np.dtype(dtype) if dtype is not None else _float_dtype(arr.dtype, name)
    if dtype is not None:
        _float_dtype(arr.dtype, name)  # still reject complex and objects
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must be {want}-dimensional, got shape {arr.shape}")
    if shape is not None:
        if len(shape) != arr.ndim or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {arr.shape}")
    if copy:
        arr = np.array(arr, dtype=target, order="C", copy=True)
    else:
        arr = np.ascontiguousarray(arr, dtype=target)
    if finite and arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return arr


def as_csr(A, name, *, square=False, dtype=None, finite=True, allow_empty=False):
    """Coerce ``A`` to a canonical CSR matrix without copying when possible.

    Accepts any scipy sparse matrix or array and dense 2-D arrays. Keeps
    float32/float64 values and int32/int64 indices; sums duplicate entries.
    Returns a ``scipy.sparse.csr_array`` or ``csr_matrix`` sharing memory
    with the input when it was already canonical CSR.
    """
    if sp.issparse(A):
        M = A if A.format == "csr" else A.tocsr()
    elif hasattr(A, "shape") and hasattr(A, "matvec") and not isinstance(A, np.ndarray):
        raise TypeError(f"{name} must be an explicit sparse or dense matrix for this solver, "
                        f"got {type(A).__name__}")
    else:
        dense = as_float_array(A, name, ndim=2, finite=finite, allow_empty=allow_empty)
        M = sp.csr_array(dense)
    if M.ndim != 2:
        raise ValueError(f"{name} must be 2-dimensional, got shape {M.shape}")
    m, n = M.shape
    if square and m != n:
        raise ValueError(f"{name} must be square, got shape {M.shape}")
    if (m == 0 or n == 0) and not allow_empty:
        raise ValueError(f"{name} must not be empty, got shape {M.shape}")
    target = np.dtype(dtype) if dtype is not None else _float_dtype(M.dtype, name)
    if dtype is not None:
        _float_dtype(M.dtype, name)
    if M.dtype != target:
        M = M.astype(target)
    idx = M.indices.dtype
    if M.indptr.dtype != idx or idx.type not in _INDEX_TYPES:
        M = M.copy()
        M.indptr = M.indptr.astype(np.int64)
        M.indices = M.indices.astype(np.int64)
    for attr in ("indptr", "indices", "data"):
        arr = getattr(M, attr)
        if not arr.flags.c_contiguous:
            setattr(M, attr, np.ascontiguousarray(arr))
    _check_csr(M, name, finite)  # before scipy reads the indices itself
    if not M.has_canonical_format:
        M = M.copy()
        M.sum_duplicates()
    return M


def _check_csr(M, name, finite):
    """Reject CSR arrays whose indices would make a core read out of bounds and,
    if asked, non-finite values (one C++ pass over the arrays)."""
    from . import _core

    m, n = M.shape
    if M.data.shape[0] < M.indices.shape[0]:
        raise ValueError(f"{name} has an invalid CSR structure (data shorter than indices)")
    code = _core._csr_check(m, n, M.indptr, M.indices, M.data, bool(finite))
    if code == 3:
        raise ValueError(f"{name} has column indices outside [0, {n})")
    if code == 4:
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    if code:
        raise ValueError(f"{name} has an invalid CSR structure (indptr)")


def check_n_threads(n_threads, name="n_threads"):
    """Thread count for a core: ``0`` means the OpenMP runtime's default.

    ``None`` follows the runtime default (``OMP_NUM_THREADS``, then the CPUs
    this process may use; ``threadpoolctl`` limits apply); a positive int is
    taken as is; ``-1`` means all usable CPUs, ``-2`` all but one, and so on.
    """
    if n_threads is None:
        return 0
    if isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral):
        raise TypeError(f"{name} must be None or an int, got {type(n_threads).__name__}")
    n_threads = int(n_threads)
    if n_threads == 0:
        raise ValueError(f"{name} must be a positive or negative int (or None), got 0")
    if n_threads > 0:
        return n_threads
    cpus = usable_cpus()
    return max(1, cpus + 1 + n_threads)


def usable_cpus():
    """CPUs this process may run on (affinity-aware where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_random_state(seed, name="seed"):
    """``None``, an int or a ``numpy.random.Generator`` -> a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"{name} must be None, an int or a numpy.random.Generator, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{name} must be non-negative, got {seed}")
    return np.random.default_rng(int(seed))


def seed_to_uint64(seed, name="seed"):
    """A 64-bit seed for a C++ core, drawn from ``check_random_state(seed)``."""
    rng = check_random_state(seed, name)
    return int(rng.integers(0, 2**63 - 1, dtype=np.int64))


def check_scalar(value, name, *, lower=None, upper=None, lower_inclusive=True, upper_inclusive=True):
    """A finite real number within bounds, as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if lower is not None and (value < lower or (value == lower and not lower_inclusive)):
        op = ">=" if lower_inclusive else ">"
        raise ValueError(f"{name} must be {op} {lower}, got {value}")
    if upper is not None and (value > upper or (value == upper and not upper_inclusive)):
        op = "<=" if upper_inclusive else "<"
        raise ValueError(f"{name} must be {op} {upper}, got {value}")
    return value


def check_int(value, name, *, lower=None, upper=None, allow_none=False):
    """An integer within bounds (``None`` passes through when allowed)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(value).__name__}") from None
    if lower is not None and value < lower:
        raise ValueError(f"{name} must be >= {lower}, got {value}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}, got {value}")
    return value


def check_choice(value, name, choices):
    """One of ``choices`` (strings); the error lists the valid ones."""
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {valid}; got {value!r}")
    return value


def check_callback(callback, name="callback"):
    """``None`` or a callable."""
    if callback is not None and not callable(callback):
        raise TypeError(f"{name} must be callable or None, got {type(callback).__name__}")
    return callback
