"""bcd.forest_amg / forest_amg_preconditioner (the multilevel graph solver) and
label_propagation's "amg" path, against scipy's spsolve and NumPy references."""

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from itercore import bcd
from itercore._problems import lattice_weights


def laplacian(W, extra):
    W = sp.csr_array(W)
    return sp.csr_array(sp.diags(np.asarray(W.sum(axis=1)).ravel() + extra) - W)


def knn_graph(n, k=10, dim=3, seed=0):
    """Symmetrised k-nearest-neighbour connectivity of Gaussian-mixture points (brute force)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, dim)) + 4.0 * rng.integers(0, 3, (n, 1))
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(D, np.inf)
    nb = np.argsort(D, axis=1)[:, :k]
    G = sp.csr_array((np.ones(n * k), (np.repeat(np.arange(n), k), nb.ravel())), shape=(n, n))
    return G.maximum(G.T).tocsr()


def lattice_system(N, frac=0.05, seed=0):
    rng = np.random.default_rng(seed)
    lab = rng.random(N * N) < frac
    A = laplacian(lattice_weights(N), lab * 1.0)
    b = np.where(lab, rng.choice([-1.0, 1.0], N * N), 0.0)
    return A, b


def disconnected_system(seed=0):
    """Two lattices, a kNN graph and 5 isolated nodes, with a ridge (every
    component, labelled or not, is then non-singular)."""
    rng = np.random.default_rng(seed)
    W = sp.block_diag([lattice_weights(12), knn_graph(150, seed=seed), lattice_weights(7), sp.csr_array((5, 5))])
    W = sp.csr_array(W)
    n = W.shape[0]
    lab = rng.random(n) < 0.05
    lab[144:144 + 150] = False  # the kNN component has no label
    A = laplacian(W, lab * 1.0 + 1e-2)
    b = np.where(lab, rng.choice([-1.0, 1.0], n), 0.0)
    b[-1] = 0.3  # an isolated node with a right-hand side
    return W, lab, A, b


SYSTEMS = {
    "lattice": lambda: lattice_system(40),
    "knn": lambda: (laplacian(knn_graph(600), (np.arange(600) % 50 == 0) * 1.0),
                    np.where(np.arange(600) % 50 == 0, np.where(np.arange(600) % 100 == 0, 1.0, -1.0), 0.0)),
    "disconnected": lambda: disconnected_system()[2:],
}


@pytest.mark.parametrize("name", sorted(SYSTEMS))
@pytest.mark.parametrize("options", [{}, {"smoothing": 0.0}, {"max_coarse": 20, "sweeps": 2, "omega": 1.3}])
def test_solve_matches_spsolve(name, options):
    A, b = SYSTEMS[name]()
    ref = sla.spsolve(sp.csc_matrix(A), b)
    res = bcd.forest_amg(bcd.Quadratic(A, b), tol=1e-10, options=options)
    assert res.success and res.status == 0
    assert np.linalg.norm(A @ res.x - b) <= 1e-10 * np.linalg.norm(b)
    assert res.optimality == pytest.approx(np.linalg.norm(A @ res.x - b) / np.linalg.norm(b), rel=1e-6)
    np.testing.assert_allclose(res.x, ref, rtol=0, atol=1e-7 * np.abs(ref).max())
    assert res.setup_time > 0 and res.solve_time > 0
    assert res.level_sizes[0] == A.shape[0] and res.operator_complexity >= 1.0


def test_hierarchy_is_multilevel_and_iterations_stay_flat():
    nits = []
    for N in (32, 96):
        A, b = lattice_system(N, frac=0.01)
        res = bcd.forest_amg(bcd.Quadratic(A, b), tol=1e-8, options={"max_coarse": 30})
        assert len(res.level_sizes) >= 3
        assert all(m < n for n, m in zip(res.level_sizes, res.level_sizes[1:]))
        nits.append(res.nit)
    single = bcd.forest_pcg(bcd.Quadratic(A, b), tol=1e-8).nit
    assert nits[1] <= nits[0] + 6 and nits[1] < single / 3, (nits, single)


@pytest.mark.parametrize("options", [{"max_coarse": 10}, {"max_coarse": 10, "smoothing": 0.0},
                                     {"max_coarse": 10, "sweeps": 2, "omega": 1.6}, {"max_coarse": 1000}])
def test_vcycle_is_symmetric_positive_definite(options):
    A, _ = lattice_system(14, frac=0.1)
    W, lab, Ad, _ = disconnected_system(1)
    for M_ in (A, Ad):
        n = M_.shape[0]
        M = bcd.forest_amg_preconditioner(M_, options=options)
        B = M @ np.eye(n)
        assert np.abs(B - B.T).max() <= 1e-12 * np.abs(B).max()
        eig = np.linalg.eigvalsh((B + B.T) / 2)
        assert eig.min() > 0
        # B A's eigenvalues in (0, 1]: the V-cycle contracts the A-norm of the error
        ev = np.linalg.eigvals(B @ M_.toarray()).real
        assert ev.min() > 0 and ev.max() <= 1 + 1e-10
    if options["max_coarse"] >= 1000:  # one level: the direct solve, B = A^{-1}
        np.testing.assert_allclose(B @ Ad.toarray(), np.eye(Ad.shape[0]), atol=1e-8)


def test_linear_operator_in_scipy_cg():
    A, b = lattice_system(60, frac=0.01)
    M = bcd.forest_amg_preconditioner(A)
    assert isinstance(M, sla.LinearOperator) and M.shape == A.shape and M.dtype == np.float64
    counts = {}
    for name, pre in (("amg", M), ("none", None)):
        k = [0]
        x, info = sla.cg(A, b, M=pre, rtol=1e-10, maxiter=5000, callback=lambda xk: k.__setitem__(0, k[0] + 1))
        assert info == 0
        counts[name] = k[0]
    np.testing.assert_allclose(x, sla.spsolve(sp.csc_matrix(A), b), atol=1e-7)
    assert counts["amg"] < counts["none"] / 5, counts
    # matvec / matmat agree, 2-D columns, the adjoint is the operator
    R = np.random.default_rng(0).standard_normal((A.shape[0], 3))
    Z = M @ R
    np.testing.assert_allclose(Z[:, 1], M @ R[:, 1], rtol=1e-13)
    np.testing.assert_allclose(M.H @ R[:, 0], Z[:, 0], rtol=1e-13)
    assert (M @ R[:, :1]).shape == (A.shape[0], 1)
    assert M.setup_time > 0 and M.level_sizes[0] == A.shape[0] and "ForestAMG" in repr(M)


def test_label_propagation_amg_matches_spsolve_and_old_path():
    W, lab, A, b = disconnected_system(2)
    labels = np.where(lab, (b > 0).astype(int), -1)
    ref = sla.spsolve(sp.csc_matrix(A), np.where(lab, np.where(labels == 1, 1.0, -1.0), 0.0))
    ra = bcd.label_propagation(W, labels, reg=1e-2, method="amg", tol=1e-10)
    rc = bcd.label_propagation(W, labels, reg=1e-2, method="cg", tol=1e-10)
    assert ra.method == "amg" and rc.method == "cg" and ra.success
    np.testing.assert_allclose(ra.x, ref, atol=1e-7)
    np.testing.assert_allclose(rc.x, ref, atol=1e-7)
    # the zero-labelled kNN component scores 0 (ridge only), as the old path gives
    assert np.abs(ra.x[144:294]).max() <= 1e-7
    np.testing.assert_array_equal(ra.labels, rc.labels)
    # three classes: one hierarchy, one solve per class
    labels3 = np.where(lab, np.arange(W.shape[0]) % 3, -1)
    r3 = bcd.label_propagation(W, labels3, reg=1e-2, method="amg", tol=1e-10)
    r3c = bcd.label_propagation(W, labels3, reg=1e-2, method="cg", tol=1e-10)
    np.testing.assert_allclose(r3.x, r3c.x, atol=1e-7)


def test_label_propagation_auto_rule():
    W = lattice_weights(150)  # 22,500 nodes >= AMG_MIN_NODES
    labels = -np.ones(150 * 150, dtype=int)
    labels[::97] = np.arange(labels[::97].size) % 2
    r = bcd.label_propagation(W, labels)
    assert r.method == "amg" and r.success
    A = laplacian(W, (labels >= 0) * 1.0)
    y = np.where(labels >= 0, np.where(labels == 1, 1.0, -1.0), 0.0)
    assert np.linalg.norm(A @ r.x - y) <= 1.001e-8 * np.linalg.norm(y)
    small = lattice_weights(20)
    assert bcd.label_propagation(small, labels[:400]).method == "cg"
    assert bcd.label_propagation(W, labels, blocks="lattice", lattice_shape=(150, 150)).method == "cg"


def test_bad_input():
    A, b = lattice_system(10)
    with pytest.raises(ValueError, match="A must be square"):
        bcd.forest_amg_preconditioner(sp.csr_array(np.ones((3, 4))))
    with pytest.raises(ValueError, match="A must be symmetric"):
        bcd.forest_amg_preconditioner(sp.csr_array(np.triu(A.toarray())))
    Z = A.tolil()
    Z[3, 3] = 0.0
    with pytest.raises(ValueError, match="positive diagonal"):
        bcd.forest_amg_preconditioner(Z.tocsr())
    with pytest.raises(ValueError, match="A must"):  # NaN
        bad = A.copy()
        bad.data[0] = np.nan
        bcd.forest_amg_preconditioner(bad)
    with pytest.raises(TypeError, match="max_coarse"):
        bcd.forest_amg_preconditioner(A, options={"max_coarses": 3})
    with pytest.raises(ValueError, match="max_coarse must be >= 1"):
        bcd.forest_amg_preconditioner(A, options={"max_coarse": 0})
    with pytest.raises(ValueError, match="smoothing must"):
        bcd.forest_amg(bcd.Quadratic(A, b), options={"smoothing": 3.0})
    with pytest.raises(ValueError, match="tol must"):
        bcd.forest_amg(bcd.Quadratic(A, b), tol=-1.0)
    with pytest.raises(ValueError, match="maxiter"):
        bcd.forest_amg(bcd.Quadratic(A, b), maxiter=-1)
    M = bcd.forest_amg_preconditioner(A)
    with pytest.raises(ValueError):
        M @ np.ones(A.shape[0] + 1)
    with pytest.raises(ValueError, match="x must"):
        M.matvec(np.full(A.shape[0], np.nan))
    with pytest.raises(ValueError, match="l1"):
        bcd.forest_amg(bcd.Quadratic(A, b, l1=0.1))
    with pytest.raises(ValueError, match="method"):
        bcd.label_propagation(lattice_weights(5), np.r_[0, 1, -np.ones(23, dtype=int)], method="multigrid")


def test_not_positive_definite_is_reported():
    # an indefinite symmetric matrix with a positive diagonal: CG breaks down, or the coarsest
    # factorisation fails; either way no silent "success"
    A = sp.csr_array(laplacian(lattice_weights(30), 0.0) - 0.5 * sp.identity(900))
    A = sp.csr_array(A + sp.diags(np.where(np.arange(900) % 2 == 0, 0.6, 0.0)))
    b = np.ones(900)
    try:
        with pytest.warns(Warning):
            res = bcd.forest_amg(bcd.Quadratic(A, b), maxiter=200)
        assert not res.success
    except ValueError as e:
        assert "positive definite" in str(e)
