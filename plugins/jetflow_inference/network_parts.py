"""What every network of the inference plugin shares: the unit its four-vectors and images are fed in, the jet
features joined to its representation, its output (a score, or a regressor's value in the target's units) and
[lbn]'s regression loss.

Every layer and loss here is registered (package ``jetflow``) so that a saved ``.keras`` file loads with
``safe_mode=True``.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

PT_SCALE = 100.0
"""Images and four-vectors are fed in units of 100 GeV."""


def sized(network: str, sizes: dict[str, dict], size: str, **given) -> dict:
    """The numbers of ``network`` at ``size`` (one of ``sizes``), each replaced by the argument of its name that
    is not ``None`` (a builder's ``model_args``); a ``ValueError`` naming the sizes for an unknown one."""
    if size not in sizes:
        raise ValueError(f"{network}: size must be one of {', '.join(sizes)}, got {size!r}")
    return {**sizes[size], **{k: v for k, v in given.items() if v is not None}}


def output_head(x, regression: tuple[float, float] | None):
    """The last layer: a sigmoid score (``score``), or for a regressor a linear value mapped to the
    target's units by its mean and spread (``prediction`` = mean + spread * linear)."""
    if regression is None:
        return layers.Dense(1, activation="sigmoid", name="score")(x)
    mean, spread = regression
    x = layers.Dense(1, name="linear")(x)
    return layers.Rescaling(float(spread), offset=float(mean), name="prediction")(x)


def with_features(x, feature_scaling):
    """Join jet features (an input ``features``, standardised by :class:`Standardize` with
    ``feature_scaling = (means, variances)``, one per feature) to ``x``.  Returns ``(x, extra inputs)``."""
    if not feature_scaling:
        return x, []
    mean, variance = feature_scaling
    features = keras.Input(shape=(len(mean),), name="features")
    normalised = Standardize(mean, variance, name="features_normalization")(features)
    return layers.Concatenate(name="with_features")([x, normalised]), [features]


def with_constituent_features(x, n_particles: int, constituent_scaling):
    """Join per-particle features (an input ``constituent_features`` ``[N, k]``, standardised by
    :class:`Standardize` with ``constituent_scaling = (means, variances)`` over the real particles) to the
    per-particle tensor ``x`` ``[N, c]``.  Returns ``(x, extra inputs)``."""
    if not constituent_scaling:
        return x, []
    mean, variance = constituent_scaling
    extra = keras.Input(shape=(n_particles, len(mean)), name="constituent_features")
    normalised = Standardize(mean, variance, name="constituent_features_normalization")(extra)
    return layers.Concatenate(axis=-1, name="with_constituent_features")([x, normalised]), [extra]


@keras.saving.register_keras_serializable(package="jetflow")
class Standardize(layers.Layer):
    """``(x - mean) / sqrt(variance)`` per feature, with the training set's values held as constants of the graph
    (not as state: an ONNX export then needs no extra inputs; a zero variance divides by 1)."""

    def __init__(self, mean, variance, **kwargs):
        super().__init__(**kwargs)
        self.mean = [float(v) for v in mean]
        self.variance = [float(v) for v in variance]

    def call(self, x):
        std = np.sqrt(np.asarray(self.variance, dtype="float32"))
        std = np.where(std > 0, std, 1.0).astype("float32")
        return (x - np.asarray(self.mean, dtype="float32")) / std

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "variance": self.variance}


@keras.saving.register_keras_serializable(package="jetflow")
class CentralRatioMSE(keras.losses.Loss):
    """[lbn]'s robust regression loss: the mean squared deviation of prediction / truth from 1 over
    the central ``fraction`` of each batch's ratios (the tails, which the challenge's metric
    ignores, do not pull the fit)."""

    def __init__(self, fraction: float = 0.74, name: str = "central_ratio_mse", **kwargs):
        super().__init__(name=name, **kwargs)
        self.fraction = fraction

    def call(self, y_true, y_pred):
        ratio = ops.reshape(y_pred, (-1,)) / ops.maximum(ops.reshape(y_true, (-1,)), 1e-6)
        n = ops.shape(ratio)[0]
        ordered = ops.sort(ratio)
        last = ops.cast(n, "float32") - 1.0
        lo = ops.take(ordered, ops.cast(ops.round(0.5 * (1.0 - self.fraction) * last), "int32"))
        hi = ops.take(ordered, ops.cast(ops.round(0.5 * (1.0 + self.fraction) * last), "int32"))
        central = ops.cast((ratio >= lo) & (ratio <= hi), ratio.dtype)
        share = ops.sum(central) / ops.cast(n, ratio.dtype)
        return central * (ratio - 1.0) ** 2 / ops.maximum(share, 1e-6)

    def get_config(self):
        return {**super().get_config(), "fraction": self.fraction}
