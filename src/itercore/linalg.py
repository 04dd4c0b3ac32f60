"""Iterative solvers for sparse linear systems: SOR, SSOR, SSOR-preconditioned
CG, relaxation parameters learned across a sequence of systems, and
randomized sketch-and-project (:func:`sketch_solve`).

The solvers follow ``scipy.sparse.linalg``: ``x, info = sor(A, b)`` with
``info == 0`` on convergence, ``info > 0`` the sweeps done without reaching the
tolerance, ``info < 0`` a breakdown. Convergence means
``norm(b - A @ x) <= max(rtol * norm(b), atol)``.

References
----------
M. Khodak, E. Chow, M.-F. Balcan, A. Talwalkar, "Learning to Relax: Setting
Solver Parameters Across a Sequence of Linear System Instances", ICLR 2024.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla

from . import _core, _pipeline
from ._sketch import sketch_solve
from ._tuners import ContextualOmegaTuner, OmegaTuner
from ._validation import as_csr, as_float_array, check_callback, check_choice, check_int, check_n_threads, result_dtype
from ._typing import ArrayLike, CallbackLike, FloatArray, MatrixLike, OptionsLike

__all__ = [
    "sor",
    "ssor_pcg",
    "ssor_preconditioner",
    "sor_sweep",
    "SORSmoother",
    "pyamg_smoothers",
    "multicolor_ordering",
    "MulticolorOrdering",
    "OmegaTuner",
    "ContextualOmegaTuner",
    "sketch_solve",
]

#: The C++ defaults (``itercore/linalg/relaxation.hpp``), read from the bound structs.
_SOR = _pipeline.defaults(_core.linalg.SorOptions)
_PCG = _pipeline.defaults(_core.linalg.SsorPcgOptions)
#: Per solver of :func:`_solve`: its options struct, its core and its public
#: keywords (struct fields; the other fields are expert ``options``).
_SOLVERS = {
    "sor": (_core.linalg.SorOptions, _core.linalg.sor, frozenset(("omega", "sweep", "rtol", "atol", "maxiter"))),
    "ssor_pcg": (_core.linalg.SsorPcgOptions, _core.linalg.ssor_pcg, frozenset(("omega", "rtol", "atol", "maxiter"))),
}
_ORDERINGS = ("auto", "natural", "multicolor")
#: Stored entries from which "auto" ordering switches to multicolour when
#: several threads are available (below it, serial natural sweeps are faster).
_MULTICOLOR_MIN_NNZ = 200_000


@dataclass(frozen=True)
class MulticolorOrdering:
    """A multicolour ordering of a square sparsity pattern, reusable for every
    matrix with that pattern (see :func:`multicolor_ordering`).

    Immutable: construction checks the arrays (permutations, colour ranges,
    the permuted pattern, no coupled rows in one colour; ``ValueError`` /
    ``TypeError`` naming ``ordering``) and keeps read-only copies of them and
    of the pattern they belong to. A solve then only compares that pattern
    with ``A``'s (two sequential passes), so an ordering computed for another
    pattern is a ``ValueError``. A copy whose arrays are writeable again
    (``copy.deepcopy``, unpickling) is checked in full at every use.

    Attributes
    ----------
    perm : ndarray
        ``perm[k]`` is the original row placed at position ``k``.
    color_ptr : ndarray
        Rows ``color_ptr[c]:color_ptr[c+1]`` of the permuted matrix have colour ``c``.
    indptr, indices : ndarray
        The permuted pattern (``P A P^T`` in CSR, columns sorted).
    source : ndarray
        ``permuted.data = A.data[source]`` for any ``A`` with this pattern.
    shape : tuple
        The matrix shape the ordering belongs to.
    """

    perm: np.ndarray
    color_ptr: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    source: np.ndarray
    shape: tuple
    _pattern_nnz: int

    def __post_init__(self):
        for key in _PLAN_ARRAYS:
            arr = getattr(self, key)
            if not isinstance(arr, np.ndarray):
                raise TypeError(f"ordering.{key} must be a numpy array, got {type(arr).__name__}")
            object.__setattr__(self, key, _frozen(arr))
        object.__setattr__(self, "_pattern", tuple(_frozen(a) for a in _plan_pattern(self)))

    @property
    def n_colors(self) -> int:
        """Number of colour classes."""
        return len(self.color_ptr) - 1

    def _matches(self, M):
        return M.shape == self.shape and M.nnz == self._pattern_nnz and self.indptr.dtype == M.indptr.dtype

    def _intact(self):
        """True when every array is still one of the read-only copies made at construction."""
        arrays = [getattr(self, k) for k in _PLAN_ARRAYS] + list(getattr(self, "_pattern", ()))
        return len(arrays) == len(_PLAN_ARRAYS) + 2 and all(_is_frozen(a) for a in arrays)


_PLAN_ARRAYS = ("perm", "color_ptr", "indptr", "indices", "source")


def _is_frozen(arr):
    """An array made by :func:`_frozen` (its memory is a bytes object: never writeable again)."""
    if not isinstance(arr, np.ndarray) or arr.flags.writeable:
        return False
    base = arr.base
    while isinstance(base, np.ndarray):
        base = base.base
    return isinstance(base, bytes)


def _frozen(arr):
    """A read-only copy that cannot be made writeable again (its memory is a bytes object)."""
    arr = np.ascontiguousarray(arr)
    return np.frombuffer(arr.tobytes(), dtype=arr.dtype).reshape(arr.shape)


def _plan_pattern(plan):
    """Checks a plan on its own (O(nnz)) and returns the original pattern
    ``(indptr, indices)`` it was computed for; errors name ``ordering``."""
    shape = plan.shape
    if (not isinstance(shape, tuple) or len(shape) != 2 or shape[0] != shape[1]
            or not isinstance(shape[0], (int, np.integer)) or shape[0] < 0):
        raise ValueError(f"ordering.shape must be a square (n, n) shape, got {shape!r}")
    n, nnz = int(shape[0]), plan.indices.shape[0] if plan.indices.ndim == 1 else -1
    idx_t = plan.indptr.dtype
    if idx_t.type not in (np.int32, np.int64):
        raise TypeError(f"ordering.indptr must hold int32 or int64, got {idx_t}")
    for key, length in (("perm", n), ("indptr", n + 1), ("indices", nnz), ("source", nnz), ("color_ptr", None)):
        arr = getattr(plan, key)
        if arr.dtype != idx_t or arr.ndim != 1:
            raise TypeError(f"ordering.{key} must be 1-D of the index type {idx_t}")
        if length is not None and arr.shape[0] != length:
            raise ValueError(f"ordering.{key} must have {length} entries, got {arr.shape[0]}")
    if plan._pattern_nnz != nnz:
        raise ValueError(f"ordering has {nnz} entries but says {plan._pattern_nnz!r}")
    perm, indptr, indices, source, color_ptr = (getattr(plan, k) for k in ("perm", "indptr", "indices", "source",
                                                                            "color_ptr"))
    for key, arr, size in (("perm", perm, n), ("source", source, nnz)):
        if size and (arr.min() < 0 or arr.max() >= size or np.bincount(arr, minlength=size).max() != 1):
            raise ValueError(f"ordering.{key} must be a permutation of 0..{size - 1}")
    for key, arr, end in (("indptr", indptr, nnz), ("color_ptr", color_ptr, n)):
        if arr.shape[0] < 1 + (n > 0) or arr[0] != 0 or arr[-1] != end or np.any(np.diff(arr) < 0):
            raise ValueError(f"ordering.{key} must rise from 0 to {end}")
    if nnz and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"ordering.indices must lie in [0, {n})")
    lens = np.diff(indptr)
    prow = np.repeat(np.arange(n), lens)
    same_row = prow[1:] == prow[:-1]
    if np.any(indices[1:][same_row] <= indices[:-1][same_row]):
        raise ValueError("ordering.indices must be sorted within each row")
    colour = np.repeat(np.arange(color_ptr.shape[0] - 1), np.diff(color_ptr))
    off = indices != prow
    if np.any(colour[indices[off]] == colour[prow[off]]):
        raise ValueError("ordering has two coupled rows in one colour (not a multicolour ordering)")
    len0 = np.empty(n, dtype=np.int64)
    len0[perm] = lens
    indptr0 = np.zeros(n + 1, dtype=idx_t)
    np.cumsum(len0, out=indptr0[1:])
    if not np.array_equal(np.repeat(np.arange(n), len0)[source], perm[prow]):
        raise ValueError("ordering.source does not map each row's entries to that row")
    indices0 = np.empty(nnz, dtype=idx_t)
    indices0[source] = perm[indices]
    return indptr0, indices0


def multicolor_ordering(A: MatrixLike) -> MulticolorOrdering:
    """Greedy multicolour ordering of a square sparse matrix's pattern.

    Rows of one colour share no stored entry (in ``A`` or ``A.T``), so an
    SOR sweep or an SSOR triangular solve updates them all at once in
    parallel. The ordering depends on the pattern only: compute it once and
    pass it as ``ordering=`` to every solve with the same pattern.

    Parameters
    ----------
    A : sparse matrix, shape (n, n)

    Returns
    -------
    MulticolorOrdering

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from itercore.linalg import multicolor_ordering
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(4, 4))
    >>> multicolor_ordering(T).n_colors
    2
    """
    M = as_csr(A, "A", square=True)
    perm, color_ptr, indptr, indices, source = _core.linalg.multicolor_plan(M.shape[0], M.indptr, M.indices)
    return MulticolorOrdering(perm, color_ptr, indptr, indices, source, M.shape, int(M.nnz))


def _check_ordering(plan, M):
    """Raise ``ValueError``/``TypeError`` naming ``ordering`` unless ``plan`` is
    a multicolour plan of the canonical CSR ``M``'s pattern: every array of
    the index type, in range and consistent (O(nnz), checked at every use:
    a ``MulticolorOrdering`` can be built or altered by hand, and the cores
    index with it unchecked)."""
    n, nnz = M.shape[0], int(M.nnz)
    if not plan._matches(M):
        raise ValueError("ordering was computed for a different sparsity pattern than A")
    if plan._intact():  # checked at construction: compare the pattern only (two sequential passes)
        indptr0, indices0 = plan._pattern
    else:  # arrays made writeable again (a deepcopy, an unpickled or hand-edited plan): check it all
        idx_t = M.indptr.dtype
        for key, length in (("perm", n), ("indptr", n + 1), ("indices", nnz), ("source", nnz), ("color_ptr", None)):
            arr = getattr(plan, key)
            if not isinstance(arr, np.ndarray) or arr.dtype != idx_t or arr.ndim != 1 or not arr.flags.c_contiguous:
                raise TypeError(f"ordering.{key} must be a 1-D C-contiguous {idx_t} array (that of A's indices)")
            if length is not None and arr.shape[0] != length:
                raise ValueError(f"ordering.{key} must have {length} entries for A {M.shape}, got {arr.shape[0]}")
        # the plan on its own (permutations, ranges, sorted rows, colouring), then the pattern it was made for
        indptr0, indices0 = _plan_pattern(plan)
    if not (np.array_equal(indptr0, M.indptr) and np.array_equal(indices0, M.indices)):
        raise ValueError("ordering was computed for a different sparsity pattern than A")


class _System:
    """A validated square system in the layout a core needs (natural or colour order)."""

    def __init__(self, A, ordering, n_threads, dtype=None):
        M = as_csr(A, "A", square=True, dtype=dtype)
        self.M = M
        self.n = M.shape[0]
        self.n_threads = check_n_threads(n_threads)
        self.plan = self._resolve_ordering(ordering, M)
        if self.plan is None:
            self.indptr, self.indices, self.data = M.indptr, M.indices, M.data
            self.color_ptr = np.zeros(0, dtype=M.indptr.dtype)
        else:
            self.indptr, self.indices = self.plan.indptr, self.plan.indices
            self.data = np.ascontiguousarray(M.data[self.plan.source])
            self.color_ptr = self.plan.color_ptr
        self.inv_diag, self.diag_pos, bad = _core.linalg.diagonal(self.n, self.n, self.indptr, self.indices, self.data)
        if bad < 0 and not np.isfinite(self.inv_diag).all():  # a denormal diagonal: 1 / d overflows
            bad = int(np.flatnonzero(~np.isfinite(self.inv_diag))[0])
        if bad >= 0:
            row = int(bad if self.plan is None else self.plan.perm[bad])
            d = M[[row], :][:, [row]].toarray()[0, 0] if row < self.n else 0.0
            raise ValueError(f"A has a zero, non-finite or tiny (its reciprocal overflows) diagonal entry in row "
                             f"{row} (A[{row}, {row}] = {d})")

    @property
    def args(self):
        """The leading arguments of every ``_core.linalg`` relaxation core."""
        return (self.n, self.indptr, self.indices, self.data, self.inv_diag, self.diag_pos, self.color_ptr)

    def _resolve_ordering(self, ordering, M):
        if isinstance(ordering, MulticolorOrdering):
            _check_ordering(ordering, M)
            return ordering
        check_choice(ordering, "ordering", _ORDERINGS)
        if ordering == "natural":
            return None
        if ordering == "auto" and (M.nnz < _MULTICOLOR_MIN_NNZ
                                   or (self.n_threads or int(_core._default_threads())) < 2):
            return None
        return multicolor_ordering(M)

    def to_internal(self, v):
        return v if self.plan is None else np.ascontiguousarray(v[self.plan.perm])

    def to_external(self, v, out):
        if self.plan is None:
            if out is not v:
                out[...] = v
        else:
            out[self.plan.perm] = v
        return out

    def unpermute(self):
        """For callbacks: a copy in colour order -> a new array in the caller's order."""
        if self.plan is None:
            return None
        return lambda v: self.to_external(v, np.empty_like(v))


