"""Graph semi-supervised learning by label propagation: a sparse quadratic per
class, solved by forest-block-preconditioned CG or block coordinate descent."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import _pipeline
from .._validation import as_array, as_csr, check_callback, check_choice, check_int, check_scalar
from . import _forest_amg, _forest_pcg, _quadratic
from ._partition import CHOSEN_EACH_ITERATION
from ._problems import Quadratic, _check_symmetric
from scipy.optimize import OptimizeResult
from .._typing import ArrayLike, CallbackLike, MatrixLike, SeedLike

__all__ = ["label_propagation"]

#: ``method=`` of :func:`label_propagation`.
METHODS = ("auto", "amg", "cg", "bcd")

#: ``method="auto"`` takes the multilevel solver (``"amg"``) from this many
#: nodes on; below it the single-level forest PCG (``"cg"``) is as fast or
#: faster (its set-up is cheaper; see ``docs/bcd.md``).
AMG_MIN_NODES = 20000


def _graph_laplacian(W, extra):
    """``(W', D - W' + diag(extra))``: W' is the canonical float64 CSR ``W``
    without its diagonal and explicit zeros, D its weighted degrees; the
    second is canonical CSR too, built by inserting the diagonal into each
    row of ``-W'`` (O(nnz), no sparse arithmetic)."""
    n = W.shape[0]
    rows = np.repeat(np.arange(n, dtype=W.indices.dtype), np.diff(W.indptr))
    if (W.indices == rows).any() or (W.data == 0).any():
        W = W.copy()
        W.data[W.indices == rows] = 0.0
        W.eliminate_zeros()
        rows = np.repeat(np.arange(n, dtype=W.indices.dtype), np.diff(W.indptr))
    nnz = W.nnz
    idx_t = np.int64 if nnz + n > np.iinfo(np.int32).max else W.indices.dtype
    after = W.indices > rows  # entries right of the diagonal shift by one more
    pos = np.arange(nnz, dtype=np.int64) + rows + after
    below = np.bincount(rows, weights=~after, minlength=n).astype(np.int64)
    indptr = W.indptr.astype(np.int64) + np.arange(n + 1, dtype=np.int64)
    dpos = indptr[:-1] + below
    indices = np.empty(nnz + n, dtype=idx_t)
    data = np.empty(nnz + n)
    indices[pos] = W.indices
    data[pos] = -W.data
    indices[dpos] = np.arange(n)
    data[dpos] = np.bincount(rows, weights=W.data, minlength=n) + extra
    A = sp.csr_array((data, indices, indptr.astype(idx_t)), shape=(n, n))
    A.has_canonical_format = True
    return W, A


