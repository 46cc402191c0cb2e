"""Per-particle features (charge, particle type, impact parameters) beside the four-vectors of the particle-cloud
networks: the feature arrays against a loop, a network that learns what only the charges say, permutation
invariance with the features, and a run that scores with the features the training exported."""

from __future__ import annotations

import awkward as ak
import keras
import numpy as np
import pytest
from conftest import generated_config

import jetflow
from jetflow.formats.export import read, write_shard
from jetflow.physics import constituent_features, constituent_four_vectors
from jetflow_inference.kinds import model_kind
from jetflow_inference.training import train

TYPES = {11: "is_electron", 13: "is_muon", 22: "is_photon"}


def _jets(rng, n_jets=40):
    jets = []
    for _ in range(n_jets):
        c = int(rng.integers(1, 12))
        pdg = rng.choice([11, -11, 13, 22, 211, -211, 321, 130, 2112, 0], c)
        jets.append([{"pt": float(rng.exponential(10) + 0.1), "eta": float(rng.normal()), "phi": float(rng.uniform(-3, 3)),
                      "mass": 0.0, "pdgId": int(p), "charge": float(np.sign(p) if abs(p) in (11, 13, 211, 321) else 0),
                      "d0": float(rng.normal(0, 0.1))} for p in pdg])
    return ak.Array(jets)


def test_constituent_features_against_a_loop():
    rng = np.random.default_rng(7)
    constituents = _jets(rng)
    names = ["charge", "d0", "is_electron", "is_muon", "is_photon", "is_charged_hadron", "is_neutral_hadron"]
    got = constituent_features(constituents, 8, names)
    assert got.shape == (40, 8, len(names)) and got.dtype == np.float32
    for j, jet in enumerate(constituents.to_list()):
        lead = sorted(jet, key=lambda p: -p["pt"])[:8]
        for i, p in enumerate(lead):
            kind = TYPES.get(abs(p["pdgId"]), "is_charged_hadron" if p["charge"] else
                             "is_neutral_hadron" if p["pdgId"] else None)
            expected = [p["charge"], p["d0"], *[float(kind == t) for t in names[2:]]]
            np.testing.assert_allclose(got[j, i], expected, rtol=1e-6, atol=1e-7)
        assert (got[j, len(lead):] == 0).all()
    # the same particles, in the same slots, as the four-vectors the networks read
    vectors = constituent_four_vectors(constituents, 8)
    np.testing.assert_allclose(constituent_features(constituents, 8, ["pt"])[..., 0],
                               np.hypot(vectors[..., 1], vectors[..., 2]), rtol=1e-5)
    with pytest.raises(ValueError, match=r"constituent feature 'dz' needs a constituent field of that name; the "
                                         r"constituents have charge, d0, eta, mass, pdgId, phi, pt"):
        constituent_features(constituents, 8, ["dz"])


def _charge_export(folder, rng, n=1600, n_particles=10):
    """Jets whose four-vectors are alike in both classes; signal particles have charge +1 four times as often as -1, background -1."""
    e = rng.exponential(20.0, (n, n_particles)) + 1.0
    direction = rng.normal(0, 1, (n, n_particles, 3)) * [0.1, 0.1, 1.0]
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    vectors = np.concatenate([e[..., None], e[..., None] * direction], axis=-1).astype(np.float32)
    label = (np.arange(n) % 2).astype(np.int8)
    p_plus = np.where(label[:, None] == 1, 0.8, 0.2)
    charge = np.where(rng.random((n, n_particles)) < p_plus, 1.0, -1.0).astype(np.float32)
    write_shard(folder / "shard.parquet", {"constituents": vectors, "constituent_charge": charge,
                                           "label": label, "weight": np.ones(n), "dataset": np.where(label, "s", "b")})
    return folder


def test_a_network_learns_what_only_the_charges_say(tmp_path):
    data = _charge_export(tmp_path / "export", np.random.default_rng(3))
    settings = {"epochs": 6, "patience": 6, "n_particles": 10, "progress": False, "seed": 2,
                "model_args": {"phi": (32, 32), "f": (32,)}}
    blind = train("pfn", data, tmp_path / "blind.keras", **settings)
    seeing = train("pfn", data, tmp_path / "seeing.keras", constituent_features=["charge"], **settings)
    assert blind["validation"]["auc"] < 0.62 < 0.9 < seeing["validation"]["auc"]  # the best cut: AUC 0.999
    assert seeing["input"]["constituent_features"] == ["charge"]
    with pytest.raises(ValueError, match="model 'lbn' reads no per-particle features"):
        train("lbn", data, tmp_path / "l.keras", constituent_features=["charge"], progress=False, n_particles=10)
    with pytest.raises(ValueError, match=r"no column constituent_d0 for model 'pfn': set "
                                         r"accumulators.export.constituent_features: \[d0\]"):
        train("pfn", data, tmp_path / "x.keras", constituent_features=["d0"], progress=False, n_particles=10)


