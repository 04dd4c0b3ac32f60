"""Input checks shared by every solver family.

Every public function validates here, once, and raises ``TypeError`` or
``ValueError`` naming the offending argument. Arrays that already have an
accepted dtype and layout pass through without a copy.
"""

from __future__ import annotations

import copy
import numbers
import operator
import os

import numpy as np
import scipy.sparse as sp

__all__ = [
    "as_float_array",
    "as_csr",
    "check_sparse",
    "result_dtype",
    "check_n_threads",
    "check_random_state",
    "seed_to_uint64",
    "check_scalar",
    "check_int",
    "check_choice",
    "check_callback",
    "check_bool",
    "as_array",
]

_FLOATS = (np.float32, np.float64)
#: The range of the C++ ``std::int64_t`` every count and size option becomes.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: The range of the C++ ``int`` thread counts become.
INT32_MAX = 2**31 - 1
_INDEX_TYPES = (np.int32, np.int64)


def _float_dtype(dtype, name, allowed=_FLOATS):
    """The floating dtype an input of ``dtype`` is computed in."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {dtype}")
    if dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array, got dtype {dtype}")
    if dtype.type in allowed:
        return np.dtype(dtype.type)  # native byte order
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
        A = check_sparse(A, name)  # before scipy's own conversions read the structure
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


def _native(arr):
    """``arr`` in the machine's byte order (a copy only when it was not)."""
    return arr if arr.dtype.isnative else arr.astype(arr.dtype.newbyteorder("="))


