"""The generator folded for sampling computes what the generator computes (jetflow_gan.sampling)."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras import layers  # noqa: E402

from jetflow_gan.model import LocallyConnected2D, generator  # noqa: E402
from jetflow_gan.sampling import sample, sampling_model  # noqa: E402


def randomise(model, seed=0):
    """Every weight random, batch-norm variances positive: a fold that drops a bias or a shift shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        values = []
        for w in layer.weights:
            v = rng.normal(scale=0.5, size=w.shape)
            if "variance" in w.path:
                v = rng.uniform(0.5, 2.0, size=w.shape)
            values.append(v.astype("float32"))
        if values:
            layer.set_weights(values)


def layer_types(model):
    return {type(layer) for layer in model.layers}


def predictions(model, n=40, seed=1):
    rng = np.random.default_rng(seed)
    inputs = [rng.normal(size=(n, *inp.shape[1:])).astype("float32") for inp in model.inputs]
    if len(model.inputs) == 2:
        inputs[1] = (np.arange(n) % 2).reshape(-1, 1).astype("int32")
    else:
        (inputs,) = inputs
    return model.predict(inputs, verbose=0), inputs


def assert_same_function(model, folded):
    expected, inputs = predictions(model)
    got = folded.predict(inputs, verbose=0)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_sampling_model_of_the_lagan_generator_is_the_generator():
    gen = generator(latent_size=16, scale=4.0, filters=8, channels=12)
    randomise(gen)
    folded = sampling_model(gen)
    # both folds happened: no convolution and no upsampling left, three locally-connected layers still
    assert layers.Conv2D not in layer_types(folded) and layers.UpSampling2D not in layer_types(folded)
    assert sum(isinstance(layer, LocallyConnected2D) for layer in folded.layers) == 3
    assert_same_function(gen, folded)
    assert sampling_model(folded) is folded  # folding once is enough
    # sample() draws the same latent vectors with the same seed, and uses the folded model
    classes = np.array([0, 1, 1, 0, 1])
    z = np.random.default_rng(9).normal(size=(5, 16)).astype("float32")
    np.testing.assert_allclose(sample(gen, classes, seed=9), gen.predict([z, classes.reshape(-1, 1)], verbose=0),
                               rtol=1e-4, atol=1e-4)


def upsampled_local(pad, kernel, use_bias, source=6, channels=3, filters=2):
    x = inp = keras.Input((10,))
    x = layers.Dense(source * source * channels)(x)
    x = layers.Reshape((source, source, channels))(x)
    x = layers.UpSampling2D(2)(x)
    if pad:
        x = layers.ZeroPadding2D(pad)(x)
    x = LocallyConnected2D(filters, kernel, use_bias=use_bias)(x)
    x = layers.LeakyReLU(0.3)(x)
    return keras.Model(inp, x)


@pytest.mark.parametrize("pad,kernel,use_bias", [(2, 5, True), (0, 3, True), (0, 5, False), (4, 3, True),
                                                 (2, 3, False)])
def test_locally_connected_after_upsampling_folds_onto_the_source_map(pad, kernel, use_bias):
    model = upsampled_local(pad, kernel, use_bias)
    randomise(model, seed=pad + kernel)
    folded = sampling_model(model)
    assert layers.UpSampling2D not in layer_types(folded)
    assert_same_function(model, folded)


@pytest.mark.parametrize("pad,kernel", [(0, 2), (1, 3)])
def test_layers_that_do_not_fold_are_kept(pad, kernel):
    # an even kernel (odd output size) or odd padding: the parities do not share source windows
    model = upsampled_local(pad, kernel, True)
    randomise(model, seed=3)
    folded = sampling_model(model)
    assert layers.UpSampling2D in layer_types(folded)
    assert_same_function(model, folded)


def test_a_nonlinear_dense_is_not_folded_into_the_convolution():
    inp = keras.Input((10,))
    x = layers.Dense(4 * 4 * 3, activation="relu")(inp)
    x = layers.Conv2D(5, 3, padding="same")(layers.Reshape((4, 4, 3))(x))
    model = keras.Model(inp, x)
    randomise(model, seed=5)
    folded = sampling_model(model)
    assert layers.Conv2D in layer_types(folded)
    assert_same_function(model, folded)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_a_linear_dense_and_convolution_become_one_dense(padding):
    inp = keras.Input((10,))
    x = layers.Dense(5 * 5 * 3)(inp)
    x = layers.Conv2D(4, 3, padding=padding)(layers.Reshape((5, 5, 3))(x))
    model = keras.Model(inp, layers.LeakyReLU(0.3)(x))
    randomise(model, seed=6)
    folded = sampling_model(model)
    assert layers.Conv2D not in layer_types(folded)
    assert_same_function(model, folded)
