"""Sampling a trained generator: the same function, folded so that it costs a tenth.

[lagan]'s generator spends its time on two things that inference need not
repeat for every image (measured on the 2-core VM at the seed's sizes,
docs/benchmarks.md):

* a dense layer followed, with no activation between, by a 5 x 5
  convolution: two linear maps in a row are one linear map, so the
  convolution is folded into the dense layer's matrix (200 x 6,272 and
  10 million multiply-adds per image become one 200 x 3,136 matrix);
* locally-connected layers reading a nearest-neighbour upsampled map: each
  output pixel's kernel sees every source pixel 1, 2 or 4 times, so the
  kernel is summed onto the source pixels.  Output pixels ``(2m + p, 2n + q)``
  all read the same source window, so the four parities become four times
  the filters of one locally-connected layer on the source map, followed by
  a depth-to-space reshuffle (a 5 x 5 kernel on the upsampled, padded map is
  a 3 x 3 kernel on the source; 3 x 3 is 2 x 2).

Everything else (activations, batch normalisation, the embedding) is the
original layers, called again.  The folded model computes what the
generator does up to float rounding (``tests/test_gan_sampling.py`` compares
them); :func:`sample` uses it.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
from keras import layers, ops

from jetflow_gan.model import LocallyConnected2D, latent_size_of


_FOLDED: weakref.WeakSet = weakref.WeakSet()  # models sampling_model made: folding them again is a no-op


def sample(gen, classes: np.ndarray, seed: int, batch_size: int = 1024) -> np.ndarray:
    """Images of a generator for the given classes (1 = W), latent vectors drawn with ``seed``.

    Folds ``gen`` (:func:`sampling_model`) unless it is folded already: a
    caller that samples many times folds once and passes the folded model.
    """
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(len(classes), latent_size_of(gen))).astype(np.float32)
    model = sampling_model(gen)
    return model.predict([z, np.asarray(classes, np.int32).reshape(-1, 1)], batch_size=batch_size, verbose=0)


def sampling_model(gen: keras.Model) -> keras.Model:
    """``gen`` with its foldable layer runs replaced by cheaper equivalents (module docstring).

    The generator's trunk (from its first ``Dense`` on) must be a chain of
    single-input layers, as [lagan]'s is; layers that do not fold are
    reused as they are (they share ``gen``'s weights).  The folded weights
    are copies: fold again after training changes ``gen``.
    """
    if gen in _FOLDED:
        return gen
    chain = list(gen.layers)
    start = next((i for i, layer in enumerate(chain) if isinstance(layer, layers.Dense)), None)
    if start is None or start == 0:
        return gen
    trunk = chain[start:]
    for before, layer in zip(trunk, trunk[1:]):
        if layer.input is not before.output:
            return gen  # not a chain: nothing to fold safely
    x = trunk[0].input
    i = 0
    while i < len(trunk):
        for fold in (_fold_dense_convolution, _fold_upsampled_local):
            match = fold(trunk[i:])
            if match is not None:
                replacement, used = match
                for layer in replacement:
                    x = layer(x)
                i += used
                break
        else:
            x = trunk[i](x)
            i += 1
    folded = keras.Model(gen.inputs, x, name=f"{gen.name}_sampling")
    _FOLDED.add(folded)
    return folded


def _linear(layer) -> bool:
    return getattr(layer, "activation", None) is keras.activations.linear


def _fold_dense_convolution(run):
    """Dense (linear) -> Reshape -> Conv2D (linear, stride 1): one Dense, then Reshape."""
    if len(run) < 3 or not isinstance(run[0], layers.Dense) or not isinstance(run[1], layers.Reshape):
        return None
    dense, reshape, conv = run[:3]
    if not (type(conv) is layers.Conv2D and _linear(dense) and _linear(conv)
            and conv.strides == (1, 1) and conv.dilation_rate == (1, 1) and conv.groups == 1
            and conv.data_format == "channels_last" and dense.use_bias):
        return None
    shape = tuple(reshape.target_shape)
    kernel, bias = (ops.convert_to_numpy(w) for w in dense.weights[:2])
    conv_kernel = conv.kernel
    # the convolution of each basis vector's image (no bias), and of the dense bias's image plus the conv bias
    columns = ops.convert_to_numpy(ops.conv(ops.convert_to_tensor(kernel.reshape(-1, *shape)), conv_kernel,
                                            strides=1, padding=conv.padding))
    offset = ops.convert_to_numpy(ops.conv(ops.convert_to_tensor(bias.reshape(1, *shape)), conv_kernel,
                                           strides=1, padding=conv.padding))[0]
    if conv.use_bias:
        offset = offset + ops.convert_to_numpy(conv.bias)
    out_shape = columns.shape[1:]
    folded = layers.Dense(int(np.prod(out_shape)), name=f"{dense.name}_{conv.name}_folded")
    folded.build((None, kernel.shape[0]))
    folded.set_weights([columns.reshape(kernel.shape[0], -1), offset.reshape(-1)])
    return [folded, layers.Reshape(out_shape)], 3


def _fold_upsampled_local(run):
    """UpSampling2D(2, nearest) [-> ZeroPadding2D(even, symmetric)] -> LocallyConnected2D (stride 1).

    Output pixel ``(2m + p, 2n + q)`` of the locally-connected layer reads
    upsampled pixels ``2m + p + d - pad`` (``d`` in the kernel), source
    pixels ``m - pad/2 + (p + d) // 2``: a window of ``k // 2 + 1`` source
    pixels starting at ``m - pad/2`` whatever the parity.  So one
    locally-connected layer with kernel ``k // 2 + 1`` on the source map
    padded by ``pad / 2``, with filters ``(p, q, f)``, then depth-to-space.
    """
    if len(run) < 2 or not isinstance(run[0], layers.UpSampling2D):
        return None
    up = run[0]
    if tuple(up.size) != (2, 2) or up.interpolation != "nearest" or up.data_format != "channels_last":
        return None
    pad, used = 0, 1
    if isinstance(run[1], layers.ZeroPadding2D):
        (top, bottom), (left, right) = run[1].padding
        if not top == bottom == left == right or top % 2:
            return None
        pad, used = top, 2
    if len(run) <= used or type(run[used]) is not LocallyConnected2D:
        return None
    local = run[used]
    (kh, kw), strides, (oh, ow) = local.kernel_size, local.strides, local.out_shape
    if kh != kw or strides != (1, 1) or oh % 2 or ow % 2:
        return None
    k, channels, filters = kh, local.kernel.shape[2] // (kh * kw), local.filters
    ks = k // 2 + 1
    kernel = ops.convert_to_numpy(local.kernel).reshape(oh // 2, 2, ow // 2, 2, k, k, channels, filters)
    folded = np.zeros((oh // 2, ow // 2, ks, ks, channels, 2, 2, filters), np.float32)
    for p in range(2):
        for q in range(2):
            for di in range(k):
                for dj in range(k):  # a loop over the kernel's offsets, once per fold
                    folded[:, :, (p + di) // 2, (q + dj) // 2, :, p, q, :] += kernel[:, p, :, q, di, dj]
    replacement = [layers.ZeroPadding2D(pad // 2)] if pad else []
    source_local = LocallyConnected2D(4 * filters, ks, use_bias=local.use_bias, name=f"{local.name}_folded")
    in_shape = local.input.shape
    source_local.build((None, (in_shape[1] - 2 * pad) // 2 + pad, (in_shape[2] - 2 * pad) // 2 + pad, channels))
    weights = [folded.reshape(oh // 2, ow // 2, ks * ks * channels, 4 * filters)]
    if local.use_bias:
        bias = ops.convert_to_numpy(local.bias).reshape(oh // 2, 2, ow // 2, 2, filters)
        weights.append(bias.transpose(0, 2, 1, 3, 4).reshape(oh // 2, ow // 2, 4 * filters))
    source_local.set_weights(weights)
    depth_to_space = [layers.Reshape((oh // 2, ow // 2, 2, 2, filters)), layers.Permute((1, 3, 2, 4, 5)),
                      layers.Reshape((oh, ow, filters))]
    return [*replacement, source_local, *depth_to_space], used + 1
