"""Multi-class labels: datasets of any class number, softmax training, ``score_<model>_<class>`` columns, one-vs-rest
and one-vs-one ROCs (against scikit-learn), the pT reweighting of every class, the report's class tables."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import jetflow
from jetflow.formats.export import read, write_shard
from jetflow.stats.accumulators import WeightedROC
from jetflow_inference.classes import class_balanced_weights, class_names
from jetflow_inference.training import train

from conftest import generated_config


def test_one_vs_rest_and_one_vs_one_aucs_equal_scikit_learns():
    rng = np.random.default_rng(0)
    n, k = 6000, 3
    label = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k)) + 1.2 * np.eye(k)[label]
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    w = rng.uniform(0.5, 2.0, n)
    halves = rng.integers(0, 2, n)
    for c in range(k):
        roc = WeightedROC([f"p{c}"], [(4000, 0.0, 1.0)], "higher", n_labels=k, signal=(c,), background=None, group="m")
        # filled in chunks, merged in another order: the same histograms
        parts = []
        for idx in np.array_split(rng.permutation(n), 5):
            part = WeightedROC([f"p{c}"], [(4000, 0.0, 1.0)], "higher", n_labels=k, signal=(c,), background=None,
                               group="m")
            part.fill([p[idx, c]], label[idx], w[idx], halves[idx])
            parts.append(part)
        roc.fill([p[:, c]], label, w, halves)
        merged = parts[3] + parts[0] + parts[4] + parts[1] + parts[2]
        np.testing.assert_allclose(merged.sumw, roc.sumw)
        assert roc.summary()["auc"] == pytest.approx(roc_auc_score(label == c, p[:, c], sample_weight=w), abs=1e-3)
        for d in range(k):
            if d != c:
                pair = (label == c) | (label == d)
                expected = roc_auc_score(label[pair] == c, p[pair, c], sample_weight=w[pair])
                assert roc.summary(signal=(c,), background=(d,))["auc"] == pytest.approx(expected, abs=1e-3)
    # the binary default is unchanged: label 1 against label 0, other labels left out of that curve
    binary = WeightedROC(["p1"], [(4000, 0.0, 1.0)], "higher", n_labels=k)
    binary.fill([p[:, 1]], label, w, halves)
    pair = label < 2
    assert binary.summary()["auc"] == pytest.approx(roc_auc_score(label[pair] == 1, p[pair, 1], sample_weight=w[pair]),
                                                    abs=1e-3)
    with pytest.raises(ValueError, match="label 3 outside the run's labels 0-2"):
        binary.fill([p[:2, 1]], np.array([0, 3]), w[:2], halves[:2])


def test_class_probabilities_near_zero_keep_their_roc():
    """A class the model rarely picks has probabilities of 1e-9 .. 1e-4: binned in log-odds (as the accumulators bin
    a class probability) its ROC is scikit-learn's, where 2,000 equal bins in p hold them all in the first one."""
    from jetflow.stats.accumulators import LOG_ODDS_MAX, log_odds

    rng = np.random.default_rng(3)
    label = rng.integers(0, 3, 4000)
    p = 10 ** (rng.uniform(-9, -5.5, 4000) + 1.0 * (label == 2))
    w, halves = np.ones(4000), rng.integers(0, 2, 4000)
    expected = roc_auc_score(label == 2, p)
    resolved = WeightedROC(["p"], [(2000, -LOG_ODDS_MAX, LOG_ODDS_MAX)], "higher", n_labels=3, signal=(2,),
                           background=None)
    resolved.fill([log_odds(p)], label, w, halves)
    linear = WeightedROC(["p"], [(2000, 0.0, 1.0)], "higher", n_labels=3, signal=(2,), background=None)
    linear.fill([p], label, w, halves)
    assert expected > 0.6 and resolved.summary()["auc"] == pytest.approx(expected, abs=5e-3)  # bins of 0.018
    assert linear.summary()["auc"] == pytest.approx(0.5, abs=1e-3)


