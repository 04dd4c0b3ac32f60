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

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse.linalg as spla

from . import _core
from ._kernels import csr_args
from ._sketch import sketch_solve
from ._tuners import ContextualOmegaTuner, OmegaTuner
from ._validation import (
    as_csr,
    as_float_array,
    check_callback,
    check_choice,
    check_int,
    check_n_threads,
    check_scalar,
    result_dtype,
)
from ._warnings import ConvergenceWarning

__all__ = [
    "sor",
    "ssor_pcg",
    "ssor_preconditioner",
    "sor_sweep",
    "SORSmoother",
    "multicolor_ordering",
    "MulticolorOrdering",
    "OmegaTuner",
    "ContextualOmegaTuner",
    "sketch_solve",
]

_SWEEPS = {"forward": 0, "backward": 1, "symmetric": 2}
_ORDERINGS = ("auto", "natural", "multicolor")
#: Stored entries from which "auto" ordering switches to multicolour when
#: several threads are available (below it, serial natural sweeps are faster).
_MULTICOLOR_MIN_NNZ = 200_000


@dataclass(frozen=True)
class MulticolorOrdering:
    """A multicolour ordering of a square sparsity pattern, reusable for every
    matrix with that pattern (see :func:`multicolor_ordering`).

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

    @property
    def n_colors(self):
        """Number of colour classes."""
        return len(self.color_ptr) - 1

    def _matches(self, M):
        return M.shape == self.shape and M.nnz == self._pattern_nnz and self.indptr.dtype == M.indptr.dtype


def multicolor_ordering(A):
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
    perm, color_ptr, indptr, indices, source = _core.linalg_multicolor_plan(M.shape[0], M.indptr, M.indices)
    return MulticolorOrdering(perm, color_ptr, indptr, indices, source, M.shape, int(M.nnz))


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
        self.inv_diag, self.diag_pos, bad = _core.linalg_diagonal(*self.args)
        if bad >= 0:
            row = int(bad if self.plan is None else self.plan.perm[bad])
            d = M[[row], :][:, [row]].toarray()[0, 0] if row < self.n else 0.0
            raise ValueError(f"A has a zero or non-finite diagonal entry in row {row} (A[{row}, {row}] = {d})")

    @property
    def args(self):
        return (self.n, self.n, self.indptr, self.indices, self.data)

    def _resolve_ordering(self, ordering, M):
        if isinstance(ordering, MulticolorOrdering):
            if not ordering._matches(M):
                raise ValueError("ordering was computed for a different sparsity pattern than A")
            return ordering
        check_choice(ordering, "ordering", _ORDERINGS)
        if ordering == "natural":
            return None
        if ordering == "auto":
            threads = self.n_threads or int(_core._default_threads())
            if threads < 2 or M.nnz < _MULTICOLOR_MIN_NNZ:
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


def _check_common(rtol, atol, maxiter, default_maxiter, callback):
    rtol = check_scalar(rtol, "rtol", lower=0.0)
    atol = check_scalar(atol, "atol", lower=0.0)
    maxiter = default_maxiter if maxiter is None else check_int(maxiter, "maxiter", lower=0)
    return rtol, atol, maxiter, check_callback(callback)


def _check_omega(omega):
    return check_scalar(omega, "omega", lower=0.0, upper=2.0, lower_inclusive=False, upper_inclusive=False)


def _wrap_callback(callback, system):
    if callback is None:
        return None
    if system.plan is None:
        return callback
    out = np.empty(system.n, dtype=system.data.dtype)
    return lambda xp: callback(system.to_external(xp, out))


def _finish(name, res, bnorm, rtol, atol, nit):
    """``info`` for scipy-style returns, warning when the tolerance was missed."""
    status = res["status"]
    if status in ("converged",):
        return 0
    if status == "callback_stop":
        return max(nit, 1)
    rel = res["residual"] / bnorm if bnorm > 0 else res["residual"]
    target = max(rtol * bnorm, atol)
    if status == "max_iter":
        msg = (f"{name} did not converge in {nit} iterations: relative residual {rel:.3e} "
               f"(residual {res['residual']:.3e} > target {target:.3e}, rtol={rtol:g}, atol={atol:g})")
        info = max(nit, 1)
    elif status == "non_finite":
        msg = (f"{name} stopped after {nit} iterations: NaN or inf appeared (diverging; is omega in (0, 2) "
               f"and A suitable?); returning the last finite iterate, relative residual {rel:.3e}")
        info = -1
    else:  # breakdown
        msg = (f"{name} broke down after {nit} iterations (A or the preconditioner is not symmetric positive "
               f"definite, or the residual stagnated at precision): relative residual {rel:.3e}, rtol={rtol:g}")
        info = -1
    warnings.warn(msg, ConvergenceWarning, stacklevel=3)
    return info


def _solve(name, core, A, b, x0, ordering, n_threads, rtol, atol, maxiter, default_maxiter, callback,
           core_args):
    """Validate, run ``core(system args, inv_diag, diag_pos, b, x, *core_args(...))``
    in the system's row order, and return ``(x, info, details)``."""
    system = _System(A, ordering, n_threads)
    rtol, atol, maxiter, callback = _check_common(rtol, atol, maxiter, default_maxiter(system.n), callback)
    b, x = _prepare_vectors(system, b, x0)
    if system.data.dtype != b.dtype:  # float32 A with a float64 b: compute in float64
        system = _System(system.M.astype(b.dtype), system.plan or "natural", n_threads)
    bi, xi = system.to_internal(b), system.to_internal(x)
    res = core(*system.args, system.inv_diag, system.diag_pos, bi, xi,
               *core_args(rtol, atol, maxiter, system, _wrap_callback(callback, system)))
    system.to_external(xi, x)
    nit = int(res["iterations"])
    info = _finish(name, res, float(np.linalg.norm(b)), rtol, atol, nit)
    return x, info, dict(res, nit=nit)


