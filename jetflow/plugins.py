"""The plugin manager: a factory, per-plugin hook calls, declarations.

Nothing is built at import time.  :func:`get_plugin_manager` loads the
entry points of the group ``jetflow`` (built-in plugins are registered there
exactly as third-party ones are), registers extra plugins it is given, blocks
plugins disabled by name and validates every hookimpl against the hookspecs.

Set ``JETFLOW_TRACE=1`` in the environment to print every hook call (pluggy's
tracing) to stderr.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from jetflow import hookspecs
from jetflow._markers import PROJECT_NAME
from jetflow.columns import CORE_COLUMNS, ColumnSpec
from jetflow.errors import BadInputError, PluginCallError, PluginError, input_error

TRACE_ENV = "JETFLOW_TRACE"
"""Environment variable: when set to a non-empty value other than 0, hook calls are traced to stderr."""

PluginLike = Any
"""A module, an importable module name, a path to a ``.py`` file, or any object with hookimpls."""


def _hook_names() -> list[str]:
    return sorted(n for n in dir(hookspecs) if n.startswith(f"{PROJECT_NAME}_"))


def _entry_point_names() -> list[str]:
    from importlib.metadata import entry_points

    return sorted(ep.name for ep in entry_points(group=PROJECT_NAME))


def load_plugin_spec(spec: PluginLike) -> tuple[str, Any]:
    """Turn a plugin spec into ``(name, plugin object)``.

    A ``str`` ending in ``.py`` (or an existing file path) is imported from that
    file; any other ``str`` is imported as a module name; modules and other
    objects are used as they are.
    """
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        path = Path(text)
        if text.endswith(".py") or path.is_file():
            if not path.is_file():
                raise PluginError(f"plugin file {text!r} does not exist")
            path = path.resolve()
            digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
            modname = f"jetflow_userplugin_{path.stem}_{digest}"
            module = sys.modules.get(modname)
            if module is None:
                module_spec = importlib.util.spec_from_file_location(modname, path)
                if module_spec is None or module_spec.loader is None:
                    raise PluginError(f"cannot import plugin file {text!r}")
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[modname] = module
                try:
                    module_spec.loader.exec_module(module)
                except Exception as exc:
                    del sys.modules[modname]
                    raise PluginError(
                        f"importing plugin file {text!r} failed: {type(exc).__name__}: {exc}"
                    ) from exc
            return path.stem, module
        try:
            module = importlib.import_module(text)
        except ImportError as exc:
            raise PluginError(
                f"cannot import plugin module {text!r}: {exc}. Give an importable module "
                "name or a path to a .py file."
            ) from exc
        return text, module
    if isinstance(spec, types.ModuleType):
        return spec.__name__, spec
    name = getattr(spec, "name", None)
    if not isinstance(name, str):
        name = spec.__name__ if isinstance(spec, type) else type(spec).__name__
    return name, spec


def _explain_validation_error(exc: pluggy.PluginValidationError, name: str) -> PluginError:
    """Rewrite pluggy's validation error so that it names plugin and hook and suggests a fix."""
    import inspect

    text = " ".join(str(exc).split())
    known = _hook_names()
    words = text.replace("'", " ").replace('"', " ").replace("(", " ").split()
    hook = next((w for w in words if w.startswith(f"{PROJECT_NAME}_")), None)
    if hook is not None and hook in known:  # bad argument names
        spec = inspect.signature(getattr(hookspecs, hook))
        return PluginError(
            f"plugin {name!r}, hook {hook}: {text}. The hook's arguments are "
            f"({', '.join(spec.parameters)}); an implementation may take any subset of them."
        )
    close = difflib.get_close_matches(hook, known, n=1) if hook else []
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return PluginError(f"plugin {name!r}: {text}.{hint} Known hooks: {', '.join(known)}.")


