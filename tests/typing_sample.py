"""A usage sample that calls every public function, class and method of
itercore, written the way a typed user would. tests/test_typing.py runs
``mypy --strict`` on it (the annotations must let it pass), runs it (the calls
must be real), and fails when a public name is missing here: add a call.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

import itercore
from itercore import bcd, completion, distributed, linalg, optimize, ot


def poisson2d(n: int) -> Any:
    """The 5-point Laplacian on an n x n grid, CSR (scipy has no type information: Any)."""
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    return (sp.kron(sp.identity(n), T) + sp.kron(T, sp.identity(n))).tocsr()


def top_level() -> None:
    cfg: dict[str, object] = itercore.get_config()
    assert "version" in cfg
    itercore.show_config(file=io.StringIO())
    include: str = itercore.get_include()
    cmake_dir: str = itercore.get_cmake_dir()
    assert include and cmake_dir
    warning: type[Warning] = itercore.ConvergenceWarning
    assert issubclass(warning, RuntimeWarning)
    version: str = itercore.__version__
    assert version


def transport() -> None:
    x = np.linspace(0.0, 1.0, 8)
    M = (x[:, None] - x[None, :]) ** 2
    a = np.full(8, 1.0 / 8)
    res = ot.entropic(a, a, M, 0.1, method="sinkhorn")
    cost: float = res.cost
    plan: npt.NDArray[np.floating] = ot.sinkhorn(a, a, M, 0.1)
    value: float = ot.sinkhorn2(a, a, M, 0.1)
    batch = ot.entropic_batch(np.tile(a, (2, 1)), np.tile(a, (2, 1)), M, 0.1)
    warning: type[Warning] = ot.SinkhornConvergenceWarning
    assert plan.shape == (8, 8) and cost >= 0 and value >= 0 and np.all(batch.status == 0)
    assert issubclass(warning, itercore.ConvergenceWarning)


def relaxation() -> None:
    A = poisson2d(4)
    b = np.ones(A.shape[0])
    x, info = linalg.sor(A, b, omega=1.2)
    y, info2 = linalg.ssor_pcg(A, b, omega=1.2)
    M = linalg.ssor_preconditioner(A, omega=1.2)
    z: npt.NDArray[np.floating] = np.zeros(A.shape[0])
    linalg.sor_sweep(A, z, b, omega=1.2, iterations=2)
    smoother = linalg.SORSmoother(A, omega=1.2)
    smoother(z, b, iterations=1)
    shape: tuple[int, int] = smoother.shape
    ordering = linalg.multicolor_ordering(A)
    colors: int = ordering.n_colors
    assert isinstance(ordering, linalg.MulticolorOrdering)
    D = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
    s, info3 = linalg.sketch_solve(D, np.ones(3), seed=0)
    assert info == info2 == info3 == 0 and x.shape == y.shape and s.shape == (3,) and colors >= 1
    assert M.shape == shape
    import pyamg  # type: ignore[import-untyped]

    ml = linalg.pyamg_smoothers(pyamg.smoothed_aggregation_solver(poisson2d(16)))
    assert ml.levels


def tuners() -> None:
    A = poisson2d(4)
    b = np.ones(A.shape[0])
    tuner = linalg.OmegaTuner(seed=0)
    x, info = tuner.solve(A, b)
    p: npt.NDArray[np.floating] = tuner.probabilities()
    best: float = tuner.best_omega_
    ctx = linalg.ContextualOmegaTuner(seed=0)
    y, info2 = ctx.solve(A, b, context=0.5)
    q: npt.NDArray[np.floating] = ctx.probabilities(0.5)
    costs: npt.NDArray[np.floating] = ctx.predicted_costs(0.5)
    omega: float = ctx.best_omega(0.5)
    best2: float = ctx.best_omega_
    assert info == info2 == 0 and x.shape == y.shape and p.size == q.size == costs.size
    assert 0 < best < 2 and 0 < omega < 2 and 0 < best2 < 2


def constrained() -> None:
    def fun(x: npt.NDArray[np.float64]) -> float:
        return float(x @ x)

    def jac(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return 2 * x

    def ceq(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.array([x.sum() - 1.0])

    def ceq_jac(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.ones((1, x.size))

    res = optimize.minimize(fun, np.zeros(3), jac=jac,
                            constraints={"type": "eq", "fun": ceq, "jac": ceq_jac})
    assert res.success


def matrix_completion() -> None:
    rng = np.random.default_rng(0)
    M = rng.standard_normal((20, 2)) @ rng.standard_normal((2, 15))
    X = sp.random(20, 15, density=0.6, format="csr", random_state=0)
    X.data = M[X.nonzero()]
    res: completion.AltMinResult = completion.altmin(X, 2, seed=0)
    pred: npt.NDArray[np.floating] = res.predict(np.array([0, 1]), np.array([2, 3]))
    assert pred.shape == (2,)


def coordinate_descent() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 8))
    y = X @ rng.standard_normal(8)
    labels = (y > 0).astype(np.int64)
    A = poisson2d(4).tocsr()
    quad = bcd.Quadratic(A, np.ones(16))
    ls = bcd.LeastSquares(X, y)
    logit = bcd.Logistic(X, 2 * labels - 1, l2=1.0)
    soft = bcd.Softmax(X, np.eye(2)[labels], l2=1.0)
    f: float = quad.fun(np.zeros(16)) + ls.fun(np.zeros(8)) + logit.fun(np.zeros(8)) + soft.fun(np.zeros((8, 2)))
    r1 = bcd.minimize(quad)
    r2 = bcd.minimize_quadratic(quad, block_size=4)
    r3 = bcd.minimize_smooth(logit, block_size=4)
    r4 = bcd.forest_pcg(quad, lattice_shape=(4, 4))
    r5 = bcd.lasso(X, y, 0.1)
    W = sp.csr_matrix(abs(A) - sp.diags(A.diagonal()))
    seeds = np.full(16, -1)
    seeds[0], seeds[15] = 0, 1
    r6 = bcd.label_propagation(W, seeds)
    r7 = bcd.forest_amg(quad)
    M: bcd.ForestAMGPreconditioner = bcd.forest_amg_preconditioner(A)
    z: npt.NDArray[np.float64] = M @ np.ones(16)
    assert M.operator_complexity >= 1.0 and z.shape == (16,) and r7.success
    forests: npt.NDArray[np.integer] = bcd.lattice_forests((4, 4))
    names: tuple[str, ...] = bcd.RULES + bcd.LASSO_RULES + bcd.UPDATES + bcd.BLOCKS + bcd.METHODS
    assert f > 0 and forests.size == 16 and names
    assert all(r.success for r in (r1, r2, r3, r4, r5, r6))


def on_dask() -> None:
    from distributed import Client, LocalCluster

    rng = np.random.default_rng(0)
    M = rng.standard_normal((20, 2)) @ rng.standard_normal((2, 15))
    r, c = np.nonzero(rng.random(M.shape) < 0.6)
    with LocalCluster(n_workers=1, threads_per_worker=1,  # type: ignore[no-untyped-call]
                      processes=False) as cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        res: completion.AltMinResult = distributed.altmin([(r, c, M[r, c])], 2, shape=(20, 15), seed=0,
                                                          client=client)
        A = poisson2d(4)
        X, info = distributed.solve_many(A, np.ones((3, 16)), client=client)
        done: bool = distributed.is_dask_collection(X)
        assert res.success and done and (info.compute() == 0).all()


def main() -> None:
    top_level()
    transport()
    relaxation()
    tuners()
    constrained()
    matrix_completion()
    coordinate_descent()
    on_dask()


if __name__ == "__main__":
    main()
