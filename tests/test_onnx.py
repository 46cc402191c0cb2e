"""Models on jet features and ONNX models: scikit-learn through ONNX Runtime, hand-built ONNX graphs, networks
with jet features and relative regression, all scored by the inference plugin in a jetflow run."""

from __future__ import annotations

import json
import re

import keras
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import jetflow
from jetflow.formats.export import read
from jetflow_inference import tabular
from jetflow_inference.runtimes import OnnxModel
from jetflow_inference.training import train

from conftest import REPO, generated_config

FEATURES = ["pt", "eta", "mass_softdrop", "charged_fraction", "photon_fraction", "n_constituents"]


@pytest.fixture(scope="module")
def export(generated, tmp_path_factory):
    """Tower jets of the session's sample with their composition, exported with 20 constituents."""
    tmp = tmp_path_factory.mktemp("onnx")
    cfg = generated_config(generated, max_jets=1, chunksize=300, substructure={"composition": True},
                           accumulators={"histograms": False, "export": {"dir": str(tmp / "export"), "constituents": 20}})
    jetflow.run(cfg)
    return {"tmp": tmp, "dir": tmp / "export", "cfg": cfg, "table": read(tmp / "export")}


def features_of(table, names=FEATURES):
    return np.stack([np.asarray(table[f], np.float32) for f in names], axis=1)


def scored_run(export, name, models, columns=()):
    """Run the export's config with ``models`` in the inference section; the scored jets."""
    out = export["tmp"] / f"scored_{name}"
    cfg = dict(export["cfg"], inference={"models": models},
               accumulators={"histograms": False, "export": {"dir": str(out), "constituents": 20}})
    jetflow.run(cfg)
    return read(out)


@pytest.mark.parametrize("name", ["forest", "boosting", "mlp"])
def test_scikit_learn_through_onnx_equals_scikit_learn(export, name):
    """The ONNX file of a fitted model gives scikit-learn's own predictions, in a jetflow run too."""
    table = export["table"]
    x, y, w = features_of(table), np.asarray(table["mass"]), np.asarray(table["weight"])
    small = {"forest": {"n_estimators": 20}, "boosting": {"n_estimators": 50},
             "mlp": {"hidden_layer_sizes": (16, 16), "max_iter": 200}}[name]
    model = tabular.fit(tabular.estimator(name, True, 1, small), x, y, w)
    path = export["tmp"] / f"{name}.onnx"
    path.write_bytes(tabular.to_onnx(model, x.shape[1]))
    expected = model.predict(x)
    assert np.std(expected) > 1.0  # it learned something that varies
    np.testing.assert_allclose(OnnxModel(name, path, "cpu")(x, 100), expected, rtol=1e-4, atol=1e-3)
    scored = scored_run(export, name, {name: {"path": str(path), "input": "features", "features": FEATURES,
                                              "kind": "regressor", "range": (0.0, 300.0)}})
    np.testing.assert_allclose(scored[f"pred_{name}"], model.predict(features_of(scored)), rtol=1e-4, atol=1e-3)
    # a classifier: the signal probability
    if name == "forest":
        clf = tabular.fit(tabular.estimator(name, False, 1, small), x, np.asarray(table["label"]), w)
        path.write_bytes(tabular.to_onnx(clf, x.shape[1]))
        np.testing.assert_allclose(OnnxModel(name, path, "cpu")(x, 100), clf.predict_proba(x)[:, 1], atol=1e-6)


def test_train_writes_onnx_and_a_record(export):
    """``jetflow train --model forest``: an ONNX file, its record, a resolution better than a constant's."""
    tmp = export["tmp"]
    record = train("forest", export["dir"], tmp / "forest_mass.onnx", target="mass", features=FEATURES, seed=2,
                   progress=False, model_args={"n_estimators": 30})
    assert record["input"]["features"] == FEATURES and record["loss"] == "scikit-learn"
    assert record["validation"]["resolution"] < 0.7 * record["validation"]["constant_resolution"]
    assert json.loads((tmp / "forest_mass.onnx.json").read_text())["model"] == "forest"
    with pytest.raises(ValueError, match="must end in .onnx"):
        train("forest", export["dir"], tmp / "forest.keras", target="mass", features=FEATURES, progress=False)
    with pytest.raises(ValueError, match="reads jet features: name them"):
        train("mlp", export["dir"], tmp / "mlp.onnx", target="mass", progress=False)
    with pytest.raises(ValueError, match=r"no per-jet feature column \['nope'\]"):
        train("forest", export["dir"], tmp / "f.onnx", target="mass", features=["pt", "nope"], progress=False)


