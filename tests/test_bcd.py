"""itercore.bcd: greedy block rules, forest message passing, label propagation and the lasso,
each checked against a brute-force NumPy/SciPy reference (and scikit-learn where installed)."""

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from itercore import ConvergenceWarning, _core, _pipeline, bcd
from itercore._problems import lattice_weights
from itercore.bcd._label_propagation import _graph_laplacian
from itercore.bcd._partition import fixed_partition
from contract import assert_interruptible, raises_naming

CONVERGED, MAX_ITER, CALLBACK_STOP = _pipeline.CONVERGED, _pipeline.MAX_ITER, _pipeline.CALLBACK_STOP


# --- fixtures -------------------------------------------------------------------


def lattice_problem(N, frac=0.1, seed=0):
    W = lattice_weights(N)
    rng = np.random.default_rng(seed)
    labels = -np.ones(N * N, dtype=np.int64)
    idx = rng.choice(N * N, max(2, int(frac * N * N)), replace=False)
    labels[idx] = rng.integers(0, 2, idx.size)
    labels[idx[0]], labels[idx[1]] = 0, 1
    return W, labels


def lp_system(W, labels, weight=1.0):
    deg = np.asarray(W.sum(axis=1)).ravel()
    lab = labels >= 0
    A = (sp.diags(deg + weight * lab) - W).tocsr()
    y = np.where(lab, np.where(labels == 1, 1.0, -1.0), 0.0)
    return A, weight * y


def random_spd(n, density, seed):
    rng = np.random.default_rng(seed)
    B = sp.random(n, n, density=density, random_state=rng, format="csr")
    B = B + B.T
    d = np.asarray(abs(B).sum(axis=1)).ravel() + rng.uniform(0.5, 2.0, n)
    return (B + sp.diags(d)).tocsr(), rng.standard_normal(n)


def random_tree_matrix(n, seed):
    """A symmetric positive definite matrix whose graph is a random tree."""
    rng = np.random.default_rng(seed)
    parent = np.array([rng.integers(0, i) for i in range(1, n)])
    w = rng.uniform(-1.0, 1.0, n - 1)
    E = sp.coo_matrix((w, (np.arange(1, n), parent)), shape=(n, n))
    E = (E + E.T).tocsr()
    d = np.asarray(abs(E).sum(axis=1)).ravel() + rng.uniform(0.1, 1.0, n)
    return (E + sp.diags(d)).tocsr()


def csr_args(M):
    return (M.shape[0], M.indptr, M.indices, M.data)


def partition(q, blocks, block_size=1, lattice_shape=None):
    """The fixed partition (ptr, idx) the solvers form for the quadratic ``q``."""
    return fixed_partition(blocks, q.n, block_size, lipschitz=q.A.diagonal, A=q.A, lattice_shape=lattice_shape)


def quadratic_options(**fields):
    return _pipeline.make_options(_core.bcd.QuadraticOptions, fields)


# --- greedy rules against brute force ---------------------------------------------

def _blocks_of(ptr, idx):
    return [idx[ptr[k]:ptr[k + 1]] for k in range(len(ptr) - 1)]


@pytest.mark.parametrize("rule", ["gs", "gsl", "gsq"])
@pytest.mark.parametrize("block_size", [1, 4])
def test_greedy_rule_picks_brute_force_argmax(rule, block_size):
    A, b = random_spd(40, 0.1, seed=1)
    A.sort_indices()
    q = bcd.Quadratic(A, b)
    ptr, idx = partition(q, "sorted", block_size)
    rng = np.random.default_rng(2)
    Ad = A.toarray()
    for trial in range(5):
        x = rng.standard_normal(40)
        g = A @ x - b
        scores = []
        for blk in _blocks_of(ptr, idx):
            gb = g[blk]
            Abb = Ad[np.ix_(blk, blk)]
            if rule == "gs":
                s = gb @ gb
            elif rule == "gsl":
                s = gb @ gb / np.linalg.eigvalsh(Abb).max()  # L_b = lambda_max(A_bb), the paper's
            else:
                s = gb @ np.linalg.solve(Abb, gb)
            scores.append(s)
        got = _core._testing.bcd_greedy_block(*csr_args(A), b, x, g, ptr, idx, quadratic_options(rule=rule))
        assert got == int(np.argmax(scores)), (trial, got, np.argmax(scores))


def test_gsq_on_forest_blocks_uses_message_passing_and_matches_brute_force():
    W = lattice_weights(6, 7)
    A = (sp.diags(np.asarray(W.sum(1)).ravel() + 0.5) - W).tocsr()
    A.sort_indices()
    b = np.random.default_rng(3).standard_normal(42)
    q = bcd.Quadratic(A, b)
    ptr, idx = partition(q, "forest")
    assert len(ptr) - 1 >= 2
    Ad = A.toarray()
    rng = np.random.default_rng(4)
    for _ in range(5):
        x = rng.standard_normal(42)
        g = A @ x - b
        scores = [g[k] @ np.linalg.solve(Ad[np.ix_(k, k)], g[k]) for k in _blocks_of(ptr, idx)]
        opts = quadratic_options(rule="gsq", update="message-passing")
        got = _core._testing.bcd_greedy_block(*csr_args(A), b, x, g, ptr, idx, opts)
        assert got == int(np.argmax(scores))


# --- forest message passing -------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forest_solve_equals_dense_solve(seed):
    n = 300
    A = random_tree_matrix(n, seed)
    rng = np.random.default_rng(seed)
    block = rng.permutation(n)[:200].astype(np.int64)  # a sub-forest of a tree is a forest
    rhs = rng.standard_normal(200)
    got = _core._testing.bcd_forest_solve(*csr_args(A), block, rhs)
    ref = np.linalg.solve(A.toarray()[np.ix_(block, block)], rhs)
    assert np.max(np.abs(got - ref)) <= 1e-12 * max(1.0, np.max(np.abs(ref)))


def test_forest_solve_refuses_a_cycle():
    A = (lattice_weights(3) * -1.0 + sp.diags(np.full(9, 5.0))).tocsr()
    block = np.array([0, 1, 3, 4], dtype=np.int64)  # a 4-cycle of the lattice
    with pytest.raises(ValueError, match="not a forest"):
        _core._testing.bcd_forest_solve(*csr_args(A), block, np.ones(4))
    # and minimize refuses message passing on blocks that are not forests
    q = bcd.Quadratic(A, np.ones(9))
    with raises_naming(ValueError, "blocks", match="not a forest"):
        bcd.minimize(q, blocks="order", block_size=5, update="message-passing")


def test_lattice_partition_is_two_trees():
    for shape in [(5, 5), (6, 9), (7, 4), (1, 5), (5, 1)]:
        f = bcd.lattice_forests(shape)
        W = lattice_weights(*shape)
        assert set(np.unique(f)) <= {0, 1}
        for c in (0, 1):
            nodes = np.flatnonzero(f == c)
            sub = W[nodes][:, nodes]
            ncomp = sp.csgraph.connected_components(sub, directed=False)[0]
            assert sub.nnz // 2 == len(nodes) - ncomp  # edges = nodes - components: a forest


# --- label propagation ---------------------------------------------------------------

@pytest.mark.parametrize("blocks, update, rule", [
    ("greedy-forest", "message-passing", "gsl"),
    ("lattice", "message-passing", "cyclic"),
    ("lattice", "message-passing", "gsq"),
    ("red-black", "message-passing", "cyclic"),
    ("forest", "message-passing", "gs"),
    ("order", "gradient", "gsl"),
])
def test_label_propagation_equals_spsolve(blocks, update, rule):
    N = 24
    W, labels = lattice_problem(N)
    A, y = lp_system(W, labels)
    ref = sla.spsolve(A.tocsc(), y)
    res = bcd.label_propagation(W, labels, blocks=blocks, update=update, rule=rule, tol=1e-12,
                                lattice_shape=(N, N), maxiter=10**7, method="bcd")
    assert res.success
    assert np.max(np.abs(res.x - ref)) <= 1e-8
    assert np.array_equal(res.labels, (ref > 0).astype(int))
    assert np.linalg.norm(A @ res.x - y) <= 1e-12 * np.linalg.norm(y) * 1.01


def test_label_propagation_multiclass_one_vs_rest():
    N = 12
    W = lattice_weights(N)
    labels = -np.ones(N * N, dtype=np.int64)
    labels[[0, N - 1, N * N - 1]] = [0, 1, 2]
    res = bcd.label_propagation(W, labels, tol=1e-12, maxiter=10**5)
    assert res.x.shape == (N * N, 3)
    deg = np.asarray(W.sum(1)).ravel()
    A = (sp.diags(deg + (labels >= 0)) - W).tocsc()
    for c in range(3):
        y = np.where(labels >= 0, np.where(labels == c, 1.0, -1.0), 0.0)
        assert np.max(np.abs(res.x[:, c] - sla.spsolve(A, y))) <= 1e-8
    assert res.labels[0] == 0 and res.labels[N - 1] == 1 and res.labels[-1] == 2


def test_label_propagation_multiclass_callback_stop_keeps_every_class():
    N = 12
    W = lattice_weights(N)
    labels = -np.ones(N * N, dtype=np.int64)
    labels[[0, N - 1, N * N - 1]] = [0, 1, 2]
    calls = []

    def stop(intermediate):
        calls.append(intermediate.x)
        raise StopIteration

    res = bcd.label_propagation(W, labels, tol=1e-12, callback=stop)
    assert len(calls) == 1 and res.status == CALLBACK_STOP and not res.success
    assert res.x.shape == (N * N, 3) and res.labels.shape == (N * N,)
    assert np.array_equal(res.x[:, 0], calls[0]) and not res.x[:, 1:].any()  # classes 1, 2 not started


def test_forest_blocks_beat_red_black_and_coordinates():
    """The paper's headline on a lattice: fewer sweeps with tree blocks."""
    N = 40
    W, labels = lattice_problem(N, frac=0.02)
    kw = dict(tol=1e-6, lattice_shape=(N, N), maxiter=10**7, method="bcd")
    lat = bcd.label_propagation(W, labels, blocks="lattice", rule="cyclic", **kw)
    rb = bcd.label_propagation(W, labels, blocks="red-black", rule="cyclic", **kw)
    gf = bcd.label_propagation(W, labels, blocks="greedy-forest", **kw)
    assert lat.success and rb.success and gf.success
    assert lat.nit < 0.7 * rb.nit  # two-tree sweeps vs red-black sweeps, both 2 blocks/sweep
    assert gf.nit < 0.7 * rb.nit


def test_label_propagation_errors():
    W, labels = lattice_problem(5)
    with raises_naming(ValueError, "labels"):
        bcd.label_propagation(W, labels[:-1])
    with raises_naming(TypeError, "labels"):
        bcd.label_propagation(W, labels.astype(float))
    with raises_naming(ValueError, "labels", match="at least one"):
        bcd.label_propagation(W, -np.ones(25, dtype=int))
    with raises_naming(ValueError, "W", match="symmetric"):
        bcd.label_propagation(sp.triu(W).tocsr(), labels)
    with raises_naming(ValueError, "W", match="non-negative"):
        bcd.label_propagation(-W, labels)
    with raises_naming(ValueError, "weight"):
        bcd.label_propagation(W, labels, weight=0.0)
    two = sp.block_diag([W, W]).tocsr()
    lab2 = np.concatenate([labels, -np.ones(25, dtype=int)])
    with raises_naming(ValueError, "labels", match="component"):
        bcd.label_propagation(two, lab2)
    res = bcd.label_propagation(two, lab2, reg=1e-3)
    assert res.success
    with raises_naming(ValueError, "lattice_shape"):
        bcd.label_propagation(W, labels, blocks="lattice", update="message-passing", rule="cyclic")


# --- CG preconditioned by a symmetric forest-block sweep (forest_pcg, method="cg") ----

def _dense_block_ssor(A, ptr, idx, omega):
    """M = (D/w + L) (D/w)^-1 (D/w + U) for the block partition, formed densely (reference)."""
    n = A.shape[0]
    blk = np.empty(n, dtype=int)
    for k in range(len(ptr) - 1):
        blk[idx[ptr[k]:ptr[k + 1]]] = k
    Ad = A.toarray()
    same = blk[:, None] == blk[None, :]
    D = np.where(same, Ad, 0.0) / omega
    L = np.where(blk[:, None] > blk[None, :], Ad, 0.0)
    return (D + L) @ np.linalg.solve(D, D + L.T)


@pytest.mark.parametrize("blocks, omega", [("ordered-forest", 1.0), ("ordered-forest", 1.4), ("lattice", 1.0),
                                           ("red-black", 1.0), ("forest", 0.8), ("coloring", 1.2)])
