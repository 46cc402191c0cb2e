"""The study pipeline of jetflow demo / reproduce, end to end at a tiny scale."""

from __future__ import annotations

import json

from jetflow.study import StudyPlan, run_study


def test_study_end_to_end(tmp_path):
    plan = StudyPlan(
        out=str(tmp_path / "study"),
        events={"wprime": 500, "qcd": 1500},
        models=["convnet", "fisher"],
        epochs=2,
        model_args={"convnet": {"filters": 4, "dense": 8}},
        events_per_file=500,
        chunksize=500,
        progress=False,
    )
    record = run_study(plan)
    root = tmp_path / "study"
    report = root / "report"
    for name in ("roc.png", "summary.md", "summary.csv", "average_images.png", "correlation_score_convnet.png", "cutflow.md"):
        assert (report / name).is_file(), name
    names = {row["discriminant"] for row in record["summary"]}
    assert {"mass", "tau21", "delta_r", "score_convnet", "score_fisher", "mass+tau21", "mass+score_convnet"} <= names
    # the networks were trained on one sample and evaluated on another
    cfg = json.loads((root / "study.json").read_text())
    assert cfg["evaluation_jets"]["wprime"] > 50 and cfg["evaluation_jets"]["qcd"] > 10
    train_files = {p.name for p in (root / "samples" / "train").glob("*.root")}
    eval_files = {p.name for p in (root / "samples" / "eval").glob("*.root")}
    assert train_files and eval_files and not train_files & eval_files
    tau21 = next(r for r in record["summary"] if r["discriminant"] == "tau21")
    assert tau21["auc"] > 0.65
