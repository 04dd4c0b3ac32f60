"""itercore: fast iterative solvers with C++17/OpenMP cores and a scipy-style API.

Families (each a submodule):

- ``itercore.linalg``: SOR / SSOR / SSOR-PCG, an omega learned across a
  sequence of systems, and sketch-and-project solvers.
- ``itercore.completion``: low-rank matrix completion by robust alternating
  minimization with exact, CG and sketch-preconditioned row solves.
- ``itercore.bcd``: block coordinate descent with greedy block rules,
  message passing on forest blocks and active-set Newton for L1.
- ``itercore.ot``: entropic optimal transport by log-domain Sinkhorn and
  Sinkhorn-Newton-Sparse.
- ``itercore.optimize``: equality-constrained optimization by adaptive inexact
  Newton on an exact augmented Lagrangian with randomized sketching.

``itercore.distributed`` runs completion and batches of problems on a Dask
cluster (``pip install "itercore[distributed]"``).

Use :func:`show_config` to see how the extension was built and how many
threads it will use. :func:`get_include` and :func:`get_cmake_dir` locate the
installed C++ headers and CMake package (docs/embedding.md).
"""

from ._version import __version__
from ._warnings import ConvergenceWarning
from ._config import get_config, show_config
from ._embed import get_cmake_dir, get_include
from . import bcd, completion, distributed, linalg, optimize, ot

__all__ = [
    "__version__", "ConvergenceWarning", "get_config", "show_config",
    "get_include", "get_cmake_dir",
    "bcd", "completion", "distributed", "linalg", "optimize", "ot",
]
