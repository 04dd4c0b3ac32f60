"""itercore.completion solvers beside a NumPy exact ALS sweep (pytest-benchmark).

    python -m pytest bench/test_bench_completion.py --benchmark-only
"""

import warnings

import numpy as np
import pytest

import itercore
from itercore.completion import altmin
from compare_completion import low_rank, numpy_als, rel_error


@pytest.fixture(scope="module")
def problem():
    # 2000 x 2000, rank 10, 3% observed (120k entries)
    return low_rank(2000, 2000, 10, 120_000, seed=3, n_test=20_000)


@pytest.fixture(scope="module")
def start(problem):
    X, _ = problem
    return altmin(X, 10, seed=0, maxiter=0).U


@pytest.mark.benchmark(group="completion 5 sweeps 2000^2 k=10")
@pytest.mark.parametrize("method", ["cholesky", "cg", "sketch", "auto"])
def test_itercore_altmin_5_sweeps(benchmark, problem, method):
    X, test = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        res = benchmark(altmin, X, 10, method=method, seed=0, maxiter=5, tol=0.0)
    assert res.nit == 5
    assert rel_error(res.U, res.V, test) < 0.5  # far along from the spectral start


@pytest.mark.benchmark(group="completion 5 sweeps 2000^2 k=10")
def test_numpy_als_5_sweeps(benchmark, problem, start):
    X, test = problem
    U, V = benchmark.pedantic(numpy_als, args=(X, start, 5), rounds=2, iterations=1)
    assert rel_error(U, V, test) < 0.5


@pytest.mark.benchmark(group="completion init 2000^2 k=10")
def test_itercore_svd_init(benchmark, problem):
    X, _ = problem
    res = benchmark(altmin, X, 10, seed=0, maxiter=0)
    assert res.U.shape == (2000, 10)
