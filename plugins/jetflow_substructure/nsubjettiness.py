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
O(n^3).  A jet with n <= N constituents has tau_N = 0 (as in FastJet contrib).

Exact ties (two pairs at exactly the same kt distance, common on a tower grid)
may be merged in another order than FastJet's, which can change the axes of a
small fraction of tower jets; particle-level jets have no ties.
"""

from __future__ import annotations

import numba as nb
import numpy as np

AXES = {"kt": 0, "wta_kt": 1, "onepass_kt": 2, "onepass_wta_kt": 3}
TWO_PI = 2.0 * np.pi


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


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def _initial_neighbours(n, rap, phi, srt, sr, sp, gnn, gdist):
    """Geometric nearest neighbour (and squared distance) of each of ``n`` points.

    Points are visited in rapidity order (``srt``, an argsort of ``rap``); the
    scan from each point outwards stops once the rapidity gap alone exceeds the
    best distance found.  ``sr``, ``sp`` are scratch space for contiguous
    sorted copies.  On exactly equal distances the first point found wins.
    """
    for p in range(n):
        sr[p] = rap[srt[p]]
        sp[p] = phi[srt[p]]
    for p in range(n):
        best = np.inf
        best_q = -1
        rp = sr[p]
        pp = sp[p]
        for q in range(p + 1, n):
            dy = sr[q] - rp
            if dy * dy >= best:
                break
            d = _dist2(rp, pp, sr[q], sp[q])
            if d < best:
                best = d
                best_q = q
        for q in range(p - 1, -1, -1):
            dy = rp - sr[q]
            if dy * dy >= best:
                break
            d = _dist2(rp, pp, sr[q], sp[q])
            if d < best:
                best = d
                best_q = q
        k = srt[p]
        gnn[k] = srt[best_q] if best_q >= 0 else -1
        gdist[k] = best


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def _exclusive_kt_axes(n, rap_in, phi_in, pt_in, px_in, py_in, pz_in, e_in, wta, out_rap, out_phi, buf_f, buf_i):
    """Exclusive kt clustering of one jet down to one jet; the axes with 3, 2 and 1 jets left.

    The kt distance min(pT_i^2, pT_j^2) Delta R_ij^2 of the closest pair is
    reached at a pair (i, G(i)) where G(i) is i's geometric nearest neighbour
    (FastJet's observation), so only geometric neighbours are tracked.  With
    winner-take-all recombination the survivor keeps its direction, so a merge
    only disturbs the clusters whose neighbour disappeared.  The alive clusters
    are kept packed in a list, so every pass touches only those.

    out_rap/out_phi: [3, 3]; row N-1 holds the N axes.  buf_f: [11, >= n]
    float work space, buf_i: [4, >= n] int work space (row 1 unused).
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
        alive[k] = k
        pos[k] = k
    _initial_neighbours(n, c_rap, c_phi, np.argsort(c_rap[:n]), dkt, buf_f[10], gnn, gdist)
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


@nb.njit(cache=True, inline="always")
def _tree_update(tree, size, dkt, k):
    """Re-establish the argmin tournament above leaf k after dkt[k] changed."""
    node = (size + k) >> 1
    while node >= 1:
        a = tree[2 * node]
        b = tree[2 * node + 1]
        if b < 0 or (a >= 0 and dkt[a] <= dkt[b]):
            tree[node] = a
        else:
            tree[node] = b
        node >>= 1


@nb.njit(cache=True)
def _wta_kt_axes(n, rap, phi, pt_in, out_rap, out_phi, wf, wi, tree):
    """Exclusive kt clustering with winner-take-all recombination, in O(n sqrt n).

    The survivor of a WTA merge keeps its direction, so the geometry only
    loses points.  Clusters sit in a linked list ordered in rapidity: a
    nearest-neighbour search walks outwards from a point and stops once the
    rapidity gap alone exceeds the best distance.  Each cluster knows who has
    it as nearest neighbour (linked "in" lists), so a merge revisits only
    those.  The smallest kt distance comes from a tournament tree (argmin of
    the distances, O(log n) per change).

    wf: [6, >= n] floats, wi: [8, >= n] ints, tree: int [>= 2 * 2^ceil(log2 n)].
    """
    pt = wf[0]
    pt2 = wf[1]
    gd = wf[2]
    dkt = wf[3]
    prev = wi[0]
    nxt = wi[1]
    gnn = wi[2]
    in_head = wi[3]
    in_next = wi[4]
    in_prev = wi[5]
    alive = wi[7]
    srt = np.argsort(rap[:n])
    size = 1
    while size < n:
        size <<= 1
    for k in range(n):
        pt[k] = pt_in[k]
        pt2[k] = pt_in[k] * pt_in[k]
        in_head[k] = -1
        alive[k] = 1
    for p in range(n):
        k = srt[p]
        prev[k] = srt[p - 1] if p > 0 else -1
        nxt[k] = srt[p + 1] if p + 1 < n else -1
    head = srt[0]
    _initial_neighbours(n, rap, phi, srt, wf[4], wf[5], gnn, gd)
    for k in range(n):
        _in_add(k, gnn[k], in_head, in_next, in_prev)
        dkt[k] = min(pt2[k], pt2[gnn[k]]) * gd[k] if gnn[k] >= 0 else np.inf
    for t in range(size):
        tree[size + t] = t if t < n else -1
    for node in range(size - 1, 0, -1):
        a = tree[2 * node]
        b = tree[2 * node + 1]
        tree[node] = a if (b < 0 or (a >= 0 and dkt[a] <= dkt[b])) else b
    m = n
    if m <= 3:
        _snapshot(head, nxt, rap, phi, m, out_rap, out_phi)
    while m > 1:
        i = tree[1]  # smallest kt distance
        j = gnn[i]
        if pt[j] > pt[i]:
            s, r = j, i
        else:
            s, r = i, j
        pt[s] += pt[r]
        pt2[s] = pt[s] * pt[s]
        # remove r: from the rapidity list, from its target's in-list
        alive[r] = 0
        if prev[r] >= 0:
            nxt[prev[r]] = nxt[r]
        else:
            head = nxt[r]
        if nxt[r] >= 0:
            prev[nxt[r]] = prev[r]
        _in_remove(r, gnn[r], in_head, in_next, in_prev)
        dkt[r] = np.inf
        tree[size + r] = -1
        _tree_update(tree, size, dkt, r)
        m -= 1
        if m == 1:
            out_rap[0, 0] = rap[s]
            out_phi[0, 0] = phi[s]
            break
        # clusters that had r as nearest neighbour look again
        k = in_head[r]
        while k >= 0:
            after = in_next[k]
            _wta_find_nn(k, rap, phi, prev, nxt, gnn, gd)
            _in_add(k, gnn[k], in_head, in_next, in_prev)
            dkt[k] = min(pt2[k], pt2[gnn[k]]) * gd[k]
            _tree_update(tree, size, dkt, k)
            k = after
        in_head[r] = -1
        # s is harder now: its distance and those of its followers change
        dkt[s] = min(pt2[s], pt2[gnn[s]]) * gd[s]
        _tree_update(tree, size, dkt, s)
        k = in_head[s]
        while k >= 0:
            d = min(pt2[k], pt2[s]) * gd[k]
            if d != dkt[k]:
                dkt[k] = d
                _tree_update(tree, size, dkt, k)
            k = in_next[k]
        if m <= 3:
            _snapshot(head, nxt, rap, phi, m, out_rap, out_phi)


@nb.njit(cache=True, inline="always")
def _wta_find_nn(k, rap, phi, prev, nxt, gnn, gd):
    best = np.inf
    best_j = -1
    rk = rap[k]
    pk = phi[k]
    j = nxt[k]
    while j >= 0:
        dy = rap[j] - rk
        if dy * dy >= best:
            break
        d = _dist2(rk, pk, rap[j], phi[j])
        if d < best:
            best = d
            best_j = j
        j = nxt[j]
    j = prev[k]
    while j >= 0:
        dy = rk - rap[j]
        if dy * dy >= best:
            break
        d = _dist2(rk, pk, rap[j], phi[j])
        if d < best:
            best = d
            best_j = j
        j = prev[j]
    gnn[k] = best_j
    gd[k] = best


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


@nb.njit(cache=True)
def _snapshot(head, nxt, rap, phi, m, out_rap, out_phi):
    t = 0
    k = head
    while k >= 0:
        out_rap[m - 1, t] = rap[k]
        out_phi[m - 1, t] = phi[k]
        t += 1
        k = nxt[k]


@nb.njit(cache=True)
def _tau(pt, rap, phi, ax_rap, ax_phi, n_axes, beta):
    num = 0.0
    for i in range(pt.shape[0]):
        best = np.inf
        for a in range(n_axes):
            d = _dist2(rap[i], phi[i], ax_rap[a], ax_phi[a])
            if d < best:
                best = d
        if beta == 1.0:
            num += pt[i] * np.sqrt(best)
        else:
            num += pt[i] * best ** (0.5 * beta)
    return num


_FAST = {"nsz", "arcp", "contract", "afn", "reassoc"}  # no nnan/ninf: infinities stay exact


@nb.njit(cache=True, fastmath=_FAST, inline="always")
def _d2(rap, phi, ar, ap):
    dp = abs(phi - ap)
    dp = min(dp, TWO_PI - dp)
    dr = rap - ar
    return dr * dr + dp * dp


@nb.njit(cache=True, fastmath=_FAST)
def _assign(pt, rap, phi, ax_rap, ax_phi, n_axes, accuracy, beta, which, weight):
    """Closest axis of every particle and the contrib's update weight pT * Delta R^(beta - 2).

    One branch-free loop per number of axes, so that the particle loop vectorises.
    """
    n = pt.shape[0]
    eps2 = accuracy * accuracy
    best = weight  # reuse: squared distance first, weight after
    if n_axes == 1:
        for i in range(n):
            best[i] = _d2(rap[i], phi[i], ax_rap[0], ax_phi[0])
            which[i] = 0
    elif n_axes == 2:
        for i in range(n):
            d0 = _d2(rap[i], phi[i], ax_rap[0], ax_phi[0])
            d1 = _d2(rap[i], phi[i], ax_rap[1], ax_phi[1])
            t1 = d1 < d0
            best[i] = d1 if t1 else d0
            which[i] = 1 if t1 else 0
    else:
        for i in range(n):
            d0 = _d2(rap[i], phi[i], ax_rap[0], ax_phi[0])
            d1 = _d2(rap[i], phi[i], ax_rap[1], ax_phi[1])
            d2 = _d2(rap[i], phi[i], ax_rap[2], ax_phi[2])
            t1 = d1 < d0
            b = d1 if t1 else d0
            w = 1 if t1 else 0
            t2 = d2 < b
            best[i] = d2 if t2 else b
            which[i] = 2 if t2 else w
    if beta == 1.0:
        for i in range(n):
            weight[i] = pt[i] / np.sqrt(eps2 + best[i])
    elif beta == 2.0:
        for i in range(n):
            weight[i] = pt[i]
    else:
        for i in range(n):
            weight[i] = pt[i] * (eps2 + best[i]) ** (0.5 * beta - 1.0)


@nb.njit(cache=True, fastmath=_FAST)
def _axis_sums(pt, rap, phi, which, weight, a, axis_phi):
    """Sums of w, w * rap, w * phi over the particles of axis a (phi unwrapped next to the axis)."""
    sw = 0.0
    sr = 0.0
    sp = 0.0
    for i in range(pt.shape[0]):
        w = weight[i] if which[i] == a else 0.0
        dp = phi[i] - axis_phi
        p = phi[i] - TWO_PI * (dp > np.pi) + TWO_PI * (dp < -np.pi)
        sw += w
        sr += w * rap[i]
        sp += w * p
    return sw, sr, sp


@nb.njit(cache=True)
def _one_pass(pt, rap, phi, ax_rap, ax_phi, n_axes, beta, accuracy, max_attempts, which, weight):
    """FastJet contrib's axis refinement for the pT-R measure (``UpdateAxes``),
    iterated until the axes move by less than ``accuracy`` on average."""
    old_rap = ax_rap[:n_axes].copy()
    old_phi = ax_phi[:n_axes].copy()
    new_rap = np.empty(n_axes)
    new_phi = np.empty(n_axes)
    for _ in range(max_attempts):
        _assign(pt, rap, phi, old_rap, old_phi, n_axes, accuracy, beta, which, weight)
        cmp = 0.0
        for a in range(n_axes):
            sw, sr, sp = _axis_sums(pt, rap, phi, which, weight, a, old_phi[a])
            if sw == 0.0:
                new_rap[a] = old_rap[a]
                new_phi[a] = old_phi[a]
            else:
                new_rap[a] = sr / sw
                new_phi[a] = (sp / sw + TWO_PI) % TWO_PI
            cmp += np.sqrt(_dist2(old_rap[a], old_phi[a], new_rap[a], new_phi[a]))
        cmp /= n_axes
        old_rap[:] = new_rap
        old_phi[:] = new_phi
        if cmp <= accuracy:
            break
    return _tau(pt, rap, phi, old_rap, old_phi, n_axes, beta)


@nb.njit(cache=True, parallel=False)
def _taus_kernel(offsets, pt, rap, phi, px, py, pz, e, mode, beta, r0, accuracy, max_attempts):
    n_jets = offsets.shape[0] - 1
    out = np.zeros((n_jets, 3))
    ax_rap = np.zeros((3, 3))
    ax_phi = np.zeros((3, 3))
    max_n = 1
    for j in range(n_jets):
        max_n = max(max_n, offsets[j + 1] - offsets[j])
    buf_f = np.empty((11, max_n))
    buf_i = np.empty((4, max_n), dtype=np.int64)
    which = np.empty(max_n, dtype=np.int64)
    weight = np.empty(max_n)
    wf = np.empty((6, max_n))
    wi = np.empty((8, max_n), dtype=np.int64)
    tree = np.empty(4 * max_n + 4, dtype=np.int64)
    wta = mode == 1 or mode == 3
    one_pass = mode >= 2
    for j in range(n_jets):
        lo = offsets[j]
        hi = offsets[j + 1]
        n = hi - lo
        if n <= 1:
            continue
        jpt = pt[lo:hi]
        jrap = rap[lo:hi]
        jphi = phi[lo:hi]
        if wta:
            _wta_kt_axes(n, jrap, jphi, jpt, ax_rap, ax_phi, wf, wi, tree)
        else:
            _exclusive_kt_axes(n, jrap, jphi, jpt, px[lo:hi], py[lo:hi], pz[lo:hi], e[lo:hi], False, ax_rap, ax_phi, buf_f, buf_i)
        denom = jpt.sum() * r0**beta
        if denom <= 0.0:
            continue
        for n_axes in range(1, 4):
            if n <= n_axes:
                break  # tau_N = 0 when there are no more particles than axes
            if one_pass:
                num = _one_pass(
                    jpt, jrap, jphi, ax_rap[n_axes - 1], ax_phi[n_axes - 1], n_axes, beta, accuracy, max_attempts,
                    which[:n], weight[:n],
                )
            else:
                num = _tau(jpt, jrap, jphi, ax_rap[n_axes - 1], ax_phi[n_axes - 1], n_axes, beta)
            out[j, n_axes - 1] = num / denom
    return out


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
    # rapidity: y = asinh(pz / mT), mT = sqrt(pT^2 + m^2); y = eta for massless inputs
    massive = mass > 0
    rap = eta.copy()
    if massive.any():
        mt = np.sqrt(pt[massive] ** 2 + mass[massive] ** 2)
        rap[massive] = np.arcsinh(pt[massive] * np.sinh(eta[massive]) / mt)
    phi0 = np.mod(phi, 2 * np.pi)
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
