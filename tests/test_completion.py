"""itercore.completion: alternating minimization against NumPy references and the shared contract."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import OptimizeResult

import itercore
from itercore import _core, _pipeline
from itercore.completion import AltMinResult, _half_step, _observations, altmin
from contract import raises_naming

METHODS = ["cholesky", "cg", "sketch", "auto"]


def low_rank_problem(m, n, k, frac, seed=0, dtype=np.float64):
    """Exact rank-k M = A B^T and a uniform sample of a fraction `frac` of its entries."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, k))
    B = rng.standard_normal((n, k))
    M = A @ B.T
    mask = rng.random((m, n)) < frac
    r, c = np.nonzero(mask)
    X = sp.csr_array((M[r, c].astype(dtype), (r, c)), shape=(m, n))
    return M, mask, X


def unobserved_error(res, M, mask):
    P = res.U.astype(np.float64) @ res.V.astype(np.float64).T
    return np.linalg.norm((P - M)[~mask]) / np.linalg.norm(M[~mask])


def numpy_line_solve(F, idx, b, reg):
    """Reference for one line: lstsq of [F[idx]; sqrt(reg) I] x = [b; 0] (minimum norm)."""
    k = F.shape[1]
    if idx.size == 0:
        return np.zeros(k)
    A = np.vstack([F[idx], np.sqrt(reg) * np.eye(k)])
    rhs = np.concatenate([b, np.zeros(k)])
    return np.linalg.lstsq(A, rhs, rcond=None)[0]


def numpy_als(X, U0, sweeps, reg=0.0, by_count=False):
    """Plain NumPy exact ALS: V then U, one lstsq per column / row (with
    ``by_count``, ALS-WR: a line's ridge is reg times its observation count)."""
    R = sp.csr_array(X)
    C = sp.csc_array(X)
    m, n = R.shape
    U = U0.astype(np.float64).copy()
    V = np.zeros((n, U.shape[1]))
    for _ in range(sweeps):
        for j in range(n):
            sl = slice(C.indptr[j], C.indptr[j + 1])
            V[j] = numpy_line_solve(U, C.indices[sl], C.data[sl], reg * (sl.stop - sl.start if by_count else 1))
        for i in range(m):
            sl = slice(R.indptr[i], R.indptr[i + 1])
            U[i] = numpy_line_solve(V, R.indices[sl], R.data[sl], reg * (sl.stop - sl.start if by_count else 1))
    return U, V


@pytest.fixture(scope="module")
def problem():
    return low_rank_problem(600, 400, 5, 0.10, seed=1)


# --- correctness ------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_exact_recovery_each_method(problem, method):
    M, mask, X = problem
    res = altmin(X, 5, method=method, tol=1e-13, maxiter=200, seed=0, history=True)
    assert isinstance(res, AltMinResult)
    assert res.status == 0 and res.success and res.message == _pipeline.STATUS[0][1]
    assert unobserved_error(res, M, mask) <= 1e-8
    assert res.history.shape == (res.nit + 1,)
    assert res.residual == pytest.approx(res.history[-1])
    assert "validation_history" not in res


def test_auto_above_rank_16_recovers():
    # rank 20: "auto" takes the warm-started CG path for every row
    M, mask, X = low_rank_problem(300, 250, 20, 0.4, seed=15)
    res = altmin(X, 20, tol=1e-13, maxiter=300, seed=0)
    assert res.status == 0
    assert unobserved_error(res, M, mask) <= 1e-8


def test_matches_numpy_als_sweep_for_sweep():
    M, mask, X = low_rank_problem(60, 45, 3, 0.3, seed=2)
    rng = np.random.default_rng(0)
    U0 = np.linalg.qr(rng.standard_normal((60, 3)))[0]
    for reg in (0.0, 0.1):
        for sweeps in (1, 2, 4):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", itercore.ConvergenceWarning)
                res = altmin(X, 3, method="cholesky", x0=U0, maxiter=sweeps, tol=0.0, reg=reg)
            assert res.nit == sweeps
            U_ref, V_ref = numpy_als(X, U0, sweeps, reg)
            np.testing.assert_allclose(res.U, U_ref, rtol=0, atol=1e-10 * np.abs(U_ref).max())
            np.testing.assert_allclose(res.V, V_ref, rtol=0, atol=1e-10 * np.abs(V_ref).max())


