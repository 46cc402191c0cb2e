"""The LBN's boost on real jets with large boosts: its features against a float64 numpy construction of the boost
matrix of [lbn] (arXiv:1812.09722), and the shipped LBN's score of a jet the same alone or in a batch, under
TensorFlow and JAX, and in ONNX Runtime after ``jetflow onnx``."""

from __future__ import annotations

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import jetflow
from jetflow.formats.export import read
from jetflow_inference.models import LorentzBoost
from jetflow_inference.network_parts import PT_SCALE

from conftest import REPO, generated_config

SHIPPED = REPO / "plugins" / "jetflow_studies" / "pretrained" / "lbn.keras"


def boost_matrix_features(x, particle_weights, frame_weights, eps):
    """The LBN's features, in float64 numpy: the combinations, the boost matrix Lambda of [lbn] (gamma,
    -gamma beta n, 1 + (gamma - 1) n n^T) of each rest frame applied to its particle, then E, pT, eta, phi, m
    and the pairs' cosines as :class:`LorentzBoost` defines them.  Returns ``(features, gamma [jets, M])``."""
    x = np.asarray(x, np.float64)
    p = np.einsum("bnc,nm->bmc", x, np.abs(np.asarray(particle_weights, np.float64)))
    r = np.einsum("bnc,nm->bmc", x, np.abs(np.asarray(frame_weights, np.float64)))
    beta_vec = r[..., 1:] / r[..., :1]
    beta = np.linalg.norm(beta_vec, axis=-1)
    gamma = 1.0 / np.sqrt(1.0 - beta**2)
    n = beta_vec / beta[..., None]
    lam = np.empty(r.shape[:-1] + (4, 4))
    lam[..., 0, 0] = gamma
    lam[..., 0, 1:] = lam[..., 1:, 0] = -(gamma * beta)[..., None] * n
    lam[..., 1:, 1:] = np.eye(3) + (gamma - 1.0)[..., None, None] * n[..., :, None] * n[..., None, :]
    e, px, py, pz = np.moveaxis(np.einsum("bmij,bmj->bmi", lam, p), -1, 0)
    pt = np.sqrt(px**2 + py**2 + eps)
    p3 = np.stack([px, py, pz], axis=-1)
    unit = p3 / np.sqrt((p3**2).sum(axis=-1, keepdims=True) + eps)
    cos = np.einsum("bic,bjc->bij", unit, unit)
    upper = np.triu_indices(p.shape[1], 1)
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0) + eps)
    features = np.concatenate([e, pt, np.arcsinh(pz / pt), np.arctan2(py, px + eps), mass,
                               cos[:, upper[0], upper[1]]], axis=1)
    return features, gamma


@pytest.fixture(scope="module")
def jets(generated, tmp_path_factory):
    """The session sample's leading tower jets with their 30 leading constituents, the shipped LBN, and the jets
    ordered by the largest gamma = E / m among the LBN's rest frames, the largest first."""
    tmp = tmp_path_factory.mktemp("lbn_precision")
    cfg = generated_config(generated, max_jets=1, chunksize=300,
                           accumulators={"histograms": False, "export": {"dir": str(tmp / "export"), "constituents": 30}})
    jetflow.run(cfg)
    x = read(tmp / "export")["constituents"]
    model = keras.saving.load_model(SHIPPED, safe_mode=True, compile=False)
    layer = model.get_layer("lorentz_boost")
    _, gamma = boost_matrix_features(x / PT_SCALE, *layer.get_weights(), layer.eps)
    order = np.argsort(-gamma.max(axis=1))
    return {"tmp": tmp, "export": tmp / "export", "x": x[order], "gamma": gamma.max(axis=1)[order], "model": model}


def test_lbn_features_on_real_jets_equal_the_float64_boost_matrix(jets):
    """The shipped LBN's frames (gamma up to ~50 on these jets) and frames of two leading constituents each
    (gamma up to ~250): the layer's features are the float64 construction's, rounded to float32 once.  The
    float32 boost was off by up to 5e-3 in eta and 3e-2 in E."""
    shipped = jets["model"].get_layer("lorentz_boost")
    wp, wr = shipped.get_weights()
    pairs = np.full_like(wr, 1e-3)
    for k in range(wr.shape[1]):
        pairs[k, k] = pairs[k + 1, k] = 1.0
    x = jets["x"] * np.float32(1.0 / PT_SCALE)  # what the model's Rescaling gives the layer
    for frame_weights, least_gamma in ((wr, 30.0), (pairs, 200.0)):
        layer = LorentzBoost(shipped.n_combinations, eps=shipped.eps)
        layer.build(x.shape)
        layer.set_weights([wp, frame_weights])
        expected, gamma = boost_matrix_features(x, wp, frame_weights, layer.eps)
        assert least_gamma < gamma.max() < 1e3  # large boosts, none clipped (|beta| < 1 - 1e-7)
        got = keras.ops.convert_to_numpy(layer(x))
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


JAX_SCORES = """
import sys
import keras
import numpy as np
import jetflow_inference.models  # the custom layers

assert keras.backend.backend() == "jax", keras.backend.backend()
model = keras.saving.load_model(sys.argv[1], safe_mode=True, compile=False)
batch = np.load(sys.argv[2])
alone = [model.predict(batch[i:i + 1], verbose=0)[0, 0] for i in range(int(sys.argv[4]))]
np.savez(sys.argv[3], batch=model.predict(batch, batch_size=len(batch), verbose=0)[:, 0], alone=np.array(alone))
"""


def test_a_jets_lbn_score_is_the_same_alone_in_a_batch_on_jax_and_in_onnx_runtime(jets):
    """The shipped LBN on the jets of the largest boosts (the batch tiled to 256): each of the first 16 scored
    alone as inside the batch of 256, under JAX as under TensorFlow, and by ONNX Runtime after ``jetflow onnx``
    as by Keras, to 1e-6 (measured: 1e-7).  The float32 boost differed by 5e-5 (alone), 1.2e-4 (JAX) and 9e-5
    (ONNX Runtime)."""
    import onnxruntime as ort

    from jetflow_inference.onnx_export import export_onnx

    model, tmp, first = jets["model"], jets["tmp"], 16
    assert jets["gamma"][0] > 30.0
    batch = np.resize(jets["x"], (256, *jets["x"].shape[1:]))
    in_batch = model.predict(batch, batch_size=256, verbose=0)[:, 0]
    assert np.std(in_batch) > 0.1  # scores that vary: the jets exercise the network
    alone = np.array([model.predict(batch[i:i + 1], verbose=0)[0, 0] for i in range(first)])
    np.testing.assert_allclose(alone, in_batch[:first], rtol=0, atol=1e-6)

    info = export_onnx(SHIPPED, tmp / "lbn.onnx", data=jets["export"])
    assert info["output_std"] > 0.1 and info["max_abs_diff"] < 1e-6, info
    session = ort.InferenceSession(info["path"], providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"constituents": batch})[0][:, 0], in_batch, rtol=0, atol=1e-6)

    np.save(tmp / "batch.npy", batch)
    done = subprocess.run([sys.executable, "-c", JAX_SCORES, str(SHIPPED), str(tmp / "batch.npy"), str(tmp / "jax.npz"),
                           str(first)], env=dict(os.environ, KERAS_BACKEND="jax"), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    scores = np.load(tmp / "jax.npz")
    np.testing.assert_allclose(scores["batch"], in_batch, rtol=0, atol=1e-6)
    np.testing.assert_allclose(scores["alone"], in_batch[:first], rtol=0, atol=1e-6)
