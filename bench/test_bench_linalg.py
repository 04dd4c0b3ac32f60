"""pytest-benchmark: itercore.linalg sweeps and SSOR-PCG beside PyAMG and SciPy."""

import numpy as np
import pytest
import scipy.sparse.linalg as spla

from itercore import linalg
from itercore._problems import poisson2d


@pytest.fixture(scope="module")
def big():
    A = poisson2d(1000)
    return A, np.random.default_rng(0).standard_normal(A.shape[0])


@pytest.fixture(scope="module")
def medium():
    A = poisson2d(300)
    return A, np.random.default_rng(0).standard_normal(A.shape[0])


@pytest.mark.benchmark(group="forward SOR sweep x10, Poisson 1e6")
def test_itercore_sor_sweep_natural(benchmark, big):
    A, b = big
    x = np.zeros(A.shape[0])
    benchmark(linalg.sor_sweep, A, x, b, omega=1.3, iterations=10)


@pytest.mark.benchmark(group="forward SOR sweep x10, Poisson 1e6")
def test_itercore_sor_sweep_multicolor(benchmark, big):
    A, b = big
    plan = linalg.multicolor_ordering(A)
    x = np.zeros(A.shape[0])
    benchmark(linalg.sor_sweep, A, x, b, omega=1.3, iterations=10, ordering=plan)


@pytest.mark.benchmark(group="forward SOR sweep x10, Poisson 1e6")
def test_pyamg_sor(benchmark, big):
    relaxation = pytest.importorskip("pyamg.relaxation.relaxation")
    A, b = big
    x = np.zeros(A.shape[0])
    benchmark(relaxation.sor, A, x, b, 1.3, iterations=10)


@pytest.mark.benchmark(group="solve to 1e-8, Poisson 300x300")
def test_itercore_ssor_pcg(benchmark, medium):
    A, b = medium
    x, info = benchmark(linalg.ssor_pcg, A, b, omega=1.8, rtol=1e-8)
    assert info == 0


@pytest.mark.benchmark(group="solve to 1e-8, Poisson 300x300")
def test_scipy_cg_with_ssor_preconditioner(benchmark, medium):
    A, b = medium
    M = linalg.ssor_preconditioner(A, omega=1.8)
    x, info = benchmark(spla.cg, A, b, M=M, rtol=1e-8)
    assert info == 0


@pytest.mark.benchmark(group="solve to 1e-8, Poisson 300x300")
def test_scipy_cg(benchmark, medium):
    A, b = medium
    x, info = benchmark(spla.cg, A, b, rtol=1e-8, maxiter=100000)
    assert info == 0
