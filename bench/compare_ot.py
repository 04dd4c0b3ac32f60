"""itercore.ot against POT and RegOT: time to equal accuracy, one process.

    python bench/compare_ot.py            # n in {500, 1000, 2000}, ~15 min on 2 loaded cores
    python bench/compare_ot.py --full     # the issue's whole grid (hours)
    python bench/compare_ot.py --problems assignment --sizes 1000 --regs 1e-4 --solvers "itercore sns" "RegOT sinkhorn_ssns"
    python bench/compare_ot.py --sizes 500 1000 2000 4000 --regs 1e-2 --solvers "itercore sinkhorn" "POT sinkhorn"

The default grid has the three problems, n in {500, 1000, 2000} and the four
regs, with a 5 s cap per run and a total budget (``--budget``, 900 s): a
configuration not started within the budget is reported "not run (budget)".
A solver that did not reach the target within the cap at some n is not run
at larger n for the same problem and reg ("not run (not reached at n=...)"); POT ``sinkhorn_log`` runs to accuracy
at n <= 1000 only (it is compared per iteration below). ``--full`` is the
issue's grid: n up to 4000, a 60 s cap, no budget, every peer everywhere.

Every solver runs on the same problems, interleaved (round k of every solver,
then round k+1), after one warm-up/calibration run, and the median time is
reported. Accuracy is the L1 marginal error ||P1 - a||_1 + ||P^T 1 - b||_1,
recomputed here from each returned plan; a peer's stopping threshold is
tightened (x0.3, up to six times) during calibration until its plan reaches
the target. A solver that cannot reach it within the iteration/time cap is
reported "not reached" with the error it achieved. POT ``emd`` (exact, no
regularization) is timed once per problem as a reference.

Writes a convergence plot (marginal error vs time, per solver) to
bench/results/ot_convergence.png.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
import warnings

# On a shared, oversubscribed machine OpenMP's default spin-waiting makes
# every barrier cost a scheduler time slice; passive waiting is the right
# runtime setting there (recorded with the table). Must precede the import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from machine import markdown_machine  # noqa: E402

from itercore import ot as iot  # noqa: E402
from itercore._problems import ot_points  # noqa: E402

try:
    import ot as pot
except ImportError:  # pragma: no cover
    pot = None
try:
    import regot
except ImportError:  # pragma: no cover
    regot = None

TARGET = 1e-8


# --- problems ---------------------------------------------------------------------

def problem_points(n, seed=0):
    """2-D random points, squared Euclidean cost scaled to max 1, uniform weights."""
    return ot_points(n, seed=seed)


def problem_assignment(n, seed=0):
    """Random assignment: cost U[0, 1], uniform weights."""
    rng = np.random.default_rng(seed)
    return np.full(n, 1.0 / n), np.full(n, 1.0 / n), rng.random((n, n))


def problem_grid(n, seed=0):
    """W2 between two discretised 2-D densities (Gaussian mixtures) on a k x k grid, k = round(sqrt(n))."""
    k = int(round(math.sqrt(n)))
    t = (np.arange(k) + 0.5) / k
    X, Y = np.meshgrid(t, t, indexing="ij")
    pts = np.column_stack([X.ravel(), Y.ravel()])
    rng = np.random.default_rng(seed)

    def density():
        d = np.zeros(k * k)
        for _ in range(3):
            c, s, w = rng.random(2), 0.05 + 0.15 * rng.random(), rng.random() + 0.2
            d += w * np.exp(-((pts - c) ** 2).sum(1) / (2 * s * s))
        d += 1e-6  # every cell carries a little mass
        return d / d.sum()

    M = ((pts[:, None, :] - pts[None, :, :]) ** 2).sum(-1)
    M /= M.max()
    return density(), density(), M


PROBLEMS = {"points": problem_points, "assignment": problem_assignment, "grid W2": problem_grid}


def l1_error(P, a, b):
    P = np.asarray(P, dtype=np.float64)
    if not np.isfinite(P).all():
        return math.inf
    return float(np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum())


# --- solvers: run(a, b, M, reg, stop, maxiter) -> plan ------------------------------
# `stop` is the solver's own threshold (calibrated), `maxiter` its iteration cap.

def _quiet(fn):
    def run(*args):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args)
    return run


RUN_CAP = [math.inf]  # seconds; itercore runs stop themselves there (via the callback)


def _itercore(method, options=None):
    def run(a, b, M, reg, stop, maxiter):
        deadline = time.perf_counter() + RUN_CAP[0]

        def cb(_):
            if time.perf_counter() > deadline:
                raise StopIteration

        r = iot.entropic(a, b, M, reg, method=method, tol=stop, maxiter=maxiter, options=options,
                      callback=cb if math.isfinite(RUN_CAP[0]) else None)
        return r.plan, r.nit
    return _quiet(run)


def _pot(name):
    def run(a, b, M, reg, stop, maxiter):
        fn = getattr(pot.bregman, name)
        P, log = fn(a, b, M, reg, numItermax=maxiter, stopThr=stop, log=True)
        return P, int(log["niter"]) if "niter" in log else maxiter
    return _quiet(run)


def _regot(name):
    def run(a, b, M, reg, stop, maxiter):
        r = getattr(regot, name)(np.asfortranarray(M), a, b, reg, tol=stop, max_iter=maxiter)
        return r.plan, int(r.niter)
    return _quiet(run)


def extra_solvers():
    """Run only when named in --solvers: SNS switching to Newton right after the
    warm-up (the rule before ``predict_sinkhorn``), and that with the denser
    Hessian measured in issue #18."""
    return [
        ("itercore sns (no predict)", _itercore("sns", {"predict_sinkhorn": 0}), lambda n: TARGET, 10000),
        ("itercore sns (no predict, drop 1e-6, keep 128)",
         _itercore("sns", {"predict_sinkhorn": 0, "drop_share": 1e-6, "max_keep": 128}), lambda n: TARGET, 10000),
    ]


