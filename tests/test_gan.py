"""The LAGAN plugin: the locally-connected layer, training, the image source, the distances."""

from __future__ import annotations

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import jetflow  # noqa: E402
from jetflow_gan.evaluation import binned_wasserstein1, observables, wasserstein1  # noqa: E402
from jetflow_gan.model import LocallyConnected2D, generator  # noqa: E402
from jetflow_gan.source import generate_gan, image_particles  # noqa: E402
from jetflow_gan.training import train_lagan  # noqa: E402


def numpy_locally_connected(x, kernel, bias, kernel_size, stride):
    """One kernel per output position, by explicit loops over positions (the definition)."""
    n, h, w, c = x.shape
    oh, ow, _, f = kernel.shape
    y = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride : i * stride + kernel_size, j * stride : j * stride + kernel_size, :]
            y[:, i, j, :] = patch.reshape(n, -1) @ kernel[i, j]
            if bias is not None:
                y[:, i, j, :] += bias[i, j]
    return y


@pytest.mark.parametrize("kernel_size,stride,use_bias", [(3, 1, True), (5, 2, True), (2, 1, False)])
def test_locally_connected_equals_one_kernel_per_position(kernel_size, stride, use_bias):
    rng = np.random.default_rng(kernel_size)
    layer = LocallyConnected2D(4, kernel_size, strides=stride, use_bias=use_bias)
    x = rng.normal(size=(3, 11, 9, 2)).astype("float32")
    layer.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in layer.weights]
    layer.set_weights(weights)
    y = keras.ops.convert_to_numpy(layer(x))
    expected = numpy_locally_connected(x, weights[0], weights[1] if use_bias else None, kernel_size, stride)
    assert y.shape == expected.shape == layer.compute_output_shape(x.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


def test_locally_connected_with_one_shared_kernel_is_a_convolution():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2, 10, 10, 3)).astype("float32")
    conv = keras.layers.Conv2D(5, 3, strides=2)
    conv.build(x.shape)
    k, b = (rng.normal(size=w.shape).astype("float32") for w in conv.weights)
    conv.set_weights([k, b])
    layer = LocallyConnected2D(5, 3, strides=2)
    layer.build(x.shape)
    oh, ow = layer.out_shape
    layer.set_weights([np.broadcast_to(k.reshape(1, 1, -1, 5), (oh, ow, 27, 5)).copy(),
                       np.broadcast_to(b, (oh, ow, 5)).copy()])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), keras.ops.convert_to_numpy(conv(x)), atol=1e-4)


def test_locally_connected_initialises_per_position_fan_in():
    layer = LocallyConnected2D(6, 5, kernel_initializer="he_uniform")
    layer.build((None, 18, 18, 16))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    fan_in = 5 * 5 * 16
    assert kernel.shape == (14, 14, fan_in, 6)
    assert np.std(kernel) == pytest.approx(np.sqrt(2.0 / fan_in), rel=0.03)  # He: variance 2 / fan-in
    with pytest.raises(ValueError, match="kernel_initializer"):
        LocallyConnected2D(2, 3, kernel_initializer="orthogonal")


def test_generator_saves_and_loads_safely(tmp_path):
    gen = generator(latent_size=8, scale=3.0, filters=4, channels=8)
    z = np.random.default_rng(1).normal(size=(5, 8)).astype("float32")
    c = np.array([[0], [1], [1], [0], [1]], dtype="int32")
    gen.save(tmp_path / "g.keras")
    again = keras.saving.load_model(tmp_path / "g.keras", safe_mode=True)
    a, b = gen.predict([z, c], verbose=0), again.predict([z, c], verbose=0)
    assert a.shape == (5, 25, 25, 1) and (a >= 0).all()  # ReLU: sparse, non-negative images
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_wasserstein_distance_is_zero_on_identical_samples_and_matches_scipy_binned():
    rng = np.random.default_rng(3)
    a, b = rng.normal(80, 10, 4000), rng.normal(85, 12, 3000)
    assert wasserstein1(a, a) == 0.0
    assert wasserstein1(a, b) == pytest.approx(5.0, abs=0.8)
    import hist
    from scipy.stats import wasserstein_distance

    edges = np.linspace(0, 200, 201)
    ha, hb = (hist.Hist(hist.axis.Variable(edges), storage=hist.storage.Weight()) for _ in range(2))
    ha.fill(a)
    hb.fill(b)
    centres = 0.5 * (edges[1:] + edges[:-1])
    reference = wasserstein_distance(centres, centres, ha.values(), hb.values())
    assert binned_wasserstein1(ha, hb) == pytest.approx(reference, rel=1e-9)
    assert binned_wasserstein1(ha, ha) == 0.0
    # merge-invariant: chunks filled apart and added give the same distance
    parts = [hist.Hist(hist.axis.Variable(edges), storage=hist.storage.Weight()) for _ in range(3)]
    for part, chunk in zip(parts, np.array_split(a, 3)):
        part.fill(chunk)
    assert binned_wasserstein1(parts[0] + parts[1] + parts[2], hb) == pytest.approx(binned_wasserstein1(ha, hb), rel=1e-12)


