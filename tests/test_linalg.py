"""itercore.linalg relaxation: SOR / SSOR / SSOR-PCG against NumPy references,
SciPy and PyAMG; the shared contract; the omega tuners on the paper's sequence."""

import inspect
import json
import pickle
import threading
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla

import itercore
from itercore import _core, _pipeline, linalg
from itercore.linalg import (
    ContextualOmegaTuner,
    OmegaTuner,
    multicolor_ordering,
    sor,
    sor_sweep,
    SORSmoother,
    ssor_pcg,
    ssor_preconditioner,
)
from itercore.linalg import _System
from itercore._tuners import tsallis_inf_weights
from conftest import poisson2d
from contract import raises_naming


# --- plain NumPy references ------------------------------------------------------

def ref_sweep(A, x, b, omega, direction):
    """One SOR sweep on a dense matrix, written out row by row."""
    A = np.asarray(A.toarray() if sp.issparse(A) else A, dtype=np.float64)
    x = np.array(x, dtype=np.float64)
    rows = range(len(b)) if direction == "forward" else range(len(b) - 1, -1, -1)
    for i in rows:
        gs = (b[i] - A[i] @ x + A[i, i] * x[i]) / A[i, i]
        x[i] = (1 - omega) * x[i] + omega * gs
    return x


def ref_sor(A, x, b, omega, sweep, iterations):
    for _ in range(iterations):
        if sweep in ("forward", "symmetric"):
            x = ref_sweep(A, x, b, omega, "forward")
        if sweep in ("backward", "symmetric"):
            x = ref_sweep(A, x, b, omega, "backward")
    return x


def ref_ssor_inverse_apply(A, omega, r):
    A = A.toarray()
    D = np.diag(np.diag(A))
    L, U = np.tril(A, -1), np.triu(A, 1)
    M = (D + omega * L) @ np.linalg.inv(D) @ (D + omega * U) / (omega * (2 - omega))
    return np.linalg.solve(M, r)


def anisotropic(n, eps=0.01):
    """-eps u_xx - u_yy, 5-point stencil on an n x n grid."""
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    I = sp.identity(n)
    return (eps * sp.kron(I, T) + sp.kron(T, I)).tocsr()


def random_spd(n, density, seed):
    R = sp.random(n, n, density=density, random_state=seed, format="csr")
    S = R + R.T
    return (S + sp.diags(np.asarray(abs(S).sum(axis=1)).ravel() + 1.0)).tocsr()


def rel_residual(A, x, b):
    return np.linalg.norm(b - A @ x) / np.linalg.norm(b)


# --- sweeps against the references ---------------------------------------------

def test_one_gauss_seidel_sweep_matches_numpy(rng):
    A = random_spd(60, 0.1, 0)
    b = rng.standard_normal(60)
    x0 = rng.standard_normal(60)
    with pytest.warns(itercore.ConvergenceWarning):
        x, info = sor(A, b, x0=x0, omega=1.0, maxiter=1, ordering="natural")
    assert info == 1
    np.testing.assert_allclose(x, ref_sweep(A, x0, b, 1.0, "forward"), rtol=0, atol=1e-12)


@pytest.mark.parametrize("omega", [0.8, 1.3, 1.9])
@pytest.mark.parametrize("sweep", ["forward", "backward", "symmetric"])
def test_sor_sweeps_match_numpy(omega, sweep, rng):
    A = poisson2d(7)
    b = rng.standard_normal(49)
    x0 = rng.standard_normal(49)
    x = x0.copy()
    sor_sweep(A, x, b, omega=omega, sweep=sweep, iterations=3)
    np.testing.assert_allclose(x, ref_sor(A, x0, b, omega, sweep, 3), rtol=0, atol=1e-12)
    with pytest.warns(itercore.ConvergenceWarning, match=r"\(2 iterations\) did not converge \(max_iter"):
        x2, info = sor(A, b, x0=x0, omega=omega, sweep=sweep, maxiter=2, ordering="natural")
    np.testing.assert_allclose(x2, ref_sor(A, x0, b, omega, sweep, 2), rtol=0, atol=1e-12)


@pytest.mark.parametrize("ordering", ["natural", "multicolor"])
def test_smoother_equals_sor_sweep(ordering, rng):
    A = random_spd(120, 0.05, 4)
    b = rng.standard_normal(120)
    x1 = rng.standard_normal(120)
    x2 = x1.copy()
    smooth = SORSmoother(A, omega=1.3, sweep="symmetric", ordering=ordering)
    for _ in range(3):
        smooth(x1, b, iterations=2)
    sor_sweep(A, x2, b, omega=1.3, sweep="symmetric", iterations=6, ordering=ordering)
    np.testing.assert_allclose(x1, x2, rtol=0, atol=1e-12)
    assert smooth.shape == (120, 120)
    with raises_naming(ValueError, "x", match="shape"):
        smooth(np.zeros(5), b)
    with raises_naming(ValueError, "b", match="shape"):
        smooth(x1, np.ones(5))
    with raises_naming(ValueError, "x", match="finite"):
        smooth(np.full(120, np.nan), b)
    with raises_naming(ValueError, "omega"):
        SORSmoother(A, omega=2.0)


