"""Leak check: the resident memory stays flat over repeated calls of every solver.

For each solver of the contract registry (``tests/contract.CASES``), the small
problem is solved ``--calls`` times (default 500) after a warm-up; the
resident set size (``/proc/self/statm``, Linux) is read before and after.
Growth beyond ``--limit-kib`` (default 2048 KiB: allocator noise; a leak of
one small array per call is ~500 x its size) fails. Errors and malformed
calls are repeated too (the error paths must free what they allocated).

    python bench/leak_check.py                 # every solver, 500 calls each
    python bench/leak_check.py --calls 2000 ot.entropic[sns]

Also run (fewer calls) by ``tests/test_bad_input.py::test_rss_flat``.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def rss_kib():
    """The resident set size of this process, KiB (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _bad_call(case, args, kwargs):
    """The same call with its first data argument holding a NaN (an error path)."""
    bad = list(args)
    first = np.array(args[0], dtype=np.float64, copy=True) if isinstance(args[0], np.ndarray) else None
    if first is None or not first.size:
        return None
    first.flat[0] = np.nan
    bad[0] = first
    return lambda: case.call(*bad, **kwargs)


def measure(case, calls, warmup=50):
    """(RSS growth in KiB over ``calls`` calls after ``warmup``, calls made)."""
    args, kwargs = case.make(np.float64, np.int32, "small")
    bad = _bad_call(case, args, kwargs)

    def once():
        case.call(*args, **kwargs)
        if bad is not None:
            try:
                bad()
            except (ValueError, TypeError):
                pass

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(warmup):
            once()
        gc.collect()
        before = rss_kib()
        for _ in range(calls):
            once()
        gc.collect()
        after = rss_kib()
    return after - before


def main(argv=None):
    import contract

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("cases", nargs="*", help="case ids (default: all)")
    p.add_argument("--calls", type=int, default=500)
    p.add_argument("--limit-kib", type=int, default=2048)
    a = p.parse_args(argv)
    bad = 0
    print("| solver | calls | RSS growth (KiB) | verdict |")
    print("|---|---|---|---|")
    for case in contract.CASES:
        if a.cases and case.id not in a.cases:
            continue
        growth = measure(case, a.calls)
        ok = growth <= a.limit_kib
        bad += not ok
        print(f"| {case.id} | {a.calls} | {growth} | {'flat' if ok else 'GROWS'} |", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
