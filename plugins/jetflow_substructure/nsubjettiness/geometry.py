"""Distances in (rapidity, phi) for the N-subjettiness kernels, in two phi frames, and the inputs' preparation.

"wrapped": phi anywhere in [0, 2 pi), differences taken modulo 2 pi.
"compact": the jet's phis lie within an interval shorter than pi (true of any
jet of R < pi/2 and of every jet we have met), so plain differences are the
distances and the unwrapping drops out: 1.7 us less per 100-constituent jet in
the clustering and 3 us in the one-pass iterations (measured).
"""

from __future__ import annotations

import numba as nb
import numpy as np

TWO_PI = 2.0 * np.pi
FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}
"""numba fastmath flags of the vectorised loops: no nnan/ninf, so that infinities stay exact."""


@nb.njit(cache=True, inline="always")
def dphi(a, b):
    d = abs(a - b)
    if d > np.pi:
        d = TWO_PI - d
    return d


@nb.njit(cache=True, inline="always")
def dist2(rap_a, phi_a, rap_b, phi_b):
    dp = dphi(phi_a, phi_b)
    dr = rap_a - rap_b
    return dr * dr + dp * dp


@nb.njit(cache=True, inline="always")
def dist2_compact(rap_a, phi_a, rap_b, phi_b):
    """dist2 for phis in a compact frame (all differences within pi)."""
    dp = phi_a - phi_b
    dr = rap_a - rap_b
    return dr * dr + dp * dp


@nb.njit(cache=True, fastmath=FAST, inline="always")
def d2_wrapped(rap, phi, ar, ap):
    dp = abs(phi - ap)
    dp = min(dp, TWO_PI - dp)
    dr = rap - ar
    return dr * dr + dp * dp


@nb.njit(cache=True, fastmath=FAST, inline="always")
def d2_compact(rap, phi, ar, ap):
    dp = phi - ap
    dr = rap - ar
    return dr * dr + dp * dp


@nb.njit(cache=True, fastmath=FAST, inline="always")
def unwrap_wrapped(phi, axis_phi):
    """phi moved by 2 pi to lie within pi of the axis."""
    dp = phi - axis_phi
    return phi - TWO_PI * np.float64(dp > np.pi) + TWO_PI * np.float64(dp < -np.pi)


@nb.njit(cache=True, fastmath=FAST, inline="always")
def unwrap_compact(phi, axis_phi):
    return phi


@nb.njit(cache=True, inline="always")
def norm_wrapped(phi):
    return (phi + TWO_PI) % TWO_PI


@nb.njit(cache=True, inline="always")
def norm_compact(phi):
    return phi


@nb.njit(cache=True, _nrt=False)
def prepare_inputs(pt, eta, phi, mass, rap, phi0):
    """Rapidity y = asinh(pz / mT) (= eta for massless inputs) and phi in [0, 2 pi)."""
    for k in range(pt.shape[0]):
        m = mass[k]
        if m > 0.0:
            x = np.exp(eta[k])
            pz = 0.5 * pt[k] * (x - 1.0 / x)
            mt2 = pt[k] * pt[k] + m * m
            e = np.sqrt(mt2 + pz * pz)
            y = np.log((e + abs(pz)) / np.sqrt(mt2))  # no cancellation: |pz| instead of pz
            rap[k] = y if pz >= 0.0 else -y
        else:
            rap[k] = eta[k]
        f = phi[k]
        if -TWO_PI <= f < 0.0:
            f += TWO_PI  # as np.mod does it
        elif f < -TWO_PI or f >= TWO_PI:
            f = f % TWO_PI
        phi0[k] = f


@nb.njit(cache=True, _nrt=False)
def compact_frame(phi, out):
    """Write the jet's phis (in [0, 2 pi)) into ``out`` in a frame where they span
    less than pi (as they are, or those above pi moved down by 2 pi, which is
    exact); False if there is none."""
    n = phi.shape[0]
    lo = hi = phi[0]
    for k in range(1, n):
        lo = min(lo, phi[k])
        hi = max(hi, phi[k])
    if hi - lo < np.pi:
        for k in range(n):
            out[k] = phi[k]
        return True
    lo = hi = phi[0] - TWO_PI if phi[0] >= np.pi else phi[0]
    for k in range(n):
        f = phi[k] - TWO_PI if phi[k] >= np.pi else phi[k]
        out[k] = f
        lo = min(lo, f)
        hi = max(hi, f)
    return hi - lo < np.pi