def _prepare_vectors(system, b, x0):
    n = system.n
    b = as_float_array(b, "b", ndim=1)
    if b.shape != (n,):
        raise ValueError(f"b must have shape ({n},) to match A {system.M.shape}, got {b.shape}")
    dtype = result_dtype(system.M.dtype, b.dtype)
    if x0 is None:
        x = np.zeros(n, dtype=dtype)
    else:
        x = as_float_array(x0, "x0", ndim=1, dtype=dtype, copy=True)
        if x.shape != (n,):
            raise ValueError(f"x0 must have shape ({n},) to match A {system.M.shape}, got {x.shape}")
    return np.ascontiguousarray(b, dtype=dtype), x


def _solve(method, A, b, *, x0=None, ordering="auto", n_threads=None, callback=None, options=None,
           history=False, stacklevel=2, **keywords):
    """The one pipeline step of :func:`sor` and :func:`ssor_pcg` (and of the
    omega tuners): validate, fill and check the options struct, run the core
    in the system's row order, warn when the tolerance was missed.

    ``method`` is ``"sor"`` or ``"ssor_pcg"``; ``keywords`` are its public
    struct keywords (``omega``, ``rtol``, ...; ``None`` keeps the C++
    default); ``history`` keeps the residual of every check; ``stacklevel``
    as for :func:`~itercore._pipeline.warn_not_converged`, counted from the
    caller of this function. Returns ``(x, res)`` with ``res`` the core's
    result dict: int ``status``, ``nit``, ``residual``, ``history``.
    """
    options_cls, core, public = _SOLVERS[method]
    for key in keywords:
        if key not in public:
            raise TypeError(f"{method}() got an unexpected keyword argument {key!r}")
    if keywords.get("maxiter") is not None:  # None: the struct's automatic budget
        check_int(keywords["maxiter"], "maxiter", lower=0)
    # SSOR of a multicoloured matrix is a much weaker preconditioner (red-black
    # SSOR-PCG needs ~10x the iterations on 2-D Poisson): never chosen by "auto".
    if method == "ssor_pcg" and isinstance(ordering, str) and ordering == "auto":
        ordering = "natural"
    system = _System(A, ordering, n_threads)
    b, x = _prepare_vectors(system, b, x0)
    if system.data.dtype != b.dtype:  # float32 A with a float64 b: compute in float64
        system = _System(system.M.astype(b.dtype), system.plan or "natural", n_threads)
    # None keeps the C++ default (0 threads: OpenMP's) and saves a field write per call; (x, info) has no
    # residual history for the user: only the step's callers (tests) ask for it
    keywords["n_threads"] = system.n_threads or None
    opts = _pipeline.make_options(options_cls, keywords, options, derived=dict(history=bool(history)))
    hook = _pipeline.linear_callback(check_callback(callback), system.unpermute())
    xi = system.to_internal(x)
    res = core(*system.args, system.to_internal(b), xi, opts, hook)
    system.to_external(xi, x)
    _pipeline.warn_linear(f"itercore.linalg.{method}", res, b, opts.rtol, opts.atol, stacklevel=stacklevel + 1)
    return x, res


