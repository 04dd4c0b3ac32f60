"""The examples in the public docstrings run and print what they say."""

import doctest
import importlib

import pytest

MODULES = ["itercore.linalg", "itercore._tuners", "itercore._sketch", "itercore.optimize", "itercore.ot", "itercore._embed",
           "itercore.completion", "itercore.bcd"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} docstring examples failed in {name}"
