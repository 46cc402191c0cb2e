"""N-subjettiness for every jet of a chunk at once (numba).

tau_N (Thaler, Van Tilburg, arXiv:1011.2268) with the normalised measure:

    tau_N = sum_i pT_i min_a (Delta R_ia)^beta / (R0^beta sum_i pT_i),

Delta R in (rapidity, phi), as FastJet contrib's ``Nsubjettiness`` with
``NormalizedMeasure(beta, R0)`` computes it.  Axes (``axes=``):

``"kt"``
    exclusive kt clustering down to N jets, E-scheme recombination (``KT_Axes``);
``"wta_kt"``
    exclusive kt clustering with winner-take-all recombination: the merged
    direction is the harder input's, pT adds (``WTA_KT_Axes``; Larkoski,
    Neill, Thaler, arXiv:1401.2158);
``"onepass_kt"``, ``"onepass_wta_kt"``
    those seeds refined by iterating the contrib's axis update (a pT-weighted,
    1/Delta R-weighted mean for beta = 1) until the axes move by less than
    1e-4 on average (``OnePass_KT_Axes``, ``OnePass_WTA_KT_Axes``).

One exclusive-kt clustering per jet serves N = 1, 2, 3 (the axes of N jets are
the clustering's state with N jets left).  The clustering keeps a
nearest-neighbour table (FastJet's N2Plain idea): O(n^2) per jet instead of
O(n^3).  With WTA recombination points never move, so the clusters stay in
rapidity-sorted arrays and a nearest-neighbour search scans a short window
(``_wta_kt_axes``).  The one-pass update and tau itself are single
vectorised passes over the particles.  A jet with n <= N constituents has
tau_N = 0 (as in FastJet contrib).

Where the time goes (100-constituent jets, one core of the 2-core VM, WTA
axes, 23 us per jet): ~6 us set-up and initial nearest neighbours, ~15 us the
99 merges, ~1 us rapidities, ~0.4 us the three tau sums; one-pass iterations
add ~9 us (about 60 iterations over N = 1, 2, 3).  docs/benchmarks.md has the
measurements and what was tried.

Exact ties (two pairs at exactly the same kt distance, common on a tower grid)
may be merged in another order than FastJet's, which can change the axes of a
small fraction of tower jets; particle-level jets have no ties.
"""

from __future__ import annotations

import numba as nb
import numpy as np

AXES = {"kt": 0, "wta_kt": 1, "onepass_kt": 2, "onepass_wta_kt": 3}
TWO_PI = 2.0 * np.pi

# ``_nrt=False``: these kernels allocate nothing, and without numba's reference
# counting they lose the atomic incref/decref pairs that its inlining leaves in
# the merge loop on every array view (~12% of the WTA clustering, measured).


@nb.njit(cache=True, inline="always")
def _dphi(a, b):
    d = abs(a - b)
    if d > np.pi:
        d = TWO_PI - d
    return d


@nb.njit(cache=True, inline="always")
def _dist2(rap_a, phi_a, rap_b, phi_b):
    dp = _dphi(phi_a, phi_b)
    dr = rap_a - rap_b
    return dr * dr + dp * dp


@nb.njit(cache=True, _nrt=False)
def _geometric_nn(k, alive, m, rap, phi):
    """Nearest neighbour of k among the m alive clusters, in (rapidity, phi)."""
    best = np.inf
    best_j = -1
    rk = rap[k]
    pk = phi[k]
    for t in range(m):
        j = alive[t]
        if j == k:
            continue
        d = _dist2(rk, pk, rap[j], phi[j])
        if d < best:
            best = d
            best_j = j
    return best_j, best


@nb.njit(cache=True, _nrt=False)
def _rapidity_order(n, rap, order, counts):
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


@nb.njit(cache=True, inline="always")
def _dist2_compact(rap_a, phi_a, rap_b, phi_b):
    """_dist2 for phis in a compact frame (all differences within pi)."""
    dp = phi_a - phi_b
    dr = rap_a - rap_b
    return dr * dr + dp * dp


def _make_neighbours(dist2):
    """The nearest-neighbour searches below with the distance ``dist2``."""

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
            d = dist2(rk, pk, sr[q], sp[q])
            if d < best:
                best = d
                best_q = q
        for q in range(k - 1, -1, -1):
            dy = rk - sr[q]
            if dy * dy >= best:
                break
            d = dist2(rk, pk, sr[q], sp[q])
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


