"""``jetflow.run``: the processor over the datasets of a configuration, with coffea's Runner."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import signal
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from coffea import processor

from jetflow.core.cache import plugin_cache
from jetflow.core.config import Config
from jetflow.core.engine import Engine
from jetflow.core.errors import InputError, JetflowError, OutputError, StoppedError
from jetflow.core.processor import SOURCE_KEY, JetflowProcessor
from jetflow.running.checkpoint import ChunkCheckpoints, checkpoint_location, checkpoint_metadata, describe
from jetflow.running.executors import make_executor
from jetflow.running.memory import give_back_freed_memory, steady_allocator
from jetflow.running.fileset import RunInput, build_inputs, generator_weight_sums, plan_reader_chunks
from jetflow.running.ordered import ChunkOrder
from jetflow.running.results import Result, check_output, save


def _jetflow_error(exc: BaseException) -> JetflowError | None:
    """The JetflowError in ``exc``'s chain of causes, if there is one."""
    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, JetflowError):
            return current
        current = current.__cause__ or current.__context__
    return None


CHUNK_INDEX = "jetflow_chunk"
"""The work item metadata that holds a chunk's index among the run's chunks (see :mod:`jetflow.running.ordered`)."""


class JetflowRunner(processor.Runner):
    """coffea's Runner, but a chunk that fails with a :class:`JetflowError` raises that error itself,
    a worker's memory stays flat from chunk to chunk (:mod:`jetflow.running.memory`), and chunk outputs
    are merged in chunk order, whatever order they finish in (:mod:`jetflow.running.ordered`).

    coffea wraps every exception of a chunk in a plain ``Exception`` whose
    message quotes it; pickled back from a worker process the wrapper loses
    its cause.  Unwrapping on the worker, before the exception travels, keeps
    the error's type and coordinates (plugin, hook, dataset, file, entries).
    """

    @staticmethod
    def _work_function(*args, **kwargs):
        if _stop_requested():  # in the process that was asked to stop (iterative executor)
            raise KeyboardInterrupt
        steady_allocator()
        try:
            item = _work_item(args, kwargs)
            work = _read_and_process if (item.usermeta or {}).get(READER_KEY) else processor.Runner._work_function
            out = work(*args, **kwargs)
            out["out"] = ChunkOrder.of(_chunk_index(item), out["out"])
        except Exception as exc:
            inner = _jetflow_error(exc)
            if inner is None or inner is exc:
                raise
        else:
            give_back_freed_memory()  # the chunk's arrays are gone now
            return out
        # raised outside the except block, so that its context is not coffea's wrapper, whose cause it is:
        # tblib's exception pickling (which dask installs) recurses forever on such a cycle
        raise inner


def _work_item(args: tuple, kwargs: dict) -> processor.executor.WorkItem:
    """The work item among coffea's arguments of its work function (on dask, an ``(item, processor)`` pair),
    wherever coffea's version puts it."""
    for arg in (*args, *kwargs.values()):
        item = arg[0] if isinstance(arg, tuple) and arg else arg
        if isinstance(item, processor.executor.WorkItem):
            return item
    raise RuntimeError("coffea's work function was called without a work item")


def _chunk_index(item: processor.executor.WorkItem) -> int:
    """The chunk's place in the run (:data:`CHUNK_INDEX`)."""
    index = (item.usermeta or {}).get(CHUNK_INDEX)
    if index is None:
        raise RuntimeError(f"work item {item!r} has no {CHUNK_INDEX!r} metadata: it was not planned by "
                           "jetflow.run, which numbers every chunk of a run")
    return index


READER_KEY = "jetflow_reader"
"""The work item metadata that marks a chunk of a file read by a source's reader, not by coffea's ROOT reading."""


def _read_and_process(*args, **kwargs) -> dict:
    """coffea's work function for a chunk of a file that a source's reader reads: the checkpoint is looked at
    first and written last, as coffea does for ROOT chunks; the processor reads the entries itself."""
    import cloudpickle
    import lz4.frame

    item = _work_item(args, kwargs)
    proc = kwargs.get("processor_instance")
    if proc == "heavy":  # dask: the item comes with the processor
        item, proc = next(a for a in (*args, *kwargs.values()) if isinstance(a, tuple) and a and a[0] is item)
    if isinstance(proc, bytes):
        proc = cloudpickle.loads(lz4.frame.decompress(proc))
    metadata = {**checkpoint_metadata(item), **(item.usermeta or {})}
    checkpointer = kwargs.get("checkpointer")
    if checkpointer is not None:
        out = checkpointer.load(metadata, proc)
        if out is not None:
            return out
    out = {"out": proc.process_entries(metadata), "processed": {item}}
    if checkpointer is not None:
        checkpointer.save(out, metadata, proc)
    return out


