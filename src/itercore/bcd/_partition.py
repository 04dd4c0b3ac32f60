"""Fixed block partitions of the variables (``blocks=``), CSR-style:
block ``k`` holds ``idx[ptr[k]:ptr[k + 1]]``."""

from __future__ import annotations

import numpy as np

from .. import _core
from .._validation import check_int
from .._typing import IntArray

#: Block partitions (``blocks=``): fixed ones are formed once, here; ``"variable"``
#: and ``"greedy-forest"`` are chosen by the quadratic core each iteration.
BLOCKS = ("order", "balanced", "sorted", "variable", "coloring", "red-black", "forest", "ordered-forest", "lattice",
          "greedy-forest")
#: The partitions a problem given by its features (``minimize_smooth``) takes.
FEATURE_BLOCKS = ("order", "sorted", "balanced", "variable")
#: The partitions the quadratic core forms each iteration (``QuadraticOptions.kind``); the others are fixed.
CHOSEN_EACH_ITERATION = ("variable", "greedy-forest")

_GRAPH = {"coloring": _core.bcd.greedy_coloring, "forest": _core.bcd.forest_partition,
          "ordered-forest": _core.bcd.ordered_forest_partition}


def lattice_forests(shape: tuple[int, int]) -> IntArray:
    """The two-forest partition of an ``n1 x n2`` lattice (row-major numbering).

    Forest 0 is a comb: the even rows without their last column, joined by
    column 0; forest 1 the odd rows without their first column, joined by the
    last column. Both induce trees of the lattice graph. Returns the forest
    (0 or 1) of each node.
    """
    n1, n2 = shape
    i, j = np.divmod(np.arange(n1 * n2), n2)
    even = (i % 2) == 0
    f0 = (even & (j < n2 - 1)) | (~even & (j == 0))
    if n2 == 1:
        f0 = even
    return np.where(f0, 0, 1).astype(np.int64)


def _chunks(order, size):
    n = order.shape[0]
    ptr = np.arange(0, n + size, size, dtype=np.int64)
    ptr[-1] = n
    ptr = np.unique(np.minimum(ptr, n))
    return ptr, np.ascontiguousarray(order, dtype=np.int64)


def _from_labels(labels):
    if labels.size < 2 or bool((labels[1:] >= labels[:-1]).all()):
        order = np.arange(labels.size, dtype=np.int64)  # blocks of consecutive variables: no sort
    else:
        order = np.argsort(labels, kind="stable").astype(np.int64)
    counts = np.bincount(labels)
    ptr = np.concatenate([[0], np.cumsum(counts[counts > 0])]).astype(np.int64)
    return ptr, order


def fixed_partition(blocks, n, block_size, *, lipschitz=None, A=None, lattice_shape=None):
    """``(ptr, idx)`` of the fixed partition ``blocks`` of ``n`` variables.

    ``block_size`` sizes ``order`` / ``sorted`` / ``balanced`` blocks;
    ``lipschitz()`` returns the per-variable Lipschitz constants these two
    sort by; ``A`` (canonical CSR) is the graph of the graph partitions;
    ``lattice_shape`` the grid of ``red-black`` and ``lattice``.
    """
    if blocks == "order":
        return _chunks(np.arange(n), block_size)
    if blocks == "sorted":
        return _chunks(np.argsort(-lipschitz(), kind="stable"), block_size)
    if blocks == "balanced":
        nb = -(-n // block_size)
        order = np.argsort(-lipschitz(), kind="stable")
        rnd, k = np.divmod(np.arange(n), nb)
        block = np.where(rnd % 2 == 0, k, nb - 1 - k)  # snake: similar average L per block
        return _from_labels(block[np.argsort(order)].astype(np.int64))
    if blocks in _GRAPH:
        return _from_labels(_GRAPH[blocks](int(A.shape[0]), A.indptr, A.indices, A.data))
    if blocks in ("red-black", "lattice"):
        if lattice_shape is None:
            raise ValueError(f"lattice_shape is required for blocks={blocks!r}")
        shape = tuple(check_int(s, "lattice_shape", lower=1) for s in lattice_shape)
        if len(shape) != 2 or shape[0] * shape[1] != n:
            raise ValueError(f"lattice_shape must be two ints with product {n}, got {lattice_shape}")
        if blocks == "red-black":
            i, j = np.divmod(np.arange(n), shape[1])
            return _from_labels(((i + j) % 2).astype(np.int64))
        return _from_labels(lattice_forests(shape))
    raise ValueError(f"blocks={blocks!r} is not a fixed partition")