def solver_table(full):
    """(label, run, first stop threshold as a function of n, default iteration cap)."""
    s = [
        ("itercore sinkhorn", _itercore("sinkhorn"), lambda n: TARGET, 10000),
        ("itercore sns", _itercore("sns"), lambda n: TARGET, 10000),
        # SNS with its Newton systems always by Jacobi-PCG (the solver before the direct path)
        ("itercore sns (cg)", _itercore("sns", {"linear_solver": "cg"}), lambda n: TARGET, 10000),

        ("itercore sinkhorn_log", _itercore("sinkhorn_log"), lambda n: TARGET, 10000),
        # Tang et al.'s Algorithm 1 as written (N1 = 20), at the density that converged in
        # bench/papers/tang2024.py (the paper's 2 stalls there)
        ("itercore sns_paper", _itercore("sns_paper", {"warmup_iter": 20, "density": 15.0}), lambda n: TARGET,
         10000),
    ]
    if pot is not None:
        s += [
            # POT's threshold starts at the target itself and is tightened (x0.1) until its plan
            # reaches it: starting at TARGET / sqrt(n), as before issue #18, could leave POT
            # running 10 more iterations than it needs (e.g. 70 instead of 60 on the random
            # assignment, n = 2000, reg = 1e-3)
            ("POT sinkhorn", _pot("sinkhorn"), lambda n: TARGET, 10000),
            ("POT sinkhorn_log", _pot("sinkhorn_log"), lambda n: TARGET, 10000),
        ]
    if regot is not None:
        s += [
            ("RegOT sinkhorn_ssns", _regot("sinkhorn_ssns"), lambda n: TARGET / math.sqrt(n), 1000),
            ("RegOT sinkhorn_sparse_newton", _regot("sinkhorn_sparse_newton"), lambda n: TARGET / math.sqrt(n), 1000),
        ]
    return s


# --- measurement --------------------------------------------------------------------

def _call_in_child(run, args, a, b, timeout):
    """(seconds, L1 error, iterations) of run(*args) in a forked child, killed
    after `timeout` s: RegOT's iteration cost varies too much to cap its time
    by an iteration count. (RegOT ships its own OpenMP runtime, which only ever
    starts in children, so forking is safe; itercore never runs in a child.)"""
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)

    def child():
        t0 = time.perf_counter()
        P, nit = run(*args)
        dt = time.perf_counter() - t0
        send.send((dt, l1_error(P, a, b), nit))

    proc = ctx.Process(target=child, daemon=True)
    proc.start()
    out = recv.recv() if recv.poll(timeout) else None
    if out is None:
        proc.kill()
    proc.join()
    return out if out is not None else (timeout, math.inf, args[-1])


