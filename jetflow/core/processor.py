"""The coffea processor that runs the plugin stages (:mod:`jetflow.core.stages`) on each chunk."""

from __future__ import annotations

import hashlib
import os
import types
from dataclasses import replace
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
from jetflow.core.errors import BadInputError, JetflowError, PluginCallError, input_error
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
    def engine(self) -> Engine:
        """The run's engine (built from its plain data on first use in this process)."""
        return self._engine()

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
        """One chunk of a ROOT tree read by coffea (NanoEvents; ``events.metadata`` says where it is from)."""
        meta = dict(events.metadata)
        return self._process(meta, lambda engine, ctx: _converted(engine, events, ctx))

    def process_entries(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """One chunk of a file a :class:`jetflow.core.sources.ChunkReader` reads: its entries
        ``[entrystart, entrystop)``, read here (on the worker) by the format the metadata names."""
        return self._process(dict(metadata), _read_entries)

    def _process(self, meta: dict[str, Any], events_of) -> dict[str, Any]:
        engine = self._engine()
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
        fmt = meta.get(SOURCE_KEY) or (cfg.run.schema_ if cfg.run.schema_ in engine.sources else None)
        ctx = ChunkContext(
            dataset=dataset,
            label=cfg.label(dataset),
            filename=str(meta.get("filename")),
            treename=str(meta.get("treename")),
            entrystart=int(meta.get("entrystart") or 0),
            entrystop=int(meta.get("entrystop") or 0),
            config=cfg,
            source=engine.source(fmt)[1] if fmt is not None else None,
            metadata=meta,
            columns=engine.column_specs(),
            prepared_by_plugin=dict(engine.prepared),
        )
        try:
            events = events_of(engine, ctx)
            if not meta.get("entrystop"):
                ctx = replace(ctx, entrystop=ctx.entrystart + len(events))
            return {dataset: run_stages(engine.pm, events, ctx, where)}
        except Exception as exc:
            reason = input_error(exc)
            if reason is None or not cfg.run.skip_bad_files:
                raise
            skipped = Skipped(((ctx.filename, ctx.entrystart, ctx.entrystop, reason),))
            return {dataset: {"skipped": skipped, "events": EventCount(0, 0.0, 0)}}

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return accumulator


SOURCE_KEY = "jetflow_source"
"""The work item metadata that names a chunk's input format (a source of the hook ``jetflow_sources``)."""


def _converted(engine: Engine, events: ak.Array, ctx: ChunkContext) -> ak.Array:
    """A ROOT chunk's NanoEvents in its format's layout (``Source.convert``, called as the providing plugin)."""
    if ctx.source is None or ctx.source.convert is None:
        return events
    plugin, _ = engine.source(ctx.source.name)
    try:
        return ctx.source.convert(events, ctx.for_plugin(plugin))
    except JetflowError:
        raise
    except Exception as exc:
        raise _format_error(exc, ctx.source.name, plugin, ctx) from exc


def _format_error(exc: Exception, name: str, plugin: str, ctx: ChunkContext) -> PluginCallError:
    """An input format's failure on a chunk, with the chunk's coordinates: bad input (skippable) or a bug."""
    kind = BadInputError if input_error(exc) is not None else PluginCallError
    return kind(f"input format {name!r}: {type(exc).__name__}: {exc}", plugin=plugin, hook="jetflow_sources",
                dataset=ctx.dataset, filename=ctx.filename, entrystart=ctx.entrystart, entrystop=ctx.entrystop)


def _read_entries(engine: Engine, ctx: ChunkContext) -> ak.Array:
    """A chunk of a reader's file: ``Source.reader.read`` with the providing plugin's options."""
    if ctx.source is None or ctx.source.reader is None:
        raise PluginCallError(f"the chunk names no input format read by a reader ({SOURCE_KEY}: "
                              f"{ctx.metadata.get(SOURCE_KEY)!r})", dataset=ctx.dataset, filename=ctx.filename)
    plugin, source = engine.source(ctx.source.name)
    try:
        events = source.reader.read(ctx.filename, ctx.treename, ctx.entrystart, ctx.entrystop,
                                    engine.source_options(source.name))
    except JetflowError:
        raise
    except Exception as exc:
        raise _format_error(exc, source.name, plugin, ctx) from exc
    if not isinstance(events, ak.Array) or len(events) != ctx.entrystop - ctx.entrystart:
        got = f"{len(events)} entries" if isinstance(events, ak.Array) else type(events).__name__
        raise PluginCallError(f"input format {source.name!r}: read gave {got}, expected the "
                              f"{ctx.entrystop - ctx.entrystart} entries asked for", plugin=plugin,
                              hook="jetflow_sources", dataset=ctx.dataset, filename=ctx.filename,
                              entrystart=ctx.entrystart, entrystop=ctx.entrystop)
    return events