def sor(A: MatrixLike, b: ArrayLike, *, x0: ArrayLike | None = None, omega: float = _SOR.omega,
        sweep: str = _SOR.sweep.name, rtol: float = _SOR.rtol, atol: float = _SOR.atol, maxiter: int | None = None,
        callback: CallbackLike = None, n_threads: int | None = None, ordering: str | MulticolorOrdering = "auto",
        options: OptionsLike = None) -> tuple[FloatArray, int]:
    """Solve ``A x = b`` by successive over-relaxation (SOR / SSOR).

    Each sweep updates ``x[i] += omega * (b[i] - A[i] @ x) / A[i, i]`` row by
    row: ``omega = 1`` is Gauss-Seidel, ``omega > 1`` over-relaxes. Converges
    for symmetric positive definite ``A`` and ``0 < omega < 2``.

    Parameters
    ----------
    A : sparse matrix or ndarray, shape (n, n)
        Square, with a non-zero diagonal. CSR with int32 or int64 indices and
        float32 or float64 values is used without copying.
    b : ndarray, shape (n,)
    x0 : ndarray, shape (n,), optional
        Starting guess (default zeros). Not modified.
    omega : float
        Relaxation parameter in (0, 2) (default 1). For a sequence of related
        systems, :class:`OmegaTuner` learns a good value.
    sweep : {"forward", "backward", "symmetric"}
        Row order; "symmetric" (SSOR) is a forward then a backward sweep,
        both with ``omega``, and counts as one iteration.
    rtol, atol : float
        Stop when ``norm(b - A @ x) <= max(rtol * norm(b), atol)`` (default
        ``rtol=1e-8``, ``atol=0``).
    maxiter : int, optional
        Maximum sweeps (default ``max(10 * n, 10000)``).
    callback : callable, optional
        ``callback(xk)`` after every sweep with a copy of the iterate (in the
        order of ``A``'s rows for a multicolour ordering too); raise
        ``StopIteration`` to stop.
    n_threads : int, optional
        Threads for the multicolour sweeps and the residuals (default:
        OpenMP's). Natural-order sweeps are serial by nature.
    ordering : {"auto", "natural", "multicolor"} or MulticolorOrdering
        Natural order is serial; a multicolour ordering sweeps each colour
        in parallel (different iterates, same solution). "auto" uses
        multicolour for large matrices when several threads are available.
    options : dict, optional
        Expert fields of ``itercore._core.linalg.SorOptions``:
        ``check_every`` (default 10), the largest gap in sweeps between
        residual checks (a residual costs as much as a sweep; checks are
        placed by the observed convergence rate, every sweep near the
        target; the residual is always checked at the end).

    Returns
    -------
    x : ndarray, shape (n,)
        float32 when ``A`` and ``b`` are float32, else float64.
    info : int
        0 converged; > 0 sweeps done without converging (a
        :class:`~itercore.ConvergenceWarning` says the residual reached);
        < 0 NaN/inf appeared (the last finite iterate is returned).

    Raises
    ------
    ValueError
        Non-square ``A``, mismatched shapes, a zero or non-finite diagonal
        entry (the row is named), ``omega`` outside (0, 2), non-finite input.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore.linalg import sor
    >>> A = sp.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(50, 50), format="csr")
    >>> b = np.ones(50)
    >>> x, info = sor(A, b, omega=1.2)
    >>> info, bool(np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b))
    (0, True)
    """
    x, res = _solve("sor", A, b, x0=x0, ordering=ordering, n_threads=n_threads, callback=callback, options=options,
                    omega=omega, sweep=sweep, rtol=rtol, atol=atol, maxiter=maxiter)
    return x, _pipeline.linear_info(res["status"], res["nit"])


