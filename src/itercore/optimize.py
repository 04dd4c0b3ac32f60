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

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, NonlinearConstraint
from scipy.sparse.linalg import LinearOperator

from . import _core, _pipeline
from ._validation import as_float_array, check_callback, check_n_threads, check_sparse, seed_to_uint64

__all__ = ["minimize"]

#: The C++ defaults (``itercore/optimize/{eal_step,minimize}.hpp``), read from the bound struct.
_D = _pipeline.defaults(_core.optimize.Options)


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
            A = check_sparse(con.A, f"{name}.A") if sp.issparse(con.A) else np.atleast_2d(_user_array(con.A,
                                                                                                     f"{name}.A"))
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


def _user_array(value, what):
    """What a user function returned, as a float array or CSR matrix; an error
    naming the function (``what``) when it is neither (a sparse result's
    structure is checked before scipy reads it)."""
    if sp.issparse(value):
        return sp.csr_matrix(check_sparse(value, what), dtype=float)
    try:
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must return a real array, got {type(value).__name__} ({exc})") from None


class _Problem:
    """Evaluates f, grad f, c, G and the Lagrangian Hessian; counts the calls."""

    def __init__(self, fun, jac, hess, cons, n, args):
        self.fun, self.jac, self.hess, self.cons, self.n, self.args = fun, jac, hess, cons, n, args
        self.nfev = self.njev = self.nhev = 0
        self.m = None

    def f(self, x):
        self.nfev += 1
        v = self.fun(x, *self.args)
        if sp.issparse(v):
            raise TypeError(f"fun must return a real scalar, got a sparse {type(v).__name__}")
        try:
            return float(np.asarray(v).reshape(()))
        except (TypeError, ValueError):
            raise ValueError(f"fun must return a real scalar, got {type(v).__name__} of shape "
                            f"{np.shape(v) if isinstance(v, (np.ndarray, list, tuple)) else '?'}") from None

    def g(self, x):
        self.njev += 1
        g = self.jac(x, *self.args)
        if sp.issparse(g):
            raise TypeError(f"jac must return a dense array of shape ({self.n},), got a sparse {type(g).__name__}")
        g = _user_array(g, "jac")
        if g.shape != (self.n,):
            raise ValueError(f"jac must return an array of shape ({self.n},), got shape {np.shape(g)}")
        return g

    def c(self, x):
        parts = [np.atleast_1d(_user_array(k.fun(x), f"the function of constraints[{i}]")).ravel()
                 for i, k in enumerate(self.cons)]
        if any(sp.issparse(p) for p in parts):
            raise TypeError("the function of a constraint must return a dense array")
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def G(self, x, sizes):
        """The constraint Jacobian, dense or CSR, checking each block's shape."""
        blocks = []
        for i, (k, mi) in enumerate(zip(self.cons, sizes)):
            J = _user_array(k.jac(x), f"the Jacobian of constraints[{i}]")
            if not sp.issparse(J):
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
        else:
            H = _user_array(H, "hess")
        if H.shape != (self.n, self.n):
            raise ValueError(f"hess must return shape ({self.n}, {self.n}), got {H.shape}")
        off = 0
        for k, mi in zip(self.cons, sizes):
            if k.A is None:
                Hc = k.hess(x, lam[off:off + mi])
                if Hc is not None:
                    Hc = _user_array(Hc, "the constraint Hessian of constraints")
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

