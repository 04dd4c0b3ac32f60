"""Shared kernels against their SciPy equivalents (pytest-benchmark)."""

import numpy as np
import pytest

from itercore import _core
from itercore._kernels import csr_args
from itercore._problems import poisson2d
from itercore._validation import as_csr


def _csr_matvec(A, x):
    return _core._testing.csr_matvec(*csr_args(A), x, 0)


@pytest.fixture(scope="module")
def problem():
    A = as_csr(poisson2d(1000), "A")  # 1e6 unknowns, 5e6 stored entries
    x = np.random.default_rng(0).standard_normal(A.shape[0])
    return A, x


@pytest.mark.benchmark(group="csr_matvec 1e6")
def test_itercore_csr_matvec(benchmark, problem):
    A, x = problem
    y = benchmark(_csr_matvec, A, x)
    np.testing.assert_allclose(y, A @ x, rtol=1e-12, atol=1e-12)


@pytest.mark.benchmark(group="csr_matvec 1e6")
def test_scipy_csr_matvec(benchmark, problem):
    A, x = problem
    benchmark(A.dot, x)
