"""Keras 3 models of the studies: ConvNet and MaxOut on jet images ([jet-images]), the
Lorentz Boost Network on constituent four-vectors ([lbn], arXiv:1812.09722).

Every custom layer is registered (package ``jetflow``) so that a saved
``.keras`` file loads with ``safe_mode=True``: no Lambda layer, no pickled code.
Input scaling lives inside the models (a ``Rescaling`` layer), so a saved model
is all that inference needs.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import contextlib

import keras
import numpy as np
from keras import layers, ops

from jetflow_inference.network_parts import PT_SCALE, output_head, with_features


@keras.saving.register_keras_serializable(package="jetflow")
class MaxOut(layers.Layer):
    """MaxOut units (Goodfellow et al., arXiv:1302.4389): the max over ``pieces`` affine maps."""

    def __init__(self, units: int, pieces: int = 5, kernel_initializer="he_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.pieces = pieces
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.dense = layers.Dense(self.units * self.pieces, kernel_initializer=self.kernel_initializer)
        self.dense.build(input_shape)

    def call(self, x):
        y = self.dense(x)
        y = ops.reshape(y, (-1, self.units, self.pieces))
        return ops.max(y, axis=-1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "pieces": self.pieces,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


BOOST_DTYPE = "float64"
"""The LBN combines, boosts and takes masses in float64 (:func:`boost`, :class:`LorentzBoost`)."""


def _float64_scope():
    """Where float64 tensors exist: everywhere but under JAX, which truncates them to float32 unless
    ``jax_enable_x64`` is set, here only for the LBN's own operations (a context, not the global switch)."""
    if keras.backend.backend() == "jax":
        import jax

        enable_x64 = getattr(jax, "enable_x64", None)  # JAX >= 0.8; before, jax.experimental's
        if enable_x64 is None:
            from jax.experimental import enable_x64
        return enable_x64(True)
    return contextlib.nullcontext()


def boost(p, r, eps: float = 1e-7):
    """Boost four-vectors ``p`` into the rest frames of ``r`` (both ``[..., 4]`` as E, px, py, pz), in float64
    (the result is float64 whatever the inputs' type).

    With beta = p_r / E_r and gamma = 1 / sqrt(1 - beta^2)::

        E' = gamma (E - beta . p)
        p' = p + beta ((gamma - 1) (beta . p) / beta^2 - gamma E)

    which is the boost matrix of [lbn] applied to ``p``.  |beta| is kept
    below 1 - eps so that massless frames stay finite.

    Why float64, and what it costs: docs/design.md ("Networks on constituents").
    """
    with _float64_scope():
        p, r = ops.cast(p, BOOST_DTYPE), ops.cast(r, BOOST_DTYPE)
        e, vec = p[..., :1], p[..., 1:]
        er = ops.maximum(r[..., :1], eps)
        beta = r[..., 1:] / er
        b2_raw = ops.sum(beta * beta, axis=-1, keepdims=True)
        b2 = ops.minimum(b2_raw, (1.0 - eps) ** 2)
        beta = beta * ops.sqrt(b2 / ops.maximum(b2_raw, 1e-30))  # shortened only where |beta| was clipped
        gamma = 1.0 / ops.sqrt(1.0 - b2)
        bp = ops.sum(beta * vec, axis=-1, keepdims=True)
        # (gamma - 1) / beta^2 = gamma^2 / (gamma + 1): finite at beta -> 0
        coef = gamma * gamma / (gamma + 1.0) * bp - gamma * e
        e_new = gamma * (e - bp)
        vec_new = vec + beta * coef
        return ops.concatenate([e_new, vec_new], axis=-1)


