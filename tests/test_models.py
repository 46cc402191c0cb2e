"""Models: LBN physics, MaxOut, training to AUC > 0.7, the inference plugin."""

from __future__ import annotations

import json
from typing import ClassVar

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

import jetflow
from jetflow.formats.export import read
from jetflow_inference.models import LorentzBoost, MaxOut, boost
from jetflow_inference.training import train
from jetflow_inference.runtimes import KerasModel, get_model


def four_vectors(rng, n, mass_range=(0.0, 50.0)):
    p3 = rng.normal(0, 80, (n, 3))
    m = rng.uniform(*mass_range, n)
    return np.concatenate([np.sqrt((p3**2).sum(1) + m**2)[:, None], p3], axis=1), m


def test_boost_keeps_mass_and_stops_a_particle_in_its_rest_frame():
    rng = np.random.default_rng(0)
    p, m = four_vectors(rng, 200)
    r, _ = four_vectors(rng, 200, (5.0, 100.0))
    b = keras.ops.convert_to_numpy(boost(p, r))
    np.testing.assert_allclose(np.sqrt(b[:, 0] ** 2 - (b[:, 1:] ** 2).sum(1)), m, atol=1e-6)
    own = keras.ops.convert_to_numpy(boost(p[m > 1], p[m > 1]))
    np.testing.assert_allclose(own[:, 1:], 0, atol=1e-7 * np.abs(p).max())
    np.testing.assert_allclose(own[:, 0], m[m > 1], rtol=1e-8)
    # against the explicit boost matrix of [lbn]
    beta = r[0, 1:] / r[0, 0]
    g = 1 / np.sqrt(1 - beta @ beta)
    nvec = beta / np.linalg.norm(beta)
    lam = np.empty((4, 4))
    lam[0, 0] = g
    lam[0, 1:] = lam[1:, 0] = -g * np.linalg.norm(beta) * nvec
    lam[1:, 1:] = np.eye(3) + (g - 1) * np.outer(nvec, nvec)
    np.testing.assert_allclose(b[0], lam @ p[0], rtol=1e-9, atol=1e-9)


def test_lbn_layer_features():
    rng = np.random.default_rng(1)
    x = np.abs(rng.normal(0, 1, (8, 12, 4))).astype("float32")
    x[..., 0] = np.linalg.norm(x[..., 1:], axis=-1) + 0.1  # physical: E > |p|
    layer = LorentzBoost(5)
    f = keras.ops.convert_to_numpy(layer(x))
    assert f.shape == (8, 5 * 5 + 10) and np.isfinite(f).all()
    particles, frames = (keras.ops.convert_to_numpy(t) for t in layer.combine(x))
    boosted = keras.ops.convert_to_numpy(boost(particles, frames))
    np.testing.assert_allclose(f[:, :5], boosted[..., 0], rtol=1e-4)  # energies come first
    # the pairwise features are cosines
    assert (np.abs(f[:, 25:]) <= 1 + 1e-5).all()


def test_maxout_is_max_of_affine_pieces():
    rng = np.random.default_rng(2)
    layer = MaxOut(3, pieces=4)
    x = rng.normal(size=(5, 7)).astype("float32")
    y = keras.ops.convert_to_numpy(layer(x))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.dense.weights)
    manual = (x @ kernel + bias).reshape(5, 3, 4).max(axis=-1)
    np.testing.assert_allclose(y, manual, rtol=1e-5)


