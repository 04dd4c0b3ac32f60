"""Equality-constrained nonlinear optimization by adaptive inexact Newton on
an exact augmented Lagrangian with randomized iterative sketching.

Reference: Hong, Na, Mahoney, Kolar, "Constrained Optimization via Exact
Augmented Lagrangian and Randomized Iterative Sketching", ICML 2023.

The Newton loop runs in Python because every iteration calls the user's
functions; the linear algebra of a step (KKT assembly for sparse problems,
the sketched or direct KKT solve, the adaptive accuracy test, the
merit-descent test and the penalty updates) runs in C++ with the GIL
released (``cpp/include/itercore/optimize/``).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, NonlinearConstraint, OptimizeResult
from scipy.sparse.linalg import LinearOperator

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

__all__ = ["minimize"]

_METHODS = ("eal-sketch", "eal-direct")
_SKETCHES = {"kaczmarz": 0, "gaussian": 1, "count": 2}
_DEFAULTS = {
    "sketch": "kaczmarz",  # "kaczmarz" | "gaussian" | "count"
    "block_size": 1,
    "sketch_maxiter": None,  # per Newton step; default 200 * (n + m), at least 20000
    "fallback": True,  # direct KKT solve when the sketch misses its accuracy target in budget
    "eta1": 1.0,
    "eta2": 0.1,
    "nu": 1.5,
    "beta": 0.1,  # Armijo constant
    "theta": 0.5,  # accuracy condition constant
    "zeta": 0.5,  # accuracy sharpening exponent
    "max_backtracks": 40,
    "max_penalty_updates": 60,
    "sparse": None,  # None: sparse when the Jacobian or the Hessian is sparse
    "n_threads": None,
    "bfgs_max_n": 3000,  # largest n for the dense BFGS matrix when hess=None
}

_MESSAGES = {
    0: "KKT residual below tol",
    1: "maximum number of iterations reached",
    2: "line search on the augmented Lagrangian failed",
    3: "singular KKT matrix (rank-deficient constraint Jacobian at the current point?)",
    4: "non-finite values in the functions or the step",
    5: "stopped by the callback",
    6: "merit descent test could not be met by penalty updates",
}


# --- problem description -------------------------------------------------------

class _Constraint:
    """One block of equality constraints c(x) = 0 with its derivatives."""

    def __init__(self, fun, jac, hess, linear_matrix=None):
        self.fun, self.jac, self.hess, self.A = fun, jac, hess, linear_matrix


def _parse_constraints(constraints):
    if constraints is None:
        raise TypeError("constraints is required (equality constraints); use scipy.optimize.minimize "
                        "for unconstrained problems")
    if isinstance(constraints, (dict, LinearConstraint, NonlinearConstraint)):
        constraints = [constraints]
    try:
        items = list(constraints)
    except TypeError:
        raise TypeError("constraints must be a dict, a LinearConstraint, a NonlinearConstraint or a list "
                        f"of them, got {type(constraints).__name__}") from None
    if not items:
        raise ValueError("constraints must not be empty (only equality-constrained problems are supported)")
    out = []
    for i, con in enumerate(items):
        name = f"constraints[{i}]"
        if isinstance(con, dict):
            ctype = con.get("type")
            if ctype != "eq":
                raise ValueError(f"{name} has type {ctype!r}: only equality constraints ('eq') are supported")
            fun, jac = con.get("fun"), con.get("jac")
            if not callable(fun):
                raise TypeError(f"{name}['fun'] must be callable")
            if not callable(jac):
                raise TypeError(f"{name}['jac'] must be callable (an analytic constraint Jacobian)")
            args = tuple(con.get("args", ()))
            hess = con.get("hess")
            if hess is not None and not callable(hess):
                raise TypeError(f"{name}['hess'] must be callable (x, v) -> sum_i v_i Hess c_i(x)")
            out.append(_Constraint(
                (lambda x, f=fun, a=args: f(x, *a)),
                (lambda x, f=jac, a=args: f(x, *a)),
                None if hess is None else (lambda x, v, f=hess, a=args: f(x, v, *a))))
        elif isinstance(con, LinearConstraint):
            lb, ub = np.atleast_1d(np.asarray(con.lb, float)), np.atleast_1d(np.asarray(con.ub, float))
            if lb.shape != ub.shape or not np.array_equal(lb, ub):
                raise ValueError(f"{name}: only equality constraints (lb == ub) are supported")
            A = con.A if sp.issparse(con.A) else np.atleast_2d(np.asarray(con.A, float))
            rhs = np.broadcast_to(lb, (A.shape[0],)).copy()
            out.append(_Constraint(lambda x, A=A, r=rhs: np.asarray(A @ x).ravel() - r, lambda x, A=A: A,
                                   lambda x, v: None, linear_matrix=A))
        elif isinstance(con, NonlinearConstraint):
            lb, ub = np.atleast_1d(np.asarray(con.lb, float)), np.atleast_1d(np.asarray(con.ub, float))
            if lb.shape != ub.shape or not np.array_equal(lb, ub):
                raise ValueError(f"{name}: only equality constraints (lb == ub) are supported")
            if not callable(con.jac):
                raise TypeError(f"{name}.jac must be callable (finite-difference Jacobians are not supported)")
            hess = con.hess if callable(con.hess) and not hasattr(con.hess, "update") else None
            out.append(_Constraint(lambda x, f=con.fun, r=lb: np.atleast_1d(np.asarray(f(x), float)) - r,
                                   con.jac, hess))
        else:
            raise TypeError(f"{name} must be a dict, a LinearConstraint or a NonlinearConstraint, "
                            f"got {type(con).__name__}")
    return out


class _Problem:
    """Evaluates f, grad f, c, G and the Lagrangian Hessian; counts the calls."""

    def __init__(self, fun, jac, hess, cons, n, args):
        self.fun, self.jac, self.hess, self.cons, self.n, self.args = fun, jac, hess, cons, n, args
        self.nfev = self.njev = self.nhev = 0
        self.m = None

    def f(self, x):
        self.nfev += 1
        v = self.fun(x, *self.args)
        try:
            return float(np.asarray(v).reshape(()))
        except (TypeError, ValueError):
            raise ValueError(f"fun must return a scalar, got shape {np.shape(v)}") from None

    def g(self, x):
        self.njev += 1
        g = np.asarray(self.jac(x, *self.args), dtype=float)
        if sp.issparse(g) or g.shape != (self.n,):
            raise ValueError(f"jac must return an array of shape ({self.n},), got shape {np.shape(g)}")
        return g

    def c(self, x):
        parts = [np.atleast_1d(np.asarray(k.fun(x), dtype=float)).ravel() for k in self.cons]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def G(self, x, sizes):
        """The constraint Jacobian, dense or CSR, checking each block's shape."""
        blocks = []
        for i, (k, mi) in enumerate(zip(self.cons, sizes)):
            J = k.jac(x)
            if sp.issparse(J):
                J = sp.csr_matrix(J, dtype=float)
            else:
                J = np.asarray(J, dtype=float)
                if J.ndim == 1 and mi == 1:
                    J = J.reshape(1, -1)
            if J.shape != (mi, self.n):
                raise ValueError(f"the Jacobian of constraints[{i}] has shape {J.shape}, expected ({mi}, {self.n})")
            blocks.append(J)
        if any(sp.issparse(J) for J in blocks):
            return sp.vstack([sp.csr_matrix(J) for J in blocks], format="csr")
        return np.vstack(blocks) if len(blocks) > 1 else blocks[0]

    def H(self, x, lam, sizes):
        """Lagrangian Hessian: hess(x) + sum_i lam_i Hess c_i(x) (dense, CSR or None)."""
        self.nhev += 1
        H = self.hess(x, *self.args)
        if isinstance(H, LinearOperator) or (hasattr(H, "matvec") and not sp.issparse(H)
                                             and not isinstance(H, np.ndarray)):
            if H.shape != (self.n, self.n):
                raise ValueError(f"hess must return shape ({self.n}, {self.n}), got {H.shape}")
            H = H @ np.eye(self.n)  # materialised: sketching needs the rows of K
        elif sp.issparse(H):
            H = sp.csr_matrix(H, dtype=float)
        else:
            H = np.asarray(H, dtype=float)
        if H.shape != (self.n, self.n):
            raise ValueError(f"hess must return shape ({self.n}, {self.n}), got {H.shape}")
        off = 0
        for k, mi in zip(self.cons, sizes):
            if k.A is None:
                Hc = k.hess(x, lam[off:off + mi])
                if Hc is not None:
                    Hc = sp.csr_matrix(Hc, dtype=float) if sp.issparse(Hc) else np.asarray(Hc, dtype=float)
                    if Hc.shape != (self.n, self.n):
                        raise ValueError(f"the constraint Hessian of constraints has shape {Hc.shape}, "
                                         f"expected ({self.n}, {self.n})")
                    H = H + Hc
            off += mi
        if sp.issparse(H):
            return sp.csr_matrix(H)
        return np.asarray(H)


