"""Particle-cloud networks on a jet's constituents: Energy and Particle Flow Networks ([efn], deep sets) and a
ParticleNet-style network of EdgeConv blocks ([particlenet], a dynamic graph of k nearest neighbours).

All three read what the LBN reads, the ``constituents`` input: the N leading four-vectors (E, px, py, pz) of the
jet, zero-padded (:func:`jetflow.physics.constituent_four_vectors`).  The per-particle features are computed
inside the model (:class:`ParticleFeatures`), relative to the jet axis (the sum of the N constituents), so the
export and inference feed the same array to every constituent network and a saved model needs nothing else.
A padded slot has E = 0 and is masked everywhere: it adds nothing to a sum, is nobody's neighbour, and does
not enter the batch-normalisation statistics.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from jetflow_inference.network_parts import PT_SCALE, output_head, sized, with_constituent_features, with_features

FEATURES = ("z", "delta_eta", "delta_phi", "u", "v", "log_pt", "log_e", "delta_r")
"""What :class:`ParticleFeatures` returns per particle, in order (then the mask)."""

_EPS = 1e-8


def principal_frame(z, deta, dphi):
    """The angles in the jet's principal frame, ``(u, v)``: rotated so that the z-weighted second moments are
    diagonal with the larger along u, each axis flipped so that its z-weighted third moment is not negative
    (the second prong of a two-prong jet at positive u).  What the jet-image preprocessing does to pixels
    ([jet-images]: rotate, flip), done to particles; it depends on the z-weighted moments only, so it is
    infrared and collinear safe."""
    see = ops.sum(z * deta * deta, axis=1)
    spp = ops.sum(z * dphi * dphi, axis=1)
    sep = ops.sum(z * deta * dphi, axis=1)
    theta = 0.5 * ops.arctan2(2.0 * sep, see - spp)
    c, s = ops.cos(theta)[:, None], ops.sin(theta)[:, None]
    u = c * deta + s * dphi
    v = -s * deta + c * dphi
    u = u * ops.where(ops.sum(z * u * u * u, axis=1, keepdims=True) < 0.0, -1.0, 1.0)
    v = v * ops.where(ops.sum(z * v * v * v, axis=1, keepdims=True) < 0.0, -1.0, 1.0)
    return u, v


@keras.saving.register_keras_serializable(package="jetflow")
class ParticleFeatures(layers.Layer):
    """Zero-padded four-vectors ``[batch, n, 4]`` (E, px, py, pz, GeV) to ``[batch, n, 9]``: per particle its
    pT fraction z = pT / pT_jet, delta eta and delta phi (wrapped to (-pi, pi]) from the jet axis (the summed
    four-vector), the same angles in the jet's principal frame (u, v: :func:`principal_frame`),
    log(pT / 100 GeV), log(E / 100 GeV), delta R, then the mask (1 for a particle, 0 for a padded slot, E = 0).
    Every feature of a padded slot is 0."""

    def call(self, x):
        e, px, py, pz = x[..., 0], x[..., 1], x[..., 2], x[..., 3]
        mask = ops.cast(e > 0.0, x.dtype)
        jet = ops.sum(x, axis=1)
        jet_pt = ops.sqrt(jet[:, 1] ** 2 + jet[:, 2] ** 2) + _EPS
        jet_eta = ops.arcsinh(jet[:, 3] / jet_pt)
        jet_phi = ops.arctan2(jet[:, 2], jet[:, 1])
        pt = ops.sqrt(px * px + py * py)
        eta = ops.arcsinh(pz / (pt + _EPS))
        dphi = ops.arctan2(py, px) - jet_phi[:, None]
        dphi = ops.arctan2(ops.sin(dphi), ops.cos(dphi))
        deta = eta - jet_eta[:, None]
        z = pt / jet_pt[:, None] * mask
        u, v = principal_frame(z, deta, dphi)
        features = ops.stack([
            z,
            deta,
            dphi,
            u,
            v,
            ops.log(pt / PT_SCALE + _EPS),
            ops.log(e / PT_SCALE + _EPS),
            ops.sqrt(deta * deta + dphi * dphi + _EPS),
        ], axis=-1)
        return ops.concatenate([features * mask[..., None], mask[..., None]], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(FEATURES) + 1)


@keras.saving.register_keras_serializable(package="jetflow")
class TakeFeatures(layers.Layer):
    """The named channels of :class:`ParticleFeatures`' output (``mask`` for the mask), in the order given."""

    def __init__(self, names, **kwargs):
        super().__init__(**kwargs)
        self.names = list(names)
        self._index = [(*FEATURES, "mask").index(n) for n in self.names]

    def call(self, x):
        return ops.take(x, self._index, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], len(self.names))

    def get_config(self):
        return {**super().get_config(), "names": self.names}


@keras.saving.register_keras_serializable(package="jetflow")
class WeightedSum(layers.Layer):
    """``sum_i w_i Phi_i``: ``[batch, n, l]`` per-particle latents and ``[batch, n, 1]`` weights (z for the EFN,
    the mask for the PFN) to ``[batch, l]``."""

    def call(self, inputs):
        latent, weight = inputs
        return ops.sum(latent * weight, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][-1])