class Cell:
    """One solver on one problem: calibration, then timed rounds."""

    def __init__(self, label, run, stop0, maxiter, cap):
        self.label, self.run, self.stop, self.maxiter, self.cap = label, run, stop0, maxiter, cap
        self.times, self.err, self.nit, self.reached, self.note = [], math.inf, 0, False, ""

    def _call(self, a, b, M, reg):
        if self.label.startswith("RegOT"):
            return _call_in_child(self.run, (a, b, M, reg, self.stop, self.maxiter), a, b, 2 * self.cap + 1)
        t0 = time.perf_counter()
        P, nit = self.run(a, b, M, reg, self.stop, self.maxiter)
        dt = time.perf_counter() - t0
        return dt, l1_error(P, a, b), nit

    def calibrate(self, a, b, M, reg):
        """Warm-up run(s): find an iteration cap that fits the time cap and a
        stopping threshold whose plan reaches the target (at most ~3 caps of time)."""
        limit = self.maxiter
        if not self.label.startswith("itercore sns"):  # (SNS's cost is not per Sinkhorn iteration)
            probe = 20
            if self.label.startswith("RegOT"):
                dt_probe = _call_in_child(self.run, (a, b, M, reg, 0.0, probe), a, b, 2 * self.cap + 1)[0]
            else:
                t0 = time.perf_counter()
                self.run(a, b, M, reg, 0.0, probe)
                dt_probe = time.perf_counter() - t0
            per_iter = dt_probe / probe
            self.maxiter = int(max(probe, min(limit, self.cap / max(per_iter, 1e-9))))
        spent, tightened = 0.0, 0
        while True:
            dt, err, nit = self._call(a, b, M, reg)
            spent += dt
            self.err, self.nit, self.first = err, nit, dt
            if err <= TARGET:
                self.reached = True
                return
            if spent > 2 * self.cap:
                break
            if nit >= self.maxiter - 1:  # stopped by the iteration cap (POT counts from 0)
                if self.maxiter >= limit or dt >= 0.8 * self.cap:
                    break
                self.maxiter = int(min(limit, self.maxiter * 0.9 * self.cap / max(dt, 1e-9)))
            elif tightened < 6:  # stopped by its own threshold: tighten it (in steps fine enough
                self.stop *= 0.3   # not to cost POT, checking every 10 iterations, a needless check)
                tightened += 1
            else:
                break
        self.times = [dt]

    def timed(self, a, b, M, reg):
        dt, err, nit = self._call(a, b, M, reg)
        self.times.append(dt)
        self.err, self.nit = err, nit
        if err > TARGET:
            self.reached = False

    @property
    def median(self):
        return statistics.median(self.times) if self.times else math.nan


def run_config(problem, n, reg, solvers, repeats, cap, slow_single):
    a, b, M = PROBLEMS[problem](n)
    cells = [Cell(label, run, stop(n), maxit, cap) for label, run, stop, maxit in solvers]
    for c in cells:  # warm-up and calibration (also warms the caches of the others)
        t0 = time.perf_counter()
        c.calibrate(a, b, M, reg)
        print(f"    {c.label}: calibrated in {time.perf_counter() - t0:.1f} s, err {c.err:.1e}",
              file=sys.stderr, flush=True)
    for _ in range(repeats):
        for c in cells:  # interleaved rounds
            if not c.reached or (c.first > slow_single and len(c.times) >= 1):
                continue
            c.timed(a, b, M, reg)
    for c in cells:
        if c.reached and not c.times:
            c.times = [c.first]
            c.note = "1 run"
    return (a, b, M), cells


def time_emd(a, b, M, cap):
    if pot is None:
        return None
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        P = pot.emd(a, b, M, numItermax=10**8)
    return time.perf_counter() - t0, l1_error(P, a, b), float((P * M).sum())