@keras.saving.register_keras_serializable(package="jetflow")
class LorentzBoost(layers.Layer):
    """The Lorentz Boost Network layer (Erdmann, Geiser, Rath, Rieger, arXiv:1812.09722).

    Input ``[batch, n_particles, 4]`` four-vectors (E, px, py, pz), zero-padded.
    It learns ``n_combinations`` particle combinations and as many rest-frame
    combinations (non-negative weights: sums of physical four-vectors stay
    physical), boosts each combined particle into its rest frame ("pairs"
    mode), and returns per boosted particle E, pT, eta, phi, m and the cosine
    of the angle between every pair: ``5 M + M (M - 1) / 2`` features.

    The combinations, the boost and the masses are computed in float64
    (:func:`boost` says why), the weights kept and the features returned in
    float32 (the compute dtype): a jet's features, and so its score, are the
    same to float32 rounding in any batch, on any backend, in ONNX Runtime.
    """

    def __init__(self, n_combinations: int = 10, eps: float = 1e-5, **kwargs):
        super().__init__(**kwargs)
        self.n_combinations = n_combinations
        self.eps = eps

    def build(self, input_shape):
        n = input_shape[1]
        # two initialiser instances: one instance would give both the same values, and every
        # particle would then be boosted into its own rest frame
        self.particle_weights = self.add_weight(
            name="particle_weights", shape=(n, self.n_combinations), initializer=keras.initializers.RandomUniform(0.0, 1.0)
        )
        self.frame_weights = self.add_weight(
            name="frame_weights", shape=(n, self.n_combinations), initializer=keras.initializers.RandomUniform(0.0, 1.0)
        )

    def combine(self, x):
        """Combined particles and rest frames: ``[batch, M, 4]`` each, float64."""
        with _float64_scope():
            x = ops.cast(x, BOOST_DTYPE)
            wp = ops.cast(ops.abs(self.particle_weights), BOOST_DTYPE)
            wr = ops.cast(ops.abs(self.frame_weights), BOOST_DTYPE)
            particles = ops.einsum("bnc,nm->bmc", x, wp)
            frames = ops.einsum("bnc,nm->bmc", x, wr)
            return particles, frames

    def features(self, boosted):
        """E, pT, eta, phi, m per boosted particle and the pairs' cosines, in the compute dtype: the mass (a
        difference of squares) from float64, the rest from the boosted components rounded once."""
        eps = self.eps
        with _float64_scope():
            boosted = ops.cast(boosted, BOOST_DTYPE)
            m2 = boosted[..., 0] ** 2 - ops.sum(boosted[..., 1:] ** 2, axis=-1)
            m = ops.cast(ops.sqrt(ops.maximum(m2, 0.0) + eps), self.compute_dtype)
            boosted = ops.cast(boosted, self.compute_dtype)
        e = boosted[..., 0]
        px, py, pz = boosted[..., 1], boosted[..., 2], boosted[..., 3]
        pt = ops.sqrt(px * px + py * py + eps)
        eta = ops.arcsinh(pz / pt)
        phi = ops.arctan2(py, px + eps)  # finite gradient for a vector at rest
        p3 = boosted[..., 1:]
        norm = ops.sqrt(ops.sum(p3 * p3, axis=-1, keepdims=True) + eps)
        unit = p3 / norm
        cos = ops.einsum("bic,bjc->bij", unit, unit)
        m_ = self.n_combinations
        iu = [(i, j) for i in range(m_) for j in range(i + 1, m_)]
        flat = ops.reshape(cos, (-1, m_ * m_))
        pairs = ops.take(flat, [i * m_ + j for i, j in iu], axis=1)
        return ops.concatenate([e, pt, eta, phi, m, pairs], axis=-1)

    def call(self, x):
        with _float64_scope():
            particles, frames = self.combine(x)
            return self.features(boost(particles, frames))

    def compute_output_shape(self, input_shape):
        m = self.n_combinations
        return (input_shape[0], 5 * m + m * (m - 1) // 2)

    def get_config(self):
        return {**super().get_config(), "n_combinations": self.n_combinations, "eps": self.eps}


def convnet(
    input_shape=(25, 25, 1),
    filters: int = 32,
    kernels=(11, 3, 3),
    pools=((2, 2), (3, 3), (3, 3)),
    dropout: float = 0.2,
    l2: float = 1e-4,
    dense: int = 64,
    regression: tuple[float, float] | None = None,
    feature_scaling: tuple[list[float], list[float]] | None = None,
) -> keras.Model:
    """[jet-images]'s ConvNet: [Dropout -> Conv -> ReLU -> MaxPool] x 3 -> Dropout -> Dense -> ReLU -> Dropout -> sigmoid
    (a regressor: a linear output in the target's units, see :func:`jetflow_inference.network_parts.output_head`; jet features join the
    flattened image, see :func:`jetflow_inference.network_parts.with_features`)."""
    reg = keras.regularizers.L2(l2) if l2 else None
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / PT_SCALE)(inputs)
    for k, pool in zip(kernels, pools):
        x = layers.Dropout(dropout)(x)
        x = layers.Conv2D(filters, k, padding="same", kernel_regularizer=reg)(x)
        x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(pool, padding="same")(x)
    x = layers.Flatten()(x)
    x, extra = with_features(x, feature_scaling)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(dense, kernel_regularizer=reg)(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout)(x)
    return keras.Model([inputs, *extra], output_head(x, regression), name="convnet")


