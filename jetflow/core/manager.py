"""The plugin manager: built-in plugins, entry points, extra plugins, disabling, validation.

Nothing is built at import time.  :func:`get_plugin_manager` registers the
built-in plugins (:data:`BUILTIN_PLUGINS`, the one list of them), then the
plugins of the entry-point group ``jetflow`` (third-party packages), then
extra plugins it is given (modules, module names, ``.py`` files, objects); it
blocks plugins disabled by name and validates every hookimpl against the
hookspecs.

Set ``JETFLOW_TRACE=1`` in the environment to print every hook call (pluggy's
tracing) to stderr.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pluggy

from jetflow.core import hookspecs
from jetflow.core.errors import PluginError
from jetflow.core.markers import PROJECT_NAME

BUILTIN_PLUGINS = (
    "jetflow_formats",
    "jetflow_generation",
    "jetflow_clustering",
    "jetflow_weights",
    "jetflow_selection",
    "jetflow_images",
    "jetflow_substructure",
    "jetflow_inference",
    "jetflow_accumulators",
    "jetflow_gan",
    "jetflow_studies",
)
"""The built-in plugins, by module, in data-flow order.  The module ``jetflow_<name>``
is registered as the plugin ``<name>``: the name ``jetflow plugins`` lists,
``--disable`` takes, and the plugin's config section has.  Adding a built-in
plugin is adding its module here (and its folder under ``plugins/``)."""

BUILTIN_PREFIX = "jetflow_"

TRACE_ENV = "JETFLOW_TRACE"
"""Environment variable: when set to a non-empty value other than 0, hook calls are traced to stderr."""

PluginLike = Any
"""A module, an importable module name, a path to a ``.py`` file, or any object with hookimpls."""


def builtin_name(module: str) -> str:
    """The plugin name of a built-in plugin module: ``jetflow_selection`` -> ``selection``."""
    return module.removeprefix(BUILTIN_PREFIX)


def hook_names() -> list[str]:
    """Every hook of jetflow, sorted."""
    return sorted(n for n in dir(hookspecs) if n.startswith(f"{PROJECT_NAME}_"))


def _entry_points():
    from importlib.metadata import entry_points

    return list(entry_points(group=PROJECT_NAME))


def load_plugin_spec(spec: PluginLike) -> tuple[str, Any]:
    """Turn a plugin spec into ``(name, plugin object)``.

    A ``str`` ending in ``.py`` (or an existing file path) is imported from that
    file and named after the file; any other ``str`` is imported as a module
    name and named after it; modules and other objects are used as they are
    (an object's ``name`` attribute, else its class name).
    """
    if isinstance(spec, (str, os.PathLike)):
        text = os.fspath(spec)
        path = Path(text)
        if text.endswith(".py") or path.is_file():
            return path.stem, _import_file(text, path)
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


def _import_file(text: str, path: Path) -> types.ModuleType:
    if not path.is_file():
        raise PluginError(f"plugin file {text!r} does not exist")
    path = path.resolve()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    modname = f"jetflow_userplugin_{path.stem}_{digest}"
    module = sys.modules.get(modname)
    if module is not None:
        return module
    module_spec = importlib.util.spec_from_file_location(modname, path)
    if module_spec is None or module_spec.loader is None:
        raise PluginError(f"cannot import plugin file {text!r}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[modname] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[modname]
        raise PluginError(f"importing plugin file {text!r} failed: {type(exc).__name__}: {exc}") from exc
    return module


def _explain_validation_error(exc: pluggy.PluginValidationError, name: str) -> PluginError:
    """Rewrite pluggy's validation error so that it names plugin and hook and suggests a fix."""
    text = " ".join(str(exc).split())
    known = hook_names()
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


def _register(pm: pluggy.PluginManager, plugin: Any, name: str) -> None:
    if pm.is_blocked(name) or pm.is_registered(plugin):
        return
    if pm.has_plugin(name):
        raise PluginError(
            f"two plugins are named {name!r}; rename one (a module name, a file name, or a "
            "'name' attribute on the plugin object)"
        )
    try:
        pm.register(plugin, name=name)
    except pluggy.PluginValidationError as exc:
        raise _explain_validation_error(exc, name) from exc


def get_plugin_manager(
    plugins: Iterable[PluginLike] = (),
    disable: Iterable[str] = (),
    *,
    builtins: bool = True,
    entry_points: bool = True,
    trace: bool | None = None,
) -> pluggy.PluginManager:
    """Build a validated plugin manager.

    Parameters
    ----------
    plugins
        Extra plugins: modules, importable module names, paths to ``.py``
        files, or objects with hookimpls.  They are registered last, so
        (pluggy calls the last registered first) they run before the
        built-ins unless a hookimpl says ``tryfirst``/``trylast``.
    disable
        Plugin names to block.  An unknown name is an error, so that a typo
        does not silently leave a plugin on.
    builtins
        Register the built-in plugins (:data:`BUILTIN_PLUGINS`).
    entry_points
        Register the plugins of the entry-point group ``jetflow``.
    trace
        Trace every hook call to stderr.  Default: on when the environment
        variable ``JETFLOW_TRACE`` is set (and not ``0``).

    Raises
    ------
    PluginError
        A misspelt hook name or argument (naming the plugin and the hook), an
        unknown plugin to disable, a plugin that fails to import, two plugins
        of one name.
    """
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    disable = list(dict.fromkeys(disable))
    for name in disable:
        pm.set_blocked(name)

    eps = _entry_points() if entry_points else []
    loaded_extra = [load_plugin_spec(spec) for spec in plugins]
    known = {builtin_name(m) for m in BUILTIN_PLUGINS} if builtins else set()
    known |= {ep.name for ep in eps} | {name for name, _ in loaded_extra}
    unknown = [n for n in disable if n not in known]
    if unknown:
        raise PluginError(
            f"cannot disable {', '.join(map(repr, unknown))}: no plugin of that name. "
            f"Known plugins: {', '.join(sorted(known)) or '(none)'}."
        )

    if builtins:
        for module in BUILTIN_PLUGINS:
            name = builtin_name(module)
            if not pm.is_blocked(name):
                _register(pm, importlib.import_module(module), name)
    for ep in eps:
        if pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {ep.name!r} (entry point {ep.value!r} of {ep.dist.name if ep.dist else '?'}) cannot be "
                f"imported: {type(exc).__name__}: {exc}. Fix or uninstall it, or --disable {ep.name}."
            ) from exc
        _register(pm, plugin, ep.name)
    for name, plugin in loaded_extra:
        _register(pm, plugin, name)
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


def plugin_origin(pm: pluggy.PluginManager, name: str) -> str:
    """Where a registered plugin comes from: built in, a distribution's entry point, or given directly."""
    plugin = pm.get_plugin(name)
    module = getattr(plugin, "__name__", None)
    if module in BUILTIN_PLUGINS and builtin_name(module) == name:
        return "built in"
    for ep in _entry_points():
        if ep.name == name:
            return f"entry point of {ep.dist.name if ep.dist else '?'}"
    return "given directly"
