"""Type information (docs/embedding.md, "Types"): py.typed, the stubs of the
compiled extension (src/itercore/_core/*.pyi, made by tools/gen_stubs.py),
annotations on every public function and class, checked by ``mypy --strict``
on tests/typing_sample.py (which calls every public name) and by
``stubtest`` on the package.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pathlib
import subprocess
import sys

import pytest

import itercore

ROOT = pathlib.Path(__file__).resolve().parents[1]
SAMPLE = pathlib.Path(__file__).with_name("typing_sample.py")
PACKAGE = pathlib.Path(itercore.__file__).resolve().parent
FAMILIES = ("ot", "linalg", "optimize", "completion", "bcd", "distributed")

pytest.importorskip("mypy", reason="mypy is part of the test extra")


def _public():
    """(owner, name, object) for every public name: itercore's own and each family's __all__."""
    out = [("itercore", n, getattr(itercore, n)) for n in itercore.__all__ if n not in FAMILIES]
    for fam in FAMILIES:
        mod = getattr(itercore, fam)
        out += [(fam, n, getattr(mod, n)) for n in mod.__all__]
    return out


def _public_methods(cls):
    return [m for m, fn in vars(cls).items()
            if not m.startswith("_") and (inspect.isfunction(fn) or isinstance(fn, property))]


def test_py_typed_is_installed():
    assert (PACKAGE / "py.typed").is_file()


def test_sample_uses_every_public_name():
    tree = ast.parse(SAMPLE.read_text())
    used = {(node.value.id, node.attr) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)}
    attrs = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    missing = [f"{owner}.{name}" for owner, name, _ in _public() if (owner, name) not in used]
    for owner, name, obj in _public():
        if inspect.isclass(obj):
            missing += [f"{owner}.{name}.{m}" for m in _public_methods(obj) if m not in attrs]
    assert not missing, (
        f"public names not used in {SAMPLE.name}: {', '.join(missing)}. Add a typed call of each there "
        "(and annotate its signature): tests/test_typing.py checks the sample with mypy --strict.")


def _annotated(fn):
    sig = inspect.signature(fn)
    params = [p for p in sig.parameters.values() if p.name not in ("self", "cls")]
    return sig.return_annotation is not inspect.Signature.empty and all(
        p.annotation is not inspect.Parameter.empty for p in params)


def test_every_public_signature_is_annotated():
    missing = []
    for owner, name, obj in _public():
        if inspect.isclass(obj):
            init = vars(obj).get("__init__")
            if init is not None and not _annotated(init):
                missing.append(f"{owner}.{name}.__init__")
            for m in _public_methods(obj):
                fn = vars(obj)[m]
                fn = fn.fget if isinstance(fn, property) else fn
                if not _annotated(fn):
                    missing.append(f"{owner}.{name}.{m}")
        elif inspect.isfunction(obj) and not _annotated(obj):
            missing.append(f"{owner}.{name}")
    assert not missing, "public signatures without annotations: " + ", ".join(missing)


def test_sample_runs():
    import runpy

    runpy.run_path(str(SAMPLE), run_name="__main__")


def _mypy_env(tmp_path):
    # An installed itercore is found by mypy in site-packages (py.typed). An
    # editable one is imported from the source tree, which mypy must be told
    # about (it cannot follow an editable install's import hook); mypy refuses
    # a site-packages folder in MYPYPATH, hence the test.
    env = dict(os.environ)
    env.pop("MYPY_CACHE_DIR", None)
    if not {"site-packages", "dist-packages"} & set(PACKAGE.parts):
        env["MYPYPATH"] = str(PACKAGE.parent)
    return env


def test_mypy_strict_on_the_sample(tmp_path):
    cmd = [sys.executable, "-m", "mypy", "--strict", "--config-file", str(ROOT / "pyproject.toml"),
           "--cache-dir", str(tmp_path / "mypy_cache"), "--no-error-summary", str(SAMPLE)]
    if not (ROOT / "pyproject.toml").is_file():
        cmd[4:6] = []
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_mypy_env(tmp_path), cwd=tmp_path)
    sample_errors = [line for line in proc.stdout.splitlines() if SAMPLE.name in line]
    assert proc.returncode == 0 and not sample_errors, (
        "mypy --strict on tests/typing_sample.py:\n" + proc.stdout + proc.stderr)


def test_extension_stubs_are_up_to_date():
    pytest.importorskip("pybind11_stubgen", reason="pybind11-stubgen is part of the test extra")
    if not (ROOT / "tools" / "gen_stubs.py").is_file():
        pytest.skip("not a source checkout")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_stubs.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_stubtest(tmp_path):
    allowlist = ROOT / "tools" / "stubtest_allowlist.txt"
    cmd = [sys.executable, "-m", "mypy.stubtest", "itercore", "--mypy-config-file", str(ROOT / "pyproject.toml")]
    if allowlist.is_file():
        cmd += ["--allowlist", str(allowlist)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_mypy_env(tmp_path), cwd=tmp_path)
    assert proc.returncode == 0, "stubtest itercore:\n" + proc.stdout[-6000:] + proc.stderr[-2000:]


def test_extension_submodules_have_stubs():
    core = importlib.import_module("itercore._core")
    stub_dir = PACKAGE / "_core"
    subs = sorted(n for n, v in vars(core).items() if inspect.ismodule(v))
    missing = [n for n in subs if not (stub_dir / f"{n}.pyi").is_file()]
    assert not missing, f"itercore._core submodules without stubs: {missing}; run python tools/gen_stubs.py"