@keras.saving.register_keras_serializable(package="jetflow")
class LogIntensity(layers.Layer):
    """ln(1 + x): pixel intensities (in units of 100 GeV) on a logarithmic scale."""

    def call(self, x):
        return ops.log1p(ops.maximum(x, 0.0))


def maxout(input_shape=(25, 25, 1), units=(256, 128), pieces: int = 5, dense=(64, 25),
           dropout: float | tuple[float, ...] = 0.3, kernel_initializer: str = "he_uniform", log_input: bool = False,
           regression: tuple[float, float] | None = None, feature_scaling=None) -> keras.Model:
    """[jet-images]'s MaxOut network on flattened images: MaxOut 256, 128 (5 pieces) -> ReLU 64 -> ReLU 25 -> sigmoid.

    ``dropout``: after every hidden layer, or one rate per layer (MaxOut ones, then dense ones; 0: none);
    ``kernel_initializer`` of every layer's weights; ``log_input``: the network reads ln(1 + pT / 100 GeV) of each
    pixel instead of pT / 100 GeV (the ablations of docs/study.md)."""
    hidden = len(units) + len(dense)
    rates = [float(dropout)] * hidden if np.isscalar(dropout) else [float(r) for r in dropout]
    if len(rates) != hidden:
        raise ValueError(f"maxout: dropout has {len(rates)} rates for {hidden} hidden layers")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / PT_SCALE)(inputs)
    if log_input:
        x = LogIntensity()(x)
    x = layers.Flatten()(x)
    x, extra = with_features(x, feature_scaling)
    x = _maxout_hidden(x, units, dense, pieces, rates, kernel_initializer)
    return keras.Model([inputs, *extra], output_head(x, regression), name="maxout")


def _maxout_hidden(x, units, dense, pieces: int, rates: list[float], kernel_initializer: str):
    """MaxOut layers of ``units``, then ReLU layers of ``dense``, each followed by its dropout rate (if > 0)."""
    for k, width in enumerate([*units, *dense]):
        if k < len(units):
            x = MaxOut(width, pieces, kernel_initializer)(x)
        else:
            x = layers.Dense(width, activation="relu", kernel_initializer=kernel_initializer)(x)
        if rates[k] > 0:
            x = layers.Dropout(rates[k])(x)
    return x


def lbn(n_particles: int = 30, n_combinations: int = 10, dense=(64, 64), dropout: float = 0.1,
        regression: tuple[float, float] | None = None, feature_scaling=None) -> keras.Model:
    """LBN on the ``n_particles`` leading constituents: LBN features -> BatchNorm -> dense head -> sigmoid
    (a regressor, [lbn]'s challenge solution: the same with a linear output, and the jet and soft-drop
    jet kinematics as ``features`` beside the LBN's)."""
    inputs = keras.Input(shape=(n_particles, 4), name="constituents")
    x = layers.Rescaling(1.0 / PT_SCALE)(inputs)
    x = LorentzBoost(n_combinations)(x)
    x = layers.BatchNormalization()(x)
    x, extra = with_features(x, feature_scaling)
    for d in dense:
        x = layers.Dense(d, activation="relu", kernel_initializer="he_uniform")(x)
        x = layers.Dropout(dropout)(x)
    return keras.Model([inputs, *extra], output_head(x, regression), name="lbn")


