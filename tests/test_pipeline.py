"""The shared solve pipeline (itercore._pipeline): options, results, warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.optimize import OptimizeResult

import itercore
from itercore import _core, _pipeline
from contract import raises_naming

Options = _core.ot.Options  # any bound options struct will do


def test_defaults_are_the_cpp_initialisers():
    d = _pipeline.defaults(Options)
    fresh = Options()
    for name in Options._fields:
        assert getattr(d, name) == getattr(fresh, name)
    assert d.maxiter == 10000 and d.linear_solver == _core.ot.LinearSolver.auto


def test_keywords_and_options_fill_the_struct():
    o = _pipeline.make_options(Options, dict(tol=1e-6, maxiter=None, method="sns"),
                               {"linear_solver": "direct", "max_keep": np.int64(8), "history": True})
    assert o.tol == 1e-6 and o.maxiter == Options().maxiter  # None keeps the C++ default
    assert o.method == _core.ot.Method.sns and o.linear_solver == _core.ot.LinearSolver.direct
    assert o.max_keep == 8 and o.history is True


def test_option_errors_name_the_key():
    with raises_naming(TypeError, "options", match=r"unknown key 'max_kep'; did you mean 'max_keep'\?"):
        _pipeline.make_options(Options, {}, {"max_kep": 3})
    with raises_naming(TypeError, "tol", match="pass tol as a keyword"):
        _pipeline.make_options(Options, dict(tol=1e-3), {"tol": 1e-4})
    with raises_naming(TypeError, "method", match="set from the function's other arguments"):
        _pipeline.make_options(Options, {}, {"method": "sns"}, derived=dict(method=_core.ot.Method.sns))
    with raises_naming(TypeError, "max_keep", match="must be an int"):
        _pipeline.make_options(Options, {}, {"max_keep": 2.5})
    with raises_naming(TypeError, "max_keep", match="must be an int"):
        _pipeline.make_options(Options, {}, {"max_keep": True})
    with raises_naming(TypeError, "history", match="must be a bool"):
        _pipeline.make_options(Options, {}, {"history": "yes"})
    with raises_naming(TypeError, "max_step", match="real number"):
        _pipeline.make_options(Options, {}, {"max_step": "big"})
    with raises_naming(ValueError, "max_step", match="NaN"):
        _pipeline.make_options(Options, {}, {"max_step": float("nan")})
    with raises_naming(ValueError, "linear_solver", match="'auto', 'cg', 'direct'"):
        _pipeline.make_options(Options, {}, {"linear_solver": "lu"})
    with raises_naming(TypeError, "linear_solver", match="must be a str"):
        _pipeline.make_options(Options, {}, {"linear_solver": 2})
    with raises_naming(TypeError, "options", match="must be a dict"):
        _pipeline.make_options(Options, {}, [("max_keep", 3)])
    # ranges come from the struct's own C++ check(), naming the field and where it came from
    with raises_naming(ValueError, "drop_share", match=r"options\['drop_share'\]: drop_share must be in \(0, 1\)"):
        _pipeline.make_options(Options, {}, {"drop_share": 1.5})
    with raises_naming(ValueError, "maxiter", match="maxiter must be >= 0"):
        _pipeline.make_options(Options, dict(maxiter=-1))
    with raises_naming(ValueError, "max_keep", match="out of range"):
        _pipeline.make_options(Options, {}, {"max_keep": 2**80})


def test_every_bound_options_struct_has_documented_fields_and_a_check():
    structs = [getattr(sub, name) for sub in (_core.ot, _core.linalg, _core.optimize, _core.completion, _core.bcd)
               for name in dir(sub) if hasattr(getattr(sub, name), "_fields")]
    assert len(structs) >= 9
    for cls in structs:
        cls().check()  # the defaults are valid
        for name in cls._fields:
            assert getattr(cls, name).__doc__, f"{cls.__name__}.{name} has no doc"


def test_one_status_table():
    assert [_pipeline.status_name(k) for k in range(6)] == [
        "converged", "max_iter", "breakdown", "non_finite", "interrupted", "callback_stop"]
    assert {int(v) for v in _core.Status.__members__.values()} == set(_pipeline.STATUS)


def test_make_result_and_linear_info():
    info = {"status": 1, "nit": 7, "history": np.arange(3.0)}
    res = _pipeline.make_result(info, x=np.zeros(2))
    assert isinstance(res, OptimizeResult) and res.status == 1 and not res.success and res.nit == 7
    assert res.message == _pipeline.STATUS[1][1] and "history" not in res
    res = _pipeline.make_result(dict(info, status=0), history=True, message="exact")
    assert res.success and res.message == "exact" and res.history.shape == (3,)
    assert [_pipeline.linear_info(s, 7) for s in range(6) if s != 4] == [0, 7, -1, -1, 7]
    assert _pipeline.linear_info(1, 0) == 1  # scipy: info > 0 whenever not converged


def test_warning_policy():
    with pytest.warns(itercore.ConvergenceWarning, match=r"did not converge \(max_iter: .*\): err 1\.000e-02 > tol 1\.0e-08"):
        _pipeline.warn_not_converged("solver", 1, 1e-2, 1e-8, "err")
    with pytest.warns(itercore.ConvergenceWarning, match=r"\(breakdown: singular\)"):
        _pipeline.warn_not_converged("solver", 2, 1.0, 1e-8, "err", reason="singular")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _pipeline.warn_not_converged("solver", 0, 0.0, 1e-8, "err")
        _pipeline.warn_not_converged("solver", 5, 1.0, 1e-8, "err")  # the user stopped it


def test_callback_adapters():
    seen = []
    hook = _pipeline.result_callback(seen.append, "residual", phase="x")
    hook(3, 0.5, {"x": np.ones(2)})
    r = seen[0]
    assert isinstance(r, OptimizeResult) and r.nit == 3 and r.residual == 0.5 and r.phase == "x"
    hook = _pipeline.linear_callback(seen.append, transform=lambda v: v[::-1])
    hook(1, 0.1, {"x": np.array([1.0, 2.0])})
    np.testing.assert_array_equal(seen[-1], [2.0, 1.0])
    assert _pipeline.result_callback(None, "r") is None and _pipeline.linear_callback(None) is None
