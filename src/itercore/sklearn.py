"""scikit-learn estimators over itercore's solvers (scikit-learn is optional).

Thin wrappers: each ``fit`` validates the data the scikit-learn way, calls
one itercore function and stores its result under scikit-learn's attribute
names. There is no second implementation of any solver here.

- :class:`Lasso` over :func:`itercore.bcd.lasso` (``sklearn.linear_model.Lasso``'s
  objective, parameters and attributes);
- :class:`LabelPropagation` over :func:`itercore.bcd.label_propagation`
  (``sklearn.semi_supervised.LabelPropagation``'s conventions: ``-1`` marks
  unlabelled samples, ``transduction_``, ``label_distributions_``, the graph
  built by the ``"rbf"`` or ``"knn"`` kernel).

Parameters use scikit-learn's spellings (``max_iter``, ``tol``), not
itercore's (``maxiter``), because these classes live in scikit-learn's world:
``GridSearchCV`` and pipelines set them by those names. Non-convergence warns
with :class:`itercore.ConvergenceWarning` (a ``RuntimeWarning``), the warning
of the wrapped function, not ``sklearn.exceptions.ConvergenceWarning``.

Matrix completion (:func:`itercore.completion.altmin`) has no estimator:
scikit-learn has no matrix-completion convention. Its nearest one, an
imputer's ``fit(X)`` / ``transform(X)`` with ``NaN`` for the missing entries,
would have to complete *new rows* in ``transform``: a second least-squares
solver here, and dense ``(m, n)`` input where ``altmin`` takes the observed
entries sparse (``m x n`` with 1% observed is the normal case). Call
``altmin`` directly.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError("itercore.sklearn needs scikit-learn (pip install scikit-learn, or itercore[sklearn])") from exc

from . import bcd
from ._typing import ArrayLike, FloatArray
from ._validation import check_int, check_scalar
from .bcd import _lasso

__all__ = ["Lasso", "LabelPropagation"]

_LASSO = _lasso._D  # the C++ defaults of bcd::LassoOptions (tol, maxiter, rule)


class Lasso(RegressorMixin, BaseEstimator):
    """``sklearn.linear_model.Lasso`` solved by :func:`itercore.bcd.lasso`.

    Minimises ``1 / (2 n) ||y - X w - intercept||^2 + alpha ||w||_1``, the
    objective of ``sklearn.linear_model.Lasso``, by greedy coordinate descent
    on a working set with Newton steps on the active set (see
    :func:`itercore.bcd.lasso`).

    Parameters
    ----------
    alpha : float
        L1 weight (>= 0).
    fit_intercept : bool
        Fit an unpenalised intercept by centring ``X`` and ``y`` (dense ``X``
        only: a sparse ``X`` with ``fit_intercept=True`` raises, as centring
        would densify it; pass ``fit_intercept=False``).
    max_iter : int
        Outer (working-set) iterations, ``maxiter`` of :func:`~itercore.bcd.lasso`
        (default 100; one outer iteration does many coordinate passes, so it is
        not scikit-learn's count of epochs).
    tol : float
        Stop when the duality gap divided by ``||y||^2 / (2 n)`` is at most
        ``tol`` (the ``tol`` of :func:`~itercore.bcd.lasso`, default 1e-8).
    warm_start : bool
        Start from the previous ``coef_`` when refitting.
    rule : {"cyclic", "gs-r"}
        Coordinate rule inside the working set (default ``"cyclic"``, with
        Anderson extrapolation; see :func:`~itercore.bcd.lasso`).
    n_threads : int or None
        Threads (``None``: the OpenMP default).

    Attributes
    ----------
    coef_ : (n_features,) ndarray
    intercept_ : float
    n_iter_ : int
        Outer iterations done.
    dual_gap_ : float
        The duality gap at the end (objective units, as scikit-learn's).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from itercore.sklearn import Lasso
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 20)); y = X[:, :3] @ [1.0, -2.0, 3.0] + 5.0
    >>> model = Lasso(alpha=0.01).fit(X, y)
    >>> np.round(model.coef_[:4], 2), round(model.intercept_, 2)
    (array([ 0.99, -1.99,  2.98,  0.  ]), 5.0)
    """

    def __init__(self, alpha: float = 1.0, *, fit_intercept: bool = True, max_iter: int = _LASSO.maxiter,
                 tol: float = _LASSO.tol, warm_start: bool = False, rule: str = _LASSO.rule.name,
                 n_threads: int | None = None) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.rule = rule
        self.n_threads = n_threads

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = not self.fit_intercept  # sparse X is centred by nobody: fit_intercept=False only
        return tags

    def fit(self, X: ArrayLike, y: ArrayLike) -> Any:
        """Fit the model to ``X`` (n_samples, n_features), dense or sparse, and ``y`` (n_samples,)."""
        # X's finiteness is checked once, by bcd.lasso (its ValueError names X and says NaN or inf)
        # centring makes a new (Fortran) array anyway: asking for order="F" here too would copy X twice
        X, y = validate_data(self, X, y, accept_sparse=("csc", "csr"), dtype=(np.float64, np.float32),
                             y_numeric=True, order=None if self.fit_intercept else "F", ensure_all_finite=False)
        max_iter = check_int(self.max_iter, "max_iter", lower=0)  # named as the user spelt it (bcd: maxiter)
        y = np.asarray(y, dtype=np.float64)
        if self.fit_intercept:
            if sp.issparse(X):
                raise ValueError("fit_intercept=True needs a dense X: itercore's lasso does not centre sparse input "
                                 "implicitly; pass fit_intercept=False or a dense (centred) X")
            with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf in X: bcd.lasso raises on Xc
                x_mean = X.mean(axis=0, dtype=np.float64)
                Xc = np.asfortranarray(X - x_mean.astype(X.dtype))
            y_mean = float(y.mean())
            yc = y - y_mean
        else:
            x_mean, y_mean, Xc, yc = None, 0.0, X, y
        x0 = None
        if self.warm_start and getattr(self, "coef_", None) is not None and self.coef_.shape == (X.shape[1],):
            x0 = self.coef_
        res = bcd.lasso(Xc, yc, self.alpha, x0=x0, tol=self.tol, maxiter=max_iter, rule=self.rule,
                        n_threads=self.n_threads)
        self.coef_ = np.asarray(res.x, dtype=np.float64)
        self.intercept_ = y_mean - float(x_mean @ self.coef_) if self.fit_intercept else 0.0
        self.n_iter_ = int(res.nit)
        self.dual_gap_ = float(res.gap)
        return self

    def predict(self, X: ArrayLike) -> FloatArray:
        """``X @ coef_ + intercept_``."""
        check_is_fitted(self)
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=(np.float64, np.float32), reset=False)
        return np.asarray(X @ self.coef_).reshape(-1) + self.intercept_


class LabelPropagation(ClassifierMixin, BaseEstimator):
    """``sklearn.semi_supervised.LabelPropagation`` solved by :func:`itercore.bcd.label_propagation`.

    ``fit(X, y)`` builds a graph on the samples with ``kernel`` (scikit-learn's
    ``"rbf"`` or ``"knn"``), then calls :func:`~itercore.bcd.label_propagation`
    with ``y``'s classes; ``-1`` in ``y`` marks an unlabelled sample.

    The model differs from scikit-learn's in one documented way: the labelled
    samples are held to their labels by a quadratic penalty of weight
    ``weight`` (scikit-learn clamps them), so with a small ``weight`` a
    labelled sample can be relabelled; ``transduction_`` is exactly the
    ``labels`` that :func:`~itercore.bcd.label_propagation` returns.
    ``label_distributions_`` are its one-vs-rest scores ``s`` (in [-1, 1])
    mapped to ``(s + 1) / 2``, clipped to [0, 1] and normalised per sample
    (two classes: ``[1 - p, p]`` with ``p = clip((s + 1) / 2)``).

    Parameters
    ----------
    kernel : {"rbf", "knn"}
        ``"rbf"``: the dense graph ``exp(-gamma ||x_i - x_j||^2)``; ``"knn"``:
        the ``n_neighbors`` nearest neighbours (connectivity), symmetrised by
        ``max(W, W.T)`` (itercore needs a symmetric graph; scikit-learn's is
        not symmetrised).
    gamma : float
        RBF width.
    n_neighbors : int
        Neighbours of the ``"knn"`` kernel.
    max_iter : int or None
        ``maxiter`` of :func:`~itercore.bcd.label_propagation` (``None``: its
        default).
    tol : float
        ``tol`` of :func:`~itercore.bcd.label_propagation` (relative residual).
    weight : float
        Weight of the labelled-fit term (> 0).
    reg : float
        Ridge weight (>= 0); needed (> 0) when a connected component of the
        graph has no labelled sample (a sparse ``"knn"`` graph may have one).

    Attributes
    ----------
    classes_ : ndarray
    transduction_ : (n_samples,) ndarray
        The label given to every training sample.
    label_distributions_ : (n_samples, n_classes) ndarray
    n_iter_ : int
    X_ : ndarray
        The training samples (for ``predict`` on new samples).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from itercore.sklearn import LabelPropagation
    >>> X = np.r_[np.linspace(0, 1, 20), np.linspace(3, 4, 20)][:, None]
    >>> y = -np.ones(40, dtype=int); y[0], y[-1] = 0, 1
    >>> model = LabelPropagation(kernel="knn", n_neighbors=3).fit(X, y)
    >>> model.transduction_[[5, 35]], model.predict([[0.5], [3.5]])
    (array([0, 1]), array([0, 1]))
    """

    def __init__(self, kernel: str = "rbf", *, gamma: float = 20.0, n_neighbors: int = 7, max_iter: int | None = None,
                 tol: float = 1e-8, weight: float = 1.0, reg: float = 0.0) -> None:
        self.kernel = kernel
        self.gamma = gamma
        self.n_neighbors = n_neighbors
        self.max_iter = max_iter
        self.tol = tol
        self.weight = weight
        self.reg = reg

    def _kernel(self, X, Y):
        """The (len(X), len(Y)) kernel weights between samples (sparse for "knn")."""
        if self.kernel == "rbf":
            from sklearn.metrics.pairwise import rbf_kernel

            return rbf_kernel(X, Y, gamma=self.gamma)
        if self.kernel == "knn":
            return self.nn_fit_.kneighbors_graph(X, min(self.n_neighbors, self.X_.shape[0]), mode="connectivity")
        raise ValueError(f"kernel must be 'rbf' or 'knn', got {self.kernel!r}")

    def fit(self, X: ArrayLike, y: ArrayLike) -> Any:
        """Fit on samples ``X`` and labels ``y`` (``-1`` for unlabelled)."""
        X, y = validate_data(self, X, y, dtype=np.float64)
        if self.kernel not in ("rbf", "knn"):
            raise ValueError(f"kernel must be 'rbf' or 'knn', got {self.kernel!r}")
        if not isinstance(self.n_neighbors, numbers.Integral) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {self.n_neighbors!r}")
        check_scalar(self.gamma, "gamma", lower=0.0, lower_inclusive=False)
        max_iter = check_int(self.max_iter, "max_iter", lower=0, allow_none=True)
        from sklearn.utils.multiclass import check_classification_targets

        check_classification_targets(y)
        self.X_ = X
        classes = np.unique(y)
        self.classes_ = classes[classes != -1]
        if self.classes_.size == 0:
            raise ValueError("y has no labelled sample (every label is -1)")
        idx = np.full(y.shape[0], -1, dtype=np.int64)
        labelled = y != -1
        idx[labelled] = np.searchsorted(self.classes_, y[labelled])
        if self.kernel == "knn":
            from sklearn.neighbors import NearestNeighbors

            self.nn_fit_ = NearestNeighbors(n_neighbors=min(self.n_neighbors, X.shape[0])).fit(X)
            W = self._kernel(X, None).tocsr()
            W = W.maximum(W.T)
        else:
            W = self._kernel(X, X)
        k = self.classes_.size
        if k == 1:  # one class: every sample gets it (nothing to solve)
            self.transduction_ = np.repeat(self.classes_, X.shape[0])
            self.label_distributions_ = np.ones((X.shape[0], 1))
            self.n_iter_ = 0
            return self
        res = bcd.label_propagation(W, idx, weight=self.weight, reg=self.reg, tol=self.tol, maxiter=max_iter)
        self.transduction_ = self.classes_[res.labels]
        p = np.clip((np.asarray(res.x) + 1.0) / 2.0, 0.0, 1.0)
        if k == 2:
            dist = np.column_stack([1.0 - p, p])
        else:
            total = p.sum(axis=1, keepdims=True)
            dist = np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / k)
        self.label_distributions_ = dist
        self.n_iter_ = int(res.nit)
        return self

    def predict_proba(self, X: ArrayLike) -> FloatArray:
        """Class probabilities of new samples: their kernel weights to the training samples times
        ``label_distributions_``, normalised (scikit-learn's rule)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        K = self._kernel(X, self.X_)
        P = np.asarray(K @ self.label_distributions_)
        total = P.sum(axis=1, keepdims=True)
        k = self.label_distributions_.shape[1]
        return np.where(total > 0, P / np.where(total > 0, total, 1.0), 1.0 / k)

    def predict(self, X: ArrayLike) -> FloatArray:
        """The most probable class of each new sample."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
