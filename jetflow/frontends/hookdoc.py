"""The hook reference, ``docs/hooks.md``, generated from the hook specifications.

    python -m jetflow.frontends.hookdoc > docs/hooks.md

The hookspecs' docstrings are the one source; a test checks that the file in
the repository is what this module renders, and that every hook documents
when it is called, each of its parameters, and what it returns.
"""

from __future__ import annotations

import inspect
import re

from jetflow.core import hookspecs
from jetflow.core.columns import BUILDER_FIELDS, PROCESSOR_FIELDS
from jetflow.core.manager import hook_names

HEADER = """# Hook reference

Generated from `jetflow/core/hookspecs.py` by `python -m jetflow.frontends.hookdoc > docs/hooks.md`;
do not edit by hand. How to write a plugin: [plugins.md](plugins.md); how the pieces fit:
[design.md](design.md).
"""


def _table(fields, who: str) -> list[str]:
    rows = []
    for name, spec in fields.items():
        unit = f" [{spec.unit}]" if spec.unit else ""
        rows.append(f"| `{name}` | {who} | {spec.description or spec.label}{unit} |")
    return rows


def per_jet_table() -> str:
    """The fields every per-jet table has, as a Markdown table."""
    lines = ["## The per-jet table", "",
             "One flat awkward record array, one record per jet, flows through the processing hooks; each",
             "hook adds named columns (declared with `jetflow_columns`). These fields are always there:", "",
             "| field | written by | meaning |", "|---|---|---|"]
    lines += _table(BUILDER_FIELDS, "the jet builder")
    lines += _table(PROCESSOR_FIELDS, "the processor")
    lines += ["| `weight_<factor>` | the processor | each factor a `jetflow_weights` hook returned |", "",
              "Images are float32 `[n_jets, height, width, channels]`, height along eta, width along phi;",
              "observables and scores are one number per jet, named in snake_case (`tau21`, `score_convnet`).", ""]
    return "\n".join(lines)


def markdown(doc: str) -> str:
    """A NumPy-style docstring as Markdown: RST literals as code, the Parameters and Returns
    sections as lists (``name`` lines, then their indented description)."""
    text = re.sub(r"``([^`]+)``", r"`\1`", inspect.cleandoc(doc))
    text = re.sub(r":(?:class|func|mod):`([^`]+)`", r"`\1`", text)
    lines = text.splitlines()
    out: list[str] = []
    section = None
    for k, line in enumerate(lines):
        if re.fullmatch(r"-{3,}", line.strip()):
            continue  # the underline of a section heading
        if k + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[k + 1].strip()):
            section = line.strip()
            out += [f"**{section}**", ""]
            continue
        if section and line and not line.startswith(" "):
            if line.startswith(("Called", "firstresult")):
                section = None
            else:
                out.append(f"- `{line.strip()}`:" if section == "Parameters" else f"- {line.strip()}:")
                continue
        out.append("  " + line.strip() if section and line.startswith(" ") else line)
    return "\n".join(out)


def hook_section(name: str) -> str:
    """One hook: its signature, whether it stops at the first answer, and its docstring."""
    spec = getattr(hookspecs, name)
    params = ", ".join(inspect.signature(spec).parameters)
    first = getattr(spec, "jetflow_spec", {}).get("firstresult", False)
    note = "\n*firstresult*: the first plugin that answers (not None) wins; the others are not called.\n" if first else ""
    return f"## `{name}({params})`\n{note}\n{markdown(spec.__doc__ or '')}\n"


def render() -> str:
    """The whole of docs/hooks.md."""
    intro = markdown(hookspecs.__doc__ or "").split("\n", 1)[1].strip()
    parts = [HEADER, intro, "", per_jet_table()]
    parts += [hook_section(name) for name in _in_file_order()]
    return "\n".join(parts).rstrip() + "\n"


def _in_file_order() -> list[str]:
    names = set(hook_names())
    return sorted(names, key=lambda n: inspect.getsourcelines(getattr(hookspecs, n))[1])


if __name__ == "__main__":  # pragma: no cover
    print(render(), end="")
