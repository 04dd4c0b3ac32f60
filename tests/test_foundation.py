"""The package's shared infrastructure: build config, validation, threads,
Ctrl-C, the GIL, and the internal kernels the families reuse."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import itercore
from itercore import _core, _kernels
from itercore import _validation as v
from conftest import poisson2d
from contract import assert_gil_released, assert_interruptible, raises_naming


# --- package and configuration ------------------------------------------------

def test_version_and_warning_class():
    assert isinstance(itercore.__version__, str) and itercore.__version__.count(".") >= 2
    assert issubclass(itercore.ConvergenceWarning, RuntimeWarning)


def test_show_config_content():
    buf = io.StringIO()
    itercore.show_config(file=buf)
    out = buf.getvalue()
    for key in ("itercore " + itercore.__version__, "compiler:", "OpenMP:", "Eigen:", "CUDA:", "SIMD:", "flags:"):
        assert key in out
    cfg = itercore.get_config()
    assert cfg["eigen_version"].startswith("3.")
    assert "-march=native" not in cfg["cxx_flags"]
    assert "-O3" in cfg["cxx_flags"]
    if cfg["openmp"]:
        assert "OpenMP:     on" in out
        assert f"max threads {cfg['max_threads']}" in out
    else:
        assert "off (1 thread)" in out


def test_openmp_default_follows_omp_num_threads():
    code = "import itercore; print(itercore.get_config()['max_threads'])"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1"


def test_demo_runs():
    out = subprocess.run([sys.executable, "-m", "itercore"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "itercore " + itercore.__version__ in out.stdout


# --- validation ----------------------------------------------------------------

def test_as_float_array_keeps_dtype_without_copy():
    for dt in (np.float32, np.float64):
        x = np.arange(5, dtype=dt)
        y = v.as_float_array(x, "x")
        assert y is x or np.shares_memory(x, y)
        assert y.dtype == dt
    assert v.as_float_array(np.arange(3), "x").dtype == np.float64


def test_as_float_array_makes_contiguous():
    x = np.arange(20.0).reshape(4, 5)[:, ::2]
    y = v.as_float_array(x, "x")
    assert y.flags.c_contiguous and np.array_equal(x, y)


@pytest.mark.parametrize(
    "value, kwargs, exc, match",
    [
        (np.array([1.0, np.nan]), {}, ValueError, "b must contain only finite"),
        (np.array([1.0, np.inf]), {}, ValueError, "b must contain only finite"),
        (np.ones((2, 2)), {"ndim": 1}, ValueError, "b must be 1-dimensional"),
        (np.ones(3), {"shape": (4,)}, ValueError, r"b must have shape \(4\)"),
        (np.ones(0), {}, ValueError, "b must not be empty"),
        (np.ones(2, dtype=complex), {}, TypeError, "b must be real"),
        (np.array(["a", "b"]), {}, TypeError, "b must be a numeric"),
        (sp.eye(3, format="csr"), {}, TypeError, "b must be a dense array"),
    ],
)
def test_as_float_array_errors_name_argument(value, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        v.as_float_array(value, "b", **kwargs)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_as_csr_keeps_types_without_copy(dtype, index_dtype):
    A = poisson2d(4, dtype=dtype, index_dtype=index_dtype)
    M = v.as_csr(A, "A", square=True)
    assert M.dtype == dtype and M.indices.dtype == index_dtype
    assert np.shares_memory(M.data, A.data) and np.shares_memory(M.indices, A.indices)


def test_as_csr_converts_other_formats_and_dense():
    A = poisson2d(3)
    assert (v.as_csr(A.tocoo(), "A") != A).nnz == 0
    assert (v.as_csr(A.toarray(), "A") != A).nnz == 0
    assert v.as_csr(A.astype(np.int64), "A").dtype == np.float64


def test_as_csr_sums_duplicates():
    A = sp.csr_matrix((np.array([1.0, 2.0]), np.array([0, 0]), np.array([0, 2])), shape=(1, 1))
    assert v.as_csr(A, "A")[0, 0] == 3.0


@pytest.mark.parametrize(
    "make, kwargs, exc, match",
    [
        (lambda: sp.random(3, 4, density=0.5, format="csr"), {"square": True}, ValueError, "A must be square"),
        (lambda: sp.csr_matrix((0, 0)), {}, ValueError, "A must not be empty"),
        (lambda: sp.csr_matrix(np.array([[1.0, np.nan]])), {}, ValueError, "A must contain only finite"),
        (lambda: sp.csr_matrix(np.array([[1.0 + 1j]])), {}, TypeError, "A must be real"),
        (lambda: sp.linalg.aslinearoperator(np.eye(2)), {}, TypeError, "A must be an explicit"),
    ],
)
def test_as_csr_errors_name_argument(make, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        v.as_csr(make(), "A", **kwargs)


def test_as_csr_rejects_corrupt_structure():
    A = poisson2d(3)
    A.indices = A.indices.copy()
    A.indices[0] = 99
    with pytest.raises(ValueError, match="A has column indices outside"):
        v.as_csr(A, "A")


def test_n_threads_rules():
    assert v.check_n_threads(None) == 0  # runtime default, resolved by OpenMP
    assert v.check_n_threads(3) == 3
    cpus = v.usable_cpus()
    assert v.check_n_threads(-1) == cpus
    assert v.check_n_threads(-2) == max(1, cpus - 1)
    assert v.check_n_threads(-1000) == 1
    with raises_naming(ValueError, "n_threads", match="got 0"):
        v.check_n_threads(0)
    with pytest.raises(TypeError, match="n_threads must be None or an int"):
        v.check_n_threads(2.0)
    with pytest.raises(TypeError, match="n_threads"):
        v.check_n_threads(True)


def test_seed_rules():
    assert v.seed_to_uint64(7) == v.seed_to_uint64(7)
    assert v.seed_to_uint64(7) != v.seed_to_uint64(8)
    g = np.random.default_rng(3)
    assert v.check_random_state(g) is g
    with pytest.raises(TypeError, match="seed must be None, an int"):
        v.check_random_state(1.5)
    with pytest.raises(ValueError, match="seed must be non-negative"):
        v.check_random_state(-1)


def test_scalar_int_choice_callback_checks():
    assert v.check_scalar(1, "omega", lower=0, upper=2) == 1.0
    with pytest.raises(ValueError, match=r"omega must be < 2"):
        v.check_scalar(2.0, "omega", upper=2, upper_inclusive=False)
    with pytest.raises(ValueError, match="omega must be finite"):
        v.check_scalar(float("nan"), "omega")
    with pytest.raises(TypeError, match="omega must be a real number"):
        v.check_scalar("1", "omega")
    with pytest.raises(ValueError, match="maxiter must be >= 0"):
        v.check_int(-1, "maxiter", lower=0)
    with pytest.raises(TypeError, match="maxiter must be an int"):
        v.check_int(1.5, "maxiter")
    with pytest.raises(ValueError, match="sweep must be one of 'a', 'b'; got 'c'"):
        v.check_choice("c", "sweep", ("a", "b"))
    with pytest.raises(TypeError, match="callback must be callable"):
        v.check_callback(3)


# --- kernels, threads, GIL, Ctrl-C ----------------------------------------------

def csr_matvec(A, x, n_threads=None):
    M = v.as_csr(A, "A")
    xv = v.as_float_array(x, "x", ndim=1, shape=(M.shape[1],), dtype=M.dtype)
    return _core._testing.csr_matvec(*_kernels.csr_args(M), xv, v.check_n_threads(n_threads))


def power_iteration(A, maxiter, tol):
    M = v.as_csr(A, "A", square=True)
    x = np.random.default_rng(0).standard_normal(M.shape[0]).astype(M.dtype)
    lam, info = _core._testing.power_iteration(*_kernels.csr_args(M), x, maxiter, tol, 0)
    return lam, x, info


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_matvec_matches_scipy(dtype, index_dtype, rng):
    A = sp.random(300, 200, density=0.1, random_state=1, format="csr", dtype=np.float64).astype(dtype)
    A.indices = A.indices.astype(index_dtype)
    A.indptr = A.indptr.astype(index_dtype)
    x = rng.standard_normal(200).astype(dtype)
    y = csr_matvec(A, x)
    assert y.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y, A @ x, rtol=tol, atol=tol)


def test_csr_matvec_parallel_equals_serial(rng):
    A = poisson2d(300)  # ~450k nnz: the parallel path
    x = rng.standard_normal(A.shape[1])
    np.testing.assert_array_equal(csr_matvec(A, x, n_threads=1), csr_matvec(A, x, n_threads=2))


def test_power_iteration_matches_eigvalsh():
    A = poisson2d(8)
    lam, x, info = power_iteration(A, maxiter=5000, tol=1e-12)
    exact = np.linalg.eigvalsh(A.toarray())[-1]
    assert info["status"] == 0  # converged
    assert abs(lam - exact) <= 1e-6 * exact


def test_threadpoolctl_limits_openmp():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not itercore.get_config()["openmp"]:
        pytest.skip("built without OpenMP")
    before = _core._default_threads()
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _core._default_threads() == 1
        assert itercore.get_config()["max_threads"] == 1
    assert _core._default_threads() == before
    libs = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "openmp"]
    assert libs, "threadpoolctl does not see itercore's OpenMP runtime"


def test_ctrl_c_interrupts_a_long_solve():
    M = v.as_csr(poisson2d(200), "A")
    x = np.random.default_rng(0).standard_normal(M.shape[0])
    # tol < 0 never converges: only Ctrl-C can end this within a test's lifetime.
    assert_interruptible(lambda: _core._testing.power_iteration(*_kernels.csr_args(M), x, 10**12, -1.0, 1))


def test_gil_released_two_threads_run_concurrently():
    M = v.as_csr(poisson2d(150), "A")
    x0 = np.random.default_rng(0).standard_normal(M.shape[0])
    assert_gil_released(lambda: _core._testing.power_iteration(*_kernels.csr_args(M), x0.copy(), 600, -1.0, 1))
