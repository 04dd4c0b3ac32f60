"""itercore.bcd beside its peers, at equal accuracy, in one process.

Lasso: time to a relative duality gap of 1e-6 (the gap divided by
P(0) = ||y||^2 / (2n), recomputed here from each returned coefficient vector)
for itercore.bcd.lasso, scikit-learn's Lasso, celer and skglm. Each solver's
own tolerance is tightened along a ladder until its answer meets the target;
that setting is then timed (1 warm-up + repeats, median).

Label propagation on an N x N lattice: time to relative residual 1e-8
(||A x - b|| / ||b||, recomputed here) for greedy-forest message passing, the
two-tree lattice partition, red-black blocks, Gauss-Southwell coordinate
descent, CG preconditioned by a symmetric forest-block sweep
(bcd method="cg", ordered forests = lattice rows), itercore.linalg's
point SSOR-PCG, scipy cg and spsolve. Hopeless combinations are skipped.

Also writes PNG plots under bench/results/: objective vs iterations for the
rules x {gradient, matrix} updates on a least-squares problem, and forest vs
red-black vs coordinate blocks on the lattice.

    python bench/compare_bcd.py          # reduced grid (< ~8 min on 2 cores)
    python bench/compare_bcd.py --full   # the issue's whole grid
    python bench/compare_bcd.py --part lp   # label propagation (and its plot) only
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
import scipy.sparse.linalg as sla

sys.path.insert(0, os.path.dirname(__file__))
from machine import markdown_machine, median_time  # noqa: E402

from itercore import ConvergenceWarning, bcd  # noqa: E402
from itercore._problems import lattice_weights  # noqa: E402

warnings.simplefilter("ignore", ConvergenceWarning)
RESULTS = os.path.join(os.path.dirname(__file__), "results")


# --- lasso problems ----------------------------------------------------------------

def diabetes_poly4():
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(PolynomialFeatures(4, include_bias=False).fit_transform(X))
    return np.asfortranarray(X), y - y.mean()


def sparse_gaussian(n=10000, p=5000, density=0.01, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, random_state=rng, format="csc", data_rvs=rng.standard_normal)
    w = np.zeros(p)
    w[rng.choice(p, 50, replace=False)] = rng.standard_normal(50)
    y = X @ w + 0.5 * rng.standard_normal(n)
    return X, y


def text_like(n=5000, p=20000, words=60, seed=0):
    """Bag-of-words counts with Zipf term frequencies, rows L2-normalised."""
    rng = np.random.default_rng(seed)
    prob = 1.0 / np.arange(1, p + 1) ** 1.1
    prob /= prob.sum()
    rows = np.repeat(np.arange(n), words)
    cols = rng.choice(p, n * words, p=prob)
    X = sp.csr_matrix((np.ones(n * words), (rows, cols)), shape=(n, p))
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X
    w = np.zeros(p)
    w[rng.choice(200, 30, replace=False)] = rng.standard_normal(30) * 3
    y = X @ w + 0.1 * rng.standard_normal(n)
    return X.tocsc(), y


def rel_gap(X, y, w, alpha):
    """Duality gap of 1/2||y - Xw||^2 + n alpha ||w||_1 at w, dual point the rescaled residual,
    divided by P(0) = ||y||^2 / 2 (the same ratio as with the 1/n scaling): the one accuracy
    measure of every lasso solver here and in compare_lasso.py."""
    n = y.shape[0]
    w = np.asarray(w, dtype=np.float64).ravel()
    r = y - X @ w
    lam = n * alpha
    c = np.max(np.abs(X.T @ r))
    s = min(1.0, lam / c) if c > 0 else 1.0
    primal = 0.5 * r @ r + lam * np.abs(w).sum()
    dual = s * (y @ r) - 0.5 * s * s * (r @ r)
    return (primal - dual) / (0.5 * y @ y)


def lasso_solvers(maxiter=1000, n_threads=None):
    """itercore and the installed peers, each ``f(X, y, alpha, tol) -> w`` (no intercept);
    ``maxiter``: each one's outer-iteration cap (scikit-learn's 100x, its epochs)."""
    out = {"itercore": lambda X, y, a, tol: bcd.lasso(X, y, a, tol=tol, maxiter=maxiter, n_threads=n_threads).x}
    try:
        from sklearn.linear_model import Lasso

        out["scikit-learn"] = lambda X, y, a, tol: Lasso(alpha=a, fit_intercept=False, tol=tol,
                                                         max_iter=100 * maxiter).fit(X, y).coef_
    except ImportError:
        pass
    try:
        import celer

        out["celer"] = lambda X, y, a, tol: celer.Lasso(alpha=a, fit_intercept=False, tol=tol,
                                                        max_iter=maxiter).fit(X, y).coef_
    except ImportError:
        pass
    try:
        import skglm

        out["skglm"] = lambda X, y, a, tol: skglm.Lasso(alpha=a, fit_intercept=False, tol=tol,
                                                        max_iter=maxiter).fit(X, y).coef_
    except ImportError:
        pass
    return out


def bench_lasso(problems, target, repeats):
    solvers = lasso_solvers()
    rows = []
    for pname, (X, y) in problems.items():
        n = y.shape[0]
        amax = np.max(np.abs(X.T @ y)) / n
        for div in (20, 100):
            alpha = amax / div
            row = {"problem": pname, "shape": f"{X.shape[0]}x{X.shape[1]}", "alpha": f"amax/{div}"}
            for name, fn in solvers.items():
                # the loosest tolerance (from the target down) whose answer meets the target
                chosen = None
                for tol in (target, target / 10, target / 100, target / 1000, target / 1e4, target / 1e5):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        t0 = time.perf_counter()
                        w = fn(X, y, alpha, tol)
                        once = time.perf_counter() - t0
                    g = rel_gap(X, y, w, alpha)
                    if g <= target:
                        chosen = tol
                        break
                if chosen is None:
                    row[name] = (float("nan"), g, None)
                    continue
                reps = repeats if once < 5 else 1
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t, w = median_time(lambda: fn(X, y, alpha, chosen), reps)  # the warm-up compiles numba (celer, skglm)
                row[name] = (t, rel_gap(X, y, w, alpha), int((w != 0).sum()))
                print(f"  lasso {pname} amax/{div} {name}: {t:.4f}s gap {row[name][1]:.1e} tol {chosen:g}",
                      file=sys.stderr, flush=True)
            rows.append(row)
    return rows, list(solvers)


# --- label propagation ----------------------------------------------------------------

def lattice_lp(N, frac=0.1, seed=0):
    W = lattice_weights(N)
    rng = np.random.default_rng(seed)
    labels = -np.ones(N * N, dtype=np.int64)
    idx = rng.choice(N * N, int(frac * N * N), replace=False)
    labels[idx] = rng.integers(0, 2, idx.size)
    deg = np.asarray(W.sum(axis=1)).ravel()
    A = (sp.diags(deg + (labels >= 0)) - W).tocsr()
    A.sort_indices()
    b = np.where(labels >= 0, np.where(labels == 1, 1.0, -1.0), 0.0)
    return A, b


def lp_methods(N, cap_s):
    shape = (N, N)

    def bcd_run(**kw):
        def run(A, b, tol):
            return bcd.minimize(bcd.Quadratic(A, b), tol=tol, lattice_shape=shape, maxiter=10**9, **kw).x
        return run

    def cg(A, b, tol):
        return sla.cg(A, b, rtol=tol, maxiter=100000)[0]

    def spsolve(A, b, tol):
        return sla.spsolve(A.tocsc(), b)

    def ssor_pcg(omega):
        def run(A, b, tol):
            from itercore.linalg import ssor_pcg as f
            return f(A, b, rtol=tol, omega=omega, maxiter=100000)[0]
        return run

    return {
        "greedy forest (MP)": bcd_run(blocks="greedy-forest", rule="gsl", update="message-passing"),
        "lattice 2 trees (MP)": bcd_run(blocks="lattice", rule="cyclic", update="message-passing"),
        "red-black": bcd_run(blocks="red-black", rule="cyclic", update="message-passing"),
        "GS coordinate": bcd_run(blocks="order", rule="gs", update="gradient"),
        "forest PCG (rows, w=1)": bcd_run(method="cg", blocks="ordered-forest"),
        "forest PCG (rows, w=1.4)": bcd_run(method="cg", blocks="ordered-forest", omega=1.4),
        "forest PCG (2 trees)": bcd_run(method="cg", blocks="lattice"),
        "linalg ssor_pcg (w=1)": ssor_pcg(1.0),
        "linalg ssor_pcg (w=1.6)": ssor_pcg(1.6),
        "scipy cg": cg,
        "scipy spsolve": spsolve,
    }


def bench_lp(sizes, target, repeats, cap_s, skip):
    """Per N: each method once to find the tolerance that meets the target
    (that run is also its warm-up), then `repeats` rounds that time every
    method in turn (interleaved, so load changes on a shared machine hit all
    methods alike); the median per method. Runs slower than cap_s are timed
    once."""
    rows = []
    names = None
    for N in sizes:
        A, b = lattice_lp(N)
        methods = lp_methods(N, cap_s)
        names = list(methods)
        row = {"N": N, "n": N * N}
        timed = {}
        for name, fn in methods.items():
            if (name, N) in skip:
                row[name] = None
                continue
            tol = target
            ok = False
            for _ in range(4):
                t0 = time.perf_counter()
                x = fn(A, b, tol)
                once = time.perf_counter() - t0
                res = np.linalg.norm(A @ x - b) / np.linalg.norm(b)
                if res <= target * 1.0000001:
                    ok = True
                    break
                tol /= 10
            if not ok:
                row[name] = (float("nan"), res)
                continue
            row[name] = (once, res)  # a single timed run unless repeated below
            if once <= cap_s:
                timed[name] = (fn, tol, [])
        for _ in range(repeats):
            for name, (fn, tol, times) in timed.items():
                t0 = time.perf_counter()
                x = fn(A, b, tol)
                times.append(time.perf_counter() - t0)
                row[name] = (statistics.median(times), np.linalg.norm(A @ x - b) / np.linalg.norm(b))
        for name in names:
            if row.get(name):
                print(f"  lp N={N} {name}: {row[name][0]:.4f}s res {row[name][1]:.1e}", file=sys.stderr, flush=True)
        rows.append(row)
    return rows, names


# --- plots ------------------------------------------------------------------------------

def plots(part="all"):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plots)", file=sys.stderr)
        return []
    os.makedirs(RESULTS, exist_ok=True)
    out = []
    if part == "lp":
        return out + lattice_plot(plt)
    rng = np.random.default_rng(0)
    n, p = 1000, 100
    X = rng.standard_normal((n, p)) * np.exp(rng.uniform(-2, 2, p))  # varied Lipschitz constants
    y = X @ rng.standard_normal(p) + rng.standard_normal(n)
    prob = bcd.LeastSquares(X, y)
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    fstar = prob.fun(ref)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, update in zip(axes, ("gradient", "matrix")):
        for rule in bcd.RULES:
            r = bcd.minimize(prob, rule=rule, blocks="sorted", block_size=5, update=update, history=True,
                             maxiter=500, tol=0.0, seed=0)
            ax.semilogy(np.maximum(r.history - fstar, 1e-16), label=rule)
        ax.set_title(f"least squares {n}x{p}, blocks of 5 (sorted), {update} update")
        ax.set_xlabel("iteration")
        ax.legend()
    axes[0].set_ylabel("f(x) - f*")
    path = os.path.join(RESULTS, "bcd_rules.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    out.append(path)
    if part == "lasso":
        return out
    return out + lattice_plot(plt)


def lattice_plot(plt):
    out = []
    N = 50
    A, b = lattice_lp(N, frac=0.02)
    q = bcd.Quadratic(A, b)
    xs = sla.spsolve(A.tocsc(), b)
    fstar = q.fun(xs)
    fig, ax = plt.subplots(figsize=(6, 4))
    sweeps = 300
    n = N * N
    # the objective at each optimality check (recorded by the callback): once per
    # sweep for fixed partitions, once per iteration for greedy forests, whose
    # x-position is the number of variables updated so far divided by n
    for label, kw, per_check in [
        ("greedy forest (MP)", dict(blocks="greedy-forest", update="message-passing", rule="gsl"), None),
        ("lattice 2 trees (MP)", dict(blocks="lattice", update="message-passing", rule="cyclic"), 2),
        ("red-black", dict(blocks="red-black", update="message-passing", rule="cyclic"), 2),
        ("GS coordinate", dict(blocks="order", update="gradient", rule="gs"), n),
        ("cyclic coordinate", dict(blocks="order", update="gradient", rule="cyclic"), n),
        # one CG iteration = a product with A and a symmetric sweep: counted as 2 sweeps
        ("forest PCG (rows)", dict(method="cg", blocks="ordered-forest"), -2),
    ]:
        fs = [q.fun(np.zeros(n))]
        pos = [0.0]
        if per_check is None:
            # greedy forests: the block size varies, so count the variables updated
            maxiter = 0
            x = np.zeros(n)
            while pos[-1] < sweeps and maxiter < 5000:
                r = bcd.minimize(q, x0=x, tol=0.0, maxiter=1, **kw)
                grown = np.count_nonzero(r.x != x)
                x = r.x
                pos.append(pos[-1] + max(grown, 1) / n)
                fs.append(q.fun(x))
                maxiter += 1
        else:
            step = -per_check if per_check < 0 else 1.0

            def cb(intermediate, fs=fs, pos=pos, step=step):
                fs.append(q.fun(intermediate.x))
                pos.append(pos[-1] + step)
            its = sweeps // step if per_check < 0 else sweeps * per_check
            bcd.minimize(q, tol=1e-15 if per_check < 0 else 0.0, maxiter=int(its), lattice_shape=(N, N),
                         callback=cb, **kw)
        ax.semilogy(pos, np.maximum(np.array(fs) - fstar, 1e-16), label=label)
    ax.set_title(f"label propagation, {N}x{N} lattice")
    ax.set_xlabel("sweeps (n variables updated)")
    ax.set_ylabel("f(x) - f*")
    ax.legend()
    path = os.path.join(RESULTS, "bcd_lattice.png")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    out.append(path)
    return out


# --- tables -------------------------------------------------------------------------------

def fmt_t(v):
    if v is None:
        return "skipped"
    t, acc = v[0], v[1]
    if not np.isfinite(t):
        return f"fails ({acc:.0e})"
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the issue's whole grid")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--part", choices=("all", "lasso", "lp"), default="all",
                    help="lasso or label propagation (with its plot) only")
    args = ap.parse_args()
    repeats = args.repeats or (5 if args.full else 3)
    if args.full:
        problems = {"diabetes poly4": diabetes_poly4(), "sparse gaussian": sparse_gaussian(),
                    "text-like (Zipf)": text_like()}
        # coordinate descent on 10^6 unknowns needs ~10^9 heap updates: hours here
        sizes, skip, cap = (50, 200, 1000), {("GS coordinate", 1000)}, 120.0
    else:
        problems = {"diabetes poly4": diabetes_poly4(), "sparse gaussian": sparse_gaussian(n=5000, p=2500),
                    "text-like (Zipf)": text_like(n=2500, p=10000)}
        sizes = (50, 200, 1000)
        skip = {("GS coordinate", 200), ("GS coordinate", 1000), ("scipy spsolve", 1000),
                ("greedy forest (MP)", 1000), ("red-black", 1000)}
        cap = 5.0
    lasso_rows, names, lp_rows, lp_names = [], [], [], []
    if args.part in ("all", "lasso"):
        lasso_rows, names = bench_lasso(problems, 1e-6, repeats)
    if args.part in ("all", "lp"):
        lp_rows, lp_names = bench_lp(sizes, 1e-8, repeats, cap, skip)
    pngs = plots(args.part)

    print(markdown_machine(("itercore", "numpy", "scipy", "scikit-learn", "celer", "skglm")))
    print()
    if lasso_rows:
        print_lasso(lasso_rows, names)
    if lp_rows:
        print_lp(lp_rows, lp_names)
    if pngs:
        print()
        print("Plots: " + ", ".join(os.path.relpath(p) for p in pngs))


def print_lasso(lasso_rows, names):
    print("Lasso, median time to relative duality gap <= 1e-6 (gap recomputed from each answer)")
    print()
    head = "| problem | n x p | alpha | " + " | ".join(names) + " | itercore / scikit-learn |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in lasso_rows:
        cells = [fmt_t(r.get(nm)) for nm in names]
        ratio = ""
        if "scikit-learn" in r and np.isfinite(r["itercore"][0]) and np.isfinite(r["scikit-learn"][0]):
            ratio = f"{r['itercore'][0] / r['scikit-learn'][0]:.2f}"
        print(f"| {r['problem']} | {r['shape']} | {r['alpha']} | " + " | ".join(cells) + f" | {ratio} |")
    print()


def print_lp(lp_rows, lp_names):
    def t(r, name):
        v = r.get(name)
        return v[0] if v and np.isfinite(v[0]) else None

    print("Label propagation on an N x N lattice (10% labelled), median time to relative residual <= 1e-8")
    print()
    head = ("| N | " + " | ".join(lp_names) + " | cg / forest PCG (rows, w=1) | cg / forest PCG (rows, w=1.4)"
            " | lattice trees (MP) / cg |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in lp_rows:
        cells = [fmt_t(r.get(nm)) for nm in lp_names]
        ratios = []
        for num, den in (("scipy cg", "forest PCG (rows, w=1)"), ("scipy cg", "forest PCG (rows, w=1.4)"),
                         ("lattice 2 trees (MP)", "scipy cg")):
            a, b = t(r, num), t(r, den)
            ratios.append(f"{a / b:.1f}" if a and b else "")
        print(f"| {r['N']} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")


if __name__ == "__main__":
    main()
