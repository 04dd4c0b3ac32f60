"""The reproducers of issue 16 ("bad input never crashes, never lies"), one
function each, run by ``tests/test_bad_input.py`` in a child process (several
of them segfaulted or corrupted memory before the fix, which would take the
test process down with them).

Each function returns nothing when the behaviour is right (a clear
``ValueError``/``TypeError`` naming the argument, or an honest status) and
raises ``AssertionError`` otherwise. ``python tests/bad_input_cases.py
[name ...]`` runs them and prints one JSON line per case (``start`` before
the call, so the parent can tell which case killed the process).
"""

from __future__ import annotations

import json
import re
import sys
import warnings

import numpy as np
import scipy.sparse as sp

CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def expect(call, argument, types=(ValueError, TypeError), match=None):
    """``call()`` raises one of ``types`` whose message names ``argument``."""
    try:
        call()
    except types as exc:
        msg = str(exc)
        assert re.search(rf"(?<![\w.]){re.escape(argument)}(?!\w)", msg), \
            f"{type(exc).__name__} does not name {argument!r}: {msg}"
        if match is not None:
            assert re.search(match, msg), f"{msg!r} does not match {match!r}"
        return exc
    except Exception as exc:  # noqa: BLE001 - the wrong kind of error is what we test for
        raise AssertionError(f"expected {[t.__name__ for t in types]} naming {argument!r}, "
                             f"got {type(exc).__name__}: {exc}") from None
    raise AssertionError(f"expected {[t.__name__ for t in types]} naming {argument!r}, nothing was raised")


# --- problems -------------------------------------------------------------------------

def poisson(n=6, dtype=np.float64):
    from itercore._problems import poisson2d

    return poisson2d(n, dtype=dtype)


def csr_raw(data, indices, indptr, shape):
    """A CSR matrix with exactly these arrays (no scipy check of their contents)."""
    M = sp.csr_matrix(shape)
    M.data, M.indices, M.indptr = np.asarray(data), np.asarray(indices), np.asarray(indptr)
    return M


def corrupt_csrs(m=5, n=4):
    """(label, matrix) pairs: CSR structures scipy's own routines crash on or misread."""
    A = sp.random(m, n, density=0.6, format="csr", random_state=0)
    A.data[:] = 1.0
    out = []
    B = A.copy()
    B.indices = B.indices.copy()
    B.indices[0] = n + 3
    out.append(("column index >= width", B))
    B = A.copy()
    B.indices = B.indices.copy()
    B.indices[-1] = -1
    out.append(("negative column index", B))
    B = A.copy()
    B.indptr = B.indptr[:-2].copy()
    out.append(("short indptr", B))
    B = A.copy()
    B.indptr = B.indptr.copy()
    B.indptr[-1] = 10**6
    out.append(("indptr past the end", B))
    B = A.copy()
    B.indptr = B.indptr.copy()
    B.indptr[min(2, m)] = -5
    out.append(("negative indptr", B))
    if m >= 2:
        B = A.copy()
        B.indptr = B.indptr.copy()
        B.indptr[1], B.indptr[2] = B.indptr[2] + 1, B.indptr[1]
        out.append(("non-monotone indptr", B))
    B = A.copy()
    B.indptr = B.indptr.astype(np.int64)
    B.indptr[-1] = 2**62
    out.append(("overflowing indptr", B))
    return out


def corrupt_coo(m=5, n=5):
    A = sp.coo_matrix(np.eye(m, n) * 4 + np.eye(m, n, 1) + np.eye(m, n, -1))
    B = sp.coo_matrix(A)
    B.col = B.col.copy()
    B.col[0] = n + 10
    C = sp.coo_matrix(A)
    C.row = C.row.copy()
    C.row[-1] = -3
    return [("COO column out of range", B), ("COO negative row", C)]


# --- crashes: sparse structure ----------------------------------------------------------

def _each_corrupt(build, name, shape=(5, 4), with_coo=False):
    mats = corrupt_csrs(*shape) + (corrupt_coo(*shape) if with_coo else [])
    for label, M in mats:
        try:
            expect(lambda: build(M), name)
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None


