"""Reproduction of Gu, Song, Yin & Zhang, "Low Rank Matrix Completion via Robust
Alternating Minimization in Nearly Linear Time" (ICLR 2024) with
itercore.completion.

The paper's claim: a sweep of its alternating minimization costs about
|Omega| k (sketched regressions) instead of |Omega| k^2 (exact normal
equations). Measured here:

1. Time per half-step (one multiple-response regression, every line with c
   observations) of the paper's sketch-preconditioned solver (OSNAP, the
   ``"sketch"`` row solver that ``method="paper"`` uses) against the exact
   Gram solve (``"cholesky"``), for k in {10, 20, 50, 100, 200} at a fixed
   number c of observations per line; log-log slopes of time vs k; the error
   reached (relative to the exact solution); the crossover. The former
   1-non-zero CountSketch with 4k rows is timed too.
2. End to end: ``altmin(method="paper")`` against ``altmin(method="cholesky")``
   on a planted low-rank matrix: error to the truth and time per sweep.

Prints markdown tables; saves bench/results/gu2024_time_vs_k.png.

    python bench/papers/gu2024.py --quick    # about 1-2 minutes on a loaded 2-core machine
    python bench/papers/gu2024.py
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "..", "results")

from itercore.completion import _half_step, altmin  # noqa: E402


def line_problem(lines, other, c, k, seed=0):
    """A half-step problem: `lines` lines with c observations each among `other` columns,
    from a rank-k matrix plus 1e-3 noise; the other factor F (other x k) is fixed."""
    rng = np.random.default_rng(seed)
    F = np.linalg.qr(rng.standard_normal((other, k)))[0] * np.sqrt(other / k)
    Xtrue = rng.standard_normal((lines, k))
    cols = np.concatenate([rng.choice(other, size=c, replace=False) for _ in range(lines)])
    rows = np.repeat(np.arange(lines), c)
    vals = np.einsum("ij,ij->i", Xtrue[rows], F[cols]) + 1e-3 * rng.standard_normal(rows.size)
    X = sp.csr_array((vals, (rows, cols)), shape=(lines, other))
    X.sort_indices()
    return X, F


def timed(fn, repeats):
    ts = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), out


def half_step_table(ks, c, lines, other, repeats, n_threads):
    variants = {
        "exact Gram (cholesky)": dict(method="cholesky"),
        "OSNAP, s = k ln(k+1), 4 nnz, to 1e-3": dict(method="sketch"),
        "paper: OSNAP, to 1e-10 (method='paper')": dict(method="sketch", inner_tol=1e-10, inner_maxiter=60),
        "CountSketch, s = 4k, 1 nnz": None,  # set per k
    }
    rows = []
    for k in ks:
        X, F = line_problem(lines, other, c, k, seed=k)
        exact = None
        for name, spec in variants.items():
            spec = dict(method="sketch", sketch_nnz=1, sketch_rows=4 * k) if spec is None else spec
            t, out = timed(lambda: _half_step(X, F, n_threads=n_threads, seed=1, **spec), repeats)
            if exact is None:
                exact = out
            err = float(np.linalg.norm(out - exact) / np.linalg.norm(exact))
            rows.append({"k": k, "solver": name, "time": t, "err": err})
    return rows


def slope(ks, ts):
    return float(np.polyfit(np.log(ks), np.log(ts), 1)[0])


def planted(m, n, k, per_row, seed=0):
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((m, k)))[0]
    V = np.linalg.qr(rng.standard_normal((n, k)))[0]
    M = (U * np.linspace(2.0, 1.0, k)) @ V.T * np.sqrt(m * n)
    cols = np.concatenate([rng.choice(n, size=per_row, replace=False) for _ in range(m)])
    rows = np.repeat(np.arange(m), per_row)
    return (rows, cols, M[rows, cols], (m, n)), M


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(RESULTS, exist_ok=True)
    ks = [10, 20, 50, 100, 200]
    if args.quick:
        c, lines, other, repeats = 4000, 60, 8000, 3
    else:
        c, lines, other, repeats = 8000, 150, 16000, 5
    print(f"# Gu et al. (ICLR 2024) reproduction: one half-step, {lines} lines x {c} observations "
          f"(|Omega| = {lines * c}), {args.threads} thread(s), median of {repeats}\n")
    rows = half_step_table(ks, c, lines, other, repeats, args.threads)
    print("| k | solver | time (s) | time / (abs(Omega) k) (ns) | error vs exact |")
    print("|---:|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['k']} | {r['solver']} | {r['time']:.4f} | {1e9 * r['time'] / (lines * c * r['k']):.2f} | "
              f"{r['err']:.1e} |")
    print("\n| solver | log-log slope of time vs k |")
    print("|---|---:|")
    names = list(dict.fromkeys(r["solver"] for r in rows))
    for name in names:
        ts = [r["time"] for r in rows if r["solver"] == name]
        print(f"| {name} | {slope(ks, ts):.2f} |")
    ex = [r["time"] for r in rows if r["solver"] == names[0]]
    for name in names[1:]:
        pa = [r["time"] for r in rows if r["solver"] == name]
        cross = [k for k, a, b in zip(ks, ex, pa) if b < a]
        print(f"\ncrossover ({name} faster than the exact Gram): "
              f"{'k = ' + ', '.join(map(str, cross)) if cross else 'none for k <= 200'}")
    print()

    # end to end on a planted matrix
    m = n = 600 if args.quick else 1500
    k_e2e = [5, 10] if args.quick else [5, 10, 20]
    per_row = 480 if args.quick else 1200
    T = 6
    print(f"## End to end: planted rank-k {m} x {n}, {per_row} observations per row, {T} sweeps\n")
    print("| k | method | error to truth | residual on Omega | time (s) | time per sweep (s) |")
    print("|---:|---|---:|---:|---:|---:|")
    for k in k_e2e:
        X, M = planted(m, n, k, per_row, seed=k)
        for method in ("paper", "cholesky"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                res = altmin(X, rank=k, method=method, maxiter=T, tol=1e-12, seed=0, n_threads=args.threads)
                t = time.perf_counter() - t0
            err = np.linalg.norm(res.U @ res.V.T - M) / np.linalg.norm(M)
            print(f"| {k} | {method} | {err:.1e} | {res.residual:.1e} | {t:.3f} | {t / max(res.nit, 1):.4f} |")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5.5, 4))
        for name in names:
            ts = [r["time"] for r in rows if r["solver"] == name]
            ax.loglog(ks, ts, marker="o", label=f"{name} (slope {slope(ks, ts):.2f})")
        ax.set_xlabel("rank k")
        ax.set_ylabel(f"time per half-step (s), |Omega| = {lines * c}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        out = os.path.join(RESULTS, "gu2024_time_vs_k.png")
        fig.savefig(out, dpi=110)
        print(f"\nsaved {os.path.relpath(out)}")
    except ImportError:
        print("\n(matplotlib not installed: no plot)")


if __name__ == "__main__":
    main()
