"""Build and runtime configuration: ``itercore.show_config()``."""

from __future__ import annotations

import platform
import sys
from typing import Any, TextIO

import numpy as np
import scipy

from . import _core
from ._version import __version__


def get_config() -> dict[str, Any]:
    """How itercore was built and what it will use at run time.

    Returns
    -------
    dict
        Keys ``version``, ``python``, ``numpy``, ``scipy``, ``compiler``,
        ``cxx_flags``, ``build_type``, ``openmp``, ``openmp_version``,
        ``max_threads`` (OpenMP's current default for this thread),
        ``eigen_version``, ``simd``, ``cuda``.
    """
    info = dict(_core.build_info())
    info.update(
        version=__version__,
        python=platform.python_version(),
        numpy=np.__version__,
        scipy=scipy.__version__,
        max_threads=int(_core._default_threads()),
    )
    return info


def show_config(file: TextIO | None = None) -> None:
    """Print how itercore was built and the threads it will use.

    Parameters
    ----------
    file : file-like, optional
        Where to print; default ``sys.stdout``.
    """
    c = get_config()
    omp = f"on (version {c['openmp_version']}), max threads {c['max_threads']}" if c["openmp"] else "off (1 thread)"
    lines = [
        f"itercore {c['version']}",
        f"  python:     {c['python']} ({sys.platform}), numpy {c['numpy']}, scipy {c['scipy']}",
        f"  compiler:   {c['compiler']}",
        f"  flags:      {c['cxx_flags']} [{c['build_type']}]",
        f"  OpenMP:     {omp}",
        f"  Eigen:      {c['eigen_version']}",
        f"  SIMD:       {c['simd']}",
        f"  CUDA:       {'on' if c['cuda'] else 'off'}",
    ]
    print("\n".join(lines), file=file or sys.stdout)