@pytest.mark.parametrize("name", ["efn", "particlenet", "part"])
def test_every_cloud_network_reads_the_features_and_stays_permutation_invariant(name):
    rng = np.random.default_rng(5)
    vectors = np.zeros((6, 12, 4), np.float32)
    e = rng.exponential(20.0, (6, 9)) + 1.0
    d = rng.normal(0, 1, (6, 9, 3)) * [0.1, 0.1, 1.0]
    vectors[:, :9] = np.concatenate([e[..., None], e[..., None] * d / np.linalg.norm(d, axis=-1, keepdims=True)], -1)
    extra = np.zeros((6, 12, 2), np.float32)
    extra[:, :9] = rng.normal(0, 1, (6, 9, 2))
    args = {"part": {"size": "cpu", "blocks": 1, "class_blocks": 1}}.get(name, {})
    keras.utils.set_random_seed(1)
    model = model_kind(name).builder()(n_particles=12, constituent_scaling=([0.1, -0.2], [1.0, 2.0]), **args)
    assert [t.name for t in model.inputs] == ["constituents", "constituent_features"]
    score = model.predict([vectors, extra], verbose=0)[:, 0]
    order = np.concatenate([rng.permutation(9), np.arange(9, 12)])
    np.testing.assert_allclose(model.predict([vectors[:, order], extra[:, order]], verbose=0)[:, 0], score,
                               rtol=2e-4, atol=2e-5)
    changed = extra.copy()
    changed[:, 0, 0] += 3.0
    assert np.abs(model.predict([vectors, changed], verbose=0)[:, 0] - score).max() > 1e-4  # the features count


def test_a_run_scores_with_the_features_the_training_exported(generated, tmp_path):
    """Particle jets (charge and type known) exported with features, a PFN trained on them, scored in a run: the
    run's scores are the network's on the exported arrays; ONNX scores the same."""
    from jetflow_inference import score
    from jetflow_inference.export_inputs import load_inputs
    from jetflow_inference.onnx_export import export_onnx

    names = ["charge", "is_photon", "is_charged_hadron", "is_neutral_hadron"]
    clustering = {"source": "particles", "max_jets": 1, "min_pt": 150}
    first = {k: str(generated[k]).replace("*", "0000") for k in ("wprime", "qcd")}  # one file of each: 300 events
    config = generated_config(first, max_jets=1, chunksize=300, clustering=clustering, accumulators={
        "histograms": False, "export": {"dir": str(tmp_path / "export"), "constituents": 16, "images": [],
                                        "constituent_features": names}})
    jetflow.run(config, disable=["images"])
    table = read(tmp_path / "export")
    charged = table["constituent_charge"] != 0
    assert 0.3 < charged[table["constituents"][..., 0] > 0].mean() < 0.9  # charged and neutral particles
    record = train("pfn", tmp_path / "export", tmp_path / "pfn.keras", epochs=2, n_particles=16, progress=False,
                   constituent_features=names, model_args={"phi": (16,), "f": (16,)})
    assert record["input"]["constituent_features"] == names
    model = {"path": str(tmp_path / "pfn.keras"), "input": "constituents", "constituent_features": names}
    config = generated_config(first, max_jets=1, chunksize=300, clustering=clustering, inference={"models": {"pfn": model}},
                              accumulators={"histograms": False, "export": {"dir": str(tmp_path / "scored"), "images": []}})
    jetflow.run(config, disable=["images"])
    scored = read(tmp_path / "scored")
    inputs, _, _, _ = load_inputs(tmp_path / "export", model_kind("pfn"), 16, constituent_features=names)
    np.testing.assert_allclose(scored["score_pfn"], score(tmp_path / "pfn.keras", inputs), rtol=1e-5, atol=1e-6)
    info = export_onnx(tmp_path / "pfn.keras", tmp_path / "pfn.onnx", data=tmp_path / "export")
    assert info["inputs"] == ["constituents", "constituent_features"]
    np.testing.assert_allclose(score(tmp_path / "pfn.onnx", inputs), scored["score_pfn"], rtol=1e-4, atol=1e-5)
