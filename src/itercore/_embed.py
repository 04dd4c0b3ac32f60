"""Where the installed C++ package lives (headers, CMake config), for C++ and Cython users."""

from __future__ import annotations

import os


def _package_root() -> str:
    # The headers and the CMake config are installed next to the compiled
    # extension. In a regular install that is this package's folder; in an
    # editable install the Python files stay in the source tree while
    # `_core` (and what CMake installed with it) sits in site-packages.
    from . import _core

    return os.path.dirname(os.path.abspath(_core.__file__))


def get_include() -> str:
    """Return the directory holding itercore's C++ headers.

    Pass it to the compiler as an include directory (``-I``) to
    ``#include <itercore/linalg/relaxation.hpp>`` and the other cores, or to
    Cython (``include_dirs``) with the ``.pxd`` files of ``itercore``. The
    headers also need Eigen (``pip install "itercore[cpp]"`` brings the
    ``cmeel-eigen`` headers); CMake users get both, and OpenMP, from
    :func:`get_cmake_dir`.

    Returns
    -------
    str
        The absolute path of the folder that contains ``itercore/``.

    Examples
    --------
    >>> import os, itercore
    >>> os.path.isfile(os.path.join(itercore.get_include(), "itercore", "linalg", "relaxation.hpp"))
    True
    """
    return os.path.join(_package_root(), "include")


def get_cmake_dir() -> str:
    """Return the directory holding ``itercoreConfig.cmake``.

    A C++ project then finds the header-only cores with
    ``find_package(itercore CONFIG REQUIRED)`` and links ``itercore::headers``
    (include directory, C++17, Eigen, OpenMP when found)::

        cmake -S . -B build -Ditercore_DIR="$(python -c 'import itercore; print(itercore.get_cmake_dir())')"

    Returns
    -------
    str
        The absolute path of the folder that contains ``itercoreConfig.cmake``.

    Examples
    --------
    >>> import os, itercore
    >>> os.path.isfile(os.path.join(itercore.get_cmake_dir(), "itercoreConfig.cmake"))
    True
    """
    return os.path.join(_package_root(), "share", "cmake", "itercore")
