"""The jet images as jetflow computed them before the fused numba kernel: the 'before' of
``bench_images_taus.py``.

A verbatim copy of ``plugins/jetflow_images/images.py`` (numpy, np.bincount per step) and of
the plugin's ``images_of`` (awkward padding of the subjets) at commit c1d635b, kept only as
the benchmark's reference: the benchmark times it against the plugin and asserts both give
the same images.  Not imported by jetflow.
"""

from __future__ import annotations

import numpy as np

from jetflow.physics import wrap_phi

CHANNELS = ("pt", "pt_charged", "pt_neutral_hadron", "pt_photon", "n_charged")


def rotation_angles(
    counts: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    second_x: np.ndarray,
    second_y: np.ndarray,
    has_second: np.ndarray,
) -> np.ndarray:
    """Per-jet angle alpha that takes the reference direction to -pi/2.

    The plane has x = dphi (width) and y = deta (height).  The reference
    direction is the second subjet's, or the pT-weighted principal axis
    (oriented towards the pT centroid) for jets without one.
    """
    n_jets = len(counts)
    jet = np.repeat(np.arange(n_jets), counts)
    sw = np.bincount(jet, weights=w, minlength=n_jets)
    safe = np.where(sw > 0, sw, 1.0)
    mx = np.bincount(jet, weights=w * x, minlength=n_jets) / safe
    my = np.bincount(jet, weights=w * y, minlength=n_jets) / safe
    dx = x - mx[jet]
    dy = y - my[jet]
    cxx = np.bincount(jet, weights=w * dx * dx, minlength=n_jets)
    cyy = np.bincount(jet, weights=w * dy * dy, minlength=n_jets)
    cxy = np.bincount(jet, weights=w * dx * dy, minlength=n_jets)
    theta_p = 0.5 * np.arctan2(2 * cxy, cxx - cyy)
    # orient the principal axis towards the pT centroid
    flip = np.cos(theta_p) * mx + np.sin(theta_p) * my < 0
    theta_p = np.where(flip, theta_p + np.pi, theta_p)
    theta = np.where(has_second, np.arctan2(second_y, second_x), theta_p)
    return -0.5 * np.pi - theta


def _pixel_index(coord: np.ndarray, npix: int, size: float) -> np.ndarray:
    return np.floor(coord / size + 0.5 * npix).astype(np.int64)


def pixelate(
    counts: np.ndarray, x: np.ndarray, y: np.ndarray, values: np.ndarray, npix: int, size: float
) -> np.ndarray:
    """Sum ``values`` ([n_constituents, n_channels]) into ``[n_jets, npix, npix, n_channels]`` float64."""
    n_jets = len(counts)
    n_ch = values.shape[1]
    jet = np.repeat(np.arange(n_jets, dtype=np.int64), counts)
    i = _pixel_index(y, npix, size)
    j = _pixel_index(x, npix, size)
    inside = (i >= 0) & (i < npix) & (j >= 0) & (j < npix)
    flat = ((jet[inside] * npix + i[inside]) * npix + j[inside]) * n_ch
    out = np.zeros(n_jets * npix * npix * n_ch)
    for c in range(n_ch):
        out += np.bincount(flat + c, weights=values[inside, c], minlength=out.size)
    return out.reshape(n_jets, npix, npix, n_ch)