def test_forest_preconditioner_is_block_ssor(blocks, omega):
    """The preconditioner applied by the core equals the dense block SSOR formula, and is SPD."""
    for A in (lp_system(*lattice_problem(6, frac=0.2))[0], random_spd(40, 0.08, 31)[0]):
        n = A.shape[0]
        q = bcd.Quadratic(A, np.ones(n))
        if blocks in ("lattice", "red-black") and n != 36:
            continue  # lattice partitions need the 6 x 6 grid
        ptr, idx = partition(q, blocks, 1, (6, 6))
        # column i: M^-1 e_i
        Minv = _core._testing.bcd_forest_preconditioner(*csr_args(q.A), ptr, idx, omega, np.eye(n)).T
        M = _dense_block_ssor(q.A, ptr, idx, omega)
        assert np.allclose(Minv @ M, np.eye(n), atol=1e-10)
        assert np.allclose(Minv, Minv.T, atol=1e-12)
        assert np.linalg.eigvalsh((Minv + Minv.T) / 2).min() > 0


@pytest.mark.parametrize("blocks", ["ordered-forest", "lattice", "red-black", "forest", "order"])
@pytest.mark.parametrize("omega", [1.0, 1.5])
def test_forest_pcg_label_propagation_equals_spsolve(blocks, omega):
    N = 24
    W, labels = lattice_problem(N)
    A, y = lp_system(W, labels)
    ref = sla.spsolve(A.tocsc(), y)
    res = bcd.label_propagation(W, labels, blocks=blocks, rule="cyclic", omega=omega, tol=1e-12,
                                lattice_shape=(N, N), method="cg")
    assert res.success
    assert np.max(np.abs(res.x - ref)) <= 1e-8
    assert np.linalg.norm(A @ res.x - y) <= 1e-12 * np.linalg.norm(y)
    assert res.nit < 100  # CG iterations; plain BCD needs hundreds of sweeps here


def test_forest_pcg_random_graph_equals_spsolve_and_beats_bcd():
    A, b = random_spd(400, 0.01, 32)
    ref = sla.spsolve(A.tocsc(), b)
    q = bcd.Quadratic(A, b)
    for blocks in ("ordered-forest", "forest", "coloring"):
        res = bcd.minimize(q, method="cg", blocks=blocks, tol=1e-12)
        assert res.success and np.max(np.abs(res.x - ref)) <= 1e-8
        assert np.linalg.norm(A @ res.x - b) <= 1e-12 * np.linalg.norm(b)
        plain = bcd.minimize(q, blocks=blocks, rule="cyclic", update="message-passing", tol=1e-12)
        n_blocks = len(partition(q, blocks)[0]) - 1
        assert res.nit < plain.nit / n_blocks  # CG iterations < BCD sweeps
    # the default of label_propagation on a lattice is this method
    W, labels = lattice_problem(16)
    Al, yl = lp_system(W, labels)
    res = bcd.label_propagation(W, labels, tol=1e-12)
    assert res.success and np.max(np.abs(res.x - sla.spsolve(Al.tocsc(), yl))) <= 1e-8


@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_graph_laplacian_equals_scipy(index, rng):
    """D - W + diag(extra), built by inserting the diagonal into -W, equals scipy's
    arithmetic, also when W stores diagonal entries and explicit zeros."""
    W = sp.random(60, 60, density=0.1, random_state=3, format="csr")
    W = (W + W.T).tocsr()
    W.setdiag(rng.random(60))  # a stored diagonal: ignored
    W.data[::7] = 0.0  # explicit zeros: dropped
    W.indptr, W.indices = W.indptr.astype(index), W.indices.astype(index)
    extra = rng.random(60)
    Wc, A = _graph_laplacian(W, extra)
    W0 = W.copy()
    W0.setdiag(0.0)
    W0.eliminate_zeros()
    ref = (sp.diags(np.asarray(W0.sum(axis=1)).ravel() + extra) - W0).tocsr()
    ref.sort_indices()
    assert A.has_sorted_indices and A.indices.dtype.kind == "i"
    assert np.array_equal(A.indptr, ref.indptr) and np.array_equal(A.indices, ref.indices)
    assert np.allclose(A.data, ref.data, rtol=0, atol=1e-14)
    assert Wc.nnz == W0.nnz and not (Wc.diagonal() != 0).any()


def test_symmetry_check_catches_values_and_pattern():
    A = sp.random(40, 40, density=0.1, random_state=4, format="csr")
    S = (A + A.T + sp.identity(40) * 10).tocsr()
    bcd.Quadratic(S, np.ones(40))  # symmetric: accepted
    bcd.Quadratic(S.astype(np.float32), np.ones(40))
    V = S.copy()
    V.data[np.flatnonzero(V.indices != np.repeat(np.arange(40), np.diff(V.indptr)))[0]] += 1e-6
    with raises_naming(ValueError, "A", match="symmetric"):
        bcd.Quadratic(V, np.ones(40))  # same pattern, one value off
    P = S.tolil()
    P[0, 39] = 1.0  # stored on one side only
    with raises_naming(ValueError, "A", match="symmetric"):
        bcd.Quadratic(P.tocsr(), np.ones(40))


def test_forest_pcg_iteration_count_callback_and_maxiter():
    """nit counts the updates of x; the callback sees each iterate once; a budget
    that runs out warns with the achieved residual."""
    W, labels = lattice_problem(20)
    A, y = lp_system(W, labels)
    q = bcd.Quadratic(A, y)
    seen, reported = [], []

    def cb(intermediate):
        seen.append(np.linalg.norm(A @ intermediate.x - y) / np.linalg.norm(y))
        reported.append((intermediate.nit, intermediate.optimality))

    res = bcd.minimize(q, method="cg", blocks="ordered-forest", tol=1e-10, callback=cb)
    assert res.success and len(seen) == res.nit and seen[-1] <= 1e-10
    assert [nit for nit, _ in reported] == list(range(1, res.nit + 1))
    assert np.allclose([opt for _, opt in reported], seen, rtol=1e-8)  # the optimality measure of that iterate
    with pytest.warns(ConvergenceWarning, match="relative residual"):
        short = bcd.forest_pcg(q, blocks="ordered-forest", tol=1e-10, maxiter=3)
    assert short.nit == 3 and not short.success
    assert np.isclose(short.optimality, np.linalg.norm(A @ short.x - y) / np.linalg.norm(y), rtol=1e-8)
    assert np.isclose(short.optimality, seen[2], rtol=1e-8)  # the same iterate as the third callback


def test_forest_pcg_errors():
    A, b = random_spd(30, 0.1, 33)
    q = bcd.Quadratic(A, b)
    cg = dict(method="cg", blocks="ordered-forest")
    with raises_naming(ValueError, "method", match="'cg'"):
        bcd.minimize(q, method="chebyshev", blocks="ordered-forest")
    for bad in (0.0, 2.0, -1.0, np.nan):
        with raises_naming(ValueError, "omega"):
            bcd.minimize(q, omega=bad, **cg)
    with raises_naming(TypeError, "omega"):
        bcd.minimize(q, omega="fast", **cg)
    with raises_naming(ValueError, "blocks"):
        bcd.minimize(q, method="cg", blocks="greedy-forest")
    # forest_pcg has no rule, update or history: the dispatcher does not swallow them
    for knob in (dict(update="gradient"), dict(update="message-passing"), dict(rule="cyclic"), dict(history=True),
                 dict(n_threads=2), dict(seed=0)):
        with raises_naming(TypeError, next(iter(knob))):
            bcd.minimize(q, **cg, **knob)
    with raises_naming(ValueError, "blocks", match="not a forest"):
        bcd.minimize(q, method="cg", blocks="order", block_size=10)
    with raises_naming(ValueError, "l1"):
        bcd.minimize(bcd.Quadratic(A, b, l1=0.1), **cg)
    with raises_naming(TypeError, "problem", match="method='cg'"):
        bcd.minimize(bcd.Logistic(np.ones((4, 2)), [0, 1, 0, 1]), method="cg")
    with raises_naming(ValueError, "maxiter"):
        bcd.minimize(q, maxiter=-1, **cg)
    W, labels = lattice_problem(5)
    with raises_naming(ValueError, "method"):
        bcd.label_propagation(W, labels, method="yes")
    with raises_naming(ValueError, "omega"):
        bcd.label_propagation(W, labels, omega=2.5)
    with raises_naming(ValueError, "update", match="method='cg'"):
        bcd.label_propagation(W, labels, method="cg", update="gradient")
    with pytest.warns(ConvergenceWarning, match="relative residual"):
        r = bcd.minimize(q, maxiter=1, tol=1e-14, **cg)
    assert r.nit == 1 and not r.success and r.status == MAX_ITER


# --- rules x updates on least squares; quadratic with L1 and bounds ------------------

@pytest.mark.parametrize("rule", bcd.RULES)
@pytest.mark.parametrize("update", ["gradient", "matrix", "newton"])
@pytest.mark.parametrize("blocks", ["order", "sorted", "balanced", "variable"])
def test_least_squares_all_rules_and_updates(rule, update, blocks):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((120, 30)) * rng.uniform(0.2, 3.0, 30)
    y = rng.standard_normal(120)
    if blocks == "variable" and rule in ("cyclic", "random", "lipschitz"):
        with raises_naming(ValueError, "rule", match="chosen greedily"):
            bcd.minimize(bcd.LeastSquares(X, y), rule=rule, blocks=blocks, update=update)
        return
    res = bcd.minimize(bcd.LeastSquares(X, y), rule=rule, blocks=blocks, block_size=4, update=update, seed=0,
                       tol=1e-10, maxiter=10**6)
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    assert res.success
    assert np.max(np.abs(res.x - ref)) <= 1e-8
    assert abs(res.fun - 0.5 * np.sum((y - X @ ref) ** 2) / 120) <= 1e-12


def test_greedy_rules_need_fewer_iterations_than_cyclic():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((300, 60)) * np.exp(rng.uniform(-2, 2, 60))
    y = rng.standard_normal(300)
    # a check every update: counts not rounded up to whole sweeps
    nit = {r: bcd.minimize(bcd.LeastSquares(X, y), rule=r, blocks="sorted", block_size=5, update="matrix",
                           tol=1e-6, maxiter=10**6, seed=0, options={"check_every": 1}).nit
           for r in ("cyclic", "gs", "gsl", "gsq")}
    assert nit["gsq"] <= nit["gs"] and nit["gsl"] < nit["cyclic"], nit


def test_quadratic_with_lower_bounds_matches_lbfgsb():
    from scipy.optimize import minimize as sp_minimize

    A, b = random_spd(60, 0.08, seed=7)
    lower = np.where(np.arange(60) % 3 == 0, 0.0, -np.inf)
    res = bcd.minimize(bcd.Quadratic(A, b, lower=lower), rule="gsl", blocks="order", tol=1e-11, maxiter=10**6)
    ref = sp_minimize(lambda x: (0.5 * x @ (A @ x) - b @ x, A @ x - b), np.zeros(60), jac=True, method="L-BFGS-B",
                      bounds=[(lo if np.isfinite(lo) else None, None) for lo in lower],
                      options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10000})
    assert res.success and np.all(res.x >= lower)
    assert res.fun <= ref.fun + 1e-10
    assert np.max(np.abs(res.x - ref.x)) <= 1e-5


def _prox_gradient_reference(A, b, l1, lower, iters=20000):
    """FISTA on 1/2 x'Ax - b'x + l1 |x|_1, x >= lower (dense NumPy, step 1/||A||)."""
    Ad = A.toarray()
    L = np.linalg.eigvalsh(Ad).max()
    x = y = np.zeros(len(b))
    t = 1.0
    for _ in range(iters):
        z = y - (Ad @ y - b) / L
        xn = np.maximum(np.sign(z) * np.maximum(np.abs(z) - l1 / L, 0.0), lower)
        tn = (1 + np.sqrt(1 + 4 * t * t)) / 2
        y = xn + (t - 1) / tn * (xn - x)
        x, t = xn, tn
    return x


@pytest.mark.parametrize("update, rule, blocks", [("matrix", "cyclic", "order"), ("newton", "gsq", "sorted"),
                                                   ("matrix", "gsl", "variable")])
def test_quadratic_l1_bounds_proximal_matrix_step_matches_reference(update, rule, blocks):
    A, b = random_spd(60, 0.08, seed=7)
    lower = np.where(np.arange(60) % 3 == 0, 0.0, -np.inf)
    ref = _prox_gradient_reference(A, b, 0.05, lower)
    q = bcd.Quadratic(A, b, l1=0.05, lower=lower)
    res = bcd.minimize(q, rule=rule, blocks=blocks, block_size=6, update=update, tol=1e-12, maxiter=10**5)
    grad = bcd.minimize(q, rule=rule if blocks != "variable" else "gsl", blocks=blocks, block_size=6,
                        update="gradient", tol=1e-12, maxiter=10**6)
    assert res.success and np.all(res.x >= lower)
    assert np.max(np.abs(res.x - ref)) <= 1e-9
    assert abs(res.fun - q.fun(ref)) <= 1e-12 * max(1.0, abs(res.fun))
    assert res.nit < grad.nit  # exact block subproblems: fewer block updates than 1/L_b steps
    assert (res.x == 0).sum() >= 5  # the L1 term does make zeros


