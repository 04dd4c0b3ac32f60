"""pytest-benchmark suite for the sketching family: ``python -m pytest bench/test_bench_optimize.py --benchmark-only``.

Groups compare itercore with SciPy on the same problem; each benchmarked call
is checked for the accuracy it must reach (the timing of a wrong answer means
nothing).
"""

import importlib.util
import os
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import NonlinearConstraint
from scipy.optimize import minimize as sminimize

from itercore.linalg import sketch_solve
from itercore.optimize import minimize

_spec = importlib.util.spec_from_file_location(
    "hs_problems", os.path.join(os.path.dirname(__file__), "..", "tests", "hs_problems.py"))
hs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hs)


@pytest.mark.parametrize("name", ["HS7", "HS40", "HS42"])
@pytest.mark.parametrize("solver", ["eal-sketch", "eal-direct", "trust-constr", "SLSQP"])
def test_hs(benchmark, name, solver):
    p = hs.BY_NAME[name]
    benchmark.group = f"optimize {name}"
    warnings.simplefilter("ignore")
    if solver.startswith("eal"):
        run = lambda: minimize(p["fun"], p["x0"], jac=p["jac"], hess=p["hess"], constraints=p["cons"],  # noqa: E731
                               method=solver, seed=0).x
    elif solver == "SLSQP":
        run = lambda: sminimize(p["fun"], p["x0"], jac=p["jac"], method="SLSQP",  # noqa: E731
                                constraints=[{"type": "eq", "fun": p["cons"]["fun"], "jac": p["cons"]["jac"]}],
                                options={"ftol": 1e-14}).x
    else:
        con = NonlinearConstraint(p["cons"]["fun"], 0, 0, jac=p["cons"]["jac"], hess=p["cons"]["hess"])
        run = lambda: sminimize(p["fun"], p["x0"], jac=p["jac"], hess=p["hess"], method="trust-constr",  # noqa: E731
                                constraints=[con], options={"gtol": 1e-10, "xtol": 1e-14}).x
    x = benchmark(run)
    assert abs(p["fun"](x) - p["fstar"]) <= 1e-6


@pytest.mark.parametrize("solver", ["eal-direct", "trust-constr"])
def test_pde_control(benchmark, solver):
    p = hs.pde_control(32)
    benchmark.group = "optimize PDE control N=32"
    if solver == "eal-direct":
        run = lambda: minimize(p["fun"], p["x0"], jac=p["jac"], hess=p["hess"], constraints=p["cons"],  # noqa: E731
                               method=solver).x
    else:
        con = NonlinearConstraint(p["cons"]["fun"], 0, 0, jac=p["cons"]["jac"], hess=p["cons"]["hess"])
        run = lambda: sminimize(p["fun"], p["x0"], jac=p["jac"], hess=p["hess"], method="trust-constr",  # noqa: E731
                                constraints=[con], options={"gtol": 1e-10}).x
    x = benchmark(run)
    ref = p["exact"]()
    assert np.linalg.norm(x - ref) <= 1e-6 * np.linalg.norm(ref)


@pytest.mark.parametrize("method", ["kaczmarz", "gaussian", "count"])
def test_sketch_solve(benchmark, method):
    rng = np.random.default_rng(0)
    A = sp.random(4000, 300, density=0.02, random_state=1, format="csr") + sp.eye(4000, 300, format="csr")
    x_true = rng.standard_normal(300)
    b = A @ x_true
    benchmark.group = "sketch_solve 4000x300 sparse, rtol 1e-8"
    kw = {"block_size": 8} if method != "kaczmarz" else {}
    x, info = benchmark(lambda: sketch_solve(A, b, method=method, rtol=1e-8, seed=0, **kw))
    assert info == 0
    assert np.linalg.norm(x - x_true) <= 1e-6 * np.linalg.norm(x_true)


def test_lsqr_reference(benchmark):
    """SciPy's LSQR on the same system, for scale."""
    from scipy.sparse.linalg import lsqr

    rng = np.random.default_rng(0)
    A = sp.random(4000, 300, density=0.02, random_state=1, format="csr") + sp.eye(4000, 300, format="csr")
    x_true = rng.standard_normal(300)
    b = A @ x_true
    benchmark.group = "sketch_solve 4000x300 sparse, rtol 1e-8"
    x = benchmark(lambda: lsqr(A, b, atol=1e-12, btol=1e-12)[0])
    assert np.linalg.norm(x - x_true) <= 1e-6 * np.linalg.norm(x_true)
