"""itercore.ot: log-domain Sinkhorn and Sinkhorn-Newton-Sparse against NumPy
references and POT, the shared contract, and bad input."""

import threading
import warnings

import numpy as np
import pytest
from scipy.special import logsumexp

import itercore
from itercore import ot
from itercore._problems import ot_points
from contract import assert_interruptible, raises_naming

METHODS = ("sinkhorn", "sinkhorn_log", "sns")


def points_problem(n, m=None, seed=0, dtype=np.float64):
    """2-D random points, squared Euclidean cost scaled to max 1, uniform weights."""
    return ot_points(n, m, seed, dtype)


def random_weights_problem(n, m, seed=1):
    rng = np.random.default_rng(seed)
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    a /= a.sum()
    b /= b.sum()
    return a, b, rng.random((n, m))


def numpy_log_sinkhorn(a, b, M, reg, tol=1e-14, maxiter=100000):
    """Obviously-correct log-domain Sinkhorn (scipy's logsumexp)."""
    f = np.zeros(len(a))
    g = np.zeros(len(b))
    for _ in range(maxiter):
        f = reg * np.log(a) - reg * logsumexp((g[None, :] - M) / reg, axis=1)
        g = reg * np.log(b) - reg * logsumexp((f[:, None] - M) / reg, axis=0)
        P = np.exp((f[:, None] + g[None, :] - M) / reg)
        if np.abs(P.sum(1) - a).sum() < tol:
            break
    return P, f, g


def l1_marginal_error(P, a, b):
    P = P.astype(np.float64)
    return np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()


# --- against references ---------------------------------------------------------

def assert_matches_reference(res, P_ref, f_ref, g_ref, plan_atol, potential_atol):
    """Plan equal to the reference's; potentials equal up to the additive constant (f + c, g - c)."""
    np.testing.assert_allclose(res.plan, P_ref, rtol=0, atol=plan_atol)
    c = np.mean(res.f - f_ref)
    np.testing.assert_allclose(res.f - c, f_ref, atol=potential_atol)
    np.testing.assert_allclose(res.g + c, g_ref, atol=potential_atol)


@pytest.mark.parametrize("method", METHODS)
def test_matches_numpy_log_reference(method):
    a, b, M = random_weights_problem(40, 30)
    P_ref, f_ref, g_ref = numpy_log_sinkhorn(a, b, M, 1e-2)
    res = ot.entropic(a, b, M, 1e-2, method=method, tol=1e-12)
    assert res.success and res.status == 0
    assert_matches_reference(res, P_ref, f_ref, g_ref, 1e-10, 1e-9)
    assert l1_marginal_error(res.plan, a, b) <= 1e-12 * 1.01


def test_objective_values_match_numpy():
    a, b, M = random_weights_problem(30, 20)
    reg = 5e-2
    res = ot.entropic(a, b, M, reg, method="sinkhorn", tol=1e-12)
    P = res.plan
    assert res.cost == pytest.approx(float((P * M).sum()), rel=1e-12)
    value = float((P * M).sum() + reg * (P * (np.log(P) - 1)).sum())
    assert res.value == pytest.approx(value, rel=1e-10)


@pytest.mark.parametrize("reg", [1e-2, 1e-3])
def test_sns_and_sinkhorn_agree(reg):
    a, b, M = points_problem(150, 120, seed=3)
    tol = 1e-10
    r1 = ot.entropic(a, b, M, reg, method="sinkhorn", tol=tol, maxiter=100000)
    r2 = ot.entropic(a, b, M, reg, method="sns", tol=tol)
    for r in (r1, r2):
        assert r.success
        assert l1_marginal_error(r.plan, a, b) <= tol
        assert r.marginal_error == pytest.approx(l1_marginal_error(r.plan, a, b), rel=1e-6, abs=1e-15)
    np.testing.assert_allclose(r1.plan, r2.plan, rtol=0, atol=1e-9)
    c = np.mean(r1.f - r2.f)
    # potentials are pinned only up to (f + c, g - c); their accuracy is ~ reg * error / mass
    np.testing.assert_allclose(r1.f - c, r2.f, atol=1e-6 * reg / 1e-3)
    np.testing.assert_allclose(r1.g + c, r2.g, atol=1e-6 * reg / 1e-3)
    assert r2.nit_newton > 0 and r2.nit_sinkhorn < r1.nit_sinkhorn


