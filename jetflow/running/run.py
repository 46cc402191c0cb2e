"""``jetflow.run``: the processor over the datasets of a configuration, with coffea's Runner."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from coffea import processor

from jetflow.core.config import Config
from jetflow.core.engine import Engine
from jetflow.core.errors import InputError, JetflowError
from jetflow.core.processor import JetflowProcessor
from jetflow.running.executors import make_executor
from jetflow.running.fileset import build_fileset, generator_weight_sums, resolve_schema
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


class JetflowRunner(processor.Runner):
    """coffea's Runner, but a chunk that fails with a :class:`JetflowError` raises that error itself.

    coffea wraps every exception of a chunk in a plain ``Exception`` whose
    message quotes it; pickled back from a worker process the wrapper loses
    its cause.  Unwrapping on the worker, before the exception travels, keeps
    the error's type and coordinates (plugin, hook, dataset, file, entries).
    """

    @staticmethod
    def _work_function(*args, **kwargs):
        try:
            return processor.Runner._work_function(*args, **kwargs)
        except Exception as exc:
            inner = _jetflow_error(exc)
            if inner is None or inner is exc:
                raise
        # raised outside the except block, so that its context is not coffea's wrapper, whose cause it is:
        # tblib's exception pickling (which dask installs) recurses forever on such a cycle
        raise inner


def _process(runner: JetflowRunner, fileset: dict, proc: Any) -> tuple[dict, dict]:
    """Chunk the fileset, give every chunk its dataset's sum of generator weights, process; (output, sums)."""
    items = [i for i in runner.preprocess(fileset) if i.entrystop > i.entrystart]
    empty = sorted(set(fileset) - {i.dataset for i in items})
    if empty:
        raise InputError(
            f"dataset(s) {', '.join(map(repr, empty))} have no events in their files "
            f"({', '.join(f for d in empty for f in fileset[d]['files'])})"
        )
    sumw = generator_weight_sums(items)
    for item in items:  # every chunk knows its dataset's normalisation
        item.usermeta["sumw_gen"] = sumw[item.dataset]
    wrapped = runner.run(items, processor_instance=proc)
    if wrapped.get("exception", 0) not in (0, None):
        raise wrapped["exception"]
    return dict(wrapped["out"]), sumw


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

    Returns
    -------
    Result
    """
    from jetflow.version import __version__

    if out is not None:
        out = check_output(out)
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
    fileset = build_fileset(cfg, skipped_files)
    schema = resolve_schema(cfg, fileset)
    proc = JetflowProcessor(engine)
    r = cfg.run
    start = time.time()
    resources = engine.resources() if r.executor == "dask" else {}
    with make_executor(r.executor, r.workers, r.scheduler, r.progress, client, resources) as ex:
        runner = JetflowRunner(executor=ex, schema=schema, chunksize=r.chunksize, maxchunks=r.maxchunks)
        try:
            output, sumw = _process(runner, fileset, proc)
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
        "schema": schema.__name__,
        "resources": resources,
        "sumw_gen": sumw,
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
        save(result, Path(out))
    return result
