"""pytest-benchmark suites: ``python -m pytest bench --benchmark-only``."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from machine import markdown_machine  # noqa: E402


def pytest_report_header(config):
    return "machine:\n" + markdown_machine()