_FIND_NN_WRAPPED, _SORTED_NEIGHBOURS_WRAPPED = _make_neighbours(_dist2)
_FIND_NN_COMPACT, _SORTED_NEIGHBOURS_COMPACT = _make_neighbours(_dist2_compact)


@nb.njit(cache=True, _nrt=False)
def _initial_neighbours(n, rap, phi, gnn, gdist, srt, counts, sr, sp, gpos, gdpos):
    """Geometric nearest neighbour (index, squared distance) of each of ``n`` points.

    ``srt``, ``counts``, ``gpos`` (int) and ``sr``, ``sp``, ``gdpos`` (float) are
    scratch space: the rapidity order, sorted copies, the answers by position.
    """
    _rapidity_order(n, rap, srt, counts)
    for p in range(n):
        sr[p] = rap[srt[p]]
        sp[p] = phi[srt[p]]
    _SORTED_NEIGHBOURS_WRAPPED(n, sr, sp, gpos, gdpos)
    for p in range(n):
        k = srt[p]
        gnn[k] = srt[gpos[p]] if gpos[p] >= 0 else -1
        gdist[k] = gdpos[p]


@nb.njit(cache=True, _nrt=False)
def _set_direction(k, px, py, pz, e, pt2, rap, phi):
    pt2[k] = px[k] * px[k] + py[k] * py[k]
    p = np.arctan2(py[k], px[k])
    if p < 0:
        p += TWO_PI
    phi[k] = p
    # rapidity as FastJet computes it (E-scheme pseudojets are massive)
    ez = e[k] + pz[k]
    ez2 = e[k] - pz[k]
    if ez2 <= 0.0 or ez <= 0.0:
        rap[k] = 1e5 if pz[k] > 0 else -1e5
    else:
        rap[k] = 0.5 * np.log(ez / ez2)


@nb.njit(cache=True, _nrt=False)
def _exclusive_kt_axes(n, rap_in, phi_in, pt_in, px_in, py_in, pz_in, e_in, wta, out_rap, out_phi, buf_f, buf_i, counts):
    """Exclusive kt clustering of one jet down to one jet; the axes with 3, 2 and 1 jets left.

    The kt distance min(pT_i^2, pT_j^2) Delta R_ij^2 of the closest pair is
    reached at a pair (i, G(i)) where G(i) is i's geometric nearest neighbour
    (FastJet's observation), so only geometric neighbours are tracked.  With
    winner-take-all recombination the survivor keeps its direction, so a merge
    only disturbs the clusters whose neighbour disappeared.  The alive clusters
    are kept packed in a list, so every pass touches only those.

    out_rap/out_phi: [3, 3]; row N-1 holds the N axes.  buf_f: [12, >= n]
    float work space, buf_i: [4, >= n] int work space, counts: int [>= n + 1].
    """
    c_pt = buf_f[0]
    c_pt2 = buf_f[1]
    c_rap = buf_f[2]
    c_phi = buf_f[3]
    gdist = buf_f[4]
    c_px = buf_f[5]
    c_py = buf_f[6]
    c_pz = buf_f[7]
    c_e = buf_f[8]
    dkt = buf_f[9]
    gnn = buf_i[0]
    alive = buf_i[2]
    pos = buf_i[3]
    for k in range(n):
        c_pt[k] = pt_in[k]
        c_pt2[k] = pt_in[k] * pt_in[k]
        c_rap[k] = rap_in[k]
        c_phi[k] = phi_in[k]
        c_px[k] = px_in[k]
        c_py[k] = py_in[k]
        c_pz[k] = pz_in[k]
        c_e[k] = e_in[k]
    _initial_neighbours(n, c_rap, c_phi, gnn, gdist, buf_i[1], counts, dkt, buf_f[10], pos, buf_f[11])
    for k in range(n):
        alive[k] = k
        pos[k] = k
    i_min = -1
    best = np.inf
    for k in range(n):
        dkt[k] = min(c_pt2[k], c_pt2[gnn[k]]) * gdist[k] if gnn[k] >= 0 else np.inf
        if dkt[k] < best:
            best = dkt[k]
            i_min = k
    m = n
    if m <= 3:
        for k in range(n):
            out_rap[m - 1, k] = c_rap[k]
            out_phi[m - 1, k] = c_phi[k]
    while m > 1:
        i = i_min
        j = gnn[i]
        if wta:
            # the harder input survives with its direction; pT adds
            if c_pt[j] > c_pt[i]:
                s, r = j, i
            else:
                s, r = i, j
            c_pt[s] = c_pt[s] + c_pt[r]
            c_pt2[s] = c_pt[s] * c_pt[s]
        else:
            s, r = (i, j) if i < j else (j, i)
            c_px[s] += c_px[r]
            c_py[s] += c_py[r]
            c_pz[s] += c_pz[r]
            c_e[s] += c_e[r]
            _set_direction(s, c_px, c_py, c_pz, c_e, c_pt2, c_rap, c_phi)
            c_pt[s] = np.sqrt(c_pt2[s])
        # remove r from the packed list of alive clusters
        t = pos[r]
        last = alive[m - 1]
        alive[t] = last
        pos[last] = t
        m -= 1
        if m == 1:
            out_rap[0, 0] = c_rap[s]
            out_phi[0, 0] = c_phi[s]
            break
        if (not wta) or gnn[s] == r:
            gnn[s], gdist[s] = _geometric_nn(s, alive, m, c_rap, c_phi)
        best = np.inf
        i_min = -1
        for t in range(m):
            k = alive[t]
            if k != s:
                if gnn[k] == r or ((not wta) and gnn[k] == s):
                    gnn[k], gdist[k] = _geometric_nn(k, alive, m, c_rap, c_phi)
                elif not wta:
                    d = _dist2(c_rap[k], c_phi[k], c_rap[s], c_phi[s])
                    if d < gdist[k]:
                        gnn[k] = s
                        gdist[k] = d
            dk = min(c_pt2[k], c_pt2[gnn[k]]) * gdist[k]
            dkt[k] = dk
            if dk < best:
                best = dk
                i_min = k
        if m <= 3:
            for t in range(m):
                k = alive[t]
                out_rap[m - 1, t] = c_rap[k]
                out_phi[m - 1, t] = c_phi[k]


