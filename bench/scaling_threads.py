"""Thread scaling of the OpenMP cores: time of one fixed amount of work for
n_threads in 1, 2, 4, ... up to the usable CPUs.

Each row does the same work at every thread count (a fixed number of
iterations, not a tolerance), so the speed-up is the parallel efficiency of the
core and nothing else. Median of ``--repeats`` runs after one warm-up.

    python bench/scaling_threads.py            # all kernels, threads 1..cpus
    python bench/scaling_threads.py --quick    # smaller problems

Needs a machine with more cores than this project's 2-core development box to
say anything; there it only checks the script runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import markdown_machine, median_time  # noqa: E402

import itercore  # noqa: E402
from itercore import bcd, completion, linalg, ot  # noqa: E402
from itercore._problems import poisson2d  # noqa: E402


def kernels(quick):
    """(name, work description, fn(threads)) for each core."""
    rng = np.random.default_rng(0)
    out = []

    # linalg: multicolour SOR sweeps (the parallel smoother) and SSOR-PCG.
    g = 500 if quick else 1500
    A = poisson2d(g)
    b = rng.standard_normal(A.shape[0])
    smoothers = {}

    def sweeps(t):
        s = smoothers.get(t)
        if s is None:
            s = smoothers[t] = linalg.SORSmoother(A, omega=1.0, sweep="symmetric", ordering="multicolor", n_threads=t)
        x = np.zeros(A.shape[0])
        s(x, b, iterations=10)
        return x

    out.append(("linalg SORSmoother multicolour", f"2-D Poisson {g}x{g}, 10 symmetric sweeps", sweeps))

    def pcg(t):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return linalg.ssor_pcg(A, b, rtol=1e-30, maxiter=50, n_threads=t)

    out.append(("linalg ssor_pcg", f"2-D Poisson {g}x{g}, 50 iterations", pcg))

    # ot: Sinkhorn (scaling fast path) and log-domain Sinkhorn, fixed iterations.
    n = 1000 if quick else 4000
    x, y = rng.random((n, 2)), rng.random((n, 2))
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    M /= M.max()
    a = np.full(n, 1.0 / n)

    def sink(method, reg, iters):
        def fn(t):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return ot.entropic(a, a, M, reg, method=method, tol=1e-300, maxiter=iters, n_threads=t)

        return fn

    out.append(("ot sinkhorn (scaling path)", f"n={n}, reg=1e-2, 100 iterations", sink("sinkhorn", 1e-2, 100)))
    out.append(("ot sinkhorn_log", f"n={n}, reg=1e-3, 20 iterations", sink("sinkhorn_log", 1e-3, 20)))

    def sns(t):
        return ot.entropic(a, a, M, 1e-3, method="sns", tol=1e-8, n_threads=t)

    out.append(("ot sns (to tol 1e-8)", f"n={n}, reg=1e-3", sns))

    B, nb = (16, 200) if quick else (64, 500)
    xb = rng.random((nb, 2))
    Mb = ((xb[:, None, :] - rng.random((nb, 2))[None, :, :]) ** 2).sum(-1)
    Mb /= Mb.max()
    ab = rng.random((B, nb)) + 0.1
    ab /= ab.sum(1, keepdims=True)
    bb = np.full((B, nb), 1.0 / nb)

    def batch(t):
        return ot.entropic_batch(ab, bb, Mb, 1e-2, tol=1e-8, n_threads=t)

    out.append(("ot entropic_batch", f"{B} problems n={nb}, reg=1e-2, to tol 1e-8", batch))

    # completion: alternating minimisation sweeps.
    m = 5000 if quick else 20000
    k = 20
    per_row = 50
    U = rng.standard_normal((m, k))
    V = rng.standard_normal((m, k))
    nnz = m * per_row
    rows = rng.integers(0, m, nnz)
    cols = rng.integers(0, m, nnz)
    key = np.unique(rows.astype(np.int64) * m + cols)
    rows, cols = key // m, key % m
    vals = np.einsum("ij,ij->i", U[rows], V[cols])
    X = sp.csr_matrix((vals, (rows, cols)), shape=(m, m))
    for solver in ("cholesky", "cg"):
        def alt(t, solver=solver):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return completion.altmin(X, k, reg=1e-3, method=solver, maxiter=5, tol=0.0, seed=0, n_threads=t)

        out.append((f"completion altmin {solver}", f"{m}x{m}, rank {k}, ~{per_row}/row, 5 sweeps", alt))

    # bcd: greedy (GSL) rules on logistic regression recompute the full gradient each iteration.
    nl, pl = (2000, 500) if quick else (8000, 2000)
    Xl = rng.standard_normal((nl, pl))
    yl = (Xl @ rng.standard_normal(pl) + rng.standard_normal(nl) > 0).astype(int)
    prob = bcd.Logistic(Xl, yl, l2=1e-2)

    def logistic(t):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bcd.minimize(prob, rule="gsl", block_size=10, tol=0.0, maxiter=300, n_threads=t)

    out.append(("bcd Logistic GSL", f"dense {nl}x{pl}, 300 block updates (full gradient each)", logistic))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--only", default="", help="comma-separated substrings of kernel names to run")
    args = p.parse_args()
    cpus = len(os.sched_getaffinity(0))
    threads = [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= cpus]
    print(markdown_machine())
    print()
    print("| kernel | work | " + " | ".join(f"{t} thr" for t in threads) + " | speed-up at max |")
    print("|---|---|" + "---|" * len(threads) + "---|")
    only = [s for s in args.only.split(",") if s]
    for name, work, fn in kernels(args.quick):
        if only and not any(s in name for s in only):
            continue
        times = []
        for t in threads:
            tm, _ = median_time(lambda: fn(t), repeats=args.repeats, warmup=1)
            times.append(tm)
        cells = " | ".join(f"{tm * 1e3:.1f} ms" for tm in times)
        print(f"| {name} | {work} | {cells} | {times[0] / times[-1]:.1f}x |", flush=True)
    print()
    print(f"itercore {itercore.__version__}; medians of {args.repeats} runs after a warm-up.")


if __name__ == "__main__":
    main()