def test_maxout_options_of_the_ablations(tmp_path):
    """Per-layer dropout (none where 0), the initialiser, the log input against numpy; the optimizer and a subset of
    the jets reach the training and its record."""
    from jetflow.formats.export import write_shard
    from jetflow_inference.models import maxout

    rng = np.random.default_rng(4)
    images = (rng.exponential(1.0, (300, 6, 6, 1)) * (rng.random((300, 6, 6, 1)) < 0.3)).astype("float32") * 80
    model = maxout((6, 6, 1), units=(8,), pieces=2, dense=(4,), dropout=[0.3, 0.0], log_input=True,
                   kernel_initializer="glorot_uniform")
    assert [type(layer).__name__ for layer in model.layers][1:] == [
        "Rescaling", "LogIntensity", "Flatten", "MaxOut", "Dropout", "Dense", "Dense"]
    assert type(model.layers[4].kernel_initializer).__name__ == "GlorotUniform"
    flat = keras.Model(model.inputs, model.layers[3].output)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(flat(images[:5])), np.log1p(images[:5] / 100).reshape(5, -1),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="dropout has 3 rates for 2 hidden layers"):
        maxout((6, 6, 1), units=(8,), dense=(4,), dropout=[0.1, 0.1, 0.1])
    write_shard(tmp_path / "export" / "shard.parquet", {"image": images, "weight": np.ones(300),
                                                        "label": (np.arange(300) % 2).astype(np.int8),
                                                        "dataset": np.where(np.arange(300) % 2, "w", "qcd")})
    args = {"units": (8,), "pieces": 2, "dense": (4,)}
    record = train("maxout", tmp_path / "export", tmp_path / "m.keras", epochs=1, optimizer="nesterov",
                   learning_rate=0.01, max_jets=100, progress=False, model_args=args)
    assert record["training"]["optimizer"] == "nesterov" and record["training"]["max_jets"] == 100
    assert record["jets"]["train"] + record["jets"]["validation"] == 100
    saved = keras.saving.load_model(tmp_path / "m.keras", compile=True)
    assert type(saved.optimizer).__name__ == "SGD" and saved.optimizer.nesterov
    with pytest.raises(ValueError, match="--optimizer must be one of adam, nesterov, got 'adagrad'"):
        train("maxout", tmp_path / "export", tmp_path / "n.keras", optimizer="adagrad", progress=False)


@pytest.fixture(scope="module")
def exports(generated, tmp_path_factory):
    """A training export (its own Pythia sample) and a held-out export (the session sample)."""
    from jetflow_generation.pythia import GenSettings, generate

    tmp = tmp_path_factory.mktemp("models")
    for process in ("wprime", "qcd"):
        generate(GenSettings(process), 1200, tmp / "train", seed=31, workers=2, events_per_file=600, progress=False)
    base = {
        "clustering": {"source": "towers", "max_jets": 1, "min_pt": 150},
        "selection": {"windows": {"pt": [200, 400]}},
        "weights": {"normalize": False},
        "run": {"progress": False, "chunksize": 600},
    }
    train_cfg = dict(base, datasets={
        "w": {"files": [str(tmp / "train" / "wprime_*.root")], "label": "signal"},
        "q": {"files": [str(tmp / "train" / "qcd_*.root")], "label": "background"},
    }, accumulators={"histograms": False, "export": {"dir": str(tmp / "export_train"), "constituents": 20}})
    test_cfg = dict(base, datasets={
        "w": {"files": [str(generated["wprime"])], "label": "signal"},
        "q": {"files": [str(generated["qcd"])], "label": "background"},
    }, accumulators={"histograms": False, "export": {"dir": str(tmp / "export_test"), "constituents": 20}})
    jetflow.run(train_cfg)
    jetflow.run(test_cfg)
    return {"tmp": tmp, "train": tmp / "export_train", "test": tmp / "export_test", "test_cfg": test_cfg}


@pytest.fixture(scope="module")
def trained(exports):
    tmp = exports["tmp"]
    conv = train("convnet", exports["train"], tmp / "convnet.keras", epochs=8, batch_size=64, seed=3, progress=False,
                 model_args={"filters": 8, "dense": 16})
    lb = train("lbn", exports["train"], tmp / "lbn.keras", epochs=12, batch_size=64, seed=3, n_particles=20, progress=False,
               model_args={"n_combinations": 6, "dense": (32,)})
    return {"convnet": tmp / "convnet.keras", "lbn": tmp / "lbn.keras", "records": (conv, lb)}