def test_symmetric_sweep_depends_on_omega(rng):
    # PyAMG's symmetric sweep ignores omega; ours must not.
    A = poisson2d(6)
    b = rng.standard_normal(36)
    outs = []
    for omega in (0.8, 1.3):
        x = np.zeros(36)
        sor_sweep(A, x, b, omega=omega, sweep="symmetric")
        outs.append(x)
    assert np.linalg.norm(outs[0] - outs[1]) > 1e-3 * np.linalg.norm(outs[0])


def test_forward_sweep_matches_pyamg(rng):
    relaxation = pytest.importorskip("pyamg.relaxation.relaxation")
    A = poisson2d(20)
    b = rng.standard_normal(400)
    x_ref = np.zeros(400)
    relaxation.sor(A, x_ref, b, omega=1.4, iterations=2, sweep="forward")
    x = np.zeros(400)
    sor_sweep(A, x, b, omega=1.4, iterations=2)
    np.testing.assert_allclose(x, x_ref, rtol=1e-12, atol=1e-12)


# --- multicolour ordering --------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: poisson2d(12), lambda: random_spd(200, 0.03, 1),
                                  lambda: sp.random(80, 80, density=0.05, random_state=3, format="csr")
                                  + sp.identity(80)])
def test_multicolor_ordering_is_a_valid_colouring(make):
    A = sp.csr_matrix(make())
    plan = multicolor_ordering(A)
    n = A.shape[0]
    assert sorted(plan.perm) == list(range(n))
    assert plan.color_ptr[0] == 0 and plan.color_ptr[-1] == n
    colour = np.empty(n, dtype=int)
    for c in range(plan.n_colors):
        colour[plan.perm[plan.color_ptr[c]:plan.color_ptr[c + 1]]] = c
    C = sp.coo_matrix(A)
    off = C.row != C.col
    assert np.all(colour[C.row[off]] != colour[C.col[off]]), "two coupled rows share a colour"
    # The permuted pattern and value gather reproduce P A P^T.
    P = sp.csr_matrix((A.data[plan.source], plan.indices, plan.indptr), shape=A.shape)
    np.testing.assert_array_equal(P.toarray(), A.toarray()[np.ix_(plan.perm, plan.perm)])


def test_poisson_two_colours():
    assert multicolor_ordering(poisson2d(10)).n_colors == 2


@pytest.mark.parametrize("sweep", ["forward", "symmetric"])
def test_multicolor_sweep_is_natural_sweep_of_permuted_matrix(sweep, rng):
    A = random_spd(300, 0.02, 2)
    plan = multicolor_ordering(A)
    b = rng.standard_normal(300)
    x0 = rng.standard_normal(300)
    x = x0.copy()
    sor_sweep(A, x, b, omega=1.2, sweep=sweep, ordering=plan)
    Ap = A.toarray()[np.ix_(plan.perm, plan.perm)]
    expected = np.empty(300)
    expected[plan.perm] = ref_sor(Ap, x0[plan.perm], b[plan.perm], 1.2, sweep, 1)
    np.testing.assert_allclose(x, expected, rtol=0, atol=1e-12)


def test_multicolor_parallel_equals_serial(rng):
    A = poisson2d(250)  # large enough for the parallel path
    plan = multicolor_ordering(A)
    b = rng.standard_normal(A.shape[0])
    x1 = np.zeros(A.shape[0])
    x2 = np.zeros(A.shape[0])
    sor_sweep(A, x1, b, omega=1.5, iterations=3, ordering=plan, n_threads=1)
    sor_sweep(A, x2, b, omega=1.5, iterations=3, ordering=plan, n_threads=2)
    np.testing.assert_array_equal(x1, x2)


def test_ordering_for_another_pattern_is_refused():
    plan = multicolor_ordering(poisson2d(5))
    with raises_naming(ValueError, "ordering"):
        sor(poisson2d(6), np.ones(36), ordering=plan)


# --- solutions against spsolve ----------------------------------------------------

PROBLEMS = {
    "poisson": lambda: poisson2d(16),
    "anisotropic": lambda: anisotropic(14, 0.05),
    "random_spd": lambda: random_spd(300, 0.02, 5),
}