@keras.saving.register_keras_serializable(package="jetflow")
class EdgeConv(layers.Layer):
    """One EdgeConv block of [particlenet]: for every particle i its ``k`` nearest particles j in the space of
    ``coordinates`` (padded slots are never neighbours; i is not its own), the edge features
    (x_i, x_j - x_i) through a shared MLP of ``channels`` (Dense, batch norm, ReLU), averaged over the real
    neighbours, plus a linear shortcut of x_i, then ReLU; a padded slot's output is 0.

    Called on ``[coordinates, features, mask]`` (``[b, n, d]``, ``[b, n, c]``, ``[b, n, 1]``)."""

    def __init__(self, k: int = 7, channels=(32, 32, 32), **kwargs):
        super().__init__(**kwargs)
        self.k = k
        self.channels = tuple(channels)

    def build(self, input_shape):
        features_shape = input_shape[1]
        n, c = features_shape[1], features_shape[2]
        if n is not None and n <= self.k:
            raise ValueError(f"EdgeConv with k={self.k} needs more than k particles per jet, got {n}")
        self.dense = []
        self.norm = []
        width = 2 * c
        for i, units in enumerate(self.channels):
            d = layers.Dense(units, use_bias=False, name=f"edge_dense_{i}")
            d.build((None, None, None, width))
            b = layers.BatchNormalization(name=f"edge_norm_{i}")
            b.build((None, None, None, units))
            self.dense.append(d)
            self.norm.append(b)
            width = units
        self.shortcut = layers.Dense(self.channels[-1], use_bias=False, name="shortcut")
        self.shortcut.build((None, None, c))
        self.shortcut_norm = layers.BatchNormalization(name="shortcut_norm")
        self.shortcut_norm.build((None, None, self.channels[-1]))

    def neighbours(self, coordinates, mask):
        """``[b, n, k]`` indices of each particle's k nearest other particles (padded slots last)."""
        n = ops.shape(coordinates)[1]
        distance = ops.sum((coordinates[:, :, None, :] - coordinates[:, None, :, :]) ** 2, axis=-1)
        # equidistant neighbours (towers on a grid) are ordered by slot, the harder particle first, and not by
        # the last bits of each backend's rounding: a relative step of 1e-4 / n per slot is far above float32's
        slot = ops.cast(ops.arange(n), coordinates.dtype)[None, None, :]
        distance = distance * (1.0 + 1e-4 * slot / ops.cast(n, coordinates.dtype)) + 1e-12 * slot
        # padded slots far, a particle itself farther still: a jet of fewer than k + 1 particles fills its list
        # with padded slots (masked in the mean), never with itself
        far = 1e9 * (1.0 - mask[:, None, :, 0]) + 2e9 * ops.eye(n, dtype=coordinates.dtype)[None]
        _, index = ops.top_k(-(distance + far), self.k)
        return index

    def call(self, inputs, training=None):
        coordinates, x, mask = inputs
        index = self.neighbours(coordinates, mask)
        batch, n, c = ops.shape(x)[0], ops.shape(x)[1], ops.shape(x)[2]
        offset = ops.reshape(ops.arange(batch, dtype=index.dtype) * n, (-1, 1, 1))
        flat = ops.reshape(index + offset, (-1,))
        neighbour = ops.reshape(ops.take(ops.reshape(x, (-1, c)), flat, axis=0), (batch, n, self.k, c))
        neighbour_mask = ops.reshape(ops.take(ops.reshape(mask, (-1,)), flat, axis=0), (batch, n, self.k))
        edge_mask = neighbour_mask * mask[..., 0][:, :, None]
        centre = ops.repeat(x[:, :, None, :], self.k, axis=2)
        h = ops.concatenate([centre, neighbour - centre], axis=-1)
        for dense, norm in zip(self.dense, self.norm):
            h = ops.relu(norm(dense(h), training=training, mask=edge_mask))
        summed = ops.sum(h * edge_mask[..., None], axis=2)
        mean = summed / ops.maximum(ops.sum(edge_mask, axis=2, keepdims=True), 1.0)
        shortcut = self.shortcut_norm(self.shortcut(x), training=training, mask=mask[..., 0])
        return ops.relu(mean + shortcut) * mask

    def compute_output_shape(self, input_shape):
        return (*input_shape[1][:-1], self.channels[-1])

    def get_config(self):
        return {**super().get_config(), "k": self.k, "channels": list(self.channels)}


@keras.saving.register_keras_serializable(package="jetflow")
class MaskedMean(layers.Layer):
    """The mean over a jet's real particles: ``[[b, n, c], [b, n, 1]]`` to ``[b, c]``."""

    def call(self, inputs):
        x, mask = inputs
        return ops.sum(x * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][-1])