def label_propagation(W: MatrixLike, labels: ArrayLike, *, weight: float = 1.0, reg: float = 0.0,
                      method: str = "auto", rule: str = _quadratic._D.rule.name, blocks: str = "ordered-forest",
                      block_size: int | None = None, update: str = "message-passing",
                      omega: float = _forest_pcg._D.omega, tol: float = _quadratic._D.tol, maxiter: int | None = None,
                      callback: CallbackLike = None, seed: SeedLike = None,
                      lattice_shape: tuple[int, int] | None = None) -> OptimizeResult:
    """Graph semi-supervised learning by label propagation (a sparse quadratic).

    For each class ``c`` minimises
    ``1/2 sum_{i<j} W_ij (x_i - x_j)^2 + weight/2 sum_{i labelled} (x_i - y_i)^2 + reg/2 ||x||^2``
    with ``y_i = +1`` for class ``c`` and ``-1`` otherwise, i.e. solves
    ``(L + weight * P + reg * I) x = weight * P y`` with ``L`` the graph Laplacian
    and ``P`` the diagonal indicator of labelled nodes. Two classes need one
    solve, ``k > 2`` classes ``k`` (one-vs-rest). Serial: neither core has
    threads (no ``n_threads``).

    Parameters
    ----------
    W : (n, n) sparse or dense array
        Symmetric non-negative edge weights (the diagonal is ignored).
    labels : (n,) int array_like
        Class of each node, ``-1`` for unlabelled. Any non-negative ids:
        the ``k`` distinct ones, sorted, are ``classes`` (one solve per
        class, not per id up to the largest).
    weight : float
        Weight of the labelled-fit term (> 0).
    reg : float
        Ridge weight (>= 0). With ``reg = 0`` every connected component needs
        a labelled node (else the system is singular; an error says so).
    method : {"auto", "amg", "cg", "bcd"}
        ``"amg"``: :func:`forest_amg`, conjugate gradients preconditioned by
        a multilevel V-cycle (aggregation of the graph, forest-block sweeps as
        smoother; one set-up for all classes); ``"cg"``: :func:`forest_pcg`,
        conjugate gradients preconditioned by a symmetric sweep of exact
        forest-block solves (needs a fixed partition and
        ``update="message-passing"``); ``"bcd"``: plain block coordinate
        descent, :func:`minimize_quadratic`. ``"auto"`` (default): ``"amg"``
        for graphs of at least ``AMG_MIN_NODES`` (20,000) nodes with the
        default ``blocks`` and ``update``, else ``"cg"`` when ``blocks`` is a
        fixed partition and ``update="message-passing"``, else ``"bcd"``
        (e.g. ``blocks="greedy-forest"``). ``"amg"`` ignores ``blocks``,
        ``block_size``, ``omega`` and ``lattice_shape`` (its levels are
        partitioned into ordered forests).
    rule, update, seed
        As in :func:`minimize_quadratic` (``method="bcd"`` only).
    blocks, block_size, lattice_shape, tol, maxiter
        As in :func:`minimize_quadratic` / :func:`forest_pcg`. The default,
        ``blocks="ordered-forest"`` with ``method="cg"``, was the fastest on
        lattices here (see ``docs/bcd.md``); the paper's greedy forests are
        ``blocks="greedy-forest"``.
    omega : float
        Block SSOR relaxation in (0, 2) for ``method="cg"``. On lattices 1.4
        took 21 iterations where 1.0 took 30; on k-nearest-neighbour graphs
        1.0-1.2 did best, so the default stays 1.0.
    callback : callable, optional
        ``callback(intermediate_result)`` as in the function ``method``
        chooses (``x``, ``nit``, ``optimality``). With ``k > 2`` classes the
        solves run one after the other (with ``method="cg"`` on one
        preconditioner set-up) and the callback sees the iterates of each in
        turn; ``StopIteration`` stops them all.

    Returns
    -------
    OptimizeResult
        ``x`` the scores (``(n,)`` for two classes, positive means
        ``classes[1]``; ``(n, k)`` otherwise, column ``c`` for ``classes[c]``),
        ``labels`` the predicted class id of each node, ``classes``,
        ``nit`` (summed over solves), ``optimality`` (the worst relative
        residual), ``method``, ``success``, ``status`` (that of the first solve
        that did not converge), ``message``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from itercore import bcd
    >>> T = sp.diags([1.0, 1.0], [-1, 1], shape=(30, 30))
    >>> W = sp.kron(sp.identity(30), T) + sp.kron(T, sp.identity(30))
    >>> labels = -np.ones(900, dtype=int); labels[::10] = np.arange(90) % 2  # 10% labelled
    >>> res = bcd.label_propagation(W, labels)  # forest-block-preconditioned CG
    >>> bool(res.success), bool(np.all(res.labels[::10] == labels[::10]))
    (True, True)
    >>> res = bcd.label_propagation(W, labels, blocks="lattice", rule="cyclic", lattice_shape=(30, 30),
    ...                             method="bcd")  # plain BCD on the two-tree partition
    >>> bool(res.success)
    True
    """
    Wc = as_csr(W, "W", square=True, dtype=np.float64)
    _check_symmetric(Wc, "W")
    if Wc.nnz and Wc.data.min() < 0:
        raise ValueError("W must have non-negative weights")
    n = Wc.shape[0]
    lab = as_array(labels, "labels")
    if lab.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {lab.shape}")
    if lab.dtype.kind not in "iub":
        raise TypeError(f"labels must be integers (-1 for unlabelled), got dtype {lab.dtype}")
    lab = lab.astype(np.int64)
    if lab.min() < -1:
        raise ValueError("labels must be >= -1 (-1 marks unlabelled nodes)")
    labelled = lab >= 0
    if not labelled.any():
        raise ValueError("labels must contain at least one labelled node")
    weight = check_scalar(weight, "weight", lower=0.0, lower_inclusive=False)
    reg = check_scalar(reg, "reg", lower=0.0)
    method = check_choice(method, "method", METHODS)
    if method == "auto":
        fixed = isinstance(blocks, str) and blocks not in CHOSEN_EACH_ITERATION
        method = "cg" if fixed and update == "message-passing" else "bcd"
        if method == "cg" and blocks == "ordered-forest" and n >= AMG_MIN_NODES:
            method = "amg"
    if method == "cg" and update != "message-passing":
        raise ValueError(f"update must be 'message-passing' for method='cg' (exact forest-block solves), "
                         f"got {update!r}")
    Wc, A = _graph_laplacian(Wc, weight * labelled + reg)
    if reg == 0.0:
        from scipy.sparse.csgraph import connected_components

        ncomp, comp = connected_components(Wc, directed=False)
        has = np.zeros(ncomp, dtype=bool)
        has[comp[labelled]] = True
        if not has.all():
            raise ValueError("labels: a connected component of W has no labelled node; set reg > 0")
    ids, compact = np.unique(lab[labelled], return_inverse=True)  # ids 0, 7, 10**6 -> 0, 1, 2
    lab = np.full(n, -1, dtype=np.int64)
    lab[labelled] = compact
    if ids.size == 1:  # one class labelled: two classes, 0 and that one (or 0 and 1)
        if ids[0] == 0:
            ids = np.array([0, 1])
        else:
            ids, lab[labelled] = np.array([0, ids[0]]), 1
    classes = int(ids.size)
    targets = [1] if classes <= 2 else list(range(classes))
    Y = np.stack([weight * np.where(labelled, np.where(lab == c, 1.0, -1.0), 0.0) for c in targets])
    q = Quadratic._trusted(A, Y[0])  # A = D - W + diag(...) is symmetric since W is
    hook = _pipeline.result_callback(check_callback(callback), "optimality")
    X = np.zeros_like(Y)
    if method == "amg":  # one hierarchy for all classes
        opts = _forest_amg._options(None, tol=tol)
        opts.maxiter = max(1000, n) if maxiter is None else check_int(maxiter, "maxiter", lower=0)
        amg = _forest_amg._build(A, opts)
        infos = amg._amg.solve(Y, X, opts.tol, opts.maxiter, hook)
    elif method == "cg":  # one preconditioner set-up for all classes
        opts, part = _forest_pcg._setup(q, blocks=blocks, block_size=block_size, omega=omega, tol=tol,
                                        maxiter=maxiter, lattice_shape=lattice_shape, options=None)
        infos = _forest_pcg._solve(q, Y, X, part, opts, hook)
    else:
        opts, part = _quadratic._setup(q, rule=rule, blocks=blocks, block_size=block_size, update=update, tol=tol,
                                       maxiter=maxiter, seed=seed, history=False, lattice_shape=lattice_shape,
                                       options=None)
        infos = []
        for y, x in zip(Y, X):
            q.b = y
            infos.append(_quadratic._solve(q, x, part, opts, hook))
            if infos[-1]["status"] == _pipeline.CALLBACK_STOP:
                break  # the later classes are not started
    status = next((info["status"] for info in infos if info["status"] != _pipeline.CONVERGED), _pipeline.CONVERGED)
    optimality = max(info["residual"] for info in infos) if len(infos) == len(Y) else float("inf")
    if classes <= 2:
        x, pred = X[0], (X[0] > 0).astype(np.int64)
    else:
        x = np.ascontiguousarray(X.T)
        pred = np.argmax(x, axis=1).astype(np.int64)
    res = _pipeline.make_result(dict(status=status, nit=sum(info["nit"] for info in infos)), x=x,
                                labels=ids.astype(np.int64)[pred], classes=ids.astype(np.int64),
                                optimality=optimality, method=method)
    _pipeline.warn_not_converged(f"itercore.bcd.label_propagation ({method})", res.status, res.optimality, opts.tol,
                                 "relative residual")
    return res
