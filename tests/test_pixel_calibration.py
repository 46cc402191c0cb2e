"""The pixel-calibration network (``pixelcal``): its layers against numpy, saving, inference without flips."""

import numpy as np
import pytest

pytest.importorskip("keras")

from jetflow_inference.pixel_calibration import (  # noqa: E402
    PIXEL_FEATURES,
    ChannelTotals,
    PixelFeatures,
    PixelSums,
    TrainingFlips,
    pixelcal,
)


def _images(n_jets=3, npix=5, seed=0):
    """Five-channel images in units of 100 GeV: a third of the pixels empty, the three kinds' pT adding up."""
    rng = np.random.default_rng(seed)
    shares = rng.dirichlet([1, 1, 1], size=(n_jets, npix, npix))
    pt = rng.exponential(0.2, size=(n_jets, npix, npix)) * (rng.random((n_jets, npix, npix)) > 0.33)
    n_charged = np.where(pt > 0, rng.integers(0, 4, size=pt.shape), 0)
    return np.concatenate([pt[..., None], shares * pt[..., None], n_charged[..., None]], axis=-1).astype("float32")


def test_pixel_features_equal_a_numpy_construction():
    images = _images()
    got = np.asarray(PixelFeatures()(images))
    assert got.shape == images.shape[:3] + (len(PIXEL_FEATURES),)
    pt, n_charged = images[..., 0], images[..., 4]
    lit = pt > 0
    npix = images.shape[1]
    centre = np.linspace(-1, 1, npix)
    deta, dphi = np.meshgrid(centre, centre, indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = [images[..., 1] / pt, images[..., 2] / pt, images[..., 3] / pt, np.log(pt + 1e-4), n_charged,
                    np.log(pt / np.maximum(n_charged, 1) + 1e-4), deta + 0 * pt, dphi + 0 * pt, deta**2 + dphi**2 + 0 * pt]
    for i, name in enumerate(PIXEL_FEATURES):
        np.testing.assert_allclose(got[..., i][lit], expected[i][lit], rtol=1e-5, atol=1e-6, err_msg=name)
        assert not got[..., i][~lit].any(), f"{name} is not zero on empty pixels"


def test_pixel_sums_are_the_calibrated_response_and_the_summed_pixel_quantities():
    images = _images(seed=1)
    rng = np.random.default_rng(2)
    factor = rng.uniform(0.5, 2.0, size=images.shape[:3] + (1,)).astype("float32")
    latent = rng.uniform(0, 1, size=images.shape[:3] + (2,)).astype("float32")
    pt, mask = images[..., :1], (images[..., :1] > 0).astype("float32")
    got = np.asarray(PixelSums()([factor, latent, pt]))
    total = pt.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(got[:, 0], (factor * pt).sum(axis=(1, 2, 3)) / total, rtol=1e-5)
    np.testing.assert_allclose(got[:, 1:3], (latent * mask).sum(axis=(1, 2)) / 10, rtol=1e-5)
    np.testing.assert_allclose(got[:, 3:5], (latent * pt).sum(axis=(1, 2)) / total[:, None], rtol=1e-5)
    totals = np.asarray(ChannelTotals()(images))
    sums = images.sum(axis=(1, 2))
    np.testing.assert_allclose(totals[:, :5], sums, rtol=1e-5)
    np.testing.assert_allclose(totals[:, 5:], sums[:, 1:4] / sums[:, :1], rtol=1e-5)
    np.testing.assert_allclose(totals[:, 5:].sum(axis=1), 1.0, rtol=1e-5)  # the three kinds make up the pT


def test_a_constant_pixel_factor_gives_that_response(tmp_path):
    """With the per-pixel factor fixed at c and a head that passes the response on, the network predicts c."""
    import keras

    model = pixelcal(input_shape=(5, 5, 5), pixel_units=(4,), latent=2, dense=(), regression=(0.0, 1.0))
    c = 1.3
    factor = model.get_layer("pixel_factor")
    kernel, _ = factor.get_weights()
    factor.set_weights([np.zeros_like(kernel), np.array([np.log(np.expm1(c))], np.float32)])  # softplus(b) = c
    linear = model.get_layer("linear")
    w, b = linear.get_weights()
    w = np.zeros_like(w)
    w[0, 0] = 1.0  # the first input of the head is the calibrated response
    linear.set_weights([w, np.zeros_like(b)])
    images = _images(n_jets=4, seed=3) * 100  # the network reads GeV
    np.testing.assert_allclose(model.predict(images, verbose=0)[:, 0], c, rtol=1e-5)
    # saved and loaded, it is the same function; images are flipped only in training
    model.save(tmp_path / "pixelcal.keras")
    loaded = keras.saving.load_model(tmp_path / "pixelcal.keras")
    trained = pixelcal(input_shape=(5, 5, 5), pixel_units=(4,), latent=2, dense=(3,), regression=(1.0, 0.1))
    first = trained.predict(images, verbose=0)
    np.testing.assert_array_equal(first, trained.predict(images, verbose=0))
    many = _images(n_jets=16, seed=4) * 100
    assert not np.allclose(np.asarray(trained([many], training=True)), np.asarray(trained([many], training=True)))
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-6)


def test_pixelcal_names_the_channels_and_sizes_it_needs():
    with pytest.raises(ValueError, match=r"5 channels pt, pt_charged, pt_neutral_hadron, pt_photon, n_charged.*\(25, 25, 1\)"):
        pixelcal(input_shape=(25, 25, 1))
    with pytest.raises(ValueError, match=r"pixel_units \[\], latent 16"):
        pixelcal(pixel_units=())
    with pytest.raises(ValueError, match=r"pixel_units \[32, 32\], latent 0"):
        pixelcal(latent=0)


def test_training_flips_mirror_each_image_in_eta_and_phi_and_only_in_training():
    images = _images(n_jets=64, seed=5)
    flips = TrainingFlips(seed=1)
    np.testing.assert_array_equal(np.asarray(flips(images)), images)
    out = np.asarray(flips(images, training=True))
    kinds = []
    for image, flipped in zip(images, out):
        match = [k for k, (a, b) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)])
                 if np.array_equal(flipped, image[::-1 if a else 1, ::-1 if b else 1])]
        assert match, "an image came out as something other than a mirror of itself"
        kinds.append(match[0])
    assert set(kinds) == {0, 1, 2, 3}  # all four, among 64 images (each missing with probability 1e-8)


def test_pixelcal_exports_to_onnx(tmp_path):
    import keras

    from jetflow_inference.onnx_export import export_onnx

    keras.utils.set_random_seed(0)
    model = pixelcal(input_shape=(25, 25, 5), pixel_units=(4,), latent=2, dense=(4,), regression=(1.2, 0.1),
                     feature_scaling=([500.0, 0.0], [1e4, 1.0]))
    model.save(tmp_path / "pixelcal.keras")
    info = export_onnx(tmp_path / "pixelcal.keras")
    assert info["inputs"] == ["image", "features"], info
    # random inputs drive the linear output far from 1: compare at float32 precision of its size
    assert info["max_abs_diff"] < 1e-5 * max(1.0, info["max_abs_output"])
