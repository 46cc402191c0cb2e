"""Exclusive kt clustering of one jet, E-scheme or winner-take-all recombination, phi in any frame.

The general path: the axes of ``kt`` (E-scheme) and the WTA axes of jets whose
phis do not fit a compact frame.  WTA jets in a compact frame take the faster
:mod:`.wta_axes`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from jetflow_substructure.nsubjettiness.geometry import TWO_PI, dist2
from jetflow_substructure.nsubjettiness.neighbours import geometric_nn, initial_neighbours


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
def exclusive_kt_axes(n, rap_in, phi_in, pt_in, px_in, py_in, pz_in, e_in, wta, out_rap, out_phi, buf_f, buf_i, counts):
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
    initial_neighbours(n, c_rap, c_phi, gnn, gdist, buf_i[1], counts, dkt, buf_f[10], pos, buf_f[11])
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
            gnn[s], gdist[s] = geometric_nn(s, alive, m, c_rap, c_phi)
        best = np.inf
        i_min = -1
        for t in range(m):
            k = alive[t]
            if k != s:
                if gnn[k] == r or ((not wta) and gnn[k] == s):
                    gnn[k], gdist[k] = geometric_nn(k, alive, m, c_rap, c_phi)
                elif not wta:
                    d = dist2(c_rap[k], c_phi[k], c_rap[s], c_phi[s])
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
