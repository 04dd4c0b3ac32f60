"""itercore.linalg.pyamg_smoothers: itercore's SOR sweeps as the smoothers of a PyAMG hierarchy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.sparse as sp

from itercore import linalg

pyamg = pytest.importorskip("pyamg", reason="PyAMG is not installed")


def _hierarchy(A, smoother):
    return pyamg.smoothed_aggregation_solver(A, presmoother=smoother[0], postsmoother=smoother[1], max_coarse=50)


PROBLEMS = {
    "poisson2d": lambda: pyamg.gallery.poisson((40, 40), format="csr"),
    "aniso": lambda: pyamg.gallery.stencil_grid(pyamg.gallery.diffusion_stencil_2d(epsilon=0.01, theta=np.pi / 6),
                                                (40, 40), format="csr"),
    "elasticity": lambda: pyamg.gallery.linear_elasticity((20, 20), format="csr")[0],
}

#: (itercore keywords, PyAMG's (presmoother, postsmoother) making the same sweeps)
SAME_SWEEPS = {
    "symmetric Gauss-Seidel": (dict(), (("gauss_seidel", {"sweep": "symmetric"}),) * 2),
    # (PyAMG 5.4's ("sor", {"sweep": "symmetric", "omega": w}) ignores omega: it is symmetric Gauss-Seidel;
    # its forward and backward SOR sweeps on CSR matrices are the textbook ones, as are ours)
    "SOR 1.3 forward then backward": (dict(omega=1.3, sweep="forward"), (("sor", {"omega": 1.3, "sweep": "forward"}),
                                                                         ("sor", {"omega": 1.3, "sweep": "backward"}))),
    "forward then backward": (dict(sweep="forward"), (("gauss_seidel", {"sweep": "forward"}),
                                                      ("gauss_seidel", {"sweep": "backward"}))),
    "two sweeps": (dict(iterations=2), (("gauss_seidel", {"sweep": "symmetric", "iterations": 2}),) * 2),
}


@pytest.mark.parametrize("problem", list(PROBLEMS))
@pytest.mark.parametrize("case", list(SAME_SWEEPS))
def test_same_iterates_as_pyamgs_own_smoother(problem, case):
    A = PROBLEMS[problem]()
    kw, theirs = SAME_SWEEPS[case]
    ref = _hierarchy(A, theirs)
    for lvl in ref.levels:  # PyAMG's SOR on a BSR level (its coarse SA levels) ignores omega: compare on CSR
        lvl.A = lvl.A.tocsr()
    # the same hierarchy (PyAMG's setup estimates spectral radii from random vectors), then our smoothers
    ours = linalg.pyamg_smoothers(copy.deepcopy(ref), **kw)
    assert ours.symmetric_smoothing
    rng = np.random.default_rng(0)
    for lvl_ref, lvl in zip(ref.levels[:-1], ours.levels[:-1]):  # every level's smoothing step
        b = rng.standard_normal(lvl.A.shape[0])
        x0 = rng.standard_normal(lvl.A.shape[0])
        for step in ("presmoother", "postsmoother"):
            x_ref, x = x0.copy(), x0.copy()
            getattr(lvl_ref, step)(lvl_ref.A, x_ref, b)
            getattr(lvl, step)(lvl.A, x, b)
            np.testing.assert_allclose(x, x_ref, rtol=1e-11, atol=1e-11 * np.abs(x_ref).max())
    b = rng.standard_normal(A.shape[0])
    res_ref, res = [], []
    x_ref = ref.solve(b, tol=1e-10, accel="cg", residuals=res_ref)
    x = ours.solve(b, tol=1e-10, accel="cg", residuals=res)
    assert len(res) == len(res_ref)  # the same CG iterations
    np.testing.assert_allclose(res, res_ref, rtol=1e-6, atol=1e-9 * res_ref[0])
    np.testing.assert_allclose(x, x_ref, rtol=1e-7, atol=1e-9 * np.abs(x_ref).max())


def test_multicolour_smoothers_converge_as_cg_preconditioner():
    A = PROBLEMS["poisson2d"]()
    ml = linalg.pyamg_smoothers(pyamg.smoothed_aggregation_solver(A), ordering="multicolor", n_threads=2)
    b = np.ones(A.shape[0])
    res = []
    x = ml.solve(b, tol=1e-10, accel="cg", residuals=res)
    assert np.linalg.norm(b - A @ x) <= 1e-9 * np.linalg.norm(b)
    assert len(res) < 30
    for lvl in ml.levels[:-1]:  # the installed smoothers prepared each level's own matrix
        assert lvl.presmoother.smoother.shape == lvl.A.shape


def test_ruge_stuben_and_float32():
    A = PROBLEMS["poisson2d"]()
    ref = pyamg.ruge_stuben_solver(A, presmoother=("gauss_seidel", {"sweep": "symmetric"}),
                                   postsmoother=("gauss_seidel", {"sweep": "symmetric"}))
    ml = linalg.pyamg_smoothers(copy.deepcopy(ref))
    b = np.random.default_rng(1).standard_normal(A.shape[0])
    r1, r2 = [], []
    ref.solve(b, tol=1e-10, residuals=r1)
    ml.solve(b, tol=1e-10, residuals=r2)
    assert len(r1) == len(r2)
    np.testing.assert_allclose(r2, r1, rtol=1e-6, atol=1e-9 * r1[0])
    A32 = A.astype(np.float32)
    ml32 = linalg.pyamg_smoothers(pyamg.smoothed_aggregation_solver(A32))
    x = ml32.solve(b.astype(np.float32), tol=1e-5, accel="cg")
    assert np.linalg.norm(b - A @ x) <= 1e-4 * np.linalg.norm(b)


def test_bad_input():
    with pytest.raises(TypeError, match="ml must be a pyamg.MultilevelSolver"):
        linalg.pyamg_smoothers(sp.identity(3))
    ml = pyamg.smoothed_aggregation_solver(PROBLEMS["poisson2d"]())
    with pytest.raises(ValueError, match="omega"):
        linalg.pyamg_smoothers(ml, omega=2.5)
    with pytest.raises(ValueError, match="sweep"):
        linalg.pyamg_smoothers(ml, sweep="sideways")
    with pytest.raises(ValueError, match="iterations"):
        linalg.pyamg_smoothers(ml, iterations=0)
