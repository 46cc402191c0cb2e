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
(:func:`.wta_axes.wta_kt_axes`).  The one-pass update and tau itself are single
vectorised passes over the particles.  A jet with n <= N constituents has
tau_N = 0 (as in FastJet contrib).

The kernels, one job each: :mod:`.geometry` (distances in two phi frames,
inputs), :mod:`.neighbours` (nearest-neighbour searches), :mod:`.kt_axes`
(exclusive kt clustering, any recombination, any frame), :mod:`.wta_axes`
(the fast WTA clustering in a compact frame), :mod:`.measure` (tau_N and the
one-pass refinement); this module drives them over the jets of a chunk.

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

from jetflow_substructure.axes import Axes
from jetflow_substructure.nsubjettiness.geometry import compact_frame, prepare_inputs
from jetflow_substructure.nsubjettiness.kt_axes import exclusive_kt_axes
from jetflow_substructure.nsubjettiness.measure import ONE_PASS_COMPACT, ONE_PASS_WRAPPED, TAU_COMPACT, TAU_WRAPPED
from jetflow_substructure.nsubjettiness.wta_axes import BLOCK, wta_kt_axes


@nb.njit(cache=True)
def _taus_kernel(offsets, pt, rap, phi, px, py, pz, e, wta, one_pass, beta, r0, accuracy, max_attempts):
    """tau_1..3 of every jet: allocates the output and the work space once, then
    the loop over jets runs without reference counting (``_taus_loop``)."""
    n_jets = offsets.shape[0] - 1
    out = np.zeros((n_jets, 3))
    max_n = 1
    for j in range(n_jets):
        max_n = max(max_n, offsets[j + 1] - offsets[j])
    _taus_loop(
        offsets, pt, rap, phi, px, py, pz, e, wta, one_pass, beta, r0, accuracy, max_attempts, out,
        np.zeros((2, 3, 3)), np.empty((3, 3)), np.empty(max_n), np.empty((12, max_n)),
        np.empty((4, max_n), dtype=np.int64), np.empty((7, max_n + BLOCK)), np.empty((7, max_n + 1), dtype=np.int64),
    )
    return out


@nb.njit(cache=True, _nrt=False)
def _taus_loop(offsets, pt, rap, phi, px, py, pz, e, wta, one_pass, beta, r0, accuracy, max_attempts, out,
               axes, sums, local_phi, buf_f, buf_i, wf, wi):
    ax_rap = axes[0]
    ax_phi = axes[1]
    counts = wi[6]
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
        compact = wta and compact_frame(jphi, local_phi[:n])
        if compact:
            jphi = local_phi[:n]
            wta_kt_axes(n, jrap, jphi, jpt, ax_rap, ax_phi, wf, wi)
        else:
            exclusive_kt_axes(n, jrap, jphi, jpt, px[lo:hi], py[lo:hi], pz[lo:hi], e[lo:hi], wta, ax_rap, ax_phi, buf_f, buf_i, counts)
        denom = jpt.sum() * r0**beta
        if denom <= 0.0:
            continue
        for n_axes in range(1, 4):
            if n <= n_axes:
                break  # tau_N = 0 when there are no more particles than axes
            ar, ap = ax_rap[n_axes - 1], ax_phi[n_axes - 1]
            if one_pass and compact:
                num = ONE_PASS_COMPACT(jpt, jrap, jphi, ar, ap, n_axes, beta, accuracy, max_attempts, sums)
            elif one_pass:
                num = ONE_PASS_WRAPPED(jpt, jrap, jphi, ar, ap, n_axes, beta, accuracy, max_attempts, sums)
            elif compact:
                num = TAU_COMPACT(jpt, jrap, jphi, ar, ap, n_axes, beta)
            else:
                num = TAU_WRAPPED(jpt, jrap, jphi, ar, ap, n_axes, beta)
            out[j, n_axes - 1] = num / denom


def nsubjettiness(
    offsets: np.ndarray,
    pt: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    mass: np.ndarray | None = None,
    *,
    axes: Axes | str = Axes.WTA_KT,
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
        An :class:`Axes` or its value: ``"kt"``, ``"wta_kt"``, ``"onepass_kt"`` or ``"onepass_wta_kt"``.
    beta, r0
        Angular exponent and characteristic radius of the normalised measure.

    Returns
    -------
    np.ndarray
        float64 ``[n_jets, 3]``: tau_1, tau_2, tau_3.
    """
    try:
        kind = Axes(axes)
    except ValueError:
        raise ValueError(f"axes must be one of {', '.join(a.value for a in Axes)}, got {axes!r}") from None
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
    prepare_inputs(pt, eta, phi, mass, rap, phi0)
    if kind.wta:  # directions only; no four-momenta needed
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
        kind.wta,
        kind.one_pass,
        float(beta),
        float(r0),
        float(accuracy),
        int(max_attempts),
    )
