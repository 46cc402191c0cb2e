"""Workflows: studies as data; the packaged jet-images study end to end at a tiny scale."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from jetflow import ConfigError, PluginError
from jetflow.core.config import deep_merge
from jetflow.frontends.expressions import evaluate, substitute
from jetflow.frontends.workflow import parse_settings, run_workflow


def test_expressions_are_evaluated_safely():
    names = {"scale": 2.5, "models": ["convnet", "lbn"], "train": {"models": {"convnet": {"path": "m.keras"}}}}
    assert evaluate("int(4000 * scale)", names) == 10000
    assert evaluate("'futures' if scale > 1 else 'iterative'", names) == "futures"
    assert evaluate("[['tau21', 'score_convnet']] if 'convnet' in models else []", names) == [["tau21", "score_convnet"]]
    assert evaluate("train.models.convnet.path", names) == "m.keras"
    assert substitute({"a": "${scale}", "b": "x_${int(scale)}.root", "c": ["${len(models)}"]}, names) == {
        "a": 2.5, "b": "x_2.root", "c": [2]}
    # | merges mappings (the right one wins); a whole-string expression may hold a mapping literal's braces
    assert substitute("${train.models | {'lbn': scale, 'convnet': 1}}", names) == {"convnet": 1, "lbn": 2.5}
    assert substitute("${scale}-${scale}", names) == "2.5-2.5"
    for bad, why in (("scale | 1", "merges two mappings, not float and int"), ("__import__('os')", "not allowed"), ("scale.__class__", "no key '__class__'"),
                     ("open('f')", "not allowed"), ("nope + 1", "unknown name 'nope'")):
        with pytest.raises(ConfigError, match=why):
            evaluate(bad, names)


def test_deep_merge_and_settings():
    assert deep_merge({"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": 3}, "c": 4}) == {"a": {"x": 1, "y": 3}, "b": 1, "c": 4}
    assert parse_settings(["scale=4", "models=[convnet, lbn]", "name=a=b"]) == {
        "scale": 4, "models": ["convnet", "lbn"], "name": "a=b"}
    with pytest.raises(ConfigError, match="expected NAME=VALUE"):
        parse_settings(["scale"])


STEP_PLUGIN = '''
from pydantic import Field

from jetflow import Options, StepResult, WorkflowStep, hookimpl


class CountOptions(Options):
    text: str = Field(description="what to write")
    times: int = Field(1, ge=1)


def count(options, ctx):
    path = ctx.resolve(f"{ctx.name}.txt")
    path.write_text(options.text * options.times)
    return StepResult({"length": len(options.text) * options.times, "file": str(path)},
                      f"wrote `{path.name}`")


@hookimpl
def jetflow_workflow_steps():
    return {"write_text": WorkflowStep(CountOptions, count, "write a text file")}
'''


def _workflow(tmp_path, steps, params=None):
    (tmp_path / "my_steps.py").write_text(STEP_PLUGIN)
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump({"name": "flow", "plugins": {"load": ["my_steps.py"]},
                                    "params": params or {"word": "ab"}, "steps": steps}))
    return path


def test_a_plugin_step_and_references_between_steps(tmp_path):
    path = _workflow(tmp_path, [
        {"name": "first", "step": "write_text", "with": {"text": "${word}", "times": 3}},
        {"name": "second", "step": "write_text", "with": {"text": "n=${first.length}", "times": "${first.length}"}},
    ])
    run_workflow(path, out=tmp_path / "out", params={"word": "xyz"}, progress=False)
    assert (tmp_path / "out" / "first.txt").read_text() == "xyz" * 3
    assert (tmp_path / "out" / "second.txt").read_text() == "n=9" * 9
    saved = json.loads((tmp_path / "out" / "study.json").read_text())
    assert [s["record"]["length"] for s in saved["steps"]] == [9, 27]
    assert saved["steps"][0]["provider"] == "my_steps"
    text = (tmp_path / "out" / "study.md").read_text()
    assert "## first (write_text," in text and "wrote `second.txt`" in text


def test_a_step_runs_only_when_its_condition_holds(tmp_path):
    path = _workflow(tmp_path, [
        {"name": "first", "step": "write_text", "with": {"text": "${word}"}, "when": "${word != 'skip'}"},
        {"name": "second", "step": "write_text", "with": {"text": "b"}},
        {"name": "third", "step": "write_text", "with": {"text": "n=${first.length}"}, "when": "${word != 'skip'}"},
    ])
    record = run_workflow(path, out=tmp_path / "out", params={"word": "skip"}, progress=False)
    assert [s.get("skipped", False) for s in record["steps"]] == [True, False, True]
    assert not (tmp_path / "out" / "first.txt").exists() and (tmp_path / "out" / "second.txt").exists()
    assert "## first (write_text): skipped" in (tmp_path / "out" / "study.md").read_text()
    run_workflow(path, out=tmp_path / "ran", params={"word": "abc"}, progress=False)
    assert (tmp_path / "ran" / "third.txt").read_text() == "n=3"
    reads_skipped = _workflow(tmp_path, [
        {"name": "first", "step": "write_text", "with": {"text": "a"}, "when": False},
        {"name": "second", "step": "write_text", "with": {"text": "${first.length}"}},
    ])
    with pytest.raises(ConfigError, match="first"):
        run_workflow(reads_skipped, out=tmp_path / "o2", progress=False)
    not_a_boolean = _workflow(tmp_path, [{"name": "a", "step": "write_text", "with": {"text": "x"}, "when": "${word}"}])
    with pytest.raises(ConfigError, match=r"step 'a' \(write_text\): when must be true or false, got 'ab'"):
        run_workflow(not_a_boolean, out=tmp_path / "o3", progress=False)


def test_mistakes_are_caught_before_any_step_runs(tmp_path):
    path = _workflow(tmp_path, [
        {"name": "first", "step": "write_text", "with": {"text": "a"}},
        {"name": "second", "step": "write_txt", "with": {}},
        {"name": "third", "step": "write_text", "with": {"txt": "a"}},
    ])
    with pytest.raises(ConfigError) as info:
        run_workflow(path, out=tmp_path / "out", progress=False)
    msg = str(info.value)
    assert "steps.second.step: unknown kind 'write_txt'. Did you mean 'write_text'?" in msg
    assert "steps.third.with.txt: unknown key. Did you mean 'text'?" in msg
    assert not (tmp_path / "out" / "first.txt").exists()
    with pytest.raises(ConfigError, match="has no parameter 'wrod'"):
        run_workflow(_workflow(tmp_path, [{"name": "a", "step": "write_text", "with": {"text": "x"}}]),
                     out=tmp_path / "o2", params={"wrod": 1}, progress=False)
    bad_value = _workflow(tmp_path, [{"name": "a", "step": "write_text", "with": {"text": "x", "times": 0}}])
    with pytest.raises(ConfigError, match=r"(?s)step 'a' \(write_text\).*steps.a.with.times: .*greater than or equal to 1"):
        run_workflow(bad_value, out=tmp_path / "o3", progress=False)


def test_a_plugin_may_not_take_a_core_step(tmp_path):
    (tmp_path / "thief.py").write_text(textwrap.dedent('''
        from jetflow import Options, WorkflowStep, hookimpl

        @hookimpl
        def jetflow_workflow_steps():
            return {"run": WorkflowStep(Options, lambda options, ctx: None)}
    '''))
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump({"name": "f", "steps": [{"name": "a", "step": "run", "with": {}}]}))
    with pytest.raises(PluginError, match="plugin 'thief' declares the workflow step 'run', which the core provides"):
        run_workflow(path, out=tmp_path / "out", plugins=[str(tmp_path / "thief.py")], progress=False)


def test_jet_images_workflow_end_to_end(tmp_path):
    """The packaged study at a tiny scale: generation, four passes, training, learned combinations, report."""
    out = tmp_path / "study"
    record = run_workflow(
        "jet-images", out=out, progress=False, workers=2,
        params={"wprime_events": 500, "qcd_events": 1500, "models": ["convnet", "fisher"], "epochs": 2,
                "model_args": {"convnet": {"filters": 4, "dense": 8}}, "events_per_file": 500, "chunksize": 500,
                "pretrained_models": ["convnet", "lbn"]},
    )
    report = out / "report"
    for name in ("roc.png", "summary.md", "summary.csv", "average_images.png", "correlation_score_convnet.png",
                 "cutflow.md", "report.md"):
        assert (report / name).is_file(), name
    steps = {s["name"]: s for s in record["steps"]}
    assert list(steps) == ["generate_train_wprime", "generate_train_qcd", "generate_eval_wprime", "generate_eval_qcd",
                           "pass1", "pass2", "train", "pretrained", "pass3", "combine", "pass4", "report"]
    # the networks were trained on one sample and evaluated on another
    assert steps["train"]["record"]["models"]["convnet"]["input"] == "image"
    jets = steps["pass4"]["record"]["jets"]
    assert jets["wprime"] > 50 and jets["qcd"] > 10
    train_files = {p.name for p in (out / "samples" / "train").glob("*.root")}
    eval_files = {p.name for p in (out / "samples" / "eval").glob("*.root")}
    assert train_files and eval_files and not train_files & eval_files
    # every discriminant of the study, read back from the report's table
    table = (report / "summary.csv").read_text().splitlines()
    rows = {line.split(",")[0]: line.split(",") for line in table[1:]}
    assert {"mass", "tau21", "delta_r", "score_convnet", "score_fisher", "mass+tau21", "mass+score_convnet",
            "score_lr_mass_tau21", "score_lr_mass_tau21_delta_r", "score_lr_mass_convnet"} <= set(rows)
    assert "score_lr_mass_lr_mass_tau21" not in rows and "mass+score_lr_mass_tau21" not in rows  # not combined again
    assert float(rows["tau21"][-2]) > 0.65  # AUC
    # the networks shipped with jetflow separate W from QCD jets they never saw (the study's AUC: 0.85-0.88)
    for shipped in ("score_pretrained_convnet", "score_pretrained_lbn"):
        assert float(rows[shipped][-2]) > 0.75, (shipped, rows[shipped])
    assert steps["pretrained"]["record"]["provenance"]["params"]["seed"] == 1
    # the run measured on the learned combinations what the combine step measured out of fold: the same scores
    learned = steps["combine"]["record"]["combinations"]["lr_mass_tau21"]["out_of_fold"]
    assert float(rows["score_lr_mass_tau21"][-2]) == pytest.approx(learned["auc"], abs=2e-3)
    assert "mass+score_convnet" in (out / "study.md").read_text()
    # the same generate step again reuses every file the workflow made
    from jetflow import StepContext
    from jetflow_generation import GenerateOptions, generate_step

    for name in ("generate_train_qcd", "generate_eval_wprime"):
        options = GenerateOptions.model_validate(steps[name]["options"])
        again = generate_step(options, StepContext(name, out, workers=2, progress=False))
        assert again.record["reused"] == options.events == steps[name]["record"]["events"]


def test_a_failing_step_is_named_and_what_was_done_is_kept(tmp_path):
    path = _workflow(tmp_path, [
        {"name": "first", "step": "write_text", "with": {"text": "a"}},
        {"name": "broken", "step": "run", "with": {"config": {"datasets": {}, "clustering": {"radius": -1}},
                                                   "out": "r.coffea"}},
    ])
    with pytest.raises(ConfigError, match=r"(?s)step 'broken' \(run\): invalid configuration:.*clustering.radius"):
        run_workflow(path, out=tmp_path / "out", progress=False)
    saved = json.loads((tmp_path / "out" / "study.json").read_text())
    assert not saved["finished"] and [s["name"] for s in saved["steps"]] == ["first"]
    clash = _workflow(tmp_path, [{"name": "word", "step": "write_text", "with": {"text": "a"}}])
    with pytest.raises(ConfigError, match="step name.s. word are also parameters"):
        run_workflow(clash, out=tmp_path / "o2", progress=False)


def test_regression_workflow_end_to_end(tmp_path):
    """The packaged regression study at its ci preset: both pile-up levels, every method in the table."""
    out = tmp_path / "regression"
    record = run_workflow("regression", preset="ci", out=out, progress=False, workers=2)
    steps = {s["name"]: s for s in record["steps"]}
    dcnn = steps["images_pu0"]["record"]["models"]["pt_dcnn"]
    assert dcnn["kind"] == "regressor" and dcnn["relative_to"] == "pt" and dcnn["features"] == ["pt", "eta"]
    forest = steps["features_pt_pu"]["record"]["models"]["pt_forest"]
    assert forest["path"].endswith("pt_forest.onnx") and forest["input"] == "features"
    assert steps["gen_eval_qcd_pu"]["record"]["files"] >= 1
    ensemble = steps["images_features_pu"]["record"]["models"]["pt_features_pixelcal"]
    assert ensemble["input"] == "image" and len(ensemble["features"]) == 9 and Path(ensemble["path"]).is_file()
    targets = ["pt_reconstructed", "pt_calibrated", "pt_forest", "pt_mlp", "pt_dcnn", "pt_pixelcal",
               "pt_features_pixelcal", "msd_reconstructed", "msd_calibrated", "msd_forest", "msd_lbn"]
    for level in ("pu0", "pu"):
        table = (out / f"report_{level}" / "regression.md").read_text()
        assert all(f"| {t} |" in table for t in targets), table
        assert (out / f"report_{level}" / "response_gen_pt.png").is_file()
    # the calibrated quantities are calibrated: their median response is 1 within a few percent
    import jetflow

    result = jetflow.load(out / "regression_pu0.coffea")
    summary = result.combined("regression")["pt_calibrated|all"].summary(inclusive=True)
    assert abs(summary["median"][0] - 1) < 0.05
    raw = result.combined("regression")["pt_reconstructed|all"].summary(inclusive=True)
    assert raw["median"][0] < 0.95  # the detector measures low; the calibration corrects it