def test_least_squares_l1_via_minimize_matches_lasso():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((80, 25))
    y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(80)
    alpha = 0.05
    a = bcd.minimize(bcd.LeastSquares(X, y, l1=alpha), rule="gs", blocks="order", tol=1e-12, maxiter=10**6)
    b_ = bcd.lasso(X, y, alpha, tol=1e-14)
    assert a.success and b_.success
    assert np.max(np.abs(a.x - b_.x)) <= 1e-8
    assert a.gap <= 1e-10


# --- lasso ----------------------------------------------------------------------------

def _gap(X, y, w, alpha):
    n = len(y)
    r = y - X @ w
    lam = n * alpha
    c = np.max(np.abs(X.T @ r))
    s = min(1.0, lam / c)
    primal = 0.5 * r @ r + lam * np.abs(w).sum()
    dual = s * (y @ r) - 0.5 * s * s * (r @ r)
    return primal / n, (primal - dual) / n


@pytest.fixture(scope="module")
def diabetes3():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.datasets import load_diabetes
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    X, y = load_diabetes(return_X_y=True)
    X = PolynomialFeatures(3, include_bias=False).fit_transform(X)
    X = StandardScaler().fit_transform(X)
    # 'sex' takes two values, so its powers are +-copies of it after scaling: keep
    # one column of each +-duplicate group, or the lasso's minimiser is not unique
    keep, seen = [], set()
    for j in range(X.shape[1]):
        key = tuple(np.round(X[:, j] * np.sign(X[0, j] or 1.0), 10))
        if key not in seen:
            seen.add(key)
            keep.append(j)
    X = X[:, keep]
    y = y - y.mean()
    return np.asfortranarray(X), y


@pytest.mark.parametrize("div", [20, 100])
def test_lasso_matches_sklearn_and_gap_is_a_certificate(diabetes3, div):
    from sklearn.linear_model import Lasso

    X, y = diabetes3
    n = len(y)
    alpha = np.max(np.abs(X.T @ y)) / n / div
    res = bcd.lasso(X, y, alpha, tol=1e-12)
    assert res.success
    fun, gap = _gap(X, y, res.x, alpha)
    assert abs(fun - res.fun) <= 1e-12 * fun
    assert abs(gap - res.gap) <= 1e-9 * fun and gap <= 1e-11 * (0.5 * y @ y / n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=200000).fit(X, y)
    sk_fun = 0.5 * np.sum((y - X @ sk.coef_) ** 2) / n + alpha * np.abs(sk.coef_).sum()
    # the certificate: no point (here scikit-learn's) is better than fun - gap
    assert sk_fun >= fun - gap - 1e-12 * fun
    assert abs(sk_fun - fun) <= 1e-9 * fun
    assert np.max(np.abs(sk.coef_ - res.x)) <= 1e-4 * np.max(np.abs(res.x))
    assert np.array_equal(sk.coef_ != 0, res.x != 0) or np.sum((sk.coef_ != 0) != (res.x != 0)) <= 2


@pytest.mark.parametrize("rule, newton", [("gs-r", True), ("gs-r", False), ("cyclic", True), ("cyclic", False)])
def test_lasso_sparse_equals_dense_and_reference(rule, newton):
    rng = np.random.default_rng(9)
    Xs = sp.random(300, 500, density=0.05, random_state=rng, format="csr")
    y = Xs @ np.where(rng.random(500) < 0.02, rng.standard_normal(500), 0.0) + 0.01 * rng.standard_normal(300)
    alpha = np.max(np.abs(Xs.T @ y)) / 300 / 30
    a = bcd.lasso(Xs, y, alpha, tol=1e-12, rule=rule, active_set_newton=newton)
    d = bcd.lasso(Xs.toarray(), y, alpha, tol=1e-12, rule=rule, active_set_newton=newton)
    assert a.success and d.success
    assert np.max(np.abs(a.x - d.x)) <= 1e-6 * np.max(np.abs(d.x))
    fun, gap = _gap(Xs.toarray(), y, a.x, alpha)
    assert gap <= 1e-12 * (0.5 * y @ y / 300) * 1.01


def test_lasso_alpha_max_gives_zero_and_warm_start():
    rng = np.random.default_rng(10)
    X, y = rng.standard_normal((50, 80)), rng.standard_normal(50)
    amax = np.max(np.abs(X.T @ y)) / 50
    res = bcd.lasso(X, y, amax * 1.0001)
    assert res.success and not res.x.any() and res.nit == 0
    a = bcd.lasso(X, y, amax / 10, tol=1e-12)
    b = bcd.lasso(X, y, amax / 10, x0=a.x, tol=1e-12)
    assert b.nit <= 1 and np.max(np.abs(a.x - b.x)) <= 1e-10


@pytest.fixture(scope="module")
def diabetes3_sklearn_100(diabetes3):
    """alpha = alpha_max / 100 and scikit-learn's objective there (computed once)."""
    from sklearn.linear_model import Lasso

    X, y = diabetes3
    n = len(y)
    alpha = np.max(np.abs(X.T @ y)) / n / 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=200000).fit(X, y)
    return alpha, 0.5 * np.sum((y - X @ sk.coef_) ** 2) / n + alpha * np.abs(sk.coef_).sum()


@pytest.mark.parametrize("anderson", [0, 5])
@pytest.mark.parametrize("newton", [True, False])
@pytest.mark.parametrize("gram_limit", [0, 2048])
def test_lasso_paths_reach_the_recomputed_gap_and_sklearn(diabetes3, diabetes3_sklearn_100, anderson, newton,
                                                          gram_limit):
    """Every inner path (residual CD: gram_limit=0; Gram CD), with and without Anderson
    extrapolation and Newton line-search steps, reaches the gap recomputed in NumPy and
    scikit-learn's objective, on the ill-conditioned diabetes cubic features."""
    X, y = diabetes3
    n = len(y)
    alpha, sk_fun = diabetes3_sklearn_100
    res = bcd.lasso(X, y, alpha, tol=1e-10, active_set_newton=newton,
                    options={"anderson": anderson, "gram_limit": gram_limit})
    assert res.success
    fun, gap = _gap(X, y, res.x, alpha)
    assert gap <= 1.01e-10 * (0.5 * y @ y / n) and abs(gap - res.gap) <= 1e-9 * fun
    assert (res.n_newton > 0) == newton and (res.n_extrapolations > 0) == (anderson > 0)
    assert sk_fun >= fun - gap - 1e-12 * fun and abs(sk_fun - fun) <= 1e-8 * fun


@pytest.mark.parametrize("sparse", [False, True])
def test_lasso_duplicate_and_negated_columns(sparse):
    """Exact duplicates (and negated copies) make G_SS singular: the regularised Newton
    direction with its line search still lowers the objective and the answer is certified."""
    rng = np.random.default_rng(21)
    B = rng.standard_normal((60, 40))
    X = np.hstack([B, B[:, :10], -B[:, 10:20], 2.0 * B[:, 20:25]])
    y = B[:, :12] @ rng.standard_normal(12) + 0.1 * rng.standard_normal(60)
    alpha = np.max(np.abs(X.T @ y)) / 60 / 200
    Xa = sp.csc_matrix(X) if sparse else np.asfortranarray(X)
    res = bcd.lasso(Xa, y, alpha, tol=1e-12)
    assert res.success and res.n_newton > 0
    fun, gap = _gap(X, y, res.x, alpha)
    assert gap <= 1.01e-12 * (0.5 * y @ y / 60)
    # the reference: the same problem without the copies (a copy c x_j costs |w| / c per unit of fit)
    ref = bcd.lasso(np.hstack([B[:, :20], B[:, 20:25] * 2.0, B[:, 25:]]), y, alpha, tol=1e-13)
    assert abs(ref.fun - fun) <= 1e-10 * fun
    # the weight sits on the cheapest copy: the doubled columns, not their originals
    assert not np.any(res.x[20:25]) or np.all(np.abs(res.x[20:25]) <= 1e-12)


def test_lasso_matches_celer_and_skglm_when_installed():
    celer = pytest.importorskip("celer")
    rng = np.random.default_rng(11)
    X, y = rng.standard_normal((100, 200)), rng.standard_normal(100)
    alpha = np.max(np.abs(X.T @ y)) / 100 / 10
    res = bcd.lasso(X, y, alpha, tol=1e-13)
    ref = celer.Lasso(alpha=alpha, fit_intercept=False, tol=1e-14).fit(X, y).coef_
    f = lambda w: 0.5 * np.sum((y - X @ w) ** 2) / 100 + alpha * np.abs(w).sum()  # noqa: E731
    assert f(res.x) <= f(ref) + 1e-12


# --- the shared contract --------------------------------------------------------------

def test_float32_in_float32_out_and_index_types():
    W, labels = lattice_problem(10)
    A, y = lp_system(W, labels)
    A.sort_indices()
    ref = sla.spsolve(A.tocsc(), y)
    for dt in (np.float32, np.float64):
        for it in (np.int32, np.int64):
            M = sp.csr_matrix((A.data.astype(dt), A.indices.astype(it), A.indptr.astype(it)), shape=A.shape)
            res = bcd.minimize(bcd.Quadratic(M, y.astype(dt)), blocks="lattice", lattice_shape=(10, 10),
                               update="message-passing", rule="cyclic", tol=1e-6)
            assert res.x.dtype == dt
            assert np.max(np.abs(res.x - ref)) <= 1e-4
    rng = np.random.default_rng(12)
    X = rng.standard_normal((40, 10)).astype(np.float32)
    yy = rng.standard_normal(40).astype(np.float32)
    assert bcd.lasso(X, yy, 0.01).x.dtype == np.float32
    assert bcd.lasso(sp.csr_matrix(X), yy, 0.01).x.dtype == np.float32
    assert bcd.minimize(bcd.LeastSquares(X, yy)).x.dtype == np.float32


def test_non_contiguous_input():
    rng = np.random.default_rng(13)
    big = rng.standard_normal((80, 40))
    X = big[::2, ::2]  # non-contiguous view
    y = rng.standard_normal(80)[::2]
    a = bcd.lasso(X, y, 0.01, tol=1e-12)
    b = bcd.lasso(np.ascontiguousarray(X), np.ascontiguousarray(y), 0.01, tol=1e-12)
    assert np.array_equal(a.x, b.x)
    A, bb = random_spd(20, 0.2, 14)
    x0 = np.zeros(40)[::2]
    r = bcd.minimize(bcd.Quadratic(A, np.repeat(bb, 2)[::2]), x0=x0, tol=1e-10)
    assert r.success


def test_wrong_shapes_and_names():
    A, b = random_spd(10, 0.3, 15)
    with raises_naming(ValueError, "b"):
        bcd.Quadratic(A, b[:-1])
    with raises_naming(ValueError, "A"):
        bcd.Quadratic(sp.random(10, 12, density=0.3, format="csr"), b)
    with raises_naming(ValueError, "A", match="symmetric"):
        bcd.Quadratic(sp.triu(A).tocsr(), b)
    with raises_naming(ValueError, "x0"):
        bcd.minimize(bcd.Quadratic(A, b), x0=np.zeros(9))
    with raises_naming(ValueError, "y"):
        bcd.lasso(np.ones((5, 3)), np.ones(4), 0.1)
    with raises_naming(ValueError, "y"):
        bcd.LeastSquares(np.ones((5, 3)), np.ones(4))
    with raises_naming(ValueError, "X"):
        bcd.lasso(np.ones(5), np.ones(5), 0.1)
    with raises_naming(ValueError, "lower"):
        bcd.Quadratic(A, b, lower=np.full(10, np.nan))


