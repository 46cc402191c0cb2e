"""The run configuration: one YAML file, validated, with defaults.

Top-level sections owned by the core:

``datasets``
    ``{name: {files, tree, label, xsec, metadata}}``.  ``files`` are paths or
    glob patterns, relative to the config file's folder.
``run``
    executor, workers, scheduler, chunksize, maxchunks, schema, progress,
    skip_bad_files.
``plugins``
    ``load`` (extra plugin modules or ``.py`` files) and ``disable`` (names).

Every other top-level section (``jets``, ``selection``, ``images``,
``observables``, ``models``, ``outputs``, ...) belongs to the plugin that
declares it through the ``jetflow_options`` hook, and is validated against
that plugin's pydantic model.  An unknown key or a wrong type anywhere is
rejected with the key's dotted path, e.g.
``datasets.wprime.label: must be 'signal' or 'background', got 'sgnal'``.
"""

from __future__ import annotations

import difflib
import glob
import os
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from jetflow.errors import ConfigError

LABELS = {"signal": 1, "background": 0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class DatasetConfig(_Strict):
    """One dataset of the fileset."""

    files: list[str] = Field(min_length=1, description="paths or glob patterns, relative to the config file")
    tree: str = Field("Events", description="name of the TTree")
    label: Literal["signal", "background"] = Field(description="signal or background")
    xsec: float = Field(1.0, gt=0, description="cross-section in pb (weight = xsec * lumi / sum of generator weights)")
    metadata: dict[str, Any] = Field(default_factory=dict, description="free-form, passed to plugins")


class RunConfig(_Strict):
    """How the processor is run."""

    executor: Literal["iterative", "futures", "dask"] = "iterative"
    workers: int = Field(2, ge=1, description="processes (futures) or LocalCluster workers (dask)")
    scheduler: str | None = Field(None, description="address of an existing dask scheduler")
    chunksize: int = Field(50_000, ge=1, description="events per chunk")
    maxchunks: int | None = Field(None, ge=1, description="at most this many chunks per dataset")
    schema_: Literal["auto", "jetflow", "pfnano", "nanoaod"] = Field(
        "auto", alias="schema", description="input schema; auto looks at the first file"
    )
    progress: bool = True
    skip_bad_files: bool = Field(
        False, description="record unreadable files and chunks with bad input, and go on without them"
    )

    model_config = ConfigDict(extra="forbid", validate_default=True, populate_by_name=True)


class PluginsConfig(_Strict):
    """Which plugins take part."""

    load: list[str] = Field(default_factory=list, description="extra plugin modules or .py files")
    disable: list[str] = Field(default_factory=list, description="plugin names to block")


CORE_SECTIONS: dict[str, type[BaseModel]] = {
    "run": RunConfig,
    "plugins": PluginsConfig,
}


class Config:
    """A validated configuration.

    Attributes
    ----------
    datasets : dict[str, DatasetConfig]
    run : RunConfig
    plugins : PluginsConfig
    raw : dict
        The configuration as given (plain data: what the processor ships to
        workers, which re-validate it against their own plugin manager).
    base_dir : pathlib.Path
        Folder relative paths are resolved against.
    plugin_specs, disabled : tuple
        Extra plugins (config's ``plugins.load``, resolved, plus those given in
        Python) and blocked names: what a worker needs to rebuild the same
        plugin manager.
    """

    def __init__(
        self,
        raw: dict[str, Any],
        datasets: dict[str, DatasetConfig],
        run: RunConfig,
        plugins: PluginsConfig,
        sections: dict[str, BaseModel],
        base_dir: Path,
        plugin_specs: tuple[Any, ...] = (),
        disabled: tuple[str, ...] = (),
    ) -> None:
        self.raw = raw
        self.datasets = datasets
        self.run = run
        self.plugins = plugins
        self._sections = sections
        self.base_dir = base_dir
        self.plugin_specs = plugin_specs
        self.disabled = disabled
        self.pm: Any = None  # the plugin manager it was validated against (this process only)

    def section(self, name: str) -> BaseModel:
        """The validated options of a plugin-declared section."""
        try:
            return self._sections[name]
        except KeyError:
            raise ConfigError(
                f"config section {name!r} is not declared by any enabled plugin "
                f"(declared: {', '.join(sorted(self._sections)) or 'none'})"
            ) from None

    def has_section(self, name: str) -> bool:
        return name in self._sections

    @property
    def sections(self) -> dict[str, BaseModel]:
        return dict(self._sections)

    def resolve(self, path: str | os.PathLike) -> Path:
        """A path from the config, made absolute against the config's folder."""
        p = Path(os.path.expanduser(os.fspath(path)))
        return p if p.is_absolute() else (self.base_dir / p)

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

    def label(self, dataset: str) -> int:
        return LABELS[self.datasets[dataset].label]

    def to_dict(self) -> dict[str, Any]:
        """Every section with its defaults filled in (plain data)."""
        out: dict[str, Any] = {
            "datasets": {k: v.model_dump() for k, v in self.datasets.items()},
            "run": self.run.model_dump(by_alias=True),
            "plugins": self.plugins.model_dump(),
        }
        for name, model in self._sections.items():
            out[name] = model.model_dump()
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["pm"] = None  # process-local: rebuilt where needed
        return state

    def __repr__(self) -> str:
        return f"Config(datasets={list(self.datasets)}, sections={sorted(self._sections)})"


# --------------------------------------------------------------------------
# error formatting
# --------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Union-with-None and Annotated."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _unwrap(args[0])
    return annotation


def _fields_at(model: Any, loc: tuple) -> list[str]:
    """Valid keys at ``loc`` inside ``model`` (for 'did you mean' hints)."""
    current = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part)
            if field is None:
                field = next((f for f in current.model_fields.values() if f.alias == part), None)
            if field is None:
                return []
            current = field.annotation
        elif typing.get_origin(current) in (dict, typing.Dict):  # noqa: UP006
            current = typing.get_args(current)[1]
        elif typing.get_origin(current) in (list, tuple):
            current = typing.get_args(current)[0]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _format_validation_error(exc: ValidationError, prefix: str, model: Any) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = prefix + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
        path = path.lstrip(".")
        if err["type"] == "extra_forbidden":
            valid = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            lines.append(f"{path}: unknown key.{hint} Valid keys here: {', '.join(valid)}.")
        else:
            got = err.get("input")
            shown = repr(got) if not isinstance(got, dict) else "a mapping"
            lines.append(f"{path}: {err['msg']} (got {shown})")
    return lines