def hand_built_model(path):
    """An ONNX graph written with the onnx package alone: 0.5 * (sum of the image's pixels) + features @ (1, -20)."""
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 25, 25, 1])
    features = helper.make_tensor_value_info("jet", TensorProto.FLOAT, [None, 2])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, [None, 1])
    nodes = [
        helper.make_node("ReduceSum", ["image", "axes"], ["total"], keepdims=0),
        helper.make_node("Reshape", ["total", "column"], ["total_col"]),
        helper.make_node("Mul", ["total_col", "half"], ["scaled"]),
        helper.make_node("MatMul", ["jet", "w"], ["linear"]),
        helper.make_node("Add", ["scaled", "linear"], ["out"]),
    ]
    inits = [
        helper.make_tensor("axes", TensorProto.INT64, [3], [1, 2, 3]),
        helper.make_tensor("column", TensorProto.INT64, [2], [-1, 1]),
        helper.make_tensor("half", TensorProto.FLOAT, [], [0.5]),
        helper.make_tensor("w", TensorProto.FLOAT, [2, 1], [1.0, -20.0]),
    ]
    graph = helper.make_graph(nodes, "by_hand", [image, features], [out], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, path)


def test_an_onnx_model_built_elsewhere_is_scored_by_declaring_its_inputs(export):
    """Two inputs, image then jet features, declared in YAML terms: the plugin feeds them in that order."""
    path = export["tmp"] / "by_hand.onnx"
    hand_built_model(path)
    models = {"by_hand": {"path": str(path), "input": "image", "features": ["pt", "eta"], "kind": "regressor"}}
    scored = scored_run(export, "by_hand", models)
    expected = 0.5 * scored["image"].sum(axis=(1, 2, 3)) + scored["pt"] - 20.0 * scored["eta"]
    np.testing.assert_allclose(scored["pred_by_hand"], expected, rtol=1e-5, atol=1e-3)
    # declared wrongly: the error names the model, its inputs and the fix
    for bad, match in (({"input": "features", "features": ["pt", "eta"]}, r"has 2 inputs \(image, jet\)"),
                       ({"input": "image", "features": ["pt", "eta", "mass"]}, r"expects its input 'jet' of shape \('n', 2\)"),
                       ({"input": "image", "features": ["pt", "nope"]}, r"reads the jet features \['nope'\]")):
        with pytest.raises(jetflow.JetflowError, match=match):
            scored_run(export, "bad", {"by_hand": {"path": str(path), "kind": "regressor", **bad}})


def test_relative_regression_network_with_features(export):
    """An LBN with jet features regressing truth / mass_softdrop: the plugin writes its output times the column,
    and the training judged the same product."""
    tmp = export["tmp"]
    features = ["pt", "eta", "mass"]
    record = train("lbn", export["dir"], tmp / "lbn_rel.keras", target="mass", loss="central", features=features,
                   relative_to="mass_softdrop", epochs=2, batch_size=64, seed=3, n_particles=20, progress=False,
                   model_args={"n_combinations": 4, "dense": (16,)})
    assert record["input"]["features"] == features and record["relative_to"] == "mass_softdrop"
    table = export["table"]
    factor = table["mass"] / np.where(table["mass_softdrop"] > 0, table["mass_softdrop"], np.nan)
    assert record["jets"]["left_out"] == int((~((factor > 0.1) & (factor < 10))).sum()) > 0  # 1e-5 GeV soft-drop masses
    model = keras.saving.load_model(tmp / "lbn_rel.keras", safe_mode=True)
    # the standardisation holds the training features' means
    assert model.get_layer("features_normalization").mean[0] == pytest.approx(np.mean(table["pt"]), rel=0.1)
    entry = {"path": str(tmp / "lbn_rel.keras"), "input": "constituents", "features": features, "kind": "regressor",
             "relative_to": "mass_softdrop"}
    scored = scored_run(export, "lbn_rel", {"lbn": entry})
    factor = model.predict([scored["constituents"], features_of(scored, features)], verbose=0)[:, 0]
    assert 0.5 < np.median(factor) < 2.0  # a factor near one, not a mass
    np.testing.assert_allclose(scored["pred_lbn"], factor * scored["mass_softdrop"], rtol=1e-4, atol=1e-3)
    with pytest.raises(jetflow.JetflowError, match="relative_to: 'mass_softdrop' scales a regressor's output"):
        scored_run(export, "bad", {"lbn": dict(entry, kind="classifier")})
    with pytest.raises(ValueError, match="--relative-to needs a --target"):
        train("forest", export["dir"], tmp / "f.onnx", features=features, relative_to="mass", progress=False)


