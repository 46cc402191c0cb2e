"""The N-subjettiness measure: tau_N given the axes, and FastJet contrib's one-pass refinement of the axes.

tau_N = sum_i pT_i min_a (Delta R_ia)^beta (unnormalised here; the driver
divides by R0^beta sum_i pT_i).  Every loop over the particles is a single
branch-free pass so that it vectorises; the beta cases and the phi frames are
compiled apart (factories below), since a branch on beta inside a loop stops
it vectorising (10x slower, measured).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from jetflow_substructure.nsubjettiness.geometry import (
    FAST,
    d2_compact,
    d2_wrapped,
    norm_compact,
    norm_wrapped,
    unwrap_compact,
    unwrap_wrapped,
)


def _make_tau(d2):
    @nb.njit(cache=True, _nrt=False, fastmath=FAST)
    def _tau(pt, rap, phi, ax_rap, ax_phi, n_axes, beta):
        """The unnormalised tau_N: sum of pT times the distance to the closest axis to the beta.

        One loop for any number of axes (up to 3; missing axes repeat the last one) and
        the beta branch outside it, so that it vectorises.
        """
        r0, p0 = ax_rap[0], ax_phi[0]
        r1, p1 = (ax_rap[1], ax_phi[1]) if n_axes > 1 else (r0, p0)
        r2, p2 = (ax_rap[2], ax_phi[2]) if n_axes > 2 else (r1, p1)
        num = 0.0
        if beta == 1.0:
            for i in range(pt.shape[0]):
                d = min(d2(rap[i], phi[i], r0, p0), d2(rap[i], phi[i], r1, p1), d2(rap[i], phi[i], r2, p2))
                num += pt[i] * np.sqrt(d)
        else:
            for i in range(pt.shape[0]):
                d = min(d2(rap[i], phi[i], r0, p0), d2(rap[i], phi[i], r1, p1), d2(rap[i], phi[i], r2, p2))
                num += pt[i] * d ** (0.5 * beta)
        return num

    return _tau


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _weight_beta1(pt, d2, eps2, beta):
    return pt / np.sqrt(eps2 + d2)


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _weight_beta2(pt, d2, eps2, beta):
    return pt


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _weight_any(pt, d2, eps2, beta):
    return pt * (eps2 + d2) ** (0.5 * beta - 1.0)


def _make_update_sums(weight, d2, unwrap):
    """The update step below with the weight pT * Delta R^(beta - 2) given by ``weight``
    (Delta R softened by the accuracy) in the phi frame of ``d2``, ``unwrap``; one
    compiled loop per beta case, since a branch on beta inside the loop stops it
    vectorising (10x slower, measured)."""

    @nb.njit(cache=True, _nrt=False, fastmath=FAST, error_model="numpy")
    def _update_sums(pt, rap, phi, ar, ap, n_axes, eps2, beta, sums):
        """One step of the contrib's axis update (``UpdateAxes``), in one pass over the particles.

        Each particle goes to its closest axis and adds w, w * rap and w * phi (phi
        unwrapped next to that axis) to the axis's sums, w = ``weight``.  One loop
        per number of axes, free of branches (the assignment is a 0/1 factor, exact:
        w * 1 and w - w), so that it vectorises; ties go to the lower axis index, as
        in the contrib.  sums: [3, 3], row a = (sw, sr, sp).
        """
        n = pt.shape[0]
        if n_axes == 1:
            r0, p0 = ar[0], ap[0]
            w0 = s0 = q0 = 0.0
            for i in range(n):
                w = weight(pt[i], d2(rap[i], phi[i], r0, p0), eps2, beta)
                w0 += w
                s0 += w * rap[i]
                q0 += w * unwrap(phi[i], p0)
            sums[0, 0], sums[0, 1], sums[0, 2] = w0, s0, q0
        elif n_axes == 2:
            r0, p0, r1, p1 = ar[0], ap[0], ar[1], ap[1]
            w0 = s0 = q0 = w1 = s1 = q1 = 0.0
            for i in range(n):
                d0 = d2(rap[i], phi[i], r0, p0)
                d1 = d2(rap[i], phi[i], r1, p1)
                w = weight(pt[i], min(d0, d1), eps2, beta)
                b = w * np.float64(d1 < d0)
                a = w - b
                w0 += a
                s0 += a * rap[i]
                q0 += a * unwrap(phi[i], p0)
                w1 += b
                s1 += b * rap[i]
                q1 += b * unwrap(phi[i], p1)
            sums[0, 0], sums[0, 1], sums[0, 2] = w0, s0, q0
            sums[1, 0], sums[1, 1], sums[1, 2] = w1, s1, q1
        else:
            r0, p0, r1, p1, r2, p2 = ar[0], ap[0], ar[1], ap[1], ar[2], ap[2]
            w0 = s0 = q0 = w1 = s1 = q1 = w2 = s2 = q2 = 0.0
            for i in range(n):
                d0 = d2(rap[i], phi[i], r0, p0)
                d1 = d2(rap[i], phi[i], r1, p1)
                d2_ = d2(rap[i], phi[i], r2, p2)
                d01 = min(d0, d1)
                w = weight(pt[i], min(d01, d2_), eps2, beta)
                c = w * np.float64(d2_ < d01)
                rest = w - c
                b = rest * np.float64(d1 < d0)
                a = rest - b
                w0 += a
                s0 += a * rap[i]
                q0 += a * unwrap(phi[i], p0)
                w1 += b
                s1 += b * rap[i]
                q1 += b * unwrap(phi[i], p1)
                w2 += c
                s2 += c * rap[i]
                q2 += c * unwrap(phi[i], p2)
            sums[0, 0], sums[0, 1], sums[0, 2] = w0, s0, q0
            sums[1, 0], sums[1, 1], sums[1, 2] = w1, s1, q1
            sums[2, 0], sums[2, 1], sums[2, 2] = w2, s2, q2

    return _update_sums


def _make_one_pass(d2, unwrap, norm, tau):
    sums_beta1 = _make_update_sums(_weight_beta1, d2, unwrap)
    sums_beta2 = _make_update_sums(_weight_beta2, d2, unwrap)
    sums_any = _make_update_sums(_weight_any, d2, unwrap)

    @nb.njit(cache=True, _nrt=False)
    def _one_pass(pt, rap, phi, ax_rap, ax_phi, n_axes, beta, accuracy, max_attempts, sums):
        """FastJet contrib's axis refinement for the pT-R measure (``UpdateAxes``),
        iterated until the axes move by less than ``accuracy`` on average.  The seed
        axes ``ax_rap``, ``ax_phi`` are refined in place."""
        eps2 = accuracy * accuracy
        for _ in range(max_attempts):
            if beta == 1.0:
                sums_beta1(pt, rap, phi, ax_rap, ax_phi, n_axes, eps2, beta, sums)
            elif beta == 2.0:
                sums_beta2(pt, rap, phi, ax_rap, ax_phi, n_axes, eps2, beta, sums)
            else:
                sums_any(pt, rap, phi, ax_rap, ax_phi, n_axes, eps2, beta, sums)
            cmp = 0.0
            for a in range(n_axes):
                sw, sr, sp = sums[a, 0], sums[a, 1], sums[a, 2]
                if sw != 0.0:  # an axis without particles stays
                    new_rap = sr / sw
                    new_phi = norm(sp / sw)
                    cmp += np.sqrt(d2(ax_rap[a], ax_phi[a], new_rap, new_phi))
                    ax_rap[a] = new_rap
                    ax_phi[a] = new_phi
            if cmp / n_axes <= accuracy:
                break
        return tau(pt, rap, phi, ax_rap, ax_phi, n_axes, beta)

    return _one_pass


TAU_WRAPPED = _make_tau(d2_wrapped)
TAU_COMPACT = _make_tau(d2_compact)
ONE_PASS_WRAPPED = _make_one_pass(d2_wrapped, unwrap_wrapped, norm_wrapped, TAU_WRAPPED)
ONE_PASS_COMPACT = _make_one_pass(d2_compact, unwrap_compact, norm_compact, TAU_COMPACT)