def ssor_pcg(A: MatrixLike, b: ArrayLike, *, x0: ArrayLike | None = None, omega: float = _PCG.omega,
             rtol: float = _PCG.rtol, atol: float = _PCG.atol, maxiter: int | None = None,
             callback: CallbackLike = None, n_threads: int | None = None,
             ordering: str | MulticolorOrdering = "natural", options: OptionsLike = None) -> tuple[FloatArray, int]:
    """Solve a symmetric positive definite ``A x = b`` by CG preconditioned with SSOR.

    The preconditioner is ``M = (D + omega L) D^-1 (D + omega U) / (omega (2 - omega))``
    (``D``, ``L``, ``U`` the diagonal and strict triangles of ``A``). By
    Eisenstat's trick an iteration costs about one pass over ``A`` (a forward
    and a backward triangular sweep) rather than a product with ``A`` plus
    two sweeps; the iterates are those of PCG with ``M``.

    Parameters
    ----------
    A : sparse matrix or ndarray, shape (n, n)
        Symmetric positive definite.
    b : ndarray, shape (n,)
    x0 : ndarray, shape (n,), optional
        Starting guess (default zeros). Not modified.
    omega : float
        SSOR parameter in (0, 2); 1 (the default) gives symmetric Gauss-Seidel.
    rtol, atol : float
        Stop when ``norm(b - A @ x) <= max(rtol * norm(b), atol)`` (default
        ``rtol=1e-8``, ``atol=0``; the true residual is recomputed on
        convergence of the recursive one).
    maxiter : int, optional
        Maximum CG iterations (default ``10 * n``).
    callback : callable, optional
        ``callback(xk)`` after each iteration with a copy of the iterate;
        raise ``StopIteration`` to stop.
    n_threads : int, optional
        Threads for the vector operations and, with a multicolour ordering,
        the triangular sweeps (default: OpenMP's).
    ordering : {"natural", "auto", "multicolor"} or MulticolorOrdering
        Natural order (also what "auto" means here) is serial. With a
        multicolour ordering the triangular sweeps run in parallel, but the
        preconditioner is then SSOR of the reordered matrix, which is much
        weaker (about 10x the iterations on 2-D Poisson).
    options : dict, optional
        Expert fields of ``itercore._core.linalg.SsorPcgOptions`` (none
        beyond the keywords today).

    Returns
    -------
    x : ndarray
    info : int
        0 converged, > 0 iterations without convergence, < 0 breakdown
        (A or M not SPD) or NaN/inf.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore.linalg import ssor_pcg
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30))
    >>> A = (sp.kron(sp.identity(30), T) + sp.kron(T, sp.identity(30))).tocsr()
    >>> x, info = ssor_pcg(A, np.ones(900), omega=1.5)
    >>> info
    0
    """
    x, res = _solve("ssor_pcg", A, b, x0=x0, ordering=ordering, n_threads=n_threads, callback=callback,
                    options=options, omega=omega, rtol=rtol, atol=atol, maxiter=maxiter)
    return x, _pipeline.linear_info(res["status"], res["nit"])


