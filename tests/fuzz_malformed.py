"""Malformed-input fuzzing over the contract registry (``contract.CASES``),
run by ``tests/test_bad_input.py`` in a child process: a crash must fail the
test, not kill the test run.

For each registered solver, hypothesis takes the Case's small valid problem
and replaces ONE thing (a data argument, a keyword argument or the
``options`` dict) by something malformed or extreme. The call must either
succeed (some replacements are valid: an int array, a big-endian copy, a
larger ``maxiter``) or raise ``ValueError``/``TypeError`` naming what was
replaced. Anything else (another exception, a message that does not name the
argument, a crash) fails.

``python tests/fuzz_malformed.py EXAMPLES [case id ...]`` prints one JSON
line per example before calling (``start``: the parent names the example
that killed the process) and per failure, then a ``done`` line.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
import warnings

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import contract  # noqa: E402

#: Keywords a solver may take and values that are malformed or extreme for them.
INTS = [-1, 0, 2**31, 2**63, 2**64, -(2**63) - 1, 10**30, True, 1.5, "3", None, np.int64(5), np.uint64(2**63)]
FLOATS = [float("nan"), float("inf"), -float("inf"), -1.0, 0.0, 1e308, -1e-308, "0.1", None, True, 1j,
          np.float32(1e-3), np.array([1e-3])]
KEYWORDS = {
    "maxiter": INTS, "max_newton": INTS, "block_size": INTS, "n_threads": INTS + [10**6, -(10**6)],
    "seed": INTS + [np.random.default_rng(0), "seed", -5], "tol": FLOATS, "rtol": FLOATS, "atol": FLOATS,
    "omega": FLOATS + [2.0, 5.0], "reg": FLOATS, "l2": FLOATS, "alpha": FLOATS,
    "callback": [3, "f", np.ones(2)], "history": [np.ones(3), "yes", 2, None],
    "method": ["nonsense", 3, None, ""], "rule": ["nonsense", 3, ""], "blocks": ["nonsense", 3, "", ["order"]],
    "ordering": ["nonsense", 3, np.arange(4)], "sweep": ["sideways", 1], "update": ["nonsense", 2],
    "options": [{"nonsense": 1}, "opts", [1], {"maxiter": 2**63}, {1: 2}],
    "x0": ["x", np.ones(2), np.full(3, np.nan), [[1], [2, 3]]],
}


def _malformed_arrays(value):
    """Replacements for a data argument that was ``value``."""
    out = [None, "data", 3.5, [], [[1.0, 2.0], [3.0]], np.array([object()]), {"a": 1}]
    if isinstance(value, np.ndarray) or sp.issparse(value):
        arr = value.toarray() if sp.issparse(value) else value
        if arr.dtype.kind == "f" and arr.size:
            nan = arr.copy()
            nan.flat[0] = np.nan
            out += [nan, arr.astype(complex), arr[..., :-1] if arr.ndim else arr,
                    arr.astype(arr.dtype.newbyteorder(">")), arr.astype(np.int64), arr.astype(bool), arr[None], np.full(arr.shape, 1e308)]
    if sp.issparse(value):
        M = sp.csr_matrix(value)
        for attr, idx, v in (("indices", 0, 10**6), ("indices", -1, -1), ("indptr", -1, 10**7), ("indptr", 1, -3)):
            B = M.copy()
            getattr(B, attr)[idx] = v
            out.append(B)
        B = M.copy()
        B.indptr = B.indptr[:-1].copy()
        out.append(B)
        C = sp.coo_matrix(M)
        C.col = C.col.copy()
        C.col[0] = M.shape[1] + 5
        out.append(C)
        out += [M.tocsc(), sp.coo_array(M), M.astype(np.float32), sp.csr_matrix(M.shape)]
    if np.isscalar(value) and not isinstance(value, str):
        out += FLOATS
    return out


def _accepts(call):
    try:
        return set(inspect.signature(call).parameters)
    except (TypeError, ValueError):
        return set()


def _names(exc):
    return str(exc)


def check_one(case, how, key, value):
    """Run ``case`` with one thing replaced; None if the behaviour is right, else what went wrong."""
    args, kwargs = case.make(np.float64, np.int32, "small")
    args = list(args)
    if how == "arg":
        i = case.names.index(key)
        args[i] = value
    else:
        kwargs = dict(kwargs)
        kwargs[key] = value
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case.call(*args, **kwargs)
        return None
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        wanted = [key] + (["options"] if key == "options" else [])
        if isinstance(value, dict):
            wanted += [str(k) for k in value]
        if any(re.search(rf"(?<![\w]){re.escape(w)}(?!\w)", msg) for w in wanted):
            return None
        return f"{type(exc).__name__} not naming {key!r}: {msg[:300]}"
    except Exception as exc:  # noqa: BLE001 - the wrong kind of error is the finding
        files = []
        tb = exc.__traceback__
        while tb is not None:
            files.append(os.path.abspath(tb.tb_frame.f_code.co_filename))
            tb = tb.tb_next
        here = os.path.dirname(os.path.abspath(__file__))
        ours = [i for i, f in enumerate(files) if f"{os.sep}itercore{os.sep}" in f and not f.startswith(here)]
        if ours and any(f.startswith(here) for f in files[ours[-1] + 1:]):
            return None  # raised in the test problem's own function (fun(x) given a short x0): it propagates
        return f"{type(exc).__name__}: {str(exc)[:300]}"


def run(case, examples):
    params = _accepts(case.call)
    args, kwargs = case.make(np.float64, np.int32, "small")
    keys = sorted(k for k in KEYWORDS if k in params or k in kwargs)
    targets = [("arg", name) for name in case.names] + [("kw", k) for k in keys]
    choices = {("arg", name): _malformed_arrays(args[i]) for i, name in enumerate(case.names)}
    choices.update({("kw", k): KEYWORDS[k] for k in keys})
    failures = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(targets).flatmap(lambda t: st.tuples(st.just(t), st.sampled_from(range(len(choices[t]))))))
    def fuzz(pick):
        (how, key), j = pick
        value = choices[(how, key)][j]
        label = f"{case.id}: {how} {key} = {_short(value)}"
        print(json.dumps({"event": "start", "example": label}), flush=True)
        problem = check_one(case, how, key, value)
        if problem:
            failures.append(f"{label}: {problem}")
            print(json.dumps({"event": "failure", "example": label, "detail": problem}), flush=True)

    fuzz()
    return failures


def _short(value):
    if isinstance(value, np.ndarray):
        return f"ndarray{value.shape} {value.dtype}"
    if sp.issparse(value):
        return f"{type(value).__name__}{value.shape} nnz-arrays {getattr(value, 'indptr', np.zeros(0)).shape}"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def main(argv):
    examples = int(argv[0]) if argv else 20
    wanted = set(argv[1:])
    for case in contract.CASES:
        if wanted and case.id not in wanted:
            continue
        run(case, examples)
    print(json.dumps({"event": "done"}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
