"""Sphinx configuration of the itercore site.

Build it with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``
(after ``pip install ".[docs]"``); ``tests/test_docs_site.py`` runs the same
build in a temporary folder.

- Guides: the Markdown files in this folder, read by myst-parser. Every
  top-level ``*.md`` page but the home, getting-started and choosing pages
  is listed in the toctree of ``guides.md`` (filled in by ``guide_pages``
  below), so a new guide needs no edit here.
- API reference: ``api/*.rst``, one page per family, autosummary tables
  written by hand; ``tests/test_docs_site.py`` fails when a public name is
  missing from them.
- Gallery: sphinx-gallery runs ``examples/gallery/**/plot_*.py`` at build
  time (``examples/cpp`` and ``examples/cython`` are not gallery examples).
- Cross-links to Python, NumPy, SciPy and POT go through intersphinx with
  inventories shipped in ``_intersphinx/`` (made by
  ``_intersphinx/make_inventories.py``), so the build never touches the
  network.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import itercore

HERE = Path(__file__).resolve().parent

project = "itercore"
author = "the itercore developers"
copyright = "the itercore developers"
release = itercore.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_intersphinx", "Thumbs.db", ".DS_Store", "auto_examples/**/*.ipynb",
                    "auto_examples/**/*.py", "auto_examples/**/*.zip", "auto_examples/**/*.json",
                    "auto_examples/**/*.md5"]
# myst's anchors let guides link to their sections (``[x](#a-heading)``).
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # guides may start at level 1 and jump to 3

# -- the guides: every top-level Markdown page but these, families first ------------
_NOT_GUIDES = {"index", "guides", "getting_started", "choosing"}
_GUIDE_ORDER = ["ot", "linalg", "optimize", "completion", "bcd", "conventions"]


def guide_pages():
    """The docnames of the guides toctree: a new ``docs/*.md`` page is listed without an edit."""
    found = sorted(p.stem for p in HERE.glob("*.md") if p.stem not in _NOT_GUIDES)
    return [g for g in _GUIDE_ORDER if g in found] + [g for g in found if g not in _GUIDE_ORDER]


_API_ORDER = ["ot", "linalg", "optimize", "completion", "bcd", "itercore"]


def api_pages():
    """The pages of ``api/index``: every ``api/*.rst``, the families first."""
    found = sorted(p.stem for p in (HERE / "api").glob("*.rst") if p.stem != "index")
    return [p for p in _API_ORDER if p in found] + [p for p in found if p not in _API_ORDER]


# Guides share their "README section" with README.md, whose links are relative
# to the repository root: ``[docs/ot.md](docs/ot.md)`` is the page ``ot`` here.
_REPO_DOC_LINK = re.compile(r"\]\(docs/([A-Za-z0-9_-]+)\.md(#[^)]*)?\)")


def _fill_toctrees(app, docname, source):
    if docname == "guides":
        source[0] = source[0].replace("@GUIDES@", "\n".join(guide_pages()))
    elif docname == "api/index":
        source[0] = source[0].replace("@API_PAGES@", "\n   ".join(api_pages()))
    elif docname in guide_pages():
        source[0] = _REPO_DOC_LINK.sub(
            lambda m: f"]({m.group(1)}.md{m.group(2) or ''})" if (HERE / f"{m.group(1)}.md").is_file()
            else m.group(0), source[0])


def _reread_toctree_pages(app, env, added, changed, removed):
    """Re-read the generated toctrees on every build, so an incremental build sees new pages."""
    return ["guides", "api/index"]


def setup(app):
    app.connect("source-read", _fill_toctrees)
    app.connect("env-get-outdated", _reread_toctree_pages)


# -- autodoc / autosummary / numpydoc ------------------------------------------
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False  # the class template lists the members
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "ndarray": "numpy.ndarray",
    "sparse matrix": "scipy.sparse.csr_matrix",
    "OptimizeResult": "scipy.optimize.OptimizeResult",
    "LinearOperator": "scipy.sparse.linalg.LinearOperator",
    "Generator": "numpy.random.Generator",
}
# Type words that are not objects; any other word is looked up (a name that
# resolves nowhere stays plain text: the build is not nitpicky).
numpydoc_xref_ignore = {"of", "or", "and", "optional", "default", "shape", "type", "like", "same", "as", "the",
                        "with", "for", "a", "an", "one", "each", "per", "if", "else", "when",
                        "n", "m", "k", "p", "K", "N"}  # shape letters: "(n, m) array_like"

# -- intersphinx: shipped inventories, never the network -----------------------
_INV = HERE / "_intersphinx"
_TARGETS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "pot": "https://pythonot.github.io/",
}
intersphinx_mapping = {
    key: (url, str(_INV / f"{key}.inv")) for key, url in _TARGETS.items() if (_INV / f"{key}.inv").is_file()
}
intersphinx_timeout = 1

# -- HTML ----------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"itercore {release}"
html_static_path = ["_static"]
html_css_files = ["itercore.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": [], "choosing": []}
html_show_sourcelink = False
html_copy_source = False

# -- gallery -------------------------------------------------------------------
os.environ.setdefault("MPLBACKEND", "Agg")
warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg, which is a non-GUI backend")

sphinx_gallery_conf = {
    "examples_dirs": ["../examples/gallery"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",  # every plot_*.py runs at build time
    "ignore_pattern": r"(__init__|_helpers)\.py",
    # the families in the order of the home page, then any other folder
    "subsection_order": [f"../examples/gallery/{f}" for f in ("ot", "linalg", "optimize", "completion", "bcd")]
    + ["*"],
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "plot_gallery": os.environ.get("ITERCORE_DOCS_PLOT_GALLERY", "True"),
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "write_computation_times": True,
}
