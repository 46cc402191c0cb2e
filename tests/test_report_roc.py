"""The report's ROC plots: the best discriminant of each kind in roc.png, every one in roc_all.png; a
multi-class model's classes against the rest, and with every pair."""

from __future__ import annotations

from pathlib import Path

import matplotlib.figure
import numpy as np
import pytest

import jetflow
from jetflow.running.results import Result
from jetflow.stats.accumulators import LOG_ODDS_MAX, WeightedROC, log_odds

from jetflow_accumulators.roc_report import BINNED, KINDS

N = 20000
"""Jets per class."""


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def fill(names, binning, direction, values, label, n_labels=2, **multi):
    roc = WeightedROC(names, binning, direction, 10 if len(names) > 1 else 20, n_labels, **multi)
    roc.fill(values, label, np.ones(len(label)), np.arange(len(label)) % 2)
    return roc


@pytest.fixture(scope="module")
def binary():
    """Two discriminants of each kind, the second the better by the area; among the model scores the better by
    the area is the worse by the AUC. The learned combinations' models are not named after what they combine."""
    rng = np.random.default_rng(7)
    label = np.r_[np.ones(N, int), np.zeros(N, int)]

    def shifted(shift):
        return np.r_[rng.normal(shift, 1, N), rng.normal(0, 1, N)]

    far = int(0.85 * N)  # most of the signal far from the background, the rest a little below it
    spiky = np.r_[rng.normal(3.0, 1, far), rng.normal(-0.5, 1, N - far), rng.normal(0, 1, N)]
    score, wide = [(2000, 0.0, 1.0)], [(2000, -6.0, 6.0)]
    rocs = {
        "score_alpha": fill(["score_alpha"], score, "higher", [sigmoid(shifted(1.9) - 1)], label),
        "score_beta": fill(["score_beta"], score, "higher", [sigmoid(spiky - 1)], label),
        "score_gamma": fill(["score_gamma"], score, "higher", [sigmoid(shifted(1.2))], label),
        "score_delta": fill(["score_delta"], score, "higher", [sigmoid(shifted(1.6))], label),
        "mass": fill(["mass"], wide, "likelihood", [shifted(0.6)], label),
        "tau21": fill(["tau21"], wide, "lower", [-shifted(1.0)], label),
        "mass+tau21": fill(["mass", "tau21"], [(60, -6.0, 6.0)] * 2, "likelihood", [shifted(0.5), shifted(0.5)], label),
        "tau21+score_alpha": fill(["tau21", "score_alpha"], [(60, -6.0, 6.0)] * 2, "likelihood",
                                  [shifted(1.0), shifted(1.0)], label),
    }
    kinds = {"score_alpha": "score", "score_beta": "score", "score_gamma": "combination", "score_delta": "combination",
             "mass": "observable", "tau21": "observable", "mass+tau21": BINNED, "tau21+score_alpha": BINNED}
    combination = {"kind": "combination", "path": "c.onnx", "input": "features", "features": ["mass", "tau21"]}
    config = {"datasets": {"w": {"files": ["w.root"], "label": "signal"},
                           "q": {"files": ["q.root"], "label": "background"}},
              "inference": {"models": {"alpha": {"path": "a.keras"}, "beta": {"path": "b.keras"},
                                       "gamma": combination, "delta": combination}}}
    return {"rocs": rocs, "kinds": kinds, "config": config}


