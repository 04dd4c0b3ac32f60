"""Sketch-and-project linear solvers (itercore._sketch.sketch_solve and its pipeline step)."""

import numpy as np
import pytest
import scipy.sparse as sp

from contract import raises_naming
from itercore import ConvergenceWarning
from itercore import _pipeline
from itercore.linalg import sketch_solve
from itercore._sketch import _solve

METHODS = ["kaczmarz", "gaussian", "count"]


def _sketch_solve(A, b, **kwargs):
    """sketch_solve's pipeline step as ``(x, info, res)``: scipy's ``info`` and
    the core's result dict with the status by name and the residual history."""
    x, res = _solve(A, b, history=True, stacklevel=3, **kwargs)
    return x, _pipeline.linear_info(res["status"], res["nit"]), dict(res, status=_pipeline.status_name(res["status"]))


def system(m, n, seed=0, dtype=np.float64):
    """A well-conditioned random consistent system: A = U diag(1..2) V^T (rank min(m, n))."""
    rng = np.random.default_rng(seed)
    r = min(m, n)
    U = np.linalg.qr(rng.standard_normal((m, r)))[0]
    V = np.linalg.qr(rng.standard_normal((n, r)))[0]
    A = (U * np.linspace(1.0, 2.0, r)) @ V.T
    A[np.abs(A) < 0.05] = 0.0  # some sparsity for the CSR runs; still full rank
    b = A @ rng.standard_normal(n)
    return A.astype(dtype), b.astype(dtype)


def min_norm(A, b):
    return np.linalg.pinv(A.astype(np.float64)) @ b.astype(np.float64)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("block_size", [1, 4])
@pytest.mark.parametrize("shape", [(60, 30), (30, 30), (20, 50)])
@pytest.mark.parametrize("sparse", [False, True])
def test_solves_to_rtol_and_min_norm(method, block_size, shape, sparse):
    A, b = system(*shape)
    ref = min_norm(A, b)  # the solution (over/square) or the minimum-norm solution (under)
    AA = sp.csr_matrix(A) if sparse else A
    x, code, info = _sketch_solve(AA, b, method=method, block_size=block_size, rtol=1e-8, seed=3)
    assert code == 0 and info["status"] == "converged"
    assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b) * (1 + 1e-12)
    assert info["residual"] == pytest.approx(np.linalg.norm(b - A @ x), rel=1e-6, abs=1e-14)
    # residual 1e-8 ||b|| and singular values >= 1 bound the error by 1e-8 ||b||
    assert np.linalg.norm(x - ref) <= 2e-8 * np.linalg.norm(b)


@pytest.mark.parametrize("method", METHODS)
def test_same_seed_same_iterates(method):
    A, b = system(40, 25, seed=1)
    runs = []
    for seed in (7, 7, 8):
        seen = []
        with pytest.warns(ConvergenceWarning):
            x, code, info = _sketch_solve(A, b, method=method, seed=seed, maxiter=30, rtol=0.0,
                                   callback=lambda xk: seen.append(xk))
        runs.append((x, np.array(seen), info["history"]))
    assert np.array_equal(runs[0][0], runs[1][0]) and np.array_equal(runs[0][1], runs[1][1])
    assert np.array_equal(runs[0][2], runs[1][2])
    assert not np.array_equal(runs[0][0], runs[2][0])
    rng = np.random.default_rng(5)
    with pytest.warns(ConvergenceWarning):
        x1, _ = sketch_solve(A, b, method=method, seed=np.random.default_rng(5), maxiter=30, rtol=0.0)
    with pytest.warns(ConvergenceWarning):
        x2, _ = sketch_solve(A, b, method=method, seed=rng, maxiter=30, rtol=0.0)
    assert np.array_equal(x1, x2)


