"""The location-aware GAN of [lagan]: a locally-connected layer, the generator and the discriminator.

An auxiliary-classifier GAN (Odena et al.) conditioned on the class: the
generator maps a latent vector times a learned class embedding to a 25 x 25
jet image; the discriminator says real or generated and, through its
auxiliary output, W or QCD.  Both mix convolutions with locally-connected
layers (one kernel per output position: jet images are not translation
invariant, the centre holds the leading subjet), following the authors'
public Keras code (the ``lagan`` repository of [lagan]).

Images are in GeV; both networks work on intensities / ``scale`` (the
generator's last layer multiplies back), so the saved generator writes GeV.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

# name -> (scale, mode, distribution) of keras' VarianceScaling (the initialisers [lagan] used)
_INITIALISERS = {
    "he_uniform": (2.0, "fan_in", "uniform"),
    "he_normal": (2.0, "fan_in", "truncated_normal"),
    "glorot_uniform": (1.0, "fan_avg", "uniform"),
    "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
    "lecun_normal": (1.0, "fan_in", "truncated_normal"),
}


@keras.saving.register_keras_serializable(package="jetflow")
class LocallyConnected2D(layers.Layer):
    """A 2-D convolution without weight sharing: one kernel (and bias) per output position.

    Input ``[n, height, width, channels]``, valid padding (pad with
    ``ZeroPadding2D`` before it, as [lagan] did), ``strides`` in both
    directions.  Output ``[n, out_h, out_w, filters]`` with
    ``out = (in - kernel) // stride + 1`` and::

        y[b, i, j, f] = sum_{di, dj, c} x[b, i*s + di, j*s + dj, c] * kernel[i, j, (di, dj, c), f] + bias[i, j, f]

    Keras 3 removed its ``LocallyConnected2D``; this one gathers the
    ``kh * kw`` shifted views of the input (a loop over the kernel's offsets,
    not over jets or pixels) and contracts them with one einsum.  The
    initialisers count fan-in and fan-out per position (``kh * kw *
    channels`` and ``filters``), as Keras 2's layer did.
    """

    def __init__(self, filters: int, kernel_size, strides=1, use_bias: bool = True,
                 kernel_initializer: str = "he_uniform", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size)
        self.strides = _pair(strides)
        self.use_bias = bool(use_bias)
        if kernel_initializer not in _INITIALISERS:
            raise ValueError(f"LocallyConnected2D: kernel_initializer must be one of {', '.join(_INITIALISERS)}, "
                             f"got {kernel_initializer!r}")
        self.kernel_initializer = kernel_initializer

    def build(self, input_shape):
        _, h, w, c = input_shape
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        if h < kh or w < kw:
            raise ValueError(f"LocallyConnected2D: input {h} x {w} is smaller than the kernel {kh} x {kw}")
        self.out_shape = ((h - kh) // sh + 1, (w - kw) // sw + 1)
        positions, fan_in = self.out_shape[0] * self.out_shape[1], kh * kw * c
        scale, mode, distribution = _INITIALISERS[self.kernel_initializer]
        # drawn as one [positions * fan_in, filters] matrix: rescale so the variance is that of one position's kernel
        drawn_fans = {"fan_in": positions * fan_in, "fan_avg": (positions * fan_in + self.filters) / 2}[mode]
        wanted_fans = {"fan_in": fan_in, "fan_avg": (fan_in + self.filters) / 2}[mode]
        initializer = keras.initializers.VarianceScaling(scale * drawn_fans / wanted_fans, mode, distribution)
        self.kernel = self.add_weight(
            name="kernel", shape=(*self.out_shape, fan_in, self.filters),
            initializer=lambda shape, dtype=None: ops.reshape(
                initializer((positions * fan_in, self.filters), dtype=dtype), shape),
        )
        self.bias = (self.add_weight(name="bias", shape=(*self.out_shape, self.filters), initializer="zeros")
                     if self.use_bias else None)

    def call(self, x):
        (kh, kw), (sh, sw), (oh, ow) = self.kernel_size, self.strides, self.out_shape
        views = [x[:, di : di + sh * (oh - 1) + 1 : sh, dj : dj + sw * (ow - 1) + 1 : sw, :]
                 for di in range(kh) for dj in range(kw)]
        patches = ops.concatenate(views, axis=-1)  # [n, oh, ow, (di, dj, c)]
        y = ops.einsum("nijp,ijpf->nijf", patches, self.kernel)
        return y + self.bias if self.use_bias else y

    def compute_output_shape(self, input_shape):
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        return (input_shape[0], (input_shape[1] - kh) // sh + 1, (input_shape[2] - kw) // sw + 1, self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer}


def _pair(value) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int | np.integer) else tuple(int(v) for v in value)


def generator(latent_size: int = 200, scale: float = 1.0, filters: int = 64, channels: int = 128,
              npix: int = 25) -> keras.Model:
    """[lagan]'s generator: (latent z, class) -> image ``[n, npix, npix, 1]`` in GeV.

    z times a learned embedding of the class (glorot-normal, as the seed),
    dense to ``channels`` (128) x 7 x 7, convolution 5 x 5 (``filters``), upsample to 14,
    pad 2, locally-connected 6 x 5 x 5 (-> 14), upsample to 28,
    locally-connected 6 x 3 x 3 (-> 26), locally-connected 1 x 2 x 2 without
    bias (-> 25), ReLU (sparse images: most pixels exactly zero); LeakyReLU
    and batch normalisation between.  ``scale`` GeV is one unit of the
    networks' intensity.  Only ``npix = 25`` has this layer arithmetic.
    """
    if npix != 25:
        raise ValueError(f"the LAGAN generator makes 25 x 25 images (the seed's), not {npix} x {npix}")
    z = keras.Input((latent_size,), name="latent")
    label = keras.Input((1,), dtype="int32", name="class")
    embedding = layers.Flatten()(layers.Embedding(2, latent_size, embeddings_initializer="glorot_normal")(label))
    h = layers.Multiply()([z, embedding])
    x = layers.Dense(channels * 7 * 7)(h)
    x = layers.Reshape((7, 7, channels))(x)
    x = layers.Conv2D(filters, 5, padding="same", kernel_initializer="he_uniform")(x)
    x = layers.BatchNormalization()(layers.LeakyReLU(0.3)(x))
    x = layers.UpSampling2D(2)(x)  # 14
    x = layers.ZeroPadding2D(2)(x)  # 18
    x = LocallyConnected2D(6, 5)(x)  # 14
    x = layers.BatchNormalization()(layers.LeakyReLU(0.3)(x))
    x = layers.UpSampling2D(2)(x)  # 28
    x = LocallyConnected2D(6, 3)(x)  # 26
    x = layers.LeakyReLU(0.3)(x)
    x = LocallyConnected2D(1, 2, use_bias=False, kernel_initializer="glorot_normal")(x)  # 25
    x = layers.ReLU()(x)
    image = layers.Rescaling(scale, name="image_gev")(x)
    return keras.Model([z, label], image, name="lagan_generator")


def discriminator(scale: float = 1.0, filters: int = 32, npix: int = 25, dropout: float = 0.2) -> keras.Model:
    """[lagan]'s discriminator: image (GeV) -> (P(real), P(W)).

    Intensities / ``scale``; convolution 5 x 5 (``filters``), then three
    blocks of zero padding 1 and a locally-connected 8 x 5 x 5 layer (the
    last with stride 2), each with LeakyReLU, batch normalisation and
    dropout; average pooling 2 x 2, flattened, beside the image's summed
    intensity (the seed fed the discriminator the total energy too; here
    through a small dense layer, so that it can learn the window real images
    have it in, not only a slope) and minibatch features (Salimans et al.,
    as the seed: per learned projection, the summed exp(-L1 distance) to
    the other images of the batch, which shows a generator collapsing onto
    few images).  Two sigmoid outputs:
    ``generation`` (real) and ``auxiliary`` (the class, 1 = W).
    """
    image = keras.Input((npix, npix, 1), name="image")
    x0 = layers.Rescaling(1.0 / scale)(image)
    x = layers.Conv2D(filters, 5, padding="same")(x0)
    x = layers.Dropout(dropout)(layers.LeakyReLU(0.3)(x))
    for stride in (1, 1, 2):
        x = layers.ZeroPadding2D(1)(x)
        x = LocallyConnected2D(8, 5, strides=stride)(x)
        x = layers.Dropout(dropout)(layers.BatchNormalization()(layers.LeakyReLU(0.3)(x)))
    x = layers.Flatten()(layers.AveragePooling2D(2)(x))
    total = layers.Rescaling(float(npix * npix), name="summed_intensity")(layers.GlobalAveragePooling2D()(x0))
    total = layers.LeakyReLU(0.3)(layers.Dense(8)(total))  # a window in the summed intensity, not just a slope
    features = layers.Concatenate()([x, total, MinibatchDistance(10, 5)(x)])
    generation = layers.Dense(1, activation="sigmoid", name="generation")(features)
    auxiliary = layers.Dense(1, activation="sigmoid", name="auxiliary")(features)
    return keras.Model(image, [generation, auxiliary], name="lagan_discriminator")


@keras.saving.register_keras_serializable(package="jetflow")
class MinibatchDistance(layers.Layer):
    """Minibatch discrimination (Salimans et al., used by [lagan]): per image and kernel,
    sum over the batch of exp(-L1 distance) between learned projections."""

    def __init__(self, kernels: int, dims: int, **kwargs):
        super().__init__(**kwargs)
        self.kernels, self.dims = int(kernels), int(dims)

    def build(self, input_shape):
        self.tensor = self.add_weight(name="tensor", shape=(input_shape[-1], self.kernels * self.dims),
                                      initializer="glorot_uniform")

    def call(self, x):
        m = ops.reshape(ops.matmul(x, self.tensor), (-1, self.kernels, self.dims))
        d = ops.sum(ops.abs(ops.expand_dims(m, 0) - ops.expand_dims(m, 1)), axis=-1)  # [n, n, kernels]
        return ops.sum(ops.exp(-d), axis=0) - 1.0  # without the image itself

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.kernels)

    def get_config(self):
        return {**super().get_config(), "kernels": self.kernels, "dims": self.dims}


def latent_size_of(generator_model: keras.Model) -> int:
    return int(generator_model.inputs[0].shape[-1])
