"""Bad input never crashes, never lies (issue 16).

1. Every reproducer of the issue (``tests/bad_input_cases.py``) gets a
   clear error or an honest status. They run in a child process: before the
   fix several segfaulted, and one would take the whole test run down.
2. Malformed-input fuzzing over the contract registry
   (``tests/fuzz_malformed.py``, hypothesis, in a child process): only
   ``ValueError``/``TypeError`` naming the argument, never a crash.
3. Property tests: valid random problems (hypothesis) satisfy the stopping
   criterion each docstring states, recomputed here independently in float64,
   whenever the solver says it converged.
4. The sparse-structure validator on its own.

The default run draws few examples (about 20 s here); set
``ITERCORE_FUZZ=N`` to multiply the number of examples by N (e.g. 50 for a
long fuzz run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bad_input_cases
from contract import CASES

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = max(1, int(os.environ.get("ITERCORE_FUZZ", "1") or 1))


def _child(script, args, timeout):
    """Run a script of this folder in a child process; (return code, JSON events, stderr tail)."""
    try:
        proc = subprocess.run([sys.executable, os.path.join(HERE, script), *args], capture_output=True, text=True,
                              timeout=timeout, cwd=HERE)
        rc, out, err = proc.returncode, proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, err = "timeout", (exc.stderr or b"").decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    events = []
    for line in out.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            pass
    return rc, events, err[-3000:]


# --- 1. the reproducers -------------------------------------------------------------------

@pytest.fixture(scope="module")
def reproducer_results():
    """Runs every reproducer in child processes; a case that kills its process is
    reported as a crash and the rest run in a fresh one."""
    pending = list(bad_input_cases.CASES)
    results = {}
    while pending:
        rc, events, err = _child("bad_input_cases.py", pending, timeout=600)
        started = None
        for ev in events:
            if ev["event"] == "start":
                started = ev["case"]
            else:
                results[ev["case"]] = (ev["ok"], ev["detail"])
                started = None
        if started is not None:  # the process died (or timed out) in this case
            results[started] = (False, f"the process died (return code {rc}): {err}")
        done = [c for c in pending if c in results]
        if not done:
            pytest.fail(f"the reproducer process failed to start (return code {rc}): {err}")
        pending = [c for c in pending if c not in results]
    return results


@pytest.mark.parametrize("name", list(bad_input_cases.CASES))
def test_reproducer(reproducer_results, name):
    ok, detail = reproducer_results[name]
    assert ok, detail


# --- 2. malformed input over the registry ------------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_results():
    examples = 12 * FUZZ
    rc, events, err = _child("fuzz_malformed.py", [str(examples)], timeout=max(600, 60 * FUZZ))
    return rc, events, err


def test_malformed_input_fuzz(fuzz_results):
    """Every registered solver, one argument at a time made malformed: a
    ValueError/TypeError naming it, or a valid result; never a crash."""
    rc, events, err = fuzz_results
    failures = [f"{ev['example']}: {ev['detail']}" for ev in events if ev["event"] == "failure"]
    finished = any(ev["event"] == "done" for ev in events)
    if not finished:
        last = [ev["example"] for ev in events if ev["event"] == "start"][-1:] or ["(before the first example)"]
        failures.append(f"the fuzz process died (return code {rc}) in {last[0]}: {err}")
    tried = sum(ev["event"] == "start" for ev in events)
    assert not failures, f"{len(failures)} of {tried} malformed calls misbehaved:\n" + "\n".join(failures[:40])
    assert tried >= 5 * len(CASES)  # the fuzzer did run over the registry


# --- 3. honest success on valid random problems ---------------------------------------------------

PROPS = settings(max_examples=4 * FUZZ, deadline=None, database=None, derandomize=FUZZ == 1,
                 suppress_health_check=list(HealthCheck))


def _spd(n, density, seed, dtype, index_dtype):
    """A random sparse symmetric strictly diagonally dominant matrix (SPD), CSR."""
    R = sp.random(n, n, density=density, random_state=seed, format="csr")
    S = R + R.T
    A = S + sp.diags(np.asarray(abs(S).sum(axis=1)).ravel() + 0.1 + np.random.default_rng(seed).random(n))
    A = sp.csr_matrix(A).astype(dtype)
    A.indices, A.indptr = A.indices.astype(index_dtype), A.indptr.astype(index_dtype)
    return A


def _rel_residual(A, x, b):
    A64, x64, b64 = A.astype(np.float64), np.asarray(x, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(b64 - A64 @ x64), np.linalg.norm(b64)


problem = st.tuples(st.integers(2, 40), st.floats(0.02, 0.5), st.integers(0, 2**31 - 1),
                    st.sampled_from([np.float64, np.float32]), st.sampled_from([np.int32, np.int64]))


@PROPS
@given(problem, st.sampled_from(["sor", "ssor_pcg"]), st.sampled_from(["natural", "multicolor"]),
       st.floats(0.3, 1.8))
def test_relaxation_success_means_the_criterion(prob, solver, ordering, omega):
    from itercore import linalg

    n, density, seed, dtype, index_dtype = prob
    A = _spd(n, density, seed, dtype, index_dtype)
    b = np.random.default_rng(seed).standard_normal(n).astype(dtype)
    rtol = 1e-4 if dtype == np.float32 else 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, info = getattr(linalg, solver)(A, b, rtol=rtol, omega=omega, ordering=ordering)
    res, bnorm = _rel_residual(A, x, b)
    assert np.isfinite(x).all()
    if info == 0:
        # the core measures in the input's precision: allow the float32 rounding of that residual
        slack = 1.0 if dtype == np.float64 else 1.0 + 1e-2
        assert res <= rtol * bnorm * slack, (res / bnorm, rtol)


@PROPS
@given(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**31 - 1),
       st.sampled_from(["kaczmarz", "gaussian", "count"]), st.integers(1, 10**6), st.booleans())
def test_sketch_success_means_the_criterion(m, n, seed, method, block_size, sparse):
    from itercore.linalg import sketch_solve

    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    b = A @ rng.standard_normal(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, info = sketch_solve(sp.csr_matrix(A) if sparse else A, b, method=method, block_size=block_size, seed=seed,
                               rtol=1e-8, maxiter=20000)
    if info == 0:
        assert np.linalg.norm(b - A @ x) <= 1e-8 * np.linalg.norm(b) * (1 + 1e-9) or np.linalg.norm(b) == 0


@PROPS
@given(st.integers(2, 25), st.integers(2, 25), st.integers(0, 2**31 - 1), st.sampled_from([1e-1, 1e-2, 1e-3, 3e-4]),
       st.sampled_from(["sinkhorn", "sinkhorn_log", "sns"]), st.sampled_from([np.float64, np.float32]))
def test_ot_success_means_the_criterion(n, m, seed, reg, method, dtype):
    from itercore import ot

    rng = np.random.default_rng(seed)
    a = rng.random(n) + 0.05
    b = rng.random(m) + 0.05
    a, b = a / a.sum(), b / b.sum()
    M = rng.random((n, m))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ot.entropic(a.astype(dtype), b.astype(dtype), M.astype(dtype), reg, method=method, maxiter=5000)
    tol = 1e-9 if dtype == np.float64 else 1e-5
    if res.success:
        P = res.plan.astype(np.float64)
        a32, b32 = a.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64)
        err = np.abs(P.sum(1) - a32).sum() + np.abs(P.sum(0) - b32).sum()
        assert err <= tol, (err, tol)


@PROPS
@given(st.integers(2, 30), st.integers(2, 40), st.integers(0, 2**31 - 1), st.floats(0.01, 0.9),
       st.sampled_from([1.0, 1e-8, 1e8]), st.booleans())
def test_lasso_success_means_the_criterion(n, p, seed, frac, scale, sparse):
    from itercore import bcd

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) * scale
    y = rng.standard_normal(n) * scale
    alpha = frac * np.max(np.abs(X.T @ y)) / n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bcd.lasso(sp.csc_matrix(X) if sparse else X, y, alpha, tol=1e-8)
    if res.success:  # the relative duality gap, recomputed
        w = res.x
        r = y - X @ w
        c = np.abs(X.T @ r).max()
        s = min(1.0, n * alpha / c) if c > 0 else 1.0
        primal = 0.5 * r @ r + n * alpha * np.abs(w).sum()
        dual = s * (y @ r) - 0.5 * s * s * (r @ r)
        rel = (primal - dual) / (0.5 * y @ y)
        assert rel <= 1e-8 * (1 + 1e-6) + 1e-14, rel


@PROPS
@given(problem, st.sampled_from(["minimize_quadratic", "forest_pcg"]))
def test_bcd_quadratic_success_means_the_criterion(prob, how):
    from itercore import bcd

    n, density, seed, dtype, index_dtype = prob
    A = _spd(n, density, seed, np.float64, index_dtype)
    b = np.random.default_rng(seed).standard_normal(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = getattr(bcd, how)(bcd.Quadratic(A, b), tol=1e-9)
    if res.success:
        r, bn = _rel_residual(A, res.x, b)
        assert r <= 1e-9 * bn * (1 + 1e-9), r / bn


@PROPS
@given(st.integers(3, 12), st.integers(0, 2**31 - 1))
def test_optimize_success_means_the_criterion(n, seed):
    from scipy.optimize import LinearConstraint

    from itercore.optimize import minimize

    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n))
    Q = Q @ Q.T + n * np.eye(n)
    q = rng.standard_normal(n)
    C = rng.standard_normal((2, n))
    d = rng.standard_normal(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(lambda x: 0.5 * x @ Q @ x + q @ x, np.zeros(n), jac=lambda x: Q @ x + q, hess=lambda x: Q,
                       constraints=LinearConstraint(C, d, d), seed=seed, tol=1e-8)
    if res.success:  # the KKT residual with the best multipliers for x (least squares)
        g = Q @ res.x + q
        lam = np.linalg.lstsq(C.T, -g, rcond=None)[0]
        kkt = np.sqrt(np.linalg.norm(g + C.T @ lam) ** 2 + np.linalg.norm(C @ res.x - d) ** 2)
        assert kkt <= 1e-8 * (1 + 1e-6), kkt


# --- 4. the validator itself -------------------------------------------------------------------

@settings(max_examples=30 * FUZZ, deadline=None, database=None, derandomize=FUZZ == 1,
          suppress_health_check=list(HealthCheck))
@given(st.integers(0, 8), st.integers(0, 8), st.integers(0, 2**31 - 1), st.sampled_from(["csr", "csc", "coo", "bsr"]),
       st.sampled_from(["indices", "indptr", "coords", "none", "short", "dtype"]), st.integers(-10, 10**6))
def test_check_sparse_accepts_exactly_what_scipy_can_read(m, n, seed, fmt, attack, value):
    """check_sparse raises ValueError/TypeError for a corrupt structure and, when it
    accepts, scipy's full format check agrees and the conversions give the dense matrix."""
    from itercore._validation import check_sparse

    rng = np.random.default_rng(seed)
    dense = np.where(rng.random((m, n)) < 0.4, rng.standard_normal((m, n)), 0.0)
    M = sp.csr_matrix(dense).asformat("bsr" if fmt == "bsr" else fmt)
    if fmt in ("csr", "csc", "bsr") and attack in ("indices", "indptr") and getattr(M, attack).size:
        arr = getattr(M, attack).copy()
        arr[rng.integers(arr.size)] = value
        setattr(M, attack, arr)
    elif fmt in ("csr", "csc", "bsr") and attack == "short" and M.indptr.size:
        M.indptr = M.indptr[:-1].copy()
    elif fmt == "coo" and attack in ("coords", "indices") and M.nnz:
        row = M.row.copy()
        row[rng.integers(row.size)] = value
        M.row = row
    elif fmt == "coo" and attack == "short" and M.nnz:
        M.col = M.col[:-1].copy()
    elif attack == "dtype" and fmt != "coo":
        M.indices = M.indices.astype(np.float64)
    try:
        C = check_sparse(M, "A")
    except (ValueError, TypeError) as exc:
        assert "A" in str(exc)
        return
    C.check_format(full_check=True) if C.format != "coo" else None
    assert np.array_equal(C.toarray(), C.tocsr().toarray())
    assert C.shape == (m, n)


