"""Benchmarks for itercore.bcd on smooth problems (Logistic / Softmax / LeastSquares on X).

python bench/compare_bcd_smooth.py [--repeat 5]

1. sparse X kept sparse vs the same X densified (what the core did before sparse
   support), L1 and L2 logistic, and scikit-learn's liblinear on the same L1 objective;
2. proximal `matrix` / `newton` block updates vs the proximal gradient update for
   L1 logistic (time to a relative duality gap of 1e-8);
3. threads for greedy rules on dense X (full gradient per iteration);
4. greedy rules (gs / gsl / gsq) on sparse X: the incremental gradient and block-score
   heap vs the full gradient per pick (the private option
   options={"incremental_greedy": False} of bcd.minimize_smooth),
   timed interleaved in the same run (`--part greedy` runs only this part).
Medians of --repeat runs; every row's objective is recomputed by this script.
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp

from itercore import ConvergenceWarning, bcd


def timed(fn, repeat):
    ts, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), out


def fmt(t):
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def logistic_fun(X, ys, w, l1, l2):
    z = X @ w
    return float(np.mean(np.logaddexp(0.0, -ys * z)) + 0.5 * l2 * w @ w + l1 * np.abs(w).sum())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--part", choices=("all", "greedy"), default="all")
    args = ap.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", FutureWarning)  # scikit-learn >= 1.8: penalty= deprecated
    warnings.simplefilter("ignore", UserWarning)
    rng = np.random.default_rng(0)
    n, p, dens = 20000, 2000, 0.005
    Xs = sp.random(n, p, density=dens, random_state=rng, format="csc")
    Xs.data = rng.standard_normal(Xs.nnz)
    wtrue = np.where(rng.random(p) < 0.05, rng.standard_normal(p), 0.0)
    y = (Xs @ wtrue + 0.5 * rng.standard_normal(n) > 0).astype(int)
    ys = np.where(y == 1, 1.0, -1.0)
    if args.part == "greedy":
        return greedy_part(Xs, y, ys, args.repeat)
    Xd = Xs.toarray()
    print(f"## 1. sparse vs densified X ({n}x{p}, density {dens}, nnz {Xs.nnz})\n")
    print("| problem | update | sparse | densified | densified / sparse | f(sparse) - f(dense) |")
    print("|---|---|---|---|---|---|")
    for name, l1, l2, update, bs in (("L2 logistic, l2=1e-3", 0.0, 1e-3, "gradient", 1),
                                     ("L1 logistic, l1=1e-3", 1e-3, 0.0, "gradient", 1),
                                     ("L1 logistic, l1=1e-3", 1e-3, 0.0, "newton", 4)):
        kw = dict(rule="cyclic", blocks="order", update=update, block_size=bs, tol=1e-6)
        ts, rs = timed(lambda: bcd.minimize(bcd.Logistic(Xs, y, l1=l1, l2=l2), **kw), args.repeat)
        td, rd = timed(lambda: bcd.minimize(bcd.Logistic(Xd, y, l1=l1, l2=l2), **kw), max(1, args.repeat // 2))
        print(f"| {name} | {update} | {fmt(ts)} | {fmt(td)} | {td / ts:.1f} | {rs.fun - rd.fun:.1e} |")
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        LogisticRegression = None
    if LogisticRegression is not None:
        l1 = 1e-3
        print(f"\nL1 logistic l1={l1} on the sparse problem: itercore to relative gap 1e-6 vs liblinear (tol 1e-6)\n")
        print("| solver | time | objective - best | itercore gap |")
        print("|---|---|---|---|")
        ti, ri = timed(lambda: bcd.minimize(bcd.Logistic(Xs, y, l1=l1), rule="cyclic", blocks="order",
                                            tol=1e-6), args.repeat)
        ti2, ri2 = timed(lambda: bcd.minimize(bcd.Logistic(Xs, y, l1=l1), rule="cyclic", blocks="order",
                                              update="newton", block_size=4, tol=1e-6), args.repeat)
        tl, sk = timed(lambda: LogisticRegression(penalty="l1", solver="liblinear", C=1.0 / (n * l1),
                                                  fit_intercept=False, tol=1e-6).fit(Xs, y), args.repeat)
        fs = [logistic_fun(Xs, ys, ri.x, l1, 0), logistic_fun(Xs, ys, ri2.x, l1, 0),
              logistic_fun(Xs, ys, sk.coef_.ravel(), l1, 0)]
        best = min(fs)
        print(f"| itercore gradient (cyclic) | {fmt(ti)} | {fs[0] - best:.1e} | {ri.gap:.1e} |")
        print(f"| itercore newton, blocks of 4 | {fmt(ti2)} | {fs[1] - best:.1e} | {ri2.gap:.1e} |")
        print(f"| scikit-learn liblinear | {fmt(tl)} | {fs[2] - best:.1e} | |")

    print("\n## 2. L1 logistic (breast cancer, 569x31 standardised + intercept column, l1=1e-3), "
          "to relative gap 1e-8\n")
    try:
        from sklearn.datasets import load_breast_cancer
        X, yb = load_breast_cancer(return_X_y=True)
        X = (X - X.mean(0)) / X.std(0)
        X = np.hstack([X, np.ones((X.shape[0], 1))])
    except ImportError:
        X = rng.standard_normal((569, 31))
        yb = (X[:, 0] + rng.standard_normal(569) > 0).astype(int)
    print("| update | rule | block size | time | block updates | gap |")
    print("|---|---|---|---|---|---|")
    prob = bcd.Logistic(X, yb, l1=1e-3)
    for update, rule, bs in (("gradient", "cyclic", 1), ("gradient", "gsl", 1), ("matrix", "cyclic", 4),
                             ("matrix", "gsq", 4), ("newton", "cyclic", 4), ("newton", "gsl", 8),
                             ("newton", "cyclic", 31)):
        t, r = timed(lambda: bcd.minimize(prob, rule=rule, update=update, blocks="sorted", block_size=bs,
                                          tol=1e-8, maxiter=10**6), args.repeat)
        print(f"| {update} | {rule} | {bs} | {fmt(t)} | {r.nit} | {r.gap:.1e} |")

    print("\n## 3. threads: greedy GSL on dense X (4000x1000 L2 logistic, 300 block updates)\n")
    Xg = rng.standard_normal((4000, 1000))
    yg = (Xg[:, :20].sum(1) > 0).astype(int)
    pg = bcd.Logistic(Xg, yg, l2=1e-2)
    t1, a = timed(lambda: bcd.minimize(pg, rule="gsl", maxiter=300, tol=0, n_threads=1), args.repeat)
    t2, b = timed(lambda: bcd.minimize(pg, rule="gsl", maxiter=300, tol=0, n_threads=2), args.repeat)
    print("| threads | time | ratio to 1 thread |\n|---|---|---|")
    print(f"| 1 | {fmt(t1)} | 1.00 |\n| 2 | {fmt(t2)} | {t2 / t1:.2f} |")
    assert np.array_equal(a.x, b.x)
    greedy_part(Xs, y, ys, args.repeat)


def greedy_part(Xs, y, ys, repeat):
    n, p = Xs.shape
    print(f"\n## 4. greedy rules on sparse X ({n}x{p}, nnz {Xs.nnz}): incremental gradient + heap "
          "vs full gradient per pick (update gradient, blocks 'order')\n")
    print("| problem | rule | block size | tol | full gradient | incremental | full / incremental "
          "| block updates | f(inc) - f(full) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, l1, l2, tol in (("L2 logistic, l2=1e-3", 0.0, 1e-3, 1e-7), ("L1 logistic, l1=1e-3", 1e-3, 0.0, 1e-8)):
        prob = bcd.Logistic(Xs, y, l1=l1, l2=l2)
        for rule in ("gs", "gsl", "gsq"):
            for bs in (1, 8):
                kw = dict(rule=rule, blocks="order", update="gradient", block_size=bs, tol=tol, maxiter=10**6)
                times = {True: [], False: []}
                res = {}
                for _ in range(repeat):  # interleaved, so load swings hit both
                    for inc in (False, True):
                        t = time.perf_counter()
                        res[inc] = bcd.minimize_smooth(prob, options={"incremental_greedy": inc}, **kw)
                        times[inc].append(time.perf_counter() - t)
                tf, ti = float(np.median(times[False])), float(np.median(times[True]))
                a, b = res[True], res[False]
                df = logistic_fun(Xs, ys, a.x, l1, l2) - logistic_fun(Xs, ys, b.x, l1, l2)
                nit = f"{a.nit}" if a.nit == b.nit else f"{a.nit} / {b.nit}"
                ok = "" if a.success and b.success else " (not converged)"
                print(f"| {name} | {rule} | {bs} | {tol:g} | {fmt(tf)} | {fmt(ti)} | {tf / ti:.1f}{ok} | {nit} "
                      f"| {df:.1e} |", flush=True)


if __name__ == "__main__":
    main()
