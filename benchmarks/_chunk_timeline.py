"""A plugin for benchmarks: when each chunk starts and ends, in which process (``jetflow run --plugin``).

Appends ``pid start end`` per chunk to the file named by ``JETFLOW_CHUNK_TIMELINE``: the start
when the first plugin is asked for jets (before the chunk's columns are read), the end after the
last accumulator.  :func:`timeline_summary` says where a run's wall time went.
"""

from __future__ import annotations

import os
import time

from jetflow import hookimpl

_started: dict[tuple, float] = {}


@hookimpl(tryfirst=True)
def jetflow_build_jets(ctx):
    _started[(ctx.dataset, ctx.filename, ctx.entrystart)] = time.time()
    return None


@hookimpl(trylast=True)
def jetflow_accumulate(ctx):
    start = _started.pop((ctx.dataset, ctx.filename, ctx.entrystart))
    with open(os.environ["JETFLOW_CHUNK_TIMELINE"], "a") as f:
        f.write(f"{os.getpid()} {start} {time.time()}\n")
    return None


def timeline_summary(path: str, t_call: float, t_return: float) -> dict[str, float]:
    """Where the wall time of a run went (seconds), from its timeline file and the times around ``jetflow.run``.

    ``before``: from the call to the first chunk's start (configuration, opening the files, coffea's
    preprocessing, starting workers); ``busy``: the chunks' own time summed over the processes;
    ``idle``: the processes' time between the first start and the last end not spent in a chunk
    (waiting for work, a worker's start-up, the tail when the last chunks run alone); ``after``:
    from the last chunk's end to the return (the last merges, the result).
    """
    rows = [line.split() for line in open(path)]
    pids = {r[0] for r in rows}
    starts, ends = [float(r[1]) for r in rows], [float(r[2]) for r in rows]
    first, last = min(starts), max(ends)
    busy = sum(e - s for s, e in zip(starts, ends))
    return {"wall": t_return - t_call, "processes": len(pids), "chunks": len(rows), "before": first - t_call,
            "busy": busy, "idle": len(pids) * (last - first) - busy, "after": t_return - last}