def _entry_point_error(pm: pluggy.PluginManager) -> PluginError | None:
    """Find the entry point that does not import, and say which."""
    from importlib.metadata import entry_points

    for ep in entry_points(group=PROJECT_NAME):
        if pm.is_blocked(ep.name):
            continue
        try:
            ep.load()
        except Exception as exc:
            return PluginError(
                f"plugin {ep.name!r} (entry point {ep.value!r} of {ep.dist.name if ep.dist else '?'}) cannot be "
                f"imported: {type(exc).__name__}: {exc}. Fix or uninstall it, or --disable {ep.name}."
            )
    return None


def get_plugin_manager(
    plugins: Iterable[PluginLike] = (),
    disable: Iterable[str] = (),
    *,
    entry_points: bool = True,
    trace: bool | None = None,
) -> pluggy.PluginManager:
    """Build a validated plugin manager.

    Parameters
    ----------
    plugins
        Extra plugins: modules, importable module names, paths to ``.py``
        files, or objects with hookimpls.  They are registered after the entry
        points, so (pluggy calls last-registered first) they run before the
        built-ins unless a hookimpl says ``tryfirst``/``trylast``.
    disable
        Plugin names to block (entry-point names, or the names of extra
        plugins).  An unknown name is an error, so that a typo does not
        silently leave a plugin on.
    entry_points
        Load the plugins registered in the entry-point group ``jetflow``.
    trace
        Trace every hook call to stderr.  Default: on when the environment
        variable ``JETFLOW_TRACE`` is set (and not ``0``).

    Returns
    -------
    pluggy.PluginManager

    Raises
    ------
    PluginError
        A misspelt hook name or argument (naming the plugin and the hook), an
        unknown plugin to disable, a plugin that fails to import.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    disable = list(dict.fromkeys(disable))
    for name in disable:
        pm.set_blocked(name)

    loaded_extra = [load_plugin_spec(spec) for spec in plugins]
    known = set(_entry_point_names()) if entry_points else set()
    known |= {name for name, _ in loaded_extra}
    unknown = [n for n in disable if n not in known]
    if unknown:
        raise PluginError(
            f"cannot disable {', '.join(map(repr, unknown))}: no plugin of that name. "
            f"Known plugins: {', '.join(sorted(known)) or '(none)'}."
        )

    if entry_points:
        try:
            pm.load_setuptools_entrypoints(PROJECT_NAME)
        except pluggy.PluginValidationError as exc:
            raise _explain_validation_error(exc, pm.get_name(exc.plugin) or "?") from exc
        except Exception as exc:
            raise _entry_point_error(pm) or PluginError(f"loading the jetflow entry points failed: {exc}") from exc
    for name, plugin in loaded_extra:
        if pm.is_blocked(name):
            continue
        if pm.is_registered(plugin):
            continue
        if pm.has_plugin(name):
            raise PluginError(
                f"two plugins are named {name!r}; rename one (a module name or a "
                "'name' attribute on the plugin object)"
            )
        try:
            pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise _explain_validation_error(exc, name) from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        name = pm.get_name(exc.plugin) if exc.plugin is not None else "?"
        raise _explain_validation_error(exc, name or "?") from exc

    if trace is None:
        trace = os.environ.get(TRACE_ENV, "") not in {"", "0"}
    if trace:
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


@dataclass(frozen=True)
class Declared:
    """A declaration and the plugin that made it."""

    plugin: str
    value: Any


def collect_options(pm: pluggy.PluginManager) -> dict[str, Declared]:
    """Config sections declared through ``jetflow_options``: ``{section: Declared(plugin, Model)}``."""
    return _collect(pm, "jetflow_options", "config section")


def collect_columns(pm: pluggy.PluginManager, config: Any = None) -> dict[str, Declared]:
    """Columns declared through ``jetflow_columns`` (given the run's config), plus the core columns."""
    out = {name: Declared("jetflow", spec) for name, spec in CORE_COLUMNS.items()}
    for name, decl in _collect(pm, "jetflow_columns", "column", {"config": config}).items():
        if name in out:
            raise PluginError(
                f"plugin {decl.plugin!r} declares column {name!r}, which the core already defines"
            )
        if not isinstance(decl.value, ColumnSpec):
            raise PluginError(
                f"plugin {decl.plugin!r}, hook jetflow_columns: column {name!r} must be a "
                f"jetflow.ColumnSpec, got {type(decl.value).__name__}"
            )
        out[name] = decl
    return out


def _collect(pm: pluggy.PluginManager, hook: str, what: str, kwargs: dict | None = None) -> dict[str, Declared]:
    out: dict[str, Declared] = {}
    for plugin_name, result in call_each(pm, hook, kwargs or {}):
        if result is None:
            continue
        if not isinstance(result, dict):
            raise PluginError(
                f"plugin {plugin_name!r}, hook {hook}: must return a dict, got {type(result).__name__}"
            )
        for key, value in result.items():
            if key in out:
                raise PluginError(
                    f"{what} {key!r} is declared by two plugins, {out[key].plugin!r} and "
                    f"{plugin_name!r}; disable one of them"
                )
            out[key] = Declared(plugin_name, value)
    return out


def plugin_order(pm: pluggy.PluginManager, hook: str) -> list[tuple[str, Any]]:
    """``(plugin_name, plugin)`` implementing ``hook``, in pluggy's call order."""
    caller = getattr(pm.hook, hook)
    return [(impl.plugin_name, impl.plugin) for impl in reversed(caller.get_hookimpls())]


def _single_caller(pm: pluggy.PluginManager, hook: str, plugin_name: str):
    """A hook caller that reaches one plugin only; cached on the manager."""
    cache = pm.__dict__.setdefault("_jetflow_single_callers", {})
    caller = cache.get((hook, plugin_name))
    if caller is None:
        keep = pm.get_plugin(plugin_name)
        others = [p for p in pm.get_plugins() if p is not keep]
        caller = pm.subset_hook_caller(hook, remove_plugins=others)
        cache[(hook, plugin_name)] = caller
    return caller


def call_each(
    pm: pluggy.PluginManager,
    hook: str,
    kwargs: dict[str, Any],
    *,
    firstresult: bool = False,
    where: dict[str, Any] | None = None,
) -> list[tuple[str, Any]]:
    """Call ``hook`` plugin by plugin, in pluggy's order.

    Going through pluggy one plugin at a time (a subset hook caller) keeps
    pluggy's semantics (argument subsets, tracing) and lets jetflow name the
    plugin when one raises or returns something wrong.

    Returns
    -------
    list of (plugin_name, result)
        With ``firstresult=True``, stops at the first non-None result.

    Raises
    ------
    PluginCallError
        If an implementation raises; names plugin, hook and ``where``
        (dataset, filename, entrystart, entrystop).
    """
    results = []
    for plugin_name, _ in plugin_order(pm, hook):
        caller = _single_caller(pm, hook, plugin_name)
        try:
            value = caller(**kwargs)
        except PluginCallError:
            raise
        except Exception as exc:
            kind = BadInputError if input_error(exc) is not None else PluginCallError
            raise kind(f"{type(exc).__name__}: {exc}", plugin=plugin_name, hook=hook, **(where or {})) from exc
        # a subset caller of a firstresult hook returns the value, of others a list
        if isinstance(value, list) and not getattr(pm.hook, hook).spec.opts.get("firstresult"):
            value = value[0] if value else None
        results.append((plugin_name, value))
        if firstresult and value is not None:
            break
    return results


def describe(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """What ``jetflow plugins`` prints: each plugin, its hooks, options and columns."""
    options = collect_options(pm)
    columns = collect_columns(pm)
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    out = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or [])
        dist = dists.get(id(plugin))
        out.append(
            {
                "name": name,
                "module": getattr(plugin, "__name__", type(plugin).__name__),
                "distribution": f"{dist.metadata['name']} {dist.version}" if dist else "(registered directly)",
                "doc": (getattr(plugin, "__doc__", None) or "").strip().splitlines()[0:1],
                "hooks": hooks,
                "options": {
                    section: decl.value for section, decl in options.items() if decl.plugin == name
                },
                "columns": {
                    col: decl.value for col, decl in columns.items() if decl.plugin == name
                },
            }
        )
    return out