def test_matches_pot_sinkhorn():
    pot = pytest.importorskip("ot")
    a, b, M = points_problem(100, seed=4)
    reg = 2e-2
    P_pot = pot.sinkhorn(a, b, M, reg, numItermax=100000, stopThr=1e-13)
    assert l1_marginal_error(P_pot, a, b) < 1e-11  # POT converged here
    for method in METHODS:
        P = ot.sinkhorn(a, b, M, reg, method=method, stopThr=1e-12, numItermax=100000)
        np.testing.assert_allclose(P, P_pot, rtol=0, atol=1e-10)
    loss = ot.sinkhorn2(a, b, M, reg, stopThr=1e-12, numItermax=100000)
    assert loss == pytest.approx(float((P_pot * M).sum()), rel=1e-9)


def test_small_reg_converges_and_approaches_emd():
    pot = pytest.importorskip("ot")
    a, b, M = points_problem(500, seed=5)
    exact = pot.emd2(a, b, M)
    gaps = []
    for reg in (1e-2, 1e-3, 1e-4):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no ConvergenceWarning, no RuntimeWarning
            res = ot.entropic(a, b, M, reg, method="auto")
        assert res.success, res.message
        assert np.isfinite(res.plan).all() and np.isfinite(res.f).all() and np.isfinite(res.g).all()
        assert l1_marginal_error(res.plan, a, b) <= 1e-9
        assert res.cost >= exact - 1e-9
        gaps.append(res.cost - exact)
    assert res.method == "sns"
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 0.05 * exact  # within 5% of the exact OT cost at reg = 1e-4


def test_zero_weights_carry_no_mass():
    a, b, M = random_weights_problem(12, 10, seed=2)
    a[[0, 5]] = 0.0
    b[3] = 0.0
    a /= a.sum()
    b /= b.sum()
    keep_a, keep_b = a > 0, b > 0
    P_ref, _, _ = numpy_log_sinkhorn(a[keep_a], b[keep_b], M[np.ix_(keep_a, keep_b)], 0.05)
    for method in METHODS:
        res = ot.entropic(a, b, M, 0.05, method=method, tol=1e-12)
        assert res.success
        assert np.all(res.plan[~keep_a] == 0) and np.all(res.plan[:, ~keep_b] == 0)
        assert np.all(np.isneginf(res.f[~keep_a])) and np.all(np.isneginf(res.g[~keep_b]))
        np.testing.assert_allclose(res.plan[np.ix_(keep_a, keep_b)], P_ref, atol=1e-10)


def test_unnormalized_mass():
    a, b, M = random_weights_problem(20, 25)
    res = ot.entropic(3 * a, 3 * b, M, 0.05, tol=1e-11)
    assert res.plan.sum() == pytest.approx(3.0, rel=1e-11)
    P_ref, _, _ = numpy_log_sinkhorn(3 * a, 3 * b, M, 0.05)
    np.testing.assert_allclose(res.plan, P_ref, atol=1e-10)


def test_warm_start_finishes_at_once():
    a, b, M = points_problem(80, seed=6)
    first = ot.entropic(a, b, M, 1e-3, tol=1e-10)
    again = ot.entropic(a, b, M, 1e-3, tol=1e-10, f0=first.f, g0=first.g, method="sinkhorn")
    assert again.success and again.nit <= 1
    np.testing.assert_allclose(again.plan, first.plan, atol=1e-12)


def test_history_records_the_errors():
    a, b, M = points_problem(60, seed=7)
    res = ot.entropic(a, b, M, 1e-2, method="sinkhorn", history=True, tol=1e-10)
    assert res.history.shape == (res.nit + 1,)
    assert res.history[-1] <= 1e-10 < res.history[0]


def test_threads_agree():
    # 520 x 520 is above the parallel threshold; a few iterations suffice to
    # compare (the iterates of 1 and 2 threads differ only by summation order)
    a, b, M = points_problem(520, seed=8)
    kw = dict(tol=0.0, maxiter=20, max_newton=2, options={"switch_tol": 1.0, "warmup_iter": 3})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        for method in METHODS:
            r1 = ot.entropic(a, b, M, 1e-2, method=method, n_threads=1, **kw)
            r2 = ot.entropic(a, b, M, 1e-2, method=method, n_threads=2, **kw)
            assert r1.nit == r2.nit
            np.testing.assert_allclose(r1.plan, r2.plan, rtol=1e-9, atol=1e-16)


# --- batches --------------------------------------------------------------------

