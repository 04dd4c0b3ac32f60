"""itercore from C++ and Cython (docs/embedding.md): the installed headers and
CMake package, the example program in examples/cpp built against them, and
the Cython example in examples/cython calling the cores without the GIL.
Every number is compared with the Python API.

Skipped only when no C++ compiler is present (the reason is printed).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

import itercore
from itercore import linalg, ot
from itercore._problems import poisson2d

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _compiler():
    cxx = os.environ.get("CXX") or shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    return cxx


CXX = _compiler()
needs_cxx = pytest.mark.skipif(CXX is None, reason="no C++ compiler (c++, g++, clang++ or $CXX) on PATH")


def _eigen_include():
    """The Eigen headers the way the build finds them: cmeel-eigen, then the system."""
    try:
        import cmeel

        prefix = pathlib.Path(cmeel.__path__[0]).parent / "cmeel.prefix" / "include" / "eigen3"
        if (prefix / "Eigen" / "Core").is_file():
            return str(prefix)
    except ImportError:
        pass
    for cand in ("/usr/include/eigen3", "/usr/local/include/eigen3"):
        if os.path.isfile(os.path.join(cand, "Eigen", "Core")):
            return cand
    pytest.skip("no Eigen headers (pip install cmeel-eigen, part of the test extra)")


def _build_dir(tmp_path_factory, name):
    """A build folder kept between runs (build/tests/ of a source checkout), else a temporary one."""
    keep = ROOT / "build"
    if (ROOT / "pyproject.toml").is_file() and os.access(ROOT, os.W_OK):
        path = keep / "tests" / name
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp(name)


def _run(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# --------------------------------------------------------------------------- installed package


def test_installed_headers_and_cmake_config():
    inc = pathlib.Path(itercore.get_include())
    cmake_dir = pathlib.Path(itercore.get_cmake_dir())
    assert (cmake_dir / "itercoreConfig.cmake").is_file()
    assert (cmake_dir / "itercoreConfigVersion.cmake").is_file()
    installed = sorted(p.relative_to(inc).as_posix() for p in (inc / "itercore").rglob("*.hpp"))
    assert "itercore/linalg/relaxation.hpp" in installed
    source = ROOT / "cpp" / "include"
    if source.is_dir():  # a source checkout: every public header is installed
        expected = sorted(p.relative_to(source).as_posix() for p in (source / "itercore").rglob("*.hpp"))
        assert installed == expected, "headers missing from the install: reinstall (pip install .)"
    version = (cmake_dir / "itercoreConfigVersion.cmake").read_text()
    assert f'"{itercore.__version__}"' in version


@needs_cxx
@pytest.mark.skipif(not os.environ.get("ITERCORE_TEST_HEADERS"),
                    reason="compiles every header twice (about 50 compiler runs, 1-3 min on 2 cores): "
                           "set ITERCORE_TEST_HEADERS=1, or build with -DITERCORE_CHECK_HEADERS=ON")
def test_each_public_header_compiles_alone():
    """One translation unit per installed header, including only that header,
    with and without OpenMP: a header leaning on an include that only the
    bindings make fails here. (The CMake option ITERCORE_CHECK_HEADERS builds
    the same translation units from the source tree.)"""
    inc = itercore.get_include()
    eigen = _eigen_include()
    headers = sorted(p.relative_to(inc).as_posix() for p in pathlib.Path(inc, "itercore").rglob("*.hpp"))
    flags = ["-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-I", inc, "-isystem", eigen, "-x", "c++", "-"]

    def check(header, openmp):
        cmd = [CXX, *(["-fopenmp"] if openmp else []), *flags]
        proc = subprocess.run(cmd, input=f"#include <{header}>\n", capture_output=True, text=True)
        return header, openmp, proc.returncode, proc.stderr

    jobs = [(h, omp) for h in headers for omp in (True, False)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda job: check(*job), jobs))
    failures = [f"{h} ({'with' if omp else 'without'} OpenMP):\n{err}" for h, omp, rc, err in results if rc != 0]
    assert not failures, "headers that do not compile on their own:\n" + "\n".join(failures)


# --------------------------------------------------------------------------- C++ example

def _python_sor():
    A = poisson2d(16)
    x, info = linalg.sor(A, np.ones(A.shape[0]), omega=1.5, rtol=1e-10, ordering="natural")
    assert info == 0
    return x


def _ot_problem():
    n, m = 40, 30
    xs = np.arange(n) / (n - 1)
    ys = (np.arange(m) / (m - 1)) ** 2
    M = (xs[:, None] - ys[None, :]) ** 2
    return np.full(n, 1.0 / n), np.full(m, 1.0 / m), M


@pytest.fixture(scope="module")
def cpp_example(tmp_path_factory):
    if CXX is None:
        pytest.skip("no C++ compiler (c++, g++, clang++ or $CXX) on PATH")
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("no cmake (pip install cmake, part of the test extra)")
    build = _build_dir(tmp_path_factory, "cpp_example")  # CMake/ninja rebuild only what changed
    configure = [cmake, "-S", str(EXAMPLES / "cpp"), "-B", str(build), f"-Ditercore_DIR={itercore.get_cmake_dir()}",
                 f"-DPython_EXECUTABLE={sys.executable}", "-DCMAKE_BUILD_TYPE=Release",
                 f"-DCMAKE_CXX_COMPILER={CXX}"]
    if shutil.which("ninja"):
        configure += ["-G", "Ninja"]
    log = _run(configure)
    _run([cmake, "--build", str(build)])
    exe = next(p for p in build.rglob("itercore_example*") if p.is_file() and os.access(p, os.X_OK))
    out = _run([str(exe)])
    values = dict(re.findall(r"^(\S+) = (.*)$", out, flags=re.M))
    return values, log


def test_cpp_example_uses_the_installed_package(cpp_example):
    _, log = cpp_example
    found = re.search(r"Found itercore (\S+): (\S+)", log)
    assert found, log
    assert found.group(1) == itercore.__version__
    assert pathlib.Path(found.group(2)).resolve() == pathlib.Path(itercore.get_include()).resolve()


def test_cpp_example_sor_matches_python(cpp_example):
    values, _ = cpp_example
    x = _python_sor()
    assert values["sor.status"] == "converged"
    np.testing.assert_allclose(float(values["sor.x0"]), x[0], rtol=1e-12)
    np.testing.assert_allclose(float(values["sor.xmid"]), x[x.size // 2 + 8], rtol=1e-12)
    np.testing.assert_allclose(float(values["sor.weighted_sum"]), np.arange(1, x.size + 1) @ x, rtol=1e-12)


def test_cpp_example_sinkhorn_matches_python(cpp_example):
    values, _ = cpp_example
    a, b, M = _ot_problem()
    res = ot.entropic(a, b, M, 0.01, method="sinkhorn", tol=1e-9)
    assert values["sinkhorn.status"] == "converged" and res.success
    assert int(values["sinkhorn.nit"]) == res.nit
    np.testing.assert_allclose(float(values["sinkhorn.cost"]), res.cost, rtol=1e-12)
    np.testing.assert_allclose(float(values["sinkhorn.f0"]), res.f[0], rtol=1e-12)
    np.testing.assert_allclose(float(values["sinkhorn.g_last"]), res.g[-1], rtol=1e-12)


def test_cpp_example_bad_argument_is_invalid_argument_naming_it(cpp_example):
    values, _ = cpp_example
    assert values["bad.omega"].startswith("std::invalid_argument: omega "), values["bad.omega"]


# --------------------------------------------------------------------------- Cython example


@pytest.fixture(scope="module")
def cy(tmp_path_factory):
    """examples/cython/itercore_cython_example.pyx, cythonized and compiled
    (-O1: the point is the declarations, not speed) into a temporary folder."""
    if CXX is None:
        pytest.skip("no C++ compiler (c++, g++, clang++ or $CXX) on PATH")
    pytest.importorskip("Cython", reason="Cython is part of the test extra")
    pytest.importorskip("setuptools", reason="setuptools is part of the test extra")
    eigen = _eigen_include()
    # The .pxd files are found next to the itercore package being tested
    # (in an editable install that is the source tree, not site-packages).
    pxd_root = str(pathlib.Path(itercore.__file__).resolve().parents[1])
    # The compiled module is reused while the .pyx, the .pxd files, the
    # installed headers, the compiler and Python are the same (the compile
    # is ~30 s of CPU); any change rebuilds it.
    digest = hashlib.sha256()
    inputs = [EXAMPLES / "cython" / "itercore_cython_example.pyx",
              *sorted(pathlib.Path(pxd_root, "itercore", "cpp").glob("*.pxd")),
              *sorted(pathlib.Path(itercore.get_include(), "itercore").rglob("*.hpp"))]
    for path in inputs:
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(f"{CXX} {sys.version} {np.__version__}".encode())
    build = _build_dir(tmp_path_factory, f"cython_example-{digest.hexdigest()[:16]}")
    sys.path.insert(0, str(build))
    try:
        if list(build.glob("itercore_cython_example*.so")):
            return importlib.import_module("itercore_cython_example")
    finally:
        sys.path.remove(str(build))
    shutil.copy(EXAMPLES / "cython" / "itercore_cython_example.pyx", build)
    script = f"""
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
ext = Extension("itercore_cython_example", ["itercore_cython_example.pyx"], language="c++",
    include_dirs={[itercore.get_include(), eigen, np.get_include()]!r},
    extra_compile_args=["-std=c++17", "-O1", "-fopenmp", "-w"], extra_link_args=["-fopenmp"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])
