"""The coffea processor that runs the plugin stages (:mod:`jetflow.core.stages`) on each chunk."""

from __future__ import annotations

import hashlib
import os
import types
from collections.abc import Iterable, Mapping
from typing import Any

import awkward as ak
import cloudpickle
from coffea import processor

from jetflow.core.cache import ENGINES, plugin_cache
from jetflow.core.config import Config
from jetflow.core.context import ChunkContext
from jetflow.core.counters import EventCount, Skipped
from jetflow.core.engine import Engine
from jetflow.core.errors import PluginCallError, input_error
from jetflow.core.stages import run_stages


def _spec_key(spec: Any) -> str:
    if isinstance(spec, (str, os.PathLike)):
        return os.fspath(spec)
    if isinstance(spec, types.ModuleType):
        return f"module:{spec.__name__}"
    return "object:" + hashlib.sha1(cloudpickle.dumps(spec)).hexdigest()


def fingerprint(data: Mapping[str, Any]) -> str:
    """A key that changes whenever the engine :meth:`Engine.to_data` describes would differ."""
    text = repr((
        sorted(data["config"].items()),
        data["base_dir"],
        [_spec_key(s) for s in data["plugins"]],
        tuple(data["disable"]),
        hashlib.sha1(cloudpickle.dumps(data["prepared"])).hexdigest(),
        sorted(data.get("worker_files", {}).items()),  # a file changed since a run: a new engine
        bool(data.get("shipped")),
    ))
    return hashlib.sha1(text.encode()).hexdigest()


class JetflowProcessor(processor.ProcessorABC):
    """Runs the stages of docs/design.md on each chunk of events.

    The processor is stateless and picklable: it holds the run's engine as
    plain data (:meth:`Engine.to_data`).  A worker process builds the engine
    from it once (kept in :mod:`jetflow.core.cache`), never once per chunk,
    and never reads the YAML file.

    Parameters
    ----------
    config
        An :class:`Engine`, a :class:`Config`, a dict or a YAML path.
    plugins, disable
        Extra plugins and blocked plugin names, on top of the config's
        ``plugins`` section (not with an :class:`Engine`).
    ship_files
        Carry the content of the files the workers open (plugin files,
        models) in the processor, for workers that cannot see the client's
        disk (``jetflow.run`` does it on a dask cluster).

    Output of :meth:`process`
    -------------------------
    ``{dataset: {"events": EventCount, "cutflow": Cutflow, **accumulators}}``
    where the accumulators are what the ``jetflow_accumulate`` hooks return.
    """

    def __init__(
        self,
        config: Engine | Config | Mapping[str, Any] | str | os.PathLike,
        plugins: Iterable[Any] = (),
        disable: Iterable[str] = (),
        ship_files: bool = False,
    ) -> None:
        engine = config if isinstance(config, Engine) else Engine.build(config, plugins=plugins, disable=disable)
        self._data = engine.to_data(ship_files)
        self._key = fingerprint(self._data)
        # the client keeps the engine it has just built
        plugin_cache(ENGINES).get(self._key, lambda: engine)

    def _engine(self) -> Engine:
        return plugin_cache(ENGINES).get(self._key, lambda: Engine.from_data(self._data))

    @property
    def engine_data(self) -> dict[str, Any]:
        """The engine as plain data (:meth:`Engine.to_data`), as the workers receive it."""
        return self._data

    @property
    def config(self) -> Config:
        """The validated configuration (the engine is built on first use in this process)."""
        return self._engine().config

    @property
    def plugin_manager(self):
        return self._engine().pm

    def process(self, events: ak.Array) -> dict[str, Any]:
        engine = self._engine()
        meta = dict(events.metadata)
        dataset = meta.get("dataset", "unknown")
        where = {
            "dataset": dataset,
            "filename": meta.get("filename"),
            "entrystart": meta.get("entrystart"),
            "entrystop": meta.get("entrystop"),
        }
        cfg = engine.config
        if dataset not in cfg.datasets:
            raise PluginCallError(
                f"dataset {dataset!r} is not in the configuration (datasets: {', '.join(cfg.datasets)})",
                **where,
            )
        ctx = ChunkContext(
            dataset=dataset,
            label=cfg.label(dataset),
            filename=str(meta.get("filename")),
            treename=str(meta.get("treename")),
            entrystart=int(meta.get("entrystart") or 0),
            entrystop=int(meta.get("entrystop") or len(events)),
            config=cfg,
            metadata=meta,
            columns=engine.column_specs(),
            prepared_by_plugin=dict(engine.prepared),
        )
        try:
            return {dataset: run_stages(engine.pm, events, ctx, where)}
        except Exception as exc:
            reason = input_error(exc)
            if reason is None or not cfg.run.skip_bad_files:
                raise
            skipped = Skipped(((ctx.filename, ctx.entrystart, ctx.entrystop, reason),))
            return {dataset: {"skipped": skipped, "events": EventCount(0, 0.0, 0)}}

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return accumulator