def ssor_preconditioner(A: MatrixLike, *, omega: float = _PCG.omega, n_threads: int | None = None
                        ) -> spla.LinearOperator:
    """The SSOR preconditioner of ``A`` as a ``LinearOperator`` applying ``M^-1``.

    Use it as ``M=`` in ``scipy.sparse.linalg.cg`` (or any Krylov solver):
    ``M = (D + omega L) D^-1 (D + omega U) / (omega (2 - omega))`` is
    symmetric positive definite when ``A`` is and ``0 < omega < 2``.

    Parameters
    ----------
    A : sparse matrix or ndarray, shape (n, n)
    omega : float
        In (0, 2); default 1.
    n_threads : int, optional
        Threads for the final scaling (the natural-order triangular solves
        are serial).

    Returns
    -------
    scipy.sparse.linalg.LinearOperator
        Its ``matvec`` raises ``ValueError`` for a vector holding NaN or
        inf and ``FloatingPointError`` if the result overflows (never a
        silent NaN).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from scipy.sparse.linalg import cg
    >>> from itercore.linalg import ssor_preconditioner
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30))
    >>> A = (sp.kron(sp.identity(30), T) + sp.kron(T, sp.identity(30))).tocsr()
    >>> x, info = cg(A, np.ones(900), M=ssor_preconditioner(A, omega=1.5), rtol=1e-8)
    >>> info
    0
    """
    system = _System(A, "natural", n_threads)
    opts = _pipeline.make_options(_core.linalg.SsorPcgOptions, dict(omega=omega, n_threads=system.n_threads))
    dtype = system.data.dtype
    args = system.args

    def apply(r):
        r = np.ascontiguousarray(np.ravel(r), dtype=dtype)
        if r.shape != (system.n,):
            raise ValueError(f"the vector given to the SSOR preconditioner must have shape ({system.n},), "
                             f"got {r.shape}")
        if not np.isfinite(r).all():
            raise ValueError("the vector given to the SSOR preconditioner must contain only finite values "
                             "(found NaN or inf)")
        z = _core.linalg.ssor_apply(*args, r, opts)
        if not np.isfinite(z).all():
            raise FloatingPointError("the SSOR preconditioner overflowed (its result holds inf or NaN)")
        return z

    return spla.LinearOperator(system.M.shape, matvec=apply, rmatvec=apply, dtype=dtype)