def dcnn(
    input_shape=(25, 25, 5),
    filters=(20, 10, 8, 6, 4),
    kernels=(11, 7, 5, 5, 5),
    pools=((2, 2), (3, 3), None, (2, 2), None),
    dense=(20, 20),
    dropout: float = 0.08,
    channel_sums: bool = False,
    regression: tuple[float, float] | None = None,
    feature_scaling: tuple[list[float], list[float]] | None = None,
) -> keras.Model:
    """[jet-response]'s DCNN on multi-channel images: tanh convolutions 20 (11 x 11) -> pool 2 -> 10 (7 x 7)
    -> pool 3 -> 8 (5 x 5) -> 6 (5 x 5) -> pool 2 -> 4 (5 x 5), flatten, dense 20 sigmoid and 20 softplus
    with dropout 0.08, linear output.  The talk also merged the jet's eta and pT into the dense
    layers: jet features (``feature_scaling``) join the flattened image.

    ``channel_sums``: the image's per-channel sums (batch-normalised) join
    the flattened image too.  Not in [jet-response]: max pooling keeps
    local maxima, so the seed's network sees the jet's composition (how its
    pT divides into charged, neutral-hadron and photon deposits, which the
    detector responds to differently) only as far as its convolutions
    learn to add pixels up.  The sums are a function of the image: the
    network's inputs are the same."""
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    scaled = x = layers.Rescaling(1.0 / PT_SCALE)(inputs)
    for f, k, pool in zip(filters, kernels, pools):
        x = layers.Conv2D(f, k, padding="same", activation="tanh")(x)
        if pool is not None:
            x = layers.MaxPooling2D(pool, padding="same")(x)
    x = layers.Flatten()(x)
    if channel_sums:
        sums = layers.Rescaling(float(input_shape[0] * input_shape[1]), name="channel_sums")(
            layers.GlobalAveragePooling2D()(scaled))
        x = layers.Concatenate()([x, layers.BatchNormalization(name="channel_sums_normalization")(sums)])
    x, extra = with_features(x, feature_scaling)
    for units, activation in zip(dense, ("sigmoid", "softplus")):
        x = layers.Dense(units, activation=activation)(x)
        x = layers.Dropout(dropout)(x)
    return keras.Model([inputs, *extra], output_head(x, regression), name="dcnn")


def fisher(input_shape=(25, 25, 1)) -> keras.Model:
    """Fisher's linear discriminant on flattened images ([jet-images]): sigmoid(w . x + b).

    The weights are not learned by gradient descent: ``jetflow train --model
    fisher`` sets them in closed form (:func:`fisher_weights`).
    """
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = layers.Rescaling(1.0 / PT_SCALE)(inputs)
    x = layers.Flatten()(x)
    outputs = layers.Dense(1, activation="sigmoid", name="score")(x)
    return keras.Model(inputs, outputs, name="fisher")


def fisher_weights(x: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float = 1e-3) -> tuple[np.ndarray, float]:
    """Fisher's discriminant direction (Sigma_S + Sigma_B + lambda I)^-1 (mu_S - mu_B), weighted.

    ``lambda`` is ``ridge`` times the mean variance (empty pixels make the
    covariance singular).  The direction is scaled so that the projection has
    unit standard deviation and zero mean, so the sigmoid output does not
    saturate.
    """
    x = x.reshape(len(x), -1).astype(np.float64)
    mus, covs = [], []
    for lab in (1, 0):
        sel = y == lab
        ws = w[sel] / w[sel].sum()
        mu = ws @ x[sel]
        d = x[sel] - mu
        covs.append((d * ws[:, None]).T @ d)
        mus.append(mu)
    cov = covs[0] + covs[1]
    cov += ridge * np.trace(cov) / len(cov) * np.eye(len(cov))
    direction = np.linalg.solve(cov, mus[0] - mus[1])
    proj = x @ direction
    scale = proj.std() or 1.0
    return direction / scale, float(-proj.mean() / scale)


def fit_fisher(request):
    """The fit of the model kind ``fisher`` (:class:`jetflow_inference.fitting.FitRequest` -> ``Fitted``): the
    network of :func:`fisher` with the weights of :func:`fisher_weights` on the training jets, saved."""
    from jetflow.core.atomic import atomic_write

    from jetflow_inference.fitting import Fitted, keras_versions, network_args, recorded_loss

    s = request.settings
    x_train = request.train_inputs[0]
    args = network_args(request.kind, s.model_args, x_train, s.n_particles)
    model = request.kind.builder()(**args)
    direction, bias = fisher_weights(x_train / PT_SCALE, request.yt, request.wt)
    model.get_layer("score").set_weights([direction[:, None].astype(np.float32), np.array([bias], np.float32)])
    with atomic_write(request.out, "model") as tmp:
        model.save(tmp)
    predictions = model.predict(request.val_inputs[0], batch_size=1024, verbose=0)[:, 0]
    return Fitted(args, [{"loss": []}], predictions, recorded_loss(s, None), keras_versions())
