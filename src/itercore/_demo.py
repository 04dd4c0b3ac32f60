"""The demo behind ``python -m itercore``.

Each family contributes one function that solves a built-in problem and
returns a row: problem, size, method, iterations, seconds, error against a
reference. The whole demo must stay under a minute on 2 cores.
"""

from __future__ import annotations

import sys
import time

from ._config import show_config

DEMOS = []


def demo(fn):
    """Register a family's demo (a function returning a list of row dicts)."""
    DEMOS.append(fn)
    return fn


def timed(fn, *args, **kwargs):
    """``(result, seconds)`` of one call."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def main(file=None):
    file = file or sys.stdout
    show_config(file=file)
    print(file=file)
    _load_families()
    header = f"{'family':<12} {'problem':<34} {'size':>10} {'method':<22} {'iters':>7} {'seconds':>8} {'error':>9}"
    print(header, file=file)
    print("-" * len(header), file=file)
    for fn in DEMOS:
        for row in fn():
            print(
                f"{row['family']:<12} {row['problem']:<34} {row['size']:>10} {row['method']:<22} "
                f"{row['iterations']:>7} {row['seconds']:>8.3f} {row['error']:>9.1e}",
                file=file,
            )
    if not DEMOS:
        print("(no solver family is built yet)", file=file)
    return 0


def _load_families():
    """Import each family's demo module; they register themselves."""
    import importlib
    import pkgutil

    from . import _demos

    for mod in sorted(m.name for m in pkgutil.iter_modules(_demos.__path__)):
        importlib.import_module(f"{_demos.__name__}.{mod}")
