"""The plugin guide works as written: docs/plugins.md's files, run as a user would."""

from __future__ import annotations

import re
import subprocess
import sys

import jetflow

from conftest import REPO


def files_of(page: str) -> dict[str, str]:
    """The code blocks of a docs page that start with a ``# <file name>`` line: ``{name: text}``."""
    text = (REPO / "docs" / page).read_text()
    out = {}
    for block in re.findall(r"```(?:python|yaml)\n(.*?)```", text, re.S):
        first, _, rest = block.partition("\n")
        match = re.fullmatch(r"# ([\w.]+\.(?:py|yaml))", first.strip())
        if match:
            out[match.group(1)] = block
    return out


def test_the_plugin_guide_works_as_written(tmp_path):
    files = files_of("plugins.md")
    assert set(files) == {"jet_shapes.py", "shapes.yaml", "significance_step.py", "shapes_study.yaml"}
    for name, text in files.items():
        (tmp_path / name).write_text(text)

    # the workflow with the plugin's own kind of step (it generates the samples)
    record = jetflow.run_workflow(tmp_path / "shapes_study.yaml", out=tmp_path, progress=False, workers=1)
    z = next(s for s in record["steps"] if s["name"] == "z")
    assert z["provider"] == "significance_step"
    assert z["record"]["signal"] > 0 and z["record"]["background"] > 0
    assert z["record"]["significance"] == z["record"]["signal"] / z["record"]["background"] ** 0.5
    assert "S / sqrt(B) =" in (tmp_path / "study.md").read_text()

    # the run configuration, from the command line as the page shows it
    res = subprocess.run([sys.executable, "-m", "jetflow.frontends.cli", "run", "shapes.yaml", "--out", "shapes.coffea"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    result = jetflow.load(tmp_path / "shapes.coffea")
    assert result.config["jet_shapes"] == {"min_pt": 2.0}
    assert {"pt_d", "n_hard"} <= set(result["wprime"]["hists"])
    assert result["qcd"]["cutflow"].steps == ["all", "selection:pt", "selection:n_hard"]
    assert "pt_d" in result.combined("roc")
