"""The examples in the docstrings run and print what they say.

Every module of the package is checked (found by walking it, so a new module
is checked without an edit here), and every docstring in it, including those
of functions a package re-exports from its private modules.
"""

import doctest
import importlib
import pkgutil

import pytest

import itercore

# Importing __main__ would run the demo; _core is the compiled extension.
SKIP = {"itercore.__main__", "itercore._core"}


def _modules():
    names = ["itercore"]
    for info in pkgutil.walk_packages(itercore.__path__, prefix="itercore."):
        if info.name not in SKIP and not info.name.startswith("itercore._core."):
            names.append(info.name)
    return names


MODULES = _modules()


def test_every_family_is_checked():
    for family in ("itercore.ot", "itercore.linalg", "itercore.optimize", "itercore.completion", "itercore.bcd",
                   "itercore.bcd._lasso", "itercore._tuners", "itercore._sketch"):
        assert family in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:  # a module of an optional extra whose dependency is absent
        if (exc.name or "itercore").split(".")[0] == "itercore":
            raise
        pytest.skip(f"{name} needs {exc.name}, not installed here")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
