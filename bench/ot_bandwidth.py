"""Bytes per Sinkhorn iteration against the memory-bandwidth floor (issue #18).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/ot_bandwidth.py
    python bench/ot_bandwidth.py --sizes 1000 4000 --repeats 7

For each n (2-D random points, reg = 1e-2, the scaling regime) this measures,
interleaved and as medians of ``--repeats`` rounds:

- the machine's bandwidth with NumPy on an n x n float64 array: a read
  (``K.sum()``), a copy (``np.copyto``, 2 x 8 n^2 bytes) and the read of a
  GEMV (``K @ v``), in GB/s;
- POT's scaling iteration as POT runs it: ``u = a / (K @ v)``, ``v = b / (K.T @ u)``
  (two GEMVs, NumPy/OpenBLAS), ms per iteration;
- itercore ``ot.entropic(method="sinkhorn")`` per iteration, as the difference of
  the median times of runs with ``maxiter`` = k and 2k (over the rounds) (``tol=0``, warm-started from 50 iterations'
  potentials), so the kernel's exp pass, the final plan and the Python checks
  cancel out; and the same with
  ``method="sinkhorn_log"`` (one exp pass an iteration, no stored kernel);
- POT's real ``ot.sinkhorn`` per iteration (runs of k and 2k iterations,
  ``stopThr=0``): its loop adds O(n) checks every iteration and its stopping
  test, an ``einsum`` over K, every 10 iterations;
- the fixed costs beside the iterations: itercore's whole call at ``maxiter=0``
  against POT's ``np.exp(-M / reg)`` plus the final ``u[:, None] * K * v[None]``.

Bytes per iteration: a pass that reads the stored kernel once moves 8 n^2 bytes
(float64); POT's two GEMVs read it twice (16 n^2). "floor" is bytes / the
measured read bandwidth; "x floor" is the measured time over it. "best of
rounds" compares the fastest rounds (less sensitive to other jobs' load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import warnings

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from machine import markdown_machine  # noqa: E402

from itercore import ot as iot  # noqa: E402
from itercore._problems import ot_points  # noqa: E402


def _t(fn, reps=1):
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def pot_iteration(K, a, b, iters):
    u = np.ones_like(a)
    v = np.ones_like(b)

    def run():
        nonlocal u, v
        for _ in range(iters):
            u = a / (K @ v)
            v = b / (K.T @ u)

    return _t(run) / iters


def itercore_calls(a, b, M, reg, method, k, start):
    """Seconds of a call with k and with 2k iterations (per iteration: the
    difference of their medians over the rounds, divided by k)."""
    f0, g0 = start

    def call(maxiter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _t(lambda: iot.entropic(a, b, M, reg, method=method, tol=0.0, maxiter=maxiter, f0=f0, g0=g0))

    return call(k), call(2 * k)


def per_iteration(calls, k):
    t1 = [c[0] for c in calls]
    t2 = [c[1] for c in calls]
    return (statistics.median(t2) - statistics.median(t1)) / k, (min(t2) - min(t1)) / k


def pot_calls(a, b, M, reg, k):
    """Seconds of POT's ``ot.sinkhorn`` with k and 2k iterations (``stopThr=0``):
    its real loop, with its per-iteration checks and its stopping test (an
    einsum over K every 10 iterations)."""
    import ot as pot

    def call(maxiter):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _t(lambda: pot.sinkhorn(a, b, M, reg, numItermax=maxiter, stopThr=0.0))

    return call(k), call(2 * k)


def fixed_costs(a, b, M, reg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ic = _t(lambda: iot.entropic(a, b, M, reg, method="sinkhorn", tol=0.0, maxiter=0))

    def pot_fixed():
        K = np.exp(M / (-reg))
        u = np.ones_like(a)
        v = np.ones_like(b)
        return u.reshape((-1, 1)) * K * v.reshape((1, -1))

    return ic, _t(pot_fixed)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", type=int, default=[500, 1000, 2000, 4000])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--reg", type=float, default=1e-2)
    args = ap.parse_args(argv)
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = []
    for n in args.sizes:
        a, b, M = ot_points(n, seed=0)
        K = np.exp(M / (-args.reg))
        dst = np.empty_like(K)
        v = np.ones(n)
        k = min(1000, max(30, int(4e9 / (8 * n * n) // 10 * 10)))  # ~ 4 GB of K read per timing
        nbytes = 8.0 * n * n
        cols = {key: [] for key in ("read", "copy", "gemv", "pot", "icfix", "potfix")}
        ic_calls, iclog_calls, pot_real = [], [], []
        klog = max(10, k // 4)
        # steady state: warm-started from 50 iterations' potentials, so the
        # kernel is formed once per call (early iterations re-form it as the
        # potentials move), as in the bulk of a solve
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r0 = iot.entropic(a, b, M, args.reg, method="sinkhorn", tol=0.0, maxiter=50)
        start = (r0.f, r0.g)
        for _ in range(args.repeats):  # interleaved rounds
            cols["read"].append(nbytes / _t(lambda: K.sum(), 5) / 1e9)
            cols["copy"].append(2 * nbytes / _t(lambda: np.copyto(dst, K), 5) / 1e9)
            cols["gemv"].append(nbytes / _t(lambda: K @ v, 5) / 1e9)
            cols["pot"].append(pot_iteration(K, a, b, k) * 1e3)
            ic_calls.append(itercore_calls(a, b, M, args.reg, "sinkhorn", k, start))
            pot_real.append(pot_calls(a, b, M, args.reg, k))
            iclog_calls.append(itercore_calls(a, b, M, args.reg, "sinkhorn_log", klog, start))
            ic_fix, pot_fix = fixed_costs(a, b, M, args.reg)
            cols["icfix"].append(ic_fix * 1e3)
            cols["potfix"].append(pot_fix * 1e3)
        med = {key: statistics.median(x) for key, x in cols.items()}
        ic_med, ic_best = per_iteration(ic_calls, k)
        med["ic"], med["ic_best"] = ic_med * 1e3, ic_best * 1e3
        med["iclog"] = per_iteration(iclog_calls, klog)[0] * 1e3
        med["pot_best"] = min(cols["pot"])
        med["pot_real"] = per_iteration(pot_real, k)[0] * 1e3
        floor1 = nbytes / (med["read"] * 1e9) * 1e3  # ms to read K once
        rows.append((n, med, floor1, k))
        print(f"  done n={n}", file=sys.stderr, flush=True)
    print(markdown_machine(("itercore", "numpy", "pot")))
    print(f"- uptime: {load}")
    print(f"- reg: {args.reg:g}; 2-D points; medians of {args.repeats} interleaved rounds")
    print()
    print("| n | K MB | read GB/s | copy GB/s | GEMV GB/s | floor: read K once, ms | POT 2 GEMVs ms/iter "
          "| x floor | itercore sinkhorn ms/iter | x floor | POT / itercore | itercore sinkhorn_log ms/iter "
          "| fixed: itercore ms | fixed: POT ms | best of rounds: POT / itercore "
          "| POT ot.sinkhorn ms/iter | POT ot.sinkhorn / itercore |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n, m, floor1, k in rows:
        print(f"| {n} | {8 * n * n / 1e6:.0f} | {m['read']:.1f} | {m['copy']:.1f} | {m['gemv']:.1f} | {floor1:.3f} "
              f"| {m['pot']:.3f} | {m['pot'] / floor1:.2f} | {m['ic']:.3f} | {m['ic'] / floor1:.2f} "
              f"| {m['pot'] / m['ic']:.2f}x | {m['iclog']:.3f} | {m['icfix']:.2f} | {m['potfix']:.2f} "
              f"| {m['pot_best'] / m['ic_best']:.2f}x | {m['pot_real']:.3f} | {m['pot_real'] / m['ic']:.2f}x |")
    print(f"\n- uptime after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


if __name__ == "__main__":
    main()
