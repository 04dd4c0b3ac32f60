"""Per-call overhead of tiny solves and the time of the hot paths the shared
pipeline touches, as one tab-separated line per call (label, call, value).

Run it once per build, interleaved, and compare medians (the machine is noisy):

    for r in 1 2 3 4 5 6 7; do python bench/overhead.py before; python bench/overhead.py after; done
"""

import sys
import time
import warnings

import numpy as np

from itercore import linalg, ot
from itercore._problems import ot_points, poisson2d

warnings.simplefilter("ignore")


def median_time(f, reps, inner=1):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            f()
        ts.append((time.perf_counter() - t0) / inner)
    return float(np.median(ts))


def main(label):
    a, _, M = ot_points(1000, seed=0)
    A = poisson2d(500)
    b = np.random.default_rng(0).standard_normal(A.shape[0])
    x0 = np.zeros(A.shape[0])
    As, bs = poisson2d(10), np.ones(100)
    xt = np.linspace(0, 1, 10)
    Mt, at = (xt[:, None] - xt[None]) ** 2, np.full(10, 0.1)
    rows = {
        "ot sinkhorn 1000^2, 300 it (ms)": (lambda: ot.entropic(a, a, M, 1e-2, method="sinkhorn", tol=0.0, maxiter=300),
                                            5, 1, 1e3),
        "ot sns 1000^2 reg 1e-3 to 1e-9 (ms)": (lambda: ot.entropic(a, a, M, 1e-3, method="sns"), 5, 1, 1e3),
        "sor_sweep natural 250k, 5 sweeps (ms)": (lambda: linalg.sor_sweep(A, x0.copy(), b, omega=1.5, iterations=5),
                                                  7, 1, 1e3),
        "sor n=100 to 1e-8 (us)": (lambda: linalg.sor(As, bs, omega=1.5, rtol=1e-8), 7, 300, 1e6),
        "ssor_pcg n=100 (us)": (lambda: linalg.ssor_pcg(As, bs, omega=1.5), 7, 300, 1e6),
        "ot.entropic 10x10 sinkhorn (us)": (lambda: ot.entropic(at, at, Mt, 0.1, method="sinkhorn"), 7, 300, 1e6),
        "ot.entropic 10x10 sns (us)": (lambda: ot.entropic(at, at, Mt, 1e-3, method="sns"), 7, 300, 1e6),
    }
    for name, (f, reps, inner, scale) in rows.items():
        print(f"{label}\t{name}\t{median_time(f, reps, inner) * scale:.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "itercore")
