"""
Sinkhorn-Newton-Sparse against Sinkhorn and POT
===============================================

Entropic optimal transport between two clouds of random points at a small
regularization, where Sinkhorn needs thousands of iterations. Each solver is
run to a sequence of tolerances; for each tolerance we plot the time the
run took (the best of two) against the L1 marginal error of the plan it returned (recomputed here, the
same measure for every solver):

- :func:`itercore.ot.entropic` with ``method="sns"`` (Sinkhorn-Newton-Sparse:
  a Sinkhorn warm-up, then Newton steps with a sparsified Hessian),
- :func:`itercore.ot.entropic` with ``method="sinkhorn"`` (log-domain Sinkhorn
  with a scaling fast path),
- POT's :func:`ot.sinkhorn` (scaling Sinkhorn), when POT is installed.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np

from itercore import ConvergenceWarning
from itercore import ot as iot

rng = np.random.default_rng(0)
n, reg = 250, 2e-3
x, y = rng.random((n, 2)), rng.random((n, 2))
M = ((x[:, None] - y[None]) ** 2).sum(-1)
M /= M.max()
a = b = np.full(n, 1.0 / n)


def marginal_error(P):
    return np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()


def curve(solve, tols, repeat=2):
    """(seconds, marginal error) per tolerance: the best time of ``repeat`` runs."""
    points = []
    for tol in tols:
        best = np.inf
        for _ in range(repeat):
            start = time.perf_counter()
            P = solve(tol)
            best = min(best, time.perf_counter() - start)
        points.append((best, marginal_error(P)))
    return np.array(points)


tols = np.logspace(-2, -10, 9)
solvers = {
    "itercore SNS": lambda tol: iot.entropic(a, b, M, reg, method="sns", tol=tol).plan,
    "itercore Sinkhorn": lambda tol: iot.entropic(a, b, M, reg, method="sinkhorn", tol=tol,
                                               maxiter=100_000).plan,
}
try:
    import ot as pot

    solvers["POT sinkhorn"] = lambda tol: pot.sinkhorn(a, b, M, reg, stopThr=tol,
                                                       numItermax=100_000, warn=False)
except ImportError:
    print("POT is not installed: its curve is left out")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    curves = {name: curve(solve, tols) for name, solve in solvers.items()}

# %%
# The plot: lower left is better. SNS pays for its warm-up at loose
# tolerances and then reaches 1e-9 in a few Newton steps; both Sinkhorns
# converge linearly, at a rate set by ``reg``.

fig, ax = plt.subplots(figsize=(6.4, 4.2))
for (name, pts), marker in zip(curves.items(), "os^"):
    # points in the order of the tolerances
    ax.loglog(pts[:, 0], np.maximum(pts[:, 1], 1e-16), marker=marker, label=name)
ax.set_xlabel("time (s)")
ax.set_ylabel("L1 marginal error of the plan")
ax.set_title(f"n = {n} points, reg = {reg:g} (cost scaled to [0, 1])")
ax.grid(True, which="both", alpha=0.3)
ax.legend()
fig.tight_layout()

for name, pts in curves.items():
    reached = pts[pts[:, 1] <= 1e-8]
    best = f"{reached[:, 0].min():.3f} s" if len(reached) else "not reached"
    print(f"{name:18s} time to 1e-8: {best}")
