"""The coffea processor that runs the plugin stages on each chunk."""

from __future__ import annotations

import hashlib
import os
import threading
import types
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import awkward as ak
import cloudpickle
import numpy as np
from coffea import processor

from jetflow.accumulators import Cutflow, EventCount, Skipped
from jetflow.config import Config, load_config
from jetflow.context import ChunkContext
from jetflow.errors import PluginCallError, input_error
from jetflow.plugins import Declared, call_each, collect_columns, get_plugin_manager

REQUIRED_JET_FIELDS = ("pt", "eta", "phi", "mass", "constituents", "subjets", "event")


@dataclass
class _WorkerState:
    pm: Any
    config: Config
    columns: dict[str, Declared]


_STATE: dict[str, _WorkerState] = {}
_STATE_LOCK = threading.Lock()
BUILDS = {"count": 0}
"""How many plugin managers this process has built (tests count it)."""


def _spec_key(spec: Any) -> str:
    if isinstance(spec, (str, os.PathLike)):
        return os.fspath(spec)
    if isinstance(spec, types.ModuleType):
        return f"module:{spec.__name__}"
    return "object:" + hashlib.sha1(cloudpickle.dumps(spec)).hexdigest()


class JetflowProcessor(processor.ProcessorABC):
    """Runs the stages of DESIGN.md on each chunk of events.

    The processor is stateless and picklable: it holds the configuration as
    plain data and the plugin specs.  On each worker process it builds the
    plugin manager and validates the configuration once (cached per process),
    never once per chunk.

    Parameters
    ----------
    config
        A :class:`jetflow.config.Config`, a dict or a YAML path.
    plugins, disable
        Extra plugins and blocked plugin names, on top of the config's
        ``plugins`` section.

    Output of :meth:`process`
    -------------------------
    ``{dataset: {"events": EventCount, "cutflow": Cutflow, **accumulators}}``
    where the accumulators are what the ``jetflow_accumulate`` hooks return.
    """

    def __init__(
        self,
        config: Config | dict[str, Any] | str | os.PathLike,
        plugins: Iterable[Any] = (),
        disable: Iterable[str] = (),
    ) -> None:
        cfg = load_config(config, plugins=tuple(plugins), disable=tuple(disable))
        self._raw = cfg.raw
        self._base_dir = str(cfg.base_dir)
        self._plugin_specs = tuple(cfg.plugin_specs)
        self._disabled = tuple(cfg.disabled)
        self._key = hashlib.sha1(
            repr(
                (
                    sorted(cfg.to_dict().items(), key=lambda kv: kv[0]).__repr__(),
                    self._base_dir,
                    [_spec_key(s) for s in self._plugin_specs],
                    self._disabled,
                )
            ).encode()
        ).hexdigest()
        # the driver process keeps the state it has just validated
        if self._key not in _STATE:
            _STATE[self._key] = self._build_state(cfg)

    # -- worker-side state -------------------------------------------------

    def _build_state(self, cfg: Config | None = None) -> _WorkerState:
        if cfg is None or cfg.pm is None:
            pm = get_plugin_manager(self._plugin_specs, self._disabled)
            cfg = load_config(self._raw, base_dir=self._base_dir, pm=pm)
            cfg.plugin_specs, cfg.disabled = self._plugin_specs, self._disabled
        pm = cfg.pm
        BUILDS["count"] += 1
        return _WorkerState(pm=pm, config=cfg, columns=collect_columns(pm, cfg))

    def _state(self) -> _WorkerState:
        state = _STATE.get(self._key)
        if state is None:
            with _STATE_LOCK:
                state = _STATE.get(self._key)
                if state is None:
                    state = self._build_state()
                    _STATE[self._key] = state
        return state

    @property
    def config(self) -> Config:
        """The validated configuration (built on first use in this process)."""
        return self._state().config

    @property
    def plugin_manager(self):
        return self._state().pm

    # -- processing ----------------------------------------------------------

    def process(self, events: ak.Array) -> dict[str, Any]:
        state = self._state()
        meta = dict(events.metadata)
        dataset = meta.get("dataset", "unknown")
        where = {
            "dataset": dataset,
            "filename": meta.get("filename"),
            "entrystart": meta.get("entrystart"),
            "entrystop": meta.get("entrystop"),
        }
        cfg = state.config
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
            columns={name: decl.value for name, decl in state.columns.items()},
        )
        try:
            return {dataset: run_stages(state.pm, events, ctx, where)}
        except Exception as exc:
            reason = input_error(exc)
            if reason is None or not cfg.run.skip_bad_files:
                raise
            skipped = Skipped(((ctx.filename, ctx.entrystart, ctx.entrystop, reason),))
            return {dataset: {"skipped": skipped, "events": EventCount(0, 0.0, 0)}}

    def postprocess(self, accumulator: dict[str, Any]) -> dict[str, Any]:
        return accumulator


