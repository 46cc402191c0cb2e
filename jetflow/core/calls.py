"""Calling hooks plugin by plugin, and collecting what plugins declare.

Going through pluggy one plugin at a time (a subset hook caller) keeps
pluggy's semantics (argument subsets, tracing) and lets jetflow name the
plugin when one raises or returns something wrong, and hand each plugin its
own context and options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pluggy

from jetflow.core.cache import hook_callers
from jetflow.core.columns import CORE_COLUMNS, ColumnSpec
from jetflow.core.errors import BadInputError, ConfigError, PluginCallError, PluginError, input_error


@dataclass(frozen=True)
class Declared:
    """A declaration and the plugin that made it."""

    plugin: str
    value: Any


def plugin_order(pm: pluggy.PluginManager, hook: str) -> list[str]:
    """Names of the plugins implementing ``hook``, in pluggy's call order."""
    return [impl.plugin_name for impl in reversed(getattr(pm.hook, hook).get_hookimpls())]


def _single_caller(pm: pluggy.PluginManager, hook: str, plugin_name: str):
    """A hook caller that reaches one plugin only (cached as long as the manager lives)."""
    callers = hook_callers(pm)
    caller = callers.get((hook, plugin_name))
    if caller is None:
        keep = pm.get_plugin(plugin_name)
        others = [p for p in pm.get_plugins() if p is not keep]
        caller = callers[(hook, plugin_name)] = pm.subset_hook_caller(hook, remove_plugins=others)
    return caller


def call_each(
    pm: pluggy.PluginManager,
    hook: str,
    kwargs: dict[str, Any],
    *,
    firstresult: bool = False,
    where: dict[str, Any] | None = None,
    bind: Callable[[str], dict[str, Any]] | None = None,
) -> list[tuple[str, Any]]:
    """Call ``hook`` plugin by plugin, in pluggy's order.

    Parameters
    ----------
    kwargs
        The hook's arguments.  A ``ctx`` argument is bound to each plugin
        (``ctx.for_plugin(name)``).
    firstresult
        Stop at the first non-None result.
    where
        Coordinates for errors: dataset, filename, entrystart, entrystop.
    bind
        ``bind(plugin) -> {argument: value}``: arguments that differ per
        plugin (its own options).

    Returns
    -------
    list of (plugin_name, result)

    Raises
    ------
    PluginCallError
        If an implementation raises; names plugin, hook and ``where``.  A
        :class:`BadInputError` when the cause is bad input.
    """
    results = []
    ctx = kwargs.get("ctx")
    is_firstresult = getattr(pm.hook, hook).spec.opts.get("firstresult")
    for plugin_name in plugin_order(pm, hook):
        caller = _single_caller(pm, hook, plugin_name)
        call_kwargs = kwargs
        if ctx is not None or bind is not None:
            call_kwargs = dict(kwargs)
            if ctx is not None:
                call_kwargs["ctx"] = ctx.for_plugin(plugin_name)
            if bind is not None:
                call_kwargs.update(bind(plugin_name))
        try:
            value = caller(**call_kwargs)
        except PluginCallError:
            raise
        except Exception as exc:
            kind = BadInputError if input_error(exc) is not None else PluginCallError
            raise kind(f"{type(exc).__name__}: {exc}", plugin=plugin_name, hook=hook, **(where or {})) from exc
        # a subset caller of a firstresult hook returns the value, of others a list
        if not is_firstresult:
            value = value[0] if value else None
        results.append((plugin_name, value))
        if firstresult and value is not None:
            break
    return results


def collect(pm: pluggy.PluginManager, hook: str, what: str, *, bind=None, kwargs=None) -> dict[str, Declared]:
    """Merge the dicts every plugin returns from a declaration hook; two plugins may not declare one key."""
    out: dict[str, Declared] = {}
    for plugin_name, result in call_each(pm, hook, kwargs or {}, bind=bind):
        if result is None:
            continue
        if not isinstance(result, dict):
            raise PluginError(f"plugin {plugin_name!r}, hook {hook}: must return a dict, got {type(result).__name__}")
        for key, value in result.items():
            if key in out:
                raise PluginError(
                    f"{what} {key!r} is declared by two plugins, {out[key].plugin!r} and "
                    f"{plugin_name!r}; disable one of them"
                )
            out[key] = Declared(plugin_name, value)
    return out


