"""Checks every solver family runs on its public functions (the shared contract).

Use from a family's tests:

    from contract import assert_gil_released, assert_interruptible, raises_naming

The remaining contract items (float32/float64, int32/int64 indices,
non-contiguous input, wrong shapes, NaN/inf, empty input, zero iterations,
callback stop via StopIteration, reproducibility with a seed) are
parametrised in each family's test module, since inputs differ by family.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time

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
    """``work()`` (a call into a core taking ~0.1-0.5 s) runs without the GIL.

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
