"""itercore.bcd beside scipy / scikit-learn (pytest-benchmark).

    python -m pytest bench/test_bench_bcd.py --benchmark-only
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from itercore import bcd
from itercore._problems import lattice_weights


def _lattice(N, frac=0.1):
    W = lattice_weights(N)
    rng = np.random.default_rng(0)
    labels = -np.ones(N * N, dtype=np.int64)
    idx = rng.choice(N * N, int(frac * N * N), replace=False)
    labels[idx] = rng.integers(0, 2, idx.size)
    A = (sp.diags(np.asarray(W.sum(axis=1)).ravel() + (labels >= 0)) - W).tocsr()
    A.sort_indices()
    b = np.where(labels >= 0, np.where(labels == 1, 1.0, -1.0), 0.0)
    return A, b


@pytest.fixture(scope="module")
def lattice200():
    return _lattice(200)


def _check(A, b, x):
    assert np.linalg.norm(A @ x - b) <= 1.01e-8 * np.linalg.norm(b)


@pytest.mark.benchmark(group="label propagation 200x200, rel. residual 1e-8")
def test_lattice_trees(benchmark, lattice200):
    A, b = lattice200
    q = bcd.Quadratic(A, b)
    res = benchmark(bcd.minimize, q, blocks="lattice", rule="cyclic", update="message-passing",
                    lattice_shape=(200, 200), tol=1e-8)
    _check(A, b, res.x)


@pytest.mark.benchmark(group="label propagation 200x200, rel. residual 1e-8")
def test_red_black(benchmark, lattice200):
    A, b = lattice200
    q = bcd.Quadratic(A, b)
    res = benchmark(bcd.minimize, q, blocks="red-black", rule="cyclic", update="message-passing",
                    lattice_shape=(200, 200), tol=1e-8)
    _check(A, b, res.x)


@pytest.mark.benchmark(group="label propagation 200x200, rel. residual 1e-8")
def test_forest_pcg(benchmark, lattice200):
    A, b = lattice200
    q = bcd.Quadratic(A, b)
    res = benchmark(bcd.forest_pcg, q, blocks="ordered-forest", tol=1e-8)
    _check(A, b, res.x)


@pytest.mark.benchmark(group="label propagation 200x200, rel. residual 1e-8")
def test_scipy_cg(benchmark, lattice200):
    A, b = lattice200
    x = benchmark(lambda: sla.cg(A, b, rtol=1e-8)[0])
    _check(A, b, x)


@pytest.fixture(scope="module")
def lasso_problem():
    rng = np.random.default_rng(0)
    X = sp.random(5000, 2500, density=0.01, random_state=rng, format="csc", data_rvs=rng.standard_normal)
    w = np.zeros(2500)
    w[:50] = rng.standard_normal(50)
    y = X @ w + 0.5 * rng.standard_normal(5000)
    alpha = np.max(np.abs(X.T @ y)) / 5000 / 20
    return X, y, alpha


@pytest.mark.benchmark(group="lasso sparse 5000x2500, amax/20")
def test_itercore_lasso(benchmark, lasso_problem):
    X, y, alpha = lasso_problem
    res = benchmark(bcd.lasso, X, y, alpha, tol=1e-6)
    assert res.success


@pytest.mark.benchmark(group="lasso sparse 5000x2500, amax/20")
def test_sklearn_lasso(benchmark, lasso_problem):
    linear_model = pytest.importorskip("sklearn.linear_model")
    X, y, alpha = lasso_problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        benchmark(lambda: linear_model.Lasso(alpha=alpha, fit_intercept=False, tol=5e-7).fit(X, y))
