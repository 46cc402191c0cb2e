"""The run configuration: one YAML file (or dict), validated once into an immutable :class:`Config`.

Top-level sections owned by the core:

``datasets``
    ``{name: {files, tree, label, xsec, metadata}}``.  ``files`` are paths or
    glob patterns, relative to the config file's folder.
``run``
    executor, workers, scheduler, chunksize, maxchunks, schema, progress,
    skip_bad_files.
``plugins``
    ``load`` (extra plugin modules or ``.py`` files) and ``disable`` (names).

Every other top-level section belongs to the plugin of the same name, which
declares its options model through the ``jetflow_options`` hook.  This module
only validates: :func:`validate_config` takes the declared sections, so it
needs no plugin manager (the engine, :mod:`jetflow.core.engine`, builds the
manager first and then validates once).  An unknown key or a wrong type
anywhere is rejected with the key's dotted path, e.g.
``datasets.wprime.label: Value error, should be 'signal', 'background' or a class number 0-127 (got 'sgnal')``.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from jetflow.core.errors import ConfigError
from jetflow.core.options import Options, unknown_key_hint, validate

LABELS = {"signal": 1, "background": 0}
"""Dataset labels by name and the value of the per-jet ``label`` column; any other class is a number."""

MAX_LABEL = 127
"""The largest class number (the ``label`` column is int8)."""

LABEL_FROM_FILE = None
""":meth:`Config.label` of a dataset with ``label: file``: every jet's label is its own, read from the input
(``None``, so that nothing can use it as a class number or an index by mistake)."""

EXECUTORS = ("iterative", "futures", "dask")
"""How the processor can be run: in this process, a local process pool, a dask cluster."""


class DatasetConfig(Options):
    """One dataset of the fileset."""

    files: list[str] = Field(min_length=1, description="paths or glob patterns, relative to the config file")
    tree: str | None = Field(None, description="the ROOT tree or HDF5 key to read (null: the input format's own, "
                             "e.g. Events, Delphes, table)")
    label: str | int = Field(description=(
        f"signal (1), background (0), a class number 0-{MAX_LABEL} (W, Z, top, QCD, ...: multi-class training), "
        "or file: each jet's own label, read from the input (the public jet datasets)"))
    classes: int = Field(2, ge=2, le=MAX_LABEL + 1, description="with label: file, how many classes the file's "
                         "labels number (JetClass: 10)")
    xsec: float = Field(1.0, gt=0, description="cross-section in pb (weight = xsec * lumi / sum of generator weights)")
    metadata: dict[str, Any] = Field(default_factory=dict, description="free-form, passed to plugins")

    @field_validator("label", mode="before")
    @classmethod
    def _known_label(cls, label):
        known = (label in (*LABELS, "file") if isinstance(label, str)
                 else isinstance(label, int) and not isinstance(label, bool) and 0 <= label <= MAX_LABEL)
        if not known:
            raise ValueError(f"should be 'signal', 'background', a class number 0-{MAX_LABEL} or 'file' (got {label!r})")
        return label


class RunConfig(Options):
    """How the processor is run."""

    executor: Literal[EXECUTORS] = "iterative"  # type: ignore[valid-type]
    workers: int = Field(2, ge=1, description="processes (futures) or LocalCluster workers (dask)")
    scheduler: str | None = Field(None, description="address of an existing dask scheduler")
    chunksize: int = Field(50_000, ge=1, description="events per chunk")
    maxchunks: int | None = Field(None, ge=1, description="at most this many chunks per dataset")
    schema_: str = Field(
        "auto", alias="schema", description="input format: a source of `jetflow plugins` (jetflow, pfnano, delphes, "
        "hepmc3, toptagging, ...); auto: each file is recognised by the sources"
    )
    progress: bool = True
    skip_bad_files: bool = Field(
        False, description="record unreadable files and chunks with bad input, and go on without them"
    )

    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True, populate_by_name=True)


class PluginsConfig(Options):
    """Which plugins take part."""

    load: list[str] = Field(default_factory=list, description="extra plugin modules or .py files")
    disable: list[str] = Field(default_factory=list, description="plugin names to block")


CORE_SECTIONS: dict[str, type[BaseModel]] = {"datasets": DatasetConfig, "run": RunConfig, "plugins": PluginsConfig}
"""The sections the core owns (``datasets`` maps names to :class:`DatasetConfig`)."""


@dataclass(frozen=True)
class Config:
    """A validated configuration; immutable (use :meth:`with_run` for a changed copy).

    Attributes
    ----------
    datasets : Mapping[str, DatasetConfig]
    run : RunConfig
    plugins : PluginsConfig
    sections : Mapping[str, BaseModel]
        The plugins' sections, each named after its plugin.
    base_dir : pathlib.Path
        Folder relative paths are resolved against.
    plugin_specs, disabled : tuple
        Extra plugins (the config's ``plugins.load``, resolved, plus those given
        in Python) and blocked names: what a worker needs to build the same
        plugin manager.
    local_copies : Mapping[str, str]
        On a worker that received the run's files (:meth:`Engine.from_data`):
        ``{path on the client: local copy}``; :meth:`resolve` gives the copy.
    """

    datasets: Mapping[str, DatasetConfig]
    run: RunConfig
    plugins: PluginsConfig
    sections: Mapping[str, BaseModel]
    base_dir: Path
    plugin_specs: tuple[Any, ...] = ()
    disabled: tuple[str, ...] = ()
    local_copies: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def section(self, name: str) -> BaseModel:
        """The validated options of the plugin section ``name``."""
        try:
            return self.sections[name]
        except KeyError:
            raise ConfigError(
                f"config section {name!r} is not declared by any enabled plugin "
                f"(declared: {', '.join(sorted(self.sections)) or 'none'})"
            ) from None

    def has_section(self, name: str) -> bool:
        return name in self.sections

    def resolve(self, path: str | os.PathLike) -> Path:
        """A path from the config, made absolute against the config's folder (a worker's local copy of a file
        the run shipped, see :attr:`local_copies`)."""
        p = Path(os.path.expanduser(os.fspath(path)))
        full = p if p.is_absolute() else (self.base_dir / p)
        copy = self.local_copies.get(str(full)) if self.local_copies else None
        return Path(copy) if copy is not None else full

    def files(self, dataset: str) -> list[str]:
        """The dataset's files, globs expanded, sorted; an error if a pattern matches nothing."""
        ds = self.datasets[dataset]
        out: list[str] = []
        for i, pattern in enumerate(ds.files):
            if "://" in pattern:  # remote (root://, https://): taken as is
                out.append(pattern)
                continue
            full = str(self.resolve(pattern))
            matches = sorted(glob.glob(full)) if glob.has_magic(full) else ([full] if os.path.exists(full) else [])
            if not matches:
                raise ConfigError(
                    f"datasets.{dataset}.files[{i}]: no file matches {pattern!r} "
                    f"(looked for {full})"
                )
            out.extend(matches)
        return out

    def label(self, dataset: str) -> int | None:
        """The dataset's label: 1 signal, 0 background, its class number, or :data:`LABEL_FROM_FILE`."""
        label = self.datasets[dataset].label
        if label == "file":
            return LABEL_FROM_FILE
        return LABELS[label] if isinstance(label, str) else label

    @property
    def n_labels(self) -> int:
        """How many labels the run's accumulators keep: the largest label + 1 (a dataset with ``label: file``:
        its ``classes``), at least 2 (signal and background); a multi-class run has more."""
        def count(d: str) -> int:
            label = self.label(d)
            return self.datasets[d].classes if label is LABEL_FROM_FILE else label + 1

        return max(2, *(count(d) for d in self.datasets)) if self.datasets else 2

    def to_dict(self) -> dict[str, Any]:
        """Every section with its defaults filled in: plain data that validates back to this config.

        The ``plugins`` section lists every extra plugin given by name or file
        (the config's own and those given in Python) and every blocked name.
        """
        load = [os.fspath(s) for s in self.plugin_specs if isinstance(s, (str, os.PathLike))]
        out: dict[str, Any] = {
            "datasets": {k: v.model_dump(by_alias=True) for k, v in self.datasets.items()},
            "run": self.run.model_dump(by_alias=True),
            "plugins": {"load": load, "disable": list(self.disabled)},
        }
        for name, model in self.sections.items():
            out[name] = model.model_dump(by_alias=True)
        return out

    def with_run(self, **overrides: Any) -> Config:
        """A copy with some ``run`` options changed, validated like the file's own."""
        if not overrides:
            return self
        errors: list[str] = []
        run = validate(RunConfig, {**self.run.model_dump(by_alias=True), **overrides}, "run", errors)
        if errors:
            raise ConfigError("invalid run options:\n  " + "\n  ".join(errors))
        return Config(self.datasets, run, self.plugins, self.sections, self.base_dir, self.plugin_specs, self.disabled,
                      self.local_copies)

    def with_local_copies(self, copies: Mapping[str, str]) -> Config:
        """A copy whose :meth:`resolve` gives ``copies[path]`` for the paths in ``copies``."""
        return Config(self.datasets, self.run, self.plugins, self.sections, self.base_dir, self.plugin_specs,
                      self.disabled, MappingProxyType(dict(copies)))

    def __reduce__(self):  # mapping proxies do not pickle; the copy is as immutable
        return (_rebuild_config, (dict(self.datasets), self.run, self.plugins, dict(self.sections), self.base_dir,
                                  self.plugin_specs, self.disabled, dict(self.local_copies)))

    def __repr__(self) -> str:
        return f"Config(datasets={list(self.datasets)}, sections={sorted(self.sections)})"