def test_tiny_models_reach_auc_on_held_out_jets(exports, trained):
    test = read(exports["test"])
    assert len(test["label"]) > 500
    for name, column in (("convnet", "image"), ("lbn", "constituents")):
        model = keras.saving.load_model(trained[name], safe_mode=True)
        scores = model.predict(test[column], verbose=0)[:, 0]
        auc = roc_auc_score(test["label"], scores)
        assert auc > 0.7, (name, auc)
    for record in trained["records"]:
        assert record["validation"]["auc"] > 0.7
    # the training wrote its history plot and its configuration
    for name in ("convnet", "lbn"):
        cfg = json.loads(open(f"{trained[name]}.json").read())
        assert cfg["model"] == name and cfg["training"]["seed"] == 3 and cfg["history"]["loss"]
        assert (exports["tmp"] / f"{name}.keras.history.png").stat().st_size > 1000


def test_plugin_scores_equal_predict_and_models_load_once(exports, trained):
    from jetflow.core.cache import plugin_cache

    models = plugin_cache("inference")  # the plugin's per-process cache
    models.clear()
    cfg = dict(exports["test_cfg"])
    cfg["inference"] = {"models": {
        "convnet": {"path": str(trained["convnet"]), "batch_size": 100},
        "lbn": {"path": str(trained["lbn"]), "input": "constituents"},
    }}
    cfg["accumulators"] = {"histograms": False, "export": {"dir": str(exports["tmp"] / "scored"), "constituents": 20}}
    res = jetflow.run(cfg, chunksize=100)  # many chunks, one process
    n_chunks = sum(res[d]["events"].chunks for d in res.datasets)
    assert n_chunks >= 10
    loads = {key[0]: n for key, n in models.created.items() if isinstance(key, tuple)}
    assert loads == {str(trained["convnet"].resolve()): 1, str(trained["lbn"].resolve()): 1}
    scored = read(exports["tmp"] / "scored")
    for name, column in (("convnet", "image"), ("lbn", "constituents")):
        model = keras.saving.load_model(trained[name])
        # oneDNN picks convolution algorithms by batch size: float32 differences up to ~1e-4 on a few jets
        np.testing.assert_allclose(scored[f"score_{name}"], model.predict(scored[column], verbose=0)[:, 0], atol=1e-3)
    # score columns are declared: the ROC accumulators found them
    res2 = jetflow.run(dict(cfg, accumulators={"histograms": False}), maxchunks=2)
    assert {"score_convnet", "score_lbn"} <= set(res2.combined("roc"))


def test_mixed_precision_close_to_float32(trained):
    rng = np.random.default_rng(0)
    x = rng.exponential(2.0, (64, 25, 25, 1)).astype("float32")
    full = KerasModel("c", trained["convnet"], "cpu", False)(x, 32)
    half = KerasModel("c", trained["convnet"], "cpu", True)(x, 32)
    np.testing.assert_allclose(half, full, atol=2e-2)


def test_model_errors(exports, trained, tmp_path):
    from jetflow.core.cache import PluginCache

    cfg = dict(exports["test_cfg"], accumulators={"histograms": False})
    # wrong input shape: 20 x 20 images into a 25 x 25 ConvNet
    bad = dict(cfg, images={"npix": 20}, inference={"models": {"convnet": {"path": str(trained["convnet"])}}})
    with pytest.raises(jetflow.JetflowError, match=r"model 'convnet'.*expects its input 'image' of shape \('n', 25, 25, 1\)"):
        jetflow.run(bad, maxchunks=1)
    # a missing input column
    missing = dict(cfg, inference={"models": {"convnet": {"path": str(trained["convnet"]), "column": "nope"}}})
    with pytest.raises(jetflow.JetflowError, match=r"model 'convnet' reads the image column 'nope'"):
        jetflow.run(missing, maxchunks=1)
    # not a Keras file
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(jetflow.JetflowError, match="cannot be loaded as a Keras model with safe_mode=True"):
        get_model(PluginCache("test"), "junk", junk)
    # a Lambda layer (arbitrary code) is refused by safe mode
    inp = keras.Input((3,))
    lam = keras.Model(inp, keras.layers.Lambda(lambda t: t * 2)(inp))
    path = tmp_path / "lambda.keras"
    lam.save(path)
    with pytest.raises(jetflow.JetflowError, match="safe_mode"):
        get_model(PluginCache("test"), "lambda", path)


