"""Particle-cloud networks (EFN, PFN, ParticleNet-style EdgeConv): their per-particle features against the
``vector`` library, the EFN's infrared and collinear safety, permutation invariance and masking, the EdgeConv
block against a numpy construction, and the ONNX export."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import vector

from jetflow_inference.kinds import model_kind
from jetflow_inference.particle_clouds import FEATURES, EdgeConv, ParticleFeatures


def cloud(rng, n_jets: int = 16, n: int = 30, phi0: float = np.pi - 0.05):
    """Zero-padded (E, px, py, pz) of jets of 3..n massless particles around (eta 0.7, phi0) — near the phi
    wrap, so that delta phi must be wrapped; also the particles' (pt, eta, phi) and counts."""
    counts = rng.integers(3, n + 1, n_jets)
    counts[0] = n
    x = np.zeros((n_jets, n, 4), np.float32)
    kin = np.zeros((n_jets, n, 3))
    for j, c in enumerate(counts):
        pt = rng.exponential(20.0, c) + 0.5
        eta = 0.7 + rng.normal(0, 0.3, c)
        phi = (phi0 + rng.normal(0, 0.3, c) + np.pi) % (2 * np.pi) - np.pi
        p = vector.array({"pt": pt, "eta": eta, "phi": phi, "mass": np.zeros(c)})
        x[j, :c] = np.stack([p.E, p.px, p.py, p.pz], axis=1)
        kin[j, :c] = np.stack([pt, eta, phi], axis=1)
    return x, kin, counts


def test_particle_features_equal_the_vector_library():
    rng = np.random.default_rng(0)
    x, kin, counts = cloud(rng)
    got = keras.ops.convert_to_numpy(ParticleFeatures()(x))
    assert got.shape == (len(x), 30, len(FEATURES) + 1)
    for j, c in enumerate(counts):
        p = vector.array({"px": x[j, :c, 1].astype(float), "py": x[j, :c, 2].astype(float),
                          "pz": x[j, :c, 3].astype(float), "E": x[j, :c, 0].astype(float)})
        jet = p.sum()
        deta, dphi = p.deltaeta(jet), p.deltaphi(jet)
        z = p.pt / jet.pt
        expected = np.stack([z, deta, dphi, np.log(p.pt / 100), np.log(p.E / 100), np.hypot(deta, dphi),
                             np.ones(c)], axis=1)
        np.testing.assert_allclose(got[j, :c, [0, 1, 2, 5, 6, 7, 8]].T, expected, atol=2e-4, rtol=1e-4)
        np.testing.assert_array_equal(got[j, c:], 0.0)  # padded slots: every feature 0, the mask 0
        # (u, v): the same angles rotated (distances kept) into the frame where the z-weighted second moments
        # are diagonal, the larger along u, and each third moment is not negative
        u, v = got[j, :c, 3].astype(float), got[j, :c, 4].astype(float)
        np.testing.assert_allclose(u**2 + v**2, deta**2 + dphi**2, atol=1e-4)
        uu, vv, uv = (z * u * u).sum(), (z * v * v).sum(), (z * u * v).sum()
        assert abs(uv) < 1e-4 * uu and uu >= vv
        assert (z * u**3).sum() >= -1e-6 and (z * v**3).sum() >= -1e-6
    assert np.abs(got[..., 2]).max() < 1.5  # wrapped: the jet sits at phi ~ pi, its particles on both sides


def _split(x, counts, j, i, fraction):
    """Jet ``j`` with particle ``i`` split collinearly into two (``fraction`` and the rest), in the next slot."""
    y = x[j:j + 1].copy()
    c = counts[j]
    y[0, c] = y[0, i] * fraction
    y[0, i] = y[0, i] * (1 - fraction)
    return y


@pytest.fixture(scope="module")
def networks():
    keras.utils.set_random_seed(3)
    return {name: model_kind(name).builder()(n_particles=30) for name in ("efn", "pfn", "particlenet")}