def per_iteration(n, reg=1e-2, iters=20):
    """ms per iteration of the log-domain iterations, fixed iteration count."""
    a, b, M = problem_points(n)
    out = []
    runs = [("itercore sinkhorn (log-stable, scaling fast path)", _itercore("sinkhorn")),
            ("itercore sinkhorn_log (log domain only)", _itercore("sinkhorn_log"))]
    if pot is not None:
        runs += [("POT sinkhorn (scaling)", _pot("sinkhorn")), ("POT sinkhorn_log", _pot("sinkhorn_log"))]
    times = {label: [] for label, _ in runs}
    for label, run in runs:
        run(a, b, M, reg, 0.0, 2)  # warm-up
    for _ in range(3):
        for label, run in runs:
            t0 = time.perf_counter()
            run(a, b, M, reg, 0.0, iters)
            times[label].append((time.perf_counter() - t0) / iters * 1e3)
    ref = statistics.median(times["POT sinkhorn_log"]) if pot is not None else math.nan
    for label, _ in runs:
        med = statistics.median(times[label])
        out.append((label, med, ref / med))
    return out


def fmt_time(c):
    if c.note.startswith("not run"):
        return c.note
    if not c.reached:
        return f"not reached (err {c.err:.1e} in {c.median:.2f} s)"
    return f"{c.median:.3f}" + (f" ({c.note})" if c.note else "")


