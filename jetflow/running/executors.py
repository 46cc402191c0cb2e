"""coffea executors for a run: one process, a process pool, or a dask cluster.

On a dask cluster, chunks go to workers that declare the resources the run's
plugins ask for (hook ``jetflow_resources``; the inference plugin asks for a
``GPU`` when models are configured) when some worker has them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from jetflow.core.config import EXECUTORS
from jetflow.core.errors import ConfigError


class _ResourceClient:
    """A ``distributed.Client`` stand-in that asks for worker resources for chunk processing.

    coffea's ``DaskExecutor`` maps the processing function and its reducers
    through ``client.map``; the reducers (merging outputs) run anywhere, the
    processing goes to workers that have ``resources``.
    """

    def __init__(self, client: Any, resources: Mapping[str, float]) -> None:
        self._client = client
        self._resources = dict(resources)

    def map(self, func, *iterables, **kwargs):
        from coffea.processor.executor import _reduce

        if not isinstance(func, _reduce):
            kwargs.setdefault("resources", self._resources)
        return self._client.map(func, *iterables, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def available_resources(client: Any, wanted: Mapping[str, float]) -> dict[str, float] | None:
    """``wanted`` if some worker of the cluster declares all of it, else None (chunks then go anywhere)."""
    if not wanted:
        return None
    workers = client.scheduler_info().get("workers", {})
    for info in workers.values():
        have = info.get("resources", {})
        if all(have.get(name, 0) >= amount for name, amount in wanted.items()):
            return dict(wanted)
    return None


@contextlib.contextmanager
def make_executor(
    kind: str,
    workers: int,
    scheduler: str | None,
    progress: bool,
    client: Any = None,
    resources: Mapping[str, float] | None = None,
) -> Iterator[Any]:
    """A coffea executor; for dask, a client to ``scheduler`` or a fresh LocalCluster (closed on exit).

    Parameters
    ----------
    kind
        One of :data:`jetflow.core.config.EXECUTORS`.
    workers
        Processes of the pool, or workers of a new LocalCluster.
    scheduler
        Address of a running dask scheduler.
    progress
        Draw coffea's progress bars.
    client
        A ``distributed.Client`` to use (dask).
    resources
        Dask resources every chunk needs (see :func:`available_resources`).
    """
    from coffea import processor

    if not progress:
        # coffea draws its (rich) bars even when status=False; silence its console instead
        from coffea.util import coffea_console as console

        quiet, console.quiet = console.quiet, True
        try:
            with make_executor(kind, workers, scheduler, True, client, resources) as ex:
                ex.status = False
                yield ex
        finally:
            console.quiet = quiet
        return
    if kind == "iterative":
        # a failing chunk fails the same way again: no retries in one process
        yield processor.IterativeExecutor(status=progress, retries=0)
    elif kind == "futures":
        import os

        from loky import ProcessPoolExecutor

        # jetflow's own pool, so that a stop (Ctrl-C, SIGTERM) ends its workers at once: coffea's
        # would wait for every chunk still queued.  loky restarts a worker whose memory grew by 300 MB
        # after its first task (coffea's file preprocessing), which importing TensorFlow and loading the
        # models does once: the new worker imports and loads them again, 10-20 s each time.  A run's
        # memory is kept flat chunk to chunk by jetflow.running.memory (docs/benchmarks.md), so these
        # workers look for leaks above 16 GB only, unless the user set LOKY_MAX_MEMORY_LEAK_SIZE.
        limit = os.environ.get("LOKY_MAX_MEMORY_LEAK_SIZE", str(16 * 2**30))
        pool = ProcessPoolExecutor(max_workers=workers, env={"LOKY_MAX_MEMORY_LEAK_SIZE": limit})
        try:
            yield processor.FuturesExecutor(pool=pool, workers=workers, status=progress)
        except BaseException:
            pool.shutdown(wait=False, kill_workers=True)
            raise
        pool.shutdown(wait=True)
    elif kind == "dask":

        def executor(c):
            found = available_resources(c, resources or {})
            return processor.DaskExecutor(client=_ResourceClient(c, found) if found else c, status=progress)

        if client is not None:
            yield executor(client)
            return
        from distributed import Client, LocalCluster

        if scheduler:
            with Client(scheduler) as c:
                yield executor(c)
        else:
            with LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster, Client(cluster) as c:
                yield executor(c)
    else:
        raise ConfigError(f"run.executor: must be one of {', '.join(EXECUTORS)}, got {kind!r}")
