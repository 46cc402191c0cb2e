"""The Particle Transformer ([part]) against numpy constructions of its parts, and its symmetries."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from jetflow_inference.transformer import (MASKED, PART_SIZES, BiasedAttention, PairFeatures, ParticleAttentionBlock,
                                           part)


def jets(rng, n_jets: int, n_slots: int, most: int | None = None) -> np.ndarray:
    """Zero-padded (E, px, py, pz) of jets of 3 to ``most`` massive particles around a random axis."""
    x = np.zeros((n_jets, n_slots, 4), np.float32)
    for j in range(n_jets):
        n = rng.integers(3, (most or n_slots) + 1)
        pt = np.sort(rng.exponential(30.0, n))[::-1] + 1.0
        eta, phi, m = rng.normal(0.5, 0.3, n), rng.normal(1.0, 0.3, n), rng.uniform(0.0, 0.5, n)
        e = np.sqrt((pt * np.cosh(eta)) ** 2 + m * m)
        x[j, :n] = np.stack([e, pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], axis=1)
    return x


def test_pair_features_are_part_s_interaction_variables_pair_by_pair():
    x = jets(np.random.default_rng(1), 4, 7, most=5)
    got = np.asarray(PairFeatures()(x))
    for j in range(len(x)):
        for a in range(7):
            for b in range(7):
                pa, pb = x[j, a].astype(np.float64), x[j, b].astype(np.float64)
                if a == b or pa[0] == 0 or pb[0] == 0:
                    np.testing.assert_array_equal(got[j, a, b], 0.0)
                    continue
                pt = [np.hypot(p[1], p[2]) for p in (pa, pb)]
                y = [0.5 * np.log((p[0] + p[3]) / (p[0] - p[3])) for p in (pa, pb)]
                dphi = (np.arctan2(pa[2], pa[1]) - np.arctan2(pb[2], pb[1]) + np.pi) % (2 * np.pi) - np.pi
                delta = np.hypot(y[0] - y[1], dphi)
                s = pa + pb
                expected = np.log([delta, min(pt) * delta, min(pt) / sum(pt), s[0] ** 2 - s[1:] @ s[1:]])
                np.testing.assert_allclose(got[j, a, b], expected, rtol=2e-4, atol=2e-4)


def numpy_attention(layer: BiasedAttention, query, keys, mask, bias=None):
    """[part]'s P-MHA written out: per head softmax(q k / sqrt(d_h) + U) v, masked keys, heads joined, mapped."""
    (wq, bq), (wk, bk), (wv, bv), (wo, bo) = (d.get_weights() for d in (layer.query, layer.key, layer.value, layer.out))
    h, dh = layer.heads, layer.dim // layer.heads
    out = np.zeros((*query.shape[:2], layer.dim))
    for j in range(len(query)):
        q, k, v = query[j] @ wq + bq, keys[j] @ wk + bk, keys[j] @ wv + bv
        heads = []
        for head in range(h):
            cols = slice(head * dh, (head + 1) * dh)
            logits = q[:, cols] @ k[:, cols].T / np.sqrt(dh)
            if bias is not None:
                logits = logits + bias[j, :, :, head]
            logits = np.where(mask[j, :, 0][None, :] > 0, logits, MASKED)
            w = np.exp(logits - logits.max(axis=1, keepdims=True))
            heads.append((w / w.sum(axis=1, keepdims=True)) @ v[:, cols])
        out[j] = np.concatenate(heads, axis=1) @ wo + bo
    return out


def test_attention_with_its_interaction_bias_against_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 6, 16)).astype(np.float32)
    mask = (rng.random((3, 6, 1)) < 0.7).astype(np.float32)
    mask[:, 0] = 1.0
    bias = rng.normal(size=(3, 6, 6, 4)).astype(np.float32)
    layer = BiasedAttention(4, 16)
    got = np.asarray(layer([x, x, mask, bias]))
    np.testing.assert_allclose(got, numpy_attention(layer, x, x, mask, bias), rtol=1e-4, atol=1e-5)
    # the bias matters, and a masked key does not: changing its values leaves every output as it was
    assert np.abs(got - np.asarray(layer([x, x, mask]))).max() > 1e-2
    changed = np.where(mask > 0, x, rng.normal(size=x.shape)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(layer([x, changed, mask, bias])), got, rtol=1e-5, atol=1e-6)


def layer_norm(x, norm):
    gamma, beta = norm.get_weights()
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + norm.epsilon) * gamma + beta


