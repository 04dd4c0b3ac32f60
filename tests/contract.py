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
        Case(f"ot.entropic[{m}]", ot.entropic, _ot_make(m), "result", ("a", "b", "M", "reg"),
             lambda r: r.plan, finite=("a", "b", "M"), truncate=("a", "b"),
             empty=lambda: (([], [], np.zeros((0, 0)), 0.1), {}),
             maxiter=dict(maxiter=0, max_newton=0))
        for m in ("sinkhorn", "sinkhorn_log", "sns")
    ]
    cases.append(Case("ot.entropic_batch", ot.entropic_batch, _ot_batch_make, "result", ("a", "b", "M", "reg"),
                      lambda r: r.plan, finite=("a", "b", "M"), truncate=("a", "b"), callback=False,
                      empty=lambda: ((np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((3, 3)), 0.1), {})))
    return cases


def _optimize_make(method):
    def make(dtype=np.float64, index_dtype=np.int32, mode="small"):
        if mode == "small":
            from hs_problems import BY_NAME

            p = BY_NAME["HS39"]  # 10-12 Newton steps
            return (p["fun"], p["x0"].astype(dtype)), dict(jac=p["jac"], hess=p["hess"], constraints=p["cons"],
                                                           method=method, seed=0)
        from hs_problems import ill_qp

        fun, jac, hess, cons, _ = ill_qp(250, 50)
        kw = dict(jac=jac, hess=hess, constraints=cons, method="eal-sketch", seed=0, n_threads=1)
        if mode == "large":  # one Newton step whose sketch solve is the C++ core's long loop
            kw.update(maxiter=1, options={"sketch_maxiter": 40000, "fallback": False, "theta": 1e-14})
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


def _csr(A, dtype, index_dtype):
    """A as CSR with these value and index dtypes."""
    import scipy.sparse as sp

    M = sp.csr_matrix(A).astype(dtype)
    M.indices, M.indptr = M.indices.astype(index_dtype), M.indptr.astype(index_dtype)
    return M


def _relax_make(name):
    def make(dtype=np.float64, index_dtype=np.int32, mode="small"):
        from itercore._problems import poisson2d

        n = {"small": 12, "large": 300, "forever": 400}[mode]
        A = poisson2d(n, dtype=dtype, index_dtype=index_dtype)
        b = np.random.default_rng(0).standard_normal(n * n).astype(dtype)
        kw = dict(omega=1.5, rtol=1e-5 if dtype == np.float32 else 1e-10)
        if mode == "large":
            kw.update(rtol=0.0, maxiter=40 if name == "sor" else 25, n_threads=1, ordering="natural")
        elif mode == "forever":
            kw.update(rtol=0.0, maxiter=10**9, n_threads=1)
        return (A, b), kw
    return make


def _sketch_make(dtype=np.float64, index_dtype=np.int32, mode="small"):
    m, n = {"small": (60, 30), "large": (300, 300), "forever": (300, 300)}[mode]
    rng = np.random.default_rng(0)
    if mode == "small":  # well conditioned: a few hundred iterations
        U = np.linalg.qr(rng.standard_normal((m, n)))[0]
        V = np.linalg.qr(rng.standard_normal((n, n)))[0]
        A = (U * np.linspace(1.0, 2.0, n)) @ V.T
    else:
        A = rng.standard_normal((m, n))
    b = A @ rng.standard_normal(n)
    kw = dict(seed=0, rtol=1e-5 if dtype == np.float32 else 1e-10)
    if mode == "large":
        kw.update(rtol=0.0, maxiter=150000, n_threads=1)
    elif mode == "forever":
        kw.update(rtol=0.0, maxiter=10**12, method="gaussian")
    return (_csr(A, dtype, index_dtype), b.astype(dtype)), kw


def _linalg_cases():
    from itercore import linalg

    cases = [Case(f"linalg.{name}", getattr(linalg, name), _relax_make(name), "linear", ("A", "b"), lambda r: r[0],
                  finite=("A", "b"), truncate=("b",), sparse=("A",),
                  empty=lambda: ((np.zeros((0, 0)), np.zeros(0)), {}))
             for name in ("sor", "ssor_pcg")]
    # sketch_solve accepts an empty system (m = 0 is consistent) and returns x0: no empty case
    cases.append(Case("linalg.sketch_solve", linalg.sketch_solve, _sketch_make, "linear", ("A", "b"),
                      lambda r: r[0], finite=("A", "b"), truncate=("b",), sparse=("A",), seeded=True))
    return cases