def test_class_weights_and_names():
    label = np.array([0, 0, 0, 1, 2, 2])
    w = class_balanced_weights(np.ones(6), label)
    assert [w[label == c].sum() for c in range(3)] == pytest.approx([2.0, 2.0, 2.0])
    dataset = np.array(["qcd_a", "qcd_b", "qcd_a", "w", "top", "top"])
    assert class_names(label, dataset, "E") == ["qcd_a_qcd_b", "w", "top"]
    assert class_names(np.array([0, 1, 1]), dataset[:3], "E") is None
    with pytest.raises(ValueError, match=r"classes \[0, 2\] present, \[1\] missing"):
        class_names(np.array([0, 2]), dataset[:2], "E")


def three_class_export(folder, per_shard: int = 40, shards: int = 12, seed: int = 0):
    """Images that show their class: the energy in the centre (class 1), a corner (0) or another corner (2)."""
    rng = np.random.default_rng(seed)
    spots = {0: (0, 0), 1: (12, 12), 2: (24, 0)}
    for s in range(shards):
        label = s % 3
        images = rng.exponential(1.0, (per_shard, 25, 25, 1)).astype(np.float32)
        images[:, spots[label][0], spots[label][1], 0] += 40.0
        write_shard(folder / f"c{label}__s{s:02d}.parquet",
                    {"image": images, "weight": np.ones(per_shard), "label": np.full(per_shard, label, np.int8),
                     "dataset": np.array([["qcd", "w", "top"][label]] * per_shard)})
    return folder


def test_a_network_learns_three_classes(tmp_path):
    data = three_class_export(tmp_path / "toy")
    record = train("convnet", data, tmp_path / "c.keras", epochs=4, batch_size=16, seed=2, progress=False,
                   model_args={"filters": 4, "dense": 8})
    assert record["classes"] == ["qcd", "w", "top"] and record["loss"] == "sparse_categorical_crossentropy"
    v = record["validation"]
    assert min(v["auc_ovr"].values()) > 0.95 and v["auc_ovo_mean"] > 0.95, v
    model = keras.saving.load_model(tmp_path / "c.keras")
    probabilities = model.predict(read(data)["image"][:20], verbose=0)
    assert probabilities.shape == (20, 3)
    np.testing.assert_allclose(probabilities.sum(1), 1.0, atol=1e-5)
    with pytest.raises(ValueError, match="model kind 'fisher' separates two"):
        train("fisher", data, tmp_path / "f.keras", progress=False)
    with pytest.raises(ValueError, match="multi-class model is fitted in memory"):
        train("convnet", data, tmp_path / "s.keras", progress=False, stream=True)


@pytest.fixture(scope="module")
def three_classes(generated, tmp_path_factory):
    """The session's sample as three classes: QCD (0), W' (1) and the W' sample's second file as class 2;
    a first pass for the pT spectra, a second reweighting every class to QCD's spectrum, exported."""
    tmp = tmp_path_factory.mktemp("multiclass")
    wprime = sorted(generated["dir"].glob("wprime_s11_*.root"))
    cfg = generated_config(generated, max_jets=1, chunksize=150,
                           accumulators={"histograms": False, "export": {"dir": str(tmp / "export"), "constituents": 20}},
                           weights={"normalize": False, "pt_reweight": {"bins": 20, "start": 150.0, "stop": 550.0}})
    cfg["datasets"] = {"qcd": {"files": [str(generated["qcd"])], "label": "background"},
                       "w_a": {"files": [str(wprime[0])], "label": "signal"},
                       "w_b": {"files": [str(wprime[1])], "label": 2}}
    jetflow.run(cfg, out=tmp / "pass1.coffea")
    cfg2 = dict(cfg, weights={"normalize": False, "pt_reweight": {"from_result": str(tmp / "pass1.coffea"),
                                                                  "bins": 20, "start": 150.0, "stop": 550.0}})
    jetflow.run(cfg2, out=tmp / "pass2.coffea")
    return {"tmp": tmp, "cfg": cfg2, "pass2": jetflow.load(tmp / "pass2.coffea")}