@case
def lasso_corrupt_csr():
    from itercore import bcd

    _each_corrupt(lambda X: bcd.lasso(X, np.ones(5), 0.1), "X", with_coo=True)


@case
def logistic_corrupt_csr():
    from itercore import bcd

    _each_corrupt(lambda X: bcd.Logistic(X, np.arange(5) % 2), "X", with_coo=True)


@case
def softmax_corrupt_csr():
    from itercore import bcd

    _each_corrupt(lambda X: bcd.Softmax(X, np.arange(5) % 3), "X", with_coo=True)


@case
def least_squares_corrupt():
    from itercore import bcd

    _each_corrupt(lambda X: bcd.LeastSquares(X, np.ones(5)), "X", with_coo=True)


@case
def quadratic_corrupt():
    from itercore import bcd

    _each_corrupt(lambda A: bcd.Quadratic(A, np.ones(5)), "A", shape=(5, 5), with_coo=True)


@case
def sketch_solve_corrupt():
    from itercore.linalg import sketch_solve

    _each_corrupt(lambda A: sketch_solve(A, np.ones(5), seed=0), "A", with_coo=True)


@case
def multicolor_ordering_corrupt():
    from itercore.linalg import multicolor_ordering

    _each_corrupt(multicolor_ordering, "A", shape=(5, 5), with_coo=True)


@case
def sor_corrupt():
    from itercore.linalg import sor, ssor_pcg

    _each_corrupt(lambda A: sor(A, np.ones(5)), "A", shape=(5, 5), with_coo=True)
    _each_corrupt(lambda A: ssor_pcg(A, np.ones(5)), "A", shape=(5, 5), with_coo=True)


@case
def label_propagation_corrupt():
    from itercore import bcd

    labels = np.array([0, 1, -1, -1, -1])
    _each_corrupt(lambda W: bcd.label_propagation(W, labels), "W", shape=(5, 5), with_coo=True)


@case
def completion_corrupt():
    from itercore.completion import altmin

    _each_corrupt(lambda X: altmin(X, 1, seed=0), "X", with_coo=True)


@case
def optimize_corrupt_constraint_matrix():
    from scipy.optimize import LinearConstraint

    from itercore.optimize import minimize

    for label, A in corrupt_csrs(2, 4):
        try:
            expect(lambda: minimize(lambda x: x @ x, np.ones(4), jac=lambda x: 2 * x, hess=lambda x: 2 * np.eye(4),
                                    constraints=LinearConstraint(A, np.ones(2), np.ones(2))), "constraints[0].A")
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None


@case
def csc_and_bsr_corrupt():
    from itercore.linalg import sor

    A = poisson(3).tocsc()
    B = A.copy()
    B.indices = B.indices.copy()
    B.indices[0] = 100
    expect(lambda: sor(B, np.ones(9)), "A")
    C = sp.bsr_matrix(poisson(4), blocksize=(2, 2))
    C.indptr = C.indptr.copy()
    C.indptr[-1] = 10**5
    expect(lambda: sor(C, np.ones(16)), "A")


@case
def big_endian_inputs():
    from itercore.linalg import sor

    A = poisson(4)
    Ab = A.copy()  # scipy's constructor refuses ">f8": set the arrays directly
    Ab.data, Ab.indices, Ab.indptr = A.data.astype(">f8"), A.indices.astype(">i4"), A.indptr.astype(">i4")
    b = np.ones(16, dtype=">f8")
    x, info = sor(Ab, b, rtol=1e-10)
    assert info == 0 and x.dtype.isnative
    assert np.linalg.norm(A @ x - 1) <= 1e-9 * 4


# --- crashes: hand-built or mutated objects ------------------------------------------------

