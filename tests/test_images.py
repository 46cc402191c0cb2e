"""Jet images: geometry of the preprocessing, sums, channels, edge cases."""

from __future__ import annotations

import glob

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory

import jetflow_images as JI
from jetflow.formats.schema import JetflowSchema
from jetflow_clustering.clustering import cluster_jets
from jetflow_clustering.towers import build_towers, particles_table
from jetflow_images.images import build_images, pixelate, rotate_images_bicubic

NPIX, SIZE, C = 25, 0.1, 12


@pytest.fixture(scope="module")
def jets(generated):
    out = []
    for f in sorted(glob.glob(str(generated["wprime"]))):
        ev = NanoEventsFactory.from_root({f: "Events"}, schemaclass=JetflowSchema, mode="eager").events()
        fields, counts = particles_table(ev.Particle[:150])
        out.append(cluster_jets(fields, counts, min_pt=150.0, max_jets=2, softdrop=False))
    return ak.concatenate(out)


def make(jets, **options):
    return JI.jet_images(jets, **options)


def test_layout_and_dtype(jets):
    im = make(jets, channels=["pt", "pt_charged", "n_charged"])
    assert im.dtype == np.float32 and im.shape == (len(jets), NPIX, NPIX, 3)
    assert np.isfinite(im).all() and (im >= 0).all()


def test_pixel_sum_is_pt_inside_window(jets):
    im = make(jets, rotate=True, flip=True)
    # the same constituents, in the same frame, counted inside the window by hand
    lead = jets.subjets[:, 0]
    c = jets.constituents
    deta = c.eta - lead.eta
    dphi = np.mod(c.phi - lead.phi + np.pi, 2 * np.pi) - np.pi
    r = np.sqrt(deta**2 + dphi**2)
    inside_surely = ak.to_numpy(ak.sum(c.pt * (r < 1.15), axis=1))  # inside the 2.5 x 2.5 window whatever the rotation
    total = ak.to_numpy(ak.sum(c.pt, axis=1))
    sums = im[..., 0].sum(axis=(1, 2))
    assert (sums <= total * (1 + 1e-5)).all()
    assert (sums >= inside_surely * (1 - 1e-5)).all()
    # exactly: with no rotation the window is an axis-aligned square
    im0 = make(jets, rotate=False, flip=False)
    square = (np.abs(deta) < NPIX * SIZE / 2) & (np.abs(dphi) < NPIX * SIZE / 2)
    np.testing.assert_allclose(im0[..., 0].sum(axis=(1, 2)), ak.to_numpy(ak.sum(c.pt * square, axis=1)), rtol=1e-5)


