"""``python -m itercore``: matrix completion rows (a 1500 x 1500 rank-10 matrix from 4% of its entries)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._demo import demo, timed


def _problem(m=1500, n=1500, k=10, frac=0.04, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, k))
    B = rng.standard_normal((n, k))
    count = int(frac * m * n)
    keys = rng.permutation(np.unique(rng.integers(0, m * n, size=int(count * 1.1))))[:count]
    r, c = np.divmod(keys, n)
    X = sp.csr_array((np.einsum("ij,ij->i", A[r], B[c]), (r, c)), shape=(m, n))
    # the error is measured on entries drawn uniformly (almost all unobserved)
    tr, tc = rng.integers(0, m, 20000), rng.integers(0, n, 20000)
    return X, (tr, tc, np.einsum("ij,ij->i", A[tr], B[tc]))


@demo
def completion_demo():
    from ..completion import altmin

    X, (tr, tc, tv) = _problem()
    rows = []
    for method in ("cholesky", "cg", "sketch"):
        res, seconds = timed(altmin, X, 10, method=method, seed=0, tol=1e-8, maxiter=100)
        err = float(np.linalg.norm(res.predict(tr, tc) - tv) / np.linalg.norm(tv))
        rows.append({
            "family": "completion",
            "problem": "rank-10 1500x1500, 4% observed",
            "size": X.nnz,
            "method": f"altmin {method}",
            "iterations": res.nit,
            "seconds": seconds,
            "error": err,
        })
    return rows