@pytest.mark.parametrize("method", ["cholesky", "sketch"])
def test_reg_by_count_matches_numpy_als_wr(method):
    # ALS-WR (Spark ALS's weighting): line j's ridge is reg * |Omega_j|; "sketch" solves to inner_tol
    M, mask, X = low_rank_problem(60, 45, 3, 0.3, seed=2)
    M = M + 0.1 * np.random.default_rng(4).standard_normal(M.shape)  # noise: the ridge matters
    X = sp.csr_array(np.where(mask, M, 0.0))
    U0 = np.linalg.qr(np.random.default_rng(0).standard_normal((60, 3)))[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        res = altmin(X, 3, method=method, x0=U0, maxiter=3, tol=0.0, reg=0.05,
                     options={"reg_by_count": True, "inner_tol": 1e-14, "inner_maxiter": 200})
        plain = altmin(X, 3, method=method, x0=U0, maxiter=3, tol=0.0, reg=0.05)
    U_ref, V_ref = numpy_als(X, U0, 3, 0.05, by_count=True)
    np.testing.assert_allclose(res.U, U_ref, rtol=0, atol=1e-9 * np.abs(U_ref).max())
    np.testing.assert_allclose(res.V, V_ref, rtol=0, atol=1e-9 * np.abs(V_ref).max())
    assert np.abs(plain.U - U_ref).max() > 1e-3 * np.abs(U_ref).max()  # the weighting changed the answer


@pytest.mark.parametrize("reg", [0.0, 0.5])
def test_cholesky_line_solves_match_lstsq(reg):
    rng = np.random.default_rng(3)
    lines, other, k = 40, 30, 6
    counts = rng.integers(0, other, size=lines)
    counts[:3] = [0, 2, k]  # empty, underdetermined (dual path), square
    r = np.repeat(np.arange(lines), counts)
    c = np.concatenate([rng.choice(other, size=q, replace=False) for q in counts])
    b = rng.standard_normal(r.size)
    X = sp.csr_array((b, (r, c)), shape=(lines, other))
    F = rng.standard_normal((other, k))
    out = _half_step(X, F, reg=reg, method="cholesky")
    for j in range(lines):
        sl = slice(X.indptr[j], X.indptr[j + 1])
        ref = numpy_line_solve(F, X.indices[sl], X.data[sl], reg)
        np.testing.assert_allclose(out[j], ref, rtol=0, atol=1e-10 * max(1.0, np.abs(ref).max()))
    assert not out[0].any()  # no observation: zero factor


@pytest.mark.parametrize("inner_tol", [1e-4, 1e-10])
def test_sketch_line_solves_reach_requested_accuracy(inner_tol):
    rng = np.random.default_rng(4)
    lines, other, k = 30, 400, 8
    counts = rng.integers(5 * k, other, size=lines)  # longer than the sketch (4k): sketched
    r = np.repeat(np.arange(lines), counts)
    c = np.concatenate([rng.choice(other, size=q, replace=False) for q in counts])
    b = rng.standard_normal(r.size)
    X = sp.csr_array((b, (r, c)), shape=(lines, other))
    # ill-conditioned design (column scales 1..1e3): a plain few-step CG would not get there
    F = rng.standard_normal((other, k)) * np.logspace(0, 3, k)
    reg = 0.01
    out = _half_step(X, F, reg=reg, method="sketch", inner_tol=inner_tol, inner_maxiter=50, seed=1)
    for j in range(lines):
        sl = slice(X.indptr[j], X.indptr[j + 1])
        A, y = F[X.indices[sl]], X.data[sl]
        normal_res = A.T @ (y - A @ out[j]) - reg * out[j]
        assert np.linalg.norm(normal_res) <= inner_tol * np.linalg.norm(A.T @ y) * (1 + 1e-6) + 1e-13
        if inner_tol == 1e-10:
            ref = numpy_line_solve(F, X.indices[sl], y, reg)
            np.testing.assert_allclose(out[j], ref, rtol=0, atol=1e-7 * np.abs(ref).max())


@pytest.mark.parametrize("reg", [0.0, 1e-3, 0.7])
def test_underdetermined_rows_use_the_dual_and_match_lstsq(reg):
    # every count below k: the exact solver takes the dual c x c system; with
    # reg = 0 that is the minimum-norm least-squares solution (documented).
    rng = np.random.default_rng(11)
    k, other = 40, 120
    counts = np.arange(1, k)
    lines = counts.size
    r = np.repeat(np.arange(lines), counts)
    c = np.concatenate([rng.choice(other, size=q, replace=False) for q in counts])
    b = rng.standard_normal(r.size)
    X = sp.csr_array((b, (r, c)), shape=(lines, other))
    F = rng.standard_normal((other, k)) @ np.diag(np.logspace(0, 1, k))
    for method in ("cholesky", "sketch"):  # the sketch solves rows shorter than its sketch exactly
        out = _half_step(X, F, reg=reg, method=method, x0=rng.standard_normal((lines, k)))
        for j in range(lines):
            sl = slice(X.indptr[j], X.indptr[j + 1])
            ref = numpy_line_solve(F, X.indices[sl], X.data[sl], reg)
            np.testing.assert_allclose(out[j], ref, rtol=0, atol=1e-10 * max(1.0, np.abs(ref).max()))


def test_cg_on_underdetermined_rows_keeps_the_warm_start_null_component():
    # reg = 0, c < k: Jacobi-preconditioned CG moves only inside D^-1 range(A^T)
    # (D = diag(A^T A)), so it returns the warm start plus the smallest correction
    # in the D-norm that fits the row exactly -- not the minimum-norm solution.
    rng = np.random.default_rng(12)
    k, other, c = 30, 100, 12
    lines = 5
    r = np.repeat(np.arange(lines), c)
    cols = np.concatenate([rng.choice(other, size=c, replace=False) for _ in range(lines)])
    X = sp.csr_array((rng.standard_normal(r.size), (r, cols)), shape=(lines, other))
    F = rng.standard_normal((other, k))
    x0 = rng.standard_normal((lines, k))
    for start in (None, x0):
        out = _half_step(X, F, method="cg", inner_maxiter=200, inner_tol=1e-14, x0=start)
        for j in range(lines):
            sl = slice(X.indptr[j], X.indptr[j + 1])
            A, y = F[X.indices[sl]], X.data[sl]
            w = np.zeros(k) if start is None else start[j]
            Dinv = 1.0 / np.einsum("ij,ij->j", A, A)
            ref = w + Dinv * (A.T @ np.linalg.solve((A * Dinv) @ A.T, y - A @ w))
            np.testing.assert_allclose(out[j], ref, atol=1e-8)
            np.testing.assert_allclose(A @ out[j], y, atol=1e-8)  # fits the row exactly


def test_auto_rule_per_row_is_deterministic():
    # auto picks per row by (k, c): the exact Gram for k <= 16 and for rows with
    # c >= 8 k, Jacobi CG otherwise -- bit for bit the chosen solver's output.
    rng = np.random.default_rng(13)
    for k in (8, 20):
        counts = np.array([0, 3, k - 1, k, 4 * k, 8 * k, 12 * k])
        other = 13 * k
        lines = counts.size
        r = np.repeat(np.arange(lines), counts)
        c = np.concatenate([rng.choice(other, size=q, replace=False) for q in counts])
        X = sp.csr_array((rng.standard_normal(r.size), (r, c)), shape=(lines, other))
        F = rng.standard_normal((other, k))
        x0 = rng.standard_normal((lines, k))
        kw = dict(reg=0.1, x0=x0, inner_maxiter=3, seed=5)
        auto = _half_step(X, F, method="auto", **kw)
        assert np.array_equal(auto, _half_step(X, F, method="auto", **kw))
        expect = {s: _half_step(X, F, method=s, **kw) for s in ("cholesky", "cg")}
        for j, cnt in enumerate(counts):
            want = "cholesky" if k <= 16 or cnt >= 8 * k else "cg"
            np.testing.assert_array_equal(auto[j], expect[want][j], err_msg=f"k={k} c={cnt}")


def test_cg_line_solves_converge_with_enough_steps():
    rng = np.random.default_rng(5)
    X = sp.random(50, 200, density=0.3, random_state=5, format="csr")
    F = rng.standard_normal((200, 7))
    out = _half_step(X, F, method="cg", inner_maxiter=100, inner_tol=1e-13)
    few = _half_step(X, F, method="cg", inner_maxiter=1, inner_tol=0.0)
    worst_few = 0.0
    for j in range(50):
        sl = slice(X.indptr[j], X.indptr[j + 1])
        ref = numpy_line_solve(F, X.indices[sl], X.data[sl], 0.0)
        np.testing.assert_allclose(out[j], ref, rtol=0, atol=1e-9 * max(1.0, np.abs(ref).max()))
        worst_few = max(worst_few, np.abs(few[j] - ref).max())
    assert worst_few > 1e-6  # one step from zero is not the solution: the test can tell


def test_predict_matches_factors(problem):
    M, mask, X = problem
    res = altmin(X, 5, seed=0, tol=1e-12, maxiter=100)
    r = np.array([0, 5, 599, 17])
    c = np.array([3, 0, 399, 17])
    np.testing.assert_allclose(res.predict(r, c), (res.U @ res.V.T)[r, c], rtol=1e-12)
    np.testing.assert_allclose(res.predict(r, c), M[r, c], rtol=1e-6, atol=1e-6)


def test_validation_stopping_keeps_best_iterate():
    rng = np.random.default_rng(6)
    M, mask, X = low_rank_problem(300, 200, 4, 0.15, seed=6)
    noisy = X.copy()
    noisy.data = noisy.data + 0.5 * rng.standard_normal(noisy.nnz)
    vmask = (rng.random(M.shape) < 0.05) & ~mask
    vr, vc = np.nonzero(vmask)
    res = altmin(noisy, 4, reg=1.0, validation=(vr, vc, M[vr, vc]), tol=1e-6, maxiter=100, seed=0, history=True)
    assert res.status == 0 and res.nit < 100
    hist = res.validation_history
    assert hist.shape == (res.nit + 1,)
    final = np.sqrt(np.mean((res.predict(vr, vc) - M[vr, vc]) ** 2))
    assert final == pytest.approx(hist[-1], rel=1e-9)  # the histories describe the returned factors
    assert final == pytest.approx(hist.min(), rel=1e-9)
    assert res.history.shape == (res.nit + 1,)


# --- cold start, bad input ------------------------------------------------------------

def test_cold_rows_get_zero_factor_and_predict_warns():
    M, mask, X = low_rank_problem(80, 60, 2, 0.4, seed=7)
    X = sp.lil_array(X)
    X[5, :] = 0
    X = sp.csr_array(X)
    X.eliminate_zeros()
    res = altmin(X, 2, seed=0, tol=1e-10, maxiter=100)
    assert list(res.cold_rows) == [5] and res.cold_cols.size == 0
    assert not res.U[5].any()
    with pytest.warns(UserWarning, match="cold start"):
        res.predict([5], [0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res.predict([4], [0])


def test_explicit_zeros_are_observations():
    X = sp.csr_array((np.array([1.0, 0.0, 2.0]), np.array([0, 1, 1]), np.array([0, 2, 3])), shape=(2, 3))
    (indptr, indices, values), (t_indptr, _, _) = _observations(X)
    assert indptr[-1] == 3 and list(values) == [1.0, 0.0, 2.0]
    assert list(np.diff(t_indptr)) == [1, 2, 0]


def test_unsorted_csr_is_accepted():
    M, mask, X = low_rank_problem(50, 40, 2, 0.5, seed=8)
    Y = X.copy()
    for i in range(Y.shape[0]):  # reverse each row's entries
        sl = slice(Y.indptr[i], Y.indptr[i + 1])
        Y.indices[sl] = Y.indices[sl][::-1].copy()
        Y.data[sl] = Y.data[sl][::-1].copy()
    Y.has_sorted_indices = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        a = altmin(X, 2, seed=0, maxiter=5, tol=1e-300)
        b = altmin(Y, 2, seed=0, maxiter=5, tol=1e-300)
    np.testing.assert_array_equal(a.U, b.U)


@pytest.mark.parametrize("fmt", ["coo", "tuple", "csr"])
def test_duplicates_raise_naming_first(fmt):
    r = np.array([0, 3, 1, 3, 2])
    c = np.array([0, 1, 2, 1, 4])
    v = np.arange(5.0)
    if fmt == "tuple":
        X = (r, c, v, (4, 5))
    elif fmt == "coo":
        X = sp.coo_array((v, (r, c)), shape=(4, 5))
    else:  # a CSR with a duplicate stored by hand
        X = sp.csr_array((np.array([1.0, 2.0, 3.0]), np.array([1, 1, 0]), np.array([0, 0, 0, 0, 2, 3])),
                         shape=(5, 3))
    with raises_naming(ValueError, "X", match=r"duplicate observations, first at \(row, col\) = \(3, 1\)"):
        altmin(X, 1)


@pytest.mark.parametrize(
    "kwargs, exc, arg",
    [
        ({"rank": 0}, ValueError, "rank"),
        ({"rank": 30}, ValueError, "rank"),
        ({"rank": 2.0}, TypeError, "rank"),
        ({"rank": 2, "reg": -1.0}, ValueError, "reg"),
        ({"rank": 2, "method": "qr"}, ValueError, "method"),
        ({"rank": 2, "method": 1}, TypeError, "method"),
        ({"rank": 2, "maxiter": -1}, ValueError, "maxiter"),
        ({"rank": 2, "tol": np.nan}, ValueError, "tol"),
        ({"rank": 2, "init": "zeros"}, ValueError, "init"),
        ({"rank": 2, "init": np.ones((30, 2))}, TypeError, "init"),
        ({"rank": 2, "x0": np.ones((30, 3))}, ValueError, "x0"),
        ({"rank": 2, "n_threads": 0}, ValueError, "n_threads"),
        ({"rank": 2, "callback": 3}, TypeError, "callback"),
        ({"rank": 2, "seed": -1}, ValueError, "seed"),
        ({"rank": 2, "tol": -1e-3}, ValueError, "tol"),
        ({"rank": 2, "tol": np.inf}, ValueError, "tol"),
        ({"rank": 2, "options": {"sketch_ratio": 0.0}}, ValueError, "sketch_ratio"),
        ({"rank": 2, "options": {"inner_maxiter": -2}}, ValueError, "inner_maxiter"),
        ({"rank": 2, "options": {"inner_tol": np.inf}}, ValueError, "inner_tol"),
        ({"rank": 2, "options": {"oversample": -1}}, ValueError, "oversample"),
        ({"rank": 2, "options": {"power_iters": -1}}, ValueError, "power_iters"),
        ({"rank": 2, "options": {"sketch_ratoi": 2.0}}, TypeError, "sketch_ratio"),
        ({"rank": 2, "options": {"maxiter": 3}}, TypeError, "maxiter"),
        ({"rank": 2, "options": [("reg", 1.0)]}, TypeError, "options"),
        ({"rank": 2, "validation": (np.array([0]), np.array([99]), np.array([1.0]))}, ValueError, "validation"),
    ],
)
def test_bad_parameters_name_argument(kwargs, exc, arg):
    M, mask, X = low_rank_problem(30, 20, 2, 0.5, seed=9)
    with raises_naming(exc, arg):
        altmin(X, **kwargs)


@pytest.mark.parametrize(
    "X, exc, match",
    [
        ((np.array([0, 5]), np.array([0, 1]), np.array([1.0, 2.0]), (4, 3)), ValueError, r"X rows has indices outside"),
        ((np.array([0, 1]), np.array([0, -1]), np.array([1.0, 2.0]), (4, 3)), ValueError, r"X cols has indices outside"),
        ((np.array([0, 1]), np.array([0, 1]), np.array([1.0, np.nan]), (4, 3)), ValueError, "X values must contain only finite"),
        ((np.array([0, 1]), np.array([0, 1]), np.array([1.0, np.inf]), (4, 3)), ValueError, "X values must contain only finite"),
        ((np.array([0, 1]), np.array([0]), np.array([1.0, 2.0]), (4, 3)), ValueError, "X cols must have one entry"),
        ((np.array([0.0, 1.0]), np.array([0, 1]), np.array([1.0, 2.0]), (4, 3)), TypeError, "X rows must be an integer"),
        ((np.array([], dtype=int), np.array([], dtype=int), np.array([]), (4, 3)), ValueError, "X has no observed"),
        (sp.csr_array((0, 5)), ValueError, "X must not be empty"),
        (sp.csr_array(np.array([[1.0, np.nan], [0.0, 1.0]])), ValueError, "X values must contain only finite"),
        (np.ones((4, 3)), TypeError, "X must be a scipy sparse"),
    ],
)
def test_bad_observations_raise(X, exc, match):
    with pytest.raises(exc, match=match):
        altmin(X, 1)


# --- the shared contract ---------------------------------------------------------------

@pytest.mark.parametrize("method", ["cholesky", "sketch"])
def test_float32_in_float32_out(problem, method):
    M, mask, X = problem
    res = altmin(X.astype(np.float32), 5, method=method, tol=1e-6, maxiter=100, seed=0)
    assert res.U.dtype == np.float32 and res.V.dtype == np.float32
    assert res.predict([0], [0]).dtype == np.float32
    assert unobserved_error(res, M, mask) <= 1e-4


def test_int32_and_int64_indices_agree(problem):
    M, mask, X = problem
    out = []
    for idx in (np.int32, np.int64):
        Y = X.copy()
        Y.indices = Y.indices.astype(idx)
        Y.indptr = Y.indptr.astype(idx)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", itercore.ConvergenceWarning)
            out.append(altmin(Y, 5, method="sketch", seed=3, maxiter=4, tol=1e-300))
    np.testing.assert_array_equal(out[0].U, out[1].U)
    np.testing.assert_array_equal(out[0].V, out[1].V)


def test_canonical_csr_is_not_copied(problem):
    M, mask, X = problem
    (indptr, indices, values), _ = _observations(X)
    assert np.shares_memory(indptr, X.indptr) and np.shares_memory(indices, X.indices)
    assert np.shares_memory(values, X.data)


def test_non_contiguous_tuple_input(problem):
    M, mask, X = problem
    C = X.tocoo()
    stride = lambda a: np.repeat(a, 2)[::2]  # noqa: E731  a strided view with the same values
    args = (stride(C.row), stride(C.col), stride(C.data), X.shape)
    assert not args[2].flags.c_contiguous
    a = altmin(args, 5, seed=0, tol=1e-12, maxiter=100)
    b = altmin(X, 5, seed=0, tol=1e-12, maxiter=100)
    np.testing.assert_array_equal(a.U, b.U)


def test_maxiter_zero_returns_the_initialisation(problem):
    M, mask, X = problem
    with pytest.warns(itercore.ConvergenceWarning, match=r"max_iter.*relative residual .* > tol"):
        res = altmin(X, 5, maxiter=0, seed=0, history=True)
    assert res.nit == 0 and res.status == 1 and not res.success
    np.testing.assert_allclose(res.U.T @ res.U, np.eye(5), atol=1e-12)  # orthonormal SVD start
    # the spectral start already points at M's column space
    Q = np.linalg.qr(M)[0][:, :5]
    assert np.linalg.norm(Q.T @ res.U, 2) > 0.5
    assert res.history.shape == (1,)


def test_non_convergence_warns_with_error_and_tol(problem):
    M, mask, X = problem
    with pytest.warns(itercore.ConvergenceWarning, match=r"relative residual .* tol 1\.0e-14"):
        res = altmin(X, 5, maxiter=2, tol=1e-14, seed=0)
    assert res.status == 1 and res.nit == 2


def test_non_finite_iterates_stop_and_keep_last_finite():
    M, mask, X = low_rank_problem(40, 30, 2, 0.5, seed=10)
    X = X * 1e300  # finite start, but the Gram of the next factor overflows
    with pytest.warns(itercore.ConvergenceWarning, match="max_iter"):
        assert np.isfinite(altmin(X, 2, maxiter=0, seed=0).V).all()
    with pytest.warns(itercore.ConvergenceWarning, match="NaN or inf"):
        res = altmin(X, 2, maxiter=10, seed=0)
    assert res.status == 3
    assert np.isfinite(res.U).all() and np.isfinite(res.V).all()


def test_callback_gets_copies_and_stopiteration_stops(problem):
    M, mask, X = problem
    seen = []

    def cb(r):
        assert isinstance(r, OptimizeResult)
        seen.append((r.nit, r.residual, r.U, r.V))
        if r.nit == 2:
            raise StopIteration

    res = altmin(X, 5, callback=cb, seed=0, tol=1e-14, maxiter=50, history=True)
    assert res.status == 5 and not res.success and res.nit == 2 and len(seen) == 2
    assert seen[1][1] == pytest.approx(res.history[2])
    assert seen[0][2].shape == (600, 5) and seen[0][3].shape == (400, 5)
    # copies, not the live factors: the first sweep's stay as they were
    for _, _, U, V in seen:
        assert not np.shares_memory(U, res.U) and not np.shares_memory(V, res.V)
    np.testing.assert_array_equal(seen[1][2], res.U)
    np.testing.assert_array_equal(seen[1][3], res.V)
    assert not np.array_equal(seen[0][2], res.U)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        first = altmin(X, 5, seed=0, tol=1e-14, maxiter=1)
    np.testing.assert_array_equal(seen[0][2], first.U)
    np.testing.assert_array_equal(seen[0][3], first.V)

    def bad(r):
        raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        altmin(X, 5, callback=bad, seed=0)


@pytest.mark.parametrize("method", ["sketch", "cholesky"])
def test_seed_reproducibility(problem, method):
    M, mask, X = problem
    kw = dict(method=method, init="random", maxiter=3, tol=1e-300, n_threads=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        a = altmin(X, 5, seed=11, **kw)
        b = altmin(X, 5, seed=11, **kw)
        c = altmin(X, 5, seed=12, **kw)
    np.testing.assert_array_equal(a.U, b.U)
    np.testing.assert_array_equal(a.V, b.V)
    assert not np.array_equal(a.U, c.U)
    with pytest.warns(itercore.ConvergenceWarning):
        s1 = altmin(X, 5, maxiter=0, seed=11)
    with pytest.warns(itercore.ConvergenceWarning):
        s2 = altmin(X, 5, maxiter=0, seed=11)
    np.testing.assert_array_equal(s1.U, s2.U)


@pytest.mark.parametrize("method", ["cholesky", "sketch"])
def test_same_factors_on_any_thread_count(problem, method):
    M, mask, X = problem  # 24k entries x rank 10: the parallel path
    kw = dict(method=method, seed=5, maxiter=3, tol=1e-300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        a = altmin(X, 10, n_threads=1, **kw)
        b = altmin(X, 10, n_threads=2, **kw)
    # every line is solved by the same code from its own random stream
    np.testing.assert_array_equal(a.U, b.U)
    np.testing.assert_array_equal(a.V, b.V)


# --- options: defaults from C++, enums by name, the per-method inner default --------------

def test_public_defaults_are_the_cpp_defaults():
    import inspect

    o = _core.completion.AltMinOptions()
    sig = inspect.signature(altmin).parameters
    assert sig["method"].default == o.method.name == "auto"
    assert sig["init"].default == o.init.name == "svd"
    for name in ("reg", "maxiter", "tol"):
        assert sig[name].default == getattr(o, name)
    assert o.inner_maxiter == -1  # per method, resolved in C++
    assert set(o._fields) >= {"method", "reg", "inner_maxiter", "inner_tol", "sketch_ratio", "seed", "init",
                              "oversample", "power_iters", "maxiter", "tol", "n_threads"}
    for name, p in sig.items():
        if name not in ("X", "rank"):
            assert p.kind is inspect.Parameter.KEYWORD_ONLY, name


@pytest.mark.parametrize("method, steps", [("cg", 3), ("auto", 3), ("sketch", 20), ("cholesky", 0)])
def test_inner_maxiter_default_is_per_method(problem, method, steps):
    M, mask, X = problem
    kw = dict(method=method, seed=2, maxiter=3, tol=1e-300, reg=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        a = altmin(X, 20, **kw)  # rank 20: "auto" takes CG rows too
        b = altmin(X, 20, options={"inner_maxiter": steps}, **kw)
    np.testing.assert_array_equal(a.U, b.U)
    np.testing.assert_array_equal(a.V, b.V)
    if method in ("cg", "sketch"):  # the default is not just any count
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", itercore.ConvergenceWarning)
            c = altmin(X, 20, options={"inner_maxiter": 1}, **kw)
        assert not np.array_equal(a.U, c.U)


@pytest.mark.filterwarnings("ignore::itercore.ConvergenceWarning")  # maxiter=0: the start only
def test_svd_start_options_are_used(problem):
    M, mask, X = problem
    a = altmin(X, 5, maxiter=0, seed=0)
    b = altmin(X, 5, maxiter=0, seed=0, options={"oversample": 10, "power_iters": 2})
    c = altmin(X, 5, maxiter=0, seed=0, options={"power_iters": 0})
    np.testing.assert_array_equal(a.U, b.U)
    assert not np.array_equal(a.U, c.U)


def test_enum_values_are_accepted_like_names(problem):
    M, mask, X = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        a = altmin(X, 5, method="cg", init="random", seed=1, maxiter=2)
        b = altmin(X, 5, method=_core.completion.RowSolver.cg, init=_core.completion.InitMethod.random, seed=1,
                   maxiter=2)
    np.testing.assert_array_equal(a.U, b.U)


# --- the core entry points: GIL, Ctrl-C ---------------------------------------------------

def _core_args(X, rank, maxiter, n_threads=1):
    """Arguments of _core.completion.altmin: cholesky rows, reg 0.1, tol 0."""
    rows, cols = _observations(X)
    m, n = X.shape
    U = np.linalg.qr(np.random.default_rng(0).standard_normal((m, rank)))[0]
    V = np.zeros((n, rank))
    opts = _pipeline.make_options(_core.completion.AltMinOptions,
                                  dict(method="cholesky", reg=0.1, maxiter=maxiter, tol=0.0, n_threads=n_threads))
    return (*rows, *cols, U, V, opts)


def test_gil_released_while_solving_load_independent():
    """The main thread keeps running Python while a solve runs in another
    thread (with the GIL held it would be blocked until the solve returned).
    Unlike the timing contract above, this does not depend on free cores."""
    import threading
    import time

    M, mask, X = low_rank_problem(1500, 1000, 8, 0.05, seed=14)
    args = _core_args(X, 8, 150)  # fixed sweeps, no callback: > 1 s of pure C++
    th = threading.Thread(target=lambda: _core.completion.altmin(*args))
    th.start()
    time.sleep(0.05)
    ticks = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.3:
        ticks += 1  # pure-Python work: needs the GIL
    still_solving = th.is_alive()
    th.join()
    assert still_solving, "the solve ended too early for this check"
    assert ticks > 1000


def test_reg_zero_with_rank_above_row_counts_interpolates_without_nan():
    # every row and most columns have fewer observations than the rank: with
    # reg = 0 the exact solvers take the minimum-norm dual solution, so the
    # factors stay finite and fit the observations exactly (documented).
    rng = np.random.default_rng(14)
    m, n, k = 300, 200, 20
    M = rng.standard_normal((m, 3)) @ rng.standard_normal((3, n))
    r, c = np.nonzero(rng.random((m, n)) < 0.05)
    assert np.bincount(r, minlength=m).max() <= k
    for method in ("cholesky", "sketch"):
        res = altmin((r, c, M[r, c], (m, n)), k, reg=0.0, method=method, seed=0, maxiter=5)
        assert np.isfinite(res.U).all() and np.isfinite(res.V).all()
        assert res.residual < 1e-10


# --- method="paper": Gu, Song, Yin & Zhang (ICLR 2024), Algorithm 1 --------------------------------

def test_paper_recovers_a_planted_low_rank_matrix():
    # each of the 2T + 1 = 9 subsets holds about 36 observations per row: enough for the
    # paper's geometric convergence (with about 9 per row, rank 3, it does not converge)
    M, mask, X = low_rank_problem(500, 400, 2, 0.8, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        res = altmin(X, 2, method="paper", maxiter=4, seed=0, history=True)
        exact = altmin(X, 2, method="paper", maxiter=4, seed=0, options={"sketch_rows": 10**6})  # rows solved exactly
    err = np.linalg.norm(res.U @ res.V.T - M) / np.linalg.norm(M)
    assert err < 1e-3, err
    assert np.all(res.history[1:] < 0.2 * res.history[:-1]), res.history  # contracts every sweep
    assert res.status == 1 and res.nit == 4 and res.history.shape == (5,)
    np.testing.assert_allclose(res.V.T @ res.V, np.eye(2), atol=1e-10)  # V orthonormal (the QR of the paper)
    # the sketched regressions are solved to the paper's high accuracy: same iterates as exact solves
    np.testing.assert_allclose(res.U @ res.V.T, exact.U @ exact.V.T, rtol=0, atol=1e-8 * np.abs(M).max())  # V orthonormal (the QR of the paper)
    # the residual it reports is the one over all observations
    r, c = X.nonzero()
    pred = np.einsum("ij,ij->i", res.U[r], res.V[c])
    vals = np.asarray(X[r, c]).ravel()
    assert res.residual == pytest.approx(np.linalg.norm(pred - vals) / np.linalg.norm(vals), rel=1e-9, abs=1e-15)


def test_paper_sweeps_use_disjoint_subsets():
    """Each half-step sees about 1 / (2T + 1) of the observations: with too few of them per
    half-step the paper's algorithm cannot recover what exact ALS on all of Omega does."""
    M, mask, X = low_rank_problem(150, 120, 4, 0.2, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        paper = altmin(X, 4, method="paper", maxiter=10, seed=0)
        als = altmin(X, 4, method="cholesky", maxiter=50, seed=0)
    err_p = np.linalg.norm(paper.U @ paper.V.T - M) / np.linalg.norm(M)
    err_a = np.linalg.norm(als.U @ als.V.T - M) / np.linalg.norm(M)
    assert err_a < 1e-5 and err_p > 1e-2, (err_a, err_p)


def test_paper_is_reproducible_by_seed():
    M, mask, X = low_rank_problem(120, 100, 2, 0.5, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        a = altmin(X, 2, method="paper", maxiter=3, seed=7, tol=1e-300)
        b = altmin(X, 2, method="paper", maxiter=3, seed=7, tol=1e-300, n_threads=2)
        c = altmin(X, 2, method="paper", maxiter=3, seed=8, tol=1e-300)
    np.testing.assert_array_equal(a.U, b.U)
    np.testing.assert_array_equal(a.V, b.V)
    assert not np.array_equal(a.U, c.U)


def test_paper_start_zeroes_rows_above_the_threshold():
    """The paper's clipping: rows of the SVD start with norm above 2 mu sqrt(k/m) are set to zero
    (not scaled down), then QR keeps them zero."""
    from itercore.completion import _paper_start

    rng = np.random.default_rng(5)
    m, n, k = 200, 150, 2
    M = rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
    M[7] *= 60.0  # one spiky (coherent) row dominates the top singular vectors
    r, c = np.nonzero(rng.random((m, n)) < 0.5)
    U = _paper_start((r, c, M[r, c]), m, n, k, 2.0, 0, np.float64)
    np.testing.assert_allclose(U.T @ U, np.eye(k), atol=1e-10)
    assert np.all(U[7] == 0.0)
    # with a huge mu nothing is clipped and row 7 dominates
    U2 = _paper_start((r, c, M[r, c]), m, n, k, 1e6, 0, np.float64)
    assert np.linalg.norm(U2[7]) > 0.5


def test_paper_contract():
    M, mask, X = low_rank_problem(80, 60, 2, 0.5, seed=6)
    with pytest.warns(itercore.ConvergenceWarning):
        res = altmin(X, 2, method="paper", maxiter=1, tol=1e-300, seed=0)
    assert res.status == 1 and not res.success and res.nit == 1
    seen = []

    def cb(r):
        seen.append(r.nit)
        r.U[:] = np.nan  # a copy
        raise StopIteration

    res = altmin(X, 2, method="paper", maxiter=3, seed=0, callback=cb)
    assert res.status == 5 and seen == [1] and np.isfinite(res.U).all()
    with raises_naming(ValueError, "validation"):
        altmin(X, 2, method="paper", validation=(np.array([0]), np.array([0]), np.array([1.0])))
    with raises_naming(ValueError, "options", match="mu"):
        altmin(X, 2, method="paper", options={"mu": -1.0})


def test_osnap_sketch_solve_matches_exact():
    """The sketch-preconditioned row solver with the OSNAP subspace embedding (4 signs per
    column, O(k log k) rows) and with the former 1-sign CountSketch, run to high accuracy."""
    rng = np.random.default_rng(8)
    lines, other, k, c = 20, 600, 8, 300
    F = rng.standard_normal((other, k)) * np.logspace(0, 1, k)
    cols = np.concatenate([rng.choice(other, size=c, replace=False) for _ in range(lines)])
    rows = np.repeat(np.arange(lines), c)
    X = sp.csr_array((rng.standard_normal(rows.size), (rows, cols)), shape=(lines, other))
    exact = _half_step(X, F, method="cholesky")
    for opts in ({}, {"sketch_nnz": 1, "sketch_rows": 4 * k}, {"sketch_nnz": 8, "sketch_ratio": 3.0}):
        out = _half_step(X, F, method="sketch", inner_tol=1e-12, inner_maxiter=60, seed=1, **opts)
        np.testing.assert_allclose(out, exact, rtol=1e-8, atol=1e-9)
    with raises_naming(ValueError, "options", match="sketch_nnz"):
        altmin(X, 2, options={"sketch_nnz": 0})