setup(name="itercore-cython-example", script_args=["build_ext", "--inplace", "-q"],
      ext_modules=cythonize([ext], include_path={[pxd_root]!r}, quiet=True))
"""
    env = dict(os.environ, CXX=CXX, CC=os.environ.get("CC", CXX))
    env.pop("CFLAGS", None)
    _run([sys.executable, "-c", script], cwd=build, env=env)
    sys.path.insert(0, str(build))
    try:
        return importlib.import_module("itercore_cython_example")
    finally:
        sys.path.remove(str(build))


def test_cython_sor_sweep_matches_python(cy):
    A = poisson2d(12)
    b = np.linspace(0.0, 1.0, A.shape[0])
    x_cy = np.zeros(A.shape[0])
    cy.sor_sweeps(A, x_cy, b, 1.3, 7)
    x_py = np.zeros(A.shape[0])
    linalg.sor_sweep(A, x_py, b, omega=1.3, iterations=7)
    np.testing.assert_allclose(x_cy, x_py, rtol=1e-13, atol=0)
    assert np.linalg.norm(x_cy) > 0


def test_cython_sinkhorn_in_prange_matches_python(cy):
    a, b, M = _ot_problem()
    regs = np.array([0.05, 0.02, 0.1, 0.03])
    costs, nits, f, g = cy.sinkhorn_many(a, b, M, regs, 1e-9)
    for r, reg in enumerate(regs):
        res = ot.entropic(a, b, M, reg, method="sinkhorn", tol=1e-9)
        assert nits[r] == res.nit
        np.testing.assert_allclose(costs[r], res.cost, rtol=1e-12)
        np.testing.assert_allclose(f[r], res.f, rtol=1e-11, atol=1e-14)
        np.testing.assert_allclose(g[r], res.g, rtol=1e-11, atol=1e-14)


def test_cython_sns_matches_python(cy):
    a, b, M = _ot_problem()
    f, g, status, newton = cy.sns_solve(a, b, M, 2e-3, 1e-9)
    res = ot.entropic(a, b, M, 2e-3, method="sns", tol=1e-9)
    assert status == res.status == 0
    assert newton == res.nit_newton > 0
    np.testing.assert_allclose(f, res.f, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g, res.g, rtol=1e-9, atol=1e-12)


def test_cython_sketch_project_matches_python(cy):
    from itercore._validation import seed_to_uint64

    rng = np.random.default_rng(3)
    import scipy.sparse as sp

    A = sp.random(60, 40, density=0.2, format="csr", random_state=4, dtype=np.float64)
    A = (A + 2 * sp.eye(60, 40, format="csr")).tocsr()
    A.indices = A.indices.astype(np.int32)
    A.indptr = A.indptr.astype(np.int32)
    A.sort_indices()
    b = A @ rng.standard_normal(40)
    x_cy, status, nit = cy.sketch_solve(A, b, seed_to_uint64(7), 2, 1e-6)
    x_py, info = linalg.sketch_solve(A, b, seed=7, method="kaczmarz", block_size=2, rtol=1e-6)
    assert status == 0 and info == 0
    np.testing.assert_allclose(x_cy, x_py, rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="^block_size must be >= 1"):
        cy.sketch_solve(A, b, 1, 0, 1e-6)


def test_cython_completion_rows_in_prange_match_ridge(cy):
    import scipy.sparse as sp

    rng = np.random.default_rng(5)
    k, reg = 4, 0.1
    F = rng.standard_normal((30, k))
    obs = sp.random(50, 30, density=0.3, format="csr", random_state=6)
    obs.indices = obs.indices.astype(np.int32)
    obs.indptr = obs.indptr.astype(np.int32)
    obs.sort_indices()
    X = cy.completion_rows(obs, F, reg, 0)  # RowSolver::cholesky (exact)
    for j in range(obs.shape[0]):
        cols = obs.indices[obs.indptr[j]:obs.indptr[j + 1]]
        vals = obs.data[obs.indptr[j]:obs.indptr[j + 1]]
        Fj = F[cols]
        ref = np.linalg.solve(Fj.T @ Fj + reg * np.eye(k), Fj.T @ vals) if cols.size else np.zeros(k)
        np.testing.assert_allclose(X[j], ref, rtol=1e-10, atol=1e-12)
