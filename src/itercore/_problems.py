"""Problem generators shared by ``python -m itercore``, the tests and the
benchmarks (private: their shapes and defaults may change)."""

from __future__ import annotations

import numpy as np


def poisson2d(n, *, eps=1.0, dtype=np.float64, index_dtype=np.int32):
    """The 5-point Laplacian ``-eps u_xx - u_yy`` on an n x n interior grid
    (SPD, n^2 unknowns, unscaled), as CSR with the given value/index dtypes."""
    import scipy.sparse as sp

    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    I = sp.identity(n)
    A = (eps * sp.kron(I, T) + sp.kron(T, I)).tocsr().astype(dtype)
    A.indices = A.indices.astype(index_dtype)
    A.indptr = A.indptr.astype(index_dtype)
    return A


def lattice_weights(n1, n2=None):
    """Unit edge weights of the n1 x n2 4-neighbour lattice (graph of poisson2d), CSR."""
    import scipy.sparse as sp

    n2 = n1 if n2 is None else n2
    T1 = sp.diags([1.0, 1.0], [-1, 1], shape=(n1, n1))
    T2 = sp.diags([1.0, 1.0], [-1, 1], shape=(n2, n2))
    return (sp.kron(T1, sp.identity(n2)) + sp.kron(sp.identity(n1), T2)).tocsr()


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
    A = poisson2d(N) / h**2
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
