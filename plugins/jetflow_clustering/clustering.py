"""Anti-kt jets and trimming with FastJet's awkward interface, columnar.

1. Anti-kt with radius R on the inputs of every event of the chunk at once
   (``fastjet.ClusterSequence`` on a jagged ``[event][particle]`` array).
2. Jets above ``min_pt``; the ``max_jets`` leading ones per event are kept.
3. Trimming (Krohn, Thaler, Wang, arXiv:0912.1342; [jet-images]): the constituents
   of every kept jet are reclustered at once with kt, R_sub (jets play the role
   of events), and subjets with ``pT < f_cut * pT(jet)`` are dropped; ``pT(jet)``
   is the untrimmed jet's.  The trimmed jet is the sum of the kept subjets.

No Python loop over events, jets or particles: FastJet loops in C++, the rest
is numpy / awkward on flat arrays.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from jetflow.physics import ptetaphim, pxpypze
from jetflow_clustering.towers import CONSTITUENT_FIELDS


def _fastjet():
    """The ``fastjet`` module, its banner silenced: each worker process would print its 13 lines once. The
    citation it asks for is in docs/references.md, with every study jetflow uses."""
    import fastjet

    fastjet._swig.ClusterSequence.set_fastjet_banner_stream(None)
    return fastjet


def _jet_def(algorithm: str, radius: float):
    fastjet = _fastjet()
    algo = {"antikt": fastjet.antikt_algorithm, "kt": fastjet.kt_algorithm}[algorithm]
    return fastjet.JetDefinition(algo, radius)


def _flat_xyz(array) -> tuple[np.ndarray, ...]:
    """Flatten fastjet's ``{px, py, pz, E}`` records to numpy."""
    flat = array
    while flat.ndim > 1:
        flat = ak.flatten(flat, axis=1)
    return tuple(ak.to_numpy(flat[f]).astype(np.float64) for f in ("px", "py", "pz", "E"))


