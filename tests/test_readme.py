"""The README's examples run and print what the README says they print."""

from __future__ import annotations

import contextlib
import io
import pathlib

import numpy as np
import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _examples():
    """(code, expected output) for each ```python block followed (after an
    optional "prints" line) by a plain ``` block, with its section as the id."""
    lines = README.read_text().splitlines()
    out, section, i = [], "", 0
    while i < len(lines):
        if lines[i].startswith("## "):
            section = lines[i][3:].split(":")[0].strip().replace(" ", "-")
        if lines[i].strip() != "```python":
            i += 1
            continue
        j = lines.index("```", i + 1)
        code = "\n".join(lines[i + 1:j])
        k = j + 1
        while k < len(lines) and lines[k].strip() in ("", "prints"):
            k += 1
        if k < len(lines) and lines[k].strip() == "```":
            end = lines.index("```", k + 1)
            out.append(pytest.param(code, "\n".join(lines[k + 1:end]), id=section))
            i = end + 1
        else:
            i = j + 1
    return out


EXAMPLES = _examples()


def _normalise(s):
    return [" ".join(line.split()) for line in s.strip().splitlines()]


def test_readme_has_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("code,expected", EXAMPLES)
def test_readme_example_prints_what_it_says(code, expected):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), np.printoptions(legacy=False):
        exec(compile(code, str(README), "exec"), {"__name__": "__readme__"})
    assert _normalise(buf.getvalue()) == _normalise(expected)
