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


def assert_gil_released(work, limit=1.6, attempts=3):
    """Two threads running ``work`` at once take clearly less than twice one.

    ``work`` should run ~0.1-0.5 s on one OpenMP thread. With the GIL held,
    two threads need >= 2x; released, ~1x on 2 cores. Retried on noise.
    """
    def timed(n):
        threads = [threading.Thread(target=work) for _ in range(n)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - t0

    work()  # warm-up
    ratios = []
    for _ in range(attempts):
        ratios.append(timed(2) / timed(1))
        if ratios[-1] < limit:
            return
    pytest.fail(f"two threads took {min(ratios):.2f}x one thread (GIL held?)")


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