# ---------------------------------------------------------------------------
# regression
# ---------------------------------------------------------------------------


def test_central_ratio_loss_against_numpy():
    from jetflow_inference.network_parts import CentralRatioMSE

    rng = np.random.default_rng(3)
    truth = rng.uniform(50, 150, 200)
    pred = truth * rng.lognormal(0, 0.2, 200)
    ratio = np.sort(pred / truth)
    lo, hi = ratio[int(round(0.13 * 199))], ratio[int(round(0.87 * 199))]
    central = (pred / truth >= lo) & (pred / truth <= hi)
    expected = np.mean((pred / truth - 1)[central] ** 2)
    got = float(keras.ops.mean(CentralRatioMSE()(truth.astype("float32"), pred.astype("float32"))))
    assert got == pytest.approx(expected, rel=1e-5)
    assert central.mean() == pytest.approx(0.74, abs=0.01)


def test_dcnn_channel_sums_are_the_image_totals_and_reach_the_dense_layers():
    from jetflow_inference.models import dcnn
    from jetflow_inference.network_parts import PT_SCALE

    rng = np.random.default_rng(4)
    images = (rng.exponential(5.0, (6, 9, 9, 3)) * (rng.random((6, 9, 9, 3)) < 0.4)).astype("float32")
    args = dict(input_shape=(9, 9, 3), filters=(4, 4), kernels=(3, 3), pools=((2, 2), None), dense=(8, 8))
    model = dcnn(**args, channel_sums=True)
    sums = keras.Model(model.inputs, model.get_layer("channel_sums").output).predict(images, verbose=0)
    np.testing.assert_allclose(sums, images.sum(axis=(1, 2)) / PT_SCALE, rtol=1e-5)
    plain = dcnn(**args)
    first_dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][0]
    plain_dense = [layer for layer in plain.layers if isinstance(layer, keras.layers.Dense)][0]
    assert first_dense.kernel.shape[0] == plain_dense.kernel.shape[0] + 3  # one more input per channel


def test_regressor_learns_a_target_the_constant_cannot(tmp_path):
    """A MaxOut regressor on images whose target is a known function of the pixels beats a constant."""
    from jetflow.formats.export import write_shard

    rng = np.random.default_rng(0)
    n = 3000
    images = (rng.exponential(1.0, (n, 8, 8, 1)) * (rng.random((n, 8, 8, 1)) < 0.3)).astype("float32") * 50
    target = 1.5 * images.sum(axis=(1, 2, 3)) + 5.0
    write_shard(tmp_path / "export" / "shard.parquet", {"image": images, "gen_pt": target, "weight": np.ones(n),
                                                        "label": np.zeros(n, np.int8)})
    record = train("maxout", tmp_path / "export", tmp_path / "reg.keras", target="gen_pt", epochs=25, batch_size=64,
                   seed=2, progress=False, model_args={"units": (32,), "pieces": 2, "dense": (16,), "dropout": 0.0})
    v = record["validation"]
    assert record["task"] == "regression" and record["jets"]["left_out"] == 0
    assert abs(v["median"] - 1) < 0.05
    assert v["resolution"] < 0.4 * v["constant_resolution"]
    with pytest.raises(ValueError, match="cannot regress"):
        train("fisher", tmp_path / "export", tmp_path / "f.keras", target="gen_pt", progress=False)
    with pytest.raises(ValueError, match="no target column 'gen_mass'"):
        train("maxout", tmp_path / "export", tmp_path / "m.keras", target="gen_mass", progress=False)