def sor_sweep(A: MatrixLike, x: FloatArray, b: ArrayLike | None = None, *, omega: float = _SOR.omega,
              sweep: str = _SOR.sweep.name, iterations: int = 1, ordering: str | MulticolorOrdering = "natural",
              n_threads: int | None = None) -> None:
    """Apply SOR sweeps to ``x`` in place (a smoother, as in ``pyamg.relaxation``).

    No residual is computed: this is the building block for multigrid
    smoothing and for timing sweeps. Use :func:`sor` to solve, and
    :class:`SORSmoother` to sweep the same ``A`` many times (it validates and
    prepares ``A`` once instead of on every call).

    Parameters
    ----------
    A : sparse matrix, shape (n, n)
    x : ndarray, shape (n,)
        Updated in place; must be C-contiguous and of A's float dtype.
    b : ndarray, shape (n,), optional
        Right-hand side; ``None`` means zeros (smoothing the error equation).
        Positional, as in PyAMG's ``relaxation(A, x, b)``.
    omega : float
        In (0, 2); default 1.
    sweep : {"forward", "backward", "symmetric"}
    iterations : int
        Number of sweeps.
    ordering : {"natural", "multicolor"} or MulticolorOrdering
    n_threads : int, optional
        Threads for multicolour sweeps (natural order is serial).

    Raises
    ------
    FloatingPointError
        The sweeps overflowed (``x`` then holds inf or NaN): never silent.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore.linalg import sor_sweep
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(5, 5), format="csr")
    >>> x = np.zeros(5)
    >>> sor_sweep(A, x, np.ones(5))
    >>> x
    array([0.5    , 0.75   , 0.875  , 0.9375 , 0.96875])
    """
    SORSmoother(A, omega=omega, sweep=sweep, ordering=ordering, n_threads=n_threads)(x, b, iterations=iterations)