def predict(model, x):
    return model.predict(x, verbose=0)[:, 0]


def test_efn_is_infrared_and_collinear_safe_and_pfn_is_not(networks):
    rng = np.random.default_rng(1)
    x, _, counts = cloud(rng)
    j = int(np.argmax(counts < 29))  # a jet with free slots
    base = {name: predict(m, x[j:j + 1])[0] for name, m in networks.items()}
    split = _split(x, counts, j, 0, 0.4)
    soft = x[j:j + 1].copy()
    p = vector.obj(pt=1e-4, eta=1.5, phi=-2.0, mass=0.0)  # far from the jet's axis
    soft[0, counts[j]] = [p.E, p.px, p.py, p.pz]
    efn = networks["efn"]
    assert abs(predict(efn, split)[0] - base["efn"]) < 1e-5
    assert abs(predict(efn, soft)[0] - base["efn"]) < 1e-5
    # the jet's representation, sum_i z_i Phi_i, is unchanged; the PFN's (its Phi sees log pT, its sum counts
    # particles) moves
    for name, change in (("efn", 1e-5), ("pfn", 1e-2)):
        latent = keras.Model(networks[name].inputs, networks[name].get_layer("sum").output)
        before, after = latent.predict(x[j:j + 1], verbose=0), latent.predict(split, verbose=0)
        moved = np.abs(after - before).max() / np.abs(before).max()
        assert (moved < change) if name == "efn" else (moved > change), (name, moved)


@pytest.mark.parametrize("name", ["efn", "pfn", "particlenet"])
def test_outputs_ignore_the_order_of_the_particles_and_the_padding(networks, name):
    rng = np.random.default_rng(2)
    x, _, _ = cloud(rng)
    model = networks[name]
    shuffled = x[:, rng.permutation(30)]  # real particles and padded slots mixed in any order
    np.testing.assert_allclose(predict(model, shuffled), predict(model, x), atol=2e-5)
    # a jet scored alone or in a batch of others: batch norm in inference and the masks keep jets apart
    np.testing.assert_allclose(predict(model, x[3:4]), predict(model, x)[3:4], atol=2e-5)


def _relu(v):
    return np.maximum(v, 0.0)


def edge_conv_numpy(layer: EdgeConv, coordinates, x, mask):
    """EdgeConv by hand, jet by jet and particle by particle: the k nearest other real particles (all of them
    when there are fewer), their edge features through the layer's weights, averaged, plus the shortcut."""
    ws = [d.get_weights()[0] for d in layer.dense]
    norms = [n.get_weights() for n in layer.norm]  # gamma, beta, moving mean, moving variance
    eps = layer.norm[0].epsilon

    def bn(v, w):
        gamma, beta, mean, var = w
        return gamma * (v - mean) / np.sqrt(var + eps) + beta

    out = np.zeros((*x.shape[:2], layer.channels[-1]))
    for b in range(len(x)):
        real = np.flatnonzero(mask[b, :, 0] > 0)
        for i in real:
            others = real[real != i]
            d = ((coordinates[b, others] - coordinates[b, i]) ** 2).sum(1)
            near = others[np.argsort(d, kind="stable")[: layer.k]]
            h = np.concatenate([np.repeat(x[b, i][None], len(near), 0), x[b, near] - x[b, i]], axis=1)
            for w, nw in zip(ws, norms):
                h = _relu(bn(h @ w, nw))
            mean = h.mean(0) if len(near) else np.zeros(layer.channels[-1])
            shortcut = bn(x[b, i] @ layer.shortcut.get_weights()[0], layer.shortcut_norm.get_weights())
            out[b, i] = _relu(mean + shortcut)
    return out