def test_a_particle_attention_block_against_numpy():
    """x + LN(MHA(LN(x), LN(x)) + U), then x + Linear(LN(GELU(Linear(LN(x))))), padded slots set to 0."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 8)).astype(np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], np.float32)[..., None]
    bias = rng.normal(size=(2, 5, 5, 2)).astype(np.float32)
    block = ParticleAttentionBlock(heads=2, ffn=12, dropout=0.0)
    block([x, mask, bias])  # built
    for norm in block.norms.values():  # norms that are not the identity
        norm.set_weights([rng.normal(1.0, 0.2, w.shape).astype(np.float32) for w in norm.get_weights()])
    got = np.asarray(block([x, mask, bias]))
    n = block.norms
    h = x + layer_norm(numpy_attention(block.attention, layer_norm(x, n["norm_query"]), layer_norm(x, n["norm_keys"]),
                                       mask, bias), n["norm_attention"])
    (w1, b1), (w2, b2) = block.hidden.get_weights(), block.back.get_weights()
    pre = layer_norm(h, n["norm_ffn_in"]) @ w1 + b1
    gelu = 0.5 * pre * (1.0 + erf(pre / np.sqrt(2.0)))
    expected = (h + layer_norm(gelu, n["norm_ffn_hidden"]) @ w2 + b2) * mask
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


@pytest.fixture(scope="module")
def small_part():
    import keras

    keras.utils.set_random_seed(4)
    return part(n_particles=12, size="cpu", blocks=2)


def test_the_score_does_not_depend_on_the_particles_order_or_the_padding(small_part):
    rng = np.random.default_rng(5)
    x = jets(rng, 16, 12, most=9)
    score = small_part.predict(x, verbose=0)[:, 0]
    assert score.std() > 1e-4  # the jets are told apart
    for _ in range(3):  # any order of the slots, padded ones included
        order = rng.permutation(12)
        np.testing.assert_allclose(small_part.predict(x[:, order], verbose=0)[:, 0], score, rtol=1e-5, atol=1e-6)
    # the same weights on more slots (no weight depends on their number): more padding, the same scores
    wider = part(n_particles=20, size="cpu", blocks=2)
    wider.set_weights(small_part.get_weights())
    padded = np.concatenate([x, np.zeros((16, 8, 4), np.float32)], axis=1)
    np.testing.assert_allclose(wider.predict(padded, verbose=0)[:, 0], score, rtol=1e-5, atol=1e-6)


def test_the_paper_size_is_part_s():
    model = part(n_particles=30)
    blocks = [layer for layer in model.layers if layer.name.startswith("particle_block_")]
    classes = [layer for layer in model.layers if layer.name.startswith("class_block_")]
    assert (len(blocks), len(classes), blocks[0].heads, blocks[0].ffn) == (8, 2, 8, 512)
    assert [model.get_layer(f"embed_{i}").units for i in range(3)] == [128, 512, 128]
    assert [model.get_layer(f"pair_embed_{i}").units for i in range(3)] == [64, 64, 64]
    # [part] quotes 2.14M parameters with 17 particle inputs; jetflow's particles have 8
    assert 2.0e6 < model.count_params() < 2.2e6
    assert set(PART_SIZES) == {"paper", "cpu"}
    with pytest.raises(ValueError, match="size must be one of paper, cpu"):
        part(size="huge")


def two_prong_export(folder, per_class: int = 240, seed: int = 6):
    """Constituents of one-prong (background) and two-prong (signal, a second hard particle 0.6 away) jets."""
    from jetflow.formats.export import write_shard

    rng = np.random.default_rng(seed)
    for label in (0, 1):
        x = jets(rng, per_class, 16, most=12)
        if label:  # the leading particle split in two, 0.6 apart in rapidity
            e, px, py, pz = x[:, 0].T
            pt, eta, phi = np.hypot(px, py) / 2, np.arcsinh(pz / np.hypot(px, py)), np.arctan2(py, px)
            x[:, 0] = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], 1)
            x[:, -1] = np.stack([pt * np.cosh(eta + 0.6), pt * np.cos(phi), pt * np.sin(phi),
                                 pt * np.sinh(eta + 0.6)], 1)
        write_shard(folder / f"d{label}__shard0.parquet",
                    {"constituents": x, "weight": np.ones(per_class), "label": np.full(per_class, label, np.int8),
                     "dataset": np.full(per_class, f"d{label}")})
    return folder


def test_jetflow_train_fits_part_and_its_onnx_export_scores_as_keras(tmp_path):
    import keras

    from jetflow_inference.onnx_export import export_onnx
    from jetflow_inference.runtimes import OnnxModel
    from jetflow_inference.training import train

    data = two_prong_export(tmp_path / "export")
    record = train("part", data, tmp_path / "part.keras", epochs=4, batch_size=32, seed=1, n_particles=16,
                   progress=False, model_args={"size": "cpu", "blocks": 1, "embed": [32, 32], "ffn": 64})
    assert record["model"] == "part" and record["input"]["column"] == "constituents"
    assert record["validation"]["auc"] > 0.8, record["validation"]
    info = export_onnx(tmp_path / "part.keras")
    x = jets(np.random.default_rng(7), 40, 16, most=12)
    expected = keras.saving.load_model(tmp_path / "part.keras", safe_mode=True).predict(x, verbose=0)[:, 0]
    np.testing.assert_allclose(OnnxModel("part", info["path"], "cpu")(x, 64, None), expected, rtol=1e-4, atol=1e-5)