def test_networks_exported_to_onnx_score_as_the_keras_originals(export):
    """ONNX out: a ConvNet and an LBN with jet features, exported, give the .keras scores in a jetflow run."""
    from jetflow_inference.onnx_export import export_onnx

    tmp = export["tmp"]
    train("convnet", export["dir"], tmp / "convnet.keras", epochs=1, batch_size=64, seed=4, progress=False,
          model_args={"filters": 4, "dense": 8})
    train("lbn", export["dir"], tmp / "lbn_f.keras", epochs=1, batch_size=64, seed=4, n_particles=20, progress=False,
          features=["pt", "mass"], model_args={"n_combinations": 4, "dense": (16,)})
    models = {}
    for name, entry in (("convnet", {"input": "image"}),
                        ("lbn_f", {"input": "constituents", "features": ["pt", "mass"]})):
        info = export_onnx(tmp / f"{name}.keras")
        assert info["path"] == str(tmp / f"{name}.onnx") and info["max_abs_diff"] < 1e-4
        models[name] = {"path": str(tmp / f"{name}.keras"), **entry}
        models[f"{name}_onnx"] = {"path": info["path"], **entry}
    scored = scored_run(export, "exported", models)
    # the LBN boosts in float64 (tests/test_lbn_precision.py): it agrees to float32 precision as the ConvNet does
    for name in ("convnet", "lbn_f"):
        diff = np.abs(scored[f"score_{name}_onnx"] - scored[f"score_{name}"])
        assert np.std(scored[f"score_{name}"]) > 1e-4
        assert diff.max() < 1e-5, (name, diff.max(), np.median(diff))


SHIPPED_LBN = REPO / "plugins" / "jetflow_studies" / "pretrained" / "lbn.keras"
CHECKED = re.compile(r"checked on (\d+) (.+): largest difference from Keras (\S+), outputs' standard deviation (\S+), "
                     r"from (\S+) to (\S+)\)$")


def test_jetflow_onnx_refuses_a_check_whose_inputs_leave_the_outputs_constant(tmp_path):
    """The shipped LBN scores every random input 0 and its record keeps no input statistics: comparing 0 with 0
    checks nothing, so `jetflow onnx` refuses in one line, pointing to --data, and writes nothing."""
    from click.testing import CliRunner

    from jetflow_inference.cli import onnx_command

    res = CliRunner().invoke(onnx_command, [str(SHIPPED_LBN), "--out", str(tmp_path / "lbn.onnx")])
    assert res.exit_code == 2, res.output
    errors = [line for line in res.stderr.splitlines() if line.startswith("jetflow: error:")]
    assert len(errors) == 1 and "Traceback" not in res.stderr, res.stderr
    assert "random inputs (no input statistics in its training record)) do not exercise the model" in errors[0]
    assert "outputs vary by 0 " in errors[0] and "pass --data EXPORT_FOLDER" in errors[0], errors[0]
    assert list(tmp_path.iterdir()) == []