def test_edge_conv_equals_a_numpy_construction():
    rng = np.random.default_rng(4)
    n, c = 12, 5
    x = rng.normal(0, 1, (6, n, c)).astype(np.float32)
    coordinates = rng.normal(0, 1, (6, n, 2)).astype(np.float32)
    counts = np.array([12, 9, 4, 2, 1, 7])  # fewer real particles than k + 1 in some jets
    mask = (np.arange(n)[None, :] < counts[:, None]).astype(np.float32)[..., None]
    layer = EdgeConv(k=5, channels=(6, 4))
    layer([coordinates, x, mask])
    for norm in [*layer.norm, layer.shortcut_norm]:  # non-trivial inference statistics
        gamma, beta, mean, var = norm.get_weights()
        norm.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.2, beta.shape),
                          rng.normal(0, 0.2, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
    got = keras.ops.convert_to_numpy(layer([coordinates, x, mask], training=False))
    np.testing.assert_allclose(got, edge_conv_numpy(layer, coordinates, x, mask), atol=1e-5)
    assert np.all(got[mask[..., 0] == 0] == 0)


def test_batch_norm_in_training_sees_only_real_particles():
    """Padded slots do not enter the edge statistics: a batch padded to twice the slots normalises alike."""
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (4, 10, 3)).astype(np.float32)
    coordinates = rng.normal(0, 1, (4, 10, 2)).astype(np.float32)
    mask = np.ones((4, 10, 1), np.float32)
    layer = EdgeConv(k=3, channels=(4,))
    pad = lambda a: np.concatenate([a, np.zeros_like(a)], axis=1)  # noqa: E731
    narrow = keras.ops.convert_to_numpy(layer([coordinates, x, mask], training=True))
    wide = keras.ops.convert_to_numpy(layer([pad(coordinates), pad(x), pad(mask)], training=True))
    np.testing.assert_allclose(wide[:, :10], narrow, atol=1e-5)


@pytest.mark.parametrize("name", ["efn", "particlenet"])
def test_particle_cloud_networks_export_to_onnx(networks, name, tmp_path):
    """ONNX out: the export scores zero-padded jets as Keras does (the masks and k-nearest neighbours included)."""
    import onnxruntime as ort

    from jetflow_inference.onnx_export import export_onnx

    path = tmp_path / f"{name}.keras"
    networks[name].save(path)
    info = export_onnx(path)
    assert info["inputs"] == ["constituents"] and info["max_abs_diff"] < 1e-4
    x, _, _ = cloud(np.random.default_rng(6))
    session = ort.InferenceSession(info["path"], providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"constituents": x})[0][:, 0], predict(networks[name], x), atol=1e-5)


def test_particlenet_has_the_papers_two_sizes():
    """[particlenet]: ParticleNet-Lite (k = 7; EdgeConv 32, 64; dense 128) and ParticleNet (k = 16; EdgeConv 64,
    128, 256; dense 256), dropout 0.1; any number overridden by name."""
    from jetflow_inference.particle_clouds import particlenet

    for size, k, channels, dense in (("lite", 7, [(32, 32, 32), (64, 64, 64)], 128),
                                     ("full", 16, [(64, 64, 64), (128, 128, 128), (256, 256, 256)], 256)):
        model = particlenet(n_particles=30, size=size)
        blocks = [layer for layer in model.layers if isinstance(layer, EdgeConv)]
        assert [b.channels for b in blocks] == channels and {b.k for b in blocks} == {k}, size
        assert model.get_layer("head").units == dense
    # [particlenet] quotes 366k and 26k parameters (7 particle inputs, 2 outputs; here 8 inputs, one score)
    assert 3.5e5 < particlenet(size="full").count_params() < 3.8e5
    assert 2.5e4 < particlenet(size="lite").count_params() < 2.9e4
    assert {b.k for b in particlenet(size="full", k=12).layers if isinstance(b, EdgeConv)} == {12}
    with pytest.raises(ValueError, match="size must be one of lite, full"):
        particlenet(size="huge")
