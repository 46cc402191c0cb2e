"""Jet images: geometry of the preprocessing, sums, channels, edge cases, and the numba kernel
against a per-jet numpy construction of every step."""

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
from jetflow.physics import constituent_channel_values, wrap_phi
from jetflow_images.bicubic import rotate_images_bicubic
from jetflow_images.images import build_images

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


def test_pixel_sums_match_python_loop():
    rng = np.random.default_rng(4)
    counts = rng.integers(0, 30, 50)
    n = counts.sum()
    x, y, v = rng.normal(0, 0.6, n), rng.normal(0, 0.6, n), rng.random((n, 2))
    zeros = np.zeros(len(counts))
    fast = build_images(counts, y, x, v, zeros, zeros, zeros, zeros, zeros.astype(bool), rotate=False, flip=False)
    slow = np.zeros_like(fast)
    k = 0
    for jet, nc in enumerate(counts):  # the independent, obvious construction
        for _ in range(nc):
            i = int(np.floor(y[k] / SIZE + NPIX / 2))
            j = int(np.floor(x[k] / SIZE + NPIX / 2))
            if 0 <= i < NPIX and 0 <= j < NPIX:
                slow[jet, i, j] += v[k]
            k += 1
    np.testing.assert_allclose(fast, slow, rtol=1e-6)


# ---- the kernel against a per-jet numpy construction of every step ----

def _keys(d):
    """Keys' cubic convolution kernel, a = -0.5, at distances d (zero from 2 on)."""
    d = np.abs(d)
    return np.where(d <= 1, 1.5 * d**3 - 2.5 * d**2 + 1, np.where(d < 2, -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2, 0.0))


