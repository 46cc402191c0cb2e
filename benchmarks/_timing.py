"""Shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import os
import platform
import time


def machine(extra: str = "") -> str:
    """The header line naming the machine a benchmark ran on (with ``extra`` appended)."""
    cpu = platform.processor() or platform.machine()
    line = f"# {platform.node()} {cpu} ({os.cpu_count()} cores), python {platform.python_version()}"
    return f"{line}, {extra}" if extra else line


def best_time(fn, repeat: int, warmup: bool = False) -> float:
    """The shortest of ``repeat`` timed calls of ``fn`` (after one untimed call if ``warmup``)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)