def _orderings():
    from itercore.linalg import multicolor_ordering

    A = poisson(6)
    good = multicolor_ordering(A)
    bad = []
    for key, mutate in [
        ("color_ptr", lambda o: o.color_ptr.__setitem__(-1, 10**6)),
        ("color_ptr", lambda o: o.color_ptr.__setitem__(1, -4)),
        ("perm", lambda o: o.perm.__setitem__(0, 10**5)),
        ("perm", lambda o: o.perm.__setitem__(0, -1)),
        ("perm", lambda o: o.perm.__setitem__(0, o.perm[1])),
        ("indices", lambda o: o.indices.__setitem__(0, 10**5)),
        ("indices", lambda o: o.indices.__setitem__(3, -2)),
        ("indptr", lambda o: o.indptr.__setitem__(-1, 10**5)),
        ("source", lambda o: o.source.__setitem__(0, 10**7)),
    ]:
        import copy

        o = copy.deepcopy(good)
        mutate(o)
        bad.append((key, o))
    return A, bad


@case
def multicolor_ordering_hand_built():
    from itercore.linalg import SORSmoother, sor, sor_sweep, ssor_pcg

    A, bad = _orderings()
    b = np.ones(A.shape[0])
    for key, o in bad:
        for name, call in [("sor", lambda: sor(A, b, ordering=o)), ("ssor_pcg", lambda: ssor_pcg(A, b, ordering=o)),
                           ("sor_sweep", lambda: sor_sweep(A, np.zeros(A.shape[0]), b, ordering=o)),
                           ("SORSmoother", lambda: SORSmoother(A, ordering=o))]:
            try:
                expect(call, "ordering")
            except AssertionError as exc:
                raise AssertionError(f"{name} with a bad {key}: {exc}") from None


@case
def multicolor_ordering_is_immutable_and_checked_at_construction():
    from itercore.linalg import MulticolorOrdering, multicolor_ordering, sor

    A = poisson(6)
    good = multicolor_ordering(A)
    for key in ("perm", "color_ptr", "indptr", "indices", "source"):
        try:
            getattr(good, key)[0] = 1
        except ValueError:
            pass
        else:
            raise AssertionError(f"ordering.{key} could be written")
    parts = dict(perm=good.perm, color_ptr=good.color_ptr, indptr=good.indptr, indices=good.indices,
                 source=good.source, shape=good.shape, _pattern_nnz=good._pattern_nnz)
    same = MulticolorOrdering(**{k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in parts.items()})
    x, info = sor(A, np.ones(36), ordering=same)
    assert info == 0
    for key, value in [("color_ptr", np.r_[good.color_ptr[:-1], 10**6]), ("perm", np.r_[good.perm[1:], 10**5]),
                       ("source", good.source[::-1]), ("indices", np.zeros_like(good.indices)),
                       ("indptr", good.indptr.astype(np.float64)), ("shape", (7, 7)), ("perm", [0, 1])]:
        value = value.astype(good.perm.dtype) if isinstance(value, np.ndarray) and value.dtype.kind == "i" else value
        try:
            expect(lambda: MulticolorOrdering(**dict(parts, **{key: value})), "ordering" if key != "perm" or
                   isinstance(value, np.ndarray) else "ordering.perm")
        except AssertionError as exc:
            raise AssertionError(f"a hand-built ordering with a bad {key}: {exc}") from None


@case
def multicolor_ordering_of_another_pattern():
    """An ordering computed for a different pattern with the same nnz is refused (it used to
    return info = 0 for a different system)."""
    from itercore.linalg import multicolor_ordering, sor

    A = poisson(6)
    B = A.tolil()
    B[0, 1] = B[1, 0] = 0.0
    B[0, 7] = B[7, 0] = -0.5
    B = B.tocsr()
    B.eliminate_zeros()
    assert B.nnz == A.nnz
    expect(lambda: sor(B, np.ones(36), ordering=multicolor_ordering(A)), "ordering")


