"""The processes of ``jetflow generate``: their Pythia 8 settings and the parton-level truth they write.

===========  ========================================================  ======================================
process      Pythia 8                                                  truth in the file
===========  ========================================================  ======================================
``wprime``   W' -> W Z, W -> q q', Z -> nu nu ([jet-images])           ``TruthW``: the hadronic W
``qcd``      ``HardQCD:all``, 2 -> 2 pTHat in ``[pthat_min, max]``     none (``--pthat-min 500 --pthat-max
                                                                       700``: the high-pT QCD of top tagging)
``ttbar``    ``Top:gg2ttbar``, ``Top:qqbar2ttbar``, both W -> q q',    ``TruthTop`` and ``TopQuark``
             pTHat in ``[pthat_min, pthat_max]`` (default 500-700)
``minbias``  ``SoftQCD:nonDiffractive`` (what pile-up is made of)       none
``lhe``      a user's LHE events, showered                             ``TruthTop`` / ``TopQuark`` if it has
                                                                       hadronic tops
===========  ========================================================  ======================================

``ttbar`` and ``qcd`` at ``pthat_min = 500, pthat_max = 700`` are the processes of the top-tagging reference
dataset (Kasieczka et al., arXiv:1902.09914, section 2: Pythia 8 hadronic ttbar and QCD dijets at 14 TeV;
the dataset leaves out multiple interactions and pile-up, ``PartonLevel:MPI = off`` as an extra setting).

Top truth (:func:`top_truth`, every process, columnar over a ``nextBatch`` array): ``TruthTop`` are the
top quarks whose W decays to quarks, each as its last copy in the event record (the one that decays, with
the recoil of the initial- and final-state shower: status -62 in Pythia 8.3); ``TopQuark`` are its three
decay quarks as they come out of the decays, before their own shower: the quark (b, or s / d) that is a
daughter of that last top copy, and the two daughters of the W's last copy, so ``TopQuark_top`` (int32)
is the index of their top among the event's ``TruthTop``.  These are the "parton-level top" and "top decay
partons" the reference dataset matches its jets to; later copies of the quarks have radiated (the shower)
and are no single parton.  The b and the W's first copy sum to the top; the W's quarks sum to the W's last
copy, which has given recoil to the b's radiation, so ``m(b q q')`` lies within a few GeV below ``m_t``.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

PTHAT_DEFAULTS = {"qcd": (200.0, 400.0), "ttbar": (500.0, 700.0)}
"""Default pTHat windows [GeV] of the 2 -> 2 processes; the others record the ``qcd`` values (unused)."""

TOP_FIELDS = ("pt", "eta", "phi", "mass")
QUARK_FIELDS = ("pt", "eta", "phi", "mass", "pdgId", "top")


def pthat_window(process: str, pthat_min: float | None = None, pthat_max: float | None = None) -> tuple[float, float]:
    """The pTHat window of a process: the given bounds, the process's defaults for the others."""
    low, high = PTHAT_DEFAULTS.get(process, PTHAT_DEFAULTS["qcd"])
    low = low if pthat_min is None else float(pthat_min)
    high = high if pthat_max is None else float(pthat_max)
    if process in PTHAT_DEFAULTS and not high > low:
        raise ValueError(f"--pthat-max ({high:g}) must be above --pthat-min ({low:g}) for process {process}")
    return low, high


def process_strings(settings) -> list[str]:
    """The process's own Pythia settings (``settings``: a :class:`jetflow_generation.pythia.GenSettings`; not
    ``lhe``, whose settings :mod:`jetflow_generation.lhe` gives)."""
    hadronic_w = ["24:onMode = off", "24:onIfAny = 1 2 3 4 5"]
    window = [f"PhaseSpace:pTHatMin = {settings.pthat_min}", f"PhaseSpace:pTHatMax = {settings.pthat_max}"]
    if settings.process == "wprime":
        return ["NewGaugeBoson:ffbar2Wprime = on", "Wprime:coup2WZ = 1", f"34:m0 = {settings.wprime_mass}",
                "34:onMode = off", "34:onIfAll = 24 23", *hadronic_w, "23:onMode = off", "23:onIfAny = 12 14 16"]
    if settings.process == "qcd":
        return ["HardQCD:all = on", *window]
    if settings.process == "ttbar":
        return ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on", *hadronic_w, *window]
    if settings.process == "minbias":
        return ["SoftQCD:nonDiffractive = on"]
    raise ValueError(f"process {settings.process!r} has no settings of its own here")


