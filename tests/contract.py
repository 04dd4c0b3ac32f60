"""The shared contract every public solver meets, and its checking tools.

``CASES`` is the registry: one :class:`Case` per public solver (and per
method where methods run different cores), saying how to build a small and a
long-running problem, which arguments are data, and what the call returns.
``tests/test_contract.py`` runs the same checks over all of them: float32 /
float64, int32 / int64 indices, non-contiguous input, wrong shapes, NaN/inf,
empty input, ``maxiter=0``, callback stop and callback copies, errors in
callbacks, inputs left unmodified, the GIL released, Ctrl-C, and
reproducibility with a seed. A new solver gets all of them by adding a Case.

The tools (:func:`raises_naming`, :func:`assert_gil_released`,
:func:`assert_interruptible`) are also used by family tests for checks that
are specific to one solver.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import threading
import time
from typing import Any, Callable

import numpy as np
import pytest


@contextlib.contextmanager
def raises_naming(exc, argument, match=None):
    """``pytest.raises(exc)`` whose message names ``argument`` (and matches ``match``)."""
    with pytest.raises(exc) as info:
        yield info
    msg = str(info.value)
    assert re.search(rf"\b{re.escape(argument)}\b", msg), f"error does not name {argument!r}: {msg}"
    if match is not None:
        assert re.search(match, msg), f"error {msg!r} does not match {match!r}"


def assert_gil_released(work, limit=1.6, busy=1.5, attempts=3):
    """``work()`` (a call into a core, repeated here until it takes >= 0.1 s)
    runs without the GIL.

    Two checks. (1) While ``work`` runs in a thread, this thread keeps running
    Python: the longest pause it sees must be far shorter than the solve (a
    held GIL would stall it for the whole solve). This holds on a loaded
    machine too, and is the decisive check. (2) Two threads running ``work``
    at once keep two cores busy: either they take less than ``limit`` times
    one run, or the process used at least ``busy`` seconds of CPU per second
    of wall time while they ran (a held GIL serialises them: ~2x the time,
    ~1 core busy). The CPU-time test is needed where the two cores share
    memory bandwidth or are hyperthreads of one core: a memory-bound sweep
    then takes ~1.65x on two cores although nothing is serialised. Skipped
    when other processes keep the cores busy (load average).
    ``work`` must not enter ``warnings.catch_warnings`` (not thread-safe):
    filter warnings in the calling test instead.
    """
    work()  # warm-up
    t0 = time.perf_counter()
    work()
    duration = time.perf_counter() - t0
    if duration < 0.1:  # too short to judge on a loaded machine: repeat it
        reps = int(np.ceil(0.15 / max(duration, 1e-4)))
        once = work

        def work():
            for _ in range(reps):
                once()

        duration *= reps

    done = threading.Event()
    worker = threading.Thread(target=lambda: (work(), done.set()))
    last = time.perf_counter()
    longest = 0.0
    worker.start()
    while not done.is_set():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    worker.join()
    assert longest < 0.5 * duration, (
        f"the main thread stalled {longest:.3f} s during a {duration:.3f} s solve (GIL held?)")

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if cpus < 2 or os.getloadavg()[0] > cpus - 0.5:
        return  # no free second core to show the speed-up on

    def timed(n):
        threads = [threading.Thread(target=work) for _ in range(n)]
        c0, t0 = time.process_time(), time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        return wall, (time.process_time() - c0) / wall

    seen = []
    for _ in range(attempts):
        one, _ = timed(1)
        two, cores = timed(2)
        seen.append((two / one, cores))
        if two / one < limit or cores >= busy:
            return
    pytest.fail("two threads took " + ", ".join(f"{r:.2f}x one thread with {c:.2f} cores busy"
                                                 for r, c in seen) + " (GIL held?)")


def assert_interruptible(run_forever, delay=0.3, within=1.0):
    """SIGINT during ``run_forever()`` raises KeyboardInterrupt within ``within`` s."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    timer = threading.Timer(delay, lambda: os.kill(os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_forever()
    finally:
        timer.cancel()
    late = time.perf_counter() - t0 - delay
    assert late < within, f"KeyboardInterrupt came {late:.2f} s after SIGINT"


# --- the registry ---------------------------------------------------------------------

@dataclasses.dataclass
class Case:
    """How the contract drives one public solver.

    ``make(dtype, index_dtype, mode)`` returns ``(args, kwargs)``: the
    positional data arguments and the keyword arguments of a problem.
    ``mode="small"``: converges quickly; ``"large"``: ~0.1-0.5 s of solver time
    on one thread (for the GIL test; may stop unconverged); ``"forever"``: runs
    until interrupted. ``call(*args, **kwargs)`` runs the public function.
    """

    id: str
    call: Callable[..., Any]
    make: Callable[..., tuple]
    kind: str  # "linear": returns (x, info), callback(xk); "result": OptimizeResult, callback(res)
    names: tuple  # the names of the positional data arguments, in order
    solution: Callable[[Any], np.ndarray]  # the array the contract compares (x, plan, U @ V.T, ...)
    finite: tuple = ()  # data arguments that must refuse NaN and inf
    truncate: tuple = ()  # data arguments whose last entry (row) removed makes the shapes inconsistent
    sparse: tuple = ()  # data arguments passed as scipy sparse CSR (int32 / int64 indices)
    empty: Callable[[], tuple] | None = None  # (args, kwargs) of an empty problem
    float32: bool = True  # float32 in -> float32 out (else computed and returned in float64)
    seeded: bool = False  # takes seed=; the same seed gives the same result
    callback: bool = True  # takes callback=
    maxiter: dict | None = dataclasses.field(default_factory=lambda: {"maxiter": 0})  # no iterations
    float32_rtol: float = 1e-3  # float32 vs float64 solution, relative in the 2-norm

    def __str__(self):
        return self.id


