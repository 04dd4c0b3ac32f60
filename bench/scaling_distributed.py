"""Distributed altmin: time per sweep with 1 and 2 Dask workers (processes of
1 thread) on the 10M-rating synthetic problem of compare_distributed.py.

The time per sweep comes from Dask's task stream: the interval between the
starts of consecutive sweeps' first half-step tasks (no callback, no
stopwatch around the client), 4 sweeps per solve, ``--rounds`` solves per
worker count, medians. Run it on an idle machine: the workers, their nannies,
the scheduler and the client share the cores.

    python bench/scaling_distributed.py            # 200,000 x 50,000, 10M ratings, rank 20
    python bench/scaling_distributed.py --small    # 50,000 x 12,500, 2.5M ratings
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_distributed import split, synthetic  # noqa: E402
from machine import markdown_machine  # noqa: E402

from itercore import distributed as icd  # noqa: E402


def sweep_times(stream, tasks_per_sweep):
    starts = sorted(min(s["start"] for s in t["startstops"] if s["action"] == "compute")
                    for t in stream if str(t["key"]).startswith("_half_step_task"))
    return np.diff(starts[::tasks_per_sweep])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from distributed import Client, LocalCluster, get_task_stream

    print(markdown_machine(("itercore", "numpy", "dask", "distributed")), "\n", flush=True)
    m, n, nnz = (50_000, 12_500, 2_500_000) if args.small else (200_000, 50_000, 10_000_000)
    r, c, v, shape = synthetic(m, n, 20, nnz, noise=0.1)
    (r, c, v), _ = split(r, c, v)
    v = v - v.mean()
    warnings.simplefilter("ignore")
    per = {}
    load = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    for w in (1, 2):
        with LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40) as cluster, Client(cluster) as client:
            parts = [(r[i::2 * w], c[i::2 * w], v[i::2 * w]) for i in range(2 * w)]
            for _ in range(args.rounds):
                with get_task_stream(client=client) as ts:
                    t0 = time.perf_counter()
                    icd.altmin(parts, 20, shape=shape, reg=1.0, maxiter=5, tol=0, seed=0, n_threads=1, client=client)
                    total = time.perf_counter() - t0
                d = sweep_times(ts.data, 2 * 2 * w)  # n_blocks = 2 w per side, two half-steps
                per.setdefault(w, []).extend(d.tolist())
                print(f"{w} worker(s): solve {total:.1f} s, sweeps {np.round(d, 3).tolist()}", flush=True)
    load.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    print(f"\n{m} x {n}, {r.size} training ratings, rank 20; load: {load[0]} -> {load[1]}\n")
    print("| | 1 worker | 2 workers | 2 workers / 1 worker |\n|---|---|---|---|")
    a, b = float(np.median(per[1])), float(np.median(per[2]))
    print(f"| s / sweep (median) | {a:.3f} | {b:.3f} | {a / b:.2f}x |")


if __name__ == "__main__":
    main()