def test_invalid_names_list_the_valid_ones():
    A, b = random_spd(10, 0.3, 16)
    q = bcd.Quadratic(A, b)
    with raises_naming(ValueError, "rule", match="'gsl'"):
        bcd.minimize(q, rule="best")
    with raises_naming(ValueError, "update", match="'message-passing'"):
        bcd.minimize(q, update="exact")
    with raises_naming(ValueError, "blocks", match="'greedy-forest'"):
        bcd.minimize(q, blocks="trees")
    with raises_naming(ValueError, "rule", match="'gs-r'"):
        bcd.lasso(np.ones((5, 3)), np.ones(5), 0.1, rule="gsl")
    with raises_naming(ValueError, "update", match="message-passing"):
        bcd.minimize(bcd.Quadratic(A, b, l1=0.1), update="message-passing", blocks="forest")
    with raises_naming(ValueError, "update", match="forest"):
        bcd.minimize(q, blocks="variable", block_size=3, update="message-passing")
    with raises_naming(TypeError, "problem"):
        bcd.minimize(object())
    with raises_naming(ValueError, "alpha"):
        bcd.lasso(np.ones((5, 3)), np.ones(5), -1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_is_refused(bad):
    A, b = random_spd(10, 0.3, 17)
    b2 = b.copy()
    b2[3] = bad
    with raises_naming(ValueError, "b", match="finite"):
        bcd.Quadratic(A, b2)
    A2 = A.copy()
    A2.data[0] = bad
    with raises_naming(ValueError, "A", match="finite"):
        bcd.Quadratic(A2, b)
    X = np.ones((5, 3))
    X[1, 1] = bad
    with raises_naming(ValueError, "X", match="finite"):
        bcd.lasso(X, np.ones(5), 0.1)
    y = np.ones(5)
    y[0] = bad
    with raises_naming(ValueError, "y", match="finite"):
        bcd.lasso(np.ones((5, 3)), y, 0.1)


def test_empty_input():
    with raises_naming(ValueError, "A", match="empty"):
        bcd.Quadratic(sp.csr_matrix((0, 0)), np.zeros(0))
    with raises_naming(ValueError, "X", match="empty"):
        bcd.lasso(np.zeros((0, 3)), np.zeros(0), 0.1)
    with raises_naming(ValueError, "W", match="empty"):
        bcd.label_propagation(sp.csr_matrix((0, 0)), np.zeros(0, dtype=int))


def test_zero_iterations_returns_start_and_warns():
    A, b = random_spd(10, 0.3, 18)
    x0 = np.linspace(0, 1, 10)
    with pytest.warns(ConvergenceWarning, match="tol"):
        r = bcd.minimize(bcd.Quadratic(A, b), x0=x0, maxiter=0)
    assert r.nit == 0 and np.array_equal(r.x, x0) and not r.success
    with pytest.warns(ConvergenceWarning, match="duality gap"):
        r = bcd.lasso(np.random.default_rng(0).standard_normal((10, 5)), np.arange(10.0), 0.01, maxiter=0)
    assert r.nit == 0 and not r.x.any()


def test_callback_stop_iteration():
    W, labels = lattice_problem(20)
    calls = []

    def cb(intermediate):
        calls.append(intermediate.x)
        if len(calls) == 3:
            raise StopIteration

    res = bcd.label_propagation(W, labels, blocks="red-black", rule="cyclic", lattice_shape=(20, 20), callback=cb)
    assert len(calls) == 3 and res.status == CALLBACK_STOP and not res.success
    assert np.array_equal(calls[-1], res.x)
    assert not np.array_equal(calls[0], calls[-1])  # copies: the core kept iterating after the first

    def boom(intermediate):
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback"):
        bcd.label_propagation(W, labels, callback=boom)
    rng = np.random.default_rng(19)
    X, y = rng.standard_normal((60, 200)), rng.standard_normal(60)
    seen = []

    def cb2(intermediate):
        seen.append(intermediate)
        raise StopIteration

    res = bcd.lasso(X, y, 0.001, callback=cb2)
    assert len(seen) == 1 and res.status == CALLBACK_STOP
    assert seen[0].nit == res.nit == 1 and np.array_equal(seen[0].x, res.x)
    assert seen[0].optimality == res.optimality and abs(seen[0].fun - res.fun) <= 1e-15 * res.fun


def test_seed_reproducibility():
    A, b = random_spd(50, 0.1, 20)
    q = bcd.Quadratic(A, b)
    warnings.simplefilter("ignore", ConvergenceWarning)  # 200 updates do not converge
    for rule in ("random", "lipschitz"):
        a = bcd.minimize(q, rule=rule, seed=3, maxiter=200, block_size=2, blocks="order")
        c = bcd.minimize(q, rule=rule, seed=3, maxiter=200, block_size=2, blocks="order")
        d = bcd.minimize(q, rule=rule, seed=4, maxiter=200, block_size=2, blocks="order")
        assert np.array_equal(a.x, c.x)
        assert not np.array_equal(a.x, d.x)
    g = np.random.default_rng(5)
    e = bcd.minimize(q, rule="random", seed=g, maxiter=100)
    assert np.all(np.isfinite(e.x))


def test_history_is_the_objective_per_iteration():
    rng = np.random.default_rng(21)
    X, y = rng.standard_normal((50, 12)), rng.standard_normal(50)
    p = bcd.LeastSquares(X, y)
    with pytest.warns(ConvergenceWarning):
        res = bcd.minimize(p, rule="gsl", blocks="order", block_size=3, history=True, maxiter=20, tol=0.0)
    assert res.history.shape == (21,)
    assert np.all(np.diff(res.history) <= 1e-14)
    assert abs(res.history[-1] - res.fun) <= 1e-12
    assert abs(res.history[0] - p.fun(np.zeros(12))) <= 1e-12


def test_ctrl_c_interrupts_message_passing_on_greedy_forests():
    # (the other bcd paths are in the shared contract, tests/test_contract.py)
    W, labels = lattice_problem(200)
    A, y = lp_system(W, labels)
    q = bcd.Quadratic(A, y)
    assert_interruptible(lambda: bcd.minimize(q, blocks="greedy-forest", update="message-passing", tol=0.0,
                                              maxiter=10**9))


def test_threads_do_not_change_the_lasso_answer():
    rng = np.random.default_rng(24)
    Xs = sp.random(2000, 3000, density=0.2, random_state=rng, format="csr")  # > 1e6 stored: threaded
    y = rng.standard_normal(2000)
    alpha = np.max(np.abs(Xs.T @ y)) / 2000 / 4
    a = bcd.lasso(Xs, y, alpha, tol=1e-10, n_threads=1)
    b = bcd.lasso(Xs, y, alpha, tol=1e-10, n_threads=2)
    assert np.max(np.abs(a.x - b.x)) <= 1e-8 * np.max(np.abs(a.x))


# --- logistic and softmax ----------------------------------------------------------------

@pytest.fixture(scope="module")
def breast_cancer():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    return np.hstack([X, np.ones((X.shape[0], 1))]), y


def _lbfgs(fun_grad, x0):
    from scipy.optimize import minimize as sp_minimize

    return sp_minimize(fun_grad, x0, jac=True, method="L-BFGS-B",
                       options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 20000, "maxcor": 30})


@pytest.mark.parametrize("rule, update, block_size", [
    ("cyclic", "newton", 5), ("gsq", "matrix", 5), ("gsl", "gradient", 1), ("cyclic", "matrix", 31)])
def test_logistic_matches_lbfgs(breast_cancer, rule, update, block_size):
    X, y = breast_cancer
    n = len(y)
    l2 = 1e-2
    ys = np.where(y == 1, 1.0, -1.0)

    def fg(w):
        z = X @ w
        f = np.mean(np.logaddexp(0.0, -ys * z)) + 0.5 * l2 * w @ w
        s = -ys / (1.0 + np.exp(ys * z))
        return f, X.T @ s / n + l2 * w

    ref = _lbfgs(fg, np.zeros(X.shape[1]))
    res = bcd.minimize(bcd.Logistic(X, y, l2=l2), rule=rule, update=update, blocks="sorted", block_size=block_size,
                       tol=1e-9, maxiter=10**6)
    assert res.success
    assert abs(res.fun - ref.fun) <= 1e-6 * max(1.0, abs(ref.fun))
    assert res.fun <= ref.fun + 1e-9
    assert abs(res.fun - fg(res.x)[0]) <= 1e-12


def test_logistic_l1_matches_proximal_reference(breast_cancer):
    X, y = breast_cancer
    X = X[:, [0, 1, 4, 7, 8, 10, 20, 21, 27, 30]]  # fewer, less collinear features: a quick proximal solve
    l1 = 0.01
    res = bcd.minimize(bcd.Logistic(X, y, l1=l1), rule="gsl", update="gradient", blocks="order", tol=1e-9,
                       maxiter=10**6)
    assert res.success and 0 < np.count_nonzero(res.x) < X.shape[1]
    # optimality conditions checked directly
    ys = np.where(y == 1, 1.0, -1.0)
    g = X.T @ (-ys / (1.0 + np.exp(ys * (X @ res.x)))) / len(y)
    nz = res.x != 0
    assert np.max(np.abs(g[nz] + l1 * np.sign(res.x[nz]))) <= 1e-8
    assert np.max(np.abs(g[~nz])) <= l1 + 1e-8


def test_softmax_matches_lbfgs_on_digits():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X[:300] / 16.0
    y = y[:300]
    n, p = X.shape
    K = 10
    l2 = 1e-2
    Y = np.eye(K)[y]

    def fg(wf):
        W = wf.reshape(p, K)
        Z = X @ W
        lse = np.logaddexp.reduce(Z, axis=1)
        P = np.exp(Z - lse[:, None])
        f = np.mean(lse - Z[np.arange(n), y]) + 0.5 * l2 * np.sum(W * W)
        return f, (X.T @ (P - Y) / n + l2 * W).ravel()

    ref = _lbfgs(fg, np.zeros(p * K))
    for kw in (dict(rule="cyclic", update="matrix", block_size=8), dict(rule="gsq", update="matrix", block_size=16)):
        # ||grad||_inf <= 1e-6 bounds f - f* by p K 1e-12 / (2 l2) < 4e-8 (l2-strong convexity)
        res = bcd.minimize(bcd.Softmax(X, y, l2=l2), blocks="sorted", tol=1e-6, maxiter=10**6, **kw)
        assert res.success and res.x.shape == (p, K)
        assert abs(res.fun - ref.fun) <= 1e-6 * max(1.0, abs(ref.fun))
        assert abs(res.fun - fg(res.x.ravel())[0]) <= 1e-12
    one_hot = bcd.minimize(bcd.Softmax(X, Y, l2=l2), blocks="sorted", update="matrix", block_size=8, tol=1e-6)
    assert abs(one_hot.fun - ref.fun) <= 1e-6


def test_logistic_softmax_errors_and_contract():
    rng = np.random.default_rng(30)
    X = rng.standard_normal((40, 6))
    y = (X[:, 0] > 0).astype(int)
    lg = bcd.Logistic(X, y, l2=0.1)
    with raises_naming(ValueError, "update", match="Quadratic"):
        bcd.minimize(lg, update="message-passing")
    with raises_naming(ValueError, "blocks"):
        bcd.minimize(lg, blocks="greedy-forest")
    with raises_naming(ValueError, "y", match="two distinct"):
        bcd.Logistic(X, np.arange(40))
    with raises_naming(ValueError, "rule", match="greedily"):  # variable feature blocks need a greedy rule
        bcd.minimize(bcd.LeastSquares(X, y, l1=0.1), update="matrix", blocks="variable", rule="cyclic")
    with raises_naming(ValueError, "update"):
        bcd.minimize(bcd.Softmax(X, y), update="newton")
    with raises_naming(TypeError, "Y"):
        bcd.Softmax(X, y.astype(float))
    with raises_naming(ValueError, "Y"):
        bcd.Softmax(X, np.ones((40, 3)))
    with raises_naming(ValueError, "X", match="finite"):
        X2 = X.copy()
        X2[0, 0] = np.nan
        bcd.Logistic(X2, y)
    with raises_naming(ValueError, "x0"):
        bcd.minimize(lg, x0=np.zeros(5))
    # float32 in, float32 out; non-contiguous input; zero iterations; callback stop; seeds
    r32 = bcd.minimize(bcd.Logistic(X.astype(np.float32), y, l2=0.1), tol=1e-6)
    assert r32.x.dtype == np.float32
    rnc = bcd.minimize(bcd.Logistic(np.asfortranarray(X)[:, ::1], y, l2=0.1), tol=1e-9)
    rc = bcd.minimize(lg, tol=1e-9)
    assert np.max(np.abs(rnc.x - rc.x)) <= 1e-12
    with pytest.warns(ConvergenceWarning):
        r0 = bcd.minimize(lg, maxiter=0)
    assert r0.nit == 0 and not r0.x.any()
    seen = []

    def cb(intermediate):
        seen.append(intermediate.x.shape)
        raise StopIteration

    r = bcd.minimize(lg, callback=cb)
    assert seen == [(6,)] and r.status == CALLBACK_STOP
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = bcd.minimize(lg, rule="random", seed=1, maxiter=7)
        b = bcd.minimize(lg, rule="random", seed=1, maxiter=7)
        c = bcd.minimize(lg, rule="random", seed=2, maxiter=7)
    assert np.array_equal(a.x, b.x) and not np.array_equal(a.x, c.x)


# --- L1 logistic: duality gap, proximal matrix / Newton updates, sparse X ----------------