@case
def bcd_problem_mutated_after_construction():
    from itercore import bcd

    A = poisson(4)
    for label, M in corrupt_csrs(16, 16):
        q = bcd.Quadratic(A, np.ones(16))
        q.A = M
        try:
            expect(lambda: bcd.minimize(q), "problem.A")
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None
    q = bcd.Quadratic(A.copy(), np.ones(16))
    q.A.indices[0] = 10**6  # in place (q.A shares the arrays of the matrix given)
    expect(lambda: bcd.minimize(q), "problem.A")
    q = bcd.Quadratic(A, np.ones(16))
    q.b = np.ones(3)
    expect(lambda: bcd.minimize(q), "problem.b")
    rng = np.random.default_rng(0)
    X = sp.random(30, 6, density=0.5, format="csc", random_state=1)
    p = bcd.Logistic(X, rng.integers(0, 2, 30))
    p.Xt = corrupt_csrs(6, 30)[0][1]
    expect(lambda: bcd.minimize(p), "problem.Xt")
    p = bcd.Logistic(X, rng.integers(0, 2, 30))
    p.y = np.full(30, 3.0)
    expect(lambda: bcd.minimize(p), "problem.y")


@case
def softmax_class_count_changed():
    from itercore import bcd

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    p = bcd.Softmax(X, rng.integers(0, 3, 30))
    p.K = 2  # the weights would be too small for the class ids
    expect(lambda: bcd.minimize(p), "problem.K")
    p = bcd.Softmax(X, rng.integers(0, 3, 30))
    p.y = p.y * 50
    expect(lambda: bcd.minimize(p), "problem.y")


@case
def softmax_huge_class_ids():
    from itercore import bcd

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.where(rng.random(40) < 0.5, 0, 2**62).astype(np.int64)
    p = bcd.Softmax(X, y)
    assert p.K == 2 and list(p.classes) == [0, 2**62]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bcd.minimize(p, maxiter=50)
    assert res.x.shape == (3, 2)


@case
def label_propagation_sparse_ids():
    from itercore import bcd
    from itercore._problems import lattice_weights

    W = lattice_weights(6)
    labels = -np.ones(36, dtype=np.int64)
    labels[:4] = [0, 10**6, 0, 10**6]
    res = bcd.label_propagation(W, labels)  # one solve, not a million
    assert list(res.classes) == [0, 10**6]
    assert set(res.labels) <= {0, 10**6} and res.labels[1] == 10**6 and res.labels[0] == 0
    assert res.nit < 1000
    labels[:6] = [3, 7, 11, 3, 7, 11]
    res = bcd.label_propagation(W, labels)
    assert res.x.shape == (36, 3) and list(res.classes) == [3, 7, 11]
    assert list(res.labels[:3]) == [3, 7, 11]


@case
def label_propagation_bad_blocks():
    from itercore import bcd
    from itercore._problems import lattice_weights

    W = lattice_weights(4)
    labels = -np.ones(16, dtype=int)
    labels[:2] = [0, 1]
    for blocks in ("nonsense", "", "ORDER", 3, None, ["order"]):
        try:
            expect(lambda: bcd.label_propagation(W, labels, blocks=blocks), "blocks")
        except AssertionError as exc:
            raise AssertionError(f"blocks={blocks!r}: {exc}") from None


@case
def contextual_tuner_huge_context_range():
    from itercore.linalg import ContextualOmegaTuner

    expect(lambda: ContextualOmegaTuner(context_range=(-1e308, 1e308)), "context_range")
    t = ContextualOmegaTuner(context_range=(-1e300, 1e300))
    for c in (-1e308, 0.0, 1e308):
        p = t.probabilities(c)
        assert np.isfinite(p).all() and abs(p.sum() - 1) < 1e-12


@case
def tuner_malformed_state_dict():
    from itercore.linalg import ContextualOmegaTuner, OmegaTuner

    for cls in (OmegaTuner, ContextualOmegaTuner):
        state = cls(seed=0).state_dict()
        bad = [dict(state, omegas=[1.0, 5.0]), dict(state, rng="x"), {k: v for k, v in state.items() if k != "rng"},
               dict(state, scale=[float("nan"), 1]), dict(state, t=-3), dict(state, method="gmres")]
        if cls is OmegaTuner:
            bad += [dict(state, cum_loss=[0.0]), dict(state, eta=-1.0)]
        else:
            bad += [dict(state, theta=[[1.0]]), dict(state, degree=10**9), dict(state, n_bins=2**40),
                    dict(state, bin_t=[1] * 3), dict(state, context_range=[1.0, 0.0])]
        for s in bad:
            try:
                expect(lambda: cls.from_state_dict(s), "state", types=(ValueError,))
            except AssertionError as exc:
                diff = [k for k in s if s.get(k) != state.get(k)] or set(state) - set(s)
                raise AssertionError(f"{cls.__name__} with a bad {diff}: {exc}") from None
        assert cls.from_state_dict(state).state_dict() == state


