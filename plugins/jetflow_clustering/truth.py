"""Generator-level truth for reconstructed jets: gen jets, the match, the regression targets (columnar).

Particle-level files: the generator-level jets are anti-kt jets (same radius,
same trimming and soft drop as the reconstructed ones) of the hard event's
visible particles, with no detector and no pile-up (particles flagged
``pileup`` are left out).  CMS PFNano: the ``GenJetAK8`` CMS matched to each
FatJet (``FatJet_genJetAK8Idx``), and the jet energy correction CMS applied,
``jec = 1 / (1 - rawFactor)`` ([jet-response]'s target).

Each reconstructed jet is matched to the closest generator-level jet of its
event within ``max_delta_r`` (default R / 2).  Columns (:data:`COLUMNS`):
``gen_pt, gen_eta, gen_phi, gen_mass, gen_mass_softdrop, gen_delta_r``,
``gen_matched`` (1 matched, 0 not) and ``response = pt / gen_pt``; an
unmatched jet has 0 in every one of them.

Top containment (:func:`top_columns`; jetflow's files with ``TruthTop`` / ``TopQuark``, from
``jetflow generate --process ttbar``): ``top_contained`` is 1 when a TruthTop lies within Delta R < R (the
jet radius, in eta and phi) of the jet axis and all its TopQuarks (the b and the W's two quarks) do too,
the signal definition of the top-tagging reference dataset (Kasieczka et al., arXiv:1902.09914, section 2);
``top_pt, top_eta, top_phi, top_mass`` are that top (the closest contained one), else the closest TruthTop
within R, else 0.  Events without tops, files without the branches and PFNano give 0.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from jetflow import ColumnSpec
from jetflow.physics import wrap_phi

COLUMNS = {
    "gen_pt": ColumnSpec(r"Generator-level jet $p_T$", "GeV", 100, 0.0, 1000.0, description="matched gen jet (0: none)"),
    "gen_eta": ColumnSpec(r"Generator-level jet $\eta$", "", 50, -5.0, 5.0, description="matched gen jet (0: none)"),
    "gen_phi": ColumnSpec(r"Generator-level jet $\phi$", "", 50, -3.1416, 3.1416, description="matched gen jet (0: none)"),
    "gen_mass": ColumnSpec("Generator-level jet mass", "GeV", 100, 0.0, 250.0,
                           description="matched gen jet, groomed as the reconstructed one (0: none)"),
    "gen_mass_softdrop": ColumnSpec("Generator-level soft-drop mass", "GeV", 100, 0.0, 250.0,
                                    description="matched gen jet's soft-drop mass (0: none, or PFNano)"),
    "gen_delta_r": ColumnSpec(r"$\Delta R$(jet, gen jet)", "", 50, 0.0, 1.0, description="to the matched gen jet (0: none)"),
    "gen_matched": ColumnSpec("matched to a gen jet", "", 2, 0.0, 2.0, description="1 matched, 0 not"),
    "response": ColumnSpec(r"$p_T / p_T^{gen}$", "", 100, 0.0, 2.0, description="pt / gen_pt (0: unmatched)"),
}

COLUMNS.update({
    "top_contained": ColumnSpec("top and its decay quarks in the jet", "", 2, 0.0, 2.0, kind="other",
                                description="1: a TruthTop and its three quarks within Delta R < R of the axis"),
    "top_pt": ColumnSpec(r"Truth top $p_T$", "GeV", 100, 0.0, 1000.0, description="the jet's TruthTop (0: none)"),
    "top_eta": ColumnSpec(r"Truth top $\eta$", "", 50, -5.0, 5.0, description="the jet's TruthTop (0: none)"),
    "top_phi": ColumnSpec(r"Truth top $\phi$", "", 50, -3.1416, 3.1416, description="the jet's TruthTop (0: none)"),
    "top_mass": ColumnSpec("Truth top mass", "GeV", 100, 0.0, 250.0, description="the jet's TruthTop (0: none)"),
})
TOP_COLUMNS = ("top_contained", "top_pt", "top_eta", "top_phi", "top_mass")

PFNANO_COLUMNS = {
    "jec": ColumnSpec("CMS jet energy correction", "", 100, 0.5, 1.5, description="1 / (1 - rawFactor): pt / pt_raw"),
}


def _per_event(values: dict[str, np.ndarray], event: np.ndarray, n_events: int) -> ak.Array:
    return ak.unflatten(ak.zip(values), np.bincount(event, minlength=n_events))


def match(reco: ak.Array, gen: ak.Array, n_events: int, max_delta_r: float) -> tuple[np.ndarray, np.ndarray]:
    """For each reconstructed jet, the index of the closest gen jet of its event within ``max_delta_r``.

    Both tables are flat and grouped by ``event`` (ascending).  Returns
    ``(index into gen or -1, Delta R or inf)``.
    """
    r_event = ak.to_numpy(reco.event).astype(np.int64)
    g_event = ak.to_numpy(gen.event).astype(np.int64)
    if len(r_event) and np.any(np.diff(r_event) < 0) or len(g_event) and np.any(np.diff(g_event) < 0):
        raise ValueError("match: jet tables must be grouped by event, ascending")
    r = _per_event({"eta": ak.to_numpy(reco.eta), "phi": ak.to_numpy(reco.phi)}, r_event, n_events)
    g = _per_event({"eta": ak.to_numpy(gen.eta), "phi": ak.to_numpy(gen.phi)}, g_event, n_events)
    pairs = ak.cartesian({"r": r, "g": g}, axis=1, nested=True)  # [event][reco][gen]
    dr = np.hypot(pairs.r.eta - pairs.g.eta, wrap_phi(pairs.r.phi - pairs.g.phi))
    best = ak.flatten(ak.fill_none(ak.argmin(dr, axis=2), -1), axis=1)
    best_dr = ak.flatten(ak.fill_none(ak.min(dr, axis=2), np.inf), axis=1)
    best = ak.to_numpy(best).astype(np.int64)
    best_dr = ak.to_numpy(best_dr).astype(np.float64)
    g_offsets = np.concatenate([[0], np.cumsum(np.bincount(g_event, minlength=n_events))])
    index = np.where((best >= 0) & (best_dr < max_delta_r), g_offsets[r_event] + best, -1)
    return index, np.where(index >= 0, best_dr, np.inf)


def truth_columns(reco: ak.Array, gen: ak.Array, index: np.ndarray, delta_r: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`COLUMNS` of reconstructed jets given their matched gen jet (index -1: none)."""
    matched = index >= 0
    safe = np.where(matched, index, 0)

    def take(field):
        if field not in gen.fields or not len(gen):
            return np.zeros(len(index))
        return np.where(matched, ak.to_numpy(gen[field]).astype(np.float64)[safe], 0.0)

    out = {f"gen_{f}": take(f) for f in ("pt", "eta", "phi", "mass", "mass_softdrop")}
    out["gen_delta_r"] = np.where(matched, delta_r, 0.0)
    out["gen_matched"] = matched.astype(np.int8)
    pt = ak.to_numpy(reco.pt).astype(np.float64)
    out["response"] = np.divide(pt, out["gen_pt"], out=np.zeros(len(pt)), where=out["gen_pt"] > 0)
    return out


