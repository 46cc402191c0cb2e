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

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetflow.core.calls import Declared, collect_columns, collect_options, collect_prepared, collect_resources
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
    """

    pm: Any
    config: Config
    columns: Mapping[str, Declared]
    prepared: Mapping[str, Any] = field(default_factory=dict)

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
        prepared = collect_prepared(pm, config) if prepare else {}
        return cls(pm, config, collect_columns(pm, config), prepared)

    def with_run(self, **overrides: Any) -> Engine:
        """This engine with some ``run`` options changed (validated; the rest is shared)."""
        return Engine(self.pm, self.config.with_run(**overrides), self.columns, self.prepared)

    def resources(self) -> dict[str, float]:
        """The dask resources every chunk of this run needs (hook ``jetflow_resources``)."""
        return collect_resources(self.pm, self.config)

    def column_specs(self) -> dict[str, Any]:
        """``{column: ColumnSpec}`` of every declared column."""
        return {name: decl.value for name, decl in self.columns.items()}

    # -- shipping to workers ------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        """Plain data from which :meth:`from_data` rebuilds this engine in another process."""
        return {
            "config": self.config.to_dict(),
            "base_dir": str(self.config.base_dir),
            "plugins": self.config.plugin_specs,
            "disable": self.config.disabled,
            "prepared": dict(self.prepared),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Engine:
        """The engine :meth:`to_data` describes (its plugins are imported here; nothing is prepared again)."""
        engine = cls.build(data["config"], plugins=data["plugins"], disable=data["disable"],
                           base_dir=data["base_dir"], prepare=False)
        return Engine(engine.pm, engine.config, engine.columns, dict(data["prepared"]))


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
