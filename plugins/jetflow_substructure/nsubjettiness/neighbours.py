"""Nearest neighbours in (rapidity, phi) for the exclusive-kt clusterings: points kept sorted in rapidity,
a search scans outwards and stops once the rapidity gap alone exceeds the best distance."""

from __future__ import annotations

import numba as nb
import numpy as np

from jetflow_substructure.nsubjettiness.geometry import dist2, dist2_compact

# ``_nrt=False``: these kernels allocate nothing, and without numba's reference
# counting they lose the atomic incref/decref pairs that its inlining leaves in
# the merge loop on every array view (~12% of the WTA clustering, measured).


@nb.njit(cache=True, _nrt=False)
def geometric_nn(k, alive, m, rap, phi):
    """Nearest neighbour of k among the m alive clusters, in (rapidity, phi)."""
    best = np.inf
    best_j = -1
    rk = rap[k]
    pk = phi[k]
    for t in range(m):
        j = alive[t]
        if j == k:
            continue
        d = dist2(rk, pk, rap[j], phi[j])
        if d < best:
            best = d
            best_j = j
    return best_j, best


@nb.njit(cache=True, _nrt=False)
def rapidity_order(n, rap, order, counts):
    """``order[:n]``: the indices of ``rap[:n]`` in increasing order (stable).

    A counting sort into n equal-width bins, then an insertion sort, which has
    little left to do: O(n) for the smooth spread of constituents in a jet
    (numba's argsort takes three times as long on 100 constituents, measured).
    ``counts``: int scratch space of n + 1.
    """
    lo = rap[0]
    hi = rap[0]
    for k in range(1, n):
        lo = min(lo, rap[k])
        hi = max(hi, rap[k])
    for b in range(n + 1):
        counts[b] = 0
    scale = (n - 1) / (hi - lo) if hi > lo else 0.0
    for k in range(n):
        counts[int((rap[k] - lo) * scale) + 1] += 1
    for b in range(1, n + 1):
        counts[b] += counts[b - 1]
    for k in range(n):
        b = int((rap[k] - lo) * scale)
        order[counts[b]] = k
        counts[b] += 1
    for p in range(1, n):
        k = order[p]
        y = rap[k]
        q = p
        while q > 0 and rap[order[q - 1]] > y:
            order[q] = order[q - 1]
            q -= 1
        order[q] = k


def _make_neighbours(distance):
    """The nearest-neighbour searches below with the squared distance ``distance``."""

    @nb.njit(cache=True, inline="always")
    def _find_nn(k, n, sr, sp, gnn, gdist):
        """Nearest neighbour of point k among points sorted in rapidity (dead ones: phi = inf)."""
        best = np.inf
        best_q = -1
        rk = sr[k]
        pk = sp[k]
        for q in range(k + 1, n):
            dy = sr[q] - rk
            if dy * dy >= best:
                break
            d = distance(rk, pk, sr[q], sp[q])
            if d < best:
                best = d
                best_q = q
        for q in range(k - 1, -1, -1):
            dy = rk - sr[q]
            if dy * dy >= best:
                break
            d = distance(rk, pk, sr[q], sp[q])
            if d < best:
                best = d
                best_q = q
        gnn[k] = best_q
        gdist[k] = best

    @nb.njit(cache=True, _nrt=False)
    def _sorted_neighbours(n, sr, sp, gnn, gdist):
        """Nearest neighbour (position, squared distance) of each of ``n`` points sorted in rapidity.

        The scan from each point outwards stops once the rapidity gap alone exceeds
        the best distance found.  On exactly equal distances the first point found
        wins (upwards first).
        """
        for p in range(n):
            _find_nn(p, n, sr, sp, gnn, gdist)

    return _find_nn, _sorted_neighbours


FIND_NN_WRAPPED, SORTED_NEIGHBOURS_WRAPPED = _make_neighbours(dist2)
FIND_NN_COMPACT, SORTED_NEIGHBOURS_COMPACT = _make_neighbours(dist2_compact)


@nb.njit(cache=True, _nrt=False)
def initial_neighbours(n, rap, phi, gnn, gdist, srt, counts, sr, sp, gpos, gdpos):
    """Geometric nearest neighbour (index, squared distance) of each of ``n`` points.

    ``srt``, ``counts``, ``gpos`` (int) and ``sr``, ``sp``, ``gdpos`` (float) are
    scratch space: the rapidity order, sorted copies, the answers by position.
    """
    rapidity_order(n, rap, srt, counts)
    for p in range(n):
        sr[p] = rap[srt[p]]
        sp[p] = phi[srt[p]]
    SORTED_NEIGHBOURS_WRAPPED(n, sr, sp, gpos, gdpos)
    for p in range(n):
        k = srt[p]
        gnn[k] = srt[gpos[p]] if gpos[p] >= 0 else -1
        gdist[k] = gdpos[p]