def minimize(fun, x0, *, jac, hess=None, constraints, method=_D.method.name, tol=_D.tol, maxiter=_D.maxiter,
             callback=None, seed=None, n_threads=None, options=None, args=()):
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
        Stop when the KKT residual ``||(grad_x L, c)||_2 <= tol`` (default
        1e-8). It also sets the floor of the sketch's accuracy target
        (``options["floor_share"] * tol``).
    maxiter : int
        Newton iterations (default 1000).
    callback : callable, optional
        ``callback(intermediate_result)`` once per iteration with an
        ``OptimizeResult`` holding copies: ``x``, ``fun``, ``multipliers``,
        ``kkt_residual``, ``nit``. Raise ``StopIteration`` to stop (status 5).
    seed : None, int or numpy.random.Generator
        Seeds the sketches (the same seed gives the same iterates).
    n_threads : int, optional
        Threads of the sketch solver's residual checks (``None``: the OpenMP
        default; ``-1``: all CPUs). The LU solves run on one thread, and the
        NumPy/LAPACK work of the Newton loop (null-space eigenvalue test,
        initial multipliers) follows NumPy's own BLAS threads.
    options : dict, optional
        Expert knobs, the fields of the C++ ``optimize::Options`` (an unknown
        key is a ``TypeError`` naming the closest valid one):
        ``sketch`` ("kaczmarz", the default, "gaussian" or "count"),
        ``block_size`` (1), ``sketch_maxiter`` (sketch iterations per
        Newton step; -1, the default, means ``max(20000, 200 (n + m))``),
        ``fallback`` (direct solve when the sketch misses its target;
        True), ``stall_factor`` (1: give up on the sketch once its
        extrapolated rate needs more than this times the remaining budget;
        0: never), ``eta1`` (1.0), ``eta2`` (0.1), ``nu`` (1.5), ``beta``
        (0.1, Armijo), ``theta`` (0.5), ``zeta`` (0.5), ``floor_share``
        (0.01), ``max_backtracks`` (40), ``max_penalty_updates`` (60),
        ``sparse`` (False: assemble the KKT matrix in CSR only when the
        Jacobian or the Hessian is sparse; True: always), ``bfgs_max_n``
        (3000).
    args : tuple
        Extra arguments of ``fun``, ``jac`` and ``hess``.

    Returns
    -------
    OptimizeResult
        ``x``, ``fun``, ``multipliers`` (``lam`` with
        ``grad f + G^T lam = 0`` at a solution), ``kkt_residual``, ``nit``,
        ``nfev``, ``njev``, ``nhev``, ``status``, ``success``, ``message``,
        ``nit_sketch`` (sketch iterations), ``nit_direct`` (KKT systems
        solved by LU), ``penalty`` (eta1, eta2) and ``method``. ``status``
        is the shared table's: 0 converged (KKT residual <= tol), 1
        ``maxiter`` reached, 2 breakdown (``message`` says which: the line
        search on the merit failed; a singular KKT matrix; penalty parameter
        updates exhausted without meeting the descent test; the sketch
        missed its accuracy target with ``fallback=False``), 3 NaN or inf
        in the Hessian or the step, 5 callback stop. Ctrl-C raises
        ``KeyboardInterrupt``.

    Warns
    -----
    ConvergenceWarning
        For status 1-3, with the achieved KKT residual and ``tol``.

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
    opts = _pipeline.make_options(_core.optimize.Options, dict(
        method=method, tol=tol, maxiter=maxiter, seed=seed_to_uint64(seed), n_threads=check_n_threads(n_threads)),
        options)
    hook = _pipeline.result_callback(check_callback(callback), "kkt_residual")
    prob = _Problem(fun, jac, hess, _parse_constraints(constraints), x.size, tuple(args))
    out = _newton(prob, x, opts, hook)
    reason = out["message"] or _pipeline.STATUS[out["status"]][1]
    res = _pipeline.make_result(
        out, x=out["x"], fun=out["fun"], multipliers=out["multipliers"], kkt_residual=out["kkt_residual"],
        nfev=prob.nfev, njev=prob.njev, nhev=prob.nhev, nit_sketch=out["nit_sketch"], nit_direct=out["nit_direct"],
        penalty=out["penalty"], method=opts.method.name,
        message=reason + (" (Hessian of the Lagrangian approximated by damped BFGS)" if out["bfgs"] else ""))
    _pipeline.warn_not_converged(f"itercore.optimize.minimize ({opts.method.name})", res.status, res.kkt_residual,
                                 opts.tol, "KKT residual", reason=out["message"])
    return res


def _step_failure(step):
    """(status, message) of a Newton step that did not produce a descent direction."""
    if step["status"] == _pipeline.NON_FINITE:
        return _pipeline.NON_FINITE, "the Newton step has NaN or inf"
    if step["status"] == _pipeline.MAX_ITER:
        return _pipeline.BREAKDOWN, (
            f"the sketch solver missed the accuracy target {step['target']:.3e} (residual {step['residual']:.3e}) "
            "within options['sketch_maxiter'] and fallback=False")
    if step["descent_failed"]:
        return _pipeline.BREAKDOWN, ("penalty parameter updates exhausted: the merit descent test did not hold "
                                     "after options['max_penalty_updates'] updates")
    return _pipeline.BREAKDOWN, "singular KKT matrix (rank-deficient constraint Jacobian at the current point?)"


