"""Shared kernels against their SciPy equivalents (pytest-benchmark)."""

import numpy as np
import pytest
import scipy.sparse as sp

from itercore import _kernels
from itercore._validation import as_csr


def _poisson(n):
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(sp.identity(n), T) + sp.kron(T, sp.identity(n))).tocsr()


@pytest.fixture(scope="module")
def problem():
    A = as_csr(_poisson(1000), "A")  # 1e6 unknowns, 5e6 stored entries
    x = np.random.default_rng(0).standard_normal(A.shape[0])
    return A, x


@pytest.mark.benchmark(group="csr_matvec 1e6")
def test_itercore_csr_matvec(benchmark, problem):
    A, x = problem
    y = benchmark(_kernels.csr_matvec, A, x)
    np.testing.assert_allclose(y, A @ x, rtol=1e-12, atol=1e-12)


@pytest.mark.benchmark(group="csr_matvec 1e6")
def test_scipy_csr_matvec(benchmark, problem):
    A, x = problem
    benchmark(A.dot, x)
