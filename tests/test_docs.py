"""The plugin guide works as written: docs/plugins.md's files, run as a user would."""

from __future__ import annotations

import re
import subprocess
import sys

import keras
import numpy as np
import pytest

import jetflow
from jetflow.formats.export import read

from conftest import REPO, generated_config


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
    assert set(files) == {"jet_shapes.py", "shapes.yaml", "significance_step.py", "shapes_study.yaml", "dense_net.py"}
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


def cli(*args, cwd):
    """``jetflow ARGS`` in a fresh process, as a user types it; its output."""
    res = subprocess.run([sys.executable, "-m", "jetflow.frontends.cli", *map(str, args)], cwd=cwd,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_the_guide_s_model_kind_trains_exports_to_onnx_and_scores_in_a_run(generated, tmp_path):
    """A third-party architecture, as docs/plugins.md writes it: listed, trained by jetflow train, exported to
    ONNX, and scored in a run by both files exactly as Keras scores the same constituents."""
    (tmp_path / "dense_net.py").write_text(files_of("plugins.md")["dense_net.py"])
    listed = cli("plugins", "--plugin", "dense_net.py", cwd=tmp_path)
    assert "dense_net: reads constituents; multi-class, stream; saves .keras" in listed

    export = {"dir": str(tmp_path / "export"), "constituents": 20}
    jetflow.run(generated_config(generated, max_jets=1, chunksize=400,
                                 accumulators={"histograms": False, "export": export}))
    said = cli("train", "--plugin", "dense_net.py", "--model", "dense_net", "--data", "export", "--particles", 20,
               "--out", "dense.keras", "--epochs", 3, "--no-progress", cwd=tmp_path)
    assert "saved dense.keras" in said and "validation AUC" in said
    record = __import__("json").loads((tmp_path / "dense.keras.json").read_text())
    assert record["model"] == "dense_net" and record["input"]["column"] == "constituents"
    assert record["model_args"] == {"n_particles": 20} and record["training"]["epochs_run"] == 3
    assert "saved" in cli("onnx", "dense.keras", cwd=tmp_path) and (tmp_path / "dense.onnx").is_file()

    scored = tmp_path / "scored"
    models = {"keras": {"path": str(tmp_path / "dense.keras"), "input": "constituents"},
              "onnx": {"path": str(tmp_path / "dense.onnx"), "input": "constituents"}}
    jetflow.run(generated_config(generated, max_jets=1, chunksize=400, inference={"models": models},
                                 accumulators={"histograms": False, "export": dict(export, dir=str(scored))}))
    table = read(scored)
    expected = keras.saving.load_model(tmp_path / "dense.keras").predict(table["constituents"], verbose=0)[:, 0]
    assert expected.std() > 1e-3  # a trained network, not a constant
    np.testing.assert_allclose(table["score_keras"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(table["score_onnx"], expected, rtol=1e-4, atol=1e-5)

    # what the kind cannot do is refused, naming it
    with pytest.raises(ValueError, match="--model dense_net cannot regress"):
        from jetflow_inference.training import train

        train("dense_net", tmp_path / "export", tmp_path / "r.keras", target="pt", plugins=[str(tmp_path / "dense_net.py")])
    res = subprocess.run([sys.executable, "-m", "jetflow.frontends.cli", "train", "--model", "dense_net", "--data",
                          "export", "--out", "d.keras"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 2 and "--model must be one of convnet," in res.stderr and "got 'dense_net'" in res.stderr