def test_every_class_is_reweighted_to_the_background_spectrum(three_classes):
    spectrum = three_classes["pass2"].combined("reweight_spectrum")
    values = spectrum.values()
    assert values.shape[0] == 3 and (values.sum(axis=1) > 0).all()
    shapes = values / values.sum(axis=1, keepdims=True)
    lost = three_classes["pass2"].combined("reweight_outside")
    # in every bin that the first pass filled for both, the class's weighted shape is the background's
    filled = (values > 0).all(axis=0)
    np.testing.assert_allclose(shapes[1][filled] / shapes[1][filled].sum(), shapes[0][filled] / shapes[0][filled].sum(),
                               rtol=1e-9)
    np.testing.assert_allclose(shapes[2][filled] / shapes[2][filled].sum(), shapes[0][filled] / shapes[0][filled].sum(),
                               rtol=1e-9)
    assert lost is not None


def test_a_multi_class_model_is_scored_and_judged_class_by_class(three_classes):
    tmp, cfg = three_classes["tmp"], three_classes["cfg"]
    record = train("pfn", tmp / "export", tmp / "pfn3.keras", epochs=10, batch_size=32, seed=1, n_particles=20,
                   progress=False, model_args={"phi": [16, 16], "f": [16]})
    assert record["classes"] == ["qcd", "w_a", "w_b"]
    assert json.loads((tmp / "pfn3.keras.json").read_text())["jets"]["w_b"] > 0
    scored_cfg = dict(cfg, inference={"models": {"pfn3": {"path": str(tmp / "pfn3.keras"), "input": "constituents",
                                                          "classes": record["classes"]}}},
                      accumulators={"histograms": False, "roc": {"discriminants": {"mass": "likelihood"}},
                                    "export": {"dir": str(tmp / "scored"), "constituents": 20}})
    result = jetflow.run(scored_cfg, out=tmp / "scored.coffea")
    table = read(tmp / "scored")
    columns = [f"score_pfn3_{c}" for c in record["classes"]]
    p = np.stack([table[c] for c in columns], axis=1)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    model = keras.saving.load_model(tmp / "pfn3.keras")
    np.testing.assert_allclose(p, model.predict(table["constituents"], verbose=0), atol=1e-5)
    rocs = result.combined("roc")
    label, w = table["label"].astype(int), table["weight"]
    for c, column in enumerate(columns):
        assert rocs[column].group == "pfn3" and rocs[column].signal == (c,)
        assert rocs[column].summary()["auc"] == pytest.approx(roc_auc_score(label == c, p[:, c], sample_weight=w),
                                                              abs=2e-3)
    assert not any(c.endswith(columns[0]) and "+" in c for c in rocs)  # class scores are not paired with mass
    report = jetflow.make_report(result, tmp / "report")
    table_md = (tmp / "report" / "classes_pfn3.md").read_text()
    assert "| qcd |" in table_md and "vs w_b" in table_md and (tmp / "report" / "roc_pfn3.png").is_file()
    assert report is not None
    # a model with 3 outputs and no classes declared: a clear error
    bad = dict(scored_cfg, inference={"models": {"pfn3": {"path": str(tmp / "pfn3.keras"), "input": "constituents"}}})
    with pytest.raises(jetflow.JetflowError, match="3 outputs per jet: a multi-class classifier"):
        jetflow.run(bad, maxchunks=1)
    wrong = dict(scored_cfg, inference={"models": {"pfn3": {"path": str(tmp / "pfn3.keras"), "input": "constituents",
                                                            "classes": ["a", "b"]}}})
    with pytest.raises(jetflow.JetflowError, match="has 3 outputs per jet, its config declares 2 classes"):
        jetflow.run(wrong, maxchunks=1)
