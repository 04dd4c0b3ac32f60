"""The ecosystem wrappers' overhead: each against the itercore function it wraps, in one process.

- ``ot.sinkhorn`` / ``ot.sinkhorn2`` (POT drop-ins) vs ``ot.entropic`` (and
  several targets vs ``ot.entropic_batch``), same method, tolerance and
  iteration cap;
- ``itercore.sklearn.Lasso.fit`` vs ``bcd.lasso`` (``fit_intercept=False``:
  the same data; ``fit_intercept=True``: against centring ``X`` and ``y`` by
  hand and calling ``bcd.lasso``, the work the estimator does);
- ``itercore.sklearn.LabelPropagation.fit`` vs building the same graph and
  calling ``bcd.label_propagation``;
- a PyAMG smoothing step installed by ``linalg.pyamg_smoothers`` vs calling
  the ``SORSmoother`` directly.

The pairs are timed interleaved (wrapper, function, wrapper, ...), and the
table gives the medians and the ratio wrapper / function (the issue asks for
at most 1.05). Usage: ``python bench/compare_wrappers.py [--repeats N]``.
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

from itercore import bcd, linalg, ot  # noqa: E402


def interleaved(f_wrap, f_ref, repeats):
    tw, tr = [], []
    f_wrap(), f_ref()  # warm-up
    for _ in range(repeats):
        for f, t in ((f_wrap, tw), (f_ref, tr)):
            t0 = time.perf_counter()
            f()
            t.append(time.perf_counter() - t0)
    return statistics.median(tw), statistics.median(tr)


def cases():
    rng = np.random.default_rng(0)
    out = []
    for n, reg, inner in ((50, 1e-1, 200), (500, 1e-2, 5), (1000, 1e-2, 1)):
        x, y = rng.random((n, 2)), rng.random((n, 2))
        M = ((x[:, None] - y[None]) ** 2).sum(-1)
        a = np.full(n, 1.0 / n)

        def wrap(a=a, M=M, reg=reg, inner=inner):
            for _ in range(inner):
                ot.sinkhorn(a, a, M, reg, stopThr=1e-9, numItermax=1000, warn=False)

        def ref(a=a, M=M, reg=reg, inner=inner):
            for _ in range(inner):
                ot.entropic(a, a, M, reg, method="sinkhorn", tol=1e-9, maxiter=1000)

        out.append((f"ot.sinkhorn vs ot.entropic, n={n}, reg={reg:g} (x{inner})", wrap, ref))
    n, k = 300, 8
    x, y = rng.random((n, 2)), rng.random((n, 2))
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    a = np.full(n, 1.0 / n)
    B = rng.random((n, k)) + 0.1
    B /= B.sum(0)
    out.append((f"ot.sinkhorn2 (b of shape ({n}, {k})) vs ot.entropic_batch",
                lambda: ot.sinkhorn2(a, B, M, 1e-2, stopThr=1e-9),
                lambda: ot.entropic_batch(np.broadcast_to(a, (k, n)), B.T, M, 1e-2, method="sinkhorn", tol=1e-9,
                                          maxiter=1000)))
    try:
        from sklearn.metrics.pairwise import rbf_kernel

        from itercore.sklearn import LabelPropagation, Lasso
    except ImportError:
        print("(scikit-learn not installed: estimator rows skipped)")
        return out
    X = np.asfortranarray(rng.standard_normal((2000, 500)))
    yv = X[:, :10] @ rng.standard_normal(10) + 0.1 * rng.standard_normal(2000)
    out.append(("sklearn.Lasso(fit_intercept=False).fit vs bcd.lasso, 2000x500",
                lambda: Lasso(alpha=0.01, fit_intercept=False).fit(X, yv), lambda: bcd.lasso(X, yv, 0.01)))
    out.append(("sklearn.Lasso().fit vs centring by hand + bcd.lasso, 2000x500",
                lambda: Lasso(alpha=0.01).fit(X, yv),
                lambda: bcd.lasso(np.asfortranarray(X - X.mean(axis=0)), yv - yv.mean(), 0.01)))
    from sklearn.datasets import make_moons

    Xm, ym = make_moons(1500, noise=0.05, random_state=0)
    lab = -np.ones(1500, dtype=int)
    lab[:20] = ym[:20]
    out.append(("sklearn.LabelPropagation(rbf).fit vs graph + bcd.label_propagation, n=1500",
                lambda: LabelPropagation(gamma=20.0).fit(Xm, lab),
                lambda: bcd.label_propagation(rbf_kernel(Xm, gamma=20.0), lab, tol=1e-8)))
    try:
        import pyamg
    except ImportError:
        print("(PyAMG not installed: smoother row skipped)")
        return out
    A = pyamg.gallery.poisson((500, 500), format="csr")
    ml = linalg.pyamg_smoothers(pyamg.smoothed_aggregation_solver(A))
    step = ml.levels[0].presmoother
    smoother = step.smoother
    b = np.ones(A.shape[0])
    xs = np.zeros(A.shape[0])
    out.append(("pyamg_smoothers step vs SORSmoother call, poisson 500^2 (x5)",
                lambda: [step(A, xs, b) for _ in range(5)], lambda: [smoother(xs, b) for _ in range(5)]))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=9)
    args = p.parse_args()
    print(markdown_machine(("itercore", "numpy", "scipy", "pot", "scikit-learn", "pyamg")))
    print(f"- repeats: {args.repeats} per side, interleaved, after one warm-up each\n")
    print("| wrapper vs function | wrapper median ms | function median ms | wrapper / function |")
    print("|---|---|---|---|")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, wrap, ref in cases():
            tw, tr = interleaved(wrap, ref, args.repeats)
            print(f"| {name} | {1e3 * tw:.2f} | {1e3 * tr:.2f} | {tw / tr:.3f} |")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
