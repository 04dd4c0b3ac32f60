"""itercore smoothers inside PyAMG hierarchies (``itercore.linalg.pyamg_smoothers``), in one process.

For each problem (PyAMG gallery generators and the example matrices shipped
with PyAMG) one smoothed-aggregation hierarchy is built per smoother, then
``ml.solve(b, tol=1e-8, accel="cg")`` is timed (setup excluded: the
hierarchy is the same) for:

- PyAMG default (smoothed aggregation's ``block_gauss_seidel``, symmetric);
- PyAMG ``gauss_seidel`` symmetric;
- itercore natural order (``pyamg_smoothers(ml)``: the same sweep as PyAMG's
  symmetric Gauss-Seidel);
- itercore multicolour on ``--threads`` threads.

Reported: CG iterations, median solve time, the relative residual recomputed
here, and the time ratio against PyAMG's symmetric Gauss-Seidel. Solvers are
interleaved (round-robin) so that load from other jobs hits all alike.

Usage: ``python bench/compare_pyamg.py [--full] [--repeats N] [--threads T]``
(default: 2-D Poisson 500^2 and the reduced grid; ``--full`` adds 2-D Poisson
1000^2 and 3-D Poisson 80^3).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from machine import markdown_machine  # noqa: E402

from itercore.linalg import pyamg_smoothers  # noqa: E402

try:
    import pyamg
    from pyamg.gallery import diffusion_stencil_2d, load_example, poisson, stencil_grid
except ImportError:  # pragma: no cover
    sys.exit("PyAMG is not installed: pip install pyamg")


def problems(full):
    out = [
        ("poisson 2-D 500^2", lambda: poisson((500, 500), format="csr")),
        ("poisson 3-D 40^3", lambda: poisson((40, 40, 40), format="csr")),
        ("aniso diffusion 2-D 400^2 (eps 1e-3, 30 deg)",
         lambda: stencil_grid(diffusion_stencil_2d(epsilon=1e-3, theta=np.pi / 6), (400, 400), format="csr")),
    ]
    for name in ("airfoil", "unit_square", "unit_cube", "knot", "bar", "local_disc_galerkin_diffusion"):
        out.append((f"example {name}", lambda name=name: load_example(name)["A"].tocsr()))
    if full:
        out.insert(1, ("poisson 2-D 1000^2", lambda: poisson((1000, 1000), format="csr")))
        out.insert(3, ("poisson 3-D 80^3", lambda: poisson((80, 80, 80), format="csr")))
    return out


def smoothers(threads):
    gs = ("gauss_seidel", {"sweep": "symmetric"})

    def sa(A, **kw):  # a coarsest level of at most n / 20 unknowns, so that small matrices get 2+ levels
        return pyamg.smoothed_aggregation_solver(A, max_coarse=max(10, min(500, A.shape[0] // 20)), **kw)

    return [
        ("PyAMG default (block GS sym)", lambda A: sa(A)),
        ("PyAMG gauss_seidel sym", lambda A: sa(A, presmoother=gs, postsmoother=gs)),
        ("itercore natural (sym GS)", lambda A: pyamg_smoothers(sa(A))),
        (f"itercore multicolour ({threads} threads)", lambda A: pyamg_smoothers(
            sa(A), ordering="multicolor", n_threads=threads)),
    ]


def is_spd_candidate(A):
    d = A.diagonal()
    return abs(A - A.T).max() <= 1e-10 * abs(A).max() and (d > 0).all()


def run(full, repeats, threads):
    print(markdown_machine(("itercore", "numpy", "scipy", "pyamg")))
    print(f"- repeats: {repeats} (median), interleaved; setup excluded; tol 1e-8 (relative), accel='cg'\n")
    print("| problem | n | nnz | levels | smoother | CG iterations | median solve ms | rel. residual "
          "| PyAMG GS sym time / this |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pname, make in problems(full):
        A = make()
        if not is_spd_candidate(A):
            print(f"| {pname} | {A.shape[0]} | {A.nnz} | | (skipped: not symmetric with a positive diagonal) "
                  "| | | | |")
            continue
        b = np.random.default_rng(0).standard_normal(A.shape[0])
        entries = []
        for sname, build in smoothers(threads):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                entries.append([sname, build(A), []])
        iters, resid = {}, {}
        for _ in range(repeats + 1):  # first round: warm-up
            for entry in entries:
                sname, ml, times = entry
                res = []
                with warnings.catch_warnings():  # PyAMG's CG warns on an indefinite problem: the row says so
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    x = ml.solve(b, tol=1e-8, accel="cg", residuals=res, maxiter=500)
                    times.append(time.perf_counter() - t0)
                iters[sname] = len(res) - 1
                resid[sname] = float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))
        med = {sname: statistics.median(times[1:]) for sname, _, times in entries}
        ref = med["PyAMG gauss_seidel sym"]
        for sname, ml, _ in entries:
            note = "" if resid[sname] <= 1e-7 else " (not reached: CG stopped, indefinite/singular problem)"
            print(f"| {pname} | {A.shape[0]} | {A.nnz} | {len(ml.levels)} | {sname} | {iters[sname]} | "
                  f"{1e3 * med[sname]:.2f} | {resid[sname]:.1e}{note} | {ref / med[sname]:.2f}x |")
        sys.stdout.flush()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--full", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    run(args.full, args.repeats, args.threads)


if __name__ == "__main__":
    main()