def _ot_make(method):
    def make(dtype=np.float64, index_dtype=np.int32, mode="small"):
        from itercore._problems import ot_points

        n = {"small": 40, "large": 500, "forever": 200}[mode]
        a, b, M = ot_points(n, n + 3, seed=1, dtype=dtype)
        kw = dict(method=method)
        if mode == "large":  # ~0.1-0.3 s on one thread
            kw.update(tol=0.0, maxiter={"sinkhorn": 1000, "sinkhorn_log": 150, "sns": 400}[method], max_newton=2,
                      n_threads=1)
        elif mode == "forever":
            kw.update(tol=0.0, maxiter=10**9, max_newton=10**9)
        return (a, b, M, 2e-2 if mode == "small" else 1e-4), kw
    return make


def _ot_batch_make(dtype=np.float64, index_dtype=np.int32, mode="small"):
    from itercore._problems import ot_points

    n, batch = {"small": (30, 3), "large": (300, 4), "forever": (200, 64)}[mode]
    _, _, M = ot_points(n, seed=2, dtype=dtype)
    A = np.random.default_rng(3).random((batch, n)).astype(dtype)
    A /= A.sum(1, keepdims=True)
    B = np.full((batch, n), 1 / n, dtype=dtype)
    kw = dict(method="sinkhorn")
    if mode == "large":
        kw.update(tol=0.0, maxiter=400, n_threads=1)
    elif mode == "forever":
        kw.update(tol=0.0, maxiter=1000)
    return (A, B, M, 2e-2 if mode == "small" else 1e-4), kw


def _ot_cases():
    from itercore import ot

    cases = [
        Case(f"ot.solve[{m}]", ot.solve, _ot_make(m), "result", ("a", "b", "M", "reg"),
             lambda r: r.plan, finite=("a", "b", "M"), truncate=("a", "b"),
             empty=lambda: (([], [], np.zeros((0, 0)), 0.1), {}),
             maxiter=dict(maxiter=0, max_newton=0))
        for m in ("sinkhorn", "sinkhorn_log", "sns")
    ]
    cases.append(Case("ot.solve_batch", ot.solve_batch, _ot_batch_make, "result", ("a", "b", "M", "reg"),
                      lambda r: r.plan, finite=("a", "b", "M"), truncate=("a", "b"), callback=False,
                      empty=lambda: ((np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((3, 3)), 0.1), {})))
    return cases


def _ill_qp(n, m):
    """min 1/2 x'Hx s.t. A x = b with cond(H) = 1e3 (dense callables)."""
    rng = np.random.default_rng(0)
    Q = np.linalg.qr(rng.standard_normal((n, n)))[0]
    H = (Q * np.logspace(0, 3, n)) @ Q.T
    A = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    cons = {"type": "eq", "fun": lambda x: A @ x - b, "jac": lambda x: A, "hess": lambda x, v: np.zeros((n, n))}
    return lambda x: 0.5 * x @ H @ x, lambda x: H @ x, lambda x: H, cons


def _optimize_make(method):
    def make(dtype=np.float64, index_dtype=np.int32, mode="small"):
        if mode == "small":
            from hs_problems import BY_NAME

            p = BY_NAME["HS39"]  # 10-12 Newton steps
            return (p["fun"], p["x0"].astype(dtype)), dict(jac=p["jac"], hess=p["hess"], constraints=p["cons"],
                                                           method=method, seed=0)
        fun, jac, hess, cons = _ill_qp(250, 50)
        kw = dict(jac=jac, hess=hess, constraints=cons, method="eal-sketch", seed=0, n_threads=1)
        if mode == "large":  # one Newton step whose sketch solve is the C++ core's long loop
            kw.update(maxiter=1, options={"sketch_maxiter": 100000, "fallback": False, "theta": 1e-14})
        else:
            kw.update(tol=1e-300, options={"sketch_maxiter": 10**12})
        return (fun, np.zeros(250, dtype=dtype)), kw
    return make


def _optimize_cases():
    from itercore.optimize import minimize

    return [Case(f"optimize.minimize[{m}]", minimize, _optimize_make(m), "result", ("fun", "x0"),
                 lambda r: r.x, finite=("x0",), float32=False, seeded=m == "eal-sketch",
                 empty=lambda: ((lambda x: 0.0, np.zeros(0)), dict(jac=lambda x: x, constraints=[])))
            for m in ("eal-sketch", "eal-direct")]


def all_cases():
    """Every public solver's Case (the registry)."""
    return _ot_cases() + _optimize_cases()


CASES = all_cases()
