"""Workflows: a study as data.

A workflow is a YAML file (docs/workflows.md) of parameters, configuration
fragments and steps.  Each step names a kind (``generate``, ``run``,
``train``, ``report``, ...) that the core (:mod:`.workflow_steps`) or a plugin
(hook ``jetflow_workflow_steps``) provides, and gives its options under
``with:``.  Values may refer to parameters and to what earlier steps recorded
with ``${...}`` (:mod:`.expressions`): ``"${int(4000 * scale)}"`` becomes a
number, ``"samples/${sample}"`` a string, ``"${train.models}"`` whatever the
step ``train`` recorded under ``models``.

:func:`run_workflow` runs the steps in order and writes ``study.json`` (every
step's options, record and time) and ``study.md`` (every step's account) into
the output folder.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, field_validator

from jetflow.core.atomic import write_text
from jetflow.core.calls import collect
from jetflow.core.config import PluginsConfig, deep_merge
from jetflow.core.errors import ConfigError, JetflowError, PluginCallError, PluginError
from jetflow.core.manager import get_plugin_manager
from jetflow.core.options import Options, format_validation_error
from jetflow.core.steps import StepContext, StepResult, WorkflowStep
from jetflow.frontends.expressions import Fragments, substitute

# --------------------------------------------------------------------------
# the file
# --------------------------------------------------------------------------


class StepSpec(Options):
    """One step of a workflow file."""

    name: str = Field(description="unique identifier; later steps refer to its record as ${name.key}")
    step: str = Field(description="the kind of step (see jetflow workflow --list)")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="the step's options")
    when: bool | str = Field(True, description=(
        "run the step only if this is true (a ${...} expression of the parameters and earlier steps); a skipped "
        "step records nothing, and a later step that reads its record fails naming it"))

    model_config = Options.model_config | {"populate_by_name": True}

    @field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not name.isidentifier():
            raise ValueError(f"a step name must be an identifier (letters, digits, _), got {name!r}")
        return name


class WorkflowFile(Options):
    """The top level of a workflow file."""

    name: str = Field(description="short name")
    title: str = Field("", description="heading of study.md")
    description: str = Field("", description="what the workflow reproduces, for study.md")
    params: dict[str, Any] = Field(default_factory=dict, description="parameters and their defaults")
    presets: dict[str, dict[str, Any]] = Field(default_factory=dict, description="named sets of parameters")
    configs: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="named configuration fragments that run steps merge"
    )
    step_defaults: dict[str, dict[str, Any]] = Field(default_factory=dict, description="default options per kind of step")
    plugins: PluginsConfig = Field(default_factory=PluginsConfig, description="extra plugins and blocked names")
    steps: list[StepSpec] = Field(min_length=1)


RESERVED = ("configs", "workers", "progress", "scheduler")
"""Names every workflow's ``${...}`` knows besides its parameters and steps."""


