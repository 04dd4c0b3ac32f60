"""The public API's rules, checked on every public signature (docs/conventions.md)."""

from __future__ import annotations

import inspect

import pytest

import itercore

FAMILIES = ("ot", "linalg", "optimize", "completion", "bcd", "distributed")  # and the Dask layer

#: Spellings that itercore does not use, and the one it uses instead.
BANNED = {
    "max_iter": "maxiter", "maxit": "maxiter", "num_iter": "maxiter", "niter": "maxiter",
    "num_threads": "n_threads", "nthreads": "n_threads", "threads": "n_threads", "n_jobs": "n_threads",
    "random_state": "seed", "rng": "seed", "random_seed": "seed",
    "record_history": "history", "return_history": "history",
    "solver": "method", "algorithm": "method",
    "newton_options": "options", "solver_options": "options",
    "x_init": "x0", "init_x": "x0", "start": "x0",
    "cb": "callback", "callbacks": "callback",
    "rel_tol": "rtol", "abs_tol": "atol", "tolerance": "tol",
}

#: Positional data arguments that have a default (documented: None means a natural default).
DATA_WITH_DEFAULT = {
    ("optimize", "minimize"): {"x0"},  # scipy.optimize.minimize(fun, x0, ...)
    ("linalg", "sor_sweep"): {"b"},  # pyamg's relaxation(A, x, b) order; b=None means zeros
}

#: POT drop-ins: POT's own signature (positional-or-keyword options, POT's spellings), documented in
#: docs/coming_from.md. Only the parameters listed are exempt; itercore's extras stay keyword-only.
_POT = {"method", "numItermax", "stopThr", "verbose", "log", "warn", "warmstart"}
DATA_WITH_DEFAULT.update({("ot", "sinkhorn"): _POT, ("ot", "sinkhorn2"): _POT})

#: Functions that return ``(x, info)`` like scipy.sparse.linalg: rtol/atol, not tol.
LINEAR = {("linalg", "sor"), ("linalg", "ssor_pcg"), ("linalg", "sketch_solve")}


def _public():
    """(family, qualified name, callable) for every public function and method."""
    out = []
    for fam in FAMILIES:
        mod = getattr(itercore, fam)
        for name in mod.__all__:
            obj = getattr(mod, name)
            if inspect.isclass(obj):
                if obj.__init__ is not object.__init__ and not _is_dataclass_like(obj):
                    out.append((fam, f"{name}.__init__", obj.__init__))
                for meth, fn in vars(obj).items():
                    if not meth.startswith("_") and inspect.isfunction(fn):
                        out.append((fam, f"{name}.{meth}", fn))
            elif callable(obj):
                out.append((fam, name, obj))
    return out


def _is_dataclass_like(cls):
    return hasattr(cls, "__dataclass_fields__") or issubclass(cls, dict)


PUBLIC = _public()


def _params(fn):
    return [p for p in inspect.signature(fn).parameters.values() if p.name not in ("self", "cls")]


@pytest.mark.parametrize("fam,name,fn", [pytest.param(*t, id=f"{t[0]}.{t[1]}") for t in PUBLIC])
def test_spellings(fam, name, fn):
    for p in _params(fn):
        assert p.name not in BANNED, f"{fam}.{name}: {p.name!r} is spelled {BANNED[p.name]!r} in itercore"


@pytest.mark.parametrize("fam,name,fn", [pytest.param(*t, id=f"{t[0]}.{t[1]}") for t in PUBLIC])
def test_data_positional_everything_else_keyword_only(fam, name, fn):
    allowed = DATA_WITH_DEFAULT.get((fam, name), set())
    for p in _params(fn):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.KEYWORD_ONLY):
            continue
        assert p.default is p.empty or p.name in allowed, (
            f"{fam}.{name}: {p.name!r} has a default but is not keyword-only")
    names = {p.name: p for p in _params(fn)}
    if "x0" in names and "x0" not in allowed:
        assert names["x0"].kind == inspect.Parameter.KEYWORD_ONLY, f"{fam}.{name}: x0 must be keyword-only"


@pytest.mark.parametrize("fam,name,fn", [pytest.param(*t, id=f"{t[0]}.{t[1]}") for t in PUBLIC])
def test_tolerances_and_shared_defaults(fam, name, fn):
    names = {p.name: p for p in _params(fn)}
    if (fam, name) in LINEAR:
        assert {"rtol", "atol"} <= names.keys() and "tol" not in names, f"{fam}.{name}: linear solvers take rtol, atol"
    else:
        assert not ({"rtol", "atol"} & names.keys()), f"{fam}.{name}: only linear solvers take rtol/atol; use tol"
    for key in ("callback", "n_threads", "seed", "options", "x0"):
        if key in names and (fam, name) not in {("optimize", "minimize")} | set(DATA_WITH_DEFAULT):
            assert names[key].default is None, f"{fam}.{name}: {key} must default to None"
    if "history" in names:
        assert names["history"].default is False, f"{fam}.{name}: history must default to False"


def test_every_family_has_public_solvers():
    assert {fam for fam, _, _ in PUBLIC} == set(FAMILIES)