# ---------------------------------------------------------------------------
# the stages, usable without coffea's Runner (a user's own processor calls this)
# ---------------------------------------------------------------------------


def _per_jet(value: Any, n: int, *, plugin: str, hook: str, name: str, where: dict) -> Any:
    """Check that a returned column has one entry per jet; return it as numpy or awkward."""
    if isinstance(value, ak.Array):
        length = len(value)
    else:
        value = np.asarray(value)
        length = value.shape[0] if value.ndim else None
    if length != n:
        got = "a scalar" if length is None else f"length {length}"
        raise PluginCallError(
            f"column {name!r} has {got}, expected one entry per jet ({n} jets)",
            plugin=plugin,
            hook=hook,
            **where,
        )
    return value


def _check_finite(value: Any, *, plugin: str, hook: str, name: str, where: dict) -> None:
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size:
        bad = ~np.isfinite(value)
        if bad.any():
            index = np.unravel_index(int(np.argmax(bad)), value.shape)
            raise PluginCallError(
                f"column {name!r} has {int(bad.sum())} non-finite value(s) (first at jet {index[0]}: "
                f"{value[index]}); a plugin must give undefined observables a documented finite value",
                plugin=plugin,
                hook=hook,
                **where,
            )


def _mappings(results: list[tuple[str, Any]], hook: str, what: str, where: dict):
    """``(plugin, dict)`` for every non-None hook result; anything else than a dict is an error."""
    for plugin, mapping in results:
        if mapping is None:
            continue
        if not isinstance(mapping, dict):
            raise PluginCallError(
                f"must return a dict {{{what}}} or None, got {type(mapping).__name__}",
                plugin=plugin,
                hook=hook,
                **where,
            )
        yield plugin, mapping


def _add_columns(
    jets: ak.Array,
    results: list[tuple[str, Any]],
    hook: str,
    owners: dict[str, str],
    where: dict,
    *,
    image: bool = False,
) -> ak.Array:
    n = len(jets)
    for plugin, mapping in _mappings(results, hook, "column: array", where):
        for name, value in mapping.items():
            if name in jets.fields:
                raise PluginCallError(
                    f"column {name!r} exists already (written by {owners.get(name, 'the jet builder')!r}); "
                    "choose another name or disable one of the plugins",
                    plugin=plugin,
                    hook=hook,
                    **where,
                )
            value = _per_jet(value, n, plugin=plugin, hook=hook, name=name, where=where)
            if image and (not isinstance(value, np.ndarray) or value.ndim != 4):
                raise PluginCallError(
                    f"image {name!r} must be a numpy array [n_jets, height, width, channels], "
                    f"got shape {getattr(value, 'shape', type(value).__name__)}",
                    plugin=plugin,
                    hook=hook,
                    **where,
                )
            _check_finite(value, plugin=plugin, hook=hook, name=name, where=where)
            jets = ak.with_field(jets, value, name)
            owners[name] = plugin
    return jets


def _select(pm, jets: ak.Array, ctx: ChunkContext, cutflow: Cutflow, where: dict) -> ak.Array:
    hook = "jetflow_select"
    results = call_each(pm, hook, {"jets": jets, "ctx": ctx}, where=where)
    n = len(jets)
    weights = ak.to_numpy(jets["weight"])
    passed = np.ones(n, dtype=bool)
    for plugin, masks in _mappings(results, hook, "step: boolean mask", where):
        for step, mask in masks.items():
            mask = _per_jet(mask, n, plugin=plugin, hook=hook, name=step, where=where)
            mask = np.asarray(ak.to_numpy(mask) if isinstance(mask, ak.Array) else mask)
            if mask.dtype != np.bool_:
                raise PluginCallError(
                    f"mask {step!r} must be boolean, got dtype {mask.dtype}",
                    plugin=plugin,
                    hook=hook,
                    **where,
                )
            passed &= mask
            cutflow.record(f"{plugin}:{step}", weights[passed])
    return jets[passed] if not passed.all() else jets