# --- memory errors: callbacks, huge sizes -------------------------------------------------

@case
def callback_resizes_its_array():
    """A callback that resizes (frees) the array it was handed: the core keeps a buffer of its own."""
    from itercore.linalg import OmegaTuner, sor, ssor_pcg

    A = poisson(8)
    b = np.ones(64)

    def hostile(xk):
        xk.resize(10**6, refcheck=False)
        xk[:] = 7.0

    for solve in (lambda: sor(A, b, callback=hostile, ordering="natural"),
                  lambda: sor(A, b, callback=hostile, ordering="multicolor"),
                  lambda: ssor_pcg(A, b, callback=hostile),
                  lambda: OmegaTuner(seed=0).solve(A, b, callback=hostile)):
        x, info = solve()
        assert info == 0 and x.shape == (64,)
        assert np.linalg.norm(b - A @ x) <= 1e-8 * 8 * 1.01


@case
def huge_block_size():
    from itercore.linalg import sketch_solve

    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 5))
    b = A @ np.ones(5)
    for method in ("kaczmarz", "gaussian", "count"):
        for k in (2**62, 2**63 - 1):
            x, info = sketch_solve(A, b, block_size=k, method=method, seed=0, maxiter=200)
            assert info == 0 and np.allclose(x, 1)
    expect(lambda: sketch_solve(A, b, block_size=2**63, seed=0), "block_size")
    expect(lambda: sketch_solve(A, b, block_size=2**70, seed=0), "block_size")


@case
def optimize_huge_block_size():
    from scipy.optimize import LinearConstraint

    from itercore.optimize import minimize

    con = LinearConstraint(np.ones((1, 4)), 1.0, 1.0)
    res = minimize(lambda x: x @ x, np.zeros(4), jac=lambda x: 2 * x, hess=lambda x: 2 * np.eye(4), constraints=con,
                   method="eal-sketch", seed=0, options={"block_size": 2**62})
    assert res.success and np.allclose(res.x, 0.25, atol=1e-6)
    expect(lambda: minimize(lambda x: x @ x, np.zeros(4), jac=lambda x: 2 * x, constraints=con,
                            options={"block_size": 2**64}), "block_size")


@case
def integers_beyond_the_core_types():
    from itercore import bcd, ot
    from itercore.completion import altmin
    from itercore.linalg import SORSmoother, sketch_solve, sor, sor_sweep, ssor_pcg

    A = poisson(4)
    b = np.ones(16)
    a = np.full(4, 0.25)
    M = np.random.default_rng(0).random((4, 4))
    big = (2**31, 2**63, 2**64, -(2**63) - 1, 10**30)
    for v in big:
        expect(lambda: sor(A, b, n_threads=v), "n_threads")
        expect(lambda: sketch_solve(A, b, n_threads=v, seed=0), "n_threads")
        expect(lambda: ot.entropic(a, a, M, 0.1, n_threads=v), "n_threads")
        expect(lambda: altmin(sp.csr_matrix(A), 1, n_threads=v), "n_threads")
        expect(lambda: bcd.lasso(np.eye(4), np.ones(4), 0.1, n_threads=v), "n_threads")
        if v >= 2**63 or v < 0:
            expect(lambda: sor(A, b, maxiter=v), "maxiter")
            expect(lambda: ssor_pcg(A, b, maxiter=v), "maxiter")
            expect(lambda: sor_sweep(A, np.zeros(16), b, iterations=v), "iterations")
            expect(lambda: SORSmoother(A)(np.zeros(16), b, iterations=v), "iterations")
            expect(lambda: ot.entropic(a, a, M, 0.1, maxiter=v), "maxiter")
            expect(lambda: ot.entropic(a, a, M, 0.1, max_newton=v), "max_newton")
            expect(lambda: altmin(sp.csr_matrix(A), 1, maxiter=v), "maxiter")
            expect(lambda: bcd.lasso(np.eye(4), np.ones(4), 0.1, maxiter=v), "maxiter")
            expect(lambda: bcd.minimize(bcd.Quadratic(A, b), maxiter=v), "maxiter")
            expect(lambda: bcd.minimize(bcd.Quadratic(A, b), block_size=v), "block_size")
            expect(lambda: sketch_solve(A, b, maxiter=v, seed=0), "maxiter")
            expect(lambda: sor(A, b, options={"check_every": v}), "check_every")
    expect(lambda: altmin(sp.csr_matrix(A), 2**40), "rank")