@pytest.fixture
def drawn(monkeypatch):
    """``{file name: (title, [(gid, legend label) of every named curve])}`` of every figure the report saves."""
    figures = {}
    save = matplotlib.figure.Figure.savefig

    def record(fig, fname, *args, **kwargs):
        ax = fig.axes[0]
        figures[Path(fname).name] = (ax.get_title(), [(line.get_gid(), line.get_label()) for line in ax.get_lines()
                                                      if line.get_gid() is not None])
        return save(fig, fname, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", record)
    return figures


def figure_of_merit(roc):
    curve = roc.curve()
    return curve.rejection_area(0.2, 0.8), curve.auc()


def test_roc_png_holds_the_best_of_each_kind_by_the_area_and_roc_all_png_every_curve(binary, drawn, tmp_path):
    rocs, kinds = binary["rocs"], binary["kinds"]
    merit = {name: figure_of_merit(roc) for name, roc in rocs.items()}
    best = {}
    for name, kind in kinds.items():
        if kind not in best or merit[name][0] > merit[best[kind]][0]:
            best[kind] = name
    assert best == {"score": "score_beta", "combination": "score_delta", "observable": "tau21",
                    BINNED: "tau21+score_alpha"}  # the second of each kind, as built
    assert merit["score_alpha"][1] > merit["score_beta"][1]  # by the AUC the other model score would be chosen

    files, _ = jetflow.make_report(Result({"w": {"roc": rocs}}, config=binary["config"]), tmp_path)
    title, main = drawn["roc.png"]
    assert sorted(gid for gid, _ in main) == sorted(best.values())
    for gid, label in main:
        assert label.startswith(f"{gid}: {KINDS[kinds[gid]][0]} (area ")
    assert "[0.2, 0.8]" in title and "area" in title
    assert sorted(gid for gid, _ in drawn["roc_all.png"][1]) == sorted(rocs)
    assert {tmp_path / "roc.png", tmp_path / "roc_all.png"} <= set(files)
    assert (tmp_path / "roc.png").is_file() and (tmp_path / "roc_all.png").is_file()
    index = (tmp_path / "report.md").read_text()
    assert "![ROC curves](roc.png)" in index and "(roc_all.png)" in index
    assert "by the area under 1/eps_B for eps_S in [0.2, 0.8]" in index
    assert all(f"{name} ({KINDS[kind][0]})" in index for kind, name in best.items())


def test_without_the_runs_columns_the_kinds_are_unknown_and_said_so(binary, drawn, tmp_path):
    """A configuration that does not validate any more: every single column is one kind, the binned ones another."""
    rocs, kinds = binary["rocs"], binary["kinds"]
    merit = {name: figure_of_merit(roc)[0] for name, roc in rocs.items()}
    with pytest.warns(UserWarning, match="the kinds of the discriminants are unknown"):
        jetflow.make_report(Result({"w": {"roc": rocs}}, config={}), tmp_path)
    singles = [name for name, kind in kinds.items() if kind != BINNED]
    binned = [name for name, kind in kinds.items() if kind == BINNED]
    assert sorted(gid for gid, _ in drawn["roc.png"][1]) == sorted([max(singles, key=merit.get),
                                                                     max(binned, key=merit.get)])
    assert len(drawn["roc_all.png"][1]) == len(rocs)


CLASSES = ["qcd", "w", "top"]


def multi_class(model: str):
    """One-vs-rest ROCs of a 3-class model's probabilities, and signal-against-background ROCs of two columns."""
    rng = np.random.default_rng(3)
    label = np.repeat(np.arange(len(CLASSES)), N)
    logits = rng.normal(0, 1, (len(label), len(CLASSES)))
    logits[np.arange(len(label)), label] += np.array([1.0, 2.0, 3.0])[label]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    rocs = {f"score_{model}_{cls}": fill([f"score_{model}_{cls}"], [(2000, -LOG_ODDS_MAX, LOG_ODDS_MAX)], "higher",
                                         [log_odds(p[:, c])], label, 3, signal=(c,), background=None, group=model)
            for c, cls in enumerate(CLASSES)}
    signal = (label == 1).astype(float)
    rocs["mass"] = fill(["mass"], [(2000, -6.0, 6.0)], "likelihood", [rng.normal(0, 1, len(label)) + signal], label, 3)
    rocs["tau21"] = fill(["tau21"], [(2000, -6.0, 6.0)], "lower", [rng.normal(0, 1, len(label)) - 2 * signal], label, 3)
    rocs["mass+tau21"] = fill(["mass", "tau21"], [(60, -6.0, 6.0)] * 2, "likelihood",
                              [rng.normal(0, 1, len(label)) + signal, rng.normal(0, 1, len(label)) + signal], label, 3)
    config = {"datasets": {cls: {"files": [f"{cls}.root"], "label": c} for c, cls in enumerate(CLASSES)},
              "inference": {"models": {model: {"path": "m.keras", "input": "constituents", "classes": CLASSES}}}}
    return Result({cls: {"roc": rocs} for cls in CLASSES[:1]}, config=config), rocs


def test_a_multi_class_model_is_drawn_class_against_rest_then_with_every_pair(drawn, tmp_path):
    result, rocs = multi_class("tri")
    files, _ = jetflow.make_report(result, tmp_path)
    # signal against background: the best of each kind; the classes against the rest answer another question
    merit = {name: figure_of_merit(rocs[name])[0] for name in ("mass", "tau21")}
    assert sorted(gid for gid, _ in drawn["roc.png"][1]) == sorted(["mass+tau21", max(merit, key=merit.get)])
    assert sorted(gid for gid, _ in drawn["roc_all.png"][1]) == sorted(rocs)
    rest = [f"{cls} vs rest" for cls in CLASSES]
    pairs = [f"{a} vs {b}" for i, a in enumerate(CLASSES) for b in CLASSES[i + 1:]]
    assert [gid for gid, _ in drawn["roc_tri.png"][1]] == rest
    assert [gid for gid, _ in drawn["roc_tri_all.png"][1]] == rest + pairs
    index = (tmp_path / "report.md").read_text()
    for name in ("roc.png", "roc_all.png", "roc_tri.png", "roc_tri_all.png"):
        assert tmp_path / name in files and (tmp_path / name).is_file() and f"]({name})" in index


def test_a_multi_class_model_whose_plots_would_overwrite_another_is_refused(tmp_path):
    result, _ = multi_class("all")
    with pytest.raises(jetflow.JetflowError, match=r"multi-class model 'all' would overwrite roc_all.png"):
        jetflow.make_report(result, tmp_path)


def test_the_kinds_a_run_kept_in_its_meta_are_used_without_its_configuration(binary, drawn, tmp_path):
    """A run keeps every column's kind in ``meta["column_kinds"]``: the report needs neither the configuration nor
    the plugins that declared the columns (a plugin given on the command line only, say)."""
    import warnings

    rocs, kinds = binary["rocs"], binary["kinds"]
    declared = {name: kind for name, kind in kinds.items() if kind != BINNED}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        jetflow.make_report(Result({"w": {"roc": rocs}}, config={}, meta={"column_kinds": declared}), tmp_path)
    best = {}
    for name, kind in kinds.items():
        if kind not in best or figure_of_merit(rocs[name])[0] > figure_of_merit(rocs[best[kind]])[0]:
            best[kind] = name
    assert sorted(gid for gid, _ in drawn["roc.png"][1]) == sorted(best.values())