def run_stages(
    pm,
    events: ak.Array,
    ctx: ChunkContext,
    where: dict | None = None,
) -> dict[str, Any]:
    """Run every stage of DESIGN.md on one chunk and return its accumulators.

    This is what :meth:`JetflowProcessor.process` does for one dataset; a
    user's own coffea processor can call it directly.
    """
    where = where or {
        "dataset": ctx.dataset,
        "filename": ctx.filename,
        "entrystart": ctx.entrystart,
        "entrystop": ctx.entrystop,
    }
    n_events = len(events)
    gen_weight = (
        ak.to_numpy(events["genWeight"]).astype(np.float64) if "genWeight" in events.fields else None
    )
    out: dict[str, Any] = {
        "events": EventCount(n_events, float(gen_weight.sum()) if gen_weight is not None else float(n_events), 1)
    }

    # 1. jets (firstresult)
    built = call_each(pm, "jetflow_build_jets", {"events": events, "ctx": ctx}, firstresult=True, where=where)
    built = [(p, v) for p, v in built if v is not None]
    if not built:
        source = getattr(ctx.config.section("jets"), "source", "?") if ctx.config.has_section("jets") else "?"
        raise PluginCallError(
            f"no plugin built jets (jets.source = {source!r}); enable a plugin that implements "
            "jetflow_build_jets for this source",
            hook="jetflow_build_jets",
            **where,
        )
    builder, jets = built[0]
    if not isinstance(jets, ak.Array) or jets.fields is None or jets.ndim != 1:
        raise PluginCallError(
            f"must return a flat awkward record array (one record per jet), got {type(jets).__name__}",
            plugin=builder,
            hook="jetflow_build_jets",
            **where,
        )
    missing = [f for f in REQUIRED_JET_FIELDS if f not in jets.fields]
    if missing:
        raise PluginCallError(
            f"the jet table lacks field(s) {', '.join(missing)} (has: {', '.join(jets.fields)})",
            plugin=builder,
            hook="jetflow_build_jets",
            **where,
        )
    owners = {f: builder for f in jets.fields}
    n = len(jets)
    jets = ak.with_field(jets, np.full(n, ctx.label, dtype=np.int8), "label")
    jets = ak.with_field(jets, np.full(n, ctx.dataset, dtype=object).astype(str), "dataset")

    # 2. weights
    weight = np.ones(n, dtype=np.float64)
    factors = call_each(pm, "jetflow_weights", {"jets": jets, "events": events, "ctx": ctx}, where=where)
    for plugin, mapping in _mappings(factors, "jetflow_weights", "factor: array or scalar", where):
        for name, factor in mapping.items():
            factor = np.asarray(ak.to_numpy(factor) if isinstance(factor, ak.Array) else factor, dtype=np.float64)
            if factor.ndim:
                factor = _per_jet(factor, n, plugin=plugin, hook="jetflow_weights", name=name, where=where)
            else:
                factor = np.full(n, float(factor))
            _check_finite(factor, plugin=plugin, hook="jetflow_weights", name=f"weight_{name}", where=where)
            weight = weight * factor
            jets = ak.with_field(jets, factor, f"weight_{name}")
            owners[f"weight_{name}"] = plugin
    jets = ak.with_field(jets, weight, "weight")

    cutflow = Cutflow()
    cutflow.record("all", weight)

    # 3. selection on the builder's columns, then images and observables
    ctx = ctx.at_stage("process", jet_fields=frozenset(jets.fields))
    jets = _select(pm, jets, ctx.at_stage("jets"), cutflow, where)
    kwargs = {"jets": jets, "ctx": ctx}
    jets = _add_columns(jets, call_each(pm, "jetflow_build_images", kwargs, where=where), "jetflow_build_images", owners, where, image=True)
    kwargs = {"jets": jets, "ctx": ctx}
    jets = _add_columns(jets, call_each(pm, "jetflow_observables", kwargs, where=where), "jetflow_observables", owners, where)
    # 4. selection on observables, then inference on the survivors
    jets = _select(pm, jets, ctx.at_stage("observables"), cutflow, where)
    kwargs = {"jets": jets, "ctx": ctx}
    jets = _add_columns(jets, call_each(pm, "jetflow_infer", kwargs, where=where), "jetflow_infer", owners, where)
    out["cutflow"] = cutflow

    # 5. accumulators
    acc_owner: dict[str, str] = {}
    accumulated = call_each(pm, "jetflow_accumulate", {"jets": jets, "ctx": ctx}, where=where)
    for plugin, mapping in _mappings(accumulated, "jetflow_accumulate", "name: accumulator", where):
        for name, acc in mapping.items():
            if name in out:
                raise PluginCallError(
                    f"accumulator {name!r} is also produced by {acc_owner.get(name, 'the core')!r}",
                    plugin=plugin,
                    hook="jetflow_accumulate",
                    **where,
                )
            out[name] = acc
            acc_owner[name] = plugin
    return out