@case
def ragged_lists_and_flags():
    from itercore import bcd, ot
    from itercore.linalg import sor

    A = poisson(3)
    expect(lambda: sor(A, [[1, 2], [3]]), "b")
    expect(lambda: ot.entropic([0.5, [0.5]], [0.5, 0.5], np.eye(2), 0.1), "a")
    expect(lambda: ot.entropic([0.5, 0.5], [0.5, 0.5], [[0, 1], [1]], 0.1), "M")
    expect(lambda: ot.entropic([0.5, 0.5], [0.5, 0.5], np.eye(2), 0.1, history=np.ones(3)), "history")
    expect(lambda: bcd.lasso(np.eye(3), np.ones(3), 0.1, active_set_newton=np.ones(2)), "active_set_newton")
    expect(lambda: sor(A, np.ones(9), omega="fast"), "omega")
    expect(lambda: sor(A, np.ones(9), rtol=float("nan")), "rtol")


@case
def optimize_user_functions_wrong_output():
    from itercore.optimize import minimize

    from scipy.optimize import LinearConstraint

    con = {"type": "eq", "fun": lambda x: np.array([x.sum() - 1]), "jac": lambda x: np.ones((1, 3))}
    x0 = np.zeros(3)
    ok = dict(jac=lambda x: 2 * x, hess=lambda x: 2 * np.eye(3), constraints=con)
    lin = dict(ok, constraints=LinearConstraint(np.ones((1, 3)), 1.0, 1.0))  # hess is used (no BFGS)
    expect(lambda: minimize(lambda x: "one", x0, **ok), "fun")
    expect(lambda: minimize(lambda x: np.ones(3), x0, **ok), "fun")
    expect(lambda: minimize(lambda x: x @ x, x0, **dict(ok, jac=lambda x: "grad")), "jac")
    expect(lambda: minimize(lambda x: x @ x, x0, **dict(ok, jac=lambda x: np.ones(5))), "jac")
    expect(lambda: minimize(lambda x: x @ x, x0, **dict(ok, jac=lambda x: [1, [2, 3]])), "jac")
    expect(lambda: minimize(lambda x: x @ x, x0, **dict(lin, hess=lambda x: np.eye(2))), "hess")
    expect(lambda: minimize(lambda x: x @ x, x0, **dict(lin, hess=lambda x: {"a": 1})), "hess")
    expect(lambda: minimize(lambda x: x @ x, x0, **dict(lin, hess=lambda x: corrupt_csrs(3, 3)[0][1])), "hess")
    bad_con = dict(con, jac=lambda x: np.ones((2, 3)))
    expect(lambda: minimize(lambda x: x @ x, x0, **dict(ok, constraints=bad_con)), "constraints[0]")
    bad_con = dict(con, jac=lambda x: corrupt_csrs(1, 3)[2][1])
    expect(lambda: minimize(lambda x: x @ x, x0, **dict(ok, constraints=bad_con)), "constraints[0]")
    bad_con = dict(con, fun=lambda x: "zero")
    expect(lambda: minimize(lambda x: x @ x, x0, **dict(ok, constraints=bad_con)), "constraints[0]")