def _completion_make(dtype=np.float64, index_dtype=np.int32, mode="small"):
    m, n, k, frac = {"small": (60, 50, 3, 0.35), "large": (1500, 1000, 8, 0.05),
                     "forever": (1500, 1000, 8, 0.05)}[mode]
    rng = np.random.default_rng(1)
    M = rng.standard_normal((m, k)) @ rng.standard_normal((k, n))
    mask = rng.random((m, n)) < frac
    r, c = np.nonzero(mask)
    import scipy.sparse as sp

    X = _csr(sp.csr_matrix((M[r, c], (r, c)), shape=(m, n)), dtype, index_dtype)
    kw = dict(seed=0, tol=1e-4 if dtype == np.float32 else 1e-8)
    if mode == "large":  # ~0.3 s on one thread
        kw.update(maxiter=40, tol=0.0, n_threads=1)
    elif mode == "forever":  # tol = 0 stops only on a bit-for-bit repeated residual: ~4500 sweeps
        kw.update(maxiter=10**12, tol=0.0)
    return (X, k), kw


def _completion_cases():
    import scipy.sparse as sp

    from itercore.completion import altmin

    return [Case("completion.altmin", altmin, _completion_make, "result", ("X", "rank"),
                 lambda r: r.U @ r.V.T, finite=("X",), sparse=("X",),
                 seeded=True, empty=lambda: ((sp.csr_matrix((0, 0)), 1), {}))]


def _spd_lattice(N, dtype, index_dtype, shift=0.1):
    """D - W + shift I on the N x N lattice (SPD) and a right-hand side."""
    import scipy.sparse as sp

    from itercore._problems import lattice_weights

    W = lattice_weights(N)
    A = sp.diags(np.asarray(W.sum(axis=1)).ravel() + shift) - W
    b = np.random.default_rng(2).standard_normal(N * N)
    return _csr(A, dtype, index_dtype), b.astype(dtype)


def _quadratic_make(dtype=np.float64, index_dtype=np.int32, mode="small"):
    N = {"small": 8, "large": 120, "forever": 200}[mode]
    A, b = _spd_lattice(N, dtype, index_dtype)
    kw = dict(tol=1e-5 if dtype == np.float32 else 1e-10)
    if mode == "large":
        kw.update(blocks="red-black", rule="cyclic", update="message-passing", lattice_shape=(N, N), tol=0.0,
                  maxiter=2500)
    elif mode == "forever":
        kw.update(blocks="order", rule="cyclic", tol=0.0, maxiter=10**12)
    return (A, b), kw


def _forest_pcg_make(dtype=np.float64, index_dtype=np.int32, mode="small"):
    N = {"small": 10, "large": 120, "forever": 200}[mode]
    A, b = _spd_lattice(N, dtype, index_dtype, shift=1e-3)
    kw = dict(tol=1e-5 if dtype == np.float32 else 1e-10)
    if mode == "large":
        kw.update(tol=0.0, maxiter=800)
    elif mode == "forever":
        kw.update(tol=0.0, maxiter=10**9)
    return (A, b), kw


def _forest_amg_make(dtype=np.float64, index_dtype=np.int32, mode="small"):
    N = {"small": 30, "large": 300, "forever": 400}[mode]
    A, b = _spd_lattice(N, dtype, index_dtype, shift=1e-3)
    kw = dict(tol=1e-5 if dtype == np.float32 else 1e-10, options=dict(max_coarse=50))
    if mode == "large":
        kw.update(tol=0.0, maxiter=60)
    elif mode == "forever":
        kw.update(tol=0.0, maxiter=10**9)
    return (A, b), kw


def _smooth_make(dtype=np.float64, index_dtype=np.int32, mode="small"):
    m, n = {"small": (80, 12), "large": (2000, 400), "forever": (2000, 400)}[mode]
    rng = np.random.default_rng(3)
    X = rng.standard_normal((m, n))
    y = np.where(X @ rng.standard_normal(n) + rng.standard_normal(m) > 0, 1.0, -1.0)
    kw = dict(tol=1e-4 if dtype == np.float32 else 1e-9)
    if mode == "large":
        kw.update(tol=0.0, maxiter=150, n_threads=1)
    elif mode == "forever":
        kw.update(tol=0.0, maxiter=10**12)
    return (_csr(X, dtype, index_dtype), y.astype(dtype)), kw


