"""Private helpers shared by the families' Python layers."""

from __future__ import annotations


def csr_args(M):
    """The ``(rows, cols, indptr, indices, data)`` a core takes for a validated CSR."""
    return (int(M.shape[0]), int(M.shape[1]), M.indptr, M.indices, M.data)