def _deep_set(name: str, phi_inputs, weight_name: str, n_particles, phi, f, dropout, regression, feature_scaling,
              constituent_scaling, normalise_sum: bool = False):
    inputs = keras.Input(shape=(n_particles, 4), name="constituents")
    particles = ParticleFeatures(name="particle_features")(inputs)
    x = TakeFeatures(phi_inputs, name="phi_inputs")(particles)
    x, own = with_constituent_features(x, n_particles, constituent_scaling)
    for i, units in enumerate(phi):
        x = layers.Dense(units, activation="relu", kernel_initializer="he_uniform", name=f"phi_{i}")(x)
    x = WeightedSum(name="sum")([x, TakeFeatures([weight_name], name="weights")(particles)])
    if normalise_sum:
        x = layers.BatchNormalization(name="sum_norm")(x)
    x, extra = with_features(x, feature_scaling)
    for i, units in enumerate(f):
        x = layers.Dense(units, activation="relu", kernel_initializer="he_uniform", name=f"f_{i}")(x)
        x = layers.Dropout(dropout)(x)
    return keras.Model([inputs, *own, *extra], output_head(x, regression), name=name)


def efn(n_particles: int = 30, phi=(100, 100, 128), f=(100, 100, 100), dropout: float = 0.0,
        regression: tuple[float, float] | None = None, feature_scaling=None, constituent_scaling=None) -> keras.Model:
    """[efn]'s Energy Flow Network: F(sum_i z_i Phi(u_i, v_i)), the angles in the jet's principal frame (rotated
    and flipped as jet images are; [efn] fed centred angles, and the EFN learns better when the W's two prongs
    lie along one axis).  Phi sees only the angles and
    the sum is weighted by the pT fraction z, so the jet's representation is infrared and collinear safe (a
    zero-energy particle adds nothing; a collinear split adds the same).  Per-particle features
    (``constituent_scaling``) join the angles in Phi: the sum stays infrared safe, collinear safety is theirs."""
    return _deep_set("efn", ["u", "v"], "z", n_particles, phi, f, dropout, regression, feature_scaling,
                     constituent_scaling)


def pfn(n_particles: int = 30, phi=(100, 100, 128), f=(100, 100, 100), dropout: float = 0.0,
        regression: tuple[float, float] | None = None, feature_scaling=None, constituent_scaling=None) -> keras.Model:
    """[efn]'s Particle Flow Network: F(sum_i Phi(p_i)) over the real particles, Phi on every feature of
    :class:`ParticleFeatures` and the per-particle features of the training (charge, particle type, ...).  The sum grows
    with the number of particles (up to N x Phi's scale) and saturated F's output from the start: it is batch
    normalised before F (in inference a fixed affine map, so each jet's score is still its own)."""
    return _deep_set("pfn", list(FEATURES), "mask", n_particles, phi, f, dropout, regression, feature_scaling,
                     constituent_scaling, normalise_sum=True)


PARTICLENET_SIZES = {
    "lite": {"k": 7, "blocks": ((32, 32, 32), (64, 64, 64)), "dense": 128, "dropout": 0.1},
    "full": {"k": 16, "blocks": ((64, 64, 64), (128, 128, 128), (256, 256, 256)), "dense": 256, "dropout": 0.1},
}
"""[particlenet]'s two sizes: ParticleNet-Lite and ParticleNet."""


def particlenet(n_particles: int = 30, size: str = "lite", k: int | None = None, blocks=None, dense: int | None = None,
                dropout: float | None = None, regression: tuple[float, float] | None = None,
                feature_scaling=None, constituent_scaling=None) -> keras.Model:
    """[particlenet]'s network of ``size`` (:data:`PARTICLENET_SIZES`; any number overridden by the argument of
    its name): EdgeConv blocks with k nearest neighbours (Lite: 7, two blocks of 32 and 64 channels; full: 16,
    three blocks of 64, 128 and 256), the first in the angles (u, v: the distances of delta eta and delta phi),
    each later one in the previous block's features (the dynamic graph), a masked mean over the particles, a
    dense layer (128; full: 256) with ReLU and dropout 0.1, the output.  Per-particle features
    (``constituent_scaling``) join the first block's features, not its coordinates."""
    c = sized("particlenet", PARTICLENET_SIZES, size, k=k, blocks=blocks, dense=dense, dropout=dropout)
    k, blocks, dense, dropout = c["k"], c["blocks"], c["dense"], c["dropout"]
    inputs = keras.Input(shape=(n_particles, 4), name="constituents")
    particles = ParticleFeatures(name="particle_features")(inputs)
    mask = TakeFeatures(["mask"], name="mask")(particles)
    coordinates = TakeFeatures(["u", "v"], name="coordinates")(particles)
    x = TakeFeatures(list(FEATURES), name="features")(particles)
    x, own = with_constituent_features(x, n_particles, constituent_scaling)
    for i, channels in enumerate(blocks):
        x = EdgeConv(k, channels, name=f"edge_conv_{i}")([coordinates, x, mask])
        coordinates = x
    x = MaskedMean(name="mean")([x, mask])
    x, extra = with_features(x, feature_scaling)
    x = layers.Dense(dense, activation="relu", name="head")(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model([inputs, *own, *extra], output_head(x, regression), name="particlenet")
