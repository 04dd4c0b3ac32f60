"""itercore.completion beside a NumPy exact ALS and fancyimpute, at equal accuracy.

    python bench/compare_completion.py          # reduced grid, < ~8 min on 2 cores
    python bench/compare_completion.py --full   # the issue's whole scaling grid

Four tables, one markdown block (machine above it):

1. 5000 x 5000, exact rank 10, 2% observed: time until the relative error on
   held-out unobserved entries is <= 1e-6, recomputed here from each method's
   returned factors. For every method the number of sweeps needed is found
   once, then runs of exactly that many sweeps are timed (1 warm-up, median).
   fancyimpute's SoftImpute runs only where it imports, under a time cap.
2. Scaling: m = n, ~50 observations per row, rank k: median time per sweep of
   each solver (plus long-row cases, where sketching could pay).
2b. Per-row solves on rows of c observations (c up to 10^4) at k in {50, 100,
   200}: time per row and error of each solver from a 1%-off warm start.
3. MovieLens 100k (from the recbole wheel, fetched with pip at run time; the
   table is skipped with a message when that fails): test RMSE on a random
   90/10 split, reg chosen on a validation split, itercore vs the NumPy ALS
   with the same rank, reg, start and number of sweeps.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zipfile

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(__file__))
from machine import markdown_machine, median_time  # noqa: E402

import itercore  # noqa: E402
from itercore.completion import altmin  # noqa: E402

METHODS = ("cholesky", "cg", "sketch", "auto")
warnings.simplefilter("ignore", itercore.ConvergenceWarning)


# --- problems and the NumPy reference ---------------------------------------------

def sample_entries(m, n, count, rng):
    """`count` distinct uniform (row, col) pairs, without forming m x n."""
    keys = np.unique(rng.integers(0, m * n, size=int(count * 1.1) + 100, dtype=np.int64))
    while keys.size < count:
        keys = np.unique(np.concatenate([keys, rng.integers(0, m * n, size=count, dtype=np.int64)]))
    keys = rng.permutation(keys)[:count]
    return np.divmod(keys, n)


def low_rank(m, n, k, count, seed=0, n_test=100_000):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, k))
    B = rng.standard_normal((n, k))
    r, c = sample_entries(m, n, count, rng)
    vals = np.einsum("ij,ij->i", A[r], B[c])
    X = sp.csr_array((vals, (r, c)), shape=(m, n))
    X.sum_duplicates()
    # held-out entries: drawn uniformly, then those that were observed are dropped
    tr, tc = sample_entries(m, n, n_test, rng)
    key = r.astype(np.int64) * n + c
    keep = ~np.isin(tr.astype(np.int64) * n + tc, key)
    tr, tc = tr[keep], tc[keep]
    tv = np.einsum("ij,ij->i", A[tr], B[tc])
    return X, (tr, tc, tv)


def rel_error(U, V, test):
    tr, tc, tv = test
    pred = np.einsum("ij,ij->i", U[tr].astype(np.float64), V[tc].astype(np.float64))
    return float(np.linalg.norm(pred - tv) / np.linalg.norm(tv))


def numpy_als(X, U0, sweeps, reg=0.0, on_sweep=None):
    """Plain NumPy exact ALS (V then U), one normal-equation solve per line.

    ``on_sweep(sweep, U, V)`` may return True to stop early."""
    R = sp.csr_array(X)
    C = sp.csc_array(X)
    U = np.array(U0, dtype=np.float64)
    k = U.shape[1]
    V = np.zeros((C.shape[1], k))
    eye = reg * np.eye(k)

    def half(F, S, out):
        for j in range(S.shape[0] if S.format == "csr" else S.shape[1]):
            sl = slice(S.indptr[j], S.indptr[j + 1])
            idx = S.indices[sl]
            if idx.size == 0:
                out[j] = 0.0
                continue
            A = F[idx]
            b = S.data[sl]
            if idx.size >= k or reg > 0:
                out[j] = np.linalg.solve(A.T @ A + eye, A.T @ b)
            else:
                out[j] = np.linalg.lstsq(A, b, rcond=None)[0]

    for s in range(sweeps):
        half(U, C, V)
        half(V, R, U)
        if on_sweep is not None and on_sweep(s + 1, U, V):
            break
    return U, V


# --- table 1: time to 1e-6 on the 5000 x 5000 rank-10 problem ----------------------

def table_accuracy(args, rows):
    m = n = 5000
    k, target = 10, 1e-6
    X, test = low_rank(m, n, k, int(0.02 * m * n), seed=1)
    print(f"[accuracy] 5000x5000 rank 10, {X.nnz} observed", file=sys.stderr)
    results = {}
    # sweeps each itercore method needs (the callback gets copies of the factors)
    for method in METHODS:
        errs = []
        altmin(X, k, method=method, seed=0, maxiter=60, tol=0.0,
               callback=lambda r: errs.append(rel_error(r.U, r.V, test)))
        need = next((i + 1 for i, e in enumerate(errs) if e <= target), None)
        results[method] = {"sweeps": need}
    U0 = altmin(X, k, seed=0, maxiter=0).U
    errs = []

    def track(s, U, V):
        errs.append(rel_error(U, V, test))
        return errs[-1] <= target

    numpy_als(X, U0, 40, on_sweep=track)
    results["numpy"] = {"sweeps": next((i + 1 for i, e in enumerate(errs) if e <= target), None)}
    # timed runs, interleaved: one round = every method once. The sweep-finding
    # runs above are the warm-up; NumPy (seconds per run) gets one round less.
    times = {key: [] for key in results}
    outs = {}
    for rnd in range(args.repeats):
        for key, info in results.items():
            if info["sweeps"] is None or (key == "numpy" and rnd >= max(1, args.repeats - 1)):
                continue
            t0 = time.perf_counter()
            if key == "numpy":
                U0 = altmin(X, k, seed=0, maxiter=0).U  # the same spectral start, timed too
                U, V = numpy_als(X, U0, info["sweeps"])
            else:
                res = altmin(X, k, method=key, seed=0, maxiter=info["sweeps"], tol=0.0)
                U, V = res.U, res.V
            times[key].append(time.perf_counter() - t0)
            outs[key] = rel_error(U, V, test)
            print(f"[accuracy] {key}: {info['sweeps']} sweeps, {times[key][-1]:.3f} s, error {outs[key]:.1e}",
                  file=sys.stderr)
    ref = statistics.median(times["numpy"]) if times["numpy"] else float("nan")
    for key, info in results.items():
        label = "NumPy exact ALS (reference)" if key == "numpy" else f"itercore altmin method={key!r}"
        if info["sweeps"] is None:
            rows.append((label, "-", "not reached", "-", "-"))
            continue
        t = statistics.median(times[key])
        rows.append((label, str(info["sweeps"]), f"{outs[key]:.1e}", f"{t:.3f}", f"{ref / t:.1f}x"))
    # fancyimpute, only where it imports; a dense 5000 x 5000 input, capped in time
    try:
        from fancyimpute import SoftImpute
    except Exception as exc:  # noqa: BLE001  (ImportError, or its heavy deps failing)
        rows.append(("fancyimpute SoftImpute", "-", f"skipped ({type(exc).__name__})", "-", "-"))
    else:
        dense = np.full((m, n), np.nan)
        C = X.tocoo()
        dense[C.row, C.col] = C.data
        t0 = time.perf_counter()
        # max_rank=k: randomized SVD per iteration (a full 5000 x 5000 SVD per
        # iteration would not finish in the time budget)
        filled = SoftImpute(max_rank=k, max_iters=args.softimpute_iters, verbose=False).fit_transform(dense)
        dt = time.perf_counter() - t0
        tr, tc, tv = test
        err = float(np.linalg.norm(filled[tr, tc] - tv) / np.linalg.norm(tv))
        rows.append((f"fancyimpute SoftImpute (max_rank={k}, <= {args.softimpute_iters} iters, 1 run)", "-", f"{err:.1e}",
                     f"{dt:.3f}", f"{ref / dt:.2f}x" if err <= target else "did not reach 1e-6"))


# --- table 2: time per sweep --------------------------------------------------------

def per_sweep(X, k, method, sweeps, reg):
    """Median wall time between successive sweeps (callback time stamps)."""
    stamps = []
    altmin(X, k, method=method, seed=0, maxiter=sweeps, tol=0.0, reg=reg,
           callback=lambda r: stamps.append(time.perf_counter()))
    return statistics.median(np.diff(stamps)) if len(stamps) > 1 else float("nan")


def table_scaling(args, rows):
    if args.full:
        cases = [(s, k, 50) for s in (2000, 10000, 50000) for k in (10, 50, 200)]
        cases += [(2000, 50, 500), (2000, 100, 1000)]
    else:  # ~10 minutes on the loaded 2-core machine
        cases = [(2000, k, 50) for k in (10, 50, 200)] + [(10000, k, 50) for k in (10, 50)]
        cases += [(2000, 50, 500)]
    for size, k, per_row in cases:
        X, _ = low_rank(size, size, min(k, 10), size * per_row, seed=2, n_test=10)
        reg = 1e-3  # rows with fewer observations than k need it to be well posed
        sweeps = 3 if size * per_row * k > 1e8 else 4
        t = {s: per_sweep(X, k, s, sweeps, reg) for s in METHODS}
        best = min(t, key=t.get)
        rows.append((f"{size}", f"{k}", f"{per_row}", *(f"{t[s] * 1e3:.0f}" for s in METHODS), best,
                     f"{t['cholesky'] / t['sketch']:.2f}"))
        print(f"[scaling] {size} k={k} c={per_row}: " + ", ".join(f"{s} {t[s]:.3f}s" for s in METHODS),
              file=sys.stderr, flush=True)


# --- table 2b: per-row solve cost on long rows -------------------------------------

def row_problem(k, c, lines, seed=0):
    """`lines` rows with exactly c observations each against a factor F whose
    singular values span 1..100 in rotated directions (as a factor's do in ALS), and a
    warm start 1% off the exact ridge solution (as in the middle of ALS)."""
    rng = np.random.default_rng(seed)
    other = max(2 * c, 1000)
    Q = np.linalg.qr(rng.standard_normal((k, k)))[0]  # rotated: not a column scaling Jacobi could undo
    F = (rng.standard_normal((other, k)) * np.logspace(0, 2, k)) @ Q
    cols = np.concatenate([rng.choice(other, size=c, replace=False) for _ in range(lines)])
    rows = np.repeat(np.arange(lines), c)
    x_true = rng.standard_normal((lines, k))
    b = np.einsum("ij,ij->i", F[cols], x_true[rows]) + 0.1 * rng.standard_normal(rows.size)
    X = sp.csr_array((b, (rows, cols)), shape=(lines, other))
    return X, F


def table_rows(args, rows):
    """Per-row cost (us/row) and accuracy of each solver on dense-ish rows."""
    from itercore.completion import _half_step
    ks = (50, 100, 200)
    cs = (50, 500, 2000, 10000)
    reg = 1e-3
    for k in ks:
        for c in cs:
            lines = max(4, min(400, int(4e6 / (c * k))))
            X, F = row_problem(k, c, lines)
            exact = _half_step(X, F, reg=reg, method="cholesky", n_threads=1)
            rng = np.random.default_rng(1)
            x0 = exact * (1 + 0.01 * rng.standard_normal(exact.shape))
            out = {}
            for method in ("cholesky", "cg", "sketch", "auto"):
                def run():
                    return _half_step(X, F, reg=reg, method=method, x0=x0, n_threads=1, seed=0)
                t, x = median_time(run, args.repeats)
                err = np.linalg.norm(x - exact) / np.linalg.norm(exact)
                out[method] = (t / lines, err)
            w0 = np.linalg.norm(x0 - exact) / np.linalg.norm(exact)
            rows.append((f"{k}", f"{c}", f"{lines}",
                         *(f"{out[s][0] * 1e6:.0f} ({out[s][1]:.0e})" for s in ("cholesky", "cg", "sketch", "auto")),
                         f"{out['cholesky'][0] / out['sketch'][0]:.2f}", f"{w0:.0e}"))
            print(f"[rows] k={k} c={c}: " + ", ".join(f"{s} {v[0] * 1e6:.0f}us err {v[1]:.1e}"
                                                      for s, v in out.items()), file=sys.stderr)


# --- table 3: MovieLens 100k --------------------------------------------------------

def movielens():
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "recbole", "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if proc.returncode != 0 or not wheels:
            raise RuntimeError(f"pip download recbole failed: {proc.stderr.strip()[-300:]}")
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as z:
            text = z.read("recbole/dataset_example/ml-100k/ml-100k.inter").decode()
        source = wheels[0]
    data = np.loadtxt(io.StringIO(text), skiprows=1, usecols=(0, 1, 2))
    users, u = np.unique(data[:, 0].astype(np.int64), return_inverse=True)
    items, i = np.unique(data[:, 1].astype(np.int64), return_inverse=True)
    return u, i, data[:, 2], (users.size, items.size), source


def rmse(U, V, r, c, v, mean):
    pred = np.einsum("ij,ij->i", U[r], V[c]) + mean
    return float(np.sqrt(np.mean((np.clip(pred, 1, 5) - v) ** 2)))


def table_movielens(args, rows):
    u, i, v, shape, source = movielens()
    rows.append(source)
    rng = np.random.default_rng(0)
    perm = rng.permutation(v.size)
    n_test = v.size // 10
    test, train = perm[:n_test], perm[n_test:]
    n_val = train.size // 10
    val, fit = train[:n_val], train[n_val:]
    regs = (1.0, 3.0, 10.0, 30.0)
    sweeps = 25
    for k in (5, 10, 20):
        # reg on the validation split (fit on the rest of train)
        mean_fit = v[fit].mean()
        Xfit = (u[fit], i[fit], v[fit] - mean_fit, shape)
        scores = {reg: rmse(*_factors(altmin(Xfit, k, reg=reg, seed=0, maxiter=sweeps, tol=0.0)),
                            u[val], i[val], v[val], mean_fit) for reg in regs}
        reg = min(scores, key=scores.get)
        mean = v[train].mean()
        X = (u[train], i[train], v[train] - mean, shape)
        t_ic, res = median_time(lambda: altmin(X, k, reg=reg, seed=0, maxiter=sweeps, tol=0.0), args.repeats)
        U0 = altmin(X, k, seed=0, maxiter=0).U
        Xs = sp.csr_array((X[2], (X[0], X[1])), shape=shape)
        t_np, (Un, Vn) = median_time(lambda: numpy_als(Xs, U0, sweeps, reg), max(1, args.repeats // 2))
        r_ic = rmse(res.U, res.V, u[test], i[test], v[test], mean)
        r_np = rmse(Un, Vn, u[test], i[test], v[test], mean)
        rows.append((f"{k}", f"{reg:g}", f"{r_ic:.4f}", f"{r_np:.4f}", f"{t_ic:.3f}", f"{t_np:.3f}",
                     f"{t_np / t_ic:.0f}x"))
        print(f"[movielens] k={k} reg={reg} rmse {r_ic:.4f} vs {r_np:.4f}", file=sys.stderr)


def _factors(res):
    return res.U, res.V


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="the issue's whole scaling grid (slow)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per method (after 1 warm-up)")
    p.add_argument("--softimpute-iters", type=int, default=30, help="SoftImpute iteration cap (its time cap)")
    p.add_argument("--skip", default="", help="comma list of tables to skip: accuracy,scaling,rows,movielens")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    out = [markdown_machine(("itercore", "numpy", "scipy", "fancyimpute", "scikit-learn", "recbole")), ""]
    if "accuracy" not in skip:
        rows = []
        table_accuracy(args, rows)
        out += ["**5000 x 5000, rank 10, 2% observed: time to relative error <= 1e-6 on held-out unobserved "
                f"entries** (median of {args.repeats} interleaved runs, NumPy {max(1, args.repeats - 1)}, after "
                "a warm-up run that finds the sweeps needed; error recomputed from the returned factors)",
                "", md_table(("method", "sweeps", "error", "seconds", "speed-up vs NumPy"), rows), ""]
    if "scaling" not in skip:
        rows = []
        table_scaling(args, rows)
        out += ["**Time per sweep (ms, median of the 2-3 sweeps after the first), m = n, c observations per row, reg = 1e-3**", "",
                md_table(("m = n", "rank k", "c", *METHODS, "fastest", "cholesky / sketch"), rows), ""]
    if "rows" not in skip:
        rows = []
        table_rows(args, rows)
        out += ["**Per-row solve, one thread: microseconds per row (relative error vs the exact ridge "
                "solution), c observations per row, reg = 1e-3, factor singular values 1..100 (rotated), warm start 1% "
                f"off the exact solution** (median of {args.repeats}; cg: 3 Jacobi-CG steps; sketch: "
                "preconditioned CG to inner_tol 1e-3, at most 20 steps)", "",
                md_table(("k", "c", "rows", "cholesky", "cg", "sketch", "auto", "cholesky / sketch",
                          "warm-start error"), rows), ""]
    if "movielens" not in skip:
        rows = []
        try:
            table_movielens(args, rows)
        except Exception as exc:  # noqa: BLE001  (no network, pip failure, format change)
            out += [f"**MovieLens 100k: skipped** ({type(exc).__name__}: {exc})", ""]
        else:
            source = rows.pop(0)
            out += [f"**MovieLens 100k ({source}), random 90/10 split, ratings centred, 25 sweeps, reg "
                    "from {1, 3, 10, 30} on a validation split** (test RMSE of clipped predictions; "
                    f"itercore median of {args.repeats}, NumPy of {max(1, args.repeats // 2)}, same "
                    "start, rank, reg and sweeps)", "",
                    md_table(("rank", "reg", "RMSE itercore", "RMSE NumPy ALS", "s itercore", "s NumPy",
                              "speed-up"), rows), ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