# --- honest success -------------------------------------------------------------------------

@case
def ot_float32_success_is_honest():
    """success=True only when the marginal error of the returned plan, recomputed in float64, is <= tol."""
    from itercore import ot
    from itercore._problems import ot_points

    lies = []
    for seed in range(12):
        for reg, method in ((1e-4, "sns"), (3e-4, "sns"), (1e-4, "sinkhorn"), (3e-4, "sinkhorn")):
            a, b, M = ot_points(30, 35, seed=seed, dtype=np.float32)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = ot.entropic(a, b, M, reg, method=method, maxiter=3000)
            P = res.plan.astype(np.float64)
            err = np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()
            if res.success and not err <= 1e-5:
                lies.append((seed, reg, method, err))
            assert res.success == (res.status == 0)
    assert not lies, f"success=True with the recomputed marginal error above tol: {lies}"


@case
def lasso_success_is_honest():
    from itercore import bcd

    rng = np.random.default_rng(0)
    for scale_x, scale_y in ((1e300, 1.0), (1.0, 1e12), (1e150, 1e150), (1e-150, 1.0)):
        X = rng.standard_normal((30, 50)) * scale_x
        y = rng.standard_normal(30) * scale_y
        alpha = 0.1 * np.max(np.abs(X.T @ y)) / 30 if np.isfinite(np.max(np.abs(X.T @ y))) else 1.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bcd.lasso(X, y, alpha, tol=1e-10)
        if res.success:
            assert res.optimality <= 1e-10, (scale_x, scale_y, res.optimality)
            # recomputed independently, in extended steps to avoid overflow
            s = max(np.abs(X).max(), 1e-300)
            Xs, ys = X / s, y
            r = ys - Xs @ (res.x * s)
            assert np.isfinite(r).all()


@case
def ssor_preconditioner_non_finite():
    from itercore.linalg import ssor_preconditioner

    A = poisson(4)
    P = ssor_preconditioner(A)
    for bad in (np.nan, np.inf, -np.inf):
        r = np.ones(16)
        r[3] = bad
        expect(lambda: P.matvec(r), "SSOR preconditioner", types=(ValueError,))
    expect(lambda: ssor_preconditioner(A * 1e-310), "A", types=(ValueError,), match="diagonal")


@case
def denormal_diagonal():
    from itercore.linalg import SORSmoother, sor, ssor_pcg

    A = poisson(4) * 1e-310
    for call in (lambda: sor(A, np.ones(16)), lambda: ssor_pcg(A, np.ones(16)), lambda: SORSmoother(A)):
        expect(call, "A", types=(ValueError,), match="diagonal")


@case
def sweep_overflow_is_not_silent():
    from itercore.linalg import SORSmoother, sor_sweep

    A = sp.csr_matrix(np.array([[1.0, 1e300], [1e300, 1.0]]))
    x = np.ones(2)
    try:
        sor_sweep(A, x, np.ones(2), iterations=5)
    except FloatingPointError as exc:
        assert "overflow" in str(exc)
    else:
        raise AssertionError(f"sor_sweep returned {x} silently")
    x = np.ones(2)
    try:
        SORSmoother(A, omega=1.9)(x, iterations=5)
    except FloatingPointError:
        pass
    else:
        raise AssertionError(f"SORSmoother returned {x} silently")


@case
def sor_overflow_is_a_status():
    from itercore.linalg import sor

    A = sp.csr_matrix(np.array([[1.0, 1e300], [1e300, 1.0]]))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        x, info = sor(A, np.ones(2), maxiter=50)
    assert info != 0 and np.isfinite(x).all() and seen


# --- runner -------------------------------------------------------------------------------

def main(names):
    for name in names:
        print(json.dumps({"case": name, "event": "start"}), flush=True)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                CASES[name]()
            out = {"case": name, "event": "end", "ok": True, "detail": ""}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = {"case": name, "event": "end", "ok": False, "detail": f"{type(exc).__name__}: {exc}"[:2000]}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(CASES))
