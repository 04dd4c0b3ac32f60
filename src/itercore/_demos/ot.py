"""itercore.ot in ``python -m itercore``: Sinkhorn against a plain NumPy
log-domain reference, and Sinkhorn-Newton-Sparse at a small ``reg`` where
plain Sinkhorn needs thousands of iterations."""

from __future__ import annotations

import numpy as np

from .._demo import demo, timed
from .._problems import ot_points


def _numpy_log_sinkhorn(a, b, M, reg, tol=1e-12, maxiter=20000):
    from scipy.special import logsumexp

    f, g = np.zeros(len(a)), np.zeros(len(b))
    for _ in range(maxiter):
        f = reg * np.log(a) - reg * logsumexp((g[None, :] - M) / reg, axis=1)
        g = reg * np.log(b) - reg * logsumexp((f[:, None] - M) / reg, axis=0)
        P = np.exp((f[:, None] + g[None, :] - M) / reg)
        if np.abs(P.sum(1) - a).sum() < tol:
            break
    return P


@demo
def ot_demo():
    from .. import ot

    rows = []
    n = 200
    a, b, M = ot_points(n)
    size = f"{n}x{n}"
    res, sec = timed(ot.entropic, a, b, M, 1e-2, method="sinkhorn", tol=1e-11)
    ref = _numpy_log_sinkhorn(a, b, M, 1e-2)
    rows.append(dict(family="ot", problem="points, reg=1e-2 (vs NumPy plan)", size=size, method="sinkhorn",
                     iterations=res.nit, seconds=sec, error=float(np.abs(res.plan - ref).max())))
    for method in ("sinkhorn", "sns"):
        res, sec = timed(ot.entropic, a, b, M, 1e-3, method=method, tol=1e-9)
        err = np.abs(res.plan.sum(1) - a).sum() + np.abs(res.plan.sum(0) - b).sum()
        rows.append(dict(family="ot", problem="points, reg=1e-3 (L1 marginals)", size=size, method=method,
                         iterations=res.nit, seconds=sec, error=float(err)))
    return rows
