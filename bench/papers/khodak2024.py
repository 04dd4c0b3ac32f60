"""Khodak et al., "Learning to Relax", ICLR 2024: the headline experiment.

The paper's setting (its code: mkhodak/learning-to-relax, scripts/learning.m
and scripts/contextual.m): A_t = L + c_t I with L the 5-point Laplacian of the
10 x 10 interior grid (MATLAB's ``delsq(numgrid('S', 12))``, n = 100),
c_t = -0.15 + 0.6 * Beta(0.5, 1.5) ("high variance") or Beta(2, 6) ("low
variance"), b_t a standard normal vector radially truncated to norm <= sqrt(n),
x0 = 0, SOR to a relative residual of 1e-8 (checked every sweep, at most 10,000
sweeps), T = 5000 instances, 40 trials. The bandits choose among
omega = linspace(1, 1.95, 20); the fixed omegas of the paper's plot are
1.0, 1.2, ..., 1.8; ChebCB's context range is the authors' (-0.15, 0.65).

SOR is deterministic, so each instance is solved once per grid omega (and once
at its instance-optimal omega, 1 + (beta / (1 + sqrt(1 - beta^2)))^2 with beta
the Jacobi spectral radius) and the tuners are fed from that table through
their private ask/tell steps (``_choose`` / ``_learn``): exactly what their
``solve`` would have done, at a fraction of the cost.

    python bench/papers/khodak2024.py            # the paper's T = 5000, 40 trials
    python bench/papers/khodak2024.py --quick    # T = 1000, 3 trials (< 2 minutes unloaded)

Prints a markdown table per distribution (mean and standard deviation over the
trials of the total iterations) and saves bench/results/khodak2024_<case>.png
(instances remaining vs mean cumulative iterations, the paper's Figure).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

from itercore import _core, _pipeline
from itercore.linalg import ContextualOmegaTuner, OmegaTuner, _System

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "..", "results")
GRID = np.linspace(1.0, 1.95, 20)
FIXED = [0, 4, 8, 12, 16]  # omega = 1.0, 1.2, 1.4, 1.6, 1.8 (the paper's fixed lines)
CASES = {"high": (0.5, 1.5), "low": (2.0, 6.0)}
COS = math.cos(math.pi / 11)


def laplacian10():
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(10, 10))
    return (sp.kron(sp.identity(10), T) + sp.kron(T, sp.identity(10))).tocsr()


def omega_opt(c):
    """The asymptotically optimal SOR omega of L + c I (Young): beta is the Jacobi
    spectral radius, max |1 - (lambda + c) / (4 + c)| over L's eigenvalues
    lambda = 4 - 2 cos(j pi / 11) - 2 cos(k pi / 11), i.e. 4 cos(pi / 11) / (4 + c)."""
    beta = 4.0 * COS / (4.0 + c)
    return 1.0 + (beta / (1.0 + math.sqrt(1.0 - beta * beta))) ** 2


def truncated_normal(rng, n):
    while True:
        b = rng.standard_normal(n)
        if np.linalg.norm(b) <= math.sqrt(n):
            return b


class SorCounter:
    """SOR iterations to rtol 1e-8 from x0 = 0, residual checked every sweep, through the core."""

    def __init__(self):
        self.L = laplacian10()
        self.opts = {}

    def options(self, omega):
        if omega not in self.opts:
            self.opts[omega] = _pipeline.make_options(_core.linalg.SorOptions, dict(
                omega=float(omega), rtol=1e-8, maxiter=10000, check_every=1, n_threads=1))
        return self.opts[omega]

    def costs(self, c, b, omegas):
        s = _System((self.L + c * sp.identity(100)).tocsr(), "natural", 1)
        out = []
        for w in omegas:
            x = np.zeros(100)
            res = _core.linalg.sor(*s.args, b, x, self.options(w), None)
            out.append(res["nit"])
        return out


def run_trial(case, T, seed, counter):
    rng = np.random.default_rng(seed)
    a, bb = CASES[case]
    c = -0.15 + 0.6 * rng.beta(a, bb, T)
    table = np.zeros((T, len(GRID)), dtype=np.int64)
    opt = np.zeros(T, dtype=np.int64)
    for t in range(T):
        b = truncated_normal(rng, 100)
        costs = counter.costs(c[t], b, list(GRID) + [omega_opt(c[t])])
        table[t] = costs[:-1]
        opt[t] = costs[-1]
    learners = {
        "Tsallis-INF (loss='paper', default)": OmegaTuner(seed=seed),
        "Tsallis-INF (loss='running-mean')": OmegaTuner(loss="running-mean", seed=seed),
        "ChebCB (policy='chebcb', default)": ContextualOmegaTuner(context_range=(-0.15, 0.65), seed=seed),
        "Tsallis-INF-CB (policy='binned-tsallis')": ContextualOmegaTuner(
            context_range=(-0.15, 0.65), policy="binned-tsallis", seed=seed),
    }
    paths = {}
    for name, tuner in learners.items():
        contextual = isinstance(tuner, ContextualOmegaTuner)
        cost = np.zeros(T, dtype=np.int64)
        for t in range(T):
            arm, p = tuner._choose(c[t] if contextual else None)
            cost[t] = table[t, arm]
            tuner._learn(arm, p, cost[t], c[t] if contextual else None)
        paths[name] = cost
    for k in FIXED:
        paths[f"omega = {GRID[k]:.1f}"] = table[:, k]
    best = int(np.argmin(table.sum(axis=0)))
    paths["best fixed omega in hindsight"] = table[:, best]
    paths["instance-optimal omega"] = opt
    return paths, GRID[best]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="T = 1000, 3 trials")
    ap.add_argument("--T", type=int, default=None)
    ap.add_argument("--trials", type=int, default=None)
    args = ap.parse_args(argv)
    T = args.T or (1000 if args.quick else 5000)
    trials = args.trials or (3 if args.quick else 40)
    counter = SorCounter()
    # the closed-form Jacobi radius agrees with a dense eigen-solve
    for c in (-0.15, 0.0, 0.3):
        A = (counter.L + c * sp.identity(100)).toarray()
        J = np.eye(100) - A / np.diag(A)[:, None]
        assert abs(max(abs(np.linalg.eigvals(J))) - 4 * COS / (4 + c)) < 1e-10
    os.makedirs(RESULTS, exist_ok=True)
    t0 = time.perf_counter()
    for case in CASES:
        runs, bests = [], []
        for k in range(trials):
            paths, best = run_trial(case, T, 1000 * k + (0 if case == "high" else 1), counter)
            runs.append(paths)
            bests.append(best)
        names = list(runs[0])
        totals = {n: np.array([r[n].sum() for r in runs], dtype=np.float64) for n in names}
        ref = totals["best fixed omega in hindsight"].mean()
        print(f"\n### {case}-variance offsets: c = -0.15 + 0.6 Beta{CASES[case]}, T = {T}, {trials} trials"
              f" (best fixed omega in hindsight: {', '.join(f'{b:.2f}' for b in sorted(set(bests)))})\n")
        print("| learner / omega | total iterations, mean | std over trials | vs best fixed |")
        print("|---|---:|---:|---:|")
        for n in names:
            print(f"| {n} | {totals[n].mean():,.0f} | {totals[n].std():,.0f} | {totals[n].mean() / ref:.3f} |")
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            print("(matplotlib not installed: no plot)")
            continue
        fig, ax = plt.subplots(figsize=(7, 5))
        for n in names:
            curve = np.mean([np.cumsum(r[n]) for r in runs], axis=0)
            style = "--" if n.startswith("omega") else "-"
            extra = {"instance-optimal omega": dict(color="black", ls=":"),
                     "best fixed omega in hindsight": dict(color="gray", ls="-.")}.get(n, {"ls": style})
            ax.plot(curve, T - np.arange(1, T + 1), lw=2 if style == "-" else 1.2, label=n, **extra)
        ax.set_xlabel("total iterations (mean over trials)")
        ax.set_ylabel("instances remaining")
        ax.set_title(f"Khodak et al. setting, {case}-variance offsets (T = {T}, {trials} trials)")
        ax.legend(fontsize=7)
        path = os.path.join(RESULTS, f"khodak2024_{case}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        print(f"\nsaved {os.path.relpath(path)}")
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
