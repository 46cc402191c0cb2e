"""The point-cloud GAN of the gan plugin ([epic-gan]): its layers against numpy, its symmetries, its training
and its jets as a source of events."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import jetflow  # noqa: E402
from jetflow_gan.cloud_model import (CloudOutput, EPiCLayer, cloud_discriminator, cloud_generator,  # noqa: E402
                                     jet_mass)
from jetflow_gan.cloud_source import cloud_particles, sample_clouds  # noqa: E402
from jetflow_gan.cloud_training import mass_distance, mass_quantiles, train_epic  # noqa: E402

STATS = {"mean": [0.0, 0.0, -4.0], "std": [0.2, 0.2, 1.5], "jet_mean": [0.28, 1.01], "jet_std": [0.03, 0.02]}


def lrelu(x):
    return np.where(x > 0, x, 0.01 * x)


def test_epic_layer_is_its_formula_and_ignores_masked_particles():
    rng = np.random.default_rng(1)
    layer = EPiCLayer(6, 4, sum_scale=0.1)
    g, p = rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(3, 5, 6)).astype("float32")
    mask = (np.arange(5) < np.array([[5], [2], [1]])).astype("float32")[..., None]
    p = p * mask
    g_out, p_out = (np.asarray(t) for t in layer([g, p, mask]))
    (w1, b1), (w2, b2) = layer.global_1.get_weights(), layer.global_2.get_weights()
    (w3p, b3), (w3g,), (w4, b4) = (layer.local_points.get_weights(), layer.local_global.get_weights(),
                                   layer.local_2.get_weights())
    for j in range(3):
        n = int(mask[j].sum())
        real = p[j, :n]
        gj = lrelu(lrelu(np.concatenate([real.sum(0) * 0.1, real.mean(0), g[j]]) @ w1 + b1) @ w2 + b2 + g[j])
        np.testing.assert_allclose(g_out[j], gj, rtol=1e-5, atol=1e-5)
        pj = lrelu(lrelu(np.concatenate([real, np.repeat(gj[None], n, 0)], 1) @ np.concatenate([w3p, w3g]) + b3)
                   @ w4 + b4 + real)
        np.testing.assert_allclose(p_out[j, :n], pj, rtol=1e-5, atol=1e-5)
        assert not p_out[j, n:].any()


def test_generator_is_permutation_equivariant_and_discriminator_invariant():
    rng = np.random.default_rng(2)
    keras.utils.set_random_seed(2)
    gen, disc = cloud_generator(7, STATS, hidden=8, latent=4), cloud_discriminator(7, STATS, hidden=8, latent=4)
    z_points, z_global = rng.normal(size=(4, 7, 3)).astype("float32"), rng.normal(size=(4, 4)).astype("float32")
    mask = (rng.random((4, 7)) < 0.7).astype("float32")
    mask[:, 0] = 1
    label = np.array([[0], [1], [1], [0]], dtype="int32")
    perm = rng.permutation(7)
    cloud = np.asarray(gen([z_points, z_global, mask, label]))
    permuted = np.asarray(gen([z_points[:, perm], z_global, mask[:, perm], label]))
    np.testing.assert_allclose(permuted, cloud[:, perm], rtol=1e-5, atol=1e-6)
    assert np.all(cloud[mask == 0] == 0) and np.all(cloud[..., 2][mask == 1] > 0)
    np.testing.assert_allclose(np.asarray(disc([cloud[:, perm], mask[:, perm], label])),
                               np.asarray(disc([cloud, mask, label])), rtol=1e-5, atol=1e-6)


def test_generator_output_sums_to_the_jet_and_centres_on_its_axis():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(5, 9, 3)).astype("float32")
    mask = (np.arange(9) < np.array([[9], [3], [1], [5], [2]])).astype("float32")[..., None]
    cloud = np.asarray(CloudOutput([0.01, -0.02, 0.0], [0.3, 0.2, 1.0], 1.02)([x, mask]))
    np.testing.assert_allclose(cloud[..., 2].sum(1), 1.02, rtol=1e-5)
    for k in (0, 1):
        np.testing.assert_allclose((cloud[..., 2] * cloud[..., k]).sum(1), 0.0, atol=1e-6)
    assert not cloud[mask[..., 0] == 0].any()
    # the fractions are the softmax over the real particles, the angles a shift of x * std + mean
    j = 3
    e = np.exp(x[j, :5, 2] - x[j, :5, 2].max())
    np.testing.assert_allclose(cloud[j, :5, 2], 1.02 * e / e.sum(), rtol=1e-5)
    np.testing.assert_allclose(np.diff(cloud[j, :5, 0]), np.diff(x[j, :5, 0] * 0.3), rtol=1e-4, atol=1e-6)


def test_the_networks_jet_mass_and_mass_distance_against_numpy_and_scipy():
    from scipy.stats import wasserstein_distance

    from jetflow.stats.jetnet_metrics import jet_mass as numpy_jet_mass

    rng = np.random.default_rng(4)
    cloud = np.stack([rng.normal(0, 0.2, (40, 6)), rng.normal(0, 0.2, (40, 6)), rng.exponential(0.2, (40, 6))], -1)
    mask = (rng.random((40, 6)) < 0.8).astype("float32")
    cloud = (cloud * mask[..., None]).astype("float32")
    m = np.asarray(jet_mass(cloud, mask[..., None]))
    np.testing.assert_allclose(m, numpy_jet_mass(cloud), rtol=1e-4, atol=1e-4)
    # the batch's masses against each class's real distribution: by a loop over the classes and ranks
    real, real_label = rng.normal(size=500), (rng.random(500) < 0.4).astype("int32")
    batch, label = rng.normal(0.5, 2, size=40), (rng.random(40) < 0.3).astype("int32")
    expected = 0.0
    for c in (0, 1):
        ref, mine = np.sort(real[real_label == c]), np.sort(batch[label == c])
        for k, value in enumerate(mine):
            expected += abs(value - ref[int((k + 0.5) / len(mine) * len(ref))])
    got = mass_distance(batch.astype("float32"), label, *mass_quantiles(real, real_label))
    np.testing.assert_allclose(float(got), expected / 40, rtol=1e-5)
    # which is W1 to the real distribution, up to the nearest-rank quantiles
    big = rng.normal(0.5, 2, size=4000).astype("float32")
    w1 = wasserstein_distance(big, real[real_label == 0])
    assert abs(float(mass_distance(big, np.zeros(4000, "int32"), *mass_quantiles(real, real_label))) - w1) < 0.05 * w1


def test_cloud_particles_place_the_cloud_at_the_jet():
    cloud = np.array([[[0.1, -0.2, 0.6], [-0.05, 0.3, 0.4], [0, 0, 0]]], dtype="float32")
    p = cloud_particles(cloud, np.array([500.0]), np.array([1.0]), np.array([3.0]))
    np.testing.assert_allclose(np.asarray(p.pt[0]), [300.0, 200.0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p.eta[0]), [1.1, 0.95], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p.phi[0]), [2.8, 3.3 - 2 * np.pi], rtol=1e-6)
    assert p.pdgId.tolist() == [[22, 22]] and p.mass.tolist() == [[0, 0]]


@pytest.fixture(scope="module")
def constituents_export(generated, tmp_path_factory):
    """The session's Pythia jets (tower jets above 150 GeV, one per event) with their 30 leading constituents."""
    from conftest import generated_config

    out = tmp_path_factory.mktemp("cloud_export") / "export"
    jetflow.run(generated_config(generated, max_jets=1, chunksize=600, selection={"windows": {"pt": [200, 500]}},
                                 accumulators={"histograms": False, "export": {"dir": str(out), "constituents": 30}}))
    return out


