"""Bicubic rotation of images about their centre (Keys' cubic convolution, a = -0.5), zero outside.

The ``rotation="interpolate"`` step of the jet images (:mod:`jetflow_images.images`
calls :func:`rotate_bicubic` on each jet's work image), as the original study rotated
its images ([jet-images]).  Output pixel (i, j) takes the value interpolated at its
position turned back by -alpha from the 4 x 4 source pixels around it: a dense
gather, computed only where a lit source pixel is within reach.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True, inline="always", error_model="numpy")
def _keys(d):
    """Keys' cubic convolution kernel (a = -0.5) at distance d in [0, 2]."""
    a = -0.5
    if d <= 1:
        return (a + 2) * (d * d * d) - (a + 3) * (d * d) + 1
    return a * (d * d * d) - 5 * a * (d * d) + 8 * a * d - 4 * a


@nb.njit(cache=True, inline="always", error_model="numpy")
def _tap_weights(t, weights, at):
    """Weights of the taps -1, 0, 1, 2 around a sample at offset t in [0, 1) into ``weights[at:at + 4]``."""
    weights[at] = _keys(1 + t)
    weights[at + 1] = _keys(t)
    weights[at + 2] = _keys(1 - t)
    weights[at + 3] = _keys(2 - t)


@nb.njit(cache=True, _nrt=False, error_model="numpy")
def rotate_bicubic(src, h, w, n_ch, touched, n_touched, alpha, dst, dst_touched, anchor, stamp, weights):
    """Rotate one image by alpha about its centre (bicubic, zero outside) into ``dst``.

    ``src`` and ``dst`` are flat ``[h * w * n_ch]`` images; ``src`` is zero
    outside the ``touched`` pixels (``[2, n]``: rows, columns), ``dst`` comes
    in all zero.  Output pixel (i, j) samples the source at its position
    rotated back by -alpha, from the 4 x 4 pixels around it, with the tap
    order and weights of a dense gather.  Only output pixels whose 4 x 4
    window holds a touched pixel are computed (``anchor``, stamped with
    ``stamp``, marks the window corners that do); the others stay zero, as
    their sum would be.  Returns the number of output pixels computed, listed
    in ``dst_touched`` as ``touched`` lists its pixels.
    """
    cy = (h - 1) / 2
    cx = (w - 1) / 2
    ca = np.cos(alpha)
    sa = np.sin(alpha)
    aw = w + 3  # window corners x0 in [-2, w], y0 in [-2, h]
    # the window corners that see a touched pixel, and the bounding box of the output pixels that may
    lo_i, hi_i, lo_j, hi_j = h, -1, w, -1
    for t in range(n_touched):
        qi = touched[0, t]
        qj = touched[1, t]
        for y0 in range(qi - 2, qi + 2):
            for x0 in range(qj - 2, qj + 2):
                anchor[(y0 + 2) * aw + x0 + 2] = stamp
        # where the pixel lands, with the window's reach (2 sqrt 2) and a pixel of margin
        pj = ca * (qj - cx) - sa * (qi - cy) + cx
        pi = sa * (qj - cx) + ca * (qi - cy) + cy
        lo_i = min(lo_i, int(np.floor(pi - 3.9)))
        hi_i = max(hi_i, int(np.ceil(pi + 3.9)))
        lo_j = min(lo_j, int(np.floor(pj - 3.9)))
        hi_j = max(hi_j, int(np.ceil(pj + 3.9)))
    n_out = 0
    for i in range(max(lo_i, 0), min(hi_i + 1, h)):
        yy = i - cy
        for j in range(max(lo_j, 0), min(hi_j + 1, w)):
            xx = j - cx
            sx = ca * xx + sa * yy + cx
            sy = -sa * xx + ca * yy + cy
            x0f = np.floor(sx)
            y0f = np.floor(sy)
            if not (x0f >= -2 and x0f <= w and y0f >= -2 and y0f <= h):
                continue
            x0 = int(x0f)
            y0 = int(y0f)
            if anchor[(y0 + 2) * aw + x0 + 2] != stamp:
                continue
            _tap_weights(sx - x0f, weights, 0)
            _tap_weights(sy - y0f, weights, 4)
            p = (i * w + j) * n_ch
            for dy in range(4):
                yi = y0 + dy - 1
                if yi < 0 or yi >= h:
                    continue
                for dx in range(4):
                    xi = x0 + dx - 1
                    if xi < 0 or xi >= w:
                        continue
                    weight = weights[4 + dy] * weights[dx]
                    q = (yi * w + xi) * n_ch
                    for c in range(n_ch):
                        dst[p + c] += weight * src[q + c]
            dst_touched[0, n_out] = i
            dst_touched[1, n_out] = j
            n_out += 1
    return n_out


def rotate_images_bicubic(images: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Rotate each image by its angle about the centre, bicubic interpolation, zero outside.

    ``images`` [n, H, W, C]; the rotation acts in the (x = column, y = row)
    plane, counter-clockwise for alpha > 0.  The same rotation as
    ``rotation="interpolate"`` applies to jet images; returned in the dtype of
    ``images``.
    """
    n, h, w, c = images.shape
    src = np.ascontiguousarray(images, dtype=np.float64).reshape(n, h * w * c)
    out = _rotate_dense(src, h, w, np.ascontiguousarray(alpha, dtype=np.float64))
    return out.reshape(n, h, w, c).astype(images.dtype, copy=False)


@nb.njit(cache=True, error_model="numpy")
def _rotate_dense(src, h, w, alpha):
    """Flat images ``[n, h * w * n_ch]`` rotated by ``alpha``, every pixel a source."""
    n, size = src.shape
    n_ch = size // (h * w)
    out = np.zeros((n, size))
    every = np.empty((2, h * w), dtype=np.int64)
    for p in range(h * w):
        every[0, p] = p // w
        every[1, p] = p % w
    computed = np.empty((2, h * w), dtype=np.int64)
    anchor = np.full((h + 3) * (w + 3), -1, dtype=np.int64)
    weights = np.empty(8)
    for k in range(n):
        rotate_bicubic(src[k], h, w, n_ch, every, h * w, alpha[k], out[k], computed, anchor, k, weights)
    return out
