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

from typing import Any, Callable

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import scipy.sparse as sp
from scipy.optimize import LinearConstraint, NonlinearConstraint
from scipy.sparse.linalg import LinearOperator

from . import _core, _pipeline
from ._validation import as_float_array, check_callback, check_n_threads, check_sparse, seed_to_uint64
from scipy.optimize import OptimizeResult
from ._typing import ArrayLike, CallbackLike, OptionsLike, SeedLike

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

def minimize(fun: Callable[..., Any], x0: ArrayLike | None, *, jac: Callable[..., Any],
             hess: Callable[..., Any] | None = None, constraints: Any, method: str = _D.method.name,
             tol: float = _D.tol, maxiter: int = _D.maxiter, callback: CallbackLike = None, seed: SeedLike = None,
             n_threads: int | None = None, options: OptionsLike = None, args: tuple[Any, ...] = ()) -> OptimizeResult:
    """Minimize ``f(x)`` subject to equality constraints ``c(x) = 0``.

    Adaptive inexact Newton on the exact augmented Lagrangian
    ``L_eta = f + lam^T c + (eta1/2)||c||^2 + (eta2/2)||grad_x L||^2``
    (Hong, Na, Mahoney, Kolar, ICML 2023). Each iteration solves the KKT
    system ``[[B, G^T], [G, 0]] (dx, dlam) = -(grad_x L, c)`` inexactly by
    randomized Kaczmarz with uniform sampling (``method="eal-sketch"``),
    stopped by the paper's adaptive accuracy condition, or exactly by LU
    (``method="eal-direct"``, an exact-Newton SQP on the same merit). When
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
        key is a ``TypeError`` naming the closest valid one). The defaults
        are the paper's (as in the authors' code; ``docs/optimize.md`` has
        the "Fidelity to the paper" table): ``accuracy`` ("paper": stop the
        sketch at ``||K|| Psi ||r|| <= theta_t delta ||grad L||``;
        "legacy": itercore's earlier rule; "fixed": the non-adaptive
        ``||r|| <= theta ||grad L||``), ``theta`` (1.0) and ``zeta``
        (0.0; ``theta_t = theta min(1, ||grad L||)^zeta``, so ``zeta > 0``
        gives ``theta_t -> 0``, the superlinear variant), ``delta`` (0.1),
        ``delta_min`` (1e-6), ``xi_B`` (0.1, Hessian modification),
        ``eta1`` (1.0), ``eta2`` (0.1), ``nu`` (1.5), ``eta1_max`` (1e8)
        and ``eta2_min`` (1e-8; penalty updates stop there and the
        direction is taken as it is), ``beta`` (0.1, Armijo),
        ``max_backtracks`` (40), ``sketch`` ("kaczmarz", the default,
        "gaussian" or "count"), ``uniform`` (True: uniform Kaczmarz rows;
        False: by squared row norm), ``block_size`` (1), ``sketch_maxiter``
        (Kaczmarz steps per sketch solve; -1 means ``max(20000, 200 (n +
        m))``), ``fallback`` (False; True: an LU solve replaces a sketch
        solve that missed its target, not in the paper), ``stall_factor``
        (1, with ``fallback`` only: give up on a hopeless sketch early),
        ``floor_share`` (0.01: the target is never below ``floor_share *
        tol``; 0: the paper), ``max_penalty_updates`` (60, "legacy" only),
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
        ``nit_sketch`` (sketch iterations in all), ``nit_direct`` (KKT
        systems solved by LU), ``n_fallback`` (LU solves that replaced a
        sketch solve), per Newton step ``step_residual`` (``||K z + grad
        L||`` reached), ``step_target`` (the accuracy target) and
        ``step_nit_sketch``, ``penalty`` (eta1, eta2) and ``method``. ``status``
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
        n_fallback=out["n_fallback"], step_residual=out["step_residual"], step_target=out["step_target"],
        step_nit_sketch=out["step_nit_sketch"], penalty=out["penalty"], method=opts.method.name,
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
    fallbacks = 0
    step_res, step_tgt, step_nsk = [], [], []
    paper = opts.accuracy.name != "legacy"  # paper and fixed: the paper's Hessian modification
    delta = opts.delta
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
                t_shift = _dense_shift(H, G, opts.xi_B if paper else None)
            Hd = H
        gradL = np.concatenate([gxL, c])
        z = np.empty(n + m)
        step = None
        nsk_step = 0
        for _attempt in range(30):
            K = _assemble(Hd, G, t_shift, n, m, sparse or sp.issparse(Hd) or sp.issparse(G))
            scales = ()
            if opts.accuracy.name == "paper" and opts.method.name == "eal-sketch":
                scales = _paper_scales(K, Hd, G, t_shift, n, opts, delta, nit)
            step = _step(K, n, gradL, t_shift, z, eta1, eta2, nit, opts, scales)
            sketch_iters += step["nit_sketch"]
            nsk_step += step["nit_sketch"]
            direct_solves += int(step["used_direct"])
            fallbacks += int(step["used_direct"] and opts.method.name == "eal-sketch")
            if (use_bfgs or not (sparse or sp.issparse(Hd) or sp.issparse(G))
                    or step["status"] != _pipeline.CONVERGED):
                break
            # inertia-free curvature test on the sparse path: dx^T B dx >= 1e-8 ||dx||^2
            dx = z[:n]
            Bdx = np.asarray(Hd @ dx).ravel() + t_shift * dx
            if dx @ Bdx >= 1e-8 * (dx @ dx):
                break
            if paper:  # the paper's modification B = H + (xi_B + ||H||) I, then doubling
                t_shift = max(2.0 * t_shift, opts.xi_B + _opnorm(Hd, seed=nit))
            else:
                t_shift = max(2.0 * t_shift, max(1.0, abs(Hd).max()))
        step_res.append(step["residual"])
        step_tgt.append(step["target"])
        step_nsk.append(nsk_step)  # every attempt of the step (the sparse curvature test may retry)
        if step["status"] != _pipeline.CONVERGED:
            status, message = _step_failure(step)
            break
        eta1, eta2 = step["eta1"], step["eta2"]
        if paper:
            delta = step["delta"]
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
            "kkt_residual": kkt, "nit_sketch": sketch_iters, "nit_direct": direct_solves, "n_fallback": fallbacks,
            "step_residual": np.array(step_res), "step_target": np.array(step_tgt),
            "step_nit_sketch": np.array(step_nsk, dtype=np.int64), "penalty": (eta1, eta2), "bfgs": use_bfgs}


def _dense_shift(H, G, xi_B=None):
    """t = 0 when Z^T H Z is positive definite (Z: null space of G), else -lambda_min(Z^T H Z) + scale.

    ``xi_B`` given (the paper's rule, as in the authors' code): t = 0 when
    lambda_min(Z^T H Z) >= 1e-6, else t = xi_B + ||H||_2.

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
    if xi_B is not None:
        return 0.0 if lam_min >= 1e-6 else xi_B + _opnorm(Hs)
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