def test_jetflow_onnx_checks_on_an_exports_jets_or_on_inputs_like_the_training_data(export):
    """An LBN with jet features: with --data the check scores the export's jets (the features its record names)
    and prints the largest difference beside the spread of the outputs, Keras' own on those jets; without, inputs
    drawn from the record's statistics of the training inputs, on which the outputs vary too."""
    from click.testing import CliRunner

    from jetflow_inference.cli import onnx_command

    tmp, table = export["tmp"], export["table"]
    path = tmp / "lbn_check.keras"
    record = train("lbn", export["dir"], path, epochs=1, batch_size=64, seed=6, n_particles=20, progress=False,
                   features=["pt", "mass"], model_args={"n_combinations": 4, "dense": (16,)})
    assert set(record["input_statistics"]["inputs"]) == {"constituents", "features"}
    assert len(table["label"]) <= 256  # the check then reads every jet
    res = CliRunner().invoke(onnx_command, [str(path), "--data", str(export["dir"])])
    assert res.exit_code == 0, res.output
    jets, source, diff, std, low, high = CHECKED.search(res.stdout.strip()).groups()
    model = keras.saving.load_model(path, safe_mode=True)
    scores = model.predict([table["constituents"][:, :20], features_of(table, ["pt", "mass"])], verbose=0)[:, 0]
    assert int(jets) == len(scores) and source == f"jets of {export['dir']}"
    assert float(std) == pytest.approx(np.std(scores), rel=2e-3) and float(std) > 0.01
    assert (float(low), float(high)) == pytest.approx((scores.min(), scores.max()), rel=1e-3)
    assert 0.0 <= float(diff) < 1e-5
    res = CliRunner().invoke(onnx_command, [str(path), "--out", str(tmp / "lbn_check_drawn.onnx")])
    assert res.exit_code == 0, res.output
    jets, source, diff, std, _, _ = CHECKED.search(res.stdout.strip()).groups()
    assert source == "inputs drawn from the training statistics of lbn_check.keras.json" and int(jets) == 256
    assert float(std) > 0.01 and float(diff) < 1e-5
    # a model reading features checked on an export without its record: the columns are unknown
    (tmp / "lbn_check.keras.json").rename(tmp / "lbn_check.json.moved")
    res = CliRunner().invoke(onnx_command, [str(path), "--data", str(export["dir"])])
    assert res.exit_code == 2 and f"no training record {path}.json names them" in res.stderr, res.output


def test_input_statistics_are_the_training_inputs_quantiles_and_draws_look_like_jets(export):
    """The statistics against numpy's quantiles (of each feature; of each constituent slot's log pT, Delta eta and
    Delta phi from the jet axis, with the ``vector`` library), and jets drawn from them: massless, ordered by pT,
    padded after their particles, each slot filled as often as in training, as collimated."""
    import vector

    from jetflow_inference.input_statistics import LEVELS, draw, summarise

    table = export["table"]
    x, features = table["constituents"].astype(np.float64), features_of(table, ["eta", "mass"]).astype(np.float64)
    stats = summarise({"constituents": x, "features": features})
    np.testing.assert_allclose(stats["inputs"]["features"]["quantiles"], np.quantile(features, LEVELS, axis=0).T,
                               rtol=1e-3)
    p = vector.array({"E": x[..., 0], "px": x[..., 1], "py": x[..., 2], "pz": x[..., 3]})
    axis = vector.array({"E": x[..., 0].sum(1), "px": x[..., 1].sum(1), "py": x[..., 2].sum(1),
                         "pz": x[..., 3].sum(1)})[:, None]
    filled = x[..., 0] > 0
    particles = stats["inputs"]["constituents"]
    np.testing.assert_allclose(particles["filled"], filled.mean(axis=0), atol=1e-4)
    for key, values in (("log_pt", np.log(p.pt, where=filled, out=np.zeros(filled.shape))),
                        ("delta_eta", p.eta - axis.eta), ("delta_phi", p.deltaphi(axis))):
        expected = [np.quantile(values[filled[:, k], k], LEVELS) for k in range(x.shape[1]) if filled[:, k].any()]
        np.testing.assert_allclose(np.asarray(particles[key])[: len(expected)], expected, rtol=1e-3, atol=1e-4)
    drawn = draw(stats, 20000, np.random.default_rng(1))
    lit = drawn["features"] != 0
    quartiles = np.quantile(features, [0.25, 0.5, 0.75], axis=0)
    assert (np.abs(np.quantile(drawn["features"], [0.25, 0.5, 0.75], axis=0) - quartiles)
            < 0.05 * (quartiles[2] - quartiles[0])).all()  # sampling errors of 20000 draws: ~0.01 of that
    low, high = features.min(0), features.max(0)  # the range, as the statistics keep it: to 4 digits
    assert lit.all() and (drawn["features"] >= low - 1e-3 * abs(low)).all()
    assert (drawn["features"] <= high + 1e-3 * abs(high)).all()
    c = drawn["constituents"].astype(np.float64)
    e, pt = c[..., 0], np.hypot(c[..., 1], c[..., 2])
    np.testing.assert_allclose(e, np.linalg.norm(c[..., 1:], axis=-1), rtol=1e-5)  # massless
    assert (np.diff(pt, axis=1) <= 1e-4 * pt[:, :1]).all()  # ordered by pT, the padding last
    np.testing.assert_allclose((e > 0).mean(axis=0), filled.mean(axis=0), atol=0.02)

    def spread(v):  # the pT-weighted mean distance of the particles from the jet axis, per jet
        q = vector.array({"E": v[..., 0], "px": v[..., 1], "py": v[..., 2], "pz": v[..., 3]})
        jet = vector.array({k: v[..., i].sum(1) for i, k in enumerate(("E", "px", "py", "pz"))})[:, None]
        w = np.where(v[..., 0] > 0, q.pt, 0.0)
        return (w * np.nan_to_num(q.deltaR(jet))).sum(1) / w.sum(1)

    assert np.median(spread(c)) == pytest.approx(np.median(spread(x)), rel=0.3)


