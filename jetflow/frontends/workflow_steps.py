"""The core's own kinds of workflow step: ``run`` (the processor) and ``report``.

Plugins add others through the hook ``jetflow_workflow_steps`` (the built-ins
add ``generate`` and ``train``).
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from pydantic import Field

from jetflow.core.atomic import write_text
from jetflow.core.config import deep_merge
from jetflow.core.engine import Engine
from jetflow.core.options import Options
from jetflow.core.steps import StepContext, StepResult, WorkflowStep


class RunStepOptions(Options):
    """Options of a ``run`` step."""

    config: list[dict[str, Any]] | dict[str, Any] = Field(
        description="the run's configuration; a list of mappings is merged key by key, later ones winning "
        "(configuration fragments: ${configs.<name>}); relative paths are relative to the output folder"
    )
    out: str = Field(description="the result file, relative to the output folder")


def _merged_config(config: list[dict[str, Any]] | dict[str, Any]) -> dict[str, Any]:
    if isinstance(config, dict):
        return config
    merged: dict[str, Any] = {}
    for fragment in config:
        merged = deep_merge(merged, fragment)
    return merged


def _final_jets(result) -> dict[str, int]:
    """Jets of each dataset after the last cut-flow step."""
    out = {}
    for ds in result.datasets:
        cutflow = result[ds].get("cutflow")
        if cutflow is not None and cutflow.steps:
            out[ds] = cutflow.counts[cutflow.steps[-1]]
    return out


def run_step(options: RunStepOptions, ctx: StepContext) -> StepResult:
    """Run the processor; the configuration is written beside the result as ``<step>.yaml``."""
    from jetflow.running.run import run

    config = _merged_config(options.config)
    write_text(ctx.out / f"{ctx.name}.yaml", yaml.safe_dump(config, sort_keys=False), "configuration")
    engine = Engine.build(config, plugins=ctx.plugins, disable=ctx.disable, base_dir=ctx.out)
    out = ctx.resolve(options.out)
    result = run(engine, out=out)
    jets = _final_jets(result)
    events = {ds: result[ds]["events"].events for ds in result.datasets}
    record = {"result": str(out), "config": str(ctx.out / f"{ctx.name}.yaml"), "events": events,
              "jets": jets, "wall_s": result.meta["wall_s"]}
    text = (f"Result `{out.name}` (configuration `{ctx.name}.yaml`, {result.meta['executor']}): "
            + "; ".join(f"{ds} {events[ds]} events, {jets.get(ds, 0)} jets selected" for ds in result.datasets)
            + ".")
    return StepResult(record, text)


class ReportStepOptions(Options):
    """Options of a ``report`` step."""

    result: str = Field(description="the result file (relative to the output folder)")
    out: str = Field("report", description="the report folder (relative to the output folder)")
    columns: list[str] | None = Field(None, description="only these columns in distribution plots (null: all)")


def _relink(markdown: str, folder: str) -> str:
    """Markdown links relative to a report folder, made relative to its parent."""
    return re.sub(r"\]\((?![a-z]+://|/|#)([^)]+)\)", lambda m: f"]({folder}/{m.group(1)})", markdown)


def report_step(options: ReportStepOptions, ctx: StepContext) -> StepResult:
    """Write the report of a result (``jetflow report``)."""
    from jetflow.frontends.report import CUTFLOW_TITLE, make_report
    from jetflow.running.results import load

    result = load(ctx.resolve(options.result))
    folder = ctx.resolve(options.out)
    files, parts = make_report(result, folder, options.columns)
    record = {"report": str(folder / "report.md"), "files": [str(f) for f in files],
              "parts": [part.title for part in parts]}
    # the plugins' parts (the cut-flows are in the report's own report.md)
    text = "\n\n".join(_relink(p.markdown, options.out) for p in parts if p.markdown and p.title != CUTFLOW_TITLE)
    return StepResult(record, text + f"\n\nThe whole report: [{options.out}/report.md]({options.out}/report.md).")


STEPS = {
    "run": WorkflowStep(RunStepOptions, run_step, "run the processor over a configuration (jetflow run)"),
    "report": WorkflowStep(ReportStepOptions, report_step, "plots and tables of a result (jetflow report)"),
}
"""The core's kinds of workflow step."""