BLOCK = 8  # clusters per block of the minimum search in the WTA clustering


@nb.njit(cache=True, inline="always")
def _block_min(dkt, bmin, k):
    """Re-establish the minimum of the block of position k after dkt[k] changed
    (dkt is padded with inf to whole blocks: fixed trip count, vectorised)."""
    lo = (k // BLOCK) * BLOCK
    mn = np.inf
    for p in range(lo, lo + BLOCK):
        v = dkt[p]
        mn = v if v < mn else mn
    bmin[k // BLOCK] = mn


@nb.njit(cache=True, inline="always")
def _argmin(dkt, bmin, n):
    """Position of the smallest dkt; among equal ones the lowest position (rapidity order).

    The minimum of the block minima vectorises; finding it again costs two
    well-predicted scans.  (Settling ties by input index instead cost 10% of the
    clustering: the two ends of the closest pair always tie.)"""
    n_blocks = (n + BLOCK - 1) // BLOCK
    mn = np.inf
    for b in range(n_blocks):
        v = bmin[b]
        mn = v if v < mn else mn
    for b in range(n_blocks):
        if bmin[b] == mn:
            for p in range(b * BLOCK, b * BLOCK + BLOCK):
                if dkt[p] == mn:
                    return p
    return -1


@nb.njit(cache=True, _nrt=False)
def _wta_kt_axes(n, rap, phi, pt_in, out_rap, out_phi, wf, wi):
    """Exclusive kt clustering with winner-take-all recombination.

    The survivor of a WTA merge keeps its direction, so the geometry only loses
    points.  The clusters sit in arrays sorted in rapidity; a merged-away
    cluster gets phi = inf, at infinite distance from everything (squeezing
    the dead out as they accumulate gained nothing measurable at n = 100).  A
    nearest-neighbour search scans outwards from a point and stops once the
    rapidity gap alone exceeds the best distance.  Each cluster knows who has
    it as nearest neighbour (linked "in" lists), so a merge revisits only
    those.  The smallest kt distance comes from per-block minima (blocks of
    ``BLOCK``).  ``phi`` must be in a compact frame (``_compact_frame``): the
    distances are plain differences.

    wf: [7, >= n rounded up to whole blocks] floats, wi: [7, >= n + 1] ints.
    """
    y = wf[0]
    p = wf[1]
    pt = wf[2]
    pt2 = wf[3]
    gd = wf[4]
    dkt = wf[5]
    bmin = wf[6]
    gnn = wi[0]
    ids = wi[1]
    in_head = wi[2]
    in_next = wi[3]
    in_prev = wi[4]
    _rapidity_order(n, rap, ids, wi[5])
    for q in range(n):
        k = ids[q]
        y[q] = rap[k]
        p[q] = phi[k]
        pt[q] = pt_in[k]
        pt2[q] = pt[q] * pt[q]
    _SORTED_NEIGHBOURS_COMPACT(n, y, p, gnn, gd)
    for q in range(n):
        dkt[q] = min(pt2[q], pt2[gnn[q]]) * gd[q] if gnn[q] >= 0 else np.inf
    for q in range(n, (n + BLOCK - 1) // BLOCK * BLOCK):
        dkt[q] = np.inf
    for q in range(n):
        in_head[q] = -1
    for q in range(n):
        _in_add(q, gnn[q], in_head, in_next, in_prev)
    for q in range(0, n, BLOCK):
        _block_min(dkt, bmin, q)
    m = n
    if m <= 3:
        _snapshot(n, y, p, m, out_rap, out_phi)
    while m > 1:
        i = _argmin(dkt, bmin, n)
        j = gnn[i]
        if pt[j] > pt[i]:
            s, r = j, i
        else:
            s, r = i, j
        pt[s] += pt[r]
        pt2[s] = pt[s] * pt[s]
        # r merges away: infinitely far from everything, out of its target's in-list
        p[r] = np.inf
        dkt[r] = np.inf
        _block_min(dkt, bmin, r)
        _in_remove(r, gnn[r], in_head, in_next, in_prev)
        m -= 1
        if m == 1:
            out_rap[0, 0] = y[s]
            out_phi[0, 0] = p[s]
            break
        # clusters that had r as nearest neighbour look again
        k = in_head[r]
        while k >= 0:
            after = in_next[k]
            _FIND_NN_COMPACT(k, n, y, p, gnn, gd)
            _in_add(k, gnn[k], in_head, in_next, in_prev)
            dkt[k] = min(pt2[k], pt2[gnn[k]]) * gd[k]
            _block_min(dkt, bmin, k)
            k = after
        in_head[r] = -1
        # s is harder now: its distance and those of its followers change
        dkt[s] = min(pt2[s], pt2[gnn[s]]) * gd[s]
        _block_min(dkt, bmin, s)
        k = in_head[s]
        while k >= 0:
            dkt[k] = min(pt2[k], pt2[s]) * gd[k]
            _block_min(dkt, bmin, k)
            k = in_next[k]
        if m <= 3:
            _snapshot(n, y, p, m, out_rap, out_phi)


@nb.njit(cache=True, inline="always")
def _in_add(k, target, in_head, in_next, in_prev):
    if target < 0:
        return
    first = in_head[target]
    in_next[k] = first
    in_prev[k] = -1
    if first >= 0:
        in_prev[first] = k
    in_head[target] = k


@nb.njit(cache=True, inline="always")
def _in_remove(k, target, in_head, in_next, in_prev):
    if target < 0:
        return
    if in_prev[k] >= 0:
        in_next[in_prev[k]] = in_next[k]
    else:
        in_head[target] = in_next[k]
    if in_next[k] >= 0:
        in_prev[in_next[k]] = in_prev[k]


@nb.njit(cache=True, _nrt=False)
def _snapshot(n, y, p, m, out_rap, out_phi):
    """The m clusters still alive, in rapidity order, into row m - 1 of the axes."""
    t = 0
    for q in range(n):
        if p[q] != np.inf:
            out_rap[m - 1, t] = y[q]
            out_phi[m - 1, t] = p[q]
            t += 1


_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}  # no nnan/ninf: infinities stay exact


# Two phi frames.  "wrapped": phi anywhere, differences taken modulo 2 pi.
# "compact": the jet's phis lie within an interval shorter than pi (true of any
# jet of R < pi/2 and of every jet we have met), so plain differences are the
# distances and the unwrapping drops out: 1.7 us less per 100-constituent jet
# in the clustering and 3 us in the one-pass iterations (measured).
@nb.njit(cache=True, fastmath=_FAST, inline="always")
def _d2_wrapped(rap, phi, ar, ap):
    dp = abs(phi - ap)
    dp = min(dp, TWO_PI - dp)
    dr = rap - ar
    return dr * dr + dp * dp


@nb.njit(cache=True, fastmath=_FAST, inline="always")
def _d2_compact(rap, phi, ar, ap):
    dp = phi - ap
    dr = rap - ar
    return dr * dr + dp * dp


@nb.njit(cache=True, fastmath=_FAST, inline="always")
def _unwrap_wrapped(phi, axis_phi):
    """phi moved by 2 pi to lie within pi of the axis."""
    dp = phi - axis_phi
    return phi - TWO_PI * np.float64(dp > np.pi) + TWO_PI * np.float64(dp < -np.pi)


@nb.njit(cache=True, fastmath=_FAST, inline="always")
def _unwrap_compact(phi, axis_phi):
    return phi


@nb.njit(cache=True, inline="always")
def _norm_wrapped(phi):
    return (phi + TWO_PI) % TWO_PI


@nb.njit(cache=True, inline="always")
def _norm_compact(phi):
    return phi


def _make_tau(d2):
    @nb.njit(cache=True, _nrt=False, fastmath=_FAST)
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


@nb.njit(cache=True, fastmath=_FAST, inline="always")
def _weight_beta1(pt, d2, eps2, beta):
    return pt / np.sqrt(eps2 + d2)


@nb.njit(cache=True, fastmath=_FAST, inline="always")
def _weight_beta2(pt, d2, eps2, beta):
    return pt


@nb.njit(cache=True, fastmath=_FAST, inline="always")
def _weight_any(pt, d2, eps2, beta):
    return pt * (eps2 + d2) ** (0.5 * beta - 1.0)


def _make_update_sums(weight, d2, unwrap):
    """The update step below with the weight pT * Delta R^(beta - 2) given by ``weight``
    (Delta R softened by the accuracy) in the phi frame of ``d2``, ``unwrap``; one
    compiled loop per beta case, since a branch on beta inside the loop stops it
    vectorising (10x slower, measured)."""

    @nb.njit(cache=True, _nrt=False, fastmath=_FAST, error_model="numpy")
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


_TAU_WRAPPED = _make_tau(_d2_wrapped)
_TAU_COMPACT = _make_tau(_d2_compact)
_ONE_PASS_WRAPPED = _make_one_pass(_d2_wrapped, _unwrap_wrapped, _norm_wrapped, _TAU_WRAPPED)
_ONE_PASS_COMPACT = _make_one_pass(_d2_compact, _unwrap_compact, _norm_compact, _TAU_COMPACT)


@nb.njit(cache=True, _nrt=False)
def _prepare(pt, eta, phi, mass, rap, phi0):
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
def _compact_frame(phi, out):
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


@nb.njit(cache=True)
def _taus_kernel(offsets, pt, rap, phi, px, py, pz, e, mode, beta, r0, accuracy, max_attempts):
    """tau_1..3 of every jet: allocates the output and the work space once, then
    the loop over jets runs without reference counting (``_taus_loop``)."""
    n_jets = offsets.shape[0] - 1
    out = np.zeros((n_jets, 3))
    max_n = 1
    for j in range(n_jets):
        max_n = max(max_n, offsets[j + 1] - offsets[j])
    _taus_loop(
        offsets, pt, rap, phi, px, py, pz, e, mode, beta, r0, accuracy, max_attempts, out,
        np.zeros((2, 3, 3)), np.empty((3, 3)), np.empty(max_n), np.empty((12, max_n)),
        np.empty((4, max_n), dtype=np.int64), np.empty((7, max_n + BLOCK)), np.empty((7, max_n + 1), dtype=np.int64),
    )
    return out


@nb.njit(cache=True, _nrt=False)
def _taus_loop(offsets, pt, rap, phi, px, py, pz, e, mode, beta, r0, accuracy, max_attempts, out,
               axes, sums, local_phi, buf_f, buf_i, wf, wi):
    ax_rap = axes[0]
    ax_phi = axes[1]
    counts = wi[6]
    wta = mode == 1 or mode == 3
    one_pass = mode >= 2
    n_jets = offsets.shape[0] - 1
    for j in range(n_jets):
        lo = offsets[j]
        hi = offsets[j + 1]
        n = hi - lo
        if n <= 1:
            continue
        jpt = pt[lo:hi]
        jrap = rap[lo:hi]
        jphi = phi[lo:hi]
        # WTA axes are particle directions: in a compact frame the fast clustering
        # and the compact distances apply; E-scheme axes come from arctan2 in [0, 2 pi)
        compact = wta and _compact_frame(jphi, local_phi[:n])
        if compact:
            jphi = local_phi[:n]
            _wta_kt_axes(n, jrap, jphi, jpt, ax_rap, ax_phi, wf, wi)
        else:
            _exclusive_kt_axes(n, jrap, jphi, jpt, px[lo:hi], py[lo:hi], pz[lo:hi], e[lo:hi], wta, ax_rap, ax_phi, buf_f, buf_i, counts)
        denom = jpt.sum() * r0**beta
        if denom <= 0.0:
            continue
        for n_axes in range(1, 4):
            if n <= n_axes:
                break  # tau_N = 0 when there are no more particles than axes
            ar, ap = ax_rap[n_axes - 1], ax_phi[n_axes - 1]
            if one_pass and compact:
                num = _ONE_PASS_COMPACT(jpt, jrap, jphi, ar, ap, n_axes, beta, accuracy, max_attempts, sums)
            elif one_pass:
                num = _ONE_PASS_WRAPPED(jpt, jrap, jphi, ar, ap, n_axes, beta, accuracy, max_attempts, sums)
            elif compact:
                num = _TAU_COMPACT(jpt, jrap, jphi, ar, ap, n_axes, beta)
            else:
                num = _TAU_WRAPPED(jpt, jrap, jphi, ar, ap, n_axes, beta)
            out[j, n_axes - 1] = num / denom


def nsubjettiness(
    offsets: np.ndarray,
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    mass: np.ndarray | None = None,
    *,
    axes: str = "wta_kt",
    beta: float = 1.0,
    r0: float = 1.0,
    accuracy: float = 1e-4,
    max_attempts: int = 1000,
) -> np.ndarray:
    """tau_1, tau_2, tau_3 of every jet.

    Parameters
    ----------
    offsets
        int64 ``[n_jets + 1]``: constituents of jet j are ``[offsets[j], offsets[j+1])``.
    pt, eta, phi, mass
        Flat constituent kinematics (GeV; mass 0 if None).
    axes
        ``"kt"``, ``"wta_kt"``, ``"onepass_kt"`` or ``"onepass_wta_kt"``.
    beta, r0
        Angular exponent and characteristic radius of the normalised measure.

    Returns
    -------
    np.ndarray
        float64 ``[n_jets, 3]``: tau_1, tau_2, tau_3.
    """
    if axes not in AXES:
        raise ValueError(f"axes must be one of {', '.join(AXES)}, got {axes!r}")
    pt = np.ascontiguousarray(pt, dtype=np.float64)
    eta = np.ascontiguousarray(eta, dtype=np.float64)
    phi = np.ascontiguousarray(phi, dtype=np.float64)
    mass = np.zeros_like(pt) if mass is None else np.ascontiguousarray(mass, dtype=np.float64)
    for name, values in (("pt", pt), ("eta", eta), ("phi", phi), ("mass", mass)):
        bad = ~np.isfinite(values)
        if bad.any():  # the kernels bin and compare these: refuse rather than misbehave
            i = int(np.argmax(bad))
            raise ValueError(f"nsubjettiness: constituent {i} has {name} = {values[i]} (must be finite)")
    rap = np.empty_like(pt)
    phi0 = np.empty_like(pt)
    _prepare(pt, eta, phi, mass, rap, phi0)
    if AXES[axes] in (1, 3):  # WTA: directions only; no four-momenta needed
        px = py = pz = e = pt
    else:
        px = pt * np.cos(phi)
        py = pt * np.sin(phi)
        pz = pt * np.sinh(eta)
        e = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    return _taus_kernel(
        np.ascontiguousarray(offsets, dtype=np.int64),
        pt,
        rap,
        phi0,
        px,
        py,
        pz,
        e,
        AXES[axes],
        float(beta),
        float(r0),
        float(accuracy),
        int(max_attempts),
    )