def test_kaczmarz_matches_reference_iterates():
    """One-row Kaczmarz steps equal the textbook projection with the same rows."""
    A, b = system(12, 8, seed=2)
    x, code, info = _sketch_solve(A, b, seed=0, rtol=1e-10)
    assert info["status"] == "converged"
    np.testing.assert_allclose(x, np.linalg.solve(A.T @ A, A.T @ b), rtol=0, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_dtypes_and_indices(dtype, index):
    A, b = system(50, 20, seed=4, dtype=dtype)
    S = sp.csr_matrix(A)
    S.indices = S.indices.astype(index)
    S.indptr = S.indptr.astype(index)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    x, code, info = _sketch_solve(S, b, rtol=rtol, seed=0)
    assert x.dtype == dtype and info["status"] == "converged"
    np.testing.assert_allclose(x, min_norm(A, b), atol=10 * rtol * np.linalg.norm(b))
    xd, _ = sketch_solve(A, b, rtol=rtol, seed=0)
    assert xd.dtype == dtype
    # mixed precision computes in float64
    x64, _ = sketch_solve(A.astype(np.float32), b.astype(np.float64), rtol=1e-6, seed=0)
    assert x64.dtype == np.float64


def test_non_contiguous_and_x0():
    A, b = system(40, 20, seed=5)
    Af = np.asfortranarray(A)
    bs = np.repeat(b, 2)[::2]
    x0 = np.ones(40)[::2]
    x, code, info = _sketch_solve(Af, bs, x0=x0, seed=0, rtol=1e-10)
    assert info["status"] == "converged"
    np.testing.assert_allclose(x, min_norm(A, b), atol=1e-8)
    assert np.array_equal(x0, np.ones(20))  # x0 is not written


def test_bad_input():
    A, b = system(10, 5)
    with raises_naming(ValueError, "b"):
        sketch_solve(A, b[:-1])
    with raises_naming(ValueError, "x0"):
        sketch_solve(A, b, x0=np.zeros(4))
    with raises_naming(ValueError, "A"):
        sketch_solve(np.ones(3), np.ones(3))
    with raises_naming(ValueError, "method"):
        sketch_solve(A, b, method="nope")
    with raises_naming(ValueError, "block_size"):
        sketch_solve(A, b, block_size=0)
    with raises_naming(ValueError, "rtol"):
        sketch_solve(A, b, rtol=-1.0)
    with raises_naming(ValueError, "maxiter"):
        sketch_solve(A, b, maxiter=-1)
    with raises_naming(TypeError, "callback"):
        sketch_solve(A, b, callback=3)
    with raises_naming(TypeError, "seed"):
        sketch_solve(A, b, seed="x")
    with raises_naming(TypeError, "A"):
        sketch_solve(sp.linalg.aslinearoperator(A), b)
    bad = A.copy()
    bad[0, 0] = np.nan
    with raises_naming(ValueError, "A"):
        sketch_solve(bad, b)
    with raises_naming(ValueError, "A"):
        sketch_solve(sp.csr_matrix(bad), b)
    with raises_naming(ValueError, "b"):
        sketch_solve(A, np.full(10, np.inf))


def test_empty_and_zero_iterations():
    x, code, info = _sketch_solve(np.zeros((0, 3)), np.zeros(0))
    assert x.shape == (3,) and code == 0
    A, b = system(10, 5)
    with pytest.warns(ConvergenceWarning, match=r"relative residual 1\.000e\+00 > tol 1\.0e-08"):
        x, code, info = _sketch_solve(A, b, maxiter=0)
    assert info["nit"] == 0 and np.array_equal(x, np.zeros(5)) and info["status"] == "max_iter"
    assert info["residual"] == pytest.approx(np.linalg.norm(b))
    x, code, info = _sketch_solve(A, b, x0=min_norm(A, b), maxiter=0, rtol=1e-8)
    assert info["status"] == "converged"


def test_zero_matrix_breaks_down():
    with pytest.warns(ConvergenceWarning, match="breakdown"):
        x, code, info = _sketch_solve(np.zeros((3, 3)), np.ones(3))
    assert code < 0 and np.array_equal(x, np.zeros(3))


def test_overflow_stops_non_finite_with_finite_iterate():
    A, b = system(10, 5)
    with pytest.warns(ConvergenceWarning, match="non_finite"):
        x, code, info = _sketch_solve(A * 1e300, b * 1e300, seed=0, method="gaussian", block_size=2)
    assert info["status"] == "non_finite" and np.isfinite(x).all()


def test_callback_stop():
    A, b = system(40, 20)
    calls = []

    def cb(xk):
        calls.append(xk.copy())
        if len(calls) == 3:
            raise StopIteration

    x, code, info = _sketch_solve(A, b, callback=cb, seed=0, rtol=1e-14)
    assert info["status"] == "callback_stop" and len(calls) == 3 and code == info["nit"] > 0
    np.testing.assert_array_equal(x, calls[-1])

    def boom(xk):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        sketch_solve(A, b, callback=boom, seed=0)


def python_progress_during(work):
    """Fraction of its solo speed a pure-Python loop in this thread keeps while
    ``work`` runs in another thread: ~1 when the GIL is released, ~0 when held.
    Unlike the two-thread timing of the contract, this does not depend on how
    many idle cores the machine has."""
    import threading
    import time

    done = []
    th = threading.Thread(target=lambda: (work(), done.append(True)))
    t0 = time.perf_counter()
    th.start()
    n = 0
    while not done:
        n += 1
        time.perf_counter()  # the same loop body as below
    elapsed = time.perf_counter() - t0
    th.join()
    t0 = time.perf_counter()
    solo = 0
    while time.perf_counter() - t0 < elapsed:
        solo += 1
    return n / max(solo, 1)


def _slow_system():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((300, 300))
    return A, A @ rng.standard_normal(300)


@pytest.mark.filterwarnings("ignore::itercore.ConvergenceWarning")
def test_gil_released_python_keeps_running():
    A, b = _slow_system()
    progress = python_progress_during(
        lambda: sketch_solve(A, b, method="kaczmarz", maxiter=150000, rtol=0.0, seed=0, n_threads=1))
    assert progress > 0.3, f"a Python thread ran at {progress:.0%} of its speed during the solve (GIL held?)"


def test_public_api_returns_scipy_style_info():
    A, b = system(12, 6)
    x, info = sketch_solve(A, b, seed=0)
    assert isinstance(info, int) and info == 0
    assert np.linalg.norm(A @ x - b) <= 1e-8 * np.linalg.norm(b)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        x, info = sketch_solve(A, b, seed=0, maxiter=3, rtol=1e-14)
    assert info == 3


def test_defaults_come_from_the_cpp_struct():
    import inspect

    from itercore import _core

    d = _core.linalg.SketchOptions()
    params = inspect.signature(sketch_solve).parameters
    assert params["method"].default == d.method.name == "kaczmarz"
    assert (params["block_size"].default, params["rtol"].default, params["atol"].default) == (
        d.block_size, d.rtol, d.atol)
    assert params["maxiter"].default is None and d.maxiter == -1  # the automatic budget


def test_expert_options():
    A, b = system(40, 20, seed=6)
    x1, _, r1 = _sketch_solve(A, b, seed=0, options={"check_every": 1})
    x2, _, r2 = _sketch_solve(A, b, seed=0)  # automatic: about one pass over the rows
    assert r1["status"] == r2["status"] == "converged"
    assert len(r1["history"]) == r1["nit"] + 1 and len(r2["history"]) < len(r1["history"])
    # stall_factor: give up (max_iter) once the observed rate cannot reach the target in budget
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        x, code, info = _sketch_solve(A, b, seed=0, rtol=0.0, atol=1e-300, maxiter=10**6,
                                      options={"stall_factor": 1.0})
    assert info["status"] == "max_iter" and 0 < info["nit"] < 10**6
    with raises_naming(TypeError, "options", match="did you mean 'stall_factor'"):
        sketch_solve(A, b, options={"stall_factr": 1.0})
    with raises_naming(ValueError, "check_every"):
        sketch_solve(A, b, options={"check_every": -1})
    with raises_naming(TypeError, "options", match="history"):
        sketch_solve(A, b, options={"history": True})
    with raises_naming(TypeError, "seed", match="keyword"):
        sketch_solve(A, b, options={"seed": 3})
    with pytest.raises(TypeError, match="positional"):
        sketch_solve(A, b, np.zeros(20))  # x0 is keyword-only
