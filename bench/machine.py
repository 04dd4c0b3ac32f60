"""Record the machine and library versions beside every benchmark table."""

from __future__ import annotations

import os
import platform
from importlib import metadata


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(packages):
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine_info(packages=("itercore", "numpy", "scipy")):
    """A dict describing where a benchmark ran."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "cpu": cpu_model(),
        "cores_usable": cpus,
        "python": platform.python_version(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "unset"),
    }
    try:
        import itercore

        cfg = itercore.get_config()
        info["itercore_openmp_threads"] = cfg["max_threads"] if cfg["openmp"] else 1
        info["itercore_flags"] = cfg["cxx_flags"]
    except ImportError:
        pass
    info.update(versions(packages))
    return info


def markdown_machine(packages=("itercore", "numpy", "scipy")):
    """The machine as a short markdown block to print above a result table."""
    info = machine_info(packages)
    return "\n".join(f"- {k}: {v}" for k, v in info.items())


def median_time(fn, repeats=5, warmup=1):
    """Median wall time of ``fn()`` over ``repeats`` runs after ``warmup`` runs; returns (median, last result)."""
    import statistics
    import time

    out = None
    for _ in range(warmup):
        out = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out