def test_image_particles_put_each_lit_pixel_at_its_centre():
    images = np.zeros((2, 25, 25, 1), dtype="float32")
    images[0, 12, 12, 0] = 100.0
    images[0, 12, 3, 0] = 5.0
    images[1, 0, 24, 0] = 2.5
    p = image_particles(images, 0.1)
    assert p.pt.tolist() == [[5.0, 100.0], [2.5]]
    np.testing.assert_allclose(np.asarray(p.eta[0]), [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(np.asarray(p.phi[0]), [-0.9, 0.0], atol=1e-6)
    np.testing.assert_allclose([p.eta[1][0], p.phi[1][0]], [-1.2, 1.2], atol=1e-6)


@pytest.fixture(scope="module")
def session_export(generated, tmp_path_factory):
    """An export with images of the session's Pythia samples (W and QCD, 250-400 GeV jets)."""
    out = tmp_path_factory.mktemp("gan_export") / "export"
    jetflow.run({
        "datasets": {"w": {"files": [str(generated["wprime"])], "label": "signal"},
                     "q": {"files": [str(generated["qcd"])], "label": "background"}},
        "clustering": {"source": "towers", "max_jets": 1, "min_pt": 150},
        "selection": {"windows": {"pt": [200, 500]}},
        "weights": {"normalize": False},
        "accumulators": {"histograms": False, "export": {"dir": str(out)}},
        "run": {"progress": False},
    })
    return out


RUN = {
    "clustering": {"source": "particles", "max_jets": 1, "min_pt": 100},
    "selection": {"windows": {}},
    "weights": {"normalize": False},
    "accumulators": {"histograms": False},
    "run": {"progress": False},
}


def test_pythia_images_survive_the_round_trip_through_pixel_particles(session_export, tmp_path):
    """Pythia images written as pixel-particle events and run through the chain come back as the same images
    (the path GAN images take): the independent check of the source."""
    from jetflow.formats.export import read
    from jetflow.formats.schema import write_events

    table = read(session_export)
    images = table["image"][..., :1][:300]
    n = len(images)
    write_events(tmp_path / "pixels.root", {
        "run": np.ones(n, np.uint32), "luminosityBlock": np.zeros(n, np.uint32), "event": np.arange(n, dtype=np.uint64),
        "genWeight": np.ones(n, np.float32), "processId": np.full(n, 4, np.int32),
        "Particle": image_particles(images, 0.1)})
    cfg = dict(RUN, datasets={"pix": {"files": [str(tmp_path / "pixels.root")], "label": "signal"}},
               accumulators={"histograms": False, "export": {"dir": str(tmp_path / "export")}})
    jetflow.run(cfg)
    back = read(tmp_path / "export")
    assert len(back["entry"]) == n  # one jet per image, none lost
    again = back["image"][..., 0]
    original = images[back["event"].astype(int), ..., 0]
    # most images come back pixel for pixel; the others are re-centred on the subjet axis of the pixels or
    # turned by a different second subjet (their corners can leave the frame: the pT kept shows it)
    same = np.isclose(again, original, atol=1e-3).all(axis=(1, 2))
    kept = again.sum(axis=(1, 2)) / original.sum(axis=(1, 2))
    print(f"identical images {same.mean():.3f}, pT kept within 2% {np.mean(np.abs(kept - 1) < 0.02):.3f}")
    assert same.mean() > 0.2 and np.mean(np.abs(kept - 1) < 0.02) > 0.85 and (kept < 1.0001).all()
    before, after = observables(original[..., None]), observables(again[..., None])
    for key in ("image_pt", "image_mass", "image_tau21"):
        print(key, wasserstein1(before[key], after[key]) / np.std(before[key]))
        assert wasserstein1(before[key], after[key]) < 0.06 * np.std(before[key]), key


def test_tiny_lagan_trains_resumes_and_its_images_feed_a_run(session_export, tmp_path):
    from click.testing import CliRunner

    from jetflow_gan import train_gan_command

    out = tmp_path / "lagan.keras"
    args = {"latent_size": 8, "generator_filters": 4, "generator_channels": 8, "discriminator_filters": 4}
    sizes = [a for k, v in args.items() for a in ("--size", f"{k}={v}")]
    res = CliRunner().invoke(train_gan_command, ["--data", str(session_export), "--out", str(out), "--epochs", "1",
                                   "--batch-size", "32", "--seed", "2", "--no-progress", *sizes])
    assert res.exit_code == 0, res.output
    assert "saved" in res.output and (tmp_path / "lagan.keras.history.png").is_file()
    record = json.loads((tmp_path / "lagan.keras.json").read_text())
    assert record["task"] == "generation" and record["training"]["epochs_run"] == 1
    assert set(record["validation"]["distances"]) == {"W_image_pt", "W_image_mass", "QCD_image_pt", "QCD_image_mass"}
    resumed = train_lagan(session_export, out, epochs=2, batch_size=32, seed=2, model_args=args, resume=True,
                          progress=False)
    assert resumed["training"]["epochs_run"] == 2
    assert json.loads((tmp_path / "lagan.keras.checkpoint" / "state.json").read_text())["epochs_done"] == 2
    with pytest.raises(ValueError, match="other data, seed or arguments"):
        train_lagan(session_export, out, epochs=3, batch_size=32, seed=3, model_args=args, resume=True, progress=False)
    # a checkpoint that has done the epochs asked for is reused as it is
    again = train_lagan(session_export, out, epochs=2, batch_size=32, seed=2, model_args=args, resume=True, progress=False)
    assert again["history"] == resumed["history"]

    records = generate_gan(out, 1, 120, tmp_path / "gan", seed=5, events_per_file=50)
    assert [r["events"] for r in records] == [50, 50, 20]
    again = generate_gan(out, 1, 50, tmp_path / "gan_again", seed=5, events_per_file=50)
    import uproot

    with uproot.open(records[0]["path"]) as f, uproot.open(again[0]["path"]) as g:
        np.testing.assert_array_equal(f["Events/Particle_pt"].array(library="np")[0], g["Events/Particle_pt"].array(library="np")[0])
    cfg = dict(RUN, clustering={"source": "particles", "max_jets": 1, "min_pt": 0},
               datasets={"gan_w": {"files": [str(tmp_path / "gan" / "*.root")], "label": "signal"}})
    result = jetflow.run(cfg)
    counts = result.output["gan_w"]["cutflow"].counts
    assert counts["all"] == 120 and list(counts.values())[-1] == 120  # every generated image is a jet


def test_generative_study_end_to_end(tmp_path):
    """The packaged generative study at its ci preset, which runs the lagan study inside it: every figure, and
    the generators judged against Pythia's own statistics ([lagan]'s distances, [jetnet]'s metrics)."""
    from jetflow.frontends.workflow import run_workflow

    out = tmp_path / "generative"
    record = run_workflow("generative", preset="ci", out=out, progress=False, workers=2)
    steps = {s["name"]: s["record"] for s in record["steps"]}
    for evaluation in (steps["lagan"]["steps"]["evaluate"], steps["images"]):
        for cls in ("W", "QCD"):
            row = evaluation["distances"][cls]
            assert row["jets"] > 20
            for key in ("image_pt", "image_mass"):
                # two Pythia samples are far closer to each other than a GAN trained for an epoch is to either
                assert row[key]["Pythia A (training)"] < row[key]["GAN"], (cls, key, row[key])
        for m in evaluation["confusion"].values():
            assert all(abs(sum(r) - 1) < 1e-9 for r in m)
    assert "EPiC-GAN through the chain" in steps["images"]["distances"]["W"]["image_mass"]
    assert set(steps["images"]["maxout_auc"]) == {"trained on Pythia", "trained on GAN", "trained on EPiC-GAN"}
    for cls, table in steps["metrics"]["metrics"].items():
        generators = {"LAGAN", "EPiC-GAN", "LAGAN, no windows", "EPiC-GAN, no windows"}
        assert set(table["w1m"]) == generators | {"real"}
        for name in generators:  # two-epoch generators against two Pythia samples
            assert table["w1m"][name][0] > table["w1m"]["real"][0], (cls, name)
    assert steps["export_cloud"]["jets"] == {"cloud_w": 100, "cloud_qcd": 100}
    # without windows every cloud is a jet again; a LAGAN image may come out dark (no lit pixel, no jet)
    assert all(80 < n <= 100 for n in steps["export_lagan_all"]["jets"].values())
    for name in ("lagan/lagan/observables", "lagan/lagan/maxout", "figures/observables", "figures/confusion",
                 "figures/maxout", "models/epic.keras.history"):
        assert (out / f"{name}.png").is_file(), name
    text = (out / "study.md").read_text()
    assert "| metric | LAGAN | EPiC-GAN | LAGAN, no windows | EPiC-GAN, no windows | real |" in text and "| W | image_mass |" in text