def read_workflow(path: Path) -> WorkflowFile:
    """A workflow file, validated (errors name the file and the key)."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read workflow file {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"workflow file {path} is not valid YAML: {exc}") from exc
    from pydantic import ValidationError

    try:
        wf = WorkflowFile.model_validate(data or {})
    except ValidationError as exc:
        lines = format_validation_error(exc, "", WorkflowFile)
        raise ConfigError(f"workflow file {path}:\n  " + "\n  ".join(lines)) from None
    names = [s.name for s in wf.steps]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"workflow file {path}: step names must be unique, repeated: {', '.join(twice)}")
    taken = sorted(set(names) & {*wf.params, *RESERVED})
    if taken:
        raise ConfigError(f"workflow file {path}: step name(s) {', '.join(taken)} are also parameters "
                          f"(or {', '.join(RESERVED)}); ${{...}} could not tell them apart")
    return wf


def parse_settings(settings: Iterable[str]) -> dict[str, Any]:
    """``["scale=4", "models=[convnet]"]`` -> ``{"scale": 4, "models": ["convnet"]}`` (values read as YAML)."""
    out = {}
    for item in settings:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE")
        out[name.strip()] = yaml.safe_load(text)
    return out


# --------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------


def step_kinds(pm) -> dict[str, tuple[str, WorkflowStep]]:
    """``{kind: (provider, WorkflowStep)}``: the core's steps and every plugin's."""
    from jetflow.frontends import workflow_steps

    kinds = {kind: ("jetflow", step) for kind, step in {**workflow_steps.STEPS, "workflow": WORKFLOW_STEP}.items()}
    for kind, decl in collect(pm, "jetflow_workflow_steps", "workflow step").items():
        if kind in kinds:
            raise PluginError(f"plugin {decl.plugin!r} declares the workflow step {kind!r}, which the core provides")
        if not isinstance(decl.value, WorkflowStep):
            raise PluginError(f"plugin {decl.plugin!r}, hook jetflow_workflow_steps: {kind!r} must be a "
                              f"jetflow.WorkflowStep, got {type(decl.value).__name__}")
        kinds[kind] = (decl.plugin, decl.value)
    return kinds


def packaged_workflows(pm) -> dict[str, Path]:
    """``{name: path}`` of the workflows plugins offer (hook ``jetflow_workflows``)."""
    return {name: Path(decl.value) for name, decl in collect(pm, "jetflow_workflows", "workflow").items()}


def find_workflow(source: str | os.PathLike, pm) -> Path:
    """A workflow file given by path or by the name of a packaged workflow."""
    path = Path(source)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise ConfigError(f"workflow file {path} does not exist")
        return path
    offered = packaged_workflows(pm)
    if str(source) not in offered:
        raise ConfigError(f"no workflow {str(source)!r}: give a YAML file or one of "
                          f"{', '.join(sorted(offered)) or '(none packaged)'}")
    return offered[str(source)]


def describe_workflows(plugins: Iterable[Any] = (), disable: Iterable[str] = ()) -> str:
    """What ``jetflow workflow --list`` prints."""
    pm = get_plugin_manager(plugins, disable)
    lines = ["Packaged workflows:"]
    for name, path in sorted(packaged_workflows(pm).items()):
        wf = read_workflow(path)
        presets = f" (presets: {', '.join(wf.presets)})" if wf.presets else ""
        lines.append(f"  {name}: {wf.title or wf.name}{presets}  [{path}]")
    lines.append("\nKinds of step:")
    for kind, (provider, step) in sorted(step_kinds(pm).items()):
        fields = ", ".join(f.alias or n for n, f in step.options.model_fields.items())
        lines.append(f"  {kind} ({provider}): {step.description}\n      with: {fields}")
    return "\n".join(lines)


def _json_ready(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _validate_options(spec: StepSpec, step: WorkflowStep, data: Mapping[str, Any], where: str) -> Any:
    from pydantic import ValidationError

    try:
        return step.options.model_validate(data)
    except ValidationError as exc:
        lines = format_validation_error(exc, f"steps.{spec.name}.with", step.options)
        raise ConfigError(f"{where}:\n  " + "\n  ".join(lines)) from None


def _check_keys(wf: WorkflowFile, kinds: Mapping[str, tuple[str, WorkflowStep]], where: str) -> None:
    """Before anything runs: every step's kind exists and its keys are known."""
    from jetflow.core.options import unknown_key_hint

    errors = []
    for spec in wf.steps:
        if spec.step not in kinds:
            errors.append(f"steps.{spec.name}.step: unknown kind {spec.step!r}.{unknown_key_hint(spec.step, kinds)} "
                          f"Kinds: {', '.join(sorted(kinds))}.")
            continue
        model = kinds[spec.step][1].options
        valid = {f.alias or n for n, f in model.model_fields.items()} | set(model.model_fields)
        for key in {**wf.step_defaults.get(spec.step, {}), **spec.with_}:
            if key not in valid:
                errors.append(f"steps.{spec.name}.with.{key}: unknown key.{unknown_key_hint(key, valid)} "
                              f"Valid keys: {', '.join(sorted(valid))}.")
    for name in wf.step_defaults:
        if name not in kinds:
            errors.append(f"step_defaults.{name}: unknown kind of step. Kinds: {', '.join(sorted(kinds))}.")
    if errors:
        raise ConfigError(f"{where}:\n  " + "\n  ".join(errors))