def test_tiny_cloud_gan_trains_resumes_and_its_jets_feed_a_run(constituents_export, tmp_path):
    from click.testing import CliRunner

    from jetflow.formats.export import read
    from jetflow_gan import generate_gan_command, train_gan_command

    out = tmp_path / "epic.keras"
    args = {"hidden": 8, "latent": 4, "generator_layers": 1, "discriminator_layers": 1, "mass_weight": 0.5}
    sizes = [a for k, v in args.items() for a in ("--size", f"{k}={v}")]
    res = CliRunner().invoke(train_gan_command, ["--model", "epic", "--data", str(constituents_export), "--out",
                                                 str(out), "--epochs", "2", "--batch-size", "32", "--seed", "2",
                                                 "--no-progress", *sizes])
    assert res.exit_code == 0, res.output
    assert "jet mass and particle eta, phi, pT" in res.output and (tmp_path / "epic.keras.history.png").is_file()
    record = json.loads((tmp_path / "epic.keras.json").read_text())
    assert record["model"] == "epic" and record["training"]["epochs_run"] == 2
    assert record["model_args"]["mass_weight"] == 0.5 and record["model_args"]["hidden"] == 8  # --size: floats, ints
    assert set(record["validation"]["distances"]) == {f"{c} {k}" for c in ("W", "QCD")
                                                      for k in ("mass", "eta_rel", "phi_rel", "pt_rel")}
    resumed = train_epic(constituents_export, out, epochs=3, batch_size=32, seed=2, model_args=args, resume=True,
                         progress=False)
    assert resumed["training"]["epochs_run"] == 3 and resumed["history"]["d_loss"][:2] == record["history"]["d_loss"]
    assert (tmp_path / "epic.keras.checkpoint" / "saved.weights.h5").is_file()  # the averaged generator, resumed too
    with pytest.raises(ValueError, match="other data, seed or arguments"):
        train_epic(constituents_export, out, epochs=4, batch_size=32, seed=3, model_args=args, resume=True,
                   progress=False)

    gen = keras.saving.load_model(out, compile=False)
    counts = np.array([1, 5, 30, 12])
    clouds = sample_clouds(gen, np.array([1, 0, 1, 1]), counts, seed=3)
    np.testing.assert_array_equal((clouds[..., 2] > 0).sum(1), counts)  # the multiplicity asked for
    assert np.all(np.diff(clouds[..., 2], axis=1) <= 0)  # leading first
    np.testing.assert_array_equal(clouds, sample_clouds(gen, np.array([1, 0, 1, 1]), counts, seed=3))

    res = CliRunner().invoke(generate_gan_command, ["--model", str(out), "--label", "signal", "--events", "90",
                                                    "--out", str(tmp_path / "clouds"), "--seed", "4",
                                                    "--events-per-file", "50"])
    assert res.exit_code == 0, res.output
    files = sorted((tmp_path / "clouds").glob("cloud_1_4_*.root"))
    assert len(files) == 2
    conditions = np.load(str(out) + ".conditions.npz")
    allowed = set(conditions["multiplicity"][conditions["label"] == 1].tolist())
    export = tmp_path / "cloud_export"
    jetflow.run({"datasets": {"cloud_w": {"files": [str(tmp_path / "clouds" / "*.root")], "label": "signal"}},
                 "clustering": {"source": "particles", "max_jets": 1, "min_pt": 0, "radius": 1.0},
                 "selection": {"windows": {}}, "weights": {"normalize": False},
                 "accumulators": {"histograms": False, "export": {"dir": str(export), "constituents": 30}},
                 "run": {"progress": False}})
    table = read(export)
    assert len(table["pt"]) == 90  # every generated jet is found again as a jet
    multiplicity = (table["constituents"][..., 0] > 0).sum(1)
    assert set(multiplicity.tolist()) <= allowed
    # the jet's pT is the training jets' (a generated cloud sums to their mean pT_rel, spread within R = 1)
    pool = conditions["pt"][conditions["label"] == 1]
    assert pool.min() * 0.8 < np.median(table["pt"]) < pool.max() * 1.2
