"""itercore.sklearn: scikit-learn estimators over bcd.lasso and bcd.label_propagation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

pytest.importorskip("sklearn", minversion="1.6", reason="scikit-learn >= 1.6 is not installed")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from itercore import bcd  # noqa: E402
from itercore.sklearn import LabelPropagation, Lasso  # noqa: E402

#: check_estimator checks that cannot pass, with the reason (none: every check applies and passes; the
#: pandas and array-API checks are skipped by scikit-learn itself when those are not installed/enabled).
LASSO_XFAIL = {}
LABEL_PROPAGATION_XFAIL = {}


@parametrize_with_checks([Lasso(), LabelPropagation(), LabelPropagation(kernel="knn")],
                         expected_failed_checks=lambda est: (
                             LASSO_XFAIL if isinstance(est, Lasso) else LABEL_PROPAGATION_XFAIL))
def test_check_estimator(estimator, check):
    check(estimator)


def _regression(n=80, p=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)) + 2.0
    w = np.zeros(p)
    w[:4] = [1.5, -2.0, 0.5, 3.0]
    return X, X @ w + 4.0 + 0.1 * rng.standard_normal(n)


def test_lasso_is_bcd_lasso_on_centred_data():
    X, y = _regression()
    model = Lasso(alpha=0.05).fit(X, y)
    xm, ym = X.mean(axis=0), y.mean()
    res = bcd.lasso(np.asfortranarray(X - xm), y - ym, 0.05)
    np.testing.assert_allclose(model.coef_, res.x, rtol=1e-12, atol=1e-14)
    assert model.intercept_ == pytest.approx(ym - xm @ res.x, rel=1e-14)
    assert model.n_iter_ == res.nit and model.dual_gap_ == pytest.approx(res.gap, abs=1e-12 * res.fun)
    np.testing.assert_allclose(model.predict(X), X @ res.x + model.intercept_, rtol=1e-13)
    nofit = Lasso(alpha=0.05, fit_intercept=False).fit(X, y)
    np.testing.assert_array_equal(nofit.coef_, bcd.lasso(X, y, 0.05).x)
    assert nofit.intercept_ == 0.0


def test_lasso_matches_scikit_learn():
    from sklearn.linear_model import Lasso as SkLasso

    X, y = _regression()
    for fit_intercept in (True, False):
        ours = Lasso(alpha=0.05, fit_intercept=fit_intercept, tol=1e-12).fit(X, y)
        ref = SkLasso(alpha=0.05, fit_intercept=fit_intercept, tol=1e-12, max_iter=100000).fit(X, y)
        np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-7)
        assert ours.intercept_ == pytest.approx(ref.intercept_, abs=1e-6)
        assert ours.score(X, y) == pytest.approx(ref.score(X, y), abs=1e-10)
        assert ours.dual_gap_ <= 1e-12 * (y - (y.mean() if fit_intercept else 0)) @ y / (2 * len(y)) * 10


def test_lasso_sparse_and_warm_start():
    X, y = _regression()
    X[np.abs(X - 2) < 0.8] = 0.0
    dense = Lasso(alpha=0.05, fit_intercept=False).fit(X, y)
    for fmt in (sp.csr_matrix, sp.csc_array):
        sparse = Lasso(alpha=0.05, fit_intercept=False).fit(fmt(X), y)
        np.testing.assert_allclose(sparse.coef_, dense.coef_, atol=1e-10)
        np.testing.assert_allclose(sparse.predict(fmt(X)), dense.predict(X), atol=1e-9)
    with pytest.raises(ValueError, match="fit_intercept"):
        Lasso(alpha=0.05).fit(sp.csr_matrix(X), y)
    model = Lasso(alpha=0.05, warm_start=True).fit(X, y)
    cold = Lasso(alpha=0.04).fit(X, y)
    model.set_params(alpha=0.04).fit(X, y)
    np.testing.assert_allclose(model.coef_, cold.coef_, atol=1e-8)
    assert model.n_iter_ <= cold.n_iter_


def _two_moons(n_labelled=6, seed=0):
    from sklearn.datasets import make_moons

    X, y_true = make_moons(120, noise=0.05, random_state=seed)
    rng = np.random.default_rng(seed)
    y = -np.ones(120, dtype=int)
    for c in (0, 1):
        pick = rng.choice(np.flatnonzero(y_true == c), n_labelled // 2, replace=False)
        y[pick] = c
    return X, y, y_true


@pytest.mark.parametrize("kernel", ["rbf", "knn"])
def test_label_propagation_is_bcd_label_propagation(kernel):
    from sklearn.metrics.pairwise import rbf_kernel
    from sklearn.neighbors import kneighbors_graph

    X, y, _ = _two_moons()
    model = LabelPropagation(kernel=kernel, n_neighbors=7, gamma=20.0).fit(X, y)
    if kernel == "rbf":
        W = rbf_kernel(X, gamma=20.0)
    else:
        W = kneighbors_graph(X, 7, mode="connectivity", include_self=True)
        W = W.maximum(W.T)
    res = bcd.label_propagation(W, y, tol=1e-8)
    np.testing.assert_array_equal(model.transduction_, res.labels)
    assert model.n_iter_ == res.nit
    np.testing.assert_allclose(model.label_distributions_[:, 1], np.clip((res.x + 1) / 2, 0, 1))
    np.testing.assert_allclose(model.label_distributions_.sum(axis=1), 1.0)


def test_label_propagation_agrees_with_scikit_learn():
    from sklearn.semi_supervised import LabelPropagation as SkLabelPropagation

    X, y, y_true = _two_moons()
    for kernel in ("rbf", "knn"):
        ours = LabelPropagation(kernel=kernel).fit(X, y)
        ref = SkLabelPropagation(kernel=kernel, max_iter=10000).fit(X, y)
        assert np.mean(ours.transduction_ == y_true) >= 0.95, kernel
        assert np.mean(ours.transduction_ == ref.transduction_) >= 0.95, kernel
        assert np.mean(ours.predict(X) == ref.predict(X)) >= 0.95, kernel


def test_label_propagation_multiclass_and_any_integer_labels():
    from sklearn.datasets import make_blobs

    X, y_true = make_blobs(150, centers=[[0, 0], [5, 0], [0, 5]], cluster_std=0.5, random_state=0)
    names = np.array([3, 7, 42])  # classes need not be 0..k-1
    y = np.full(150, -1)
    for c in range(3):
        y[np.flatnonzero(y_true == c)[:3]] = names[c]
    model = LabelPropagation(kernel="knn", n_neighbors=10).fit(X, y)
    assert list(model.classes_) == list(names)
    assert np.mean(model.transduction_ == names[y_true]) >= 0.97
    assert model.label_distributions_.shape == (150, 3)
    np.testing.assert_allclose(model.predict_proba(X).sum(axis=1), 1.0)
    assert np.mean(model.predict(X + 0.01) == names[y_true]) >= 0.97


def test_errors_name_the_scikit_learn_argument():
    X, y = _regression()
    with pytest.raises(ValueError, match="max_iter"):
        Lasso(max_iter=-1).fit(X, y)
    with pytest.raises(ValueError, match="alpha"):
        Lasso(alpha=-1.0).fit(X, y)
    Xm, ym, _ = _two_moons()
    with pytest.raises(ValueError, match="max_iter"):
        LabelPropagation(max_iter=-1).fit(Xm, ym)
    with pytest.raises(ValueError, match="gamma"):
        LabelPropagation(gamma=0.0).fit(Xm, ym)
    with pytest.raises(ValueError, match="weight"):
        LabelPropagation(weight=0.0).fit(Xm, ym)


def test_label_propagation_errors():
    X, y, _ = _two_moons()
    with pytest.raises(ValueError, match="kernel"):
        LabelPropagation(kernel="poly").fit(X, y)
    with pytest.raises(ValueError, match="no labelled"):
        LabelPropagation().fit(X, -np.ones(120, dtype=int))