def _logistic_parts(X, ys, w, l1, l2):
    """Primal value and the duality gap of ``w``, computed independently of the core."""
    n = len(ys)
    z = X @ w
    primal = np.mean(np.logaddexp(0.0, -ys * z)) + 0.5 * l2 * w @ w + l1 * np.abs(w).sum()
    s = 1.0 / (1.0 + np.exp(ys * z))  # sigmoid(-y z): the dual variable is u = y s / n
    v = X.T @ (ys * s) / n  # X^T u, the negative loss gradient

    def dual(c):
        a = c * s
        ent = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)
        ent += np.where(a < 1, (1 - a) * np.log(np.where(a < 1, 1 - a, 1.0)), 0.0)
        d = -np.mean(ent)
        if l2 > 0:
            d -= np.sum(np.maximum(c * np.abs(v) - l1, 0.0) ** 2) / (2 * l2)
        elif np.abs(c * v).max() > l1 * (1 + 1e-12):
            return -np.inf
        return d

    cmax = min(1.0, l1 / np.abs(v).max()) if np.abs(v).max() > 0 else 1.0
    return primal, primal - max(dual(cmax), dual(1.0))


def _l1_logistic_reference(X, ys, l1, l2):
    """min loss(u - v) + l1 sum(u + v) + l2/2 ||u - v||^2 over u, v >= 0 by L-BFGS-B (smooth, bounded)."""
    from scipy.optimize import minimize as sp_minimize

    n, p = X.shape

    def fg(uv):
        w = uv[:p] - uv[p:]
        z = X @ w
        f = np.mean(np.logaddexp(0.0, -ys * z)) + 0.5 * l2 * w @ w + l1 * uv.sum()
        g = X.T @ (-ys / (1.0 + np.exp(ys * z))) / n + l2 * w
        return f, np.concatenate([g + l1, -g + l1])

    r = sp_minimize(fg, np.zeros(2 * p), jac=True, method="L-BFGS-B", bounds=[(0, None)] * (2 * p),
                    options={"ftol": 1e-16, "gtol": 1e-12, "maxiter": 50000, "maxcor": 30})
    return r.fun, r.x[:p] - r.x[p:]


@pytest.fixture(scope="module")
def l1_logistic(breast_cancer):
    X, y = breast_cancer
    X = X[:, [0, 1, 4, 7, 8, 10, 20, 21, 27, 30]]
    return X, y, np.where(y == 1, 1.0, -1.0)


@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_logistic_l1_gap_is_a_certificate(l1_logistic, l2):
    X, y, ys = l1_logistic
    l1 = 0.01
    fstar, _ = _l1_logistic_reference(X, ys, l1, l2)
    prob = bcd.Logistic(X, y, l1=l1, l2=l2)
    for maxiter in (3, 40, None):  # loose iterates too: the gap must bound f - f* everywhere
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            kw = dict(update="gradient") if maxiter else dict(update="newton", block_size=5)
            res = bcd.minimize(prob, rule="cyclic", blocks="order", tol=1e-12, maxiter=maxiter, **kw)
        fun, gap = _logistic_parts(X, ys, res.x, l1, l2)
        assert abs(res.fun - fun) <= 1e-13
        assert abs(res.gap - gap) <= 1e-12 + 1e-9 * gap
        assert res.gap >= 0 and abs(res.optimality - res.gap / np.log(2)) <= 1e-15
        assert res.fun - fstar <= res.gap + 1e-12
        if maxiter == 3:
            assert res.gap > 1e-6  # far from the optimum: a real gap, not zero
    assert res.success and res.gap <= 1e-12 * np.log(2)
    assert res.fun <= fstar + 1e-12


@pytest.fixture(scope="module")
def l1_logistic_gradient_solution(l1_logistic):
    X, y, ys = l1_logistic
    return bcd.minimize(bcd.Logistic(X, y, l1=0.01), rule="cyclic", update="gradient", blocks="order", tol=1e-13,
                        maxiter=10**6)


@pytest.mark.parametrize("update, rule, block_size", [
    ("matrix", "cyclic", 3), ("newton", "cyclic", 3), ("newton", "gsl", 5), ("matrix", "gsq", 2), ("newton", "gs", 10)])
def test_logistic_l1_prox_matrix_newton_reach_the_gradient_optimum(l1_logistic, l1_logistic_gradient_solution,
                                                                   update, rule, block_size):
    X, y, ys = l1_logistic
    l1 = 0.01
    prob = bcd.Logistic(X, y, l1=l1)
    ref = l1_logistic_gradient_solution
    res = bcd.minimize(prob, rule=rule, update=update, blocks="sorted", block_size=block_size, tol=1e-13,
                       maxiter=10**6)
    assert ref.success and res.success
    assert abs(res.fun - ref.fun) <= 1e-12
    assert np.max(np.abs(res.x - ref.x)) <= 1e-5
    assert np.array_equal(res.x != 0, ref.x != 0)
    if update == "newton" and block_size == 10:  # one block: proximal Newton converges in a few steps
        assert res.nit <= 20


def test_logistic_l1_matches_sklearn_liblinear(l1_logistic):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression

    X, y, ys = l1_logistic
    n = len(y)
    l1 = 0.005
    res = bcd.minimize(bcd.Logistic(X, y, l1=l1), rule="gsl", update="newton", blocks="sorted", block_size=5,
                       tol=1e-12)
    # liblinear minimises ||w||_1 + C sum log(1 + exp(-y x^T w)): C = 1 / (n l1) is our scaling
    with warnings.catch_warnings():  # scikit-learn >= 1.8 deprecates penalty= in favour of l1_ratio=
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        sk = LogisticRegression(penalty="l1", solver="liblinear", C=1.0 / (n * l1), fit_intercept=False, tol=1e-10,
                                max_iter=10000).fit(X, y)
    sk_fun = bcd.Logistic(X, y, l1=l1).fun(sk.coef_.ravel())
    assert res.fun <= sk_fun + 1e-12
    assert sk_fun - res.fun <= 1e-6
    assert sk_fun >= res.fun - res.gap  # the certificate bounds every point


def test_least_squares_l1_matrix_newton_updates_match_lasso():
    rng = np.random.default_rng(8)
    X = rng.standard_normal((80, 25))
    y = X[:, :3] @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.standard_normal(80)
    alpha = 0.05
    ref = bcd.lasso(X, y, alpha, tol=1e-14)
    fun0, gap0 = _gap(X, y, ref.x, alpha)
    for update, Xin in (("matrix", X), ("newton", sp.csr_array(X))):
        res = bcd.minimize(bcd.LeastSquares(Xin, y, l1=alpha), rule="gsq", blocks="sorted", block_size=4,
                           update=update, tol=1e-13)
        assert res.success
        assert np.max(np.abs(res.x - ref.x)) <= 1e-8
        fun, gap = _gap(X, y, res.x, alpha)
        assert abs(res.fun - fun) <= 1e-12 and abs(res.gap - gap) <= 1e-12
        assert res.optimality <= 1e-13


def _sparse_design(n, p, density, seed):
    rng = np.random.default_rng(seed)
    Xs = sp.random(n, p, density=density, random_state=rng, format="csc")
    Xs.data = rng.standard_normal(Xs.nnz)
    return Xs, rng


@pytest.mark.parametrize("kw", [
    dict(l2=0.01, update="gradient", rule="gsl", block_size=1),
    dict(l2=0.01, update="newton", rule="cyclic", block_size=4),
    dict(l1=0.02, update="gradient", rule="cyclic", block_size=1),
    dict(l1=0.02, l2=0.001, update="matrix", rule="gsq", block_size=3),
    dict(l1=0.02, update="newton", rule="random", block_size=4),
])
def test_logistic_sparse_equals_dense(kw):
    Xs, rng = _sparse_design(200, 30, 0.1, 40)
    y = (Xs @ rng.standard_normal(30) + 0.3 * rng.standard_normal(200) > 0).astype(int)
    kw = dict(kw)
    l1, l2 = kw.pop("l1", 0.0), kw.pop("l2", 0.0)
    out = []
    for Xin in (Xs, Xs.toarray(), Xs.tocsr(), sp.csc_array(Xs.astype(np.float32))):
        out.append(bcd.minimize(bcd.Logistic(Xin, y, l1=l1, l2=l2), blocks="sorted", tol=1e-12, seed=3,
                                maxiter=10**6, **kw))
    d = out[1]
    assert d.success
    for r in (out[0], out[2]):
        assert r.success and abs(r.fun - d.fun) <= 1e-12 and np.max(np.abs(r.x - d.x)) <= 1e-10
        assert abs(r.optimality - d.optimality) <= 1e-10
    assert out[3].x.dtype == np.float32


def test_softmax_sparse_equals_dense():
    Xs, rng = _sparse_design(150, 20, 0.15, 41)
    y = np.argmax(Xs @ rng.standard_normal((20, 4)), axis=1)
    for kw in (dict(update="matrix", rule="cyclic", block_size=3), dict(update="gradient", rule="gsq", block_size=2)):
        a = bcd.minimize(bcd.Softmax(Xs, y, l2=0.01), blocks="sorted", tol=1e-10, maxiter=10**6, **kw)
        b = bcd.minimize(bcd.Softmax(Xs.toarray(), y, l2=0.01), blocks="sorted", tol=1e-10, maxiter=10**6, **kw)
        assert a.success and b.success and a.x.shape == (20, 4)
        assert np.max(np.abs(a.x - b.x)) <= 1e-10 and abs(a.fun - b.fun) <= 1e-12
        assert abs(a.fun - bcd.Softmax(Xs, y, l2=0.01).fun(a.x)) <= 1e-12