def _sor(A, b, x0=None, *, omega=1.0, sweep="forward", rtol=1e-8, atol=0.0, maxiter=None, callback=None,
         n_threads=None, ordering="auto", check_every=10, record_history=False):
    """SOR returning ``(x, info, details)``; ``details`` has nit, residual, status, history."""
    omega = _check_omega(omega)
    check_choice(sweep, "sweep", tuple(_SWEEPS))
    check_every = check_int(check_every, "check_every", lower=1)
    return _solve(
        "sor", _core.linalg_sor, A, b, x0, ordering, n_threads, rtol, atol, maxiter,
        # SOR needs O(n) sweeps on a 2-D Poisson matrix, more when nearly singular.
        lambda n: max(10 * n, 10_000), callback,
        lambda rtol, atol, maxiter, system, cb: (omega, _SWEEPS[sweep], rtol, atol, maxiter, check_every,
                                                 system.color_ptr, system.n_threads, record_history, cb))


def sor(A, b, x0=None, *, omega=1.0, sweep="forward", rtol=1e-8, atol=0.0, maxiter=None, callback=None,
        n_threads=None, ordering="auto", check_every=10):
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
        Relaxation parameter in (0, 2). For a sequence of related systems,
        :class:`OmegaTuner` learns a good value.
    sweep : {"forward", "backward", "symmetric"}
        Row order; "symmetric" (SSOR) is a forward then a backward sweep,
        both with ``omega``, and counts as one iteration.
    rtol, atol : float
        Stop when ``norm(b - A @ x) <= max(rtol * norm(b), atol)``.
    maxiter : int, optional
        Maximum sweeps (default ``max(10 * n, 10000)``).
    callback : callable, optional
        ``callback(xk)`` after every sweep; raise ``StopIteration`` to stop.
    n_threads : int, optional
        Threads for multicolour sweeps and residuals (default: OpenMP's).
    ordering : {"auto", "natural", "multicolor"} or MulticolorOrdering
        Natural order is serial; a multicolour ordering sweeps each colour
        in parallel (different iterates, same solution). "auto" uses
        multicolour for large matrices when several threads are available.
    check_every : int
        Largest gap, in sweeps, between residual checks (a residual costs
        as much as a sweep; checks are placed by the observed convergence
        rate, every sweep near the target). The residual is always checked
        at the end.

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
    x, info, _ = _sor(A, b, x0, omega=omega, sweep=sweep, rtol=rtol, atol=atol, maxiter=maxiter,
                      callback=callback, n_threads=n_threads, ordering=ordering, check_every=check_every)
    return x, info


def _ssor_pcg(A, b, x0=None, *, omega=1.0, rtol=1e-8, atol=0.0, maxiter=None, callback=None, n_threads=None,
              ordering="natural", record_history=False):
    """SSOR-PCG returning ``(x, info, details)`` like :func:`_sor`."""
    omega = _check_omega(omega)
    # SSOR of a multicoloured matrix is a much weaker preconditioner (red-black
    # SSOR-PCG needs ~10x the iterations on 2-D Poisson): never chosen by "auto".
    return _solve(
        "ssor_pcg", _core.linalg_ssor_pcg, A, b, x0, "natural" if ordering == "auto" else ordering, n_threads,
        rtol, atol, maxiter, lambda n: 10 * n, callback,
        lambda rtol, atol, maxiter, system, cb: (omega, rtol, atol, maxiter, system.color_ptr, system.n_threads,
                                                 record_history, cb))


def ssor_pcg(A, b, x0=None, *, omega=1.0, rtol=1e-8, atol=0.0, maxiter=None, callback=None, n_threads=None,
             ordering="natural"):
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
    omega : float
        SSOR parameter in (0, 2); 1 gives symmetric Gauss-Seidel.
    rtol, atol : float
        Stop when ``norm(b - A @ x) <= max(rtol * norm(b), atol)`` (the true
        residual is recomputed on convergence of the recursive one).
    maxiter : int, optional
        Maximum CG iterations (default ``10 * n``).
    callback : callable, optional
        ``callback(xk)`` after each iteration; raise ``StopIteration`` to stop.
    n_threads : int, optional
    ordering : {"natural", "auto", "multicolor"} or MulticolorOrdering
        Natural order (also what "auto" means here) is serial. With a
        multicolour ordering the triangular sweeps run in parallel, but the
        preconditioner is then SSOR of the reordered matrix, which is much
        weaker (about 10x the iterations on 2-D Poisson).

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
    x, info, _ = _ssor_pcg(A, b, x0, omega=omega, rtol=rtol, atol=atol, maxiter=maxiter, callback=callback,
                           n_threads=n_threads, ordering=ordering)
    return x, info


def ssor_preconditioner(A, omega=1.0, *, n_threads=None):
    """The SSOR preconditioner of ``A`` as a ``LinearOperator`` applying ``M^-1``.

    Use it as ``M=`` in ``scipy.sparse.linalg.cg`` (or any Krylov solver):
    ``M = (D + omega L) D^-1 (D + omega U) / (omega (2 - omega))`` is
    symmetric positive definite when ``A`` is and ``0 < omega < 2``.

    Parameters
    ----------
    A : sparse matrix or ndarray, shape (n, n)
    omega : float
        In (0, 2).
    n_threads : int, optional

    Returns
    -------
    scipy.sparse.linalg.LinearOperator

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from scipy.sparse.linalg import cg
    >>> from itercore.linalg import ssor_preconditioner
    >>> T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(30, 30))
    >>> A = (sp.kron(sp.identity(30), T) + sp.kron(T, sp.identity(30))).tocsr()
    >>> x, info = cg(A, np.ones(900), M=ssor_preconditioner(A, 1.5), rtol=1e-8)
    >>> info
    0
    """
    omega = _check_omega(omega)
    system = _System(A, "natural", n_threads)
    dtype = system.data.dtype
    args = system.args
    empty = system.color_ptr

    def apply(r):
        r = np.ascontiguousarray(np.ravel(r), dtype=dtype)
        return _core.linalg_ssor_apply(*args, system.inv_diag, system.diag_pos, omega, r, empty, system.n_threads)

    return spla.LinearOperator(system.M.shape, matvec=apply, rmatvec=apply, dtype=dtype)


def sor_sweep(A, x, b, *, omega=1.0, sweep="forward", iterations=1, ordering="natural", n_threads=None):
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
    b : ndarray, shape (n,)
    omega : float
        In (0, 2).
    sweep : {"forward", "backward", "symmetric"}
    iterations : int
        Number of sweeps.
    ordering : {"natural", "multicolor"} or MulticolorOrdering
    n_threads : int, optional

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
    SORSmoother(A, omega=omega, sweep=sweep, ordering=ordering, n_threads=n_threads)(x, b, iterations)


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
        In (0, 2).
    sweep : {"forward", "backward", "symmetric"}
    ordering : {"natural", "multicolor"} or MulticolorOrdering
    n_threads : int, optional

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

    def __init__(self, A, *, omega=1.0, sweep="forward", ordering="natural", n_threads=None):
        self.omega = _check_omega(omega)
        self.sweep = check_choice(sweep, "sweep", tuple(_SWEEPS))
        self._system = _System(A, ordering, n_threads)

    @property
    def shape(self):
        return self._system.M.shape

    def __call__(self, x, b, iterations=1):
        """Apply ``iterations`` sweeps to ``x`` in place for the right-hand side ``b``."""
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
        b = as_float_array(b, "b", ndim=1, shape=(system.n,), dtype=dtype)
        bi, xi = system.to_internal(b), system.to_internal(x)
        _core.linalg_sor_sweep(*system.args, system.inv_diag, system.diag_pos, bi, xi, self.omega,
                               _SWEEPS[self.sweep], iterations, system.color_ptr, system.n_threads)
        if system.plan is not None:
            system.to_external(xi, x)