def _group_order(counts: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Permutation sorting ``key`` ascending inside each consecutive group of ``counts``."""
    group = np.repeat(np.arange(len(counts)), counts)
    return np.lexsort((key, group))


def cluster_jets(
    fields: dict[str, np.ndarray],
    counts: np.ndarray,
    *,
    radius: float = 1.0,
    min_pt: float = 0.0,
    max_jets: int | None = None,
    trimming: bool = True,
    r_sub: float = 0.3,
    f_cut: float = 0.05,
    softdrop: bool = True,
    sd_beta: float = 0.0,
    sd_zcut: float = 0.1,
) -> ak.Array:
    """Cluster, select and trim.

    Parameters
    ----------
    fields
        Flat input fields (:data:`CONSTITUENT_FIELDS`), grouped by event.
    counts
        Inputs per event.
    radius, min_pt, max_jets
        Anti-kt radius, minimum untrimmed pT (GeV), leading jets kept per event.
    trimming, r_sub, f_cut
        Trimming switch and parameters.
    softdrop, sd_beta, sd_zcut
        Soft drop (Larkoski, Marzani, Soyez, Thaler, arXiv:1402.2657) of the
        untrimmed jet: Cambridge/Aachen reclustering, declustered until
        ``z > z_cut (Delta R / R)^beta``; gives ``mass_softdrop``.

    Returns
    -------
    ak.Array
        One record per jet, ordered by event then untrimmed pT (descending):
        ``pt, eta, phi, mass`` (trimmed; with trimming off, the untrimmed jet;
        if no subjet survives, pt = mass = 0 along the untrimmed jet's axis),
        ``pt_untrimmed, eta_untrimmed, phi_untrimmed, mass_untrimmed``,
        ``event``, ``constituents`` (those of the kept subjets, pT-ordered,
        with :data:`CONSTITUENT_FIELDS`) and ``subjets`` (the kept kt subjets,
        pT-ordered: ``pt, eta, phi, mass``).
    """
    fastjet = _fastjet()
    n_events = len(counts)
    px, py, pz, e = pxpypze(fields["pt"], fields["eta"], fields["phi"], fields["mass"])
    inputs = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}), counts)
    cs = fastjet.ClusterSequence(inputs, _jet_def("antikt", radius))
    jets = cs.inclusive_jets(min_pt=min_pt)
    index = cs.constituent_index(min_pt=min_pt)  # [event][jet][constituent] -> input index in event

    n_jets_evt = ak.to_numpy(ak.num(jets, axis=1)).astype(np.int64)
    jpx, jpy, jpz, je = _flat_xyz(jets)
    jpt, jeta, jphi, jmass = ptetaphim(jpx, jpy, jpz, je)
    jet_event = np.repeat(np.arange(n_events, dtype=np.int64), n_jets_evt)

    # leading jets per event, ordered by pT
    order = _group_order(n_jets_evt, -jpt)
    starts = np.concatenate([[0], np.cumsum(n_jets_evt)])[:-1]
    rank = np.arange(len(order)) - np.repeat(starts, n_jets_evt)
    keep = order[rank < max_jets] if max_jets is not None else order

    # constituents of the kept jets: [jet][constituent], global input index
    offsets = np.concatenate([[0], np.cumsum(counts)])
    flat_index = ak.flatten(index, axis=1)[keep]  # [jet][constituent] local to the event
    n_const = ak.to_numpy(ak.num(flat_index, axis=1)).astype(np.int64)
    global_index = ak.to_numpy(ak.flatten(flat_index)).astype(np.int64) + np.repeat(
        offsets[jet_event[keep]], n_const
    )
    const = {f: fields[f][global_index] for f in CONSTITUENT_FIELDS}

    out = {
        "pt_untrimmed": jpt[keep],
        "eta_untrimmed": jeta[keep],
        "phi_untrimmed": jphi[keep],
        "mass_untrimmed": jmass[keep],
    }
    if softdrop:
        out["mass_softdrop"] = _softdrop_mass(const, n_const, radius, sd_beta, sd_zcut)
    if trimming:
        trimmed, const, n_const, subjets = _trim(const, n_const, out["pt_untrimmed"], r_sub, f_cut)
        out.update(trimmed)
    else:
        out.update(
            {"pt": out["pt_untrimmed"], "eta": out["eta_untrimmed"], "phi": out["phi_untrimmed"], "mass": out["mass_untrimmed"]}
        )
        subjets = ak.unflatten(
            ak.zip({f: np.zeros(0) for f in ("pt", "eta", "phi", "mass")}), np.zeros(len(keep), np.int64)
        )
    c_order = _group_order(n_const, -const["pt"])
    constituents = ak.unflatten(ak.zip({f: v[c_order] for f, v in const.items()}), n_const)
    return ak.zip(
        {**out, "event": jet_event[keep], "constituents": constituents, "subjets": subjets},
        depth_limit=1,
    )


def _trim(const, n_const, jet_pt, r_sub, f_cut):
    """Trim every jet at once.  Returns trimmed kinematics, kept constituents, their counts, subjets."""
    fastjet = _fastjet()
    n_jets = len(n_const)
    px, py, pz, e = pxpypze(const["pt"], const["eta"], const["phi"], const["mass"])
    per_jet = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}), n_const)
    cs = fastjet.ClusterSequence(per_jet, _jet_def("kt", r_sub))
    subjets = cs.inclusive_jets()  # [jet][subjet]
    sub_index = cs.constituent_index()  # [jet][subjet][constituent]

    n_sub = ak.to_numpy(ak.num(subjets, axis=1)).astype(np.int64)
    spx, spy, spz, se = _flat_xyz(subjets)
    spt, seta, sphi, smass = ptetaphim(spx, spy, spz, se)
    sub_jet = np.repeat(np.arange(n_jets), n_sub)
    kept = spt >= f_cut * jet_pt[sub_jet]

    # trimmed four-vector: sum of the kept subjets
    def per_jet_sum(x):
        return np.bincount(sub_jet[kept], weights=x[kept], minlength=n_jets)

    tpt, teta, tphi, tmass = ptetaphim(per_jet_sum(spx), per_jet_sum(spy), per_jet_sum(spz), per_jet_sum(se))
    n_sub_kept = np.bincount(sub_jet[kept], minlength=n_jets).astype(np.int64)
    empty = n_sub_kept == 0  # no subjet survives: a zero trimmed jet along the untrimmed axis
    if empty.any():
        jpx, jpy, jpz, je = (np.bincount(np.repeat(np.arange(n_jets), n_const), weights=x, minlength=n_jets) for x in (px, py, pz, e))
        _, ueta, uphi, _ = ptetaphim(jpx, jpy, jpz, je)
        teta = np.where(empty, ueta, teta)
        tphi = np.where(empty, uphi, tphi)

    # constituents of the kept subjets
    kept_jagged = ak.unflatten(kept, n_sub)
    kept_index = ak.flatten(sub_index[kept_jagged], axis=2)  # [jet][constituent] local to the jet
    n_kept = ak.to_numpy(ak.num(kept_index, axis=1)).astype(np.int64)
    jet_offsets = np.concatenate([[0], np.cumsum(n_const)])
    global_index = ak.to_numpy(ak.flatten(kept_index)).astype(np.int64) + np.repeat(jet_offsets[:-1], n_kept)
    const = {f: v[global_index] for f, v in const.items()}

    # subjets kept, pT-ordered
    s = {"pt": spt[kept], "eta": seta[kept], "phi": sphi[kept], "mass": smass[kept]}
    s_order = _group_order(n_sub_kept, -s["pt"])
    subjets_out = ak.unflatten(ak.zip({f: v[s_order] for f, v in s.items()}), n_sub_kept)
    trimmed = {"pt": tpt, "eta": teta, "phi": tphi, "mass": tmass}
    return trimmed, const, n_kept, subjets_out


def _softdrop_mass(const, n_const, radius, beta, zcut):
    """Soft-drop groomed mass of every jet at once (FastJet's awkward soft drop, jets as events)."""
    fastjet = _fastjet()
    n_jets = len(n_const)
    out = np.zeros(n_jets)
    has = n_const > 0
    if not has.any():
        return out
    px, py, pz, e = pxpypze(const["pt"], const["eta"], const["phi"], const["mass"])
    per_jet = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}), n_const)[has]
    cs = fastjet.ClusterSequence(per_jet, fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0))
    groomed = cs.exclusive_jets_softdrop_grooming(njets=1, beta=beta, symmetry_cut=zcut, R0=radius)
    out[has] = ak.to_numpy(groomed.msoftdrop)
    return out
