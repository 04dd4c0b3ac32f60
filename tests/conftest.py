"""Shared fixtures and problem generators for the test suite."""

import numpy as np
import pytest

from itercore._problems import poisson2d  # noqa: F401  (the shared generator, for "from conftest import")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
