"""The shared contract, run over every public solver in ``contract.CASES``."""

from __future__ import annotations

import copy
import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import OptimizeResult

import itercore
from contract import CASES, assert_gil_released, assert_interruptible, raises_naming


def cases(pred=lambda c: True):
    return [pytest.param(c, id=c.id) for c in CASES if pred(c)]


def solve(case, mode="small", dtype=np.float64, index_dtype=np.int32, **extra):
    args, kw = case.make(dtype=dtype, index_dtype=index_dtype, mode=mode)
    kw.update(extra)
    return case.call(*args, **kw)


def _replace(case, args, name, value):
    args = list(args)
    args[case.names.index(name)] = value
    return tuple(args)


def _sol(case, res):
    return np.asarray(case.solution(res))


@pytest.mark.parametrize("case", cases())
def test_float32_and_float64(case):
    ref = _sol(case, solve(case))
    assert ref.dtype == np.float64
    out = _sol(case, solve(case, dtype=np.float32))
    assert out.dtype == (np.float32 if case.float32 else np.float64)
    err = np.linalg.norm(out.astype(np.float64) - ref) / np.linalg.norm(ref)
    assert err <= case.float32_rtol, err


@pytest.mark.parametrize("case", cases(lambda c: c.sparse))
def test_int32_and_int64_indices_agree(case):
    a = _sol(case, solve(case, index_dtype=np.int32))
    b = _sol(case, solve(case, index_dtype=np.int64))
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=0)


def _strided(x):
    """The same values in a non-contiguous array."""
    if sp.issparse(x) or not isinstance(x, np.ndarray) or x.ndim == 0:
        return x
    if x.ndim == 1:
        y = np.empty(2 * x.shape[0], dtype=x.dtype)
        y[::2] = x
        out = y[::2]
    else:
        out = np.asfortranarray(x)
    assert not out.flags.c_contiguous or x.size <= 1
    return out


@pytest.mark.parametrize("case", cases())
def test_non_contiguous_input(case):
    args, kw = case.make(mode="small")
    ref = _sol(case, case.call(*args, **kw))
    out = _sol(case, case.call(*[_strided(a) for a in args], **kw))
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("case,name", [pytest.param(c, n, id=f"{c.id}-{n}") for c in CASES for n in c.truncate])
def test_inconsistent_shapes_name_the_argument(case, name):
    args, kw = case.make(mode="small")
    short = np.asarray(args[case.names.index(name)])[:-1]
    with raises_naming(ValueError, name):
        case.call(*_replace(case, args, name, short), **kw)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("case,name", [pytest.param(c, n, id=f"{c.id}-{n}") for c in CASES for n in c.finite])
def test_non_finite_data_names_the_argument(case, name, bad):
    args, kw = case.make(mode="small")
    x = args[case.names.index(name)]
    if sp.issparse(x):
        x = x.copy()
        x.data = x.data.copy()
        x.data[0] = bad
    else:
        x = np.array(x, dtype=np.float64)
        x.flat[0] = bad
    with raises_naming(ValueError, name):
        case.call(*_replace(case, args, name, x), **kw)


@pytest.mark.parametrize("case", cases(lambda c: c.empty is not None))
def test_empty_input_is_refused(case):
    args, kw = case.empty()
    with pytest.raises(ValueError, match="empty|no observ|at least"):
        case.call(*args, **kw)


@pytest.mark.parametrize("case", cases(lambda c: c.maxiter is not None))
def test_zero_iterations_warns_with_the_achieved_error(case):
    with pytest.warns(itercore.ConvergenceWarning, match=r"\d\.\d+e[+-]\d+.*tol|tol.*\d\.\d+e[+-]\d+"):
        res = solve(case, **case.maxiter)
    if case.kind == "linear":
        x, info = res
        assert info > 0
    else:
        assert np.all(res.nit == 0) and np.all(res.status == 1) and not res.success
    assert np.isfinite(_sol(case, res)).all()


def _poison(value):
    """Overwrite every array the callback got (a live buffer would corrupt the solve)."""
    arrays = [value] if isinstance(value, np.ndarray) else [v for v in value.values() if isinstance(v, np.ndarray)]
    assert arrays, "the callback got no array"
    for arr in arrays:
        if arr.dtype.kind == "f":
            arr[...] = np.nan


@pytest.mark.parametrize("case", cases(lambda c: c.callback))
def test_callback_gets_copies_and_stop_iteration_stops_quietly(case):
    calls = []

    def cb(value):
        if case.kind == "linear":
            assert isinstance(value, np.ndarray)
        else:
            assert isinstance(value, OptimizeResult) and value.nit >= 1
        _poison(value)
        calls.append(1)
        if len(calls) == 2:
            raise StopIteration

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solve(case, callback=cb)  # every small problem takes >= 3 iterations
    assert len(calls) == 2
    if case.kind == "linear":
        assert res[1] > 0
    else:
        assert res.status == 5 and not res.success and res.nit >= 1
    assert np.isfinite(_sol(case, res)).all()


@pytest.mark.parametrize("case", cases(lambda c: c.callback))
def test_callback_errors_propagate(case):
    def cb(value):
        raise ZeroDivisionError("from the callback")

    with pytest.raises(ZeroDivisionError, match="from the callback"):
        solve(case, callback=cb)


def _snapshot(x):
    if sp.issparse(x):
        return ("sparse", x.format, x.data.copy(), getattr(x, "indices", np.array([])).copy(),
                getattr(x, "indptr", np.array([])).copy())
    return copy.deepcopy(x)


def _same(a, b):
    if isinstance(a, tuple) and a and a[0] == "sparse":
        return all(np.array_equal(u, v) for u, v in zip(a[2:], b[2:])) and a[1] == b[1]
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b, equal_nan=True)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b if not callable(a) else True


@pytest.mark.parametrize("case", cases())
def test_inputs_are_not_modified(case):
    args, kw = case.make(mode="small")
    before = [_snapshot(a) for a in args], {k: _snapshot(v) for k, v in kw.items()}
    case.call(*args, **kw)
    after = [_snapshot(a) for a in args], {k: _snapshot(v) for k, v in kw.items()}
    assert _same(before[0], after[0]) and _same(before[1], after[1])


@pytest.mark.parametrize("case", cases(lambda c: "options" in inspect.signature(c.call).parameters))
def test_unknown_option_is_a_type_error_naming_it(case):
    with raises_naming(TypeError, "options", match="unknown key 'no_such_knob'"):
        solve(case, options={"no_such_knob": 1})


@pytest.mark.parametrize("case", cases(lambda c: c.seeded))
def test_same_seed_same_result(case):
    a = _sol(case, solve(case, seed=7))
    b = _sol(case, solve(case, seed=7))
    np.testing.assert_array_equal(a, b)
    c = _sol(case, solve(case, seed=np.random.default_rng(7)))
    d = _sol(case, solve(case, seed=np.random.default_rng(7)))
    np.testing.assert_array_equal(c, d)


@pytest.mark.filterwarnings("ignore::itercore.ConvergenceWarning")
@pytest.mark.parametrize("case", cases())
def test_gil_released(case):
    args, kw = case.make(mode="large")
    assert_gil_released(lambda: case.call(*args, **kw))


@pytest.mark.filterwarnings("ignore::itercore.ConvergenceWarning")
@pytest.mark.parametrize("case", cases())
def test_ctrl_c_interrupts(case):
    args, kw = case.make(mode="forever")
    assert_interruptible(lambda: case.call(*args, **kw))