def _kinematics(p, m) -> dict[str, np.ndarray]:
    px, py, pz = (np.asarray(p[c], dtype=np.float64) for c in ("px", "py", "pz"))
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0))
    return {"pt": pt, "eta": eta, "phi": np.arctan2(py, px), "mass": np.asarray(m, dtype=np.float64)}


def top_truth(prt: ak.Array) -> dict[str, ak.Array]:
    """``TruthTop`` and ``TopQuark`` (see the module docstring) of a batch's event records ``prt`` (Pythia's
    ``nextBatch().prt``: jagged ``id, status, mother1, daughter1, daughter2, p, m``, local indices).

    Columnar: the records are flattened with their events' offsets; the W's chain of copies is walked back
    to its first copy for all quarks at once, one step per copy (a handful of steps)."""
    counts = ak.to_numpy(ak.num(prt, axis=1)).astype(np.int64)
    n_events = len(counts)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    event = np.repeat(np.arange(n_events), counts)
    ids = ak.to_numpy(ak.flatten(prt.id)).astype(np.int64)
    mother = ak.to_numpy(ak.flatten(prt.mother1)).astype(np.int64) + offsets[event]
    absid = np.abs(ids)
    is_quark = (absid >= 1) & (absid <= 5) & (mother > offsets[event])
    w_quark = np.flatnonzero(is_quark & (absid[mother] == 24))
    first_w = mother[w_quark]
    for _ in range(200):  # W copies: same id, mother the previous copy
        step = ids[mother[first_w]] == ids[first_w]
        if not step.any():
            break
        first_w = np.where(step, mother[first_w], first_w)
    w_top = mother[first_w]
    w_ok = absid[w_top] == 6
    w_quark, w_top = w_quark[w_ok], w_top[w_ok]
    b_quark = np.flatnonzero(is_quark & (absid[mother] == 6))
    b_top = mother[b_quark]
    tops, n_w = np.unique(w_top, return_counts=True)
    n_b = np.bincount(np.searchsorted(tops, b_top[np.isin(b_top, tops)]), minlength=len(tops))
    tops = tops[(n_w == 2) & (n_b == 1)]  # hadronic: the W's two quarks and one quark from the top
    quark = np.concatenate([b_quark[np.isin(b_top, tops)], w_quark[np.isin(w_top, tops)]])
    quark_top = np.concatenate([b_top[np.isin(b_top, tops)], w_top[np.isin(w_top, tops)]])
    kind = np.concatenate([np.zeros(int(np.isin(b_top, tops).sum())), np.ones(int(np.isin(w_top, tops).sum()))])
    order = np.lexsort((quark, kind, quark_top))  # by top, then the b, then the W's quarks in record order
    quark, quark_top = quark[order], quark_top[order]
    top_event = event[tops]
    first_top = np.searchsorted(top_event, np.arange(n_events))  # index of each event's first top in ``tops``
    local_top = np.searchsorted(tops, quark_top) - first_top[event[quark]]
    p = ak.flatten(prt.p)
    mass = ak.to_numpy(ak.flatten(prt.m))
    top = _kinematics({c: ak.to_numpy(p[c])[tops] for c in ("px", "py", "pz")}, mass[tops])
    q = _kinematics({c: ak.to_numpy(p[c])[quark] for c in ("px", "py", "pz")}, mass[quark])
    q["pdgId"], q["top"] = ids[quark].astype(np.int32), local_top.astype(np.int32)
    n_top = np.bincount(top_event, minlength=n_events)
    n_quark = np.bincount(event[quark], minlength=n_events)
    return {
        "TruthTop": ak.zip({k: ak.unflatten(top[k].astype(np.float32), n_top) for k in TOP_FIELDS}),
        "TopQuark": ak.zip({k: ak.unflatten(q[k] if k in ("pdgId", "top") else q[k].astype(np.float32), n_quark)
                            for k in QUARK_FIELDS}),
    }