STOP = "jetflow.stop"
"""The cache namespace where a run notes the stop signal that came (see :func:`_stop_signals`)."""


def _stop_requested() -> dict:
    """``{"signal": name}`` once Ctrl-C or SIGTERM came during this process's run; empty otherwise."""
    return plugin_cache(STOP).get("requested", dict)


@contextlib.contextmanager
def _stop_signals():
    """Ctrl-C and SIGTERM (a batch system's stop) raise KeyboardInterrupt and are noted.

    Noted, because a KeyboardInterrupt raised while a finaliser runs (an
    uproot file closed by the garbage collector) is printed and lost: the next
    chunk started in this process, and the end of the run, raise it again.
    """
    came = _stop_requested()
    came.clear()
    if threading.current_thread() is not threading.main_thread():
        yield came
        return

    def on_signal(signum, frame):
        came["signal"] = signal.Signals(signum).name
        raise KeyboardInterrupt

    def unraisable(info):  # the interrupt a finaliser swallowed is noted already: no traceback for it
        if not (came and isinstance(info.exc_value, KeyboardInterrupt)):
            previous_unraisable(info)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous_unraisable, sys.unraisablehook = sys.unraisablehook, unraisable
    try:
        yield came
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = previous_unraisable
        came.clear()


def _process(runner: JetflowRunner, run_input: RunInput, proc: JetflowProcessor,
             checkpoints: ChunkCheckpoints | None, out: Path | None) -> tuple[dict, dict]:
    """Chunk the fileset, give every chunk its dataset's sum of generator weights, process; (output, sums).

    With ``checkpoints``, chunks already there are loaded, not processed.  A
    stop (Ctrl-C, SIGTERM) raises :class:`StoppedError`, which says how many
    chunks are kept and how to resume.
    """
    planned: list = []
    with _stop_signals() as came:
        try:
            return _plan_and_run(runner, run_input, proc, checkpoints, planned)
        except KeyboardInterrupt:
            stopped = f"stopped by {came.get('signal', 'SIGINT')}"
            unsaved = f"nothing was written to {out}" if out is not None else "no result"
            if checkpoints is None:
                raise StoppedError(f"{stopped} before the end; {unsaved}, and without a checkpoint the run starts "
                                   "again from the beginning") from None
            kept = f"{checkpoints.done(planned)} of {len(planned)} chunks finished" if planned else "no chunk finished"
            raise StoppedError(f"{stopped}: {kept} and kept in {checkpoints.location}; {unsaved}. "
                               "Run the same command again to resume") from None


def _plan_and_run(runner: JetflowRunner, run_input: RunInput, proc: JetflowProcessor,
                  checkpoints: ChunkCheckpoints | None, planned: list) -> tuple[dict, dict]:
    """:func:`_process` without the stop: the chunks go into ``planned`` as soon as they are known."""
    fileset = run_input.fileset
    engine = proc.engine
    _, source = engine.source(run_input.source)
    if source.is_root:
        items = list(runner.preprocess(fileset))
    else:
        items = plan_reader_chunks(run_input, runner.chunksize, runner.maxchunks)
    items = [i for i in items if i.entrystop > i.entrystart]
    empty = sorted(set(fileset) - {i.dataset for i in items})
    if empty:
        raise InputError(
            f"dataset(s) {', '.join(map(repr, empty))} have no events in their files "
            f"({', '.join(f for d in empty for f in fileset[d]['files'])})"
        )
    sumw = generator_weight_sums(items, run_input, engine)
    # every chunk knows its dataset's normalisation and its place in the run, in the order of the configuration
    # (coffea's preprocessing may finish files in any order); a dict of its own (coffea shares a file's)
    place = {(ds, f): (i, j) for i, (ds, entry) in enumerate(fileset.items()) for j, f in enumerate(entry["files"])}
    items.sort(key=lambda item: (place[item.dataset, item.filename], item.entrystart))
    items = [dataclasses.replace(item, usermeta={**(item.usermeta or {}), "sumw_gen": sumw[item.dataset],
                                                 CHUNK_INDEX: index, SOURCE_KEY: source.name,
                                                 **({} if source.is_root else {READER_KEY: True})})
             for index, item in enumerate(items)]
    if checkpoints is not None:
        checkpoints.begin(describe(proc.engine_data, items))
        found = checkpoints.done(items)
        if found:
            print(f"jetflow: resuming from {checkpoints.location}: {found} of {len(items)} chunks already done")
    planned.extend(items)
    runner.checkpointer = checkpoints
    wrapped = runner.run(items, processor_instance=proc)
    if _stop_requested():  # a stop that a finaliser swallowed
        raise KeyboardInterrupt
    if wrapped.get("exception", 0) not in (0, None):
        raise wrapped["exception"]
    return dict(wrapped["out"].result()), sumw


