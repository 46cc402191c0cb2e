"""Shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import os
import platform
import subprocess
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


def child_peak(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """(peak resident MB, seconds) of ``cmd`` run in a child process (its own rusage, from wait4)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({os.waitstatus_to_exitcode(status)}): run it to see why")
    return usage.ru_maxrss / 1024, seconds