def test_regressor_predictions_through_the_inference_plugin(exports):
    """An LBN regressing the jet mass: the plugin's pred_ column equals the model's own prediction."""
    tmp = exports["tmp"]
    record = train("lbn", exports["train"], tmp / "lbn_mass.keras", target="mass", loss="central", epochs=3, batch_size=64,
                   seed=3, n_particles=20, progress=False, model_args={"n_combinations": 6, "dense": (32,)})
    assert record["loss"] == "central" and "resolution" in record["validation"]
    cfg = dict(exports["test_cfg"])
    cfg["inference"] = {"models": {"lbn_mass": {"path": str(tmp / "lbn_mass.keras"), "input": "constituents",
                                                "kind": "regressor", "range": (0.0, 300.0)}}}
    cfg["accumulators"] = {"export": {"dir": str(tmp / "regressed"), "constituents": 20},
                           "regression": {"targets": {"lbn": {"prediction": "pred_lbn_mass", "truth": "mass"}}}}
    res = jetflow.run(cfg, chunksize=300)
    assert "pred_lbn_mass" in res.combined("hists") and "score_lbn_mass" not in res.combined("hists")
    assert not any("roc" in out for out in res.output.values())  # a prediction is not a discriminant
    scored = read(tmp / "regressed")
    model = keras.saving.load_model(tmp / "lbn_mass.keras")
    np.testing.assert_allclose(scored["pred_lbn_mass"], model.predict(scored["constituents"], verbose=0)[:, 0],
                               rtol=1e-4, atol=1e-3)
    assert res.combined("regression")["lbn|all"].summary(inclusive=True)["n_eff"][0] > 100


def test_calibration_baseline(tmp_path, exports):
    """Per-bin weighted medians, equal-population bins, and the plugin scoring a calibration file."""
    import json

    from jetflow_inference.calibration import fit_calibration

    rng = np.random.default_rng(1)
    versus = rng.uniform(0, 100, 4000)
    truth = rng.uniform(50, 150, 4000)
    reco = truth / (1.2 + 0.004 * versus) * rng.lognormal(0, 0.05, 4000)  # the response falls with versus
    spec = fit_calibration(reco, truth, versus, np.ones(4000), bins=4)
    np.testing.assert_allclose(spec["inner_edges"], np.quantile(versus, [0.25, 0.5, 0.75]))
    for b, (lo, hi) in enumerate(zip([-np.inf, *spec["inner_edges"]], [*spec["inner_edges"], np.inf])):
        sel = (versus >= lo) & (versus < hi)
        assert spec["factors"][b] == pytest.approx(np.median(truth[sel] / reco[sel]), rel=2e-3)
    # through the plugin: pred = mass * factor(bin of pt)
    calib = tmp_path / "mass_calib.json"
    calib.write_text(json.dumps({"kind": "calibration", "reco": "mass", "versus": "pt", "inner_edges": [250.0],
                                 "factors": [1.5, 2.0]}))
    cfg = dict(exports["test_cfg"])
    cfg["inference"] = {"models": {"calib": {"path": str(calib), "kind": "regressor", "range": (0.0, 500.0)}}}
    cfg["accumulators"] = {"export": {"dir": str(tmp_path / "calibrated"), "images": []}}
    jetflow.run(cfg, maxchunks=1)
    got = read(tmp_path / "calibrated")
    np.testing.assert_allclose(got["pred_calib"], got["mass"] * np.where(got["pt"] >= 250.0, 2.0, 1.5))
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    cfg["inference"] = {"models": {"calib": {"path": str(bad), "kind": "regressor"}}}
    with pytest.raises(jetflow.JetflowError, match="is not a jetflow calibration"):
        jetflow.run(cfg, maxchunks=1)


def test_calibrate_step_writes_a_ready_inference_entry(tmp_path):
    from jetflow import StepContext
    from jetflow.formats.export import write_shard
    from jetflow_inference.steps import CalibrateOptions, calibrate_step

    rng = np.random.default_rng(2)
    n = 1000
    gen = rng.uniform(100, 300, n)
    write_shard(tmp_path / "export" / "s.parquet", {"pt": gen * 0.8, "gen_pt": gen, "weight": np.ones(n),
                                                    "label": np.zeros(n, np.int8)})
    result = calibrate_step(CalibrateOptions(data="export", target="gen_pt", reco="pt", bins=5, out="models/jec.json"),
                            StepContext("calibrate", tmp_path, progress=False))
    entry = result.record["models"]["jec"]
    assert entry["kind"] == "regressor" and entry["path"] == str(tmp_path / "models" / "jec.json")
    np.testing.assert_allclose(result.record["calibration"]["factors"], 1.25, rtol=1e-6)


