"""itercore.bcd's part of ``python -m itercore``: label propagation on a
lattice (forest blocks vs red-black) and a lasso with its duality gap."""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from .._demo import demo, timed
from .._warnings import ConvergenceWarning


@demo
def bcd_demo():
    from .. import bcd
    from .._problems import lattice_weights

    rows = []
    N = 100
    W = lattice_weights(N)
    rng = np.random.default_rng(0)
    labels = -np.ones(N * N, dtype=np.int64)
    idx = rng.choice(N * N, N * N // 10, replace=False)
    labels[idx] = rng.integers(0, 2, idx.size)
    deg = np.asarray(W.sum(axis=1)).ravel()
    A = (sp.diags(deg + (labels >= 0)) - W).tocsc()
    ref = sla.spsolve(A, np.where(labels >= 0, np.where(labels == 1, 1.0, -1.0), 0.0))
    for name, kw in [("lattice trees (MP)", dict(blocks="lattice", rule="cyclic")),
                     ("red-black", dict(blocks="red-black", rule="cyclic"))]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            res, sec = timed(bcd.label_propagation, W, labels, lattice_shape=(N, N), tol=1e-10, maxiter=10**6, **kw)
        rows.append(dict(family="bcd", problem="label propagation, lattice", size=f"{N}x{N}", method=name,
                         iterations=res.nit, seconds=sec, error=float(np.max(np.abs(res.x - ref)))))
    X = rng.standard_normal((500, 2000))
    y = X[:, :20] @ rng.standard_normal(20) + 0.1 * rng.standard_normal(500)
    alpha = np.max(np.abs(X.T @ y)) / 500 / 50
    res, sec = timed(bcd.lasso, X, y, alpha, tol=1e-10)
    rows.append(dict(family="bcd", problem="lasso (error: rel. dual gap)", size="500x2000", method="cyclic + Anderson + Newton",
                     iterations=res.nit, seconds=sec, error=res.optimality))
    return rows
