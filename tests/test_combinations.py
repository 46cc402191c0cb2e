"""Learned, cross-fitted combinations of discriminants: the Neyman-Pearson rejection on a Gaussian toy, the
cross-fitting guarantee, and the scores of a jetflow run against the fold models."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

import jetflow
from jetflow.formats.export import read
from jetflow.stats.crossfit import cross_fit, cross_predict, fold_of
from jetflow_inference.combinations import combination_name, fit_combination
from jetflow_inference.runtimes import OnnxModel

from conftest import generated_config

SIGNAL = multivariate_normal([1.0, 0.6], [[1.0, 0.4], [0.4, 0.6]])
BACKGROUND = multivariate_normal([0.0, 0.0], [[1.6, -0.3], [-0.3, 1.0]])


def rejection(score: np.ndarray, label: np.ndarray, eps_s: float) -> float:
    """1/eps_B of the cut keeping the fraction eps_s of the signal (unit weights), computed directly."""
    cut = np.quantile(score[label == 1], 1.0 - eps_s)
    return 1.0 / np.mean(score[label == 0] > cut)


def gaussian_toy(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([SIGNAL.rvs(n, random_state=rng), BACKGROUND.rvs(n, random_state=rng)])
    label = np.repeat([1, 0], n)
    entry = rng.permutation(2 * n)  # entry numbers: the folds are their parity
    return {"a": x[:, 0], "b": x[:, 1], "label": label, "weight": np.ones(2 * n), "entry": entry}


def test_learned_combination_reaches_the_neyman_pearson_rejection(tmp_path):
    """Two Gaussians of different covariance: the optimal discriminant is their density ratio, in closed form.
    The cross-fitted boosted trees, scored out of fold through ONNX, reach its rejection within statistics;
    one of the two inputs alone stays well below it (so the comparison can fail)."""
    toy = gaussian_toy(15000, seed=3)
    record = fit_combination(toy, ["a", "b"], tmp_path, folds=2, seed=1)
    assert record["name"] == "lr_a_b" and record["jets"] == [15000, 15000]
    x = np.stack([toy["a"], toy["b"]], axis=1)
    fold = fold_of(toy["entry"], 2)
    models = [OnnxModel(f"fold {f}", str(tmp_path / f"lr_a_b_fold{f}.onnx"), "cpu") for f in range(2)]
    learned = cross_predict(lambda m, xs: m(xs.astype(np.float32), 4096), models, x, fold)
    optimal = SIGNAL.logpdf(x) - BACKGROUND.logpdf(x)
    alone = toy["a"]
    for eps in (0.3, 0.5, 0.7):
        best, got, one = (rejection(s, toy["label"], eps) for s in (optimal, learned, alone))
        # 15,000 background jets: 1/eps_B near 10 at eps_S = 0.5 is known to about 2.5 %
        assert 0.92 * best < got < 1.04 * best, (eps, best, got)
        assert one < 0.8 * best, (eps, best, one)
    # the record's out-of-fold AUC is that of the same scores
    assert record["out_of_fold"]["auc"] == pytest.approx(
        np.mean(learned[toy["label"] == 1][:, None] > learned[toy["label"] == 0][None, :2000]), abs=0.01)


class Memoriser:
    """A 'model' that remembers the ids (first column) it was fitted on and scores 1 for a jet it has seen."""

    def __init__(self, x):
        self.seen = set(x[:, 0].tolist())

    def __call__(self, x):
        return np.array([v in self.seen for v in x[:, 0].tolist()], dtype=float)


def test_cross_fitting_never_scores_a_jet_with_a_model_fitted_on_it():
    rng = np.random.default_rng(0)
    n = 1000
    entry = rng.integers(0, 10**6, n)
    x = np.stack([np.arange(n, dtype=float), rng.normal(size=n)], axis=1)
    y = rng.integers(0, 2, n)
    for folds in (2, 3, 5):
        fold = fold_of(entry, folds)
        models = cross_fit(lambda xs, ys, ws: Memoriser(xs), x, y, np.ones(n), fold, folds)
        scores = cross_predict(lambda m, xs: m(xs), models, x, fold)
        assert not scores.any()  # no jet scored by a model that saw it
        for f, m in enumerate(models):  # and each model saw every other jet
            assert m.seen == set(np.flatnonzero(fold != f).tolist())
    with pytest.raises(ValueError, match=r"outside fold 0 of 2 hold only label\(s\) \[1\]"):
        cross_fit(lambda *a: None, x, np.where(fold_of(entry, 2) == 1, 1, 0), np.ones(n), fold_of(entry, 2), 2)


@pytest.fixture(scope="module")
def export(generated, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("combinations")
    cfg = generated_config(generated, max_jets=2, chunksize=170,  # chunks that split the files unevenly
                           accumulators={"histograms": False, "export": {"dir": str(tmp / "export"), "images": []}})
    jetflow.run(cfg)
    return {"tmp": tmp, "cfg": cfg, "table": read(tmp / "export")}


def test_a_run_scores_each_jet_with_its_folds_model(export):
    """In a run, the processor scores every jet, chunk by chunk, with the model of its fold (entry % 2);
    the ROC accumulator takes the score; a wrongly declared cross-fitted model is refused by name."""
    tmp, table = export["tmp"], export["table"]
    columns = ["mass", "tau21"]
    record = fit_combination(table, columns, tmp / "models", folds=2, model_args={"n_estimators": 40})
    name = combination_name(columns)
    cfg = dict(export["cfg"], inference={"models": {name: record["inference"]}},
               accumulators={"histograms": False, "export": {"dir": str(tmp / "scored"), "images": []}})
    result = jetflow.run(cfg)
    scored = read(tmp / "scored")
    x = np.stack([scored[c] for c in columns], axis=1).astype(np.float32)
    fold = fold_of(scored["entry"], 2)
    models = [OnnxModel(f"fold {f}", str(tmp / "models" / f"{name}_fold{f}.onnx"), "cpu") for f in range(2)]
    by_fold = np.stack([m(x, 512) for m in models], axis=1)
    np.testing.assert_allclose(scored[f"score_{name}"], by_fold[np.arange(len(x)), fold], atol=1e-6)
    assert np.mean(np.abs(by_fold[:, 0] - by_fold[:, 1]) > 1e-3) > 0.5  # the two folds' models differ
    roc = result.combined("roc")[f"score_{name}"]
    assert roc.summary()["auc"] == pytest.approx(record["out_of_fold"]["auc"], abs=2e-3)
    bad = dict(record["inference"], path=str(tmp / "models" / f"{name}_fold0.onnx"))
    with pytest.raises(jetflow.ConfigError, match=r"folds > 1\) names its files with \{fold\}"):
        jetflow.run(dict(cfg, inference={"models": {name: bad}}))


def test_a_model_reading_another_models_output_runs_after_it():
    from jetflow_inference import InferenceOptions

    models = {"lr_mass_net": {"kind": "combination", "path": "lr_fold{fold}.onnx", "input": "features",
                              "features": ["mass", "score_net"], "folds": 2},
              "net": {"path": "net.keras"}, "other": {"path": "other.keras"}}
    assert InferenceOptions(models=models).evaluation_order() == ["net", "lr_mass_net", "other"]
    cycle = {"a": {"path": "a.onnx", "input": "features", "features": ["score_b"]},
             "b": {"path": "b.onnx", "input": "features", "features": ["score_a"]}}
    with pytest.raises(ValueError, match=r"models read each other's outputs in a cycle: \{'a': \['b'\], 'b': \['a'\]\}"):
        InferenceOptions(models=cycle)