@pytest.mark.parametrize("shared", [True, False])
def test_batch_equals_one_by_one(shared):
    rng = np.random.default_rng(9)
    B, n, m = 5, 30, 25
    A = rng.random((B, n)) + 0.05
    A /= A.sum(1, keepdims=True)
    Bw = rng.random((B, m)) + 0.05
    Bw /= Bw.sum(1, keepdims=True)
    M = rng.random((n, m)) if shared else rng.random((B, n, m))
    for method in ("sinkhorn", "sns"):
        res = ot.entropic_batch(A, Bw, M, 1e-2, method=method, tol=1e-11, n_threads=2)
        assert res.success and res.plan.shape == (B, n, m)
        for k in range(B):
            one = ot.entropic(A[k], Bw[k], M if shared else M[k], 1e-2, method=method, tol=1e-11, n_threads=1)
            np.testing.assert_allclose(res.plan[k], one.plan, rtol=0, atol=1e-14)
            np.testing.assert_allclose(res.f[k], one.f, rtol=0, atol=1e-13)
            assert res.cost[k] == pytest.approx(one.cost, rel=1e-13)
            assert res.nit[k] == one.nit


def test_batch_float32_and_warning():
    rng = np.random.default_rng(10)
    A = np.full((3, 20), 1 / 20, dtype=np.float32)
    M = rng.random((20, 20)).astype(np.float32)
    res = ot.entropic_batch(A, A, M, 5e-2)
    assert res.plan.dtype == np.float32 and res.f.dtype == np.float32 and res.success
    assert np.all(res.marginal_error <= 1e-5)
    with pytest.warns(itercore.ConvergenceWarning, match=r"marginal error .* > tol"):
        ot.entropic_batch(A.astype(np.float64), A, M.astype(np.float64), 1e-3, maxiter=2, method="sinkhorn")


def test_batch_bad_input():
    A = np.full((2, 4), 0.25)
    with raises_naming(ValueError, "M"):
        ot.entropic_batch(A, A, np.ones((3, 4)), 0.1)
    with raises_naming(ValueError, "b"):
        ot.entropic_batch(A, A[:1], np.ones((4, 4)), 0.1)
    with raises_naming(ValueError, "a"):
        ot.entropic_batch(-A, A, np.ones((4, 4)), 0.1)
    with raises_naming(ValueError, "sum"):
        ot.entropic_batch(A, 2 * A, np.ones((4, 4)), 0.1)


# --- the shared contract --------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_float32_stays_float32(method):
    a, b, M = points_problem(60, seed=11, dtype=np.float32)
    res = ot.entropic(a, b, M, 2e-2, method=method)
    for x in (res.plan, res.f, res.g):
        assert x.dtype == np.float32
    assert res.success and res.marginal_error <= 1e-5
    ref = ot.entropic(a.astype(np.float64), b.astype(np.float64), M.astype(np.float64), 2e-2, method=method)
    np.testing.assert_allclose(res.plan, ref.plan, atol=2e-6)
    # mixed input computes in float64
    assert ot.entropic(a, b, M.astype(np.float64), 2e-2).plan.dtype == np.float64


def test_non_contiguous_and_list_input():
    a, b, M = points_problem(30, seed=12)
    big = np.zeros((60, 60))
    big[::2, ::2] = M
    res = ot.entropic(a, b, big[::2, ::2], 1e-2)
    ref = ot.entropic(a, b, M, 1e-2)
    np.testing.assert_array_equal(res.plan, ref.plan)
    res2 = ot.entropic(list(a), list(b), M.tolist(), 1e-2)
    np.testing.assert_array_equal(res2.plan, ref.plan)
    res3 = ot.entropic(None, None, M, 1e-2)
    np.testing.assert_allclose(res3.plan, ref.plan, atol=1e-15)


def test_bad_input_names_the_argument():
    a, b, M = points_problem(5, seed=13)
    with raises_naming(ValueError, "M"):
        ot.entropic(a, b, M[:, :4], 0.1)
    with raises_naming(ValueError, "M"):
        ot.entropic(a, b, M[0], 0.1)
    bad = M.copy()
    bad[1, 2] = np.nan
    with raises_naming(ValueError, "M", match="finite"):
        ot.entropic(a, b, bad, 0.1)
    bad[1, 2] = np.inf
    with raises_naming(ValueError, "M", match="finite"):
        ot.entropic(a, b, bad, 0.1)
    with raises_naming(ValueError, "a", match="finite"):
        ot.entropic(np.r_[a[:-1], np.nan], b, M, 0.1)
    with raises_naming(ValueError, "b", match="non-negative"):
        ot.entropic(a, np.r_[b[:-1] + b[-1] + 0.1, -0.1], M, 0.1)
    with raises_naming(ValueError, "sum", match=r"sum\(a\) = .*sum\(b\) = "):
        ot.entropic(a, 1.01 * b, M, 0.1)
    with raises_naming(ValueError, "a", match="positive total"):
        ot.entropic(np.zeros(5), b, M, 0.1)
    for reg in (0.0, -1.0, np.nan, np.inf):
        with raises_naming(ValueError, "reg"):
            ot.entropic(a, b, M, reg)
    with raises_naming(TypeError, "reg"):
        ot.entropic(a, b, M, "big")
    with raises_naming(ValueError, "method"):
        ot.entropic(a, b, M, 0.1, method="newton")
    with raises_naming(ValueError, "tol"):
        ot.entropic(a, b, M, 0.1, tol=-1.0)
    with raises_naming(ValueError, "maxiter"):
        ot.entropic(a, b, M, 0.1, maxiter=-1)
    with raises_naming(ValueError, "f0"):
        ot.entropic(a, b, M, 0.1, f0=np.zeros(4))
    with raises_naming(ValueError, "g0"):
        ot.entropic(a, b, M, 0.1, g0=np.full(5, np.nan))
    with raises_naming(TypeError, "callback"):
        ot.entropic(a, b, M, 0.1, callback=3)
    with raises_naming(TypeError, "M"):
        ot.entropic(a, b, M.astype(complex), 0.1)
    with raises_naming(TypeError, "n_threads"):
        ot.entropic(a, b, M, 0.1, n_threads=1.5)


