"""The stages of one chunk: jets, weights, selection, images, observables, inference, accumulators.

:func:`run_stages` is what :meth:`jetflow.JetflowProcessor.process` does for
one dataset; a user's own coffea processor can call it directly.  Every
column a hook returns is checked here: one entry per jet, finite values,
no field overwritten; each failure names the plugin, the hook and the chunk.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from jetflow.core.calls import call_each
from jetflow.core.columns import BUILDER_FIELDS
from jetflow.core.config import LABEL_FROM_FILE
from jetflow.core.context import ChunkContext
from jetflow.core.counters import Cutflow, EventCount
from jetflow.core.errors import ConfigError, InputError, PluginCallError



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


def _labels(jets: ak.Array, ctx: ChunkContext, builder: str, where: dict) -> np.ndarray:
    """Every jet's ``label``: the dataset's, or with ``label: file`` the one the input gives each jet (checked to
    be a class number below the dataset's ``classes``).  A file's label is replaced by a dataset's fixed one."""
    if ctx.label is not LABEL_FROM_FILE:
        return np.full(len(jets), ctx.label, dtype=np.int8)
    classes = ctx.config.datasets[ctx.dataset].classes
    if "label" not in jets.fields:
        raise ConfigError(
            f"datasets.{ctx.dataset}.label: file, but the jets of {ctx.filename} (input format "
            f"{ctx.source.name if ctx.source else '?'}, jet builder {builder!r}) carry no label: this format gives "
            "no label per jet; give the dataset its label (signal, background or a class number)"
        )
    label = ak.to_numpy(jets["label"]).astype(np.int64)
    bad = (label < 0) | (label >= classes)
    if bad.any():
        jet = int(np.argmax(bad))
        event = int(jets["event"][jet]) if "event" in jets.fields else jet
        raise InputError(
            f"file {ctx.filename}, entry {ctx.entrystart + event}: a jet of label {int(label[jet])}, outside the "
            f"classes 0-{classes - 1} of datasets.{ctx.dataset}.classes (jets {int(bad.sum())} of {len(label)} in "
            f"entries {ctx.entrystart}-{ctx.entrystop}); raise classes, or leave the file out"
        )
    return label.astype(np.int8)


def run_stages(
    pm,
    events: ak.Array,
    ctx: ChunkContext,
    where: dict | None = None,
) -> dict[str, Any]:
    """Run every stage (docs/design.md, "Data flow") on one chunk and return its accumulators.

    Parameters
    ----------
    pm
        The plugin manager.
    events
        The chunk's NanoEvents.
    ctx
        The chunk's context (the engine binds it to each plugin it calls).
    where
        Coordinates for errors (default: from ``ctx``).
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
    answered = [p for p, _ in built]
    built = [(p, v) for p, v in built if v is not None]
    if not built:
        asked = ", ".join(map(repr, answered)) or "none is enabled"
        raise PluginCallError(
            f"no plugin built jets for this chunk (plugins implementing jetflow_build_jets: {asked}); "
            "check their options, or enable a plugin that builds jets from this input",
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
    missing = [f for f in BUILDER_FIELDS if f not in jets.fields]
    if missing:
        raise PluginCallError(
            f"the jet table lacks field(s) {', '.join(missing)} (has: {', '.join(jets.fields)})",
            plugin=builder,
            hook="jetflow_build_jets",
            **where,
        )
    owners = {f: builder for f in jets.fields}
    n = len(jets)
    jets = ak.with_field(jets, _labels(jets, ctx, builder, where), "label")
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
