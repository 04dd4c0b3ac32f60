"""The documentation site: the API reference lists every public name, the
getting-started examples print what they say, and the whole site (guides,
API reference, gallery) builds with warnings as errors.

The build test needs the docs dependencies (in the ``test`` and ``docs``
extras) and is skipped, with the reason printed, only where they are not
installed. It builds into a temporary folder from a copy of ``docs/`` and
``examples/gallery/``, so the checkout is not touched.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import itercore

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"
GALLERY = ROOT / "examples" / "gallery"


# --- the API reference lists every public name -----------------------------------

def public_modules():
    """``itercore`` and each of its public submodules (names without a leading underscore)."""
    names = ["itercore"]
    for info in pkgutil.iter_modules(itercore.__path__):
        if not info.name.startswith("_"):
            names.append(f"itercore.{info.name}")
    return names


def _module_file(name):
    spec = importlib.util.find_spec(name)
    return Path(spec.origin)


def public_names(module_name):
    """The names a module makes public: its ``__all__`` (read from the source, so
    a module whose optional dependencies are missing is still checked), else
    the public functions and classes defined in it. Submodules and
    ``__version__`` are not API entries (submodules get their own page)."""
    tree = ast.parse(_module_file(module_name).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        else:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            names = list(ast.literal_eval(node.value))
            break
    else:
        module = importlib.import_module(module_name)
        names = [n for n, obj in vars(module).items() if not n.startswith("_") and callable(obj)
                 and getattr(obj, "__module__", "").startswith(module_name)]
    submodules = {info.name for info in pkgutil.iter_modules([str(_module_file(module_name).parent)])} \
        if _module_file(module_name).name == "__init__.py" else set()
    top = {info.name for info in pkgutil.iter_modules(itercore.__path__)} if module_name == "itercore" else set()
    return [n for n in names if n not in submodules | top and n != "__version__"]


def documented():
    """(automodule targets, fully qualified autosummary entries) of docs/api/*.rst."""
    modules, entries = set(), set()
    for page in sorted(API.glob("*.rst")):
        current, in_summary = None, False
        for line in page.read_text().splitlines():
            m = re.match(r"\.\. (automodule|currentmodule|module)::\s*(\S+)", line)
            if m:
                current = m.group(2)
                if m.group(1) == "automodule":
                    modules.add(current)
                in_summary = False
                continue
            if line.startswith(".. autosummary::"):
                in_summary = True
                continue
            if in_summary:
                if line.strip() == "" or line.strip().startswith(":"):
                    continue
                if not line.startswith(" "):
                    in_summary = False
                    continue
                name = line.strip()
                entries.add(name if "." in name else f"{current}.{name}")
    return modules, entries


def test_api_reference_lists_every_public_name():
    modules, entries = documented()
    missing_pages = [m for m in public_modules() if m not in modules]
    missing = [f"{m}.{n}" for m in public_modules() for n in public_names(m) if f"{m}.{n}" not in entries]
    assert not missing_pages, (f"public modules without an API page (add docs/api/<name>.rst with "
                               f"'.. automodule::' and an autosummary table): {missing_pages}")
    assert not missing, (f"public names missing from the autosummary tables of docs/api/*.rst "
                         f"(add them to their module's page): {missing}")


def test_api_reference_check_can_fail(tmp_path, monkeypatch):
    """The check above sees a name that is public but not documented."""
    page = tmp_path / "ot.rst"
    page.write_text((API / "ot.rst").read_text().replace("   sinkhorn2\n", ""))
    for other in API.glob("*.rst"):
        if other.name != "ot.rst":
            shutil.copy(other, tmp_path / other.name)
    monkeypatch.setattr(sys.modules[__name__], "API", tmp_path)
    _, entries = documented()
    assert "itercore.ot.sinkhorn" in entries and "itercore.ot.sinkhorn2" not in entries


# --- the getting-started page prints what it says --------------------------------

def _md_examples(path):
    """(code, expected output) for each ```python block followed by a plain ``` block."""
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        if lines[i].strip() != "```python":
            i += 1
            continue
        j = lines.index("```", i + 1)
        k = j + 1
        while k < len(lines) and lines[k].strip() == "":
            k += 1
        if k < len(lines) and lines[k].strip() == "```":
            end = lines.index("```", k + 1)
            out.append(("\n".join(lines[i + 1:j]), "\n".join(lines[k + 1:end])))
            i = end + 1
        else:
            i = j + 1
    return out


GETTING_STARTED = _md_examples(DOCS / "getting_started.md")


def test_getting_started_has_one_example_per_family():
    assert len(GETTING_STARTED) >= 5


@pytest.mark.parametrize("code,expected", GETTING_STARTED, ids=[f"example{i}" for i in range(len(GETTING_STARTED))])
def test_getting_started_example_prints_what_it_says(code, expected):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), np.printoptions(legacy=False):
        exec(compile(code, "getting_started.md", "exec"), {"__name__": "__docs__"})
    norm = lambda s: [" ".join(line.split()) for line in s.strip().splitlines()]  # noqa: E731
    assert norm(buf.getvalue()) == norm(expected)


# --- the whole site builds with warnings as errors -------------------------------

DOCS_DEPS = ("sphinx", "pydata_sphinx_theme", "numpydoc", "myst_parser", "sphinx_gallery", "matplotlib")


def _missing_docs_deps():
    return [m for m in DOCS_DEPS if importlib.util.find_spec(m) is None]


def test_gallery_has_a_plot_per_family():
    for family in ("ot", "linalg", "optimize", "completion", "bcd"):
        scripts = sorted((GALLERY / family).glob("plot_*.py"))
        assert scripts, f"no gallery example for {family} in examples/gallery/{family}/"
        assert any("plt." in s.read_text() for s in scripts), f"no matplotlib plot in the {family} examples"


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    missing = _missing_docs_deps()
    if missing:
        pytest.skip(f"docs dependencies not installed ({', '.join(missing)}): pip install '.[docs]'")
    work = tmp_path_factory.mktemp("site")
    src = work / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "generated", "auto_examples",
                                                              "sg_execution_times.rst"))
    shutil.copytree(GALLERY, work / "examples" / "gallery")
    out = work / "html"
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONWARNINGS="ignore::DeprecationWarning")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
                           "-d", str(work / "doctrees"), str(src), str(out)],
                          capture_output=True, text=True, env=env, timeout=900)
    seconds = time.perf_counter() - start
    print(f"site built in {seconds:.0f} s")
    assert proc.returncode == 0, f"sphinx -W --keep-going failed:\n{proc.stderr[-6000:]}\n{proc.stdout[-2000:]}"
    return out, src


def test_site_builds_with_warnings_as_errors(built_site):
    out, _ = built_site
    for page in ("index.html", "getting_started.html", "choosing.html", "guides.html", "api/index.html",
                 "auto_examples/index.html", "ot.html", "linalg.html", "bcd.html"):
        assert (out / page).is_file(), f"{page} was not built"


def test_site_has_a_page_for_every_public_name(built_site):
    out, _ = built_site
    missing = [f"{m}.{n}" for m in public_modules() for n in public_names(m)
               if not (out / "api" / "generated" / f"{m}.{n}.html").is_file()]
    assert not missing, f"no API page built for {missing}"
    solve = (out / "api" / "generated" / "itercore.ot.entropic.html").read_text()
    assert "Parameters" in solve and "Returns" in solve and "Examples" in solve


def test_site_lists_every_guide(built_site):
    out, _ = built_site
    guides = (out / "guides.html").read_text()
    for md in DOCS.glob("*.md"):
        if md.stem not in ("index", "guides", "getting_started", "choosing"):
            assert f'href="{md.stem}.html"' in guides, f"{md.name} is not in the guides toctree"


def test_gallery_ran_and_drew_plots(built_site):
    out, src = built_site
    scripts = sorted(GALLERY.glob("*/plot_*.py"))
    for script in scripts:
        rel = script.relative_to(GALLERY).with_suffix("")
        assert (out / "auto_examples" / f"{rel}.html").is_file(), f"no page for {rel}"
        images = list((out / "_images").glob(f"sphx_glr_{script.stem}_*.png"))
        assert any("thumb" not in p.name for p in images), f"{rel} drew no figure"
        assert any("thumb" in p.name for p in images), f"{rel} has no thumbnail"


def test_intersphinx_links_offline(built_site):
    out, _ = built_site
    api_ot = (out / "api" / "ot.html").read_text()
    assert "https://pythonot.github.io/all.html#ot.sinkhorn" in api_ot
    result = (out / "api" / "generated" / "itercore.ot.entropic.html").read_text()
    assert "https://docs.scipy.org/doc/scipy/reference/generated/scipy.optimize.OptimizeResult.html" in result