def _finite(*arrays):
    for a in arrays:
        if sp.issparse(a):
            if not np.isfinite(a.data).all():
                return False
        elif not np.all(np.isfinite(a)):
            return False
    return True


# --- the solver ---------------------------------------------------------------

def minimize(fun, x0, *, jac, hess=None, constraints, method="eal-sketch", tol=1e-8, maxiter=1000,
             options=None, callback=None, seed=None, args=()):
    """Minimize ``f(x)`` subject to equality constraints ``c(x) = 0``.

    Adaptive inexact Newton on the exact augmented Lagrangian
    ``L_eta = f + lam^T c + (eta1/2)||c||^2 + (eta2/2)||grad_x L||^2``
    (Hong, Na, Mahoney, Kolar, ICML 2023). Each iteration solves the KKT
    system ``[[B, G^T], [G, 0]] (dx, dlam) = -(grad_x L, c)`` inexactly by a
    randomized sketch-and-project solver (``method="eal-sketch"``), stopped
    by an adaptive accuracy condition that makes the step a descent
    direction of ``L_eta``, or exactly by LU (``method="eal-direct"``). When
    the descent test fails, ``eta1 <- nu^2 eta1`` and ``eta2 <- eta2 / nu``;
    an Armijo backtracking on ``L_eta`` picks the step length. The exact
    conditions are in ``docs/optimize.md``.

    Parameters
    ----------
    fun : callable
        ``fun(x, *args) -> float``.
    x0 : (n,) array_like
        Starting point.
    jac : callable
        ``jac(x, *args) -> (n,) array``, the gradient of ``fun``.
    hess : callable, optional
        ``hess(x, *args)``: the Hessian of ``fun`` as a dense array, a scipy
        sparse matrix or a ``LinearOperator`` (materialised with ``n``
        products, since sketching needs rows). ``B = Hess L + t I`` with
        ``t >= 0`` chosen so that ``B`` is positive definite on the null
        space of the constraint Jacobian. With ``hess=None``, or when a
        nonlinear constraint has no Hessian, a damped BFGS approximation of
        the Lagrangian Hessian is used (dense, ``n <= options["bfgs_max_n"]``)
        and the result's message says so.
    constraints : dict, LinearConstraint, NonlinearConstraint or list of them
        Equality constraints only: ``{"type": "eq", "fun": c, "jac": J,
        "hess": (x, v) -> sum_i v_i Hess c_i(x)}`` (``"hess"`` optional),
        or scipy's ``NonlinearConstraint``/``LinearConstraint`` with
        ``lb == ub``. Jacobians may be dense arrays or scipy sparse matrices.
    method : {"eal-sketch", "eal-direct"}
        How the KKT systems are solved.
    tol : float
        Stop when the KKT residual ``||(grad_x L, c)||_2 <= tol``.
    maxiter : int
        Newton iterations.
    options : dict, optional
        ``sketch`` ("kaczmarz", "gaussian", "count"), ``block_size``,
        ``sketch_maxiter`` (sketch iterations per Newton step),
        ``fallback`` (direct solve when the sketch misses its target; default
        True), ``eta1`` (1.0), ``eta2`` (0.1), ``nu`` (1.5), ``beta`` (0.1,
        Armijo), ``theta`` (0.5), ``zeta`` (0.5), ``max_backtracks``,
        ``max_penalty_updates``, ``sparse`` (force the sparse path),
        ``n_threads``, ``bfgs_max_n``.
    callback : callable, optional
        ``callback(intermediate_result)`` once per iteration with an
        ``OptimizeResult`` (``x``, ``fun``, ``multipliers``,
        ``kkt_residual``, ``nit``); raising ``StopIteration`` stops.
    seed : None, int or numpy.random.Generator
        Seeds the sketches (the same seed gives the same iterates).
    args : tuple
        Extra arguments of ``fun``, ``jac`` and ``hess``.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``multipliers`` (``lam`` with
        ``grad f + G^T lam = 0`` at a solution), ``kkt_residual``, ``nit``,
        ``nfev``, ``njev``, ``nhev``, ``status`` (0 converged, 1 maxiter,
        2 line search failure, 3 singular KKT matrix, 4 non-finite values,
        5 callback stop, 6 descent test failure), ``success``, ``message``,
        and ``sketch_iterations``, ``direct_solves``, ``penalty`` (eta1, eta2).

    Examples
    --------
    >>> import numpy as np
    >>> from itercore.optimize import minimize
    >>> res = minimize(lambda x: x @ x, [1.0, 2.0], jac=lambda x: 2 * x, hess=lambda x: 2 * np.eye(2),
    ...                constraints={"type": "eq", "fun": lambda x: [x[0] + x[1] - 1],
    ...                             "jac": lambda x: [[1.0, 1.0]]}, seed=0)
    >>> res.success, np.round(res.x, 8)
    (True, array([0.5, 0.5]))
    """
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    if not callable(jac):
        raise TypeError("jac must be callable (the gradient of fun)")
    if hess is not None and not callable(hess):
        raise TypeError(f"hess must be callable or None, got {type(hess).__name__}")
    x = as_float_array(x0, "x0", ndim=1, dtype=np.float64, copy=True)
    n = x.size
    method = check_choice(method, "method", _METHODS)
    tol = check_scalar(tol, "tol", lower=0.0, lower_inclusive=False)
    maxiter = check_int(maxiter, "maxiter", lower=0)
    check_callback(callback)
    opts = dict(_DEFAULTS)
    if options is not None:
        if not isinstance(options, dict):
            raise TypeError(f"options must be a dict, got {type(options).__name__}")
        unknown = set(options) - set(_DEFAULTS)
        if unknown:
            raise ValueError(f"options has unknown keys {sorted(unknown)}; valid: {sorted(_DEFAULTS)}")
        opts.update(options)
    sketch_id = _SKETCHES[check_choice(opts["sketch"], "options['sketch']", tuple(_SKETCHES))]
    block_size = check_int(opts["block_size"], "options['block_size']", lower=1)
    eta1 = check_scalar(opts["eta1"], "options['eta1']", lower=0.0, lower_inclusive=False)
    eta2 = check_scalar(opts["eta2"], "options['eta2']", lower=0.0, lower_inclusive=False)
    nu = check_scalar(opts["nu"], "options['nu']", lower=1.0, lower_inclusive=False)
    beta = check_scalar(opts["beta"], "options['beta']", lower=0.0, upper=1.0, lower_inclusive=False,
                        upper_inclusive=False)
    theta = check_scalar(opts["theta"], "options['theta']", lower=0.0, lower_inclusive=False)
    zeta = check_scalar(opts["zeta"], "options['zeta']", lower=0.0)
    max_bt = check_int(opts["max_backtracks"], "options['max_backtracks']", lower=0)
    max_pu = check_int(opts["max_penalty_updates"], "options['max_penalty_updates']", lower=0)
    n_threads = check_n_threads(opts["n_threads"], "options['n_threads']")
    fallback = bool(opts["fallback"])
    seed64 = seed_to_uint64(seed)

    cons = _parse_constraints(constraints)
    prob = _Problem(fun, jac, hess, cons, n, tuple(args))

    # evaluate at x0 and fix the constraint sizes
    sizes = [np.atleast_1d(np.asarray(k.fun(x), dtype=float)).size for k in cons]
    m = sum(sizes)
    f = prob.f(x)
    g = prob.g(x)
    c = prob.c(x)
    G = prob.G(x, sizes)
    if not _finite(np.array([f]), g, c, G):
        raise ValueError("x0: fun, jac or the constraints are not finite at x0")
    use_bfgs = hess is None or any(k.A is None and k.hess is None for k in cons)
    sparse = opts["sparse"]
    if sparse is None:
        sparse = sp.issparse(G)
    if use_bfgs:
        bfgs_max = check_int(opts["bfgs_max_n"], "options['bfgs_max_n']", lower=1)
        if n > bfgs_max:
            raise ValueError(f"hess is required for n = {n} > options['bfgs_max_n'] = {bfgs_max} "
                             "(the BFGS approximation is a dense n x n matrix)")
        sparse = bool(opts["sparse"])  # dense unless forced
    sketch_maxiter = opts["sketch_maxiter"]
    if sketch_maxiter is None:
        sketch_maxiter = max(20000, 200 * (n + m))
    sketch_maxiter = check_int(sketch_maxiter, "options['sketch_maxiter']", lower=0)

    # least-squares multipliers for dense problems, zeros for sparse ones
    if sparse or sp.issparse(G):
        lam = np.zeros(m)
    else:
        lam = np.linalg.lstsq(G.T, -g, rcond=None)[0]
    B_bfgs = np.eye(n) if use_bfgs else None

    def lagr_grad(g, G, lam):
        return g + np.asarray(G.T @ lam).ravel()

    def merit(f, c, gxL, lam, e1, e2):
        return f + lam @ c + 0.5 * e1 * (c @ c) + 0.5 * e2 * (gxL @ gxL)

    gxL = lagr_grad(g, G, lam)
    kkt = float(np.sqrt(gxL @ gxL + c @ c))
    status = 1
    nit = 0
    sketch_iters = 0
    direct_solves = 0
    t_shift = 0.0
    detail = None
    for nit in range(maxiter + 1):
        if callback is not None and nit > 0:
            try:
                callback(OptimizeResult(x=x.copy(), fun=f, multipliers=lam.copy(), kkt_residual=kkt, nit=nit))
            except StopIteration:
                status = 5
                break
        if kkt <= tol:
            status = 0
            break
        if nit == maxiter:
            status = 1
            break
        # Hessian of the Lagrangian (exact or BFGS) and the shift t
        if use_bfgs:
            H = B_bfgs
            t_shift = 0.0
            Hd = H
        else:
            H = prob.H(x, lam, sizes)
            if not _finite(H):
                status = 4
                break
            if sparse or sp.issparse(H) or sp.issparse(G):
                t_shift = 0.0  # adapted below by the curvature test
            else:
                t_shift = _dense_shift(H, G)
            Hd = H
        gradL = np.concatenate([gxL, c])
        z = np.empty(n + m)
        step = None
        for _attempt in range(30):
            K = _assemble(Hd, G, t_shift, n, m, sparse or sp.issparse(Hd) or sp.issparse(G))
            step = _step(K, n, gradL, t_shift, z, eta1, eta2, method == "eal-sketch", fallback, theta, zeta,
                         0.01 * tol, nu, max_pu, sketch_id, block_size, sketch_maxiter,
                         (seed64 + 7919 * nit) % (2**63), n_threads)
            sketch_iters += step["sketch_iterations"]
            direct_solves += int(step["used_direct"])
            if use_bfgs or not (sparse or sp.issparse(Hd) or sp.issparse(G)) or step["status"] != "converged":
                break
            # inertia-free curvature test on the sparse path: dx^T B dx >= 1e-8 ||dx||^2
            dx = z[:n]
            Bdx = np.asarray(Hd @ dx).ravel() + t_shift * dx
            if dx @ Bdx >= 1e-8 * (dx @ dx):
                break
            t_shift = max(2.0 * t_shift, max(1.0, abs(Hd).max()))
        st = step["status"]
        if st != "converged":
            status = {"breakdown": 3 if step["penalty_updates"] < max_pu else 6, "non_finite": 4,
                      "max_iter": 3}.get(st, 3)
            if st == "max_iter":
                detail = (f"the sketch solver missed the accuracy target {step['target']:.3e} "
                          f"(residual {step['residual']:.3e}) within options['sketch_maxiter'] and fallback=False")
            break
        eta1, eta2 = step["eta1"], step["eta2"]
        dx, dlam = z[:n], z[n:]
        dphi = step["dphi"]
        phi0 = merit(f, c, gxL, lam, eta1, eta2)
        alpha = 1.0
        accepted = False
        for _bt in range(max_bt + 1):
            xt = x + alpha * dx
            lt = lam + alpha * dlam
            ft = prob.f(xt)
            gt = prob.g(xt)
            ct = prob.c(xt)
            Gt = prob.G(xt, sizes)
            if _finite(np.array([ft]), gt, ct, Gt):
                gxLt = lagr_grad(gt, Gt, lt)
                if merit(ft, ct, gxLt, lt, eta1, eta2) <= phi0 + beta * alpha * dphi:
                    accepted = True
                    break
            alpha *= 0.5
        if not accepted:
            status = 2
            break
        if use_bfgs:
            s = xt - x
            y = gxLt - lagr_grad(g, G, lt)
            B_bfgs = _damped_bfgs(B_bfgs, s, y)
        x, lam, f, g, c, G, gxL = xt, lt, ft, gt, ct, Gt, gxLt
        kkt = float(np.sqrt(gxL @ gxL + c @ c))

    messages = _MESSAGES[status] if detail is None else detail
    if use_bfgs:
        messages += " (Hessian of the Lagrangian approximated by damped BFGS)"
    res = OptimizeResult(x=x, fun=f, multipliers=lam, kkt_residual=kkt, nit=nit, nfev=prob.nfev, njev=prob.njev,
                         nhev=prob.nhev, status=status, success=status == 0, message=messages,
                         sketch_iterations=sketch_iters, direct_solves=direct_solves, penalty=(eta1, eta2),
                         method=method)
    if status not in (0, 5):
        warnings.warn(f"minimize({method!r}) stopped: {messages}; KKT residual {kkt:.3e} > tolerance {tol:.3e}",
                      ConvergenceWarning, stacklevel=2)
    return res


