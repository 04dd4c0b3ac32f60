"""Problem generators shared by ``python -m itercore``, the tests and the
benchmarks (private: their shapes and defaults may change)."""

from __future__ import annotations

import numpy as np


def pde_control(N, alpha=1e-2):
    """Distributed control of the Poisson equation on an N x N interior grid.

    min 1/2 ||w - w*||^2 + alpha/2 ||z||^2  s.t.  -Laplace_h(w) = z (5-point, h = 1/(N+1)),
    variables x = (w, z) of length 2 N^2; sparse Jacobian [A, -I] and diagonal Hessian.
    Returns a dict like the HS problems (no ``fstar``) plus ``kkt_solution``: the
    exact optimum from one sparse direct solve of the (linear) KKT system.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    h = 1.0 / (N + 1)
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(N, N))
    A = ((sp.kron(sp.identity(N), T) + sp.kron(T, sp.identity(N))) / h**2).tocsr()
    s = np.linspace(h, 1 - h, N)
    X, Y = np.meshgrid(s, s, indexing="ij")
    wstar = (np.sin(np.pi * X) * np.sin(2 * np.pi * Y)).ravel()
    n2 = N * N
    J = sp.hstack([A, -sp.identity(n2)], format="csr")
    d = np.concatenate([np.ones(n2), alpha * np.ones(n2)])
    Hm = sp.diags(d, format="csr")

    def fun(x):
        w, z = x[:n2], x[n2:]
        return 0.5 * float((w - wstar) @ (w - wstar)) + 0.5 * alpha * float(z @ z)

    def jac(x):
        g = d * x
        g[:n2] -= wstar
        return g

    def exact():
        K = sp.bmat([[Hm, J.T], [J, None]], format="csc")
        rhs = np.concatenate([np.concatenate([wstar, np.zeros(n2)]), np.zeros(n2)])
        sol = spla.spsolve(K, rhs)
        return sol[:2 * n2]

    return {"name": f"PDE-control N={N}", "x0": np.zeros(2 * n2), "fun": fun, "jac": jac,
            "hess": lambda x: Hm, "cons": {"type": "eq", "fun": lambda x: J @ x, "jac": lambda x: J,
                                            "hess": lambda x, v: sp.csr_matrix((2 * n2, 2 * n2))},
            "exact": exact}


def ot_points(n, m=None, seed=0, dtype=np.float64):
    """Entropic-OT test problem: n and m random points in the unit square,
    squared Euclidean cost scaled to max 1, uniform weights. Returns (a, b, M)."""
    m = n if m is None else m
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    M /= M.max()
    return np.full(n, 1.0 / n, dtype=dtype), np.full(m, 1.0 / m, dtype=dtype), M.astype(dtype)