def no_tops(n: int) -> dict[str, np.ndarray]:
    """The top columns of ``n`` jets without a TruthTop."""
    return {name: np.zeros(n, np.int8 if name == "top_contained" else np.float64) for name in TOP_COLUMNS}


def _flat(collection, fields) -> tuple[dict[str, np.ndarray], np.ndarray]:
    counts = ak.to_numpy(ak.num(collection, axis=1)).astype(np.int64)
    return {f: ak.to_numpy(ak.flatten(collection[f])).astype(np.float64) for f in fields}, counts


def _pairs(event: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (row, object of the row's event) pair: the row and the object's index in the flat objects."""
    offsets = np.concatenate([[0], np.cumsum(counts)])
    per_row = counts[event]
    row = np.repeat(np.arange(len(event)), per_row)
    starts = np.concatenate([[0], np.cumsum(per_row)])[:-1]
    return row, offsets[event][row] + np.arange(len(row)) - starts[row]


def top_columns(reco: ak.Array, tops, quarks, n_events: int, radius: float) -> dict[str, np.ndarray]:
    """``top_contained`` and the jet's top (the module docstring) for flat jets ``reco`` (``eta, phi, event``),
    given the chunk's jagged ``tops`` (``pt, eta, phi, mass``) and ``quarks`` (``eta, phi, top``: the index of
    their top in the event), or None for both.  Columnar over (jet, top) and (jet, quark) pairs."""
    if tops is None or quarks is None or not len(reco):
        return no_tops(len(reco))
    t, n_top = _flat(tops, ("pt", "eta", "phi", "mass"))
    q, n_quark = _flat(quarks, ("eta", "phi", "top"))
    event = ak.to_numpy(reco.event).astype(np.int64)
    eta, phi = ak.to_numpy(reco.eta).astype(np.float64), ak.to_numpy(reco.phi).astype(np.float64)
    top_offsets = np.concatenate([[0], np.cumsum(n_top)])
    q_event = np.repeat(np.arange(n_events), n_quark)
    q_local = q["top"].astype(np.int64)
    q_ok = (q_local >= 0) & (q_local < n_top[q_event])
    q_top = np.where(q_ok, top_offsets[q_event] + q_local, -1)
    needed = np.bincount(q_top[q_ok], minlength=len(t["pt"]))  # quarks of each top
    jt_jet, jt_top = _pairs(event, n_top)  # (jet, top) pairs, by jet then top
    jt_dr = np.hypot(eta[jt_jet] - t["eta"][jt_top], wrap_phi(phi[jt_jet] - t["phi"][jt_top]))
    jq_jet, jq_quark = _pairs(event, n_quark)
    inside = np.hypot(eta[jq_jet] - q["eta"][jq_quark], wrap_phi(phi[jq_jet] - q["phi"][jq_quark])) < radius
    inside &= q_ok[jq_quark]
    jt_offsets = np.concatenate([[0], np.cumsum(n_top[event])])
    pair = jt_offsets[jq_jet] + np.where(q_ok, q_local, 0)[jq_quark]  # the (jet, top) pair of each (jet, quark)
    n_inside = np.bincount(pair[inside], minlength=len(jt_jet))
    near = jt_dr < radius
    contained = near & (needed[jt_top] > 0) & (n_inside == needed[jt_top])
    out = no_tops(len(reco))
    if not len(jt_jet):
        return out
    out["top_contained"] = (np.bincount(jt_jet[contained], minlength=len(reco)) > 0).astype(np.int8)
    score = np.where(near, jt_dr - 10.0 * contained, np.inf)  # contained first, then the closest
    best = ak.to_numpy(ak.fill_none(ak.argmin(ak.unflatten(score, n_top[event]), axis=1), -1)).astype(np.int64)
    chosen = jt_offsets[:-1] + np.maximum(best, 0)
    has = (best >= 0) & np.isfinite(score[np.minimum(chosen, len(score) - 1)])
    for f in ("pt", "eta", "phi", "mass"):
        out[f"top_{f}"] = np.where(has, t[f][jt_top[np.minimum(chosen, len(score) - 1)]], 0.0)
    return out


def hard_particles(particles: ak.Array) -> ak.Array:
    """The particles of the hard event: those not flagged as pile-up (all of them if there is no flag)."""
    if "pileup" in particles.fields:
        return particles[particles.pileup == 0]
    return particles


def pfnano_truth(events: ak.Array, jets_in: ak.Array, filename: str) -> dict[str, np.ndarray]:
    """Truth of every CMS FatJet of a chunk (flattened, in file order): the GenJetAK8 CMS matched
    (``genJetAK8Idx``) and ``jec`` from ``rawFactor``."""
    from jetflow import InputError

    for branch in ("genJetAK8Idx", "rawFactor"):
        if branch not in jets_in.fields:
            raise InputError(f"file {filename}: no branch FatJet_{branch}, which clustering.truth needs on PFNano")
    if "GenJetAK8" not in events.fields:
        raise InputError(f"file {filename}: no GenJetAK8 collection, which clustering.truth needs on PFNano")
    n_jets_evt = ak.to_numpy(ak.num(jets_in, axis=1)).astype(np.int64)
    event_of_jet = np.repeat(np.arange(len(n_jets_evt)), n_jets_evt)
    gen = events.GenJetAK8
    n_gen_evt = ak.to_numpy(ak.num(gen, axis=1)).astype(np.int64)
    gen_offsets = np.concatenate([[0], np.cumsum(n_gen_evt)])
    local = ak.to_numpy(ak.flatten(jets_in.genJetAK8Idx)).astype(np.int64)
    valid = (local >= 0) & (local < n_gen_evt[event_of_jet])
    index = np.where(valid, gen_offsets[event_of_jet] + local, -1)
    flat_gen = {f: ak.to_numpy(ak.flatten(gen[f])).astype(np.float64) for f in ("pt", "eta", "phi", "mass")}
    reco = {f: ak.to_numpy(ak.flatten(jets_in[f])).astype(np.float64) for f in ("pt", "eta", "phi")}
    safe = np.where(valid, index, 0)
    dr = np.zeros(len(index))
    if len(flat_gen["pt"]):
        dr = np.hypot(reco["eta"] - flat_gen["eta"][safe], wrap_phi(reco["phi"] - flat_gen["phi"][safe]))
    out = truth_columns(ak.zip(reco), ak.zip(flat_gen), index, np.where(valid, dr, np.inf))
    out["jec"] = 1.0 / (1.0 - ak.to_numpy(ak.flatten(jets_in.rawFactor)).astype(np.float64))
    out.update(no_tops(len(index)))
    return out