def run(
    config: Engine | Config | Mapping[str, Any] | str | os.PathLike,
    *,
    executor: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    chunksize: int | None = None,
    maxchunks: int | None = None,
    out: str | os.PathLike | None = None,
    plugins: Iterable[Any] = (),
    disable: Iterable[str] = (),
    progress: bool | None = None,
    skip_bad_files: bool | None = None,
    client: Any = None,
    checkpoint: str | os.PathLike | bool | None = None,
) -> Result:
    """Run the jetflow processor over the configured datasets.

    Parameters
    ----------
    config
        YAML path, dict, :class:`Config` or :class:`Engine`.
    executor, workers, scheduler, chunksize, maxchunks, progress, skip_bad_files
        Override the config's ``run`` section.  With ``skip_bad_files``,
        unreadable files and chunks with bad input are left out and listed in
        every affected dataset's ``skipped`` accumulator and in ``meta``.
        ``executor="dask"`` with no ``scheduler`` starts a
        ``distributed.LocalCluster`` of ``workers`` single-threaded processes
        and closes it at the end.
    out
        Save the result there (see :func:`jetflow.load`).  Checked before any
        work starts: its folder must exist and be writable.
    plugins, disable
        Extra plugins and blocked plugin names (not with an :class:`Engine`).
    client
        An existing ``distributed.Client`` to run on (dask executor).
    checkpoint
        Folder or fsspec URL (reachable by every worker) where each finished
        chunk is kept (:mod:`jetflow.running.checkpoint`), so that the same call
        after a crash or a stop resumes; removed once the result is saved.
        Default (``None`` or ``True``): ``<out>.checkpoint`` when ``out`` is
        given; ``False``: none.

    Returns
    -------
    Result
    """
    from jetflow.version import __version__

    if out is not None:
        out = check_output(out)
    location = checkpoint_location(out, checkpoint)
    checkpoints = ChunkCheckpoints(location) if location else None
    engine = config if isinstance(config, Engine) else Engine.build(config, plugins=plugins, disable=disable)
    overrides = {
        k: v
        for k, v in {
            "executor": "dask" if client is not None else executor,
            "workers": workers,
            "scheduler": scheduler,
            "chunksize": chunksize,
            "maxchunks": maxchunks,
            "progress": progress,
            "skip_bad_files": skip_bad_files,
        }.items()
        if v is not None
    }
    engine = engine.with_run(**overrides)
    cfg = engine.config
    skipped_files: list = []
    run_input = build_inputs(engine, skipped_files)
    _, source = engine.source(run_input.source)
    r = cfg.run
    proc = JetflowProcessor(engine, ship_files=r.executor == "dask")  # dask workers may not see this disk
    start = time.time()
    resources = engine.resources() if r.executor == "dask" else {}
    with make_executor(r.executor, r.workers, r.scheduler, r.progress, client, resources) as ex:
        # a fresh metadata cache: coffea's default one outlives the run, and would give a file rewritten since
        # an earlier run in this process its old UUID and entry count
        runner = JetflowRunner(executor=ex, schema=source.schema, chunksize=r.chunksize, maxchunks=r.maxchunks,
                               metadata_cache={})
        try:
            output, sumw = _process(runner, run_input, proc, checkpoints, out)
        except Exception as exc:
            inner = _jetflow_error(exc)
            if inner is None or inner is exc:
                raise
            raise inner from exc
    meta = {
        "executor": r.executor,
        "workers": r.workers if r.executor != "iterative" else 1,
        "scheduler": r.scheduler,
        "chunksize": r.chunksize,
        "maxchunks": r.maxchunks,
        "schema": source.name,
        "resources": resources,
        "checkpoint": checkpoints.location if checkpoints is not None else None,
        "sumw_gen": sumw,
        "column_kinds": {name: spec.kind for name, spec in engine.column_specs().items()},
        "jetflow": __version__,
        "wall_s": time.time() - start,
        "host": platform.node(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    skipped = [list(rec) for rec in skipped_files]
    for acc in output.values():
        if "skipped" in acc:
            skipped += [list(rec) for rec in acc["skipped"].records]
    meta["skipped"] = skipped
    result = Result(output=output, config=cfg.to_dict(), meta=meta)
    if out is not None:
        try:
            save(result, Path(out))
        except OutputError as exc:  # a full disk after all the work: the checkpoint keeps it
            if checkpoints is None:
                raise
            raise OutputError(f"{exc}; every chunk is kept in {checkpoints.location}: once the result can be "
                              "written, the same command finishes from there without processing a chunk again") from exc
    if checkpoints is not None:
        checkpoints.remove()
    return result