def test_learning_rate_drops_after_lr_patience_epochs_without_a_better_validation_loss(tmp_path):
    """With ``lr_patience`` the rate follows the plateau rule, rebuilt here from the recorded validation losses."""
    from jetflow.formats.export import write_shard
    from jetflow_inference.fitting import LR_FACTOR

    rng = np.random.default_rng(5)
    n = 400
    images = (rng.exponential(1.0, (n, 8, 8, 1)) * (rng.random((n, 8, 8, 1)) < 0.3)).astype("float32") * 50
    target = 100.0 + rng.normal(0.0, 10.0, n)  # noise: the validation loss soon stops improving
    write_shard(tmp_path / "export" / "shard.parquet", {"image": images, "gen_pt": target, "weight": np.ones(n),
                                                        "label": np.zeros(n, np.int8)})
    args = {"units": (8,), "pieces": 2, "dense": (8,), "dropout": 0.0}
    record = train("maxout", tmp_path / "export", tmp_path / "reg.keras", target="gen_pt", epochs=12, batch_size=64,
                   patience=6, lr_patience=1, learning_rate=0.01, seed=2, progress=False, model_args=args)
    history, rate = record["history"], [0.01]
    best, wait = np.inf, 0
    for loss in history["val_loss"][:-1]:  # Keras' plateau rule (min_delta 1e-4): the rate of the next epoch
        best, wait = (loss, 0) if loss < best - 1e-4 else (best, wait + 1)
        drop = wait >= 1 and rate[-1] > 0.01 / 100
        rate.append(max(rate[-1] * LR_FACTOR, 0.01 / 100) if drop else rate[-1])
        wait = 0 if drop else wait
    assert record["training"]["lr_patience"] == 1
    np.testing.assert_allclose(history["learning_rate"], rate, rtol=1e-5)
    assert min(rate) < 0.01  # the rule did fire
    with pytest.raises(ValueError, match="--lr-patience 5 must be below --patience 5"):
        train("maxout", tmp_path / "export", tmp_path / "r.keras", target="gen_pt", patience=5, lr_patience=5,
              progress=False)


def test_an_ensemble_is_the_mean_of_its_members_and_its_first_is_the_single_network(tmp_path):
    """``members=2`` saves one model scoring the mean of two networks: the first is the one ``members=1`` trains
    with the same seed, the second starts from seed + 1 on the same jets and split; it reloads, exports to ONNX,
    and impossible ensembles are refused by name."""
    from jetflow.formats.export import write_shard
    from jetflow_inference.onnx_export import export_onnx

    rng = np.random.default_rng(6)
    n = 300
    images = (rng.exponential(1.0, (n, 8, 8, 1)) * (rng.random((n, 8, 8, 1)) < 0.3)).astype("float32") * 50
    write_shard(tmp_path / "export" / "shard.parquet", {"image": images, "gen_pt": images.sum(axis=(1, 2, 3)) + 5.0,
                                                        "eta": rng.normal(0, 1, n), "weight": np.ones(n),
                                                        "label": np.zeros(n, np.int8)})
    common = dict(target="gen_pt", features=["eta"], epochs=3, batch_size=64, seed=4, progress=False,
                  model_args={"units": (8,), "pieces": 2, "dense": (8,), "dropout": 0.0})
    record = train("maxout", tmp_path / "export", tmp_path / "both.keras", members=2, **common)
    assert [m["seed"] for m in record["training"]["members"]] == [4, 5]
    train("maxout", tmp_path / "export", tmp_path / "alone.keras", **common)
    x = [images[:50], rng.normal(0, 1, (50, 1)).astype("float32")]
    both = keras.saving.load_model(tmp_path / "both.keras", safe_mode=True)
    first, second = (both.get_layer(f"member_{k}").predict(x, verbose=0) for k in (0, 1))
    np.testing.assert_allclose(first, keras.saving.load_model(tmp_path / "alone.keras").predict(x, verbose=0), rtol=1e-5)
    assert abs(first - second).max() > 1e-3  # two different networks
    np.testing.assert_allclose(both.predict(x, verbose=0), (first + second) / 2, rtol=1e-5)
    export_onnx(tmp_path / "both.keras")  # raises if ONNX Runtime disagrees with Keras
    from jetflow_inference.steps import TrainOptions

    assert TrainOptions(models=["maxout", "dcnn"], data="export", members={"maxout": 3}).members == {"maxout": 3}
    with pytest.raises(ValueError, match="members names pixelcal, which this step does not train"):
        TrainOptions(models=["maxout", "dcnn"], data="export", members={"pixelcal": 3})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        TrainOptions(models=["maxout"], data="export", members={"maxout": 0})
    for name, kwargs in (("forest", {"features": ["eta"]}), ("maxout", {"stream": True})):
        with pytest.raises(ValueError, match=f"--members 2: {name}.* cannot be trained as an ensemble"):
            train(name, tmp_path / "export", tmp_path / f"x{'.onnx' if name == 'forest' else '.keras'}",
                  members=2, progress=False, **kwargs)


