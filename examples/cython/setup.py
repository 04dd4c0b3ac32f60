"""Build the Cython example against the installed itercore:

    pip install "itercore[cpp]" cython setuptools
    python setup.py build_ext --inplace

(itercore.get_include() holds the C++ headers; the Eigen headers come from
the cmeel-eigen package that the [cpp] extra installs.)
"""
import pathlib
import sys

import cmeel  # the cmeel-eigen package (itercore[cpp]) installs Eigen under cmeel.prefix
import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

import itercore

eigen = str(pathlib.Path(cmeel.__path__[0]).parent / "cmeel.prefix" / "include" / "eigen3")
openmp = [] if sys.platform == "win32" else ["-fopenmp"]
ext = Extension(
    "itercore_cython_example",
    ["itercore_cython_example.pyx"],
    language="c++",
    include_dirs=[itercore.get_include(), eigen, numpy.get_include()],
    extra_compile_args=(["/std:c++17", "/openmp"] if sys.platform == "win32" else ["-std=c++17", "-O1"] + openmp),
    extra_link_args=openmp,
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
)
setup(name="itercore-cython-example", ext_modules=cythonize([ext]))
