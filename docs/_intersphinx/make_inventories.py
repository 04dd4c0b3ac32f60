"""Write the intersphinx inventories this site links through, offline.

The build has no network, so ``conf.py`` points intersphinx at the files
written here instead of the projects' own ``objects.inv``. Each inventory
holds only the objects these docs name, with the address of their page in
that project's online documentation (``TARGETS`` in ``conf.py`` gives the
base URLs). Run ``python docs/_intersphinx/make_inventories.py`` after adding
an entry; a reference to an object missing here is simply not linked (the
build does not fail).
"""

from __future__ import annotations

import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _generated(names, kind, prefix="reference/generated/"):
    return [(name, kind, f"{prefix}{name}.html#{name}") for name in names]


INVENTORIES = {
    "python": ("Python", [
        *[(n, "py:exception", f"library/exceptions.html#{n}")
          for n in ("RuntimeWarning", "StopIteration", "ValueError", "TypeError", "KeyboardInterrupt")],
        *[(n, "py:class", f"library/functions.html#{n}") for n in ("float", "int", "bool", "str")],
        *[(n, "py:class", f"library/stdtypes.html#{n}") for n in ("dict", "tuple", "list")],
        ("pickle", "py:module", "library/pickle.html#module-pickle"),
        ("json", "py:module", "library/json.html#module-json"),
        ("concurrent.futures.ThreadPoolExecutor", "py:class",
         "library/concurrent.futures.html#concurrent.futures.ThreadPoolExecutor"),
        ("warnings.catch_warnings", "py:class", "library/warnings.html#warnings.catch_warnings"),
        *[(n, "py:data", f"library/constants.html#{n}") for n in ("None", "True", "False")],
        ("callable", "py:function", "library/functions.html#callable"),
        ("iterable", "std:term", "glossary.html#term-iterable"),
        # numpydoc links the type "bool" to this label
        ("bltin-boolean-values", "std:label", "library/stdtypes.html#bltin-boolean-values", "Boolean Values"),
    ]),
    "numpy": ("NumPy", [
        ("numpy", "py:module", "reference/index.html#module-numpy"),
        *_generated(["numpy.ndarray", "numpy.dtype"], "py:class"),
        *_generated(["numpy.linalg.norm", "numpy.linalg.solve", "numpy.linalg.lstsq", "numpy.linalg.pinv",
                     "numpy.linspace", "numpy.logspace", "numpy.asarray", "numpy.ascontiguousarray"],
                    "py:function"),
        ("numpy.random.Generator", "py:class", "reference/random/generator.html#numpy.random.Generator"),
        ("numpy.random.default_rng", "py:function", "reference/random/generator.html#numpy.random.default_rng"),
        *[(f"numpy.{t}", "py:class", f"reference/arrays.scalars.html#numpy.{t}")
          for t in ("float64", "float32", "int32", "int64")],
        ("array_like", "std:term", "glossary.html#term-array_like"),
        # numpydoc links the type "scalar" to this label
        ("arrays.scalars", "std:label", "reference/arrays.scalars.html#arrays-scalars", "Scalars"),
    ]),
    "scipy": ("SciPy", [
        ("scipy.optimize", "py:module", "reference/optimize.html#module-scipy.optimize"),
        ("scipy.sparse", "py:module", "reference/sparse.html#module-scipy.sparse"),
        ("scipy.sparse.linalg", "py:module", "reference/sparse.linalg.html#module-scipy.sparse.linalg"),
        *_generated(["scipy.optimize.OptimizeResult", "scipy.optimize.NonlinearConstraint",
                     "scipy.optimize.LinearConstraint", "scipy.sparse.linalg.LinearOperator",
                     "scipy.sparse.csr_matrix", "scipy.sparse.csr_array", "scipy.sparse.csc_matrix",
                     "scipy.sparse.csc_array", "scipy.sparse.coo_matrix", "scipy.sparse.coo_array"], "py:class"),
        *_generated(["scipy.optimize.minimize", "scipy.sparse.linalg.cg", "scipy.sparse.linalg.minres",
                     "scipy.sparse.linalg.gmres", "scipy.sparse.linalg.spsolve", "scipy.sparse.linalg.lsqr",
                     "scipy.sparse.linalg.splu", "scipy.sparse.issparse", "scipy.linalg.cho_factor",
                     "scipy.linalg.lstsq"], "py:function"),
    ]),
    "pot": ("POT Python Optimal Transport", [
        ("ot", "py:module", "all.html#module-ot"),
        *[(f"ot.{f}", "py:function", f"all.html#ot.{f}")
          for f in ("sinkhorn", "sinkhorn2", "emd", "emd2", "solve", "dist")],
        *[(f"ot.bregman.{f}", "py:function", f"gen_modules/ot.bregman.html#ot.bregman.{f}")
          for f in ("sinkhorn_log", "sinkhorn_knopp", "sinkhorn_stabilized")],
    ]),
}


def write(key, project, entries):
    header = (f"# Sphinx inventory version 2\n# Project: {project}\n# Version: \n"
              "# The remainder of this file is compressed using zlib.\n")
    lines = []
    for name, role, uri, *title in sorted(entries):
        lines.append(f"{name} {role} {-1 if role.startswith('std:') else 1} {uri} {title[0] if title else '-'}\n")
    body = "".join(lines)
    (HERE / f"{key}.inv").write_bytes(header.encode() + zlib.compress(body.encode()))


if __name__ == "__main__":
    for key, (project, entries) in INVENTORIES.items():
        write(key, project, entries)
        print(f"{key}.inv: {len(entries)} objects")