@pytest.mark.parametrize("ordering", ["natural", "multicolor"])
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_sor_matches_spsolve(name, ordering, rng):
    A = PROBLEMS[name]()
    b = rng.standard_normal(A.shape[0])
    x_ref = spla.spsolve(A.tocsc(), b)
    x, info = sor(A, b, omega=1.6, rtol=1e-10, ordering=ordering, maxiter=100000)
    assert info == 0
    assert rel_residual(A, x, b) <= 1e-10
    cond = np.linalg.cond(A.toarray())
    assert np.linalg.norm(x - x_ref) <= 2 * cond * 1e-10 * np.linalg.norm(x_ref)


@pytest.mark.parametrize("ordering", ["natural", "multicolor"])
@pytest.mark.parametrize("name", list(PROBLEMS))
def test_ssor_pcg_matches_spsolve(name, ordering, rng):
    A = PROBLEMS[name]()
    b = rng.standard_normal(A.shape[0])
    x_ref = spla.spsolve(A.tocsc(), b)
    x, info = ssor_pcg(A, b, omega=1.3, rtol=1e-10, ordering=ordering)
    assert info == 0
    assert rel_residual(A, x, b) <= 1e-10
    cond = np.linalg.cond(A.toarray())
    assert np.linalg.norm(x - x_ref) <= 2 * cond * 1e-10 * np.linalg.norm(x_ref)


def test_orderings_reach_the_same_solution(rng):
    A = poisson2d(20)
    b = rng.standard_normal(400)
    xn, _ = sor(A, b, omega=1.7, rtol=1e-11, ordering="natural")
    xm, _ = sor(A, b, omega=1.7, rtol=1e-11, ordering="multicolor")
    assert np.linalg.norm(xn - xm) <= 1e-7 * np.linalg.norm(xn)


@pytest.mark.parametrize("omega", [0.7, 1.0, 1.5])
def test_ssor_preconditioner_matches_dense_formula(omega, rng):
    A = random_spd(50, 0.1, 7)
    r = rng.standard_normal(50)
    z = ssor_preconditioner(A, omega=omega).matvec(r)
    np.testing.assert_allclose(z, ref_ssor_inverse_apply(A, omega, r), rtol=1e-10, atol=1e-12)


def test_ssor_preconditioner_speeds_up_scipy_cg(rng):
    A = poisson2d(40)
    b = rng.standard_normal(1600)
    counts = {}
    for key, M in (("plain", None), ("ssor", ssor_preconditioner(A, omega=1.5))):
        n = [0]
        x, info = spla.cg(A, b, M=M, rtol=1e-8, maxiter=10000, callback=lambda xk: n.__setitem__(0, n[0] + 1))
        assert info == 0
        counts[key] = n[0]
    assert counts["ssor"] < 0.6 * counts["plain"], counts


def test_ssor_pcg_iterations_match_scipy_cg_with_our_preconditioner(rng):
    A = poisson2d(30)
    b = rng.standard_normal(900)
    n = [0]
    spla.cg(A, b, M=ssor_preconditioner(A, omega=1.4), rtol=1e-8, callback=lambda xk: n.__setitem__(0, n[0] + 1))
    k = [0]
    x, info = ssor_pcg(A, b, omega=1.4, rtol=1e-8, ordering="natural",
                       callback=lambda xk: k.__setitem__(0, k[0] + 1))
    assert info == 0 and abs(k[0] - n[0]) <= 1


# --- the shared contract -------------------------------------------------------------

SOLVERS = {
    "sor": lambda A, b, **kw: sor(A, b, omega=1.5, **kw),
    "ssor_pcg": lambda A, b, **kw: ssor_pcg(A, b, omega=1.5, **kw),
}