def _keys_weights(t: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution weights (a = -0.5) for offsets t in [0, 1): taps at -1, 0, 1, 2."""
    a = -0.5
    d = np.stack([1 + t, t, 1 - t, 2 - t], axis=-1)
    near = (a + 2) * d**3 - (a + 3) * d**2 + 1
    far = a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a
    return np.where(d <= 1, near, far)


def rotate_images_bicubic(images: np.ndarray, alpha: np.ndarray, block: int = 512) -> np.ndarray:
    """Rotate each image by its angle about the centre, bicubic interpolation, zero outside.

    ``images`` [n, H, W, C]; the rotation acts in the (x = column, y = row)
    plane, counter-clockwise for alpha > 0.
    """
    n, h, w, c = images.shape
    out = np.empty_like(images)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    for start in range(0, n, block):  # blocks bound the memory; each block is one vectorised step
        a = alpha[start : start + block, None, None]
        ca, sa = np.cos(a), np.sin(a)
        # source position of every output pixel: rotate back by -alpha
        sx = ca * xx + sa * yy + cx
        sy = -sa * xx + ca * yy + cy
        x0 = np.floor(sx).astype(np.int64)
        y0 = np.floor(sy).astype(np.int64)
        wx = _keys_weights(sx - x0)
        wy = _keys_weights(sy - y0)
        img = images[start : start + block]
        m = img.shape[0]
        jet = np.arange(m)[:, None, None]
        acc = np.zeros((m, h, w, c))
        for ty in range(4):
            yi = y0 + ty - 1
            vy = (yi >= 0) & (yi < h)
            yi_c = np.clip(yi, 0, h - 1)
            for tx in range(4):
                xi = x0 + tx - 1
                valid = vy & (xi >= 0) & (xi < w)
                xi_c = np.clip(xi, 0, w - 1)
                weight = (wy[..., ty] * wx[..., tx] * valid)[..., None]
                acc += weight * img[jet, yi_c, xi_c]
        out[start : start + block] = acc
    return out


def build_images(
    counts: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    channel_values: np.ndarray,
    center_eta: np.ndarray,
    center_phi: np.ndarray,
    second_eta: np.ndarray,
    second_phi: np.ndarray,
    has_second: np.ndarray,
    *,
    npix: int = 25,
    size: float = 0.1,
    rotate: bool = True,
    rotation: str = "exact",
    flip: bool = True,
    normalize: str = "none",
) -> np.ndarray:
    """Images of all jets.

    Parameters
    ----------
    counts
        Constituents per jet; the flat arrays below are grouped by jet.
    eta, phi
        Flat constituent directions.
    channel_values
        ``[n_constituents, n_channels]`` pixel contributions (channel 0 drives
        the rotation weights and the flip).
    center_eta, center_phi
        Per-jet image centre (leading subjet when translating, else the jet axis).
    second_eta, second_phi, has_second
        Per-jet second subjet (ignored where ``has_second`` is False).

    Returns
    -------
    np.ndarray
        float32 ``[n_jets, npix, npix, n_channels]``.
    """
    jet = np.repeat(np.arange(len(counts)), counts)
    y = eta - center_eta[jet]
    x = wrap_phi(phi - center_phi[jet])
    alpha = None
    if rotate:
        sx = wrap_phi(second_phi - center_phi)
        sy = second_eta - center_eta
        alpha = rotation_angles(counts, x, y, channel_values[:, 0], sx, sy, has_second)
        if rotation == "exact":
            ca, sa = np.cos(alpha)[jet], np.sin(alpha)[jet]
            x, y = ca * x - sa * y, sa * x + ca * y
    images = pixelate(counts, x, y, channel_values, npix, size)
    if rotate and rotation == "interpolate":
        images = rotate_images_bicubic(images, alpha)
    elif rotate and rotation != "exact":
        raise ValueError(f"rotation must be 'exact' or 'interpolate', got {rotation!r}")
    if flip:
        half = npix // 2
        left = images[:, :, :half, 0].sum(axis=(1, 2))
        right = images[:, :, npix - half :, 0].sum(axis=(1, 2))
        swap = left > right
        images[swap] = images[swap, :, ::-1, :]
    if normalize == "l1":
        norm = images.sum(axis=(1, 2), keepdims=True)
        images = np.divide(images, norm, out=np.zeros_like(images), where=norm > 0)
    elif normalize == "l2":
        norm = np.sqrt((images**2).sum(axis=(1, 2), keepdims=True))
        images = np.divide(images, norm, out=np.zeros_like(images), where=norm > 0)
    elif normalize != "none":
        raise ValueError(f"normalize must be none, l1 or l2, got {normalize!r}")
    return images.astype(np.float32)


def pixel_centres(npix: int, size: float) -> np.ndarray:
    """Centres of the pixels along one axis, in the jet frame."""
    return (np.arange(npix) - (npix - 1) / 2) * size


def images_of(jets, npix=25, pixel_size=0.1, channels=("pt",), translate=True, rotate=True,
              rotation="exact", flip=True, normalize="none") -> np.ndarray:
    """The plugin's ``images_of`` at c1d635b (options as keywords instead of ``ImageOptions``)."""
    import awkward as ak

    from jetflow.physics import constituent_channel_values

    def _flat(array, dtype=np.float64):
        return ak.to_numpy(ak.flatten(array, axis=1)).astype(dtype)

    const = jets.constituents
    counts = ak.to_numpy(ak.num(const, axis=1)).astype(np.int64)
    subjets = jets.subjets
    n_sub = ak.to_numpy(ak.num(subjets, axis=1))
    jet_eta = ak.to_numpy(jets.eta).astype(np.float64)
    jet_phi = ak.to_numpy(jets.phi).astype(np.float64)
    padded = ak.pad_none(subjets, 2, axis=1, clip=True)
    lead_eta = ak.to_numpy(ak.fill_none(padded.eta[:, 0], np.nan)).astype(np.float64)
    lead_phi = ak.to_numpy(ak.fill_none(padded.phi[:, 0], np.nan)).astype(np.float64)
    sec_eta = ak.to_numpy(ak.fill_none(padded.eta[:, 1], 0.0)).astype(np.float64)
    sec_phi = ak.to_numpy(ak.fill_none(padded.phi[:, 1], 0.0)).astype(np.float64)
    if translate:
        center_eta = np.where(n_sub >= 1, lead_eta, jet_eta)
        center_phi = np.where(n_sub >= 1, lead_phi, jet_phi)
    else:
        center_eta, center_phi = jet_eta, jet_phi
    return build_images(
        counts, _flat(const.eta), _flat(const.phi), constituent_channel_values(const, list(channels)),
        center_eta, center_phi, sec_eta, sec_phi, n_sub >= 2,
        npix=npix, size=pixel_size, rotate=rotate, rotation=rotation, flip=flip, normalize=normalize,
    )