def run_workflow(
    source: str | os.PathLike,
    *,
    out: str | os.PathLike | None = None,
    preset: str | None = None,
    params: Mapping[str, Any] | None = None,
    workers: int = 2,
    progress: bool = True,
    plugins: Iterable[Any] = (),
    disable: Iterable[str] = (),
    scheduler: str | None = None,
) -> dict[str, Any]:
    """Run a workflow; returns its record (also written to ``<out>/study.json``).

    Parameters
    ----------
    source
        A workflow YAML file, or the name of a packaged workflow.
    out
        The output folder (created); default: the workflow's name.
    preset
        A named set of parameters from the file's ``presets``.
    params
        Parameters to set (after the preset); an unknown name is an error.
    workers, progress
        Worker processes the steps may use; progress output.  Both are also
        parameters (``${workers}``, ``${progress}``).
    scheduler
        A dask scheduler's address: steps that can (generation; runs whose
        configuration reads ``${scheduler}``) spread their work over its workers.
    plugins, disable
        Extra plugins and blocked plugin names, on top of the file's ``plugins``.
    """
    pm = get_plugin_manager(plugins, disable)
    path = find_workflow(source, pm)
    wf = read_workflow(path)
    plugin_specs = (*[str(path.parent / p) if p.endswith(".py") and not os.path.isabs(p) else p
                      for p in wf.plugins.load], *plugins)
    blocked = (*wf.plugins.disable, *disable)
    if plugin_specs != tuple(plugins) or blocked != tuple(disable):
        pm = get_plugin_manager(plugin_specs, blocked)
    kinds = step_kinds(pm)
    _check_keys(wf, kinds, f"workflow file {path}")

    values = dict(wf.params)
    if preset is not None:
        if preset not in wf.presets:
            raise ConfigError(f"workflow {wf.name!r} has no preset {preset!r} (presets: {', '.join(wf.presets) or 'none'})")
        values.update(wf.presets[preset])
    for name, value in (params or {}).items():
        if name not in wf.params:
            raise ConfigError(f"workflow {wf.name!r} has no parameter {name!r} (parameters: {', '.join(wf.params)})")
        values[name] = value
    values.update(workers=workers, progress=progress, scheduler=scheduler)

    root = Path(out if out is not None else wf.name).resolve()
    root.mkdir(parents=True, exist_ok=True)
    names: dict[str, Any] = dict(values)
    names["configs"] = Fragments(wf.configs, names)
    steps: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    record = {"workflow": wf.name, "source": str(path), "preset": preset, "params": _json_ready(values),
              "steps": steps, "timings_s": timings, "markdown": str(root / "study.md"), "finished": False}
    t_all = time.time()
    for number, spec in enumerate(wf.steps, 1):
        provider, step = kinds[spec.step]
        where = f"workflow {wf.name!r}, step {spec.name!r} ({spec.step})"
        if not _runs(spec, names, where):
            if progress:
                print(f"[jetflow] step {number}/{len(wf.steps)} {spec.name}: skipped (when: {spec.when})", flush=True)
            steps.append({"name": spec.name, "step": spec.step, "provider": provider, "skipped": True, "record": {},
                          "markdown": "", "seconds": 0.0})
            continue
        data = substitute(deep_merge(wf.step_defaults.get(spec.step, {}), spec.with_), names)
        options = _validate_options(spec, step, data, where)
        ctx = StepContext(spec.name, root, workers, progress, tuple(plugin_specs), tuple(blocked), scheduler)
        t0 = time.time()
        if progress:
            print(f"[jetflow] step {number}/{len(wf.steps)} {spec.name}: {spec.step} ({step.description})", flush=True)
        try:
            result = step.run(options, ctx)
        except JetflowError as exc:
            exc.args = (f"{where}: {exc}", *exc.args[1:])  # the same error, saying which step
            raise
        except Exception as exc:
            raise PluginCallError(f"{where}: {type(exc).__name__}: {exc}", plugin=provider) from exc
        if not isinstance(result, StepResult):
            raise PluginError(f"{where}: the step returned {type(result).__name__}, not a jetflow.StepResult")
        timings[spec.name] = time.time() - t0
        names[spec.name] = done = _json_ready(result.record)
        steps.append({"name": spec.name, "step": spec.step, "provider": provider,
                      "options": _json_ready(options.model_dump(by_alias=True)), "record": done,
                      "markdown": result.markdown, "seconds": timings[spec.name]})
        write_text(root / "study.json", json.dumps(record, indent=2), "study record")  # what is done so far, kept
    timings["total"] = time.time() - t_all
    record["finished"] = True
    write_text(root / "study.json", json.dumps(record, indent=2), "study record")
    write_text(root / "study.md", study_markdown(wf, record), "study account")
    return record


