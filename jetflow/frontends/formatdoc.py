"""The input-format reference, ``docs/formats.md``, generated from the sources the plugins provide.

    python -m jetflow.frontends.formatdoc > docs/formats.md

Each source's own declaration (:class:`jetflow.Source`: name, what it provides, how it is read, the fields it
maps) and its module's docstring (the layout and how it maps onto the per-jet table) are the one source; a test
checks that the file in the repository is what this module renders.
"""

from __future__ import annotations

import inspect
import sys

from jetflow.core.calls import collect_sources
from jetflow.core.manager import get_plugin_manager
from jetflow.frontends.hookdoc import markdown

HEADER = """# Input formats

Generated from the sources of the built-in plugins (hook `jetflow_sources`) by
`python -m jetflow.frontends.formatdoc > docs/formats.md`; do not edit by hand. How a source is made:
[design.md](design.md#sources-input-formats-as-plugins) and `jetflow/core/sources.py`; every hook:
[hooks.md](hooks.md).

A run reads every file of a configuration in one input format: `run.schema` names it, or with
`run.schema: auto` (the default) every file is shown to each format's recogniser and exactly one must
claim it; a dataset whose files are in two formats is refused. `jetflow plugins` lists the formats of
the plugins installed. What a format gives the jet builder:

* **particles**: events of particles, clustered by the `clustering` plugin (`clustering.source`:
  `towers` or `particles`; a format of reconstructed objects refuses `towers.detector`);
* **jets**: one entry a jet, its constituents already chosen: nothing is clustered and every jet is
  kept (`clustering.min_pt` and `max_jets` choose among clustered jets; cut these with
  `selection.windows`), trimming and soft drop work on the constituents as configured, and every later stage (images, N-subjettiness, every
  network, ROCs, the export, the report) runs as on clustered jets. A dataset with `label: file` takes
  each jet's label from the file (`classes: N` for more than two);
* **events**: a layout of its own, for a jet builder that knows it (`clustering.source: pfnano`).

| format | gives | read with | default tree / key | what it is |
|---|---|---|---|---|
"""


def _how(source) -> str:
    if source.is_root:
        return "coffea NanoEvents (`" + source.schema.__name__ + "`)"
    return "a chunked reader (`" + type(source.reader).__name__ + "`)"


def _definition_lists(text: str) -> str:
    """RST definition lists (a term line, then its indented description) as Markdown bullets; Markdown would
    show the indented lines as code."""
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith("    ") and out and (out[-1].startswith("* ") or not out[-1].startswith(" ")) and out[-1]:
            if not out[-1].startswith("* "):
                out[-1] = f"* {out[-1]}:"
            out[-1] += " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def render() -> str:
    """docs/formats.md, as the built-in plugins declare their sources today."""
    pm = get_plugin_manager()
    sources = collect_sources(pm)
    rows = [f"| `{name}` | {decl.value.provides} | {_how(decl.value)} | `{decl.value.tree or '-'}` | "
            f"{decl.value.description} |" for name, decl in sources.items()]
    parts = [HEADER + "\n".join(rows) + "\n"]
    done_modules: set[str] = set()
    for name, decl in sources.items():
        source = decl.value
        parts.append(f"## `{name}` (plugin `{decl.plugin}`)\n\n{source.description}.\n")
        check = inspect.getdoc(source.recognise)
        if check:
            parts.append(f"Recognised: {markdown(check)}\n")
        if source.fields:
            lines = ["| in the file | in jetflow |", "|---|---|"]
            lines += [f"| `{k}` | {v} |" for k, v in source.fields.items()]
            parts.append("\n".join(lines) + "\n")
        module = inspect.getmodule(source.recognise)
        if module is not None and module.__name__ not in done_modules and module.__doc__:
            done_modules.add(module.__name__)
            text = _definition_lists(markdown(module.__doc__))
            parts.append(f"### Layout and mapping (`{module.__name__}`)\n\n{text}\n")
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
