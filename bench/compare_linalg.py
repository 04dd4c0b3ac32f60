"""itercore.linalg (relaxation) side by side with PyAMG and SciPy, in one process.

Prints one markdown report (machine first) with three tables:

1. forward SOR sweep on the 2-D Poisson matrix with 1e6 unknowns: itercore
   (natural order; multicolour on 1 and 2 threads) against
   ``pyamg.relaxation.relaxation.sor``;
2. time to relative residual 1e-8 on 2-D Poisson (250k and 1M unknowns):
   ``ssor_pcg`` with a tuned omega against SciPy ``cg`` without and with
   ``ssor_preconditioner``;
3. a 2-D heat-equation sequence (Crank-Nicolson, time-varying diffusion,
   warm starts): total SOR iterations and time for omega = 1, the best fixed
   omega in hindsight, ``OmegaTuner`` and ``ContextualOmegaTuner``.

Every residual is recomputed here from the returned solution. Times are
medians of timed runs after a warm-up; ratios are against the peer timed in
the same run.

Usage: ``python bench/compare_linalg.py [--full]`` (default: a reduced grid
that finishes in a few minutes on 2 cores; ``--full`` times more repeats and
the 1M-unknown CG runs as often as the others).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

sys.path.insert(0, os.path.dirname(__file__))
from machine import markdown_machine, median_time  # noqa: E402

import itercore  # noqa: E402
from itercore import linalg  # noqa: E402
from itercore._problems import poisson2d as poisson  # noqa: E402

try:
    import pyamg.relaxation.relaxation as pyamg_relaxation
except ImportError:  # the table says so
    pyamg_relaxation = None


def rel_res(A, x, b):
    return float(np.linalg.norm(b - A @ x) / np.linalg.norm(b))


# --- 1. one SOR sweep ----------------------------------------------------------------

def sweep_table(repeats):
    A = poisson(1000)
    n = A.shape[0]
    b = np.random.default_rng(0).standard_normal(n)
    plan = linalg.multicolor_ordering(A)
    k = 10  # sweeps per timed call, so per-call validation is amortised as a user would
    rows = []
    runners = {}
    if pyamg_relaxation is not None:
        x_p = np.zeros(n)
        runners["PyAMG sor (natural)"] = lambda: pyamg_relaxation.sor(A, x_p, b, omega=1.3, iterations=k)
    x_n = np.zeros(n)
    runners["itercore sor_sweep natural"] = lambda: linalg.sor_sweep(A, x_n, b, omega=1.3, iterations=k)
    smoother = linalg.SORSmoother(A, omega=1.3)
    x_s = np.zeros(n)
    runners["itercore SORSmoother natural (A prepared once)"] = lambda: smoother(x_s, b, iterations=k)
    smoother_mc = linalg.SORSmoother(A, omega=1.3, ordering=plan, n_threads=2)
    x_sm = np.zeros(n)
    runners["itercore SORSmoother multicolour, 2 threads (A prepared once)"] = lambda: smoother_mc(
        x_sm, b, iterations=k)
    x_m1 = np.zeros(n)
    runners["itercore sor_sweep multicolour, 1 thread"] = lambda: linalg.sor_sweep(
        A, x_m1, b, omega=1.3, iterations=k, ordering=plan, n_threads=1)
    x_m2 = np.zeros(n)
    runners["itercore sor_sweep multicolour, 2 threads"] = lambda: linalg.sor_sweep(
        A, x_m2, b, omega=1.3, iterations=k, ordering=plan, n_threads=2)
    # Interleave: every solver once per round, medians over rounds.
    times = {name: [] for name in runners}
    for fn in runners.values():
        fn()
    for _ in range(repeats):
        for name, fn in runners.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) / k)
    if pyamg_relaxation is not None:
        # PyAMG and the natural sweep run the same arithmetic: same iterate.
        assert np.allclose(x_p, x_n, rtol=1e-10, atol=1e-10)
    ref = statistics.median(times["PyAMG sor (natural)"]) if pyamg_relaxation is not None else None
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = f"{med / ref:.2f}" if ref else "n/a (PyAMG missing)"
        rows.append(f"| {name} | {med * 1e3:.2f} | {ratio} |")
    head = ["| forward SOR sweep, 2-D Poisson 1000x1000 (1e6 unknowns, 5e6 entries) | ms per sweep | vs PyAMG |",
            "|---|---:|---:|"]
    note = (f"\nMedian over {repeats} interleaved rounds of {k} sweeps per call; sor_sweep validates and prepares A "
            "on every call, SORSmoother once. "
            f"Multicolour: {plan.n_colors} colours, plan computed once; a different ordering, so different "
            "iterates converging to the same solution. One sweep moves about 88 MB.")
    return "\n".join(head + rows) + note


# --- 2. time to rtol 1e-8 ------------------------------------------------------------

def tuned_omega(A, b):
    """omega with the fewest ssor_pcg iterations on this problem (coarse grid search)."""
    best = None
    for omega in (1.0, 1.3, 1.5, 1.6, 1.7, 1.8, 1.9):
        _, res = linalg._solve("ssor_pcg", A, b, omega=omega, rtol=1e-8)
        if best is None or res["nit"] < best[1]:
            best = (omega, res["nit"])
    return best[0]


def pcg_table(sizes, repeats, full):
    lines = ["| problem | solver | iterations | seconds (median) | rel. residual | vs scipy cg |",
             "|---|---|---:|---:|---:|---:|"]
    for m in sizes:
        A = poisson(m)
        n = A.shape[0]
        b = np.random.default_rng(1).standard_normal(n)
        omega = tuned_omega(poisson(min(m, 500)), b[: min(m, 500) ** 2])
        prec = linalg.ssor_preconditioner(A, omega=omega)
        results = {}

        def scipy_cg(M=None):
            count = [0]
            x, info = spla.cg(A, b, M=M, rtol=1e-8, maxiter=100000,
                              callback=lambda xk: count.__setitem__(0, count[0] + 1))
            return x, count[0]

        solvers = {
            "scipy cg": lambda: scipy_cg(),
            f"scipy cg + ssor_preconditioner(omega={omega})": lambda: scipy_cg(prec),
            f"itercore ssor_pcg (omega={omega})": lambda: (
                lambda r: (r[0], r[1]["nit"]))(linalg._solve("ssor_pcg", A, b, omega=omega, rtol=1e-8,
                                                             ordering="natural")),
        }
        # The 1M-unknown unpreconditioned CG takes minutes: timed once unless --full.
        reps = repeats if (full or m <= 500) else 1
        warm = 1 if (full or m <= 500) else 0
        for name, fn in solvers.items():
            out = {}
            t = median_time(lambda: out.update(r=fn()), reps, warmup=warm)[0]
            x, nit = out["r"]
            results[name] = (t, nit, rel_res(A, x, b))
        ref = results["scipy cg"][0]
        for name, (t, nit, rr) in results.items():
            lines.append(f"| 2-D Poisson {m}x{m} ({n:,} unknowns) | {name} | {nit} | {t:.3f} | {rr:.1e} | "
                         f"{ref / t:.1f}x faster |" if name != "scipy cg" else
                         f"| 2-D Poisson {m}x{m} ({n:,} unknowns) | {name} | {nit} | {t:.3f} | {rr:.1e} | 1.0 |")
    lines.append("\nTarget: relative residual <= 1e-8, recomputed from each returned x. omega tuned by "
                 "iteration count on the 500x500 problem.")
    return "\n".join(lines)


# --- 3. heat-equation sequence -------------------------------------------------------

def heat_sequence(nx=100, steps=500, seed=0):
    """Crank-Nicolson for u_t = kappa(t) (u_xx + u_yy) + 1 on the unit square."""
    h = 1.0 / (nx + 1)
    L = poisson(nx) / h**2
    I = sp.identity(nx * nx, format="csr")
    dt = 2e-3
    rng = np.random.default_rng(seed)
    kappas = 0.05 + 0.95 * (0.5 + 0.5 * np.sin(np.linspace(0, 6 * np.pi, steps))) ** 2
    kappas *= 1 + 0.1 * rng.standard_normal(steps).clip(-2, 2)
    kappas = np.abs(kappas) + 0.02
    lhs = [(I + 0.5 * dt * k * L).tocsr() for k in kappas]
    rhs_ops = [(I - 0.5 * dt * k * L).tocsr() for k in kappas]
    return lhs, rhs_ops, kappas, dt, nx


def run_heat(seq, choose, rtol=1e-8):
    """Total iterations and seconds of one pass; ``choose(t, A, b, x0, kappa)`` solves step t."""
    lhs, rhs_ops, kappas, dt, nx = seq
    u = np.zeros(nx * nx)
    total = 0
    t0 = time.perf_counter()
    for t in range(len(lhs)):
        b = rhs_ops[t] @ u + dt
        u_new, nit = choose(t, lhs[t], b, u, kappas[t])
        total += nit
        u = u_new
    return total, time.perf_counter() - t0, u


def heat_table(steps):
    seq = heat_sequence(steps=steps)
    omegas = np.linspace(1.0, 1.95, 20)

    def fixed(omega):
        def choose(t, A, b, x0, kappa):
            x, res = linalg._solve("sor", A, b, x0=x0, omega=omega, rtol=1e-8, ordering="natural")
            return x, res["nit"]
        return choose

    per_omega = {}
    for w in omegas:
        per_omega[w] = run_heat(seq, fixed(w))
    best_w = min(per_omega, key=lambda w: per_omega[w][0])
    tuner = linalg.OmegaTuner(omegas=omegas, seed=0)
    ctx = linalg.ContextualOmegaTuner(omegas=omegas, context_range=(float(seq[2].min()), float(seq[2].max())),
                                      seed=0)

    def via(tuner_obj, contextual):
        def choose(t, A, b, x0, kappa):
            n_before = tuner_obj.total_iterations()
            kw = {"context": float(kappa)} if contextual else {}
            x, info = tuner_obj.solve(A, b, x0=x0, rtol=1e-8, ordering="natural", **kw)
            return x, tuner_obj.total_iterations() - n_before
        return choose

    res = {
        "SOR omega = 1 (Gauss-Seidel)": per_omega[omegas[0]],
        f"SOR best fixed omega in hindsight ({best_w:.2f})": per_omega[best_w],
        "OmegaTuner (Tsallis-INF)": run_heat(seq, via(tuner, False)),
        "ContextualOmegaTuner (ChebCB, context = kappa)": run_heat(seq, via(ctx, True)),
    }
    ref_u = res[f"SOR best fixed omega in hindsight ({best_w:.2f})"][2]
    base = res["SOR omega = 1 (Gauss-Seidel)"]
    lines = [f"| heat equation, {seq[4]}x{seq[4]} grid, {steps} Crank-Nicolson steps, warm starts | total iterations "
             "| seconds | iterations vs omega=1 | final state vs best fixed |", "|---|---:|---:|---:|---:|"]
    for name, (it, sec, u) in res.items():
        diff = np.linalg.norm(u - ref_u) / np.linalg.norm(ref_u)
        lines.append(f"| {name} | {it:,} | {sec:.2f} | {it / base[0]:.3f} | {diff:.1e} |")
    lines.append(f"\nkappa(t) in [{seq[2].min():.2f}, {seq[2].max():.2f}], dt = {seq[3]}, tolerance rtol = 1e-8 each "
                 "step; the tuners pay for their exploration inside these totals (one pass, no warm-up).")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="more repeats; 1M-unknown CG timed like the others")
    args = ap.parse_args(argv)
    repeats = 7 if args.full else 5
    warnings.simplefilter("error", itercore.ConvergenceWarning)
    out = ["# itercore.linalg (relaxation) vs PyAMG and SciPy", "", markdown_machine(("itercore", "numpy", "scipy",
                                                                                       "pyamg")), ""]
    out += ["## One SOR sweep", "", sweep_table(repeats), ""]
    print("\n".join(out), flush=True)
    part = ["## Time to relative residual 1e-8", "", pcg_table((500, 1000), 3 if not args.full else 5, args.full), ""]
    print("\n".join(part), flush=True)
    out += part
    part = ["## A sequence of heat-equation solves", "", heat_table(500), ""]
    print("\n".join(part), flush=True)
    out += part
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", "linalg.md"), "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
