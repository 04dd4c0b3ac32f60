"""Demo rows for the sketching family: sketch_solve and optimize.minimize."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._demo import demo, timed


def _pde_control(N, alpha=1e-2):
    """min 1/2||w - w*||^2 + alpha/2 ||z||^2 s.t. -Laplace_h w = z on an N x N grid."""
    h = 1.0 / (N + 1)
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(N, N))
    A = ((sp.kron(sp.identity(N), T) + sp.kron(T, sp.identity(N))) / h**2).tocsr()
    s = np.linspace(h, 1 - h, N)
    X, Y = np.meshgrid(s, s, indexing="ij")
    wstar = (np.sin(np.pi * X) * np.sin(2 * np.pi * Y)).ravel()
    n2 = N * N
    J = sp.hstack([A, -sp.identity(n2)], format="csr")
    d = np.concatenate([np.ones(n2), alpha * np.ones(n2)])
    H = sp.diags(d, format="csr")
    shift = np.concatenate([wstar, np.zeros(n2)])
    fun = lambda x: 0.5 * float(d @ (x * x)) - float(shift @ x) + 0.5 * float(wstar @ wstar)  # noqa: E731
    jac = lambda x: d * x - shift  # noqa: E731
    K = sp.bmat([[H, J.T], [J, None]], format="csc")
    exact = spla.spsolve(K, np.concatenate([shift, np.zeros(n2)]))[: 2 * n2]
    cons = {"type": "eq", "fun": lambda x: J @ x, "jac": lambda x: J,
            "hess": lambda x, v: sp.csr_matrix((2 * n2, 2 * n2))}
    return fun, jac, (lambda x: H), cons, np.zeros(2 * n2), exact


@demo
def sketching_demo():
    from .._sketch import _sketch_solve
    from ..optimize import minimize

    rows = []
    rng = np.random.default_rng(0)
    A = sp.random(2000, 500, density=0.02, random_state=1, format="csr") + sp.eye(2000, 500, format="csr")
    xt = rng.standard_normal(500)
    b = A @ xt
    (x, code, info), sec = timed(_sketch_solve, A, b, method="kaczmarz", rtol=1e-8, seed=0)
    rows.append(dict(family="sketch", problem="consistent sparse Ax=b", size="2000x500",
                     method="sketch_solve kaczmarz", iterations=info["iterations"], seconds=sec,
                     error=float(np.linalg.norm(x - xt) / np.linalg.norm(xt))))

    # HS40: min -x1 x2 x3 x4 s.t. three nonlinear equalities; optimum -0.25
    def f(x):
        return -x[0] * x[1] * x[2] * x[3]

    def g(x):
        return -np.array([x[1] * x[2] * x[3], x[0] * x[2] * x[3], x[0] * x[1] * x[3], x[0] * x[1] * x[2]])

    def h(x):
        return -np.array([[0.0 if i == j else np.prod([x[k] for k in range(4) if k not in (i, j)])
                           for j in range(4)] for i in range(4)])

    cons = {"type": "eq",
            "fun": lambda x: np.array([x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]]),
            "jac": lambda x: np.array([[3 * x[0] ** 2, 2 * x[1], 0, 0], [2 * x[0] * x[3], 0, -1, x[0] ** 2],
                                       [0, -1, 0, 2 * x[3]]]),
            "hess": lambda x, v: (v[0] * np.diag([6 * x[0], 2, 0, 0])
                                  + v[1] * np.array([[2 * x[3], 0, 0, 2 * x[0]], [0, 0, 0, 0], [0, 0, 0, 0],
                                                     [2 * x[0], 0, 0, 0]])
                                  + v[2] * np.diag([0, 0, 0, 2.0]))}
    for method in ("eal-sketch", "eal-direct"):
        res, sec = timed(minimize, f, np.full(4, 0.8), jac=g, hess=h, constraints=cons, method=method, seed=0)
        rows.append(dict(family="optimize", problem="HS40 (vars+constraints)", size="4+3",
                         method=method, iterations=res.nit, seconds=sec, error=abs(res.fun + 0.25)))
    fun, jac, hess, cons, x0, exact = _pde_control(32)
    for method in ("eal-sketch", "eal-direct"):
        res, sec = timed(minimize, fun, x0, jac=jac, hess=hess, constraints=cons, method=method, seed=0,
                         options={"sketch_maxiter": 20000})
        rows.append(dict(family="optimize", problem="PDE control 32x32 (sparse)", size="2048+1024",
                         method=method, iterations=res.nit, seconds=sec,
                         error=float(np.linalg.norm(res.x - exact) / np.linalg.norm(exact))))
    return rows