def _newton(prob, x, opts, hook):
    """The Newton loop from ``x`` (a copy, updated) with checked ``opts``.

    Returns the core-style info (``status`` of the shared table, ``nit``),
    ``message`` (the precise reason of a breakdown or NaN/inf, else None),
    the final iterate and the counters.
    """
    n = x.size
    cons = prob.cons
    tol, maxiter = opts.tol, opts.maxiter
    eta1, eta2, beta, max_bt = opts.eta1, opts.eta2, opts.beta, opts.max_backtracks

    # evaluate at x0 and fix the constraint sizes
    sizes = [np.atleast_1d(_user_array(k.fun(x), f"the function of constraints[{i}]")).size
             for i, k in enumerate(cons)]
    m = sum(sizes)
    f = prob.f(x)
    g = prob.g(x)
    c = prob.c(x)
    G = prob.G(x, sizes)
    if not _finite(np.array([f]), g, c, G):
        raise ValueError("x0: fun, jac or the constraints are not finite at x0")
    use_bfgs = prob.hess is None or any(k.A is None and k.hess is None for k in cons)
    if use_bfgs:
        if n > opts.bfgs_max_n:
            raise ValueError(f"hess is required for n = {n} > options['bfgs_max_n'] = {opts.bfgs_max_n} "
                             "(the BFGS approximation is a dense n x n matrix)")
        sparse = opts.sparse  # dense unless forced
    else:
        sparse = opts.sparse or sp.issparse(G)

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
    status = _pipeline.MAX_ITER
    message = None
    nit = 0
    sketch_iters = 0
    direct_solves = 0
    t_shift = 0.0
    for nit in range(maxiter + 1):
        if hook is not None and nit > 0:
            try:
                hook(nit, kkt, {"x": x.copy(), "fun": f, "multipliers": lam.copy()})
            except StopIteration:
                status = _pipeline.CALLBACK_STOP
                break
        if kkt <= tol:
            status = _pipeline.CONVERGED
            break
        if nit == maxiter:
            status = _pipeline.MAX_ITER
            break
        # Hessian of the Lagrangian (exact or BFGS) and the shift t
        if use_bfgs:
            H = B_bfgs
            t_shift = 0.0
            Hd = H
        else:
            H = prob.H(x, lam, sizes)
            if not _finite(H):
                status, message = _pipeline.NON_FINITE, "the Hessian of the Lagrangian has NaN or inf"
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
            step = _step(K, n, gradL, t_shift, z, eta1, eta2, nit, opts)
            sketch_iters += step["nit_sketch"]
            direct_solves += int(step["used_direct"])
            if (use_bfgs or not (sparse or sp.issparse(Hd) or sp.issparse(G))
                    or step["status"] != _pipeline.CONVERGED):
                break
            # inertia-free curvature test on the sparse path: dx^T B dx >= 1e-8 ||dx||^2
            dx = z[:n]
            Bdx = np.asarray(Hd @ dx).ravel() + t_shift * dx
            if dx @ Bdx >= 1e-8 * (dx @ dx):
                break
            t_shift = max(2.0 * t_shift, max(1.0, abs(Hd).max()))
        if step["status"] != _pipeline.CONVERGED:
            status, message = _step_failure(step)
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
            status, message = _pipeline.BREAKDOWN, (
                f"line search on the augmented Lagrangian failed ({max_bt} step halvings, options['max_backtracks'])")
            break
        if use_bfgs:
            s = xt - x
            y = gxLt - lagr_grad(g, G, lt)
            B_bfgs = _damped_bfgs(B_bfgs, s, y)
        x, lam, f, g, c, G, gxL = xt, lt, ft, gt, ct, Gt, gxLt
        kkt = float(np.sqrt(gxL @ gxL + c @ c))

    return {"status": status, "nit": nit, "message": message, "x": x, "fun": f, "multipliers": lam,
            "kkt_residual": kkt, "nit_sketch": sketch_iters, "nit_direct": direct_solves, "penalty": (eta1, eta2),
            "bfgs": use_bfgs}


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
    data, indices, indptr = _core.optimize.kkt_csr(
        n, m, B.indptr.astype(idx), B.indices.astype(idx), np.ascontiguousarray(B.data, dtype=float),
        Gc.indptr.astype(idx), Gc.indices.astype(idx), np.ascontiguousarray(Gc.data, dtype=float))
    return (indptr, indices, data)


def _step(K, n, gradL, t, z, eta1, eta2, k, opts):
    """One adaptive Newton step (Newton iteration ``k``) on a dense or CSR ``K``; ``z`` receives it."""
    if isinstance(K, tuple):
        indptr, indices, data = K
        return _core.optimize.eal_step_csr(indptr.size - 1, indptr, indices, data, n, gradL, float(t), z,
                                           float(eta1), float(eta2), k, opts)
    return _core.optimize.eal_step_dense(K, n, gradL, float(t), z, float(eta1), float(eta2), k, opts)


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
