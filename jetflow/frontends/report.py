"""``jetflow report``: the plots and tables of a saved result, in one folder.

The core writes the weighted cut-flow of every dataset (``cutflow.md``); every
plugin adds its own plots and tables through the ``jetflow_report`` hook (the
accumulators plugin draws ROC curves, rejection tables, images and
distributions).  ``report.md`` gathers them all, in plugin order.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jetflow.core.atomic import write_text
from jetflow.core.calls import call_each
from jetflow.core.errors import PluginError
from jetflow.core.report import ReportPart

CUTFLOW_TITLE = "Cut-flows"
"""The title of the core's own part of a report."""


def cutflow_markdown(result: Any) -> str:
    """The weighted cut-flow of every dataset of a result, as Markdown tables."""
    lines: list[str] = []
    for ds in result.datasets:
        cf = result[ds].get("cutflow")
        if cf is None:
            continue
        lines += [f"### {ds}", "", "| step | jets | sum of weights | efficiency |", "|---|---|---|---|"]
        lines += [f"| {s} | {n} | {w:.6g} | {e:.4f} |" for s, n, w, e in cf.rows()]
        lines.append("")
    return "\n".join(lines)


def report_plugins(result: Any):
    """The plugin manager a result was made with (its config's ``plugins`` section), to draw its report."""
    from jetflow.core.manager import get_plugin_manager

    section = (result.config or {}).get("plugins") or {}
    try:
        return get_plugin_manager(section.get("load", []), section.get("disable", []))
    except PluginError as exc:
        raise PluginError(f"the result was made with plugins that cannot be loaded here ({exc}); "
                          "its report needs them (result.config['plugins'])") from exc


def make_report(
    result: Any, out: str | os.PathLike, columns: list[str] | None = None, pm: Any = None
) -> tuple[list[Path], list[ReportPart]]:
    """Write every plot and table of a result into ``out``.

    Parameters
    ----------
    result
        A :class:`jetflow.Result`.
    out
        The report folder (created if needed).
    columns
        Only these columns in distribution plots (``None``: all).
    pm
        The plugin manager that draws the plugins' parts; default: built from
        the result's own ``plugins`` section.

    Returns
    -------
    (files, parts)
        The files written, and the report's parts: the core's cut-flows first,
        then each plugin's.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pm = pm if pm is not None else report_plugins(result)
    parts = []
    cutflows = cutflow_markdown(result)
    if cutflows:
        write_text(out / "cutflow.md", cutflows, "report")
        parts.append(ReportPart(CUTFLOW_TITLE, cutflows, [out / "cutflow.md"]))
    kwargs = {"result": result, "out": out, "columns": list(columns) if columns else None}
    for plugin, part in call_each(pm, "jetflow_report", kwargs):
        if part is None:
            continue
        if not isinstance(part, ReportPart):
            raise PluginError(f"plugin {plugin!r}, hook jetflow_report: must return a jetflow.ReportPart or None, "
                              f"got {type(part).__name__}")
        parts.append(part)
    index = ["# jetflow report", ""]
    for part in parts:
        index += [f"## {part.title}", "", part.markdown.rstrip(), ""]
    write_text(out / "report.md", "\n".join(index), "report")
    files = [out / "report.md"] + [f for part in parts for f in part.files]
    return files, parts