@keras.saving.register_keras_serializable(package="jetflow_tests")
class CountsItsCalls(keras.layers.Layer):
    """The identity, counting how often its Python ``call`` runs (in a compiled graph: once per trace)."""

    calls: ClassVar[dict[str, int]] = {}

    def call(self, x):
        CountsItsCalls.calls[self.name] = CountsItsCalls.calls.get(self.name, 0) + 1
        return x


def test_the_tensorflow_predictor_is_traced_once_per_model_whatever_the_numbers_of_jets(tmp_path, caplog):
    """Chunks of any size (smaller than a batch, whole batches, a short last batch) reuse one graph per model
    and process; TensorFlow warns of no retracing with five models in one process; scores are model.predict's."""
    import logging

    from jetflow.core.cache import PluginCache

    keras.utils.set_random_seed(5)
    paths = []
    for k in range(5):
        image = keras.Input((4, 4, 1), name="image")
        counted = keras.layers.Flatten()(CountsItsCalls(name=f"counter_{k}")(image))
        if k == 0:  # a model of two inputs: the image and jet features
            features = keras.Input((2,), name="features")
            counted = keras.layers.Concatenate()([counted, features])
        out = keras.layers.Dense(2, activation="softmax")(keras.layers.Dense(8, activation="relu")(counted))
        model = keras.Model([image, features] if k == 0 else image, out)
        paths.append(tmp_path / f"m{k}.keras")
        model.save(paths[-1])
    def calls() -> dict[str, int]:
        return dict(CountsItsCalls.calls)

    before = calls()
    for path in paths:  # what loading alone runs, to subtract
        keras.saving.load_model(path, safe_mode=True, compile=False)
    per_load = {name: n - before.get(name, 0) for name, n in calls().items()}
    cache, rng = PluginCache("test"), np.random.default_rng(7)
    caplog.set_level(logging.WARNING, logger="tensorflow")
    before, inputs, scores = calls(), [], []
    for n in (300, 517, 64, 1024, 2100, 77, 1):  # batch 256
        x = [rng.exponential(1.0, (n, 4, 4, 1)).astype("float32"), rng.normal(0, 1, (n, 2)).astype("float32")]
        inputs.append(x)
        for k, path in enumerate(paths):
            loaded = get_model(cache, f"m{k}", path, "cpu")
            scores.append(loaded(x if k == 0 else x[0], 256))
    traces = {name: n - before.get(name, 0) - per_load[name] for name, n in calls().items()}
    assert traces == {f"counter_{k}": 1 for k in range(5)}
    assert not [r.getMessage() for r in caplog.records if "retracing" in r.getMessage()]
    for k, path in enumerate(paths):
        model = keras.saving.load_model(path, safe_mode=True)
        for i, x in enumerate(inputs):
            expected = model.predict(x if k == 0 else x[0], batch_size=256, verbose=0)[:, 1]
            np.testing.assert_allclose(scores[i * len(paths) + k], expected, rtol=1e-5, atol=1e-7)