@pytest.mark.parametrize("rotation", ["exact", "interpolate"])
def test_second_subjet_lands_at_minus_pi_over_2(jets, rotation):
    two = jets[ak.num(jets.subjets) >= 2]
    assert len(two) > 50
    s1, s2 = two.subjets[:, 0], two.subjets[:, 1]
    # an image of the second subjet alone, made with the jet's own preprocessing frame
    eta = ak.to_numpy(s2.eta).astype(float)
    phi = ak.to_numpy(s2.phi).astype(float)
    im = build_images(
        np.ones(len(two), dtype=np.int64), eta, phi, np.ones((len(two), 1)),
        ak.to_numpy(s1.eta).astype(float), ak.to_numpy(s1.phi).astype(float), eta, phi,
        np.ones(len(two), dtype=bool), rotation=rotation, flip=False,
    )[..., 0]
    dr = np.hypot(ak.to_numpy(s1.eta - s2.eta), np.angle(np.exp(1j * ak.to_numpy(s1.phi - s2.phi))))
    visible = dr < (NPIX // 2) * SIZE
    for k in np.nonzero(visible)[0]:
        i, j = np.unravel_index(np.argmax(im[k]), im[k].shape)
        assert abs(j - C) <= 1, (k, i, j)      # on the vertical through the centre, within one pixel
        assert i < C or dr[k] < SIZE           # below the centre (deta < 0)
        assert abs((C - i) * SIZE - dr[k]) <= 1.5 * SIZE


def test_flip_makes_right_half_heavier(jets):
    im = make(jets)[..., 0]
    left = im[:, :, :C].sum(axis=(1, 2))
    right = im[:, :, C + 1 :].sum(axis=(1, 2))
    assert (right >= left).all()
    noflip = make(jets, flip=False)[..., 0]
    assert (noflip[:, :, :C].sum(axis=(1, 2)) > noflip[:, :, C + 1 :].sum(axis=(1, 2))).any()


def test_channels_add_up(jets):
    im = make(jets, channels=["pt", "pt_charged", "pt_neutral_hadron", "pt_photon", "n_charged"])
    np.testing.assert_allclose(im[..., 1] + im[..., 2] + im[..., 3], im[..., 0], rtol=1e-5, atol=1e-5)
    n = im[..., 4]
    np.testing.assert_allclose(n, np.round(n))  # multiplicities are counts
    charged = ak.sum(jets.constituents.charge != 0, axis=1)
    assert (n.sum(axis=(1, 2)) <= ak.to_numpy(charged)).all()


def test_normalisation(jets):
    l1 = make(jets, normalize="l1")[..., 0]
    l2 = make(jets, normalize="l2")[..., 0]
    np.testing.assert_allclose(l1.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_allclose((l2.astype(np.float64) ** 2).sum(axis=(1, 2)), 1.0, rtol=1e-5)


def test_interpolated_rotation_close_to_exact(jets):
    exact = make(jets, rotation="exact")[..., 0]
    interp = make(jets, rotation="interpolate")[..., 0]
    # bicubic interpolation spreads intensity but keeps it (up to the window's edge)
    np.testing.assert_allclose(interp.sum(axis=(1, 2)), exact.sum(axis=(1, 2)), rtol=0.1)
    corr = np.corrcoef(exact.mean(axis=0).ravel(), interp.mean(axis=0).ravel())[0, 1]
    assert corr > 0.95


def test_bicubic_rotation_identities():
    rng = np.random.default_rng(1)
    img = rng.random((3, 9, 9, 2))
    np.testing.assert_allclose(rotate_images_bicubic(img, np.zeros(3)), img, atol=1e-12)
    quarter = rotate_images_bicubic(img, np.full(3, np.pi / 2))
    np.testing.assert_allclose(quarter, np.rot90(img, k=1, axes=(2, 1)), atol=1e-9)


def test_phi_wraparound():
    # a jet straddling phi = +-pi: constituents on both sides land next to each other
    eta = np.array([0.0, 0.0, -0.04])
    phi = np.array([np.pi - 0.02, -np.pi + 0.09, np.pi - 0.12])  # dphi = 0, +0.11 (across pi), -0.10
    img = build_images(np.array([3]), eta, phi, np.array([[10.0], [5.0], [2.0]]),
                       np.array([0.0]), np.array([np.pi - 0.02]), np.zeros(1), np.zeros(1),
                       np.zeros(1, dtype=bool), rotate=False, flip=False)[0, ..., 0]
    assert img.sum() == pytest.approx(17.0)
    assert img[C, C] == pytest.approx(10.0)
    assert img[C, C + 1] == pytest.approx(5.0)
    assert img[C, C - 1] == pytest.approx(2.0)


def test_empty_and_single_constituent_jets():
    counts = np.array([0, 1, 2])
    eta = np.array([0.1, 0.0, 0.3])
    phi = np.array([0.2, 0.0, 0.0])
    img = build_images(counts, eta, phi, np.array([[5.0], [3.0], [1.0]]),
                       np.array([0.0, 0.1, 0.0]), np.array([0.0, 0.2, 0.0]), np.zeros(3), np.zeros(3),
                       np.zeros(3, dtype=bool), normalize="l1")
    assert np.isfinite(img).all()
    assert img[0].sum() == 0  # no constituent: an empty image
    assert img[1].sum() == pytest.approx(1.0) and img[1, C, C, 0] == pytest.approx(1.0)


def test_pixelate_matches_python_loop():
    rng = np.random.default_rng(4)
    counts = rng.integers(0, 30, 50)
    n = counts.sum()
    x, y, v = rng.normal(0, 0.6, n), rng.normal(0, 0.6, n), rng.random((n, 2))
    fast = pixelate(counts, x, y, v, NPIX, SIZE)
    slow = np.zeros_like(fast)
    k = 0
    for jet, nc in enumerate(counts):  # the independent, obvious construction
        for _ in range(nc):
            i = int(np.floor(y[k] / SIZE + NPIX / 2))
            j = int(np.floor(x[k] / SIZE + NPIX / 2))
            if 0 <= i < NPIX and 0 <= j < NPIX:
                slow[jet, i, j] += v[k]
            k += 1
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_tower_jets_images(generated):
    f = sorted(glob.glob(str(generated["wprime"])))[0]
    ev = NanoEventsFactory.from_root({f: "Events"}, schemaclass=JetflowSchema, mode="eager").events()
    fields, counts, _ = build_towers(ev.Particle[:50])
    jets = cluster_jets(fields, counts, min_pt=150.0, max_jets=2)
    im = make(jets, channels=["pt", "pt_charged", "pt_neutral_hadron", "pt_photon"])
    np.testing.assert_allclose(im[..., 1] + im[..., 2] + im[..., 3], im[..., 0], rtol=1e-4, atol=1e-4)
