"""The equivariant point-cloud GAN of [epic-gan]: its layer, generator and discriminator.

Jets are clouds of up to ``N`` particles in JetNet's coordinates ([jetnet]: per particle eta - eta_jet,
phi - phi_jet, pT / pT_jet), zero-padded, with a mask of the real ones.  Every network here is
permutation-equivariant in the particles (each particle goes through the same maps; particles meet
only through sums and means over the cloud), so the order of a cloud means nothing, and the mask
makes the multiplicity a condition: a cloud of n particles is made by masking ``N - n``.

The EPiC layer (equivariant point cloud, [epic-gan] Fig. 1) updates a global vector ``g`` and the
particles ``p`` together::

    g <- lrelu(W2 lrelu(W1 [sum_i p_i * s, mean_i p_i, g]) + g)
    p_i <- lrelu(W4 lrelu(W3 [p_i, g]) + p_i)            (masked particles stay 0)

with ``s`` the sum's scale (the sum carries the multiplicity, the mean the shape).  The generator
maps per-particle and global Gaussian noise, the class and ``n / N`` through such layers to the
three coordinates; the discriminator maps a cloud (with its class and ``n / N``) through them to one
score, trained with the least-squares loss as [epic-gan].  jetflow's own choices (docs/design.md,
"Generated particle clouds"): the discriminator reads standardised coordinates (pT as its logarithm) and
the jet's mass computed from the cloud it judges (a deep set learns the mass of a sum of four-vectors
slowly, and W1-M judges exactly that); the generator ends in :class:`CloudOutput`, which makes the pT
fractions a softmax (positive, summing to the training jets' mean) and puts the cloud's pT-weighted
centre on the jet axis.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import keras
from keras import layers, ops

_SLOPE = 0.01  # LeakyReLU's, as [epic-gan]


def pooled(p, mask, sum_scale: float = 0.01):
    """Per jet, over the real particles of ``p [b, N, k]`` (``mask [b, N, 1]``): ``[sum_i p_i * sum_scale,
    mean_i p_i]``, ``[b, 2k]`` (the sum carries the multiplicity, the mean the shape)."""
    summed = ops.sum(p * mask, axis=1)
    return ops.concatenate([summed * sum_scale, summed / ops.maximum(ops.sum(mask, axis=1), 1.0)], axis=-1)


@keras.saving.register_keras_serializable(package="jetflow")
class EPiCLayer(layers.Layer):
    """One EPiC layer: inputs ``(g [b, latent], p [b, N, hidden], mask [b, N, 1])``, outputs the new ``(g, p)``.

    ``W3 [p_i, g]`` is computed as ``W3p p_i + W3g g`` (the global part once per jet, not per particle)."""

    def __init__(self, hidden: int, latent: int, sum_scale: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.latent, self.sum_scale = int(hidden), int(latent), float(sum_scale)
        self.global_1 = layers.Dense(self.hidden)
        self.global_2 = layers.Dense(self.latent)
        self.local_points = layers.Dense(self.hidden)
        self.local_global = layers.Dense(self.hidden, use_bias=False)
        self.local_2 = layers.Dense(self.hidden)

    def build(self, input_shapes):
        g_shape, p_shape, _ = input_shapes
        self.global_1.build((None, 2 * p_shape[-1] + g_shape[-1]))
        self.global_2.build((None, self.hidden))
        self.local_points.build((None, p_shape[-1]))
        self.local_global.build((None, g_shape[-1]))
        self.local_2.build((None, self.hidden))

    def call(self, inputs):
        g, p, mask = inputs
        g1 = ops.leaky_relu(self.global_1(ops.concatenate([pooled(p, mask, self.sum_scale), g], axis=-1)), _SLOPE)
        g = ops.leaky_relu(self.global_2(g1) + g, _SLOPE)
        l1 = ops.leaky_relu(self.local_points(p) + ops.expand_dims(self.local_global(g), 1), _SLOPE)
        p = ops.leaky_relu(self.local_2(l1) + p, _SLOPE) * mask
        return g, p

    def compute_output_shape(self, input_shapes):
        g_shape, p_shape, _ = input_shapes
        return (g_shape[0], self.latent), (*p_shape[:2], self.hidden)

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden, "latent": self.latent, "sum_scale": self.sum_scale}


@keras.saving.register_keras_serializable(package="jetflow")
class CloudCoordinates(layers.Layer):
    """The discriminator's first map: a cloud in JetNet coordinates ``(x [b, N, 3], mask [b, N, 1])`` to
    ((eta - m0) / s0, (phi - m1) / s1, (log pT - m2) / s2); masked particles 0."""

    def __init__(self, mean, std, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = [float(v) for v in mean], [float(v) for v in std]

    def call(self, inputs):
        x, mask = inputs
        y = ops.concatenate([x[..., :2], ops.log(ops.maximum(x[..., 2:], 1e-12))], axis=-1)
        return (y - ops.convert_to_tensor(self.mean)) / ops.convert_to_tensor(self.std) * mask

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package="jetflow")
class CloudOutput(layers.Layer):
    """The generator's last map, from ``(x [b, N, 3], mask [b, N, 1])`` of the network to a cloud in JetNet
    coordinates: pT_rel = ``pt_sum`` x the softmax of ``x[..., 2]`` over the real particles (every generated jet
    carries the training jets' mean summed pT_rel: their spread is 2%), and (eta_rel, phi_rel) = ``x[..., :2]`` x
    ``std`` + ``mean``, moved so that their pT-weighted centre is the jet axis, 0 (as it is for E-scheme jets, to
    first order in the angles).  Masked particles are 0."""

    def __init__(self, mean, std, pt_sum: float, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std, self.pt_sum = [float(v) for v in mean[:2]], [float(v) for v in std[:2]], float(pt_sum)

    def call(self, inputs):
        x, mask = inputs
        logits = ops.where(mask > 0, x[..., 2:], -1e9)
        fraction = ops.softmax(logits, axis=1) * mask
        angles = x[..., :2] * ops.convert_to_tensor(self.std) + ops.convert_to_tensor(self.mean)
        angles = (angles - ops.sum(fraction * angles, axis=1, keepdims=True)) * mask
        return ops.concatenate([angles, fraction * self.pt_sum], axis=-1)

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std, "pt_sum": self.pt_sum}


def jet_mass(cloud, mask):
    """The mass (units of pT_jet) of the massless particles of masked clouds ``[b, N, 3]`` in JetNet coordinates,
    ``[b]``; differentiable (a floor of 1e-10 on m^2)."""
    eta, phi, pt = cloud[..., 0], cloud[..., 1], cloud[..., 2] * mask[..., 0]
    px, py, pz = ops.sum(pt * ops.cos(phi), 1), ops.sum(pt * ops.sin(phi), 1), ops.sum(pt * ops.sinh(eta), 1)
    e = ops.sum(pt * ops.cosh(eta), 1)
    return ops.sqrt(ops.maximum(e**2 - px**2 - py**2 - pz**2, 0.0) + 1e-10)


@keras.saving.register_keras_serializable(package="jetflow")
class CloudJetFeatures(layers.Layer):
    """Per jet, from a masked cloud in JetNet coordinates ``(x [b, N, 3], mask [b, N, 1])``: the mass of its massless
    particles (units of pT_jet), standardised with ``mean``, ``std``, and ``n / N``.  (Not the summed pT: the
    generator fixes it, so it would only tell generated jets apart.)"""

    def __init__(self, mean: float, std: float, **kwargs):
        super().__init__(**kwargs)
        self.mean, self.std = float(mean), float(std)

    def call(self, inputs):
        x, mask = inputs
        features = (jet_mass(x, mask)[:, None] - self.mean) / self.std
        fraction = ops.mean(mask, axis=1)
        return ops.concatenate([features, fraction], axis=-1)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], 2)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@keras.saving.register_keras_serializable(package="jetflow")
class CloudPool(layers.Layer):
    """:func:`pooled` as a layer: ``(p [b, N, k], mask [b, N, 1])`` -> ``[b, 2k]``."""

    def call(self, inputs):
        return pooled(*inputs)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], 2 * input_shapes[0][-1])


@keras.saving.register_keras_serializable(package="jetflow")
class CloudCondition(layers.Layer):
    """The conditions of each jet, ``(label [b, 1], mask [b, N, 1])`` -> ``[b, 2]``: the class (0 / 1) and ``n / N``."""

    def call(self, inputs):
        label, mask = inputs
        return ops.concatenate([ops.cast(label, "float32"), ops.mean(mask, axis=1)], axis=-1)

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0], 2)


@keras.saving.register_keras_serializable(package="jetflow")
class Masked(layers.Layer):
    """``x * mask``: inputs ``(x [b, N, k], mask [b, N, 1])``."""

    def call(self, inputs):
        return inputs[0] * inputs[1]

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def cloud_generator(n_particles: int, stats: dict, hidden: int = 64, latent: int = 10, point_noise: int = 3,
                    epic_layers: int = 3) -> keras.Model:
    """(point noise ``[b, N, point_noise]``, global noise ``[b, latent]``, mask ``[b, N]``, class ``[b, 1]``) -> cloud
    ``[b, N, 3]`` in JetNet coordinates, masked particles 0.  ``stats``: the coordinates' ``mean`` and ``std``
    (:func:`cloud_statistics`)."""
    z_points = keras.Input((n_particles, point_noise), name="point_noise")
    z_global = keras.Input((latent,), name="global_noise")
    mask_in = keras.Input((n_particles,), name="mask")
    label = keras.Input((1,), dtype="int32", name="class")
    mask = layers.Reshape((n_particles, 1))(mask_in)
    condition = CloudCondition()([label, mask])
    g = layers.LeakyReLU(_SLOPE)(layers.Dense(latent)(layers.Concatenate()([z_global, condition])))
    p = Masked()([layers.LeakyReLU(_SLOPE)(layers.Dense(hidden)(z_points)), mask])
    for _ in range(epic_layers):
        g, p = EPiCLayer(hidden, latent)([g, p, mask])
    standardised = layers.Dense(3)(p)
    cloud = CloudOutput(stats["mean"], stats["std"], stats["jet_mean"][1], name="jetnet_coordinates")([standardised, mask])
    return keras.Model([z_points, z_global, mask_in, label], cloud, name="epic_generator")


def cloud_discriminator(n_particles: int, stats: dict, hidden: int = 64, latent: int = 10,
                        epic_layers: int = 3) -> keras.Model:
    """(cloud ``[b, N, 3]`` in JetNet coordinates, mask ``[b, N]``, class ``[b, 1]``) -> score ``[b, 1]`` (least
    squares: 1 real, 0 generated)."""
    cloud = keras.Input((n_particles, 3), name="cloud")
    mask_in = keras.Input((n_particles,), name="mask")
    label = keras.Input((1,), dtype="int32", name="class")
    mask = layers.Reshape((n_particles, 1))(mask_in)
    x = CloudCoordinates(stats["mean"], stats["std"])([cloud, mask])
    jet = CloudJetFeatures(stats["jet_mean"][0], stats["jet_std"][0])([cloud, mask])
    p = Masked()([layers.LeakyReLU(_SLOPE)(layers.Dense(hidden)(x)), mask])
    condition = CloudCondition()([label, mask])
    g = layers.LeakyReLU(_SLOPE)(layers.Dense(latent)(layers.Concatenate()([CloudPool()([p, mask]), jet, condition])))
    for _ in range(epic_layers):
        g, p = EPiCLayer(hidden, latent)([g, p, mask])
    h = layers.LeakyReLU(_SLOPE)(layers.Dense(hidden)(layers.Concatenate()([CloudPool()([p, mask]), g])))
    return keras.Model([cloud, mask_in, label], layers.Dense(1, name="score")(h), name="epic_discriminator")
