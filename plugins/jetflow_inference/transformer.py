"""The Particle Transformer ([part], arXiv:2202.03772) on a jet's constituents, in Keras 3.

It reads what every constituent network reads, the ``constituents`` input (the N leading four-vectors E, px,
py, pz, zero-padded), and computes inside the model:

* per particle, the features of :class:`jetflow_inference.particle_clouds.ParticleFeatures` (relative to the
  jet axis), embedded by ``embed`` layers of [layer norm, dense, GELU];
* per pair of particles a and b, [part]'s interaction features (:class:`PairFeatures`): ln Delta, ln kT,
  ln z and ln m^2, with Delta = sqrt(Delta y^2 + Delta phi^2) in rapidity and azimuth, kT = min(pT_a, pT_b)
  Delta, z = min(pT_a, pT_b) / (pT_a + pT_b), m^2 the pair's invariant mass squared (GeV), embedded
  pointwise by ``pair_embed`` dense GELU layers and a last dense layer of one channel per head: the bias U
  that is added to every particle attention block's logits;
* ``blocks`` particle attention blocks (:class:`ParticleAttentionBlock`), then ``class_blocks`` class
  attention blocks (:class:`ClassAttentionBlock`) in which a learned class token attends to the particles,
  and the token, layer-normalised, goes to the output (a sigmoid score, or a regressor's value; jet features
  join it).

Padded slots (E = 0) are masked: no particle attends to them, their pair features are 0, and their own
representation is set to 0 after every block, so a jet's score does not depend on the padding or on the
order of its particles.  The blocks are [part]'s (after NormFormer): x + LN(MHA(LN(x)) with the bias), then
x + Linear(LN(GELU(Linear(LN(x))))).  Two departures: the paper's batch normalisation of the inputs is left
out (padded slots would enter its statistics; the features are of order one already), and the particle
features are jetflow's four-vector features (no charge, particle type or impact parameters: the export does
not carry them).

Sizes (:data:`PART_SIZES`): ``paper`` is [part]'s (embedding 128, 512, 128; pair embedding 64, 64, 64;
8 heads, 8 particle and 2 class attention blocks, feed-forward 512, dropout 0.1); ``cpu`` a smaller one for
this project's 2-core machines.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from jetflow_inference.network_parts import output_head, sized, with_constituent_features, with_features
from jetflow_inference.particle_clouds import FEATURES, ParticleFeatures, TakeFeatures

PART_SIZES = {
    "paper": {"embed": (128, 512, 128), "pair_embed": (64, 64, 64), "heads": 8, "blocks": 8, "class_blocks": 2,
              "ffn": 512, "dropout": 0.1},
    "cpu": {"embed": (64, 64), "pair_embed": (32, 32), "heads": 4, "blocks": 3, "class_blocks": 1, "ffn": 128,
            "dropout": 0.1},
}
"""The Particle Transformer's sizes: [part]'s, and a smaller one for a CPU."""

MASKED = -1e4
"""The attention logit of a padded key (exp of it is 0 in float16 too, without an infinity)."""

_EPS = 1e-8


@keras.saving.register_keras_serializable(package="jetflow")
def gelu(x):
    """GELU, x Phi(x) = x (1 + erf(x / sqrt 2)) / 2, written with erf: Keras' own under TensorFlow calls erfc,
    which the ONNX export cannot convert."""
    return 0.5 * x * (1.0 + ops.erf(x / math.sqrt(2.0)))


@keras.saving.register_keras_serializable(package="jetflow")
class PairFeatures(layers.Layer):
    """Zero-padded four-vectors ``[batch, n, 4]`` (E, px, py, pz, GeV) to ``[batch, n, n, 4]``: for each pair of
    distinct real particles ln Delta, ln kT, ln z, ln m^2 (module docstring); 0 for a particle with itself and
    for any pair with a padded slot."""

    def call(self, x):
        e, px, py, pz = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
        mask = ops.cast(e > 0.0, x.dtype)
        pt = ops.sqrt(px * px + py * py)
        rapidity = 0.5 * ops.log(ops.maximum(e + pz, _EPS) / ops.maximum(e - pz, _EPS))
        phi = ops.arctan2(py, px)
        dy = rapidity[:, :, None] - rapidity[:, None, :]
        dphi = phi[:, :, None] - phi[:, None, :]
        dphi = ops.arctan2(ops.sin(dphi), ops.cos(dphi))
        delta = ops.sqrt(dy * dy + dphi * dphi)
        pt_min = ops.minimum(pt[:, :, None], pt[:, None, :])
        kt = pt_min * delta
        z = pt_min / ops.maximum(pt[:, :, None] + pt[:, None, :], _EPS)
        pair = x[:, :, None, :] + x[:, None, :, :]
        m2 = pair[..., 0] ** 2 - pair[..., 1] ** 2 - pair[..., 2] ** 2 - pair[..., 3] ** 2
        features = ops.stack([ops.log(ops.maximum(v, _EPS)) for v in (delta, kt, z, m2)], axis=-1)
        n = ops.shape(x)[1]
        keep = mask[:, :, None] * mask[:, None, :] * (1.0 - ops.eye(n, dtype=x.dtype))[None]
        return features * keep[..., None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[1], 4)


@keras.saving.register_keras_serializable(package="jetflow")
class BiasedAttention(layers.Layer):
    """Multi-head attention with an additive bias per head and masked keys.

    Called on ``[query, keys, key_mask]`` or ``[query, keys, key_mask, bias]``: ``[b, q, d]``, ``[b, k, d]``,
    ``[b, k, 1]`` (1 for a real particle), ``[b, q, k, heads]``.  Per head h of width d / heads,
    ``softmax_k(q_h . k_h / sqrt(d / heads) + bias_h)`` weighs the values; a masked key has the logit
    :data:`MASKED`.  The heads are joined and mapped to ``d`` by a last dense layer."""

    def __init__(self, heads: int, dim: int, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        if dim % heads:
            raise ValueError(f"attention of width {dim} cannot be split into {heads} heads")
        self.heads, self.dim, self.dropout = heads, dim, dropout

    def build(self, input_shape):
        width = input_shape[0][-1]
        self.query = layers.Dense(self.dim, name="query")
        self.key = layers.Dense(self.dim, name="key")
        self.value = layers.Dense(self.dim, name="value")
        self.out = layers.Dense(self.dim, name="out")
        for dense, w in ((self.query, width), (self.key, input_shape[1][-1]), (self.value, input_shape[1][-1]),
                         (self.out, self.dim)):
            dense.build((None, None, w))
        self.attention_dropout = layers.Dropout(self.dropout)

    def _split(self, x):
        b, n = ops.shape(x)[0], ops.shape(x)[1]
        return ops.transpose(ops.reshape(x, (b, n, self.heads, self.dim // self.heads)), (0, 2, 1, 3))

    def call(self, inputs, training=None):
        query, keys, key_mask = inputs[:3]
        q, k, v = self._split(self.query(query)), self._split(self.key(keys)), self._split(self.value(keys))
        logits = ops.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(self.dim // self.heads)
        if len(inputs) > 3:
            logits = logits + ops.transpose(inputs[3], (0, 3, 1, 2))
        real = ops.transpose(key_mask, (0, 2, 1))[:, None, :, :] > 0.0  # [b, 1, 1, k]
        logits = ops.where(real, logits, ops.cast(MASKED, logits.dtype))
        weights = self.attention_dropout(ops.softmax(logits, axis=-1), training=training)
        joined = ops.transpose(ops.einsum("bhqk,bhkd->bhqd", weights, v), (0, 2, 1, 3))
        return self.out(ops.reshape(joined, (ops.shape(query)[0], ops.shape(query)[1], self.dim)))

    def compute_output_shape(self, input_shape):
        return (*input_shape[0][:-1], self.dim)

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "dim": self.dim, "dropout": self.dropout}


class _Block(layers.Layer):
    """What both attention blocks share: attention with its norms, and the feed-forward part."""

    biased = False  # the attention takes the interaction bias

    def __init__(self, heads: int, ffn: int, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.ffn, self.dropout = heads, ffn, dropout

    def build(self, input_shape):
        dim = input_shape[0][-1]
        self.attention = BiasedAttention(self.heads, dim, self.dropout, name="attention")
        norms = ("norm_query", "norm_keys", "norm_attention", "norm_ffn_in", "norm_ffn_hidden")
        self.norms = {n: layers.LayerNormalization(epsilon=1e-5, name=n) for n in norms}
        for n, norm in self.norms.items():
            norm.build((None, None, self.ffn if n == "norm_ffn_hidden" else dim))
        self.hidden = layers.Dense(self.ffn, activation=gelu, name="ffn_hidden")
        self.hidden.build((None, None, dim))
        self.back = layers.Dense(dim, name="ffn_out")
        self.back.build((None, None, self.ffn))
        self.drop = layers.Dropout(self.dropout)
        shapes = [(None, None, dim), (None, None, dim), (None, None, 1)]
        self.attention.build(shapes + ([(None, None, None, self.heads)] if self.biased else []))

    def _attend(self, query, keys, mask, bias=None, training=None):
        """``query + LN(MHA(LN(query), LN(keys)))``."""
        n = self.norms
        args = [n["norm_query"](query), n["norm_keys"](keys), mask] + ([bias] if bias is not None else [])
        h = n["norm_attention"](self.attention(args, training=training))
        return query + self.drop(h, training=training)

    def _feed_forward(self, x, training=None):
        """``x + Linear(LN(GELU(Linear(LN(x)))))``."""
        h = self.hidden(self.norms["norm_ffn_in"](x))
        h = self.back(self.drop(self.norms["norm_ffn_hidden"](h), training=training))
        return x + self.drop(h, training=training)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "ffn": self.ffn, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="jetflow")
class ParticleAttentionBlock(_Block):
    """[part]'s particle attention block: called on ``[x, mask, bias]`` (``[b, n, d]``, ``[b, n, 1]``,
    ``[b, n, n, heads]``), every particle attends to every real one with the interaction bias; a padded slot's
    output is 0."""

    biased = True

    def call(self, inputs, training=None):
        x, mask, bias = inputs
        x = self._attend(x, x, mask, bias, training)
        return self._feed_forward(x, training) * mask


@keras.saving.register_keras_serializable(package="jetflow")
class ClassAttentionBlock(_Block):
    """[part]'s class attention block: called on ``[token, x, mask]`` (``[b, 1, d]``, ``[b, n, d]``,
    ``[b, n, 1]``), the class token attends to itself and the real particles (no bias); returns the token."""

    def call(self, inputs, training=None):
        token, x, mask = inputs
        keys = ops.concatenate([token, x], axis=1)
        key_mask = ops.concatenate([ops.ones_like(mask[:, :1]), mask], axis=1)
        return self._feed_forward(self._attend(token, keys, key_mask, None, training), training)


@keras.saving.register_keras_serializable(package="jetflow")
class ClassToken(layers.Layer):
    """A learned ``[1, 1, d]`` token, repeated for every jet of the batch: ``[b, n, d]`` to ``[b, 1, d]``."""

    def build(self, input_shape):
        self.token = self.add_weight(name="token", shape=(1, 1, input_shape[-1]),
                                     initializer=keras.initializers.TruncatedNormal(stddev=0.02))

    def call(self, x):
        return ops.broadcast_to(ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, ops.shape(x)[-1]))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, input_shape[-1])


def part(n_particles: int = 30, size: str = "paper", embed=None, pair_embed=None, heads: int | None = None,
         blocks: int | None = None, class_blocks: int | None = None, ffn: int | None = None,
         dropout: float | None = None, regression: tuple[float, float] | None = None,
         feature_scaling=None, constituent_scaling=None) -> keras.Model:
    """The Particle Transformer (module docstring) of ``size`` (:data:`PART_SIZES`), any of its numbers
    overridden by the arguments of the same name (``model_args`` of ``jetflow train``); per-particle features
    (``constituent_scaling``: charge, particle type, impact parameters as [part] feeds them) join the
    kinematic ones before the particle embedding."""
    c = sized("part", PART_SIZES, size, embed=embed, pair_embed=pair_embed, heads=heads, blocks=blocks,
              class_blocks=class_blocks, ffn=ffn, dropout=dropout)
    inputs = keras.Input(shape=(n_particles, 4), name="constituents")
    particles = ParticleFeatures(name="particle_features")(inputs)
    mask = TakeFeatures(["mask"], name="mask")(particles)
    x = TakeFeatures(list(FEATURES), name="features")(particles)
    x, own = with_constituent_features(x, n_particles, constituent_scaling)
    for i, units in enumerate(c["embed"]):
        x = layers.LayerNormalization(epsilon=1e-5, name=f"embed_norm_{i}")(x)
        x = layers.Dense(units, activation=gelu, name=f"embed_{i}")(x)
    bias = PairFeatures(name="pair_features")(inputs)
    for i, units in enumerate(c["pair_embed"]):
        bias = layers.Dense(units, activation=gelu, name=f"pair_embed_{i}")(bias)
    bias = layers.Dense(c["heads"], name="interaction")(bias)
    for i in range(c["blocks"]):
        x = ParticleAttentionBlock(c["heads"], c["ffn"], c["dropout"], name=f"particle_block_{i}")([x, mask, bias])
    token = ClassToken(name="class_token")(x)
    for i in range(c["class_blocks"]):
        token = ClassAttentionBlock(c["heads"], c["ffn"], c["dropout"], name=f"class_block_{i}")([token, x, mask])
    token = layers.LayerNormalization(epsilon=1e-5, name="final_norm")(token)
    jet = layers.Reshape((c["embed"][-1],), name="jet")(token)
    jet, extra = with_features(jet, feature_scaling)
    return keras.Model([inputs, *own, *extra], output_head(jet, regression), name="part")