def _dense_shift(H, G):
    """t = 0 when Z^T H Z is positive definite (Z: null space of G), else -lambda_min(Z^T H Z) + scale.

    The margin ``scale = max(1, max |H_ij|)`` keeps the reduced Hessian of B well away
    from singular: a barely positive definite B gives huge steps and tiny Armijo steps,
    and on HS27/HS39 the multipliers then drift away (tried 1e-4, 1e-2, 0.1 and 1 times
    scale; only 1 solved the whole HS set in few iterations). Near a solution that meets
    the second-order sufficient condition t = 0, so the local rate is Newton's.
    """
    n = H.shape[0]
    if G.shape[0]:
        # rank-revealing QR of G^T (cheaper than a full SVD): the trailing columns of Q span null(G)
        Q, R, _ = scipy.linalg.qr(G.T, mode="full", pivoting=True)
        d = np.abs(np.diag(R))
        rank = int(np.sum(d > max(G.shape) * np.finfo(float).eps * (d[0] if d.size else 0.0)))
        Z = Q[:, rank:]
    else:
        Z = np.eye(n)
    if Z.shape[1] == 0:
        return 0.0
    Hs = 0.5 * (H + H.T)
    lam_min = float(np.linalg.eigvalsh(Z.T @ Hs @ Z)[0])
    scale = max(1.0, float(np.abs(Hs).max()))
    if lam_min >= 1e-8 * scale:
        return 0.0
    return scale - lam_min