@pytest.mark.parametrize("solver", list(SOLVERS))
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_and_index_types(solver, dtype, index_dtype, rng):
    A = poisson2d(10, dtype=dtype, index_dtype=index_dtype)
    b = rng.standard_normal(100).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    x, info = SOLVERS[solver](A, b, rtol=rtol)
    assert info == 0 and x.dtype == dtype
    assert rel_residual(A.astype(np.float64), x.astype(np.float64), b.astype(np.float64)) <= 2 * rtol
    # no copy of the matrix arrays when they already fit
    system = _System(A, "natural", None)
    assert np.shares_memory(system.data, A.data) and np.shares_memory(system.indices, A.indices)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_mixed_precision_promotes(solver, rng):
    A = poisson2d(8, dtype=np.float32)
    b = rng.standard_normal(64)  # float64
    x, info = SOLVERS[solver](A, b, rtol=1e-10)
    assert info == 0 and x.dtype == np.float64


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_non_contiguous_and_dense_input(solver, rng):
    A = poisson2d(8)
    b2 = rng.standard_normal((64, 2))
    x0 = np.zeros((64, 3))[:, 1]
    x, info = SOLVERS[solver](A.toarray(), b2[:, 0], x0=x0, rtol=1e-10)
    assert info == 0 and rel_residual(A, x, b2[:, 0]) <= 1e-10
    x2, _ = SOLVERS[solver](A.tocoo(), np.ascontiguousarray(b2[:, 0]), rtol=1e-10)
    np.testing.assert_allclose(x, x2, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_x0_not_modified_and_used(solver, rng):
    A = poisson2d(8)
    b = rng.standard_normal(64)
    x_exact = spla.spsolve(A.tocsc(), b)
    x0 = x_exact.copy()
    x, info = SOLVERS[solver](A, b, x0=x0)
    assert info == 0 and np.array_equal(x0, x_exact)
    np.testing.assert_allclose(x, x_exact, rtol=1e-12)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_bad_input_errors_name_argument(solver):
    A = poisson2d(4)
    b = np.ones(16)
    f = SOLVERS[solver]
    with raises_naming(ValueError, "A", match="square"):
        f(sp.random(4, 5, density=0.5, format="csr"), np.ones(4))
    with raises_naming(ValueError, "b", match="shape"):
        f(A, np.ones(15))
    with raises_naming(ValueError, "x0", match="shape"):
        f(A, b, x0=np.ones(3))
    with raises_naming(ValueError, "b", match="finite"):
        f(A, np.r_[np.nan, np.ones(15)])
    with raises_naming(ValueError, "b", match="finite"):
        f(A, np.r_[np.inf, np.ones(15)])
    with raises_naming(ValueError, "x0", match="finite"):
        f(A, b, x0=np.r_[np.inf, np.ones(15)])
    bad = A.copy()
    bad.data[0] = np.nan
    with raises_naming(ValueError, "A", match="finite"):
        f(bad, b)
    with raises_naming(ValueError, "A", match="empty"):
        f(sp.csr_matrix((0, 0)), np.ones(0))
    with raises_naming(ValueError, "b", match="empty|shape"):
        f(A, np.ones(0))
    with raises_naming(TypeError, "b"):
        f(A, np.ones(16, dtype=complex))
    with raises_naming(ValueError, "maxiter"):
        f(A, b, maxiter=-1)
    with raises_naming(ValueError, "rtol"):
        f(A, b, rtol=-1.0)
    with raises_naming(TypeError, "callback"):
        f(A, b, callback=3)
    with raises_naming(ValueError, "n_threads"):
        f(A, b, n_threads=0)
    with raises_naming(ValueError, "ordering"):
        f(A, b, ordering="random")


@pytest.mark.parametrize("solver", ["sor", "ssor_pcg"])
@pytest.mark.parametrize("omega", [0.0, 2.0, -0.5, 2.5])
def test_omega_outside_open_interval(solver, omega):
    fn = sor if solver == "sor" else ssor_pcg
    with raises_naming(ValueError, "omega"):
        fn(poisson2d(3), np.ones(9), omega=omega)
    with raises_naming(ValueError, "omega"):
        ssor_preconditioner(poisson2d(3), omega=omega)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_zero_or_missing_diagonal_names_the_row(solver):
    A = poisson2d(4).tolil()
    A[5, 5] = 0.0
    with raises_naming(ValueError, "A", match="row 5"):
        SOLVERS[solver](A.tocsr(), np.ones(16))
    B = poisson2d(4).tolil()
    B[7, 7] = 0.0
    B = B.tocsr()
    B.eliminate_zeros()  # the entry is now missing altogether
    with raises_naming(ValueError, "A", match="row 7"):
        SOLVERS[solver](B, np.ones(16), ordering="multicolor")


def test_sor_sweep_errors():
    A = poisson2d(3)
    with raises_naming(TypeError, "x", match="in place"):
        sor_sweep(A, np.zeros(9, dtype=np.float32), np.ones(9))
    with raises_naming(TypeError, "x", match="in place"):
        sor_sweep(A, np.zeros(18)[::2], np.ones(9))
    with raises_naming(TypeError, "x"):
        sor_sweep(A, [0.0] * 9, np.ones(9))
    with raises_naming(ValueError, "x", match="shape"):
        sor_sweep(A, np.zeros(8), np.ones(9))
    with raises_naming(ValueError, "sweep"):
        sor_sweep(A, np.zeros(9), np.ones(9), sweep="diagonal")
    with raises_naming(ValueError, "iterations"):
        sor_sweep(A, np.zeros(9), np.ones(9), iterations=-1)


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_zero_iterations(solver):
    A = poisson2d(4)
    with pytest.warns(itercore.ConvergenceWarning, match=r"\(0 iterations\) did not converge \(max_iter"):
        x, info = SOLVERS[solver](A, np.ones(16), maxiter=0)
    assert info > 0 and np.array_equal(x, np.zeros(16))
    # a zero right-hand side is solved by x0 = 0 without iterating
    x, info = SOLVERS[solver](A, np.zeros(16), maxiter=0)
    assert info == 0


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_convergence_warning_states_residual_and_tolerance(solver):
    A = poisson2d(20)
    with pytest.warns(itercore.ConvergenceWarning, match=r"relative residual [0-9.e+-]+ > tol 1\.0e-12"):
        x, info = SOLVERS[solver](A, np.ones(400), rtol=1e-12, maxiter=5)
    assert info == 5


@pytest.mark.parametrize("solver", list(SOLVERS))
def test_callback_every_iteration_and_stop_iteration(solver, rng):
    A = poisson2d(10)
    b = rng.standard_normal(100)
    seen = []

    def cb(xk):
        seen.append(xk.copy())
        if len(seen) == 4:
            raise StopIteration

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, info = SOLVERS[solver](A, b, callback=cb, ordering="multicolor")
    assert len(seen) == 4 and info == 4
    np.testing.assert_array_equal(seen[-1], x)  # the callback sees the iterate in the caller's order


def test_divergence_stops_with_last_finite_iterate():
    # SOR on a strongly non-symmetric, non-diagonally dominant matrix diverges.
    A = sp.csr_matrix(np.array([[1.0, 3.0], [-3.0, 1.0]]))
    with pytest.warns(itercore.ConvergenceWarning, match="NaN or inf"):
        x, info = sor(A, np.ones(2), omega=1.9, maxiter=100000)
    assert info < 0 and np.all(np.isfinite(x))


def test_ssor_pcg_max_restarts_bounds_the_restarts_at_the_precision_limit():
    # rtol below what double precision can reach: each exact check that misses
    # it restarts CG from the true residual, max_restarts times, then breakdown
    A = poisson2d(30)
    b = np.random.default_rng(3).standard_normal(A.shape[0])
    assert _core.linalg.SsorPcgOptions().max_restarts == 3
    nits = {}
    for k in (0, 3):
        seen = []
        with pytest.warns(itercore.ConvergenceWarning, match="breakdown"):
            x, info = ssor_pcg(A, b, omega=1.5, rtol=1e-30, callback=lambda xk: seen.append(1),
                               options={"max_restarts": k})
        assert info < 0 and np.isfinite(x).all()
        nits[k] = len(seen)
    assert nits[3] > nits[0]
    with raises_naming(ValueError, "max_restarts"):
        ssor_pcg(A, b, options={"max_restarts": -1})


def test_ssor_pcg_breakdown_on_indefinite_matrix():
    A = sp.diags([1.0, -2.0, 3.0, -1.0]).tocsr()
    with pytest.warns(itercore.ConvergenceWarning, match="breakdown|non_finite"):
        x, info = ssor_pcg(A, np.ones(4))
    assert info < 0 and np.all(np.isfinite(x))


def test_threads_give_identical_iterates_with_natural_ordering(rng):
    A = poisson2d(200)
    b = rng.standard_normal(A.shape[0])
    kw = dict(omega=1.9, rtol=0.0, maxiter=30, ordering="natural")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        x1, _ = sor(A, b, n_threads=1, **kw)
        x2, _ = sor(A, b, n_threads=2, **kw)
    np.testing.assert_array_equal(x1, x2)


# --- options: the C++ structs, bound by name; the pipeline step ------------------------

def test_defaults_come_from_the_cpp_structs():
    for fn, cls in ((sor, _core.linalg.SorOptions), (ssor_pcg, _core.linalg.SsorPcgOptions),
                    (sor_sweep, _core.linalg.SorOptions), (ssor_preconditioner, _core.linalg.SsorPcgOptions)):
        d = cls()
        params = inspect.signature(fn).parameters
        for name, p in params.items():
            if name in cls._fields and name not in ("maxiter", "n_threads"):  # None: automatic, the default
                value = getattr(d, name)
                assert p.default == getattr(value, "name", value), (fn.__name__, name)
        assert d.maxiter == -1 and d.n_threads == 0  # the struct's "automatic"
        if "maxiter" in params:
            assert params["maxiter"].default is None


def test_expert_options_set_struct_fields(rng):
    A = poisson2d(10)
    b = rng.standard_normal(100)
    x1, r1 = linalg._solve("sor", A, b, omega=1.5, history=True, options={"check_every": 1})
    x2, r2 = linalg._solve("sor", A, b, omega=1.5, history=True, options={"check_every": 50})
    assert r1["status"] == r2["status"] == _pipeline.CONVERGED
    assert len(r1["history"]) == r1["nit"] + 1  # a check after every sweep
    assert len(r2["history"]) < len(r1["history"]) and r2["nit"] >= r1["nit"]
    x, info = sor(A, b, omega=1.5, options={"check_every": 1})
    assert info == 0 and np.array_equal(x, x1)


def test_option_errors_name_the_field():
    A, b = poisson2d(4), np.ones(16)
    with raises_naming(TypeError, "options", match="did you mean 'check_every'"):
        sor(A, b, options={"check_evry": 5})
    with raises_naming(ValueError, "check_every", match=r"options\['check_every'\]"):
        sor(A, b, options={"check_every": 0})
    with raises_naming(TypeError, "omega", match="keyword"):
        sor(A, b, options={"omega": 1.2})
    with raises_naming(TypeError, "options", match="history"):
        sor(A, b, options={"history": True})
    with raises_naming(TypeError, "options"):
        sor(A, b, options=[("check_every", 5)])
    with raises_naming(TypeError, "options", match="unknown key 'check_every'"):
        ssor_pcg(A, b, options={"check_every": 5})  # SSOR-PCG has no such knob
    with raises_naming(ValueError, "sweep", match="'forward', 'backward', 'symmetric'"):
        sor(A, b, sweep="diagonal")
    with raises_naming(TypeError, "omega"):
        sor(A, b, omega="1.5")
    with raises_naming(ValueError, "atol"):
        ssor_pcg(A, b, atol=-1.0)
    with pytest.raises(TypeError, match="positional"):
        sor(A, b, np.zeros(16))  # x0 is keyword-only


@pytest.mark.parametrize("method", ["sor", "ssor_pcg"])
def test_pipeline_step_returns_the_core_info(method, rng):
    A = poisson2d(10)
    b = rng.standard_normal(100)
    x, res = linalg._solve(method, A, b, omega=1.5, rtol=1e-10, history=True)
    assert res["status"] == _pipeline.CONVERGED and res["nit"] > 0
    assert res["residual"] == pytest.approx(np.linalg.norm(b - A @ x), rel=1e-6)
    assert res["residual"] <= 1e-10 * np.linalg.norm(b)
    assert res["history"][0] == pytest.approx(np.linalg.norm(b))  # from x0 = 0
    if method == "ssor_pcg":
        assert len(res["history"]) == res["nit"] + 1  # every iteration's (estimated) residual
    xp, info = (sor if method == "sor" else ssor_pcg)(A, b, omega=1.5, rtol=1e-10)
    assert info == 0 and np.array_equal(x, xp)
    with raises_naming(TypeError, "check_every"):
        linalg._solve(method, A, b, check_every=5)  # expert knobs go in options=


def test_sor_sweep_without_b_sweeps_the_error_equation(rng):
    A = poisson2d(6)
    x0 = rng.standard_normal(36)
    x1, x2 = x0.copy(), x0.copy()
    sor_sweep(A, x1, omega=1.2, iterations=2)
    sor_sweep(A, x2, np.zeros(36), omega=1.2, iterations=2)
    np.testing.assert_array_equal(x1, x2)
    x3 = x0.copy()
    SORSmoother(A, omega=1.2)(x3, iterations=2)
    np.testing.assert_array_equal(x1, x3)


def test_multicolor_solve_threads_give_identical_iterates(rng):
    A = poisson2d(250)  # large enough for the parallel colour sweeps
    plan = multicolor_ordering(A)
    b = rng.standard_normal(A.shape[0])
    kw = dict(omega=1.5, rtol=0.0, maxiter=20, ordering=plan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", itercore.ConvergenceWarning)
        x1, _ = sor(A, b, n_threads=1, **kw)
        x2, _ = sor(A, b, n_threads=2, **kw)
    np.testing.assert_array_equal(x1, x2)


# --- the tuners ---------------------------------------------------------------------

def paper_sequence(case, T, seed):
    """Khodak et al.'s sequence: 10x10-grid Laplacian shifted by c_t I."""
    rng = np.random.default_rng(seed)
    L = poisson2d(10)
    I = sp.identity(100, format="csr")
    beta = rng.beta(0.5, 1.5, T) if case == "high" else rng.beta(2.0, 6.0, T)
    c = -0.15 + 0.6 * beta
    B = rng.standard_normal((T, 100))
    return [(L + ct * I).tocsr() for ct in c], B, c


def columns_at_least(systems, B, omegas, threshold, rtol):
    """Per omega, the total SOR iterations over the sequence, accumulated only until
    it exceeds ``threshold`` (then that omega cannot beat it). Uses the core
    directly (the inputs are already validated) and two threads (the GIL is released)."""
    prepared = [_System(A, "natural", 1) for A in systems]
    totals = np.zeros(len(omegas), dtype=np.int64)
    options = [_pipeline.make_options(_core.linalg.SorOptions, dict(omega=float(w), rtol=rtol, maxiter=10**6,
                                                                    n_threads=1)) for w in omegas]

    def run(ks):
        for k in ks:
            for s, b in zip(prepared, B):
                x = np.zeros(100)
                res = _core.linalg.sor(*s.args, b, x, options[k], None)
                assert res["status"] == _pipeline.CONVERGED
                totals[k] += res["nit"]
                if totals[k] > threshold:
                    break

    halves = [range(0, len(omegas), 2), range(1, len(omegas), 2)]
    threads = [threading.Thread(target=run, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return totals


@pytest.mark.parametrize("case", ["high", "low"])
def test_tuners_on_the_paper_sequence(case):
    T = 5000
    systems, B, c = paper_sequence(case, T, seed=2024)
    tuner = OmegaTuner(seed=7)
    ctx = ContextualOmegaTuner(context_range=(-0.15, 0.45), seed=7) if case == "high" else None
    for t in range(T):
        x, info = tuner.solve(systems[t], B[t], rtol=1e-8, maxiter=10**6)
        assert info == 0
        if ctx is not None:
            x, info = ctx.solve(systems[t], B[t], context=c[t], rtol=1e-8, maxiter=10**6)
            assert info == 0
    total = tuner.total_iterations()
    # What the assertions below need: total <= 1.2 * best fixed omega and, for
    # the contextual tuner, ctx_total <= 0.85 * best fixed. Both hold iff no
    # column total falls below `need`; columns are summed only that far.
    need = total / 1.2
    if ctx is not None:
        need = max(need, ctx.total_iterations() / 0.85)
    totals = columns_at_least(systems, B, tuner.omegas, need, 1e-8)
    best = totals.min()
    assert total <= 1.2 * best, f"OmegaTuner {total} vs best fixed omega >= {best}"
    if ctx is not None:
        assert ctx.total_iterations() <= 0.85 * best, f"ContextualOmegaTuner {ctx.total_iterations()} vs {best}"
    # omega = 1 (Gauss-Seidel): total >= total / 0.3 is certified by the first column
    omega1 = columns_at_least(systems, B, tuner.omegas[:1], total / 0.3, 1e-8)[0]
    assert total <= 0.3 * omega1, f"OmegaTuner {total} vs omega=1 >= {omega1}"


def _small_sequence(T=30):
    L = poisson2d(6)
    rng = np.random.default_rng(1)
    return [(L + c * sp.identity(36)).tocsr() for c in rng.uniform(0, 1, T)], rng.standard_normal((T, 36))


@pytest.mark.parametrize("make", [
    lambda: OmegaTuner(seed=3),
    lambda: OmegaTuner(method="ssor_pcg", seed=3),
    lambda: ContextualOmegaTuner(context_range=(0, 1), seed=3),
    lambda: ContextualOmegaTuner(context_range=(0, 1), policy="binned-tsallis", seed=3),
    lambda: OmegaTuner(loss="running-mean", seed=3),
])
def test_tuner_state_roundtrip_and_pickle(make):
    systems, B = _small_sequence()
    is_ctx = isinstance(make(), ContextualOmegaTuner)

    def step(tuner, t):
        kw = {"context": float(systems[t][0, 0] - 4.0)} if is_ctx else {}
        return tuner.solve(systems[t], B[t], **kw)

    a = make()
    for t in range(15):
        step(a, t)
    state = json.loads(json.dumps(a.state_dict()))
    b = type(a).from_state_dict(state)
    p = pickle.loads(pickle.dumps(a))
    for t in range(15, 30):
        xa, _ = step(a, t)
        xb, _ = step(b, t)
        xp, _ = step(p, t)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(xa, xp)
    assert a.history == b.history == p.history
    assert len(a.history) == 30 and set(a.history[0]) == {"omega", "iterations", "context"}
    assert a.best_omega_ == b.best_omega_


def test_tuner_same_seed_same_choices():
    systems, B = _small_sequence(20)
    runs = []
    for _ in range(2):
        t = OmegaTuner(seed=11)
        for A, b in zip(systems, B):
            t.solve(A, b)
        runs.append([h["omega"] for h in t.history])
    assert runs[0] == runs[1]


def test_tuner_probabilities_are_distributions():
    t = OmegaTuner(seed=0)
    p = t.probabilities()
    assert np.isclose(p.sum(), 1.0) and np.allclose(p, 1 / 20)
    t._cum_loss[:] = np.linspace(0, 10, 20)
    p = t.probabilities()
    assert np.isclose(p.sum(), 1.0) and np.all(np.diff(p) < 0)
    ctx = ContextualOmegaTuner(context_range=(0, 1), seed=0)
    q = ctx.probabilities(0.3)
    assert np.isclose(q.sum(), 1.0) and np.all(q >= 0)


def test_tuner_learns_from_the_pipeline_step(rng):
    A = poisson2d(6)
    b = rng.standard_normal(36)
    for method in ("sor", "ssor_pcg"):
        t = OmegaTuner(method=method, seed=0)
        x, info = t.solve(A, b, rtol=1e-8)
        last = t.history[-1]
        x2, res = linalg._solve(method, A, b, omega=last["omega"], rtol=1e-8)
        assert info == 0 and last["iterations"] == res["nit"] and np.array_equal(x, x2)
    t.solve(A, b, x0=x, options={})  # solver keywords and options pass through
    with raises_naming(TypeError, "history"):
        t.solve(A, b, history=True)
    with raises_naming(TypeError, "check_every"):
        t.solve(A, b, check_every=3)
    with pytest.raises(TypeError):
        t.solve(A, b, x)  # x0 is keyword-only


def test_tuner_errors():
    with raises_naming(ValueError, "omegas"):
        OmegaTuner(omegas=[1.0, 2.0])
    with raises_naming(ValueError, "omegas"):
        OmegaTuner(omegas=[1.5])
    with raises_naming(ValueError, "method"):
        OmegaTuner(method="jacobi")
    with raises_naming(ValueError, "policy"):
        OmegaTuner(policy="ucb")
    with raises_naming(ValueError, "context_range"):
        ContextualOmegaTuner(context_range=(1.0, 0.0))
    with raises_naming(ValueError, "policy"):
        ContextualOmegaTuner(policy="linucb")
    with raises_naming(TypeError, "omega"):
        OmegaTuner().solve(poisson2d(3), np.ones(9), omega=1.2)
    with raises_naming(ValueError, "context"):
        ContextualOmegaTuner().solve(poisson2d(3), np.ones(9), context=float("nan"))
    with pytest.raises(ValueError, match="OmegaTuner state_dict"):
        OmegaTuner.from_state_dict({"kind": "ContextualOmegaTuner"})


def test_tsallis_inf_paper_loss_is_the_authors_normalisation():
    # the authors' TsallisINF.m: k[arm] += (cost - 1) / p; sampling from k / (mean(cost) - 1)
    t = OmegaTuner(seed=5)
    k = np.zeros(t.n_arms)
    costs = []
    rng = np.random.default_rng(0)
    for step in range(40):
        arm, p = t._choose()
        cost = int(rng.integers(50, 400))
        expect = tsallis_inf_weights(k / (np.mean(costs) - 1.0) if costs else k, 2.0 / np.sqrt(step + 1))
        np.testing.assert_allclose(p, expect, rtol=1e-12, atol=1e-15)
        t._learn(arm, p, cost)
        k[arm] += (cost - 1.0) / p[arm]
        costs.append(cost)
    np.testing.assert_allclose(t._cum_loss, k, rtol=1e-13)


def _chebcb_costs(c, arm):
    """A synthetic cost: the best arm moves from 2 (c = 0) to 15 (c = 1)."""
    best = 2 + 13 * c
    return 100.0 + 40.0 * (arm - best) ** 2 / 13.0


def test_chebcb_fit_is_boxed_and_learns_the_context_dependence():
    from itercore._tuners import chebyshev_features

    t = ContextualOmegaTuner(context_range=(0.0, 1.0), seed=1)
    rng = np.random.default_rng(1)
    etas = []
    for step in range(600):
        c = float(rng.uniform())
        arm, p = t._choose(c)
        assert np.isclose(p.sum(), 1.0) and np.all(p >= 0)
        t._learn(arm, p, _chebcb_costs(c, arm), c)
        etas.append(t._eta)
        if step in (50, 599):
            K = t._costs.max()
            L = K - t._costs.min()
            N = 2 + 4 * L / K * (1 + np.log(6))
            ub = np.concatenate([[1 / N], 2 * L / (K * N) / np.arange(1, 6)])
            assert np.all(np.abs(t._theta) <= ub * (1 + 1e-9) + 1e-12)
            # an arm's unboxed least-squares fit is kept when it lies in the box (the fits
            # agree; coefficients of near-collinear features only to the conditioning)
            for a in range(t.n_arms):
                rows = t._arms == a
                if rows.sum() >= 30:
                    X = t._phi[rows]
                    free = np.linalg.lstsq(X, (t._costs[rows] - 1) / (K * N), rcond=None)[0]
                    if np.all(np.abs(free) <= ub * 0.99):
                        np.testing.assert_allclose(X @ t._theta[a], X @ free, rtol=1e-5)
    # exploration grows about linearly in t (the authors' rate), not like sqrt(t)
    assert etas[599] / etas[299] > 1.6
    for c in (0.1, 0.5, 0.9):
        assert abs(t.best_omega(c) - t.omegas[int(round(2 + 13 * c))]) <= 0.1001
    phi = chebyshev_features(0.0, 5)
    assert np.allclose(t.predicted_costs(0.5), t._theta @ phi)