def test_empty_input():
    with raises_naming(ValueError, "M", match="empty"):
        ot.entropic([], [], np.zeros((0, 0)), 0.1)
    with raises_naming(ValueError, "a", match="empty"):
        ot.entropic([], [1.0], np.zeros((1, 1)), 0.1)


@pytest.mark.parametrize("method", METHODS)
def test_zero_iterations(method):
    a, b, M = points_problem(20, seed=14)
    with pytest.warns(itercore.ConvergenceWarning, match=r"marginal error \d\.\d+e[+-]\d+ > tol 1\.0e-09"):
        res = ot.entropic(a, b, M, 0.1, method=method, maxiter=0, max_newton=0)
    assert res.nit == 0 and not res.success and res.status == 1
    np.testing.assert_allclose(res.plan, np.exp(-M / 0.1))  # the plan at f = g = 0
    assert res.marginal_error == pytest.approx(l1_marginal_error(res.plan, a, b), rel=1e-12)


def test_non_convergence_warns_with_error():
    a, b, M = points_problem(50, seed=15)
    with pytest.warns(itercore.ConvergenceWarning) as rec:
        res = ot.entropic(a, b, M, 1e-3, method="sinkhorn", maxiter=5)
    assert f"{res.marginal_error:.3e}" in str(rec[0].message)
    assert res.status == 1 and res.nit == 5
    assert l1_marginal_error(res.plan, a, b) == pytest.approx(res.marginal_error, rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_callback_stop_iteration(method):
    a, b, M = points_problem(60, seed=16)
    seen = []

    def cb(r):
        seen.append((r.phase, r.nit, r.marginal_error))
        assert r.f.shape == (60,) and r.g.shape == (60,)
        if len(seen) == 3:
            raise StopIteration

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = ot.entropic(a, b, M, 1e-3, method=method, callback=cb, options={"switch_tol": 1.0, "warmup_iter": 1})
    assert len(seen) == 3 and res.status == 5 and not res.success
    if method == "sns":
        # warm-up, then a Newton step followed by its Sinkhorn rescaling
        assert [s[0] for s in seen] == ["sinkhorn", "newton", "sinkhorn"]
    assert res.nit == 3


def test_deterministic():
    # no randomness: repeated solves are bit-identical on the same thread count
    a, b, M = points_problem(520, seed=18)
    kw = dict(method="sns", n_threads=2, tol=0.0, maxiter=10, max_newton=3, options={"warmup_iter": 5})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        r1 = ot.entropic(a, b, M, 1e-3, **kw)
        r2 = ot.entropic(a, b, M, 1e-3, **kw)
    np.testing.assert_array_equal(r1.plan, r2.plan)


def test_two_threads_solve_at_once_correctly():
    a, b, M = points_problem(100, seed=23)
    ref = ot.entropic(a, b, M, 1e-2).plan
    out = [None, None]

    def run(k):
        out[k] = ot.entropic(a, b, M, 1e-2).plan

    ts = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for P in out:
        np.testing.assert_array_equal(P, ref)


def test_options():
    a, b, M = points_problem(80, seed=24)
    ref = ot.entropic(a, b, M, 1e-3, method="sns", tol=1e-10)
    res = ot.entropic(a, b, M, 1e-3, method="sns", tol=1e-10,
                   options={"max_keep": 4, "drop_share": 0.1, "cg_maxiter": 50, "max_step": 5.0,
                                   "fallback_iter": 5})
    assert res.success and ref.success
    np.testing.assert_allclose(res.plan, ref.plan, atol=1e-9)
    # the Sinkhorn iterations between Newton steps change the path, not the answer
    plain = ot.entropic(a, b, M, 1e-3, method="sns", tol=1e-10,
                     options={"newton_sinkhorn": 0, "stall_sinkhorn": 0})
    more = ot.entropic(a, b, M, 1e-3, method="sns", tol=1e-10,
                    options={"newton_sinkhorn": 3, "stall_sinkhorn": 50})
    assert plain.success and more.success
    np.testing.assert_allclose(plain.plan, ref.plan, atol=1e-9)
    np.testing.assert_allclose(more.plan, ref.plan, atol=1e-9)
    assert l1_marginal_error(plain.plan, a, b) <= 1e-10 and l1_marginal_error(more.plan, a, b) <= 1e-10
    with raises_naming(ValueError, "options", match="stall_sinkhorn"):
        ot.entropic(a, b, M, 1e-3, options={"stall_sinkhorn": -1})
    with raises_naming(TypeError, "options", match="unknown key 'keep'.*'max_keep'"):
        ot.entropic(a, b, M, 1e-3, options={"keep": 3})
    with raises_naming(TypeError, "options", match="pass tol as a keyword"):
        ot.entropic(a, b, M, 1e-3, options={"tol": 1e-3})
    with raises_naming(ValueError, "options"):
        ot.entropic(a, b, M, 1e-3, options={"drop_share": 1.0})
    with raises_naming(TypeError, "options"):
        ot.entropic(a, b, M, 1e-3, options=[1])


# --- the vectorised exp of the log-domain passes ---------------------------------

@pytest.mark.parametrize("simd", [True, False])
def test_log_pass_matches_reference_with_underflow(simd):
    """The one-exp-pass log-domain iteration (AVX2 exp kernel where the CPU has
    it, Eigen's exp otherwise) against the NumPy reference where exp
    underflows: column 0 costs 60 more (exponents near -1200 until its
    potential catches up) and the start g0 = -40 puts every exponent below
    -745, so rows and columns take the exact log-sum-exp fall back first."""
    from itercore import _core

    a, b, M = random_weights_problem(40, 30, seed=3)
    M[:, 0] += 60.0
    reg = 0.05
    assert np.exp(-M / reg)[:, 0].max() == 0.0  # underflows in double
    P_ref, f_ref, g_ref = numpy_log_sinkhorn(a, b, M, reg)
    before = _core._testing.ot_allow_simd_exp(simd)
    try:
        res = ot.entropic(a, b, M, reg, method="sinkhorn_log", tol=1e-13, g0=np.full(30, -40.0))
    finally:
        _core._testing.ot_allow_simd_exp(before)
    assert res.success
    assert_matches_reference(res, P_ref, f_ref, g_ref, 1e-12, 1e-10)


def test_simd_and_eigen_exp_paths_agree():
    from itercore import _core

    a, b, M = points_problem(70, seed=21)
    out = []
    for simd in (True, False):
        before = _core._testing.ot_allow_simd_exp(simd)
        try:
            out.append(ot.entropic(a, b, M, 2e-3, method="sns", tol=1e-11))
        finally:
            _core._testing.ot_allow_simd_exp(before)
    assert all(r.success for r in out)
    np.testing.assert_allclose(out[0].plan, out[1].plan, rtol=0, atol=1e-12)


# --- SNS Newton linear solvers: CG and the direct Schur-complement Cholesky -------

def assignment_problem(n, m=None, seed=0):
    """Random assignment-like problem: cost U[0, 1], uniform weights."""
    m = n if m is None else m
    rng = np.random.default_rng(seed)
    return np.full(n, 1.0 / n), np.full(m, 1.0 / m), rng.random((n, m))


@pytest.mark.parametrize("shape", [(60, 45), (45, 60)])
@pytest.mark.parametrize("solver", ["cg", "direct"])
def test_sns_linear_solvers_match_log_reference(solver, shape):
    # both eliminations (rows when n >= m, columns when n < m) of the direct path
    a, b, M = random_weights_problem(*shape, seed=31)
    reg = 5e-3
    P_ref, f_ref, g_ref = numpy_log_sinkhorn(a, b, M, reg, tol=1e-13)
    res = ot.entropic(a, b, M, reg, method="sns", tol=1e-12, options={"linear_solver": solver})
    assert res.success and res.nit_newton > 0
    if solver == "direct":
        assert res.nit_direct > 0 and res.nit_cg == 0
    else:
        assert res.nit_direct == 0 and res.nit_cg > 0
    assert_matches_reference(res, P_ref, f_ref, g_ref, 1e-9, 1e-9)


def test_sns_direct_and_cg_agree_on_ill_conditioned_assignment():
    # small reg on a random assignment: near-permutation plans, where CG is slow
    a, b, M = assignment_problem(120, seed=32)
    reg = 2e-3
    runs = {s: ot.entropic(a, b, M, reg, method="sns", tol=1e-11, options={"linear_solver": s})
            for s in ("cg", "direct", "auto")}
    for r in runs.values():
        assert r.success and l1_marginal_error(r.plan, a, b) <= 1e-11
    np.testing.assert_allclose(runs["direct"].plan, runs["cg"].plan, rtol=0, atol=1e-9)
    np.testing.assert_allclose(runs["auto"].plan, runs["cg"].plan, rtol=0, atol=1e-9)
    assert runs["direct"].nit_direct > 0 and runs["direct"].nit_cg == 0


def newton_system_dense(S, r, c, fixed, rhs):
    """NumPy reference: the full system with the fixed coordinates removed."""
    n, m = S.shape
    H = np.block([[np.diag(r), S], [S.T, np.diag(c)]])
    free = ~fixed
    x = np.zeros(n + m)
    x[free] = np.linalg.solve(H[np.ix_(free, free)], rhs[free])
    return x


@pytest.mark.parametrize("shape", [(30, 20), (20, 30)])
def test_direct_newton_system_matches_numpy_solve(shape):
    n, m = shape
    rng = np.random.default_rng(33)
    P = rng.random((n, m)) ** 8 / (n * m)  # a plan with a few large entries per row
    r, c = P.sum(1), P.sum(0)
    S = np.where(P >= np.quantile(P, 0.8, axis=1, keepdims=True), P, 0.0)  # keep ~20% per row
    fixed = np.zeros(n + m, dtype=bool)
    fixed[n + m - 1] = True  # the pinned potential
    rhs = rng.standard_normal(n + m) * 1e-3
    rhs[fixed] = 0.0
    ref = newton_system_dense(S, r, c, fixed, rhs)
    x = itercore._core._testing.ot_newton_system(S, r, c, fixed, rhs, True, 0.0)
    # the direct path adds a 1e-12 * diag(c) guard: agreement to ~1e-12 * cond
    np.testing.assert_allclose(x, ref, rtol=1e-7, atol=1e-7 * np.abs(ref).max())
    x_cg = itercore._core._testing.ot_newton_system(S, r, c, fixed, rhs, False, 1e-13)
    np.testing.assert_allclose(x_cg, ref, rtol=1e-6, atol=1e-6 * np.abs(ref).max())


def test_sns_direct_float32():
    a, b, M = points_problem(60, 50, seed=34, dtype=np.float32)
    res = ot.entropic(a, b, M, 2e-3, method="sns", options={"linear_solver": "direct"})
    assert res.plan.dtype == np.float32 and res.f.dtype == np.float32
    assert res.success and res.nit_direct > 0
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = ot.entropic(a64 / a64.sum(), b64 / b64.sum(), M.astype(np.float64), 2e-3, method="sns")
    np.testing.assert_allclose(res.plan, ref.plan, rtol=0, atol=1e-5 / 60)


def test_linear_solver_options_are_validated():
    a, b, M = points_problem(20, seed=35)
    with raises_naming(ValueError, "options", match="linear_solver"):
        ot.entropic(a, b, M, 1e-3, method="sns", options={"linear_solver": "lu"})
    with raises_naming(TypeError, "options", match="linear_solver"):
        ot.entropic(a, b, M, 1e-3, method="sns", options={"linear_solver": 2})
    with raises_naming(ValueError, "options", match="direct_after"):
        ot.entropic(a, b, M, 1e-3, method="sns", options={"direct_after": -1})
    with raises_naming(ValueError, "options", match="direct_max_size"):
        ot.entropic(a, b, M, 1e-3, method="sns", options={"direct_max_size": 0})
    with raises_naming(TypeError, "options", match="direct_after"):
        ot.entropic(a, b, M, 1e-3, method="sns", options={"direct_after": 2.5})


def test_auto_linear_solver_switches_to_direct_when_cg_struggles():
    a, b, M = assignment_problem(150, seed=36)
    eager = ot.entropic(a, b, M, 1e-3, method="sns", tol=1e-10, options={"direct_after": 0})
    never = ot.entropic(a, b, M, 1e-3, method="sns", tol=1e-10, options={"direct_max_size": 10})
    assert eager.success and never.success
    assert eager.nit_direct > 0 and never.nit_direct == 0
    np.testing.assert_allclose(eager.plan, never.plan, rtol=0, atol=1e-9)


def test_ctrl_c_interrupts_direct_newton():
    a, b, M = assignment_problem(200, seed=37)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        assert_interruptible(lambda: ot.entropic(a, b, M, 1e-4, method="sns", tol=0.0, maxiter=10**9,
                                              max_newton=10**9, options={"linear_solver": "direct"}))


def test_direct_newton_threads_agree():
    # large enough for the threaded Schur complement formation (>= 2^18 products)
    a, b, M = points_problem(400, seed=38)
    kw = dict(method="sns", options={"linear_solver": "direct"})
    r1 = ot.entropic(a, b, M, 1e-3, n_threads=1, **kw)
    r2 = ot.entropic(a, b, M, 1e-3, n_threads=2, **kw)
    assert r1.success and r2.success and r1.nit_direct > 0
    np.testing.assert_array_equal(r1.plan, r2.plan)


# --- the paper's Algorithm 1 (method="sns_paper") and global sparsification ---------

@pytest.mark.parametrize("method,options", [
    ("sns_paper", {"warmup_iter": 20, "density": 10.0}),
    ("sns", {"sparsify": "global"}),
    ("sns", {"sparsify": "global", "density": 15.0, "linear_solver": "cg"}),
])
def test_paper_variant_and_global_sparsify_match_references(method, options):
    a, b, M = random_weights_problem(40, 30, seed=41)
    reg = 2e-2
    P_ref, f_ref, g_ref = numpy_log_sinkhorn(a, b, M, reg)
    res = ot.entropic(a, b, M, reg, method=method, tol=1e-12, options=options)
    assert res.success and res.method == method
    assert res.nit_newton > 0 and res.nit == res.nit_sinkhorn + res.nit_newton
    assert_matches_reference(res, P_ref, f_ref, g_ref, 1e-10, 1e-8)
    assert l1_marginal_error(res.plan, a, b) <= 1e-12 * 1.01
    pot = pytest.importorskip("ot")
    P_pot = pot.sinkhorn(a, b, M, reg, numItermax=100000, stopThr=1e-14)
    np.testing.assert_allclose(res.plan, P_pot, rtol=0, atol=1e-10)


def test_paper_variant_runs_algorithm_1_as_written():
    # exactly N1 Sinkhorn steps, then Newton steps only (no Sinkhorn between them)
    a, b, M = points_problem(120, seed=42)
    for n1 in (5, 20):
        res = ot.entropic(a, b, M, 1e-3, method="sns_paper", tol=1e-11, options={"warmup_iter": n1, "density": 10.0})
        assert res.success
        assert res.nit_sinkhorn == n1 and res.nit_newton >= 1
    hybrid = ot.entropic(a, b, M, 1e-3, method="sns", tol=1e-11, options={"warmup_iter": 5, "switch_tol": 0.0})
    assert hybrid.nit_sinkhorn > 5  # the hybrid runs Sinkhorn steps between Newton steps
    np.testing.assert_allclose(res.plan, hybrid.plan, rtol=0, atol=1e-9)


def test_global_sparsify_keeping_everything_is_exact_newton():
    # density * max(n, m) >= n m keeps the whole plan: exact Newton, quadratic convergence
    a, b, M = random_weights_problem(30, 30, seed=43)
    exact = ot.entropic(a, b, M, 5e-2, method="sns_paper", tol=1e-13, options={"warmup_iter": 10, "density": 30.0})
    sparse = ot.entropic(a, b, M, 5e-2, method="sns_paper", tol=1e-13, options={"warmup_iter": 10, "density": 5.0})
    assert exact.success and sparse.success
    assert exact.nit_newton <= 6 < sparse.nit_newton
    np.testing.assert_allclose(exact.plan, sparse.plan, rtol=0, atol=1e-12)


def test_iteration_counts_for_every_method():
    a, b, M = points_problem(60, seed=44)
    for method in ("sinkhorn", "sinkhorn_log", "sns", "sns_paper"):
        opts = {"density": 20.0} if method == "sns_paper" else None
        res = ot.entropic(a, b, M, 1e-2, method=method, tol=1e-10, options=opts)
        assert res.success and res.nit == res.nit_sinkhorn + res.nit_newton
        assert (res.nit_newton == 0) == method.startswith("sinkhorn")
        batch = ot.entropic_batch(a[None], b[None], M, 1e-2, method=method, tol=1e-10, n_threads=1, options=opts)
        assert batch.nit_sinkhorn[0] == res.nit_sinkhorn and batch.nit_newton[0] == res.nit_newton


def test_paper_options_are_validated():
    a, b, M = points_problem(20, seed=45)
    with raises_naming(ValueError, "options", match="density"):
        ot.entropic(a, b, M, 1e-3, method="sns", options={"density": 0.0})
    with raises_naming(ValueError, "options", match="sparsify"):
        ot.entropic(a, b, M, 1e-3, method="sns", options={"sparsify": "row"})
    with raises_naming(ValueError, "options", match="paper_line_search"):
        ot.entropic(a, b, M, 1e-3, method="sns_paper", options={"paper_line_search": 0})


# --- the fused, blocked scaling iteration and the rate-predicted SNS switch ------

def numpy_scaling_sinkhorn(a, b, M, reg, iters):
    """Obviously-correct scaling Sinkhorn (POT's form), a fixed number of iterations."""
    K = np.exp(-M.astype(np.float64) / reg)
    u = np.ones(len(a))
    v = (b > 0).astype(np.float64)  # a zero-weight column carries no mass from the start
    for _ in range(iters):
        u = np.divide(a, K @ v, out=np.zeros(len(a)), where=a > 0)
        v = np.divide(b, K.T @ u, out=np.zeros(len(b)), where=b > 0)
    return u[:, None] * K * v[None, :]


@pytest.mark.parametrize("simd", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [(41, 30), (30, 43), (4, 4)])
def test_scaling_path_matches_numpy_scaling_reference(simd, dtype, shape):
    """The stored-kernel iteration (rows four at a time, one pass over K; a short
    last block padded, zero-weight rows and columns inside blocks; AVX2 and
    Eigen row kernels) after a fixed number of iterations equals POT's scaling
    iterates computed by NumPy."""
    from itercore import _core

    n, m = shape
    a, b, M = random_weights_problem(n, m, seed=5)
    a[min(2, n - 1)] = 0.0
    b[1] = 0.0
    a /= a.sum()
    b /= b.sum()
    P_ref = numpy_scaling_sinkhorn(a, b, M, 0.05, 7)
    before = _core._testing.ot_allow_simd_exp(simd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", itercore.ConvergenceWarning)
            res = ot.entropic(a.astype(dtype), b.astype(dtype), M.astype(dtype), 0.05, method="sinkhorn",
                              tol=0.0, maxiter=7)
    finally:
        _core._testing.ot_allow_simd_exp(before)
    assert res.nit == 7 and res.plan.dtype == dtype
    tol = dict(rtol=1e-11, atol=1e-16) if dtype == np.float64 else dict(rtol=2e-4, atol=1e-9)
    np.testing.assert_allclose(res.plan, P_ref, **tol)
    assert not res.plan[min(2, n - 1)].any() and not res.plan[:, 1].any()


def test_parallel_blocked_scaling_matches_reference():
    """Above the parallel threshold (515 x 510: 129 blocks of four rows, the last
    one short) with 1 and 2 threads: the same iterates as NumPy's."""
    a, b, M = points_problem(515, 510, seed=9)
    P_ref = numpy_scaling_sinkhorn(a, b, M, 0.02, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        for nt in (1, 2):
            res = ot.entropic(a, b, M, 0.02, method="sinkhorn", tol=0.0, maxiter=6, n_threads=nt)
            np.testing.assert_allclose(res.plan, P_ref, rtol=1e-10, atol=1e-18)


def test_sns_goes_on_with_sinkhorn_where_it_converges_fast():
    """predict_sinkhorn: on a random assignment whose Sinkhorn error falls
    fast, SNS finishes with Sinkhorn (no Newton step) and matches the log
    reference; with predict_sinkhorn=0 it switches to Newton after the warm-up
    as before; where Sinkhorn is slow (2-D points, reg 1e-3) Newton still runs."""
    a, b, M = assignment_problem(200, seed=4)
    reg = 1e-2  # (Sinkhorn: ~60 iterations to 1e-11)
    P_ref, f_ref, g_ref = numpy_log_sinkhorn(a, b, M, reg, tol=1e-13)
    res = ot.entropic(a, b, M, reg, method="sns", tol=1e-11)
    assert res.success and res.nit_newton == 0 and res.nit_sinkhorn > 15
    assert_matches_reference(res, P_ref, f_ref, g_ref, 1e-12, 1e-9)
    old = ot.entropic(a, b, M, reg, method="sns", tol=1e-11, options={"predict_sinkhorn": 0})
    assert old.success and old.nit_newton > 0
    np.testing.assert_allclose(old.plan, P_ref, rtol=0, atol=1e-12)
    a, b, M = points_problem(150, seed=2)
    slow = ot.entropic(a, b, M, 1e-3, method="sns", tol=1e-10)
    assert slow.success and slow.nit_newton > 0
    with raises_naming(ValueError, "predict_sinkhorn"):
        ot.entropic(a, b, M, 1e-3, options={"predict_sinkhorn": -1})
