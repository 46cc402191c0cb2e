"""Where a sample's files are generated: in this process, in a local process pool, or on a dask cluster.

:func:`run_jobs` yields each file's record as it completes.  Every job carries
its file's Pythia seed, so the content does not depend on where it runs.  On a
dask cluster each file is a task made in the worker's temporary folder
(:func:`file_bytes`) and written here by the client, atomically: the workers
need no shared filesystem, and a worker that dies takes only its running
tasks with it, which dask reschedules on the others.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from jetflow.core.atomic import write_bytes


def run_jobs(generate_file: Callable[[Any], dict], jobs: list, workers: int, scheduler=None) -> Iterator[dict]:
    """Records of the generated files, as they complete.

    ``generate_file(job)`` writes ``job.path`` and returns its record;
    ``scheduler``: a dask scheduler's address or a ``distributed.Client``
    (``workers`` is then unused); else ``workers`` local processes (1: this one).
    """
    if scheduler is not None:
        yield from _run_on_dask(generate_file, jobs, scheduler)
        return
    if workers <= 1 or len(jobs) == 1:
        yield from map(generate_file, jobs)
        return
    import multiprocessing
    import sys

    # fork on Linux: works from scripts without a __main__ guard; each worker only
    # runs Pythia and numpy (no threads are inherited that it could need)
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    # the garbage of an earlier run (a process pool's executor, whose finaliser wakes its manager thread
    # through a lock and a pipe) is collected here, not in a forked child, where that would hang forever
    gc.collect()
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(generate_file, job) for job in jobs]
        for fut in as_completed(futures):
            yield fut.result()


def file_bytes(generate_file: Callable[[Any], dict], job) -> tuple[dict, bytes]:
    """Generate one file in a temporary folder of this dask worker; its record (with the worker's address)
    and its bytes.  A job with pile-up reads its library from ``job.pileup_library``, which the worker must
    see (a shared filesystem, or a local cluster)."""
    import dataclasses
    import tempfile

    from distributed import get_worker

    with tempfile.TemporaryDirectory(prefix="jetflow-generate-") as tmp:
        local = dataclasses.replace(job, path=str(Path(tmp) / Path(job.path).name))
        record = generate_file(local)
        data = Path(local.path).read_bytes()
    return {**record, "path": job.path, "worker": get_worker().address}, data


def _run_on_dask(generate_file: Callable[[Any], dict], jobs: list, scheduler) -> Iterator[dict]:
    from distributed import Client
    from distributed import as_completed as completed

    client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
    try:
        futures = client.map(functools.partial(file_bytes, generate_file), jobs, pure=False)
        for future in completed(futures):
            record, data = future.result()
            future.release()
            write_bytes(record["path"], data, "generated file")
            yield record
    finally:
        if client is not scheduler:
            client.close()