def test_smooth_threads_do_not_change_the_answer():
    rng = np.random.default_rng(42)
    X = rng.standard_normal((2000, 500))  # 10^6 entries: at the threading threshold
    y = (X[:, :10].sum(1) > 0).astype(int)
    prob = bcd.Logistic(X, y, l1=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = bcd.minimize(prob, rule="gsl", maxiter=30, tol=0.0, n_threads=1)
        b = bcd.minimize(prob, rule="gsl", maxiter=30, tol=0.0, n_threads=2)
    assert np.array_equal(a.x, b.x) and a.gap == b.gap


def test_l1_logistic_active_set_newton_converges_in_fewer_sweeps(l1_logistic, l1_logistic_gradient_solution):
    X, y, ys = l1_logistic
    prob = bcd.Logistic(X, y, l1=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = bcd.minimize(prob, rule="cyclic", update="gradient", blocks="order", tol=1e-10, maxiter=20000,
                             active_set_newton=False)
    fast = bcd.minimize(prob, rule="cyclic", update="gradient", blocks="order", tol=1e-10, maxiter=20000)
    assert plain.n_newton == 0 and fast.n_newton >= 1
    assert fast.success and fast.nit < plain.nit / 3, (fast.nit, plain.nit)
    ref = l1_logistic_gradient_solution
    assert abs(fast.fun - ref.fun) <= 1e-10 and np.array_equal(fast.x != 0, ref.x != 0)
    # least squares on X: the Newton step on the identified support is the exact solve
    rng = np.random.default_rng(9)
    A = rng.standard_normal((60, 15))
    b = A[:, :3] @ np.array([1.0, -1.0, 2.0]) + 0.05 * rng.standard_normal(60)
    ls = bcd.minimize(bcd.LeastSquares(A, b, l1=0.05), update="matrix", rule="cyclic", blocks="order", tol=1e-14)
    assert ls.success and ls.n_newton >= 1
    assert np.max(np.abs(ls.x - bcd.lasso(A, b, 0.05, tol=1e-15).x)) <= 1e-10


def test_sparse_smooth_contract():
    Xs, rng = _sparse_design(400, 60, 0.1, 43)
    y = (Xs @ rng.standard_normal(60) > 0).astype(int)
    bad = Xs.copy()
    bad.data[0] = np.nan
    with raises_naming(ValueError, "X", match="finite"):
        bcd.Logistic(bad, y)
    with raises_naming(ValueError, "X"):
        bcd.Softmax(sp.csr_array((0, 5)), np.zeros(0, dtype=int))
    with raises_naming(ValueError, "X", match=r"\(400, 0\)"):  # the user's shape, not that of X^T
        bcd.Logistic(Xs[:, :0], y)
    inf = Xs.copy()
    inf.data[-1] = np.inf
    with raises_naming(ValueError, "X", match="finite"):
        bcd.Softmax(inf, y)
    with raises_naming(ValueError, "y"):
        bcd.Logistic(Xs, y[:-1])
    with raises_naming(ValueError, "Y"):
        bcd.Softmax(Xs, y[:-1])
    assert_interruptible(lambda: bcd.minimize(bcd.Logistic(Xs, y, l1=1e-4), rule="cyclic", update="newton",
                                              block_size=2, tol=0.0, maxiter=10**12, active_set_newton=False))
    seen = []

    def cb(intermediate):
        seen.append(intermediate.x.shape)
        raise StopIteration

    r = bcd.minimize(bcd.Softmax(Xs, rng.integers(0, 3, 400)), callback=cb)
    assert seen == [(60, 3)] and r.status == CALLBACK_STOP


# --- incremental greedy rules on sparse X ---------------------------------------------

def _smooth_case(kind, seed=44):
    """A small sparse problem (CSC X) of each smooth kind: logistic (L2 / L1), softmax, squares with L1."""
    Xs, rng = _sparse_design(300, 40, 0.08, seed)
    if kind == "softmax":
        y = np.argmax(Xs @ rng.standard_normal((40, 3)) + 0.3 * rng.standard_normal((300, 3)), axis=1)
        return bcd.Softmax(Xs, y, l2=0.01)
    if kind == "squares_l1":
        return bcd.LeastSquares(Xs, Xs @ rng.standard_normal(40) + 0.1 * rng.standard_normal(300), l1=0.01)
    y = (Xs @ rng.standard_normal(40) + 0.3 * rng.standard_normal(300) > 0).astype(int)
    return bcd.Logistic(Xs, y, l1=0.01) if kind == "logistic_l1" else bcd.Logistic(Xs, y, l2=0.01)


@pytest.mark.parametrize("kind,rule,update,block_size", [
    ("logistic_l2", "gs", "gradient", 1),
    ("logistic_l2", "gsl", "gradient", 3),
    ("logistic_l2", "gsq", "matrix", 4),
    ("logistic_l2", "gsl", "newton", 2),
    ("logistic_l1", "gs", "gradient", 1),
    ("logistic_l1", "gsl", "gradient", 3),
    ("logistic_l1", "gsq", "matrix", 4),
    ("logistic_l1", "gsl", "newton", 2),
    ("softmax", "gs", "gradient", 1),
    ("softmax", "gsl", "gradient", 2),
    ("softmax", "gsq", "matrix", 3),
    ("squares_l1", "gsq", "matrix", 2),
])
def test_sparse_incremental_greedy_equals_full_gradient_path(kind, rule, update, block_size):
    prob = _smooth_case(kind)
    nb = -(-40 // block_size)
    runs = {}
    for incremental in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            # 3.5 sweeps: the picks between checks use the incremental gradient and heap
            runs[incremental] = bcd.minimize(prob, rule=rule, update=update, blocks="sorted",
                                             block_size=block_size, tol=0.0, maxiter=3 * nb + nb // 2,
                                             options={"incremental_greedy": incremental})
    a, b = runs[True], runs[False]
    assert a.nit == b.nit == 3 * nb + nb // 2
    assert np.max(np.abs(a.x - b.x)) <= 1e-12 and abs(a.fun - b.fun) <= 1e-12, np.max(np.abs(a.x - b.x))
    assert np.any(a.x != 0)
    if kind == "logistic_l1" and rule == "gsl":  # int64 sparse indices (the core directly: scipy downcasts)
        Xt = prob.Xt
        ptr = np.arange(0, 41, block_size if block_size > 1 else 1, dtype=np.int64)
        ptr = np.unique(np.append(np.minimum(ptr, 40), 40))
        idx = np.arange(40, dtype=np.int64)
        out = []
        opts = _pipeline.make_options(_core.bcd.SmoothOptions, dict(
            rule=rule, update=update, tol=0.0, maxiter=50, check_every=ptr.size - 1, n_threads=1,
            active_set_newton=False))
        for it in (np.int32, np.int64):
            W = np.zeros((40, 1))
            _core.bcd.smooth_sparse(300, 40, Xt.indptr.astype(it), Xt.indices.astype(it), Xt.data, prob.y, W, 1,
                                    _core.bcd.SmoothLoss.logistic, prob.l1, 0.0, ptr, idx, opts, None)
            out.append(W)
        assert np.any(out[0] != 0) and np.array_equal(out[0], out[1])
    # and to convergence: the same answer, the same number of block updates
    for incremental in (True, False):
        runs[incremental] = bcd.minimize(prob, rule=rule, update=update, blocks="sorted", block_size=block_size,
                                         tol=1e-9, maxiter=10**5, options={"incremental_greedy": incremental})
    a, b = runs[True], runs[False]
    assert a.success and b.success and abs(a.nit - b.nit) <= 1, (a.nit, b.nit)
    assert np.max(np.abs(a.x - b.x)) <= 1e-8 and abs(a.fun - b.fun) <= 1e-12


def _smooth_grad_and_bound(prob, W):
    """NumPy reference for a smooth problem at W: the gradient X^T R / n + l2 W, the
    Hessian bound c X^T X / n + l2 I (its blocks are the L_b / H_b of the rules), W as (p, K)."""
    X = prob.Xt.T.toarray()
    n, p = X.shape
    W = W.reshape(p, -1)
    Z = X @ W
    if isinstance(prob, bcd.Softmax):
        P = np.exp(Z - Z.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        P[np.arange(n), prob.y.astype(int)] -= 1.0
        R, c = P, 0.5
    else:
        ys = np.asarray(prob.y, dtype=float)
        R, c = (-ys / (1.0 + np.exp(ys * Z[:, 0])))[:, None], 0.25
    return X.T @ R / n + prob.l2 * W, c * X.T @ X / n + prob.l2 * np.eye(p), W


def _brute_force_scores(prob, W, rule, block_size):
    """Greedy scores of the blocks of `blocks="order"` at W, in NumPy: the gradient,
    the proximal-gradient mapping with L1, L_b and H_b the diagonal blocks of the
    Hessian bound (`_smooth_grad_and_bound`)."""
    G, H, W = _smooth_grad_and_bound(prob, W)
    p = W.shape[0]
    scores = []
    for s in range(0, p, block_size):
        blk = np.arange(s, min(s + block_size, p))
        M = H[np.ix_(blk, blk)]
        L = np.linalg.eigvalsh(M)[-1]
        g, w = G[blk], W[blk]
        if prob.l1 > 0:
            g = L * (w - np.sign(w - g / L) * np.maximum(np.abs(w - g / L) - prob.l1 / L, 0.0))
        if rule == "gsq":
            scores.append(float(np.sum(g * np.linalg.solve(M, g))))
        else:
            scores.append(float(np.sum(g * g)) / (L if rule == "gsl" else 1.0))
    return np.array(scores)


@pytest.mark.parametrize("rule", ["gs", "gsl", "gsq"])
@pytest.mark.parametrize("kind,block_size", [("logistic_l2", 1), ("logistic_l1", 3), ("softmax", 2)])
def test_sparse_greedy_pick_is_brute_force_argmax_between_checks(rule, kind, block_size):
    """The block updated at iteration t + 1 (found by running t and t + 1 updates)
    is the argmax of the scores recomputed in NumPy at the t-th iterate; picks
    between two checks come from the incremental gradient and heap."""
    prob = _smooth_case(kind, seed=45)
    nb = -(-40 // block_size)
    kw = dict(rule=rule, blocks="order", block_size=block_size, tol=0.0, active_set_newton=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for t in (nb + 3, 2 * nb + nb // 2):
            Wt = bcd.minimize(prob, maxiter=t, **kw).x
            Wn = bcd.minimize(prob, maxiter=t + 1, **kw).x
            changed = np.flatnonzero(np.any((Wn != Wt).reshape(40, -1), axis=1))
            assert changed.size >= 1
            picked = int(changed[0]) // block_size
            assert np.all(changed // block_size == picked)
            scores = _brute_force_scores(prob, Wt, rule, block_size)
            assert scores[picked] >= scores.max() * (1 - 1e-10), (t, picked, int(np.argmax(scores)))
            assert picked == int(np.argmax(scores))


# --- the solve pipeline: options structs, rule tables, status, callbacks, keywords --------

OPTIONS = {"minimize_quadratic": _core.bcd.QuadraticOptions, "minimize_smooth": _core.bcd.SmoothOptions,
           "lasso": _core.bcd.LassoOptions, "forest_pcg": _core.bcd.ForestPcgOptions}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_signature_defaults_are_the_cxx_defaults(name):
    """Each public function's defaults for the fields of its core's options
    struct are the struct's own (read from the binding), and every field is
    documented there."""
    import inspect

    cls = OPTIONS[name]
    cxx = _pipeline.defaults(cls)
    checked = 0
    for key, param in inspect.signature(getattr(bcd, name)).parameters.items():
        if key in cls._fields and param.default is not None:
            want = getattr(cxx, key)
            assert param.default == getattr(want, "name", want), (key, param.default, want)
            checked += 1
    assert checked >= 2
    for field in cls._fields:
        assert getattr(cls, field).__doc__, field
    cls().check()  # the defaults pass their own check


def test_options_reach_the_struct_and_are_checked():
    A, b = random_spd(30, 0.1, 50)
    q = bcd.Quadratic(A, b)
    rng = np.random.default_rng(51)
    X = rng.standard_normal((40, 6))
    lg = bcd.Logistic(X, (X[:, 0] > 0).astype(int), l2=0.1)
    with raises_naming(TypeError, "incremental", match="'incremental_greedy'"):
        bcd.minimize(lg, options={"incremental": False})  # the closest field is named
    with raises_naming(TypeError, "rule", match="keyword"):
        bcd.minimize(lg, options={"rule": "gs"})
    with raises_naming(ValueError, "inner_passes"):
        bcd.minimize(lg, options={"inner_passes": 0})
    with raises_naming(ValueError, "ws_start"):
        bcd.lasso(X, X[:, 0], 0.1, options={"ws_start": 0})
    with raises_naming(TypeError, "check_every"):
        bcd.minimize(q, options={"check_every": "often"})
    with raises_naming(TypeError, "options"):
        bcd.lasso(X, X[:, 0], 0.1, options=[("ws_start", 5)])
    # check_every: one optimality check, hence one callback, per block update
    calls = []
    res = bcd.minimize(q, blocks="order", options={"check_every": 1}, callback=lambda r: calls.append(r.nit))
    assert res.success and calls == list(range(1, res.nit))  # the last check converged: no callback
    calls.clear()
    res = bcd.minimize(q, blocks="order", callback=lambda r: calls.append(r.nit))  # default: once per sweep
    assert res.success and calls == list(range(30, res.nit, 30))


def test_rule_tables_are_truthful():
    """RULES is what minimize accepts, LASSO_RULES what lasso accepts; together the C++ enum."""
    assert set(bcd.RULES) | set(bcd.LASSO_RULES) == set(_core.bcd.Rule.__members__)
    assert bcd.UPDATES == tuple(_core.bcd.Update.__members__)
    A, b = random_spd(20, 0.2, 52)
    rng = np.random.default_rng(53)
    X = rng.standard_normal((30, 5))
    problems = (bcd.Quadratic(A, b), bcd.Logistic(X, (X[:, 0] > 0).astype(int), l2=0.1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for rule in _core.bcd.Rule.__members__:
            for prob in problems:
                if rule in bcd.RULES:
                    assert bcd.minimize(prob, rule=rule, seed=0, maxiter=5).nit == 5
                else:
                    with raises_naming(ValueError, "rule", match="lasso"):
                        bcd.minimize(prob, rule=rule)
            if rule in bcd.LASSO_RULES:
                assert bcd.lasso(X, X[:, 0], 0.01, rule=rule).success
            else:
                with raises_naming(ValueError, "rule", match="'gs-r'"):
                    bcd.lasso(X, X[:, 0], 0.01, rule=rule)


def test_status_is_the_shared_int_table():
    A, b = random_spd(30, 0.1, 54)
    q = bcd.Quadratic(A, b)
    res = bcd.minimize(q)
    assert res.status == CONVERGED and res.success and res.message == _pipeline.STATUS[CONVERGED][1]
    with pytest.warns(ConvergenceWarning, match=r"max_iter.*optimality .* > tol 1\.0e-08"):
        res = bcd.minimize(q, maxiter=3)
    assert res.status == MAX_ITER and not res.success and isinstance(res.status, int)
    # a block system that is not positive definite (positive diagonal, indefinite block)
    bad = bcd.Quadratic(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([1.0, 1.0]))
    with pytest.warns(ConvergenceWarning, match="breakdown"):
        res = bcd.minimize(bad, blocks="variable", block_size=2, rule="gs", update="matrix")
    assert res.status == _pipeline.BREAKDOWN and "positive definite" in res.message
    with pytest.warns(ConvergenceWarning, match="breakdown"):
        res = bcd.forest_pcg(bad, blocks="order", block_size=1)
    assert res.status == _pipeline.BREAKDOWN and "positive definite" in res.message


def test_keyword_only_and_no_ignored_arguments():
    A, b = random_spd(20, 0.2, 55)
    q = bcd.Quadratic(A, b)
    X = np.random.default_rng(56).standard_normal((30, 5))
    W, labels = lattice_problem(5)
    for fn in (bcd.minimize, bcd.minimize_quadratic, bcd.forest_pcg):
        with pytest.raises(TypeError, match="positional"):
            fn(q, np.zeros(20))  # x0 is keyword-only
    with pytest.raises(TypeError, match="positional"):
        bcd.lasso(X, X[:, 0], 0.1, np.zeros(5))
    # the quadratic and forest-PCG cores are serial: no n_threads to ignore
    for call in (lambda: bcd.minimize(q, n_threads=2), lambda: bcd.minimize(q, method="cg", n_threads=2),
                 lambda: bcd.label_propagation(W, labels, n_threads=2)):
        with raises_naming(TypeError, "n_threads"):
            call()
    for old in ("accelerate", "newton", "record_history"):  # renamed: method, active_set_newton, history
        with raises_naming(TypeError, old):
            bcd.lasso(X, X[:, 0], 0.1, **{old: False})


def test_minimize_dispatches_to_the_core_functions():
    rng = np.random.default_rng(57)
    X = rng.standard_normal((60, 12))
    y = X[:, :3] @ np.ones(3) + 0.1 * rng.standard_normal(60)
    ls = bcd.LeastSquares(X, y, l1=0.05)
    kw = dict(rule="cyclic", blocks="order", block_size=3, tol=1e-12)
    on_x = bcd.minimize(ls, update="matrix", **kw)  # on X, certified by the lasso gap
    assert on_x.success and "n_newton" in on_x
    assert np.array_equal(on_x.x, bcd.minimize_smooth(ls, update="matrix", **kw).x)
    gram = bcd.minimize(ls, update="gradient", **kw)  # through the Gram matrix
    assert gram.success and "n_newton" not in gram and gram.gap <= 1e-10
    assert np.array_equal(gram.x, bcd.minimize_quadratic(ls, update="gradient", **kw).x)
    assert np.max(np.abs(gram.x - on_x.x)) <= 1e-8
    A, b = random_spd(40, 0.1, 58)
    q = bcd.Quadratic(A, b)
    assert np.array_equal(bcd.minimize(q, method="cg", blocks="forest").x, bcd.forest_pcg(q, blocks="forest").x)
    lg = bcd.Logistic(X, y > 0, l2=0.1)
    assert np.array_equal(bcd.minimize(lg).x, bcd.minimize_smooth(lg).x)
    with raises_naming(TypeError, "problem", match="minimize_smooth"):
        bcd.minimize_quadratic(lg)
    with raises_naming(TypeError, "problem", match="minimize_quadratic"):
        bcd.minimize_smooth(q)


def test_callbacks_get_an_intermediate_result_of_copies():
    """scipy's callback(intermediate_result): copies of x, nit, fun and the one
    optimality measure of the result, for every core."""
    rng = np.random.default_rng(59)
    A, b = random_spd(40, 0.1, 60)
    q = bcd.Quadratic(A, b)
    X = rng.standard_normal((50, 20))
    y = X[:, :4] @ np.ones(4) + 0.1 * rng.standard_normal(50)
    ls = bcd.LeastSquares(X, y)
    lg = bcd.Logistic(X, y > 0, l1=0.01)

    def rel_res(x):
        return np.linalg.norm(A @ x - b) / np.linalg.norm(b)

    def lasso_fun(w):
        return 0.5 * np.sum((y - X @ w) ** 2) / 50 + 0.001 * np.abs(w).sum()

    cases = [
        (lambda cb: bcd.minimize(q, callback=cb), q.fun, rel_res),
        (lambda cb: bcd.minimize(ls, blocks="order", callback=cb), ls.fun, None),  # fun: with the ||y||^2/2n offset
        (lambda cb: bcd.minimize(lg, rule="cyclic", callback=cb), lg.fun, None),
        (lambda cb: bcd.lasso(X, y, 0.001, tol=1e-14, rule="cyclic", active_set_newton=False, callback=cb),
         lasso_fun, None),
        (lambda cb: bcd.forest_pcg(q, blocks="forest", tol=1e-12, callback=cb), None, rel_res),
    ]
    for run, fun, measure in cases:
        seen = []
        res = run(seen.append)
        assert len(seen) >= 2, len(seen)
        assert [r.nit for r in seen] == sorted({r.nit for r in seen}) and seen[-1].nit <= res.nit
        assert not any(np.shares_memory(r.x, res.x) for r in seen)
        assert not np.array_equal(seen[0].x, seen[-1].x)  # each a copy of its own iterate
        for r in seen:
            assert r.x.shape == res.x.shape and np.isfinite(r.optimality)
            if fun is not None:
                assert abs(r.fun - fun(r.x)) <= 1e-12 * max(1.0, abs(r.fun)), (r.fun, fun(r.x))
            if measure is not None:
                assert abs(r.optimality - measure(r.x)) <= 1e-8 * r.optimality + 1e-15


# --- the paper's rules and updates (Nutini, Laradji & Schmidt 2022): GSD, GSQ by IHT, proximal GS-q, TMP ---------

def _prox_decrease(x, g, D, l1, lower):
    """-min_d g d + D/2 d^2 + l1 (|x + d| - |x|), x + d >= lower, coordinate-wise (NumPy)."""
    z = x - g / D
    z = np.sign(z) * np.maximum(np.abs(z) - l1 / D, 0.0)
    if lower is not None:
        z = np.maximum(z, lower)
    d = z - x
    return -(g * d + 0.5 * D * d * d + l1 * (np.abs(z) - np.abs(x)))


def _block_model_decrease(H, g, x, l1, lower, passes=300):
    """-min_d g^T d + 1/2 d^T H d + l1 (||x + d||_1 - ||x||_1), x + d >= lower, by NumPy coordinate descent."""
    d = np.zeros_like(g)
    for _ in range(passes):
        for q in range(g.size):
            r = g[q] + H[q] @ d - H[q, q] * d[q]  # the model's gradient without d_q's own term
            z = (x[q] - r / H[q, q])
            z = np.sign(z) * max(abs(z) - l1 / H[q, q], 0.0)
            if lower is not None:
                z = max(z, lower[q])
            d[q] = z - x[q]
    return -(g @ d + 0.5 * d @ H @ d + l1 * (np.abs(x + d).sum() - np.abs(x).sum()))


@pytest.mark.parametrize("constrained", [False, True])
def test_gsd_fixed_blocks_picks_the_numpy_argmax(constrained):
    """GSD on fixed blocks: sum_i g_i^2 / D_{b,i} with D_{b,i} = sum_{j in b} |A_ij| (twice the decrease of
    the diagonal proximal model with L1 / bounds)."""
    A, b = random_spd(40, 0.15, seed=61)
    A.sort_indices()
    q = bcd.Quadratic(A, b)
    ptr, idx = partition(q, "sorted", 4)
    Ad = A.toarray()
    l1, lower = (0.3, np.where(np.arange(40) % 2 == 0, 0.0, -np.inf)) if constrained else (0.0, None)
    rng = np.random.default_rng(62)
    for _ in range(6):
        x = rng.standard_normal(40)
        if constrained:
            x = np.maximum(x, lower)
            x[rng.random(40) < 0.3] = 0.0
        g = A @ x - b
        scores = []
        for blk in _blocks_of(ptr, idx):
            D = np.abs(Ad[np.ix_(blk, blk)]).sum(axis=1)
            scores.append(2 * _prox_decrease(x[blk], g[blk], D, l1, None if lower is None else lower[blk]).sum())
        got = _core._testing.bcd_greedy_block(*csr_args(A), b, x, g, ptr, idx, quadratic_options(rule="gsd"),
                                              l1, lower)
        assert got == int(np.argmax(scores)), (got, np.argmax(scores))
        if not constrained:
            assert np.allclose(scores, [g[k] @ (g[k] / np.abs(Ad[np.ix_(k, k)]).sum(1)) for k in _blocks_of(ptr, idx)])


def test_proximal_gsq_fixed_blocks_picks_the_largest_model_decrease():
    """With L1 and bounds, gsq scores the decrease of the exact block model (the proximal GS-q rule), here
    recomputed by NumPy coordinate descent on each block's subproblem."""
    A, b = random_spd(36, 0.15, seed=63)
    A.sort_indices()
    q = bcd.Quadratic(A, b)
    ptr, idx = partition(q, "order", 4)
    Ad = A.toarray()
    l1, lower = 0.4, np.where(np.arange(36) % 3 == 0, 0.0, -np.inf)
    rng = np.random.default_rng(64)
    for _ in range(4):
        x = np.maximum(rng.standard_normal(36), lower)
        x[rng.random(36) < 0.3] = 0.0
        g = A @ x - b
        scores = [2 * _block_model_decrease(Ad[np.ix_(k, k)], g[k], x[k], l1, lower[k]) for k in _blocks_of(ptr, idx)]
        got = _core._testing.bcd_greedy_block(*csr_args(A), b, x, g, ptr, idx, quadratic_options(rule="gsq"),
                                              l1, lower)
        assert got == int(np.argmax(scores)), (got, np.argmax(scores), sorted(scores)[-2:])
        # the mapping-norm score (the old rule) would pick differently at least sometimes; the pick is optimal here
        assert scores[got] >= max(scores) * (1 - 1e-9)


def _iht_reference(Ad, g, tau, mu, iters):
    """The paper's GSQ for variable blocks in NumPy: IHT on min_{||d||_0 <= tau} g^T d + 1/2 d^T A d from the
    GSD choice."""
    D = np.abs(Ad).sum(axis=1)
    s = g * g / D
    order = np.lexsort((np.arange(g.size), -s))
    supp = np.sort(order[:tau])
    d = np.zeros_like(g)
    d[supp] = -g[supp] / D[supp]
    for _ in range(iters):
        u = d - mu * (g + Ad @ d)
        order = np.lexsort((np.arange(g.size), -np.abs(u)))
        new = order[:tau]
        dn = np.zeros_like(g)
        dn[new] = u[new]
        change = np.sum((dn - d) ** 2)
        d, supp = dn, np.sort(new)
        if change <= 1e-20 * np.sum(d * d):
            break
    return supp, d


@pytest.mark.parametrize("tau", [3, 8])
def test_gsq_variable_blocks_is_iht_like_numpy(tau):
    rng = np.random.default_rng(65)
    X = (rng.standard_normal((80, 50)) + 1.0) * np.exp(rng.uniform(-1.5, 1.5, 50))  # correlated columns
    Ad = X.T @ X / 80
    A = sp.csr_matrix(Ad)
    b = rng.standard_normal(50)
    mu = 1.0 / np.linalg.eigvalsh(Ad).max()
    opts = quadratic_options(rule="gsq", kind="variable", block_size=tau, iht_step=mu)
    empty = (np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64))
    differs = 0
    for trial in range(6):
        x = rng.standard_normal(50)
        g = A @ x - b
        ref, d = _iht_reference(Ad, g, tau, mu, 10)
        got = _core._testing.bcd_greedy_block(*csr_args(A), b, x, g, *empty, opts)
        assert np.array_equal(np.sort(got), ref), (trial, got, ref)
        gsd = _core._testing.bcd_greedy_block(*csr_args(A), b, x, g, *empty,
                                              quadratic_options(rule="gsd", kind="variable",
                                                                block_size=tau))
        differs += not np.array_equal(np.sort(gsd), ref)
        # IHT decreases the sparse model from the GSD start: at least GSD's decrease with D
        D = np.abs(Ad).sum(1)
        m_gsd = -0.5 * np.sum(g[gsd] ** 2 / D[gsd])
        assert g @ d + 0.5 * d @ Ad @ d <= m_gsd + 1e-12
    if tau == 8:
        assert differs >= 1  # IHT is not just GSD (with tau = 3 it kept GSD's choice in these trials)


def test_gsq_variable_blocks_with_l1_bounds_is_coordinatewise_proximal_gsq():
    A, b = random_spd(50, 0.1, seed=66)
    A.sort_indices()
    l1, lower = 0.2, np.where(np.arange(50) % 2 == 0, 0.0, -np.inf)
    rng = np.random.default_rng(67)
    x = np.maximum(rng.standard_normal(50), lower)
    g = A @ x - b
    s = _prox_decrease(x, g, A.diagonal(), l1, lower)
    ref = np.sort(np.lexsort((np.arange(50), -s))[:6])
    got = _core._testing.bcd_greedy_block(*csr_args(A), b, x, g, np.zeros(1, dtype=np.int64),
                                          np.zeros(0, dtype=np.int64),
                                          quadratic_options(rule="gsq", kind="variable",
                                                            block_size=6), l1, lower)
    assert np.array_equal(got, ref)


@pytest.mark.parametrize("blocks", ["sorted", "variable"])
def test_gsd_with_diagonal_updates_reaches_the_optimum(blocks):
    rng = np.random.default_rng(68)
    X = rng.standard_normal((150, 30)) * rng.uniform(0.3, 3.0, 30)
    y = rng.standard_normal(150)
    res = bcd.minimize(bcd.LeastSquares(X, y), rule="gsd", update="diagonal", blocks=blocks, block_size=5,
                       tol=1e-10, maxiter=10**6)
    assert res.success and np.max(np.abs(res.x - np.linalg.lstsq(X, y, rcond=None)[0])) <= 1e-8
    # with L1 and bounds: the FISTA reference
    A, b = random_spd(60, 0.08, seed=7)
    lower = np.where(np.arange(60) % 3 == 0, 0.0, -np.inf)
    q = bcd.Quadratic(A, b, l1=0.05, lower=lower)
    res = bcd.minimize(q, rule="gsd", update="diagonal", blocks=blocks, block_size=6, tol=1e-12, maxiter=10**6)
    ref = _prox_gradient_reference(A, b, 0.05, lower)
    assert res.success and np.max(np.abs(res.x - ref)) <= 1e-9


def test_gsq_iht_variable_blocks_with_matrix_updates_reach_lstsq():
    rng = np.random.default_rng(69)
    X = rng.standard_normal((200, 40)) * np.exp(rng.uniform(-1, 1, 40))
    y = rng.standard_normal(200)
    ref = np.linalg.lstsq(X, y, rcond=None)[0]
    nit = {}
    for rule in ("gsq", "gsd"):
        res = bcd.minimize(bcd.LeastSquares(X, y), rule=rule, update="matrix", blocks="variable", block_size=5,
                           tol=1e-10, maxiter=10**6)
        assert res.success and np.max(np.abs(res.x - ref)) <= 1e-8
        nit[rule] = res.nit
    res = bcd.minimize(bcd.LeastSquares(X, y), rule="gsq", update="matrix", blocks="variable", block_size=5,
                       tol=1e-10, maxiter=10**6, options={"iht_iters": 0})
    assert res.nit == nit["gsd"]  # no IHT steps: the GSD choice


def _nnls_l1(seed=70, n=120, p=60):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    w = np.where(rng.random(p) < 0.15, rng.uniform(0.5, 2.0, p), 0.0)
    y = X @ w + 0.05 * rng.standard_normal(n)
    A = sp.csr_matrix(X.T @ X)
    return A, X.T @ y


@functools.lru_cache(maxsize=1)
def _nnls_l1_reference():
    A, b = _nnls_l1()
    return _prox_gradient_reference(A, b, 5.0, np.zeros(A.shape[0]), iters=40000)


@pytest.mark.parametrize("blocks", ["sorted", "variable"])
@pytest.mark.parametrize("update", ["tmp", "newton"])
def test_nonnegative_l1_two_metric_projection_and_proximal_newton_match_reference(blocks, update):
    """1/2 x'Ax - b'x + l1 sum(x), x >= 0 (the paper's non-negative L1 least squares): two-metric projection
    and proximal Newton block updates with the proximal GS-q rule reach the FISTA optimum, in fewer block
    updates than projected gradient."""
    A, b = _nnls_l1()
    l1 = 5.0
    lower = np.zeros(A.shape[0])
    ref = _nnls_l1_reference()
    q = bcd.Quadratic(A, b, l1=l1, lower=lower)
    res = bcd.minimize(q, rule="gsq", update=update, blocks=blocks, block_size=10, tol=1e-12, maxiter=10**5)
    pg = bcd.minimize(q, rule="gsq", update="gradient", blocks=blocks, block_size=10, tol=1e-12, maxiter=10**6)
    assert res.success and pg.success and np.all(res.x >= 0)
    assert np.max(np.abs(res.x - ref)) <= 1e-8, np.max(np.abs(res.x - ref))
    assert res.nit < pg.nit, (res.nit, pg.nit)


def test_support_in_block_superlinear_phase_terminates_fast():
    """Variable blocks holding the free variables, with Newton-type updates, finish in a handful of block
    updates once the active set is identified (finite termination on a quadratic)."""
    A, b = _nnls_l1(seed=71)
    q = bcd.Quadratic(A, b, l1=5.0, lower=np.zeros(A.shape[0]))
    kw = dict(rule="gsq", blocks="variable", block_size=20, tol=1e-12, maxiter=10**5)
    fast = bcd.minimize(q, update="tmp", options={"support_in_block": True}, **kw)
    pg = bcd.minimize(q, update="gradient", **kw)
    assert fast.success and fast.nit * 5 < pg.nit, (fast.nit, pg.nit)
    assert abs(fast.fun - pg.fun) <= 1e-10 * abs(pg.fun)


def test_tmp_refuses_problems_it_cannot_handle():
    A, b = random_spd(20, 0.2, seed=72)
    with raises_naming(ValueError, "update", match="lower"):
        bcd.minimize(bcd.Quadratic(A, b), update="tmp")
    with raises_naming(ValueError, "update", match="lower >= 0"):
        bcd.minimize(bcd.Quadratic(A, b, l1=0.1, lower=np.full(20, -1.0)), update="tmp")
    rng = np.random.default_rng(73)
    X = rng.standard_normal((30, 5))
    with raises_naming(ValueError, "update", match="tmp"):
        bcd.minimize(bcd.Logistic(X, (X[:, 0] > 0).astype(int)), update="tmp")


def test_exact_lipschitz_is_the_block_eigenvalue_and_gershgorin_is_an_option():
    """L_b = lambda_max(A_bb) by default (fewer gradient steps than the Gershgorin bound it replaced)."""
    rng = np.random.default_rng(74)
    X = rng.standard_normal((200, 40)) + 1.0  # correlated columns: Gershgorin is loose
    y = rng.standard_normal(200)
    kw = dict(rule="cyclic", blocks="order", block_size=8, update="gradient", tol=1e-8, maxiter=10**6)
    exact = bcd.minimize(bcd.LeastSquares(X, y), **kw)
    gersh = bcd.minimize(bcd.LeastSquares(X, y), options={"exact_lipschitz": False}, **kw)
    assert exact.success and gersh.success and exact.nit < gersh.nit
    # one cyclic step on block 0 from 0 moves by g_b / lambda_max(A_bb)
    G = X.T @ X / 200
    g = -X.T @ y / 200
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one = bcd.minimize(bcd.LeastSquares(X, y), **dict(kw, maxiter=1))
    L0 = np.linalg.eigvalsh(G[:8, :8]).max()
    assert np.allclose(one.x[:8], -g[:8] / L0, rtol=1e-12)


@pytest.mark.parametrize("kind", ["logistic_l2", "logistic_l1", "softmax"])
def test_smooth_gsd_and_diagonal_updates(kind):
    """GSD on feature blocks picks the NumPy argmax of sum g^2 / D (D the block's absolute row sums of the
    Hessian bound; with L1 the diagonal proximal model's decrease) and diagonal updates converge."""
    prob = _smooth_case(kind, seed=46)
    bs = 3
    kw = dict(rule="gsd", blocks="order", block_size=bs, tol=0.0, active_set_newton=False)
    X = prob.Xt.T.toarray()
    n, p = X.shape
    c = 0.5 if kind == "softmax" else 0.25
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for t in (20, 33):
            Wt = bcd.minimize(prob, maxiter=t, update="diagonal", **kw).x.reshape(p, -1)
            Wn = bcd.minimize(prob, maxiter=t + 1, update="diagonal", **kw).x.reshape(p, -1)
            changed = np.flatnonzero(np.any(Wn != Wt, axis=1))
            picked = int(changed[0]) // bs
            Z = X @ Wt
            if kind == "softmax":
                P = np.exp(Z - Z.max(1, keepdims=True))
                P /= P.sum(1, keepdims=True)
                P[np.arange(n), prob.y.astype(int)] -= 1.0
                R = P
            else:
                ys = np.asarray(prob.y, dtype=float)
                R = (-ys / (1.0 + np.exp(ys * Z[:, 0])))[:, None]
            G = X.T @ R / n + prob.l2 * Wt
            scores, steps = [], {}
            for s0 in range(0, p, bs):
                blk = np.arange(s0, min(s0 + bs, p))
                M = c * X[:, blk].T @ X[:, blk] / n + prob.l2 * np.eye(blk.size)
                D = np.abs(M).sum(1)[:, None]
                l1 = getattr(prob, "l1", 0.0)
                dec = _prox_decrease(Wt[blk], G[blk], D, l1, None)
                scores.append(2 * dec.sum())
                z = Wt[blk] - G[blk] / D
                steps[s0 // bs] = np.sign(z) * np.maximum(np.abs(z) - l1 / D, 0.0)
            assert picked == int(np.argmax(scores)), (picked, int(np.argmax(scores)))
            blk = np.arange(picked * bs, min(picked * bs + bs, p))
            assert np.allclose(Wn[blk], steps[picked], rtol=1e-10, atol=1e-14)
    res = bcd.minimize(prob, rule="gsd", update="diagonal", block_size=bs, tol=1e-8, maxiter=10**6)
    ref = bcd.minimize(prob, rule="gsl", update="matrix", block_size=bs, tol=1e-10, maxiter=10**6)
    assert res.success and abs(res.fun - ref.fun) <= 1e-7 * max(1.0, abs(ref.fun))


def test_smooth_proximal_gsq_scores_the_block_model_decrease():
    prob = _smooth_case("logistic_l1", seed=47)
    bs = 4
    kw = dict(rule="gsq", blocks="order", block_size=bs, tol=0.0, active_set_newton=False, update="matrix")
    X = prob.Xt.T.toarray()
    n, p = X.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Wt = bcd.minimize(prob, maxiter=25, **kw).x
        Wn = bcd.minimize(prob, maxiter=26, **kw).x
    picked = int(np.flatnonzero(Wn != Wt)[0]) // bs
    ys = np.asarray(prob.y, dtype=float)
    R = -ys / (1.0 + np.exp(ys * (X @ Wt)))
    G = X.T @ R / n + prob.l2 * Wt
    scores = []
    for s0 in range(0, p, bs):
        blk = np.arange(s0, min(s0 + bs, p))
        M = 0.25 * X[:, blk].T @ X[:, blk] / n + prob.l2 * np.eye(blk.size)
        scores.append(2 * _block_model_decrease(M, G[blk], Wt[blk], prob.l1, None, passes=500))
    assert picked == int(np.argmax(scores)), (picked, int(np.argmax(scores)))


@pytest.mark.parametrize("kind", ["logistic_l2", "logistic_l1", "softmax", "squares_l1"])
@pytest.mark.parametrize("rule,update", [("gsl", "gradient"), ("gsd", "diagonal"), ("gsq", "matrix")])
def test_smooth_variable_blocks_reach_the_fixed_block_optimum(kind, rule, update):
    """Variable feature blocks (the tau best features each iteration) for Logistic / Softmax / LeastSquares on X
    reach the same optimum as fixed blocks."""
    prob = _smooth_case(kind, seed=48)
    kw = dict(tol=1e-9, maxiter=10**6, active_set_newton=False)
    ref = bcd.minimize_smooth(prob, rule="gsl", update="matrix", block_size=4, **kw)
    res = bcd.minimize_smooth(prob, rule=rule, update=update, blocks="variable", block_size=4, **kw)
    assert ref.success and res.success
    assert abs(res.fun - ref.fun) <= 1e-8 * max(1.0, abs(ref.fun))


@pytest.mark.parametrize("kind", ["logistic_l2", "softmax"])
@pytest.mark.parametrize("rule", ["gs", "gsl", "gsd", "gsq"])
def test_smooth_variable_block_is_the_numpy_choice(kind, rule):
    """The features updated at iteration t + 1 are the tau best under the rule, recomputed in NumPy at the
    t-th iterate (gsq: the IHT of the quadratic core's test, on the Hessian bound, the same for every class)."""
    prob = _smooth_case(kind, seed=49)
    tau = 4
    kw = dict(rule=rule, blocks="variable", block_size=tau, tol=0.0, update="gradient")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        Wt = bcd.minimize(prob, maxiter=7, **kw).x
        Wn = bcd.minimize(prob, maxiter=8, **kw).x
    G, M, W = _smooth_grad_and_bound(prob, Wt)
    p = M.shape[0]
    changed = np.flatnonzero(np.any((Wn != Wt).reshape(p, -1), axis=1))
    g2 = np.sum(G * G, axis=1)
    D = np.abs(M).sum(1)
    if rule == "gs":
        s = g2
    elif rule == "gsl":
        s = g2 / np.diag(M)
    else:
        s = g2 / D
    pick = np.sort(np.lexsort((np.arange(p), -s))[:tau])
    if rule == "gsq":  # IHT per feature (all K weights of a feature together)
        lam = np.linalg.eigvalsh(M).max()
        mu = 1.0 / (1.01 * lam)
        d = np.zeros_like(G)
        d[pick] = -G[pick] / D[pick, None]
        for _ in range(10):
            u = d - mu * (G + M @ d)
            new = np.lexsort((np.arange(p), -np.sum(u * u, axis=1)))[:tau]
            dn = np.zeros_like(G)
            dn[new] = u[new]
            change = np.sum((dn - d) ** 2)
            d, pick = dn, np.sort(new)
            if change <= 1e-20 * np.sum(d * d):
                break
    assert set(changed) <= set(pick) and len(changed) >= 1, (changed, pick)
