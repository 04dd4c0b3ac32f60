"""Shared fixtures and problem generators for the test suite."""

import numpy as np
import pytest
import scipy.sparse as sp


def poisson2d(n, dtype=np.float64, index_dtype=np.int32):
    """5-point Laplacian on an n x n interior grid (SPD, n^2 unknowns)."""
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    I = sp.identity(n)
    A = (sp.kron(I, T) + sp.kron(T, I)).tocsr().astype(dtype)
    A.indices = A.indices.astype(index_dtype)
    A.indptr = A.indptr.astype(index_dtype)
    return A


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