def _bicubic(img, alpha):
    """One image [h, w, c] rotated by alpha: each output pixel interpolates the source at its
    position turned back by -alpha from the 4 x 4 pixels around it, zero outside."""
    h, w = img.shape[:2]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    sx = np.cos(alpha) * xx + np.sin(alpha) * yy + cx
    sy = -np.sin(alpha) * xx + np.cos(alpha) * yy + cy
    out = np.zeros(img.shape)
    for oy in (-1, 0, 1, 2):
        for ox in (-1, 0, 1, 2):
            yi, xi = np.floor(sy).astype(int) + oy, np.floor(sx).astype(int) + ox
            ok = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
            weight = _keys(sy - yi) * _keys(sx - xi) * ok
            out += weight[..., None] * img[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
    return out


def reference_images(counts, eta, phi, values, ce, cp, se, sp, has_second, *, npix=NPIX, size=SIZE,
                     rotate=True, rotation="exact", flip=True, normalize="none"):
    """The preprocessing of jetflow_images.images, one jet at a time in numpy."""
    out = np.zeros((len(counts), npix, npix, values.shape[1]))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    for k in range(len(counts)):
        part = slice(bounds[k], bounds[k + 1])
        y, x, v = eta[part] - ce[k], wrap_phi(phi[part] - cp[k]), values[part]
        if rotate:
            if has_second[k]:
                theta = np.arctan2(se[k] - ce[k], wrap_phi(sp[k] - cp[k]))
            else:  # principal axis of the channel-0 weights, towards the centroid
                w = v[:, 0]
                mx, my = (np.sum(w * x) / w.sum(), np.sum(w * y) / w.sum()) if w.sum() > 0 else (0.0, 0.0)
                cxx, cyy, cxy = np.sum(w * (x - mx) ** 2), np.sum(w * (y - my) ** 2), np.sum(w * (x - mx) * (y - my))
                theta = 0.5 * np.arctan2(2 * cxy, cxx - cyy)
                theta += np.pi if np.cos(theta) * mx + np.sin(theta) * my < 0 else 0.0
            alpha = -np.pi / 2 - theta
            if rotation == "exact":
                x, y = np.cos(alpha) * x - np.sin(alpha) * y, np.sin(alpha) * x + np.cos(alpha) * y
        i, j = np.floor(y / size + npix / 2).astype(int), np.floor(x / size + npix / 2).astype(int)
        inside = (i >= 0) & (i < npix) & (j >= 0) & (j < npix)
        img = np.zeros((npix, npix, values.shape[1]))
        np.add.at(img, (i[inside], j[inside]), v[inside])
        if rotate and rotation == "interpolate":
            img = _bicubic(img, alpha)
        half = npix // 2
        if flip and img[:, :half, 0].sum() > img[:, npix - half :, 0].sum():
            img = img[:, ::-1]
        for c in range(img.shape[2]):
            s = {"none": 1.0, "l1": img[..., c].sum(), "l2": np.sqrt((img[..., c] ** 2).sum())}[normalize]
            img[..., c] = img[..., c] / s if s > 0 else 0.0
        out[k] = img
    return out


def assert_same_images(fast, ref):
    """Per jet: max |difference| below 1e-6 of the image's sum of |pixels| (exactly zero images stay zero)."""
    assert fast.dtype == np.float32 and fast.shape == ref.shape
    scale = np.abs(ref).sum(axis=(1, 2, 3))
    diff = np.abs(fast.astype(np.float64) - ref).max(axis=(1, 2, 3))
    assert (diff <= 1e-6 * scale).all(), (np.argmax(diff / np.where(scale > 0, scale, 1e-300)), diff.max())


def _inputs(jets, translate=True):
    """build_images' inputs read the obvious awkward way (padding), independent of the plugin's reading."""
    c = jets.constituents
    n_sub = ak.to_numpy(ak.num(jets.subjets))
    s = ak.pad_none(jets.subjets, 2, clip=True)
    lead_eta = ak.to_numpy(ak.fill_none(s.eta[:, 0], 0.0)).astype(float)
    lead_phi = ak.to_numpy(ak.fill_none(s.phi[:, 0], 0.0)).astype(float)
    jet_eta, jet_phi = ak.to_numpy(jets.eta).astype(float), ak.to_numpy(jets.phi).astype(float)
    ce = np.where((n_sub > 0) & translate, lead_eta, jet_eta)
    cp = np.where((n_sub > 0) & translate, lead_phi, jet_phi)
    return (ak.to_numpy(ak.num(c)), ak.to_numpy(ak.flatten(c.eta)).astype(float),
            ak.to_numpy(ak.flatten(c.phi)).astype(float), ce, cp,
            ak.to_numpy(ak.fill_none(s.eta[:, 1], 0.0)).astype(float),
            ak.to_numpy(ak.fill_none(s.phi[:, 1], 0.0)).astype(float), n_sub >= 2)


PREPROCESSING = [
    {},
    {"rotation": "interpolate"},
    {"normalize": "l1"},
    {"normalize": "l2", "rotation": "interpolate"},
    {"flip": False, "normalize": "l2"},
    {"rotate": False},
    {"rotate": False, "flip": False, "normalize": "l1"},
    {"translate": False},
    {"translate": False, "rotation": "interpolate", "flip": False},
    {"npix": 24, "pixel_size": 0.12},
    {"npix": 24, "pixel_size": 0.12, "rotation": "interpolate", "normalize": "l1"},
    {"npix": 9, "pixel_size": 0.05, "normalize": "l2"},
]


@pytest.mark.parametrize("options", PREPROCESSING, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_plugin_images_match_per_jet_numpy(jets, options):
    channels = ["pt", "pt_charged", "pt_neutral_hadron", "pt_photon", "n_charged"]
    fast = make(jets, channels=channels, **options)
    counts, eta, phi, ce, cp, se, sp, has_second = _inputs(jets, options.get("translate", True))
    values = constituent_channel_values(jets.constituents, channels)
    kw = {k: v for k, v in options.items() if k not in ("translate", "pixel_size")}
    ref = reference_images(counts, eta, phi, values, ce, cp, se, sp, has_second,
                           size=options.get("pixel_size", SIZE), **kw)
    assert_same_images(fast, ref)
    # one channel is the first channel of five (channel 0 alone drives rotation and flip)
    np.testing.assert_array_equal(make(jets, **options)[..., 0], fast[..., 0])


def test_plugin_reads_selected_jets_with_zero_one_or_more_subjets(jets):
    keep = np.arange(len(jets)) % 4  # keep 0, 1, 2 or all subjets
    cut = ak.with_field(jets, jets.subjets[ak.local_index(jets.subjets) < np.where(keep == 3, 99, keep)], "subjets")
    selected = cut[np.random.default_rng(0).permutation(len(cut))[: len(cut) // 2]]  # an indexed, shuffled table
    assert set(ak.to_numpy(ak.num(selected.subjets))) >= {0, 1, 2}
    for translate in (True, False):
        counts, eta, phi, ce, cp, se, sp, has_second = _inputs(selected, translate)
        values = constituent_channel_values(selected.constituents, ["pt", "n_charged"])
        assert_same_images(make(selected, channels=["pt", "n_charged"], translate=translate),
                           reference_images(counts, eta, phi, values, ce, cp, se, sp, has_second))


def test_a_chunk_without_jets_gives_no_images(jets):
    for options in ({}, {"channels": ["pt", "pt_charged", "n_charged"]}, {"rotation": "interpolate"}):
        images = make(jets[:0], **options)
        assert images.shape == (0, NPIX, NPIX, len(options.get("channels", ["pt"]))) and images.dtype == np.float32


def _edge_jets():
    """Jets a chunk can hold, one per kind (``counts``, flat constituents, per-jet centres and second subjets)."""
    jets = [  # (eta, phi, values [pt, other channel], centre, second subjet or None)
        ([], [], [], (0.0, 0.0), None),                                       # no constituent
        ([0.31], [-0.2], [[7.0, 1.0]], (0.0, 0.0), None),                   # one, no subjets: principal axis
        ([0.0], [0.0], [[7.0, 0.0]], (0.0, 0.0), None),                     # one, on the centre
        ([0.2], [0.3], [[7.0, 2.0]], (0.0, 0.0), (0.2, 0.3)),               # one, on the second subjet
        ([0.1, -0.1], [0.05, -0.05], [[5.0, 0.0], [5.0, 0.0]], (0.0, 0.0), None),  # two equal: a tie
        ([3.0, -2.9, 0.0], [0.0, 2.0, 3.1], [[4.0, 1.0], [3.0, 0.0], [2.0, 0.0]], (0.0, 0.0), None),  # all outside
        ([0.0, 0.05, 5.0], [np.pi - 0.02, -np.pi + 0.09, 1.0], [[10.0, 0.0], [5.0, 3.0], [9.0, 9.0]],
         (0.0, np.pi - 0.02), (0.3, -np.pi + 0.1)),                         # across phi = pi, one outside
        ([0.1, 0.2], [0.1, 0.0], [[0.0, 1.0], [0.0, 2.0]], (0.0, 0.0), None),      # weightless channel 0
        ([1.249, -1.25, 0.0], [1.2499, 0.0, -1.25], [[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], (0.0, 0.0), (0.0, -1.0)),  # edges
    ]
    counts = np.array([len(j[0]) for j in jets])
    eta = np.concatenate([np.asarray(j[0], float) for j in jets])
    phi = np.concatenate([np.asarray(j[1], float) for j in jets])
    values = np.concatenate([np.asarray(j[2], float).reshape(-1, 2) for j in jets])
    ce, cp = (np.array([j[3][a] for j in jets]) for a in (0, 1))
    has_second = np.array([j[4] is not None for j in jets])
    se, sp = (np.array([j[4][a] if j[4] else 0.0 for j in jets]) for a in (0, 1))
    rng = np.random.default_rng(7)  # and jets with many constituents, some outside, some without subjets
    n_rand = rng.integers(1, 60, 40)
    r_eta, r_phi = rng.normal(0, 0.7, n_rand.sum()), rng.normal(0, 0.7, n_rand.sum())
    r_val = rng.exponential(5.0, (n_rand.sum(), 2))
    return (np.concatenate([counts, n_rand]), np.concatenate([eta, r_eta]), np.concatenate([phi, r_phi]),
            np.concatenate([values, r_val]), np.concatenate([ce, rng.normal(0, 0.1, 40)]),
            np.concatenate([cp, rng.normal(0, 0.1, 40)]), np.concatenate([se, rng.normal(0, 0.4, 40)]),
            np.concatenate([sp, rng.normal(0, 0.4, 40)]), np.concatenate([has_second, rng.random(40) < 0.5]))


@pytest.mark.parametrize("rotation", ["exact", "interpolate"])
@pytest.mark.parametrize("normalize", ["none", "l1", "l2"])
@pytest.mark.parametrize("npix", [25, 24])
def test_edge_case_jets_match_per_jet_numpy(rotation, normalize, npix):
    counts, eta, phi, values, ce, cp, se, sp, has_second = _edge_jets()
    for rotate, flip in ((True, True), (True, False), (False, True)):
        kw = dict(npix=npix, rotate=rotate, rotation=rotation, flip=flip, normalize=normalize)
        fast = build_images(counts, eta, phi, values, ce, cp, se, sp, has_second, **kw)
        assert_same_images(fast, reference_images(counts, eta, phi, values, ce, cp, se, sp, has_second, **kw))
        assert not fast[0].any() and not fast[5].any()  # no constituent / all outside: empty
        if normalize != "none":  # the weightless first channel of jet 7 stays zero, the other is normalised
            assert not fast[7, ..., 0].any() and fast[7, ..., 1].sum() > 0


def test_one_constituent_images():
    counts, eta, phi, values, ce, cp, se, sp, has_second = _edge_jets()
    img = build_images(counts, eta, phi, values, ce, cp, se, sp, has_second)[..., 0]
    # no subjets, one point at (x, y) = (-0.2, 0.31): its principal axis is degenerate and taken along x,
    # turned towards the point (theta = pi), then to -pi/2: (x, y) -> (-y, x), and the flip mirrors phi
    assert img[1].sum() == pytest.approx(7.0)
    assert img[1, int(np.floor(-0.2 / SIZE + NPIX / 2)), NPIX - 1 - int(np.floor(-0.31 / SIZE + NPIX / 2))] == 7.0
    assert img[2, C, C] == 7.0  # on the centre it stays there
    assert img[3, int(np.floor(-np.hypot(0.2, 0.3) / SIZE + NPIX / 2)), C] == 7.0  # the second subjet goes down


@pytest.mark.parametrize("npix", [2, 3])
def test_fully_lit_small_images_match_per_jet_numpy(npix):
    rng = np.random.default_rng(5)  # every pixel lit, and lit again
    counts = rng.integers(20, 40, 30)
    eta, phi = rng.uniform(-0.1, 0.1, (2, counts.sum())) * npix
    values = rng.random((counts.sum(), 3))
    zeros = np.zeros(len(counts))
    for rotation in ("exact", "interpolate"):
        kw = dict(npix=npix, rotation=rotation, normalize="l1")
        fast = build_images(counts, eta, phi, values, zeros, zeros, zeros, zeros, zeros > 0, **kw)
        assert_same_images(fast, reference_images(counts, eta, phi, values, zeros, zeros, zeros, zeros, zeros > 0, **kw))


def test_kernel_phi_wrap_is_jetflow_wrap_phi():
    from jetflow_images.images import _wrap

    angles = np.concatenate([np.random.default_rng(2).uniform(-20, 20, 2000),
                             np.pi * np.arange(-6, 7), np.nextafter(np.pi * np.arange(-6, 7), 0), [1e-20, -1e-20]])
    np.testing.assert_array_equal(np.array([_wrap(a) for a in angles]), wrap_phi(angles))


def test_sparse_bicubic_rotation_matches_dense():
    rng = np.random.default_rng(3)
    img = np.zeros((6, 11, 13, 2))  # not square, a few lit pixels, some at the border
    for k in range(6):
        lit = rng.choice(11 * 13, size=k + 1, replace=False)
        img[k].reshape(-1, 2)[lit] = rng.random((k + 1, 2))
    img[5, 0, 0] = img[5, 10, 12] = 1.0
    alpha = rng.uniform(-np.pi, np.pi, 6)
    fast = rotate_images_bicubic(img, alpha)
    np.testing.assert_allclose(fast, np.stack([_bicubic(img[k], alpha[k]) for k in range(6)]), rtol=1e-12, atol=1e-14)


def test_inconsistent_inputs_are_refused():
    one = np.zeros(1)
    with pytest.raises(ValueError, match="counts add up to 3"):
        build_images(np.array([3]), np.zeros(2), np.zeros(2), np.zeros((2, 1)), one, one, one, one, one > 0)
    with pytest.raises(ValueError, match="rotation"):
        build_images(np.array([0]), one[:0], one[:0], np.zeros((0, 1)), one, one, one, one, one > 0, rotation="cubic")


def test_tower_jets_images(generated):
    f = sorted(glob.glob(str(generated["wprime"])))[0]
    ev = NanoEventsFactory.from_root({f: "Events"}, schemaclass=JetflowSchema, mode="eager").events()
    fields, counts, _ = build_towers(ev.Particle[:50])
    jets = cluster_jets(fields, counts, min_pt=150.0, max_jets=2)
    im = make(jets, channels=["pt", "pt_charged", "pt_neutral_hadron", "pt_photon"])
    np.testing.assert_allclose(im[..., 1] + im[..., 2] + im[..., 3], im[..., 0], rtol=1e-4, atol=1e-4)
