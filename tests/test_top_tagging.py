"""The top-tagging landscape: exact ROC figures of per-jet scores, and the packaged workflow ``top-tagging``
end to end (its own sample made by ``toptagging-sample``, then the same study on those files as a user's)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from jetflow.formats.export import read
from jetflow.frontends.workflow import run_workflow
from jetflow.stats.roc import curve_of_scores
from jetflow_studies.landscape import figures

TTV = {"train": 0, "val": 2, "test": 1}


def test_exact_roc_of_scores_against_scikit_learn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 3000)
    scores = np.round(rng.normal(labels * 0.8, 1.0), 2)  # rounded: many ties
    weights = rng.uniform(0.2, 2.0, len(labels))
    curve = curve_of_scores(scores, labels, weights)
    assert curve.auc() == pytest.approx(roc_auc_score(labels, scores, sample_weight=weights), abs=1e-12)
    fpr, tpr, _ = roc_curve(labels, scores, sample_weight=weights, drop_intermediate=False)
    np.testing.assert_allclose(curve.eff_s, tpr, atol=1e-12)
    np.testing.assert_allclose(curve.eff_b, fpr, atol=1e-12)
    f = figures(scores, labels, weights, 0.3)
    assert f["rejection"] == pytest.approx(1 / np.interp(0.3, tpr, fpr), rel=1e-12)
    right = (scores > 0.5) == (labels == 1)
    assert f["accuracy"] == pytest.approx(weights[right].sum() / weights.sum(), rel=1e-12)


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("top_tagging")
    return out, run_workflow("top-tagging", out=out, preset="ci", workers=1, progress=False)


def test_the_sample_made_in_the_reference_layout(study):
    out, record = study
    made = {s["name"]: s for s in record["steps"]}["sample_made"]["record"]["steps"]
    jets = made["write"]["jets"]
    for name in TTV:
        frame = pd.read_hdf(out / "sample" / "toptagging" / f"{name}.h5", "table")
        assert len(frame) == jets[name]["signal"] + jets[name]["background"]
        assert frame.shape[1] == 806 and (frame["ttv"] == TTV[name]).all()
    assert jets["train"]["signal"] == jets["train"]["background"] > 10


def test_every_training_is_judged_on_the_test_jets(study):
    out, record = study
    steps = {s["name"]: s["record"] for s in record["steps"]}
    test = read(out / "export_test")
    rows = _rows(out / "landscape" / "landscape.csv")
    # every training of every train step: 2 networks and boosting x 2 repeats, the curve's pfn x 2 sizes x 2
    assert [(r["kind"], r["model"]) for r in rows] == [
        ("pfn", "pfn_1"), ("pfn", "pfn_2"), ("convnet", "convnet_1"), ("convnet", "convnet_2"),
        ("boosting", "boosting_1"), ("boosting", "boosting_2"),
        ("pfn", "n40_pfn_1"), ("pfn", "n40_pfn_2"), ("pfn", "n70_pfn_1"), ("pfn", "n70_pfn_2")]
    assert {r["model"]: int(r["train_jets"]) for r in rows}["n40_pfn_1"] == 30  # 40 jets, a quarter validating
    assert len(test["label"]) == sum(steps["landscape"]["test_jets"].values())
    for r in rows:
        s = test[f"score_{r['model']}"]
        assert float(r["auc"]) == pytest.approx(roc_auc_score(test["label"], s, sample_weight=test["weight"]), abs=1e-9)
    assert {r["model"] for r in rows if r["kind"] == "pfn"} == set(steps["train"]["trainings"]["pfn"]) | set(
        steps["curve_0"]["trainings"]["pfn"]) | set(steps["curve_1"]["trainings"]["pfn"])
    # repeats are distinct trainings (seeds 1 and 1001), whose spread the table shows
    assert not np.allclose(test["score_pfn_1"], test["score_pfn_2"])
    main = {(s["kind"], s["train_jets"]): s for s in steps["landscape"]["summary"]}
    aucs = [float(r["auc"]) for r in rows if r["model"].startswith("convnet")]
    convnet = main[("convnet", int(rows[2]["train_jets"]))]
    assert convnet["auc"] == pytest.approx(np.mean(aucs)) and convnet["auc_std"] == pytest.approx(np.std(aucs, ddof=1))
    text = (out / "study.md").read_text()
    assert "| boosting | - | 2 |" in text and f"| pfn | {steps['train']['parameters']['pfn']:,} | 2 |" in text and "| - | ParT | 0.9858 | 0.94 | 1602 ± 81 | [part] Table 4 |" in text
    assert (out / "landscape" / "roc.png").stat().st_size > 0 and (out / "landscape" / "learning_curve.png").exists()


def test_a_training_the_test_run_did_not_score_is_named(study, tmp_path):
    from jetflow.core.steps import StepContext
    from jetflow_studies.landscape import LandscapeOptions, landscape_step

    out, record = study
    train = {s["name"]: s for s in record["steps"]}["train"]["record"]
    unscored = {"trainings": {"pfn": ["pfn_1", "pfn_9"]}, "train_jets": {"pfn": 52}}
    with pytest.raises(ValueError, match="has no column score_pfn_9: the run that made it must score"):
        landscape_step(LandscapeOptions(data="export_test", trainings=[train, unscored]), StepContext("l", out))
    with pytest.raises(ValueError, match=r"trainings\[0\] is not the record of a train step"):
        landscape_step(LandscapeOptions(data="export_test", trainings=[{"models": {}}]), StepContext("l", out))


def test_swapping_the_sample_is_one_parameter(study, tmp_path):
    """The same study on the files of the first run's sample, as on the reference dataset's."""
    out, first = study
    record = run_workflow("top-tagging", out=tmp_path, preset="ci", workers=1, progress=False, params={
        "sample": str(out / "sample" / "toptagging"), "models": ["pfn"], "repeats": 1, "curve_repeats": 1,
        "epochs": 1})
    steps = {s["name"]: s for s in record["steps"]}
    assert steps["sample_made"]["skipped"] and not (tmp_path / "sample").exists()
    assert steps["landscape"]["record"]["test_jets"] == {s["name"]: s for s in first["steps"]}["landscape"]["record"]["test_jets"]
    assert "about a hundred times smaller" in {s["name"]: s for s in first["steps"]}["landscape"]["markdown"]
    assert "about a hundred times smaller" not in steps["landscape"]["markdown"]  # the note on jetflow's own sample