class SORSmoother:
    """SOR sweeps on one matrix, validated and prepared once.

    For multigrid smoothing and other repeated sweeps with the same ``A``:
    the checks of ``A``, its inverse diagonal and (for a multicolour
    ordering) the permuted copy are made here once, so each call costs only
    the sweeps and O(n) checks of ``x`` and ``b``. ``A`` must not be
    modified afterwards (build a new smoother instead).

    Parameters
    ----------
    A : sparse matrix, shape (n, n)
    omega : float
        In (0, 2); default 1.
    sweep : {"forward", "backward", "symmetric"}
    ordering : {"natural", "multicolor"} or MulticolorOrdering
    n_threads : int, optional
        Threads for multicolour sweeps (natural order is serial).

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore.linalg import SORSmoother
    >>> A = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(5, 5), format="csr")
    >>> smooth = SORSmoother(A, omega=1.0)
    >>> x = np.zeros(5)
    >>> smooth(x, np.ones(5), iterations=2)
    >>> np.round(x, 4)
    array([0.875 , 1.375 , 1.6562, 1.8125, 1.4062])
    """

    def __init__(self, A: MatrixLike, *, omega: float = _SOR.omega, sweep: str = _SOR.sweep.name,
                 ordering: str | MulticolorOrdering = "natural", n_threads: int | None = None) -> None:
        self._system = _System(A, ordering, n_threads)
        self._options = _pipeline.make_options(_core.linalg.SorOptions,
                                               dict(omega=omega, sweep=sweep, n_threads=self._system.n_threads))
        self.omega = self._options.omega
        self.sweep = self._options.sweep.name

    @property
    def shape(self) -> tuple[int, int]:
        return self._system.M.shape

    def __call__(self, x: FloatArray, b: ArrayLike | None = None, *, iterations: int = 1) -> None:
        """Apply ``iterations`` sweeps to ``x`` in place for the right-hand side
        ``b`` (``None``: zeros)."""
        iterations = check_int(iterations, "iterations", lower=0)
        system = self._system
        if not isinstance(x, np.ndarray):
            raise TypeError("x must be a numpy.ndarray (it is updated in place)")
        dtype = system.data.dtype
        if x.dtype != dtype or not x.flags.c_contiguous or not x.flags.writeable:
            raise TypeError(f"x must be a writeable C-contiguous {dtype} array to be updated in place, "
                            f"got {x.dtype} (contiguous={x.flags.c_contiguous}, writeable={x.flags.writeable})")
        if x.shape != (system.n,):
            raise ValueError(f"x must have shape ({system.n},), got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("x must contain only finite values (found NaN or inf)")
        if b is None:
            b = np.zeros(system.n, dtype=dtype)
        else:
            b = as_float_array(b, "b", ndim=1, shape=(system.n,), dtype=dtype)
        bi, xi = system.to_internal(b), system.to_internal(x)
        _core.linalg.sor_sweep(*system.args, bi, xi, self._options, iterations)
        if system.plan is not None:
            system.to_external(xi, x)
        if not np.isfinite(x).all():  # never a silent inf/NaN (O(n), a sweep is O(nnz))
            raise FloatingPointError(f"the SOR sweeps overflowed: x now holds inf or NaN (after {iterations} "
                                     "sweeps; A is not diagonally dominant or omega is too large for it)")


#: The post-smoothing sweep that makes a V-cycle symmetric with a given pre-smoothing sweep.
_POST_SWEEP = {"forward": "backward", "backward": "forward", "symmetric": "symmetric"}


def pyamg_smoothers(ml: Any, *, omega: float = _SOR.omega, sweep: str = "symmetric", iterations: int = 1,
                    ordering: str = "natural", n_threads: int | None = None) -> Any:
    """Install :class:`SORSmoother` as the pre- and post-smoother on every level of a PyAMG hierarchy.

    One call replaces PyAMG's smoothers (``pyamg.relaxation``) on every level
    but the coarsest (which PyAMG solves directly) of a
    ``pyamg.MultilevelSolver``, in place: each level's matrix is validated
    and prepared once, and each smoothing step is one call into itercore's
    C++ sweep. The cycle stays symmetric (pre ``sweep``, post the reverse
    sweep: ``"symmetric"`` both, or ``"forward"`` then ``"backward"``), so
    ``ml.aspreconditioner()`` may be used with CG. PyAMG is not imported
    here (it stays optional): ``ml`` is used through its ``levels``.

    With ``omega=1``, ``sweep="symmetric"`` and the natural ordering the
    sweep is PyAMG's ``("gauss_seidel", {"sweep": "symmetric"})`` (the
    iterates agree to rounding). With ``omega != 1`` it is the textbook
    SOR/SSOR on every level, which PyAMG 5.4's ``"sor"`` is only on CSR
    levels with a forward or backward sweep (its symmetric sweep and its
    sweeps of BSR levels, e.g. smoothed aggregation's coarse ones, ignore
    ``omega``). ``ordering="multicolor"`` sweeps colour by
    colour in parallel (a different smoother: more V-cycles, each faster on
    many threads; see ``docs/coming_from.md``).

    Parameters
    ----------
    ml : pyamg.MultilevelSolver
        Changed in place (its levels' ``presmoother`` and ``postsmoother``).
    omega : float
        Relaxation weight in (0, 2); default 1 (Gauss-Seidel).
    sweep : {"symmetric", "forward", "backward"}
        Pre-smoothing sweep; post-smoothing uses the reverse one.
    iterations : int
        Sweeps per smoothing step (PyAMG's ``iterations``).
    ordering : {"natural", "multicolor"}
        Sweep order on every level.
    n_threads : int, optional
        Threads of the multicolour sweeps.

    Returns
    -------
    ml : pyamg.MultilevelSolver
        The same object, for chaining.

    Examples
    --------
    >>> import numpy as np, pyamg
    >>> from itercore.linalg import pyamg_smoothers
    >>> A = pyamg.gallery.poisson((200, 200), format="csr")
    >>> ml = pyamg_smoothers(pyamg.smoothed_aggregation_solver(A))
    >>> b = np.ones(A.shape[0])
    >>> x = ml.solve(b, tol=1e-8, accel="cg")
    >>> bool(np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b))
    True
    """
    levels = getattr(ml, "levels", None)
    if not isinstance(levels, (list, tuple)) or not levels or not all(hasattr(lvl, "A") for lvl in levels):
        raise TypeError(f"ml must be a pyamg.MultilevelSolver (with levels holding A), got {type(ml).__name__}")
    sweep = check_choice(sweep, "sweep", tuple(_POST_SWEEP))
    iterations = check_int(iterations, "iterations", lower=1)
    for lvl in levels[:-1]:
        pre = SORSmoother(lvl.A, omega=omega, sweep=sweep, ordering=ordering, n_threads=n_threads)
        post = pre if _POST_SWEEP[sweep] == sweep else SORSmoother(
            lvl.A, omega=omega, sweep=_POST_SWEEP[sweep], ordering=ordering, n_threads=n_threads)
        lvl.presmoother = _pyamg_step(pre, iterations)
        lvl.postsmoother = _pyamg_step(post, iterations)
    ml.symmetric_smoothing = True
    return ml


def _pyamg_step(smoother, iterations):
    """A PyAMG smoothing function ``f(A, x, b)`` (``x`` updated in place) over a prepared smoother."""

    def step(A, x, b):
        smoother(x, b, iterations=iterations)

    step.smoother = smoother
    return step