def _assemble(H, G, t, n, m, sparse):
    """K = [[H + t I, G^T], [G, 0]]: dense row-major, or CSR (int64) by the C++ assembly."""
    if not sparse:
        K = np.zeros((n + m, n + m))
        K[:n, :n] = H
        K[:n, :n] += t * np.eye(n)
        K[:n, n:] = G.T
        K[n:, :n] = G
        return K
    B = sp.csr_matrix(H) + t * sp.identity(n, format="csr")
    B = sp.csr_matrix(B)
    B.sum_duplicates()
    B.sort_indices()
    Gc = sp.csr_matrix(G)
    Gc.sum_duplicates()
    Gc.sort_indices()
    idx = np.int64
    data, indices, indptr = _core.optimize_kkt_csr(
        n, m, B.indptr.astype(idx), B.indices.astype(idx), np.ascontiguousarray(B.data, dtype=float),
        Gc.indptr.astype(idx), Gc.indices.astype(idx), np.ascontiguousarray(Gc.data, dtype=float))
    return (indptr, indices, data)


def _step(K, n, gradL, t, z, eta1, eta2, use_sketch, fallback, theta, zeta, floor, nu, max_pu, sketch_id,
          block_size, sketch_maxiter, seed, n_threads):
    common = (n, gradL, float(t), z, float(eta1), float(eta2), use_sketch, fallback, theta, zeta, float(floor),
              nu, int(max_pu), sketch_id, block_size, sketch_maxiter, int(seed), n_threads)
    if isinstance(K, tuple):
        indptr, indices, data = K
        return _core.optimize_eal_step_csr(indptr.size - 1, indptr, indices, data, *common)
    return _core.optimize_eal_step_dense(K, *common)


def _damped_bfgs(B, s, y):
    """Powell-damped BFGS update: keeps B positive definite (s^T y >= 0.2 s^T B s)."""
    Bs = B @ s
    sBs = float(s @ Bs)
    if not (sBs > 0.0) or not np.isfinite(sBs):
        return B
    sy = float(s @ y)
    if sy < 0.2 * sBs:
        th = 0.8 * sBs / (sBs - sy)
        y = th * y + (1 - th) * Bs
        sy = float(s @ y)
    return B - np.outer(Bs, Bs) / sBs + np.outer(y, y) / sy