def _step(K, n, gradL, t, z, eta1, eta2, k, opts, scales=()):
    """One adaptive Newton step (Newton iteration ``k``) on a dense or CSR ``K``; ``z`` receives it."""
    if isinstance(K, tuple):
        indptr, indices, data = K
        return _core.optimize.eal_step_csr(indptr.size - 1, indptr, indices, data, n, gradL, float(t), z,
                                           float(eta1), float(eta2), k, opts, scales)
    return _core.optimize.eal_step_dense(K, n, gradL, float(t), z, float(eta1), float(eta2), k, opts, scales)


#: Power iterations per norm estimate (the paper's constants need only their order of magnitude).
_POWER_ITERS = 12


def _opnorm(A, *, iters=_POWER_ITERS, seed=0, sym=True):
    """||A||_2 estimated by power iterations on the (sparse or dense) operator: never densified.

    ``sym``: A is symmetric (iterate with A itself), else with A^T A. The
    estimate is a lower bound that is accurate to a few per cent after a
    dozen iterations on the problems of the test set.
    """
    shape = A.shape
    if min(shape) == 0:
        return 0.0
    v = np.random.default_rng(12345 + int(seed)).standard_normal(shape[1])
    v /= np.linalg.norm(v)
    est = 0.0
    for _ in range(iters):
        w = np.asarray(A @ v).ravel()
        if not sym:
            w = np.asarray(A.T @ w).ravel()
        nw = float(np.linalg.norm(w))
        if not nw > 0:
            return 0.0
        est = nw
        v = w / nw
    return est if sym else float(np.sqrt(est))


def _lambda_min_ggt(G, seed=0):
    """lambda_min(G G^T): exact on the m x m Gram for m <= 300, else Lanczos (eigsh) on the operator."""
    m = G.shape[0]
    if m == 0:
        return 1.0
    if m <= 300:
        GG = G @ G.T
        GG = GG.toarray() if sp.issparse(GG) else np.asarray(GG)
        return max(float(np.linalg.eigvalsh(GG)[0]), 0.0)
    op = LinearOperator((m, m), matvec=lambda y: np.asarray(G @ np.asarray(G.T @ y).ravel()).ravel(), dtype=float)
    v0 = np.random.default_rng(777 + int(seed)).standard_normal(m)
    try:
        val = scipy.sparse.linalg.eigsh(op, k=1, which="SA", tol=1e-3, maxiter=20 * m, v0=v0,
                                        return_eigenvectors=False)
        return max(float(val[0]), 0.0)
    except scipy.sparse.linalg.ArpackNoConvergence as err:
        vals = err.eigenvalues
        if len(vals):
            return max(float(np.min(vals)), 0.0)
        return 0.0


def _paper_scales(K, H, G, t, n, opts, delta, k):
    """(Psi, Upsilon, ||K||, beta, delta) of the paper's accuracy condition at Newton iteration ``k``.

    Psi = 20 max(||B||^2, 1) / (min(xi_G, 1) min(xi_B, 1)), Upsilon = max(||G||, ||H||, 1)
    (the constant 20 as in the authors' code), xi_G = lambda_min(G G^T) (floored at
    1e-12: the authors' code stops at xi_G < 1e-2 instead), spectral norms by power
    iterations on the sparse or dense operators.
    """
    if isinstance(K, tuple):
        indptr, indices, data = K
        Kop = sp.csr_matrix((data, indices, indptr), shape=(indptr.size - 1, indptr.size - 1))
    else:
        Kop = K
    Hn = _opnorm(H, seed=k)
    Bn = Hn + t if t > 0 else Hn  # B = H + t I: ||B|| <= ||H|| + t (an upper bound, no extra iterations)
    Gn = _opnorm(G, seed=k, sym=False)
    Kn = _opnorm(Kop, seed=k)
    xi_G = max(_lambda_min_ggt(G, seed=k), 1e-12)
    psi = 20.0 * max(Bn * Bn, 1.0) / (min(xi_G, 1.0) * min(opts.xi_B, 1.0))
    ups = max(Gn, Hn, 1.0)
    return (float(psi), float(ups), float(max(Kn, 1e-300)), float(opts.beta), float(delta))


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