def convergence_plot(path, problem="points", n=1000, reg=1e-3, cap=20.0):
    """Marginal error vs time: each solver run to a geometric series of iteration caps."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    a, b, M = PROBLEMS[problem](n)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, run, stop, maxit in solver_table(False):
        if "sinkhorn_log" in label and "POT" in label:
            caps = [1, 3, 10, 30]
        else:
            caps = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 10000]
        ts, es = [], []
        for k in caps:
            t0 = time.perf_counter()
            if label == "itercore sns":
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = iot.entropic(a, b, M, reg, method="sns", tol=TARGET / 10, max_newton=k, maxiter=10000)
                P = r.plan
            else:
                P, _ = run(a, b, M, reg, 0.0 if "POT" in label or "RegOT" in label else TARGET / 10, k)
            dt = time.perf_counter() - t0
            ts.append(dt)
            es.append(max(l1_error(P, a, b), 1e-16))
            if es[-1] <= TARGET / 10 or dt > cap or (label == "itercore sns" and k > 60):
                break
        ax.loglog(ts, es, marker="o", ms=3, label=label)
    ax.axhline(TARGET, color="k", lw=0.8, ls="--")
    ax.set_xlabel("seconds")
    ax.set_ylabel("L1 marginal error (recomputed from the plan)")
    ax.set_title(f"{problem}, n={n}, reg={reg:g}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"convergence plot: {path}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the issue's whole grid (n up to 4000, 4 regs, 3 problems)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--budget", type=float, default=900.0,
                    help="default grid: seconds after which no new configuration starts (900)")
    ap.add_argument("--problems", nargs="+", choices=list(PROBLEMS), help="default grid: only these problems")
    ap.add_argument("--sizes", nargs="+", type=int, help="default grid: only these n")
    ap.add_argument("--regs", nargs="+", type=float, help="default grid: only these regs")
    ap.add_argument("--solvers", nargs="+", help="only these solvers (a label, or its first words: \"itercore sns\" includes \"itercore sns (cg)\")")
    ap.add_argument("--no-per-iteration", action="store_true", help="skip the per-iteration table")
    ap.add_argument("--repeats", type=int, default=5, help="default grid: timed runs per solver (5)")
    ap.add_argument("--cap", type=float, default=5.0, help="default grid: seconds per run (5)")
    ap.add_argument("--single-above", type=float, default=1.0,
                    help="default grid: runs slower than this many seconds are timed once (1)")
    args = ap.parse_args(argv)
    load_start = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    if args.full:
        grid = [(p, n, reg) for p in PROBLEMS for n in (500, 1000, 2000, 4000) for reg in (1e-2, 1e-3, 3e-4, 1e-4)]
        repeats, cap, slow_single, budget = 5, 60.0, 1e9, math.inf
    else:
        # n outermost: when the budget runs out, the largest n is cut for every problem
        # (--sizes may name sizes outside the default grid, e.g. 4000)
        grid = [(p, n, reg) for n in (args.sizes or (500, 1000, 2000)) for p in PROBLEMS
                for reg in (args.regs or (1e-2, 1e-3, 3e-4, 1e-4))]
        repeats, cap, slow_single, budget = args.repeats, args.cap, args.single_above, args.budget
        grid = [(p, n, reg) for p, n, reg in grid if args.problems is None or p in args.problems]
    # itercore's log-domain-only iteration is compared per iteration (below)
    solvers = [s for s in solver_table(args.full) if s[0] != "itercore sinkhorn_log"]
    if args.solvers:
        solvers = [s for s in solvers + extra_solvers() if any(s[0] == p or s[0].startswith(p + " ") for p in args.solvers)]
    RUN_CAP[0] = 2.5 * cap
    t_start = time.perf_counter()
    rows = []
    emd_done = {}
    capped = {}  # (problem, reg, solver) -> n where it hit the cap
    for problem, n, reg in grid:
        use, skipped = [], []
        for s in solvers:
            hit = capped.get((problem, reg, s[0]))
            if not args.full and s[0] == "POT sinkhorn_log" and n > 1000:
                skipped.append((s[0], "not run (n > 1000; see per-iteration table)"))
            elif not args.full and hit is not None:
                skipped.append((s[0], f"not run (not reached at n={hit})"))
            else:
                use.append(s)
        if time.perf_counter() - t_start > budget:
            for label, *_ in solvers:
                rows.append((problem, n, f"{reg:g}", label, "not run (budget)", "", "", "", ""))
            continue
        (a, b, M), cells = run_config(problem, n, reg, use, repeats, cap, slow_single)
        ref = next((c for c in cells if c.label == "POT sinkhorn"), None)
        for c in cells:
            if not c.reached:
                capped.setdefault((problem, reg, c.label), n)
            ratio = ""
            if ref is not None and c is not ref and c.reached:
                if ref.reached:
                    ratio = f"{ref.median / c.median:.1f}x"
                elif ref.median < 0.5 * cap:
                    # POT stopped early without reaching the target (e.g. its
                    # scaling underflowed): there is no time to compare with.
                    ratio = f"POT fails (err {ref.err:.0e})"
                else:
                    ratio = f"> {ref.median / c.median:.1f}x"
            ms_it = 1e3 * c.median / c.nit if c.nit else math.nan
            rows.append((problem, n, f"{reg:g}", c.label, fmt_time(c), f"{c.err:.1e}", str(c.nit), f"{ms_it:.2f}", ratio))
        for label, note in skipped:
            rows.append((problem, n, f"{reg:g}", label, note, "", "", "", ""))
        key = (problem, n)
        if key not in emd_done and pot is not None:
            emd_done[key] = time_emd(a, b, M, cap)
            t, err, _ = emd_done[key]
            rows.append((problem, n, "0 (exact)", "POT emd", f"{t:.3f}", f"{err:.1e}", "", "", ""))
        print(f"  done {problem} n={n} reg={reg:g} ({time.perf_counter() - t_start:.0f} s)", file=sys.stderr, flush=True)

    print(markdown_machine(("itercore", "numpy", "scipy", "pot", "regot")))
    for var in ("OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS"):
        print(f"- {var}: {os.environ.get(var, 'unset')}")
    # the machine is shared with other jobs: its load, recorded with the table
    print(f"- uptime at start: {load_start}")
    print(f"- uptime at end: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"- mode: {'full' if args.full else 'default (reduced grid)'}; target L1 marginal error {TARGET:g}, "
          f"recomputed from each plan; median of {repeats} timed runs after 1 warm-up/calibration run "
          f"(runs slower than {slow_single:g} s: 1 run); cap {cap:g} s per run"
          + ("" if args.full else f"; budget {budget:g} s"))
    print()
    print("| problem | n | reg | solver | median s to 1e-8 | L1 error | iterations | ms/iter | POT sinkhorn time / this |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    if not args.no_per_iteration:
        print()
        print("Per iteration (points, reg=1e-2, 20 iterations, median of 3):")
        print()
        print("| n | solver | ms/iter | POT sinkhorn_log ms/iter / this |")
        print("|---|---|---|---|")
    for n in (() if args.no_per_iteration else (500, 1000, 2000, 4000) if args.full else (500, 1000)):
        for label, ms, ratio in per_iteration(n):
            print(f"| {n} | {label} | {ms:.2f} | {ratio:.1f}x |")
    print(f"\n(total {time.perf_counter() - t_start:.0f} s)")
    if not args.no_plot:
        convergence_plot(os.path.join(os.path.dirname(__file__), "results", "ot_convergence.png"),
                         cap=60.0 if args.full else 8.0)


if __name__ == "__main__":
    main()