# --------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------


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


def load_config(
    source: str | os.PathLike | dict[str, Any] | Config,
    *,
    plugins: typing.Iterable[Any] = (),
    disable: typing.Iterable[str] = (),
    base_dir: str | os.PathLike | None = None,
    pm: Any = None,
) -> Config:
    """Validate a configuration.

    Parameters
    ----------
    source
        Path to a YAML file, a dict, or an already validated :class:`Config`
        (returned as it is unless ``plugins``/``disable`` are given).
    plugins, disable
        Extra plugins and blocked plugin names, added to the config's own
        ``plugins.load`` / ``plugins.disable``.
    base_dir
        Folder relative paths resolve against; default: the YAML file's folder
        (or the working directory for a dict).
    pm
        A plugin manager to validate against; default: built from the config's
        ``plugins`` section with :func:`jetflow.get_plugin_manager`.

    Raises
    ------
    ConfigError
        Listing every bad key and value by dotted path.
    """
    from jetflow.plugins import collect_options, get_plugin_manager

    if isinstance(source, Config):
        if not plugins and not disable and pm is None:
            return source
        raw, base = source.raw, source.base_dir
        plugins = [*source.plugin_specs, *plugins]
        disable = [*source.disabled, *disable]
    elif isinstance(source, dict):
        raw, base = source, Path(base_dir) if base_dir else Path.cwd()
    else:
        raw, base = read_yaml(source), Path(source).resolve().parent
    if base_dir is not None:
        base = Path(base_dir)
    raw = dict(raw)
    errors: list[str] = []

    def validate(model: type[BaseModel], data: Any, prefix: str) -> BaseModel | None:
        try:
            return model.model_validate({} if data is None else data)
        except ValidationError as exc:
            errors.extend(_format_validation_error(exc, prefix, model))
            return None

    plugins_cfg = validate(PluginsConfig, raw.get("plugins"), "plugins")
    run_cfg = validate(RunConfig, raw.get("run"), "run")
    datasets: dict[str, DatasetConfig] = {}
    raw_datasets = raw.get("datasets")
    if not isinstance(raw_datasets, dict) or not raw_datasets:
        errors.append("datasets: required, a mapping {name: {files, label, ...}} with at least one dataset")
    else:
        for name, data in raw_datasets.items():
            ds = validate(DatasetConfig, data, f"datasets.{name}")
            if ds is not None:
                datasets[str(name)] = ds
    if plugins_cfg is None:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))

    load = [str(base / p) if p.endswith(".py") and not os.path.isabs(p) else p for p in plugins_cfg.load]
    plugin_specs = tuple(dict.fromkeys([*load, *plugins]))
    disabled = tuple(dict.fromkeys([*plugins_cfg.disable, *disable]))
    if pm is None:
        pm = get_plugin_manager(plugin_specs, disabled)
    declared = collect_options(pm)
    sections: dict[str, BaseModel] = {}
    for name, decl in declared.items():
        model = decl.value
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            errors.append(f"{name}: plugin {decl.plugin!r} declares it with a non-pydantic {model!r}")
            continue
        value = validate(model, raw.get(name), name)
        if value is not None:
            sections[name] = value

    known = {"datasets", *CORE_SECTIONS, *declared}
    for key in raw:
        if key not in known:
            close = difflib.get_close_matches(str(key), sorted(known), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            errors.append(
                f"{key}: unknown section.{hint} Sections: {', '.join(sorted(known))} "
                "(plugin sections exist only while their plugin is enabled)."
            )
    if errors:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(errors))
    assert run_cfg is not None
    config = Config(raw, datasets, run_cfg, plugins_cfg, sections, base, plugin_specs, disabled)
    config.pm = pm
    return config