class WorkflowStepOptions(Options):
    """Options of a ``workflow`` step: another workflow run as one step, in a folder of this one's."""

    workflow: str = Field(description="a packaged workflow's name, or a workflow file (relative to the output folder)")
    out: str = Field(description="its output folder, relative to this workflow's")
    preset: str | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="its parameters to set (after the preset)")


def _workflow_step(options: WorkflowStepOptions, ctx: StepContext) -> StepResult:
    """Run the workflow; the record holds each of its steps' records by name, and its output folder."""
    source = ctx.resolve(options.workflow) if options.workflow.endswith((".yaml", ".yml")) else options.workflow
    record = run_workflow(source, out=ctx.resolve(options.out), preset=options.preset, params=options.params,
                          workers=ctx.workers, progress=ctx.progress, plugins=ctx.plugins, disable=ctx.disable,
                          scheduler=ctx.scheduler)
    steps = {step["name"]: step["record"] for step in record["steps"]}
    text = (f"Workflow `{record['workflow']}` in `{options.out}` ({record['timings_s']['total']:.0f} s): its account is "
            f"[{options.out}/study.md]({options.out}/study.md).")
    return StepResult({"out": str(ctx.resolve(options.out)), "steps": steps}, text)


WORKFLOW_STEP = WorkflowStep(WorkflowStepOptions, _workflow_step, "another workflow, run as one step (jetflow workflow)")


def _runs(spec: StepSpec, names: Mapping[str, Any], where: str) -> bool:
    """Whether a step runs: its ``when``, substituted, must be a boolean."""
    value = substitute(spec.when, names)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: when must be true or false, got {value!r} (from {spec.when!r})")
    return value


def study_markdown(wf: WorkflowFile, record: Mapping[str, Any]) -> str:
    """The Markdown account of a workflow run: what was run, how long it took, each step's account."""
    t = record["timings_s"]
    lines = [f"# {wf.title or wf.name}", ""]
    if wf.description:
        lines += [wf.description.strip(), ""]
    preset = f", preset `{record['preset']}`" if record.get("preset") else ""
    lines += [f"Workflow `{wf.name}`{preset}; parameters: "
              + ", ".join(f"{k} = {v}" for k, v in record["params"].items()) + ".", "",
              "Wall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + ".", ""]
    for step in record["steps"]:
        if step.get("skipped"):
            lines += [f"## {step['name']} ({step['step']}): skipped", ""]
            continue
        lines += [f"## {step['name']} ({step['step']}, {step['seconds']:.0f} s)", ""]
        if step["markdown"]:
            lines += [step["markdown"].rstrip(), ""]
    return "\n".join(lines)
