"""Jet images with the standard preprocessing, for every jet of a chunk at once.

Layout
------
float32 ``[n_jets, npix, npix, n_channels]``, channels last (Keras' default).
Axis 1 (height, row ``i``) runs along eta, axis 2 (width, column ``j``) along
phi; pixel ``(i, j)`` is centred at ``(deta, dphi) = ((i - c) s, (j - c) s)``
with ``c = (npix - 1) / 2`` and ``s`` the pixel size, in the jet frame defined
by the preprocessing.  Plotted with ``imshow(image[..., 0], origin="lower")``,
eta points up and phi to the right.

Preprocessing (de Oliveira et al., arXiv:1511.05190), each step optional, in order:

1. translate: the leading subjet goes to (0, 0) (no subjet: the jet axis);
2. rotate: the second subjet goes to angle -pi/2, i.e. straight below the
   centre (deta < 0, dphi = 0); a jet with no second subjet is rotated so that
   its pT-weighted principal axis points there, the pT centroid's side down;
3. flip: phi -> -phi when the left half (dphi < 0) carries more of the
   first channel than the right half;
4. normalise: none, L1 (sum of pixels = 1) or L2 (sum of squares = 1), per
   channel; an empty channel stays zero.

``rotation="exact"`` rotates the constituents before pixelation (no
interpolation); ``rotation="interpolate"`` pixelates first and rotates the
image with bicubic (Keys, a = -0.5) interpolation, as the original study did.
phi differences are wrapped into (-pi, pi] before anything else.

Channels ([jet-response]): ``pt`` (total), ``pt_charged``, ``pt_neutral_hadron``,
``pt_photon`` (pT carried by each kind of particle) and ``n_charged`` (charged
multiplicity).

Computation
-----------
One numba pass per jet over its constituents (flat arrays and offsets, no
Python loop over jets): the frame (translation, rotation angle), the pixel
sums in a float64 work image, the bicubic rotation
(:mod:`jetflow_images.bicubic`), the flip and the normalisation, and one
write of the float32 image.  Only the pixels a jet lights are visited, except
by that final write.  Sums run in the order of the constituents, in float64,
with numpy's arithmetic, so the images equal the step-by-step numpy
construction to float rounding.  docs/benchmarks.md has the speed and where
the time goes.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from jetflow_images.bicubic import rotate_bicubic

CHANNELS = ("pt", "pt_charged", "pt_neutral_hadron", "pt_photon", "n_charged")
ROTATIONS = ("exact", "interpolate")
NORMALISATIONS = ("none", "l1", "l2")


@nb.njit(cache=True, inline="always", error_model="numpy")
def _wrap_shifted(shifted):
    """:func:`jetflow.physics.wrap_phi` of an angle given as ``dphi + pi``: into (-pi, pi], bit for bit.

    ``np.mod`` is skipped where it would return its argument (``shifted`` in [0, 2 pi)).
    """
    if shifted < 0 or shifted >= 2 * np.pi:
        shifted = np.mod(shifted, 2 * np.pi)
    out = shifted - np.pi
    return np.pi if out == -np.pi else out


@nb.njit(cache=True, inline="always", error_model="numpy")
def _wrap(dphi):
    """:func:`jetflow.physics.wrap_phi` of one angle, without allocating."""
    return _wrap_shifted(dphi + np.pi)


@nb.njit(cache=True, inline="always", error_model="numpy")
def _rotation_angle(x, y, w, n):
    """The angle alpha that takes the pT-weighted principal axis of ``n`` points to -pi/2.

    The plane has x = dphi (width) and y = deta (height); the axis is oriented
    towards the weighted centroid.  Weightless jets get alpha = -pi/2.
    """
    sw = 0.0
    swx = 0.0
    swy = 0.0
    for m in range(n):
        sw += w[m]
        swx += w[m] * x[m]
        swy += w[m] * y[m]
    safe = sw if sw > 0 else 1.0
    mx = swx / safe
    my = swy / safe
    cxx = 0.0
    cyy = 0.0
    cxy = 0.0
    for m in range(n):
        dx = x[m] - mx
        dy = y[m] - my
        cxx += w[m] * dx * dx
        cyy += w[m] * dy * dy
        cxy += w[m] * dx * dy
    theta = 0.5 * np.arctan2(2 * cxy, cxx - cyy)
    if np.cos(theta) * mx + np.sin(theta) * my < 0:
        theta = theta + np.pi
    return -0.5 * np.pi - theta


@nb.njit(cache=True, _nrt=False, error_model="numpy")
def _write_image(image, pixels, n_pixels, npix, n_ch, flip, norm, out, scale):
    """Flip, normalise and write one float64 work image into float32 ``out``.

    Both are flat ``[npix * npix * n_ch]``; the work image is zero outside
    the listed ``pixels`` (``[2, n]``: rows, columns), so only those are read,
    divided and placed (the rest of ``out`` is zeroed).
    """
    mirror = False
    if flip:  # the left half heavier in channel 0: phi -> -phi
        half = npix // 2
        left = 0.0
        right = 0.0
        for t in range(n_pixels):  # without branches: x 1.0 and x 0.0 change no sum
            j = pixels[1, t]
            v = image[(pixels[0, t] * npix + j) * n_ch]
            left += v * (j < half)
            right += v * (j >= npix - half)
        mirror = left > right
    for c in range(n_ch):
        scale[c] = 1.0
    if norm != 0:
        for c in range(n_ch):
            s = 0.0
            for t in range(n_pixels):
                v = image[(pixels[0, t] * npix + pixels[1, t]) * n_ch + c]
                s += v if norm == 1 else v * v
            s = s if norm == 1 else np.sqrt(s)
            scale[c] = s if s > 0 else np.inf  # an empty channel stays zero
    for q in range(npix * npix * n_ch):
        out[q] = 0.0
    for t in range(n_pixels):
        p = pixels[0, t] * npix + pixels[1, t]
        dest = p + npix - 1 - 2 * pixels[1, t] if mirror else p
        for c in range(n_ch):
            if norm == 0:
                out[dest * n_ch + c] = image[p * n_ch + c]
            elif scale[c] < np.inf:
                out[dest * n_ch + c] = image[p * n_ch + c] / scale[c]


@nb.njit(cache=True, _nrt=False, error_model="numpy")
def _images_loop(offsets, eta, phi, values, center_eta, center_phi, second_eta, second_phi, has_second,
                 npix, size, rotate, interpolate, flip, norm, out,
                 xs, ys, grid, mark, touched, rotated, rot_touched, anchor, weights, scale):
    """The images of all jets into ``out`` (``[n_jets, npix * npix * n_ch]``), one jet at a time.

    Work space: ``xs``, ``ys`` a jet's constituents in its frame; ``grid`` its
    float64 pixel sums (flat ``[npix * npix * n_ch]``), ``touched`` the pixels
    they fill (``[2, npix * npix + 1]``: rows, columns), ``mark`` the last jet
    that filled each pixel; ``rotated``, ``rot_touched``, ``anchor``,
    ``weights`` the bicubic rotation's; ``scale`` the normalisation's.  Each
    jet leaves ``grid`` and ``rotated`` all zero again.
    """
    n_jets = offsets.shape[0] - 1
    n_ch = values.shape[1]
    for k in range(n_jets):
        lo = offsets[k]
        n = offsets[k + 1] - lo
        ce = center_eta[k]
        cp = center_phi[k]
        # translate: loops without branches or calls, which the compiler vectorises, unless a phi
        # difference needs the modulo of wrap_phi (a jet near phi = +-pi)
        in_range = True
        for m in range(n):
            ys[m] = eta[lo + m] - ce
            xs[m] = (phi[lo + m] - cp) + np.pi  # _wrap's shift
            in_range &= (xs[m] >= 0) & (xs[m] < 2 * np.pi)
        if in_range:
            for m in range(n):
                x = xs[m] - np.pi
                xs[m] = np.pi if x == -np.pi else x
        else:
            for m in range(n):
                xs[m] = _wrap_shifted(xs[m])
        # the rotation angle; the exact rotation turns the constituents
        alpha = 0.0
        if rotate:
            if has_second[k]:
                alpha = -0.5 * np.pi - np.arctan2(second_eta[k] - ce, _wrap(second_phi[k] - cp))
            else:
                alpha = _rotation_angle(xs, ys, values[lo:, 0], n)
        # the pixel of each constituent (as a float: row in ys, column in xs; vectorised), after the exact
        # rotation
        if rotate and not interpolate:
            ca = np.cos(alpha)
            sa = np.sin(alpha)
            for m in range(n):
                x = xs[m]
                y = ys[m]
                xs[m] = np.floor((ca * x - sa * y) / size + 0.5 * npix)
                ys[m] = np.floor((sa * x + ca * y) / size + 0.5 * npix)
        else:
            for m in range(n):
                xs[m] = np.floor(xs[m] / size + 0.5 * npix)
                ys[m] = np.floor(ys[m] / size + 0.5 * npix)
        # pixel sums, in the order of the constituents
        n_touched = 0
        for m in range(n):
            fi = ys[m]
            fj = xs[m]
            if not (fi >= 0 and fi < npix and fj >= 0 and fj < npix):
                continue
            i = int(fi)
            j = int(fj)
            p = i * npix + j
            for c in range(n_ch):
                grid[p * n_ch + c] += values[lo + m, c]
            # list the pixel if it is new to this jet, without a branch (it would be mispredicted;
            # hence one spare slot in ``touched``)
            touched[0, n_touched] = i
            touched[1, n_touched] = j
            n_touched += mark[p] != k
            mark[p] = k
        if rotate and interpolate:
            n_rotated = rotate_bicubic(grid, npix, npix, n_ch, touched, n_touched, alpha, rotated, rot_touched,
                                       anchor, k, weights)
            _write_image(rotated, rot_touched, n_rotated, npix, n_ch, flip, norm, out[k], scale)
            for t in range(n_rotated):
                for c in range(n_ch):
                    rotated[(rot_touched[0, t] * npix + rot_touched[1, t]) * n_ch + c] = 0.0
        else:
            _write_image(grid, touched, n_touched, npix, n_ch, flip, norm, out[k], scale)
        for t in range(n_touched):
            for c in range(n_ch):
                grid[(touched[0, t] * npix + touched[1, t]) * n_ch + c] = 0.0


@nb.njit(cache=True, error_model="numpy")
def _images_kernel(offsets, eta, phi, values, center_eta, center_phi, second_eta, second_phi, has_second,
                   npix, size, rotate, interpolate, flip, norm, out):
    """Allocates the work space once; ``_images_loop`` fills ``out`` (``[n_jets, npix * npix * n_ch]``)."""
    n_jets = offsets.shape[0] - 1
    n_ch = values.shape[1]
    npp = npix * npix
    max_n = 1
    for k in range(n_jets):
        max_n = max(max_n, offsets[k + 1] - offsets[k])
    _images_loop(
        offsets, eta, phi, values, center_eta, center_phi, second_eta, second_phi, has_second,
        npix, size, rotate, interpolate, flip, norm, out,
        np.empty(max_n), np.empty(max_n), np.zeros(npp * n_ch), np.full(npp, -1, dtype=np.int64),
        np.empty((2, npp + 1), dtype=np.int64), np.zeros(npp * n_ch), np.empty((2, npp), dtype=np.int64),
        np.full((npix + 3) * (npix + 3), -1, dtype=np.int64), np.empty(8), np.empty(n_ch),
    )


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
    npix, size
        Pixels per side and pixel size (in eta and in phi).
    rotate, rotation, flip, normalize
        The preprocessing (module docstring): ``rotation`` is ``"exact"`` or
        ``"interpolate"``, ``normalize`` ``"none"``, ``"l1"`` or ``"l2"``.

    Returns
    -------
    np.ndarray
        float32 ``[n_jets, npix, npix, n_channels]``.
    """
    if rotate and rotation not in ROTATIONS:
        raise ValueError(f"rotation must be 'exact' or 'interpolate', got {rotation!r}")
    if normalize not in NORMALISATIONS:
        raise ValueError(f"normalize must be none, l1 or l2, got {normalize!r}")
    counts = np.asarray(counts, dtype=np.int64)
    values = np.ascontiguousarray(channel_values, dtype=np.float64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    if (counts < 0).any() or offsets[-1] != len(eta) or len(phi) != len(eta) or len(values) != len(eta):
        raise ValueError(
            f"counts add up to {offsets[-1]} constituents; eta, phi and channel_values have "
            f"{len(eta)}, {len(phi)}, {len(values)}"
        )
    per_jet = [np.ascontiguousarray(a, dtype=np.float64) for a in (center_eta, center_phi, second_eta, second_phi)]
    # numpy's allocator (huge pages for large arrays): first touching the images costs 7x less than
    # with numba's on the 2-core VM, and that first touch is a quarter of the time
    out = np.empty((len(counts), npix, npix, values.shape[1]), dtype=np.float32)
    _images_kernel(
        offsets, np.ascontiguousarray(eta, dtype=np.float64), np.ascontiguousarray(phi, dtype=np.float64), values,
        *per_jet, np.ascontiguousarray(has_second, dtype=np.bool_),
        int(npix), float(size), bool(rotate), rotation == "interpolate", bool(flip), NORMALISATIONS.index(normalize),
        out.reshape(len(counts), npix * npix * values.shape[1]),  # (a chunk may have no jet)
    )
    return out


def pixel_centres(npix: int, size: float) -> np.ndarray:
    """Centres of the pixels along one axis, in the jet frame."""
    return (np.arange(npix) - (npix - 1) / 2) * size