def collect_options(pm: pluggy.PluginManager) -> dict[str, tuple[str, type]]:
    """The config sections of the plugins: ``{plugin name: (plugin name, options model)}``."""
    from pydantic import BaseModel

    out = {}
    for plugin_name, model in call_each(pm, "jetflow_options", {}):
        if model is None:
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise PluginError(
                f"plugin {plugin_name!r}, hook jetflow_options: must return a pydantic model class "
                f"(its section is named {plugin_name!r}, after the plugin), got {model!r}"
            )
        out[plugin_name] = (plugin_name, model)
    return out


def own_options(config: Any) -> Callable[[str], dict[str, Any]]:
    """``bind`` for declaration hooks: each plugin gets ``options``, its own section (or None)."""

    def bind(plugin: str) -> dict[str, Any]:
        has = config is not None and config.has_section(plugin)
        return {"options": config.section(plugin) if has else None}

    return bind


def collect_columns(pm: pluggy.PluginManager, config: Any = None) -> dict[str, Declared]:
    """Columns declared through ``jetflow_columns`` (given the run's config), after the core's own."""
    out = {name: Declared("jetflow", spec) for name, spec in CORE_COLUMNS.items()}
    for name, decl in collect(pm, "jetflow_columns", "column", bind=own_options(config)).items():
        if name in out:
            raise PluginError(f"plugin {decl.plugin!r} declares column {name!r}, which the core already defines")
        if not isinstance(decl.value, ColumnSpec):
            raise PluginError(
                f"plugin {decl.plugin!r}, hook jetflow_columns: column {name!r} must be a "
                f"jetflow.ColumnSpec, got {type(decl.value).__name__}"
            )
        out[name] = decl
    return out


def collect_resources(pm: pluggy.PluginManager, config: Any) -> dict[str, float]:
    """The dask resources a chunk needs: every plugin's ``jetflow_resources``, the largest amount of each."""
    merged: dict[str, float] = {}
    for plugin_name, wanted in call_each(pm, "jetflow_resources", {}, bind=own_options(config)):
        if wanted is None:
            continue
        if not isinstance(wanted, dict) or not all(isinstance(v, (int, float)) for v in wanted.values()):
            raise PluginError(
                f"plugin {plugin_name!r}, hook jetflow_resources: must return {{resource: amount}}, got {wanted!r}"
            )
        for resource, amount in wanted.items():
            merged[resource] = max(float(amount), merged.get(resource, 0.0))
    return merged


def collect_prepared(pm: pluggy.PluginManager, config: Any) -> dict[str, Any]:
    """``{plugin: what its jetflow_prepare returned}`` (plugins that returned None left out)."""
    results = call_each(pm, "jetflow_prepare", {"config": config}, bind=own_options(config))
    return {plugin: value for plugin, value in results if value is not None}


def collect_sources(pm: pluggy.PluginManager) -> dict[str, Declared]:
    """``{source name: Declared(plugin, Source)}`` of every ``jetflow_sources`` hook; one name, one plugin."""
    from jetflow.core.sources import Source

    out: dict[str, Declared] = {}
    options = collect_options(pm)
    for plugin_name, source in _listed(pm, "jetflow_sources", Source):
        _check_section(plugin_name, source, options.get(plugin_name))
        if source.name in out or source.name == "auto":
            other = out[source.name].plugin if source.name in out else "the core (run.schema: auto)"
            raise PluginError(f"source {source.name!r} is provided by two plugins, {other!r} and "
                              f"{plugin_name!r}; disable one of them")
        out[source.name] = Declared(plugin_name, source)
    return out