def _index_array(arr, name, what, length=None):
    """A 1-D integer array of a sparse structure, as native int32 or int64."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"{name}.{what} must be a numpy array, got {type(arr).__name__}")
    if arr.ndim != 1:
        raise ValueError(f"{name}.{what} must be 1-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name}.{what} must hold integers, got dtype {arr.dtype}")
    if length is not None and arr.shape[0] != length:
        raise ValueError(f"{name}.{what} must have {length} entries, got {arr.shape[0]}")
    if arr.dtype.type in _INDEX_TYPES:
        return _native(arr)
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise ValueError(f"{name}.{what} holds a value above 2**63 - 1")
    return arr.astype(np.int64)


def _check_range(idx, upper, name, what):
    if idx.size and (idx.min() < 0 or idx.max() >= upper):
        bad = idx[(idx < 0) | (idx >= upper)][0]
        raise ValueError(f"{name} has {what} indices outside [0, {upper}) (e.g. {int(bad)})")


def _check_compressed(indptr, indices, data_len, major, minor, name, axis):
    """indptr/indices of a compressed (CSR/CSC/BSR) structure: O(major + nnz)."""
    if indptr[0] != 0:
        raise ValueError(f"{name} has an invalid structure: indptr[0] must be 0, got {int(indptr[0])}")
    steps = np.diff(indptr)
    if steps.size and steps.min() < 0:
        row = int(np.flatnonzero(steps < 0)[0])
        raise ValueError(f"{name} has an invalid structure: indptr decreases at entry {row + 1}")
    nnz = int(indptr[-1])
    if nnz > indices.shape[0] or nnz > data_len:
        raise ValueError(f"{name} has an invalid structure: indptr[-1] = {nnz} exceeds the stored entries "
                         f"(indices: {indices.shape[0]}, data: {data_len})")
    _check_range(indices[:nnz], minor, name, axis)


def check_sparse(A, name):
    """Check the raw arrays of a scipy sparse matrix or array in O(nnz + n).

    Run on every sparse input BEFORE any scipy routine (``.tocsr()``,
    ``.tocsc()``, ``.T``, products) reads it: scipy trusts the structure and a
    corrupt one (an ``indptr`` that is short, decreasing or past the end,
    indices out of range, coordinate arrays of different lengths) makes its
    compiled routines read or write out of bounds. Checks: a 2-D shape of
    non-negative ints; CSR/CSC/BSR: ``indptr`` of ``major + 1`` integers,
    starting at 0, non-decreasing, ending within ``indices`` and ``data``,
    indices in range; COO: coordinate arrays and ``data`` of one length,
    coordinates in range; DIA: offsets matching the data rows. LIL and DOK
    are built by scipy's own checked setters (their CSR is checked by
    :func:`as_csr`). Integer arrays must hold integers; arrays in a foreign
    byte order are converted to the native one.

    Returns ``A``, or (when an array had to be converted) a new matrix of the
    same format: the user's object is never modified. Errors are
    ``ValueError``/``TypeError`` naming ``name``.
    """
    if not sp.issparse(A):
        raise TypeError(f"{name} must be a scipy sparse matrix or array, got {type(A).__name__}")
    shape = A.shape
    if not isinstance(shape, tuple) or len(shape) != 2:
        raise ValueError(f"{name} must be 2-dimensional, got shape {shape}")
    if any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 0 for s in shape):
        raise ValueError(f"{name} has an invalid shape {shape}")
    m, n = int(shape[0]), int(shape[1])
    fmt = A.format
    if fmt not in ("csr", "csc", "bsr", "coo", "dia"):
        return A  # lil, dok: scipy's setters check every index
    data = A.data
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{name}.data must be a numpy array, got {type(data).__name__}")
    fixed = {}
    if fmt in ("csr", "csc", "bsr"):
        if fmt == "bsr":
            if data.ndim != 3:
                raise ValueError(f"{name}.data must be 3-dimensional for BSR, got shape {data.shape}")
            R, C = data.shape[1:]
            if R < 1 or C < 1 or m % R or n % C:
                raise ValueError(f"{name} has a block size {(R, C)} that does not divide its shape {shape}")
            major, minor = m // R, n // C
        else:
            if data.ndim != 1:
                raise ValueError(f"{name}.data must be 1-dimensional, got shape {data.shape}")
            major, minor = (m, n) if fmt == "csr" else (n, m)
        indptr = _index_array(A.indptr, name, "indptr", major + 1)
        indices = _index_array(A.indices, name, "indices")
        _check_compressed(indptr, indices, data.shape[0], major, minor, name,
                          "column" if fmt != "csc" else "row")
        fixed = {"indptr": indptr, "indices": indices}
    elif fmt == "coo":
        coords = getattr(A, "coords", None)
        if coords is None:
            coords = (A.row, A.col)
        if not isinstance(coords, tuple) or len(coords) != 2:
            raise ValueError(f"{name} must have 2 coordinate arrays, got {len(coords)}")
        if data.ndim != 1:
            raise ValueError(f"{name}.data must be 1-dimensional, got shape {data.shape}")
        row = _index_array(coords[0], name, "row", data.shape[0])
        col = _index_array(coords[1], name, "col", data.shape[0])
        _check_range(row, m, name, "row")
        _check_range(col, n, name, "column")
        if row is not coords[0] or col is not coords[1]:
            fixed = {"coords": (row, col)}
    else:  # dia
        if data.ndim != 2:
            raise ValueError(f"{name}.data must be 2-dimensional for DIA, got shape {data.shape}")
        offsets = _index_array(A.offsets, name, "offsets", data.shape[0])
        fixed = {"offsets": offsets}
    if data.dtype.kind not in "biufc":
        raise TypeError(f"{name} must be numeric, got dtype {data.dtype}")
    native = _native(data)
    changed = native is not data or any(v is not getattr(A, k) for k, v in fixed.items() if k != "coords")
    changed = changed or "coords" in fixed
    if not changed:
        return A
    B = copy.copy(A)  # a new object holding the same arrays (scipy's .copy() refuses a foreign byte order)
    B.data = native  # rebinding B's attributes leaves the user's matrix as it was
    for key, value in fixed.items():
        setattr(B, key, value)
    return B


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
        limit = max_threads()
        if n_threads > limit:  # OpenMP aborts the process when it cannot create the threads
            raise ValueError(f"{name} must be <= {limit} (64 per usable CPU, at least 1024), got {n_threads}")
        return n_threads
    if n_threads < -INT32_MAX:
        raise ValueError(f"{name} must be >= {-INT32_MAX}, got {n_threads}")
    cpus = usable_cpus()
    return max(1, cpus + 1 + n_threads)


def max_threads():
    """The largest thread count accepted: 64 per usable CPU, at least 1024
    (oversubscription is allowed; OpenMP kills the process when it cannot
    create the threads asked for)."""
    return max(1024, 64 * usable_cpus())


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
    """An integer within bounds (``None`` passes through when allowed).

    Without bounds it must still fit the C++ ``std::int64_t`` it becomes."""
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
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{name} must fit a 64-bit signed integer, got {value}")
    return value


def check_choice(value, name, choices):
    """One of ``choices`` (strings); the error lists the valid ones."""
    if not isinstance(value, str) or value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {valid}; got {value!r}")
    return value


def check_bool(value, name):
    """A bool (or numpy bool); an array or other object is a TypeError naming ``name``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return bool(value)


def as_array(x, name):
    """``np.asarray(x)`` with a TypeError naming ``name`` for ragged lists and the like."""
    if sp.issparse(x):
        raise TypeError(f"{name} must be a dense array, got a sparse {type(x).__name__}")
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} could not be converted to an array: {exc}") from None


def check_callback(callback, name="callback"):
    """``None`` or a callable."""
    if callback is not None and not callable(callback):
        raise TypeError(f"{name} must be callable or None, got {type(callback).__name__}")
    return callback