def _lasso_make(dtype=np.float64, index_dtype=np.int32, mode="small"):
    m, n = {"small": (50, 80), "large": (1000, 3000), "forever": (300, 3000)}[mode]
    rng = np.random.default_rng(4)
    X = rng.standard_normal((m, n))
    y = X[:, :5] @ rng.standard_normal(5) + 0.1 * rng.standard_normal(m)
    alpha = np.max(np.abs(X.T @ y)) / m / 100  # /20 converged in 2 outer iterations (issue 18 solver)
    kw = dict(tol=1e-5 if dtype == np.float32 else 1e-10)
    if mode == "large":
        X = np.asfortranarray(X)
        kw.update(n_threads=1)
    elif mode == "forever":
        kw.update(tol=0.0, maxiter=10**9, rule="cyclic", active_set_newton=False)
        alpha = 1e-6
    return (X.astype(dtype), y.astype(dtype), alpha), kw


def _label_propagation_make(dtype=np.float64, index_dtype=np.int32, mode="small"):
    from itercore._problems import lattice_weights

    N = {"small": 12, "large": 120, "forever": 200}[mode]
    rng = np.random.default_rng(5)
    labels = -np.ones(N * N, dtype=np.int64)
    idx = rng.choice(N * N, max(2, N * N // 10), replace=False)
    labels[idx] = rng.integers(0, 2, idx.size)
    labels[idx[0]], labels[idx[1]] = 0, 1
    kw = dict(tol=1e-5 if dtype == np.float32 else 1e-10)
    if mode == "large":
        kw.update(method="bcd", blocks="red-black", rule="cyclic", lattice_shape=(N, N), tol=0.0, maxiter=2500)
    elif mode == "forever":
        kw.update(method="cg", tol=0.0, maxiter=10**9)
    return (_csr(lattice_weights(N), dtype, index_dtype), labels), kw


def _bcd_cases():
    import scipy.sparse as sp

    from itercore import bcd

    def quadratic(A, b, **kw):
        return bcd.minimize_quadratic(bcd.Quadratic(A, b), **kw)

    def dispatched(A, b, **kw):  # bcd.minimize forwards to minimize_quadratic here
        return bcd.minimize(bcd.Quadratic(A, b), **kw)

    def forest_pcg(A, b, **kw):
        return bcd.forest_pcg(bcd.Quadratic(A, b), **kw)

    def forest_amg(A, b, **kw):
        return bcd.forest_amg(bcd.Quadratic(A, b), **kw)

    def smooth(X, y, **kw):
        return bcd.minimize_smooth(bcd.Logistic(X, y, l2=0.1), **kw)

    empty_spd = lambda: ((sp.csr_matrix((0, 0)), np.zeros(0)), {})  # noqa: E731
    x = lambda r: r.x  # noqa: E731
    return [
        Case("bcd.minimize_quadratic", quadratic, _quadratic_make, "result", ("A", "b"), x, finite=("A", "b"),
             truncate=("b",), sparse=("A",), empty=empty_spd),
        Case("bcd.minimize", dispatched, _quadratic_make, "result", ("A", "b"), x, finite=("A", "b"),
             truncate=("b",), sparse=("A",), empty=empty_spd),
        Case("bcd.forest_pcg", forest_pcg, _forest_pcg_make, "result", ("A", "b"), x, finite=("A", "b"),
             truncate=("b",), sparse=("A",), empty=empty_spd),
        Case("bcd.forest_amg", forest_amg, _forest_amg_make, "result", ("A", "b"), x, finite=("A", "b"),
             truncate=("b",), sparse=("A",), empty=empty_spd),
        Case("bcd.minimize_smooth", smooth, _smooth_make, "result", ("X", "y"), x, finite=("X", "y"),
             truncate=("y",), sparse=("X",), empty=lambda: ((np.zeros((0, 3)), np.zeros(0)), {})),
        Case("bcd.lasso", bcd.lasso, _lasso_make, "result", ("X", "y", "alpha"), x, finite=("X", "y"),
             truncate=("y",), empty=lambda: ((np.zeros((0, 3)), np.zeros(0), 0.1), {})),
        Case("bcd.label_propagation", bcd.label_propagation, _label_propagation_make, "result", ("W", "labels"), x,
             finite=("W",), truncate=("labels",), sparse=("W",), float32=False,  # computed in float64
             empty=lambda: ((sp.csr_matrix((0, 0)), np.zeros(0, dtype=int)), {})),
    ]


def all_cases():
    """Every public solver's Case (the registry)."""
    return _ot_cases() + _optimize_cases() + _linalg_cases() + _completion_cases() + _bcd_cases()


CASES = all_cases()