def _listed(pm: pluggy.PluginManager, hook: str, cls: type) -> list[tuple[str, Any]]:
    """``(plugin, item)`` of every item of the lists of ``cls`` objects the plugins return from ``hook`` (a
    generator's return counts as its list); a :class:`PluginError` for anything else."""
    found = []
    for plugin_name, returned in call_each(pm, hook, {}):
        if returned is None:
            continue
        items = list(returned) if hasattr(returned, "__iter__") and not isinstance(returned, cls) else None
        if items is None or not all(isinstance(item, cls) for item in items):
            raise PluginError(f"plugin {plugin_name!r}, hook {hook}: must return a list of "
                              f"jetflow.{cls.__name__}, got {returned!r}")
        found += [(plugin_name, item) for item in items]
    return found


def _check_section(plugin_name: str, source: Any, options: tuple[str, type] | None) -> None:
    """A source's ``section`` must be a field of its plugin's options (a misspelt one would give it none)."""
    if source.section is None:
        return
    fields = getattr(options[1], "model_fields", {}) if options else {}
    if source.section not in fields:
        has = f"its options have {', '.join(fields)}" if fields else "it has no options (hook jetflow_options)"
        raise PluginError(f"plugin {plugin_name!r}, hook jetflow_sources: source {source.name!r} reads its options "
                          f"from section {plugin_name}.{source.section}, which the plugin does not have ({has})")


def collect_model_kinds(pm: pluggy.PluginManager) -> dict[str, Declared]:
    """``{name: Declared(plugin, ModelKind)}`` of every ``jetflow_model_kinds`` hook; one name, one plugin."""
    from jetflow.core.model_kinds import ModelKind

    out: dict[str, Declared] = {}
    for plugin_name, kind in _listed(pm, "jetflow_model_kinds", ModelKind):
        if kind.name in out:
            raise PluginError(f"model kind {kind.name!r} is provided by two plugins, {out[kind.name].plugin!r} "
                              f"and {plugin_name!r}; disable one of them")
        out[kind.name] = Declared(plugin_name, kind)
    return out


def describe(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """What ``jetflow plugins`` prints: each plugin, where it comes from, its hooks, options and columns."""
    from jetflow.core.manager import plugin_origin

    options = collect_options(pm)
    columns = collect_columns(pm)
    sources = collect_sources(pm)
    kinds = collect_model_kinds(pm)
    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        out.append(
            {
                "name": name,
                "module": getattr(plugin, "__name__", type(plugin).__name__),
                "origin": plugin_origin(pm, name),
                "doc": (getattr(plugin, "__doc__", None) or "").strip().splitlines()[0:1],
                "hooks": sorted(c.name for c in pm.get_hookcallers(plugin) or []),
                "options": options[name][1] if name in options else None,
                "columns": {col: decl.value for col, decl in columns.items() if decl.plugin == name},
                "sources": [decl.value for decl in sources.values() if decl.plugin == name],
                "model_kinds": [decl.value for decl in kinds.values() if decl.plugin == name],
            }
        )
    return out


def collect_worker_files(pm: pluggy.PluginManager, config: Any) -> dict[str, bytes]:
    """``{resolved path: content}`` of every file the workers open: user plugin files and ``jetflow_worker_files``."""
    from pathlib import Path

    wanted: dict[str, str] = {}
    for spec in config.plugin_specs:
        if isinstance(spec, str) and spec.endswith(".py"):
            wanted[spec] = "plugins.load"  # as the worker's engine names it (already absolute)
    for plugin_name, paths in call_each(pm, "jetflow_worker_files", {"config": config}, bind=own_options(config)):
        if paths is None:
            continue
        if isinstance(paths, (str, bytes)) or not all(isinstance(p, (str, Path)) for p in paths):
            raise PluginError(f"plugin {plugin_name!r}, hook jetflow_worker_files: must return a list of paths, got {paths!r}")
        for path in paths:
            wanted.setdefault(str(config.resolve(path)), f"plugin {plugin_name!r}")
    content = {}
    for path, who in wanted.items():
        try:
            content[path] = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{who}: file {path}, which the workers need, cannot be read ({exc.strerror or exc})") from None
    return content