def test_check_sparse_normalises_byte_order_without_touching_the_input():
    from itercore._validation import as_csr, check_sparse

    A = sp.random(6, 5, density=0.5, format="csr", random_state=0)
    B = sp.csr_matrix((A.data.astype(">f8"), A.indices.astype(">i4"), A.indptr.astype(">i8")), shape=A.shape)
    C = check_sparse(B, "A")
    assert C is not B and C.data.dtype.isnative and C.indices.dtype.isnative and C.indptr.dtype.isnative
    assert B.data.dtype == ">f8"  # the user's matrix keeps its arrays
    assert np.array_equal(C.toarray(), A.toarray())
    M = as_csr(B, "A")
    assert M.data.dtype == np.float64 and M.indices.dtype.isnative
    assert check_sparse(A, "A") is A  # nothing to convert: the same object, no copy


# --- 5. leaks ----------------------------------------------------------------------------------

#: The cheapest registered solver of each family (the default run); ITERCORE_FUZZ runs them all.
LEAK_CASES = ("ot.entropic[sinkhorn]", "linalg.sor", "linalg.sketch_solve", "completion.altmin", "bcd.lasso",
              "bcd.minimize_quadratic", "optimize.minimize[eal-direct]")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads the RSS from /proc (Linux)")
@pytest.mark.skipif(bool(os.environ.get("ITERCORE_SANITIZED")),
                    reason="under AddressSanitizer freed memory is held in quarantine: RSS grows without a leak")
@pytest.mark.parametrize("case", [c for c in CASES if FUZZ > 1 or c.id in LEAK_CASES], ids=str)
def test_rss_flat(case):
    """Resident memory stays flat over repeated solves and repeated error paths
    (``bench/leak_check.py`` runs 500 calls of every solver)."""
    sys.path.insert(0, os.path.join(HERE, "..", "bench"))
    from leak_check import measure

    calls = 500 if FUZZ > 1 else 100
    growth = measure(case, calls, warmup=20)
    assert growth <= 2048, f"RSS grew by {growth} KiB over {calls} calls"


def test_rss_check_sees_a_leak():
    """The leak check can fail: a call that keeps 1 MiB each time is caught (smaller leaks can hide
    in memory that earlier tests freed but the allocator keeps resident, depending on test order)."""
    sys.path.insert(0, os.path.join(HERE, "..", "bench"))
    from leak_check import measure

    kept = []

    class Leaky:
        id = "leaky"
        names = ("x",)

        @staticmethod
        def make(*_):
            return (np.ones(4),), {}

        @staticmethod
        def call(x):
            kept.append(np.ones(131072) + x[0])  # 1 MiB, never freed

    assert measure(Leaky, 100, warmup=5) > 2048
