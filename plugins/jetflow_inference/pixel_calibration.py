"""A network that calibrates a multi-channel jet image pixel by pixel (``pixelcal``).

[jet-response]'s DCNN learns the detector response from whole-image convolutions and max pooling, which keep
local maxima: how the jet's pT divides into charged, neutral-hadron and photon deposits, which the calorimeter
answers differently (non-compensation, thresholds), reaches its dense layers only as far as its filters learn to
add pixels up.  This network reads the same five-channel image the other way round, the way a calorimeter is
calibrated: tower by tower, then summed.

* :class:`PixelFeatures`: per pixel, the pT fractions of the three particle kinds, log pT, the charged
  multiplicity, log of the pT per charged particle and the pixel's position (deta, dphi, their squared radius),
  each zero on an empty pixel;
* a 3 x 3 convolution (a pixel's neighbours: a soft pile-up deposit alone, or a shower's edge) and 1 x 1
  convolutions, shared by every pixel;
* :class:`PixelSums`: one per-pixel correction factor (softplus) weighting each pixel's pT, summed: the
  calibrated response R = sum(f pT) / sum(pT); and ``latent`` learned pixel quantities, summed as they are
  (counts: how many towers the jet has, how many pile-up deposits survived mitigation) and pT-weighted (the
  jet's shape: with the positions, its mass);
* :class:`ChannelTotals`: the image's channel sums and the jet's pT fractions;
* those, with the jet features (``feature_scaling``, [jet-response]'s pT and eta), into a dense head.

``flip``: during training each image is mirrored in eta and in phi at random (:class:`TrainingFlips`; at
inference the layer is not in the graph, so the model exports to ONNX).  The detector is symmetric under both,
up to the jet's eta feature, which is not flipped.

docs/regression.md measures it against [jet-response]'s DCNN and the random forest on jet features.
References in brackets: docs/references.md.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from jetflow_inference.network_parts import PT_SCALE, output_head, with_features

CHANNELS = ("pt", "pt_charged", "pt_neutral_hadron", "pt_photon", "n_charged")
"""The image channels the network reads, in order ([jet-response]'s, ``images.channels`` of the export)."""

PIXEL_FEATURES = ("charged_fraction", "neutral_hadron_fraction", "photon_fraction", "log_pt", "n_charged",
                  "log_pt_per_charged", "delta_eta", "delta_phi", "radius_squared")
"""What :class:`PixelFeatures` returns per pixel, in order."""

_EPS = 1e-6


@keras.saving.register_keras_serializable(package="jetflow")
class TrainingFlips(layers.Layer):
    """In training, each image mirrored along axis 1 and along axis 2, each with probability 1/2; the identity
    otherwise.  (Keras' ``RandomFlip`` leaves random-number operations in the inference graph, which ONNX
    Runtime cannot load.)"""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        draws = keras.random.uniform((ops.shape(images)[0], 2), seed=self.generator)
        for axis in (1, 2):
            flip = ops.reshape(draws[:, axis - 1] < 0.5, (-1, 1, 1, 1))
            images = ops.where(flip, ops.flip(images, axis=axis), images)
        return images

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


@keras.saving.register_keras_serializable(package="jetflow")
class PixelFeatures(layers.Layer):
    """An image ``[batch, n, n, 5]`` (:data:`CHANNELS`, in units of :data:`jetflow_inference.network_parts.PT_SCALE`)
    -> ``[batch, n, n, 9]``: :data:`PIXEL_FEATURES`, zero on a pixel without pT.  Positions run from -1 to 1
    across the image (eta along axis 1, phi along axis 2)."""

    def call(self, image):
        pt = image[..., 0:1]
        mask = ops.cast(pt > 0, image.dtype)
        n = image.shape[1]
        centre = (np.arange(n) - (n - 1) / 2) / max((n - 1) / 2, 1)
        deta = np.broadcast_to(centre[:, None, None], (n, n, 1))
        dphi = np.broadcast_to(centre[None, :, None], (n, n, 1))
        grid = ops.convert_to_tensor(np.concatenate([deta, dphi, deta**2 + dphi**2], axis=-1)[None].astype("float32"))
        n_charged = image[..., 4:5]
        features = [
            image[..., 1:4] / ops.maximum(pt, _EPS),
            ops.log(pt + 1e-4),
            n_charged,
            ops.log(pt / ops.maximum(n_charged, 1.0) + 1e-4),
            ops.zeros_like(pt) + grid,
        ]
        return ops.concatenate(features, axis=-1) * mask


@keras.saving.register_keras_serializable(package="jetflow")
class PixelSums(layers.Layer):
    """``(factor, latent, image_pt)`` -> ``[batch, 1 + 2 L]``: the calibrated response
    sum(factor pT) / sum(pT), the latent pixel quantities summed over the pixels with pT (over 10, to keep
    them near 1) and their pT-weighted means."""

    def call(self, inputs):
        factor, latent, pt = inputs
        total = ops.maximum(ops.sum(pt, axis=(1, 2)), _EPS)
        response = ops.sum(factor * pt, axis=(1, 2)) / total
        latent = latent * ops.cast(pt > 0, latent.dtype)
        return ops.concatenate([response, ops.sum(latent, axis=(1, 2)) / 10.0,
                                ops.sum(latent * pt, axis=(1, 2)) / total], axis=-1)


@keras.saving.register_keras_serializable(package="jetflow")
class ChannelTotals(layers.Layer):
    """An image ``[batch, n, n, C]`` -> ``[batch, C + 3]``: each channel's sum, then the charged,
    neutral-hadron and photon fractions of the total pT."""

    def call(self, image):
        sums = ops.sum(image, axis=(1, 2))
        return ops.concatenate([sums, sums[:, 1:4] / ops.maximum(sums[:, 0:1], _EPS)], axis=-1)


def pixelcal(
    input_shape=(25, 25, 5),
    pixel_units=(32, 32),
    kernel: int = 3,
    latent: int = 16,
    dense=(64, 32),
    flip: bool = True,
    regression: tuple[float, float] | None = None,
    feature_scaling: tuple[list[float], list[float]] | None = None,
) -> keras.Model:
    """The pixel-calibration network on [jet-response]'s five-channel images (see the module's docstring):
    ``pixel_units`` per-pixel layers (the first with a ``kernel`` x ``kernel`` window, then 1 x 1), ``latent``
    learned pixel quantities, a ReLU head of ``dense`` units; a sigmoid score, or with ``regression`` a value."""
    if tuple(input_shape)[-1] != len(CHANNELS):
        raise ValueError(f"pixelcal reads images with the {len(CHANNELS)} channels {', '.join(CHANNELS)} "
                         f"([jet-response]); the input has shape {tuple(input_shape)}")
    if not pixel_units or latent < 1:
        raise ValueError(f"pixelcal needs at least one per-pixel layer and one pixel quantity: pixel_units "
                         f"{list(pixel_units)}, latent {latent}")
    image = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / PT_SCALE)(image)
    if flip:
        x = TrainingFlips(name="flips")(x)
    h = PixelFeatures(name="pixel_features")(x)
    for i, units in enumerate(pixel_units):
        h = layers.Conv2D(units, kernel if i == 0 else 1, padding="same", activation="relu")(h)
    factor = layers.Conv2D(1, 1, activation="softplus", bias_initializer=keras.initializers.Constant(1.0),
                           name="pixel_factor")(h)
    quantities = layers.Conv2D(latent, 1, activation="relu", name="pixel_quantities")(h)
    sums = PixelSums(name="pixel_sums")([factor, quantities, x[..., 0:1]])
    totals = layers.BatchNormalization(name="channel_totals_normalization")(ChannelTotals(name="channel_totals")(x))
    z = layers.Concatenate()([sums, totals])
    z, extra = with_features(z, feature_scaling)
    for units in dense:
        z = layers.Dense(units, activation="relu")(z)
    return keras.Model([image, *extra], output_head(z, regression), name="pixelcal")