def _rebuild_config(datasets, run, plugins, sections, base_dir, plugin_specs, disabled, local_copies=None) -> Config:
    return Config(MappingProxyType(datasets), run, plugins, MappingProxyType(sections), base_dir, plugin_specs, disabled,
                  MappingProxyType(local_copies or {}))


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML config file into a dict, with errors that name the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping, got {type(data).__name__}")
    return data


def deep_merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``: mappings merged key by key, anything else replaced (configuration fragments)."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def read_plugins_section(raw: Mapping[str, Any], base_dir: Path) -> tuple[PluginsConfig, list[str]]:
    """The ``plugins`` section of a raw config and its extra plugin specs (``.py`` paths made absolute).

    The engine reads this before anything else: it says which plugin manager
    validates the rest.
    """
    errors: list[str] = []
    plugins = validate(PluginsConfig, raw.get("plugins"), "plugins", errors)
    if plugins is None:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    load = [str(base_dir / p) if p.endswith(".py") and not os.path.isabs(p) else p for p in plugins.load]
    return plugins, load


def validate_config(
    raw: Mapping[str, Any],
    declared: Mapping[str, tuple[str, type[BaseModel]]],
    base_dir: Path,
    plugin_specs: tuple[Any, ...] = (),
    disabled: tuple[str, ...] = (),
) -> Config:
    """Validate a raw configuration against the core's sections and the declared plugin sections.

    Parameters
    ----------
    raw
        The configuration as given (YAML's content, or a dict).
    declared
        ``{section: (plugin, options model)}`` of the enabled plugins.
    base_dir
        Folder relative paths resolve against.
    plugin_specs, disabled
        The extra plugins and blocked names the plugin manager was built with.

    Raises
    ------
    ConfigError
        Listing every bad key and value by dotted path.
    """
    errors: list[str] = []
    plugins = validate(PluginsConfig, raw.get("plugins"), "plugins", errors)
    run = validate(RunConfig, raw.get("run"), "run", errors)
    datasets: dict[str, DatasetConfig] = {}
    raw_datasets = raw.get("datasets")
    if not isinstance(raw_datasets, Mapping) or not raw_datasets:
        errors.append("datasets: required, a mapping {name: {files, label, ...}} with at least one dataset")
    else:
        for name, data in raw_datasets.items():
            ds = validate(DatasetConfig, data, f"datasets.{name}", errors)
            if ds is not None:
                datasets[str(name)] = ds
    sections: dict[str, BaseModel] = {}
    renamed: dict[str, str] = {}
    for name, (plugin, model) in declared.items():
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            errors.append(f"{name}: plugin {plugin!r} declares its options with {model!r}, not a pydantic model")
            continue
        renamed.update({old: name for old in getattr(model, "former_names", ())})
        value = validate(model, raw.get(name), name, errors)
        if value is not None:
            sections[name] = value
    known = {*CORE_SECTIONS, *declared}
    for key in raw:
        if key not in known:
            errors.append(
                f"{key}: unknown section.{unknown_key_hint(str(key), known, renamed)} "
                f"Sections: {', '.join(sorted(known))} (a plugin's section is named after the plugin "
                "and exists only while the plugin is enabled)."
            )
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    assert plugins is not None and run is not None
    return _rebuild_config(datasets, run, plugins, sections, Path(base_dir), tuple(plugin_specs), tuple(disabled))


__all__ = [
    "CORE_SECTIONS", "EXECUTORS", "LABELS", "Config", "DatasetConfig", "PluginsConfig", "RunConfig", "deep_merge",
    "read_plugins_section", "read_yaml", "validate_config",
]
