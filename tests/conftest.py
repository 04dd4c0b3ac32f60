"""Shared fixtures and problem generators for the test suite."""

import numpy as np
import pytest
import scipy.sparse as sp


from itercore._problems import lattice_weights, poisson2d  # noqa: F401  (shared generators)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