JAX_SCRIPT = """
import json, sys
import keras
import jetflow
from jetflow_inference.training import train

assert keras.backend.backend() == "jax", keras.backend.backend()
job = json.loads(sys.argv[1])
train("lbn", job["export"], job["lbn"], target="mass", loss="central", features=["pt", "eta", "mass", "mass_softdrop"],
      relative_to="mass_softdrop", epochs=2, batch_size=64, seed=3, n_particles=20, progress=False,
      model_args={"n_combinations": 4, "dense": [16]})
train("particlenet", job["export"], job["particlenet"], epochs=1, batch_size=64, seed=3, n_particles=20,
      progress=False, model_args={"k": 4, "blocks": [[8, 8]], "dense": 16})
jetflow.run(job["config"])
"""


def test_jax_backend_trains_and_scores_like_tensorflow(export):
    """KERAS_BACKEND=jax: an LBN regressor (custom layers, the central ratio loss, features, relative output)
    and a ParticleNet (k nearest neighbours, masks) train, and the inference plugin scores them and a
    TensorFlow-trained ConvNet as TensorFlow does."""
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    tmp = export["tmp"]
    train("convnet", export["dir"], tmp / "convnet_tf.keras", epochs=1, batch_size=64, seed=5, progress=False,
          model_args={"filters": 4, "dense": 8})
    lbn = tmp / "lbn_jax.keras"
    features = ["pt", "eta", "mass", "mass_softdrop"]
    config = dict(export["cfg"], accumulators={"histograms": False,
                                               "export": {"dir": str(tmp / "scored_jax"), "constituents": 20}},
                  inference={"models": {
                      "convnet": {"path": str(tmp / "convnet_tf.keras")},
                      "lbn": {"path": str(lbn), "input": "constituents", "features": features, "kind": "regressor",
                              "relative_to": "mass_softdrop"},
                      "particlenet": {"path": str(tmp / "particlenet_jax.keras"), "input": "constituents"}}})
    job = json.dumps({"export": str(export["dir"]), "lbn": str(lbn), "particlenet": str(tmp / "particlenet_jax.keras"),
                      "config": config})
    done = subprocess.run([sys.executable, "-c", JAX_SCRIPT, job], env=dict(os.environ, KERAS_BACKEND="jax"),
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    scored = read(tmp / "scored_jax")
    convnet = keras.saving.load_model(tmp / "convnet_tf.keras")
    np.testing.assert_allclose(scored["score_convnet"], convnet.predict(scored["image"], verbose=0)[:, 0], atol=1e-5)
    model = keras.saving.load_model(lbn, safe_mode=True)  # trained under JAX, loaded under TensorFlow
    expected = model.predict([scored["constituents"], features_of(scored, features)], verbose=0)[:, 0]
    expected = expected * scored["mass_softdrop"]
    diff = np.abs(scored["pred_lbn"] - expected)
    assert np.median(diff) < 1e-3 * np.median(np.abs(expected)) and np.std(expected) > 1.0
    from jetflow_inference.kinds import register_layers

    register_layers()  # the particle-cloud networks' layers, as the inference plugin registers them
    particlenet = keras.saving.load_model(tmp / "particlenet_jax.keras", safe_mode=True)
    expected = particlenet.predict(scored["constituents"], verbose=0)[:, 0]
    np.testing.assert_allclose(scored["score_particlenet"], expected, atol=1e-5)
    assert np.std(expected) > 1e-4
