"""The engine of a run: the plugin manager, the validated configuration, the declared columns.

Built once, in this order (``Engine.build``): the configuration's ``plugins``
section is read, the plugin manager is built from it (plus extra plugins and
blocked names given in Python), the whole configuration is validated once
against the sections the plugins declare, the columns are collected, and each
plugin's ``jetflow_prepare`` runs.  The result is immutable.

A worker does not read the YAML file again: the processor ships
:meth:`Engine.to_data` (the validated configuration as plain data, the
plugin specs, the prepared values) and the worker rebuilds the engine once per
process with :meth:`Engine.from_data` (kept in :mod:`jetflow.core.cache`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetflow.core.atomic import write_bytes
from jetflow.core.calls import (Declared, collect_columns, collect_options, collect_prepared, collect_resources,
                                collect_sources, collect_worker_files)
from jetflow.core.config import Config, read_plugins_section, read_yaml, validate_config
from jetflow.core.manager import get_plugin_manager

@dataclass(frozen=True)
class Engine:
    """A plugin manager and the configuration validated against it.

    Attributes
    ----------
    pm : pluggy.PluginManager
    config : Config
    columns : dict[str, Declared]
        Every declared column and the plugin that declared it.
    prepared : dict[str, Any]
        What each plugin's ``jetflow_prepare`` returned for this run.
    worker_files : dict[str, bytes]
        ``{path: content}`` of every file the workers open (user plugin files,
        ``jetflow_worker_files``), read once on the client.
    sources : dict[str, Declared]
        Every input format (hook ``jetflow_sources``) and the plugin that provides it.
    """

    pm: Any
    config: Config
    columns: Mapping[str, Declared]
    prepared: Mapping[str, Any] = field(default_factory=dict)
    worker_files: Mapping[str, bytes] = field(default_factory=dict)
    sources: Mapping[str, Declared] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        source: Config | Mapping[str, Any] | str | os.PathLike,
        *,
        plugins: Iterable[Any] = (),
        disable: Iterable[str] = (),
        base_dir: str | os.PathLike | None = None,
        prepare: bool = True,
    ) -> Engine:
        """Build the engine of a configuration (a YAML path, a dict, or a :class:`Config`).

        Parameters
        ----------
        plugins, disable
            Extra plugins and blocked plugin names, added to the config's own
            ``plugins.load`` / ``plugins.disable``.
        base_dir
            Folder relative paths resolve against; default: the YAML file's
            folder (the working directory for a dict).
        prepare
            Run the plugins' ``jetflow_prepare`` hooks (on the client, before a run).
        """
        # extra plugin files given in Python are taken relative to the working directory, now
        plugins = [os.path.abspath(p) if isinstance(p, (str, os.PathLike)) and os.fspath(p).endswith(".py") else p
                   for p in plugins]
        if isinstance(source, Config):
            raw, base = source.to_dict(), source.base_dir
            extra, blocked = [*source.plugin_specs, *plugins], [*source.disabled, *disable]
        else:
            if isinstance(source, Mapping):
                raw, base = dict(source), Path.cwd()
            else:
                raw, base = read_yaml(source), Path(source).resolve().parent
            if base_dir is not None:
                base = Path(base_dir)
            section, load = read_plugins_section(raw, base)
            extra, blocked = [*load, *plugins], [*section.disable, *disable]
        plugin_specs = tuple(dict.fromkeys(extra, None))
        disabled = tuple(dict.fromkeys(blocked))
        pm = get_plugin_manager(plugin_specs, disabled)
        config = validate_config(raw, collect_options(pm), base, plugin_specs, disabled)
        sources = collect_sources(pm)
        _check_schema(config, sources)
        if not prepare:
            return cls(pm, config, collect_columns(pm, config), sources=sources)
        prepared = collect_prepared(pm, config)
        return cls(pm, config, collect_columns(pm, config), prepared, collect_worker_files(pm, config), sources)

    def with_run(self, **overrides: Any) -> Engine:
        """This engine with some ``run`` options changed (validated; the rest is shared)."""
        config = self.config.with_run(**overrides)
        _check_schema(config, self.sources)
        return Engine(self.pm, config, self.columns, self.prepared, self.worker_files, self.sources)

    def source(self, name: str) -> tuple[str, Any]:
        """``(providing plugin, Source)`` of the input format ``name``."""
        decl = self.sources[name]
        return decl.plugin, decl.value

    def source_options(self, name: str) -> Any:
        """The options of the source ``name``: its ``section`` of its plugin's section, or the whole section
        (``None`` if the plugin has none)."""
        plugin, source = self.source(name)
        options = self.config.section(plugin) if self.config.has_section(plugin) else None
        return getattr(options, source.section, None) if source.section and options is not None else options

    def resources(self) -> dict[str, float]:
        """The dask resources every chunk of this run needs (hook ``jetflow_resources``)."""
        return collect_resources(self.pm, self.config)

    def column_specs(self) -> dict[str, Any]:
        """``{column: ColumnSpec}`` of every declared column."""
        return {name: decl.value for name, decl in self.columns.items()}

    # -- shipping to workers ------------------------------------------------

    def to_data(self, ship_files: bool = False) -> dict[str, Any]:
        """Plain data from which :meth:`from_data` rebuilds this engine in another process.

        ``worker_files`` holds the SHA-256 of every file the workers open; with
        ``ship_files`` (a dask cluster, whose workers may not see the client's
        disk) ``shipped`` holds their content too.
        """
        return {
            "config": self.config.to_dict(),
            "base_dir": str(self.config.base_dir),
            "plugins": self.config.plugin_specs,
            "disable": self.config.disabled,
            "prepared": dict(self.prepared),
            "worker_files": {path: hashlib.sha256(data).hexdigest() for path, data in self.worker_files.items()},
            "shipped": dict(self.worker_files) if ship_files else {},
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Engine:
        """The engine :meth:`to_data` describes (its plugins are imported here; nothing is prepared again).

        Shipped files are written to a folder of this process first; plugin
        files are imported from there, and ``config.resolve`` gives the copies.
        """
        copies = local_copies(data.get("shipped") or {})
        config = dict(data["config"])
        if copies:
            config["plugins"] = dict(config.get("plugins") or {})
            config["plugins"]["load"] = [copies.get(p, p) for p in config["plugins"].get("load", [])]
        plugins = [copies.get(p, p) if isinstance(p, str) else p for p in data["plugins"]]
        engine = cls.build(config, plugins=plugins, disable=data["disable"], base_dir=data["base_dir"], prepare=False)
        cfg = engine.config.with_local_copies(copies) if copies else engine.config
        return Engine(engine.pm, cfg, engine.columns, dict(data["prepared"]), sources=engine.sources)


def _check_schema(config: Config, sources: Mapping[str, Declared]) -> None:
    """``run.schema`` must be ``auto`` or an input format a plugin provides."""
    from jetflow.core.errors import ConfigError

    name = config.run.schema_
    if name != "auto" and name not in sources:
        known = ", ".join(sorted(sources)) or "none: no plugin provides an input format (hook jetflow_sources)"
        raise ConfigError(f"run.schema: no input format {name!r} (known: auto, {known}; `jetflow plugins` lists them)")


def local_copies(shipped: Mapping[str, bytes]) -> dict[str, str]:
    """Write shipped files into this process's temporary folder; ``{path on the client: local copy}``.

    Each copy sits in a folder named after its SHA-256, under its own file name
    (a plugin file keeps its name, so its plugin keeps its name too).
    """
    import tempfile

    root = Path(tempfile.gettempdir()) / f"jetflow-shipped-{os.getuid() if hasattr(os, 'getuid') else 0}"
    copies = {}
    for path, content in shipped.items():
        folder = root / hashlib.sha256(content).hexdigest()[:20]
        target = folder / Path(path).name
        if not target.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            write_bytes(target, content, "shipped copy")
        copies[path] = str(target)
    return copies


def load_config(
    source: Config | Mapping[str, Any] | str | os.PathLike,
    *,
    plugins: Iterable[Any] = (),
    disable: Iterable[str] = (),
    base_dir: str | os.PathLike | None = None,
) -> Config:
    """Validate a configuration (a YAML path or a dict) against the enabled plugins.

    A shortcut for ``Engine.build(...).config`` that runs no ``jetflow_prepare`` hook.

    Raises
    ------
    ConfigError
        Listing every bad key and value by dotted path.
    """
    return Engine.build(source, plugins=plugins, disable=disable, base_dir=base_dir, prepare=False).config
