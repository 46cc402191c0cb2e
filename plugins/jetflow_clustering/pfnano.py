"""Jets from CMS PFNano: FatJets with their PF candidates, columnar.

``FatJetPFCands`` links each FatJet (``jetIdx``, local to the event) to its
PF candidates (``pFCandsIdx``, local to the event).  The constituents are
rebuilt for all jets of a chunk at once: global indices, one stable sort,
one unflatten.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from jetflow.core.errors import InputError


def _flat(array: ak.Array, dtype=None) -> np.ndarray:
    out = ak.to_numpy(ak.flatten(array, axis=1))
    return out.astype(dtype) if dtype is not None else out


def _need(events: ak.Array, collection: str, fields: tuple[str, ...], filename: str) -> None:
    if collection not in events.fields:
        raise InputError(
            f"file {filename}: no {collection} collection (branches {collection}_*); "
            "clustering.source = 'pfnano' needs a PFNano file"
        )
    have = set(events[collection].fields)
    missing = [f for f in fields if f not in have]
    if missing:
        raise InputError(
            f"file {filename}: missing branch(es) {', '.join(f'{collection}_{m}' for m in missing)}"
        )


def build_pfnano_jets(events: ak.Array, opts, filename: str = "?") -> ak.Array:
    """The per-jet table of a PFNano chunk.

    Parameters
    ----------
    events
        NanoEvents read with coffea's PFNanoAOD schema.
    opts
        :class:`jetflow_clustering.options.JetOptions`.

    Returns
    -------
    ak.Array
        One record per FatJet passing ``min_pt`` (and among the ``max_jets``
        leading ones): ``pt, eta, phi, mass`` (CMS-calibrated, as stored),
        ``pt_raw`` (``pt * (1 - rawFactor)``), ``mass_softdrop``, CMS's
        ``cms_tau1..3``, ``event``, ``constituents`` (``pt, eta, phi, mass,
        pdgId, charge, puppiWeight``; four-momenta PUPPI-weighted when
        ``pfnano.puppi``) and ``subjets`` (CMS soft-drop subjets, pT-ordered);
        with ``truth.enabled``, the truth columns of :mod:`jetflow_clustering.truth`.
    """
    name = opts.pfnano.collection
    cands_name = f"{name}PFCands"
    _need(events, name, ("pt", "eta", "phi", "mass"), filename)
    _need(events, cands_name, ("jetIdx", "pFCandsIdx"), filename)
    _need(events, "PFCands", ("pt", "eta", "phi", "mass", "pdgId", "charge", "puppiWeight"), filename)

    jets_in = events[name]
    n_jets_evt = ak.to_numpy(ak.num(jets_in, axis=1)).astype(np.int64)
    jet_offsets = np.concatenate([[0], np.cumsum(n_jets_evt)])
    n_events = len(n_jets_evt)
    n_total = int(jet_offsets[-1])
    event_of_jet = np.repeat(np.arange(n_events, dtype=np.int64), n_jets_evt)

    # constituents: map (event, local jet index) -> global jet index; (event, local cand) -> global cand
    links = events[cands_name]
    n_links_evt = ak.to_numpy(ak.num(links, axis=1)).astype(np.int64)
    link_event = np.repeat(np.arange(n_events, dtype=np.int64), n_links_evt)
    link_jet = _flat(links.jetIdx, np.int64)
    link_cand = _flat(links.pFCandsIdx, np.int64)
    bad = (link_jet < 0) | (link_jet >= n_jets_evt[link_event])
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"file {filename}: {cands_name}_jetIdx = {link_jet[i]} points outside the event's "
            f"{n_jets_evt[link_event[i]]} {name}s (event {link_event[i]} of the chunk)"
        )
    cands = events.PFCands
    n_cands_evt = ak.to_numpy(ak.num(cands, axis=1)).astype(np.int64)
    cand_offsets = np.concatenate([[0], np.cumsum(n_cands_evt)])
    bad = (link_cand < 0) | (link_cand >= n_cands_evt[link_event])
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"file {filename}: {cands_name}_pFCandsIdx = {link_cand[i]} points outside the event's "
            f"{n_cands_evt[link_event[i]]} PFCands (event {link_event[i]} of the chunk)"
        )
    global_jet = jet_offsets[link_event] + link_jet
    global_cand = cand_offsets[link_event] + link_cand
    order = np.argsort(global_jet, kind="stable")
    global_jet, global_cand = global_jet[order], global_cand[order]
    counts = np.bincount(global_jet, minlength=n_total)

    flat = {f: _flat(cands[f]) for f in ("pt", "eta", "phi", "mass", "pdgId", "charge", "puppiWeight")}
    c = {f: v[global_cand] for f, v in flat.items()}
    if opts.pfnano.puppi:
        c["pt"] = c["pt"] * c["puppiWeight"]
        c["mass"] = c["mass"] * c["puppiWeight"]
    c_pt_order = _order_within(counts, -c["pt"])
    constituents = ak.unflatten(
        ak.zip({f: v[c_pt_order] for f, v in c.items()}), counts
    )

    # subjets through subJetIdx1/2 (local to the event, -1 when absent)
    if "SubJet" in events.fields and "subJetIdx1" in jets_in.fields:
        sub = events.SubJet
        n_sub_evt = ak.to_numpy(ak.num(sub, axis=1)).astype(np.int64)
        sub_offsets = np.concatenate([[0], np.cumsum(n_sub_evt)])
        idx = np.stack([_flat(jets_in.subJetIdx1, np.int64), _flat(jets_in.subJetIdx2, np.int64)], axis=1)
        valid = (idx >= 0) & (idx < n_sub_evt[event_of_jet][:, None])
        gidx = (sub_offsets[event_of_jet][:, None] + idx)[valid]
        sub_counts = valid.sum(axis=1)
        sflat = {f: _flat(sub[f])[gidx] for f in ("pt", "eta", "phi", "mass")}
        s_order = _order_within(sub_counts, -sflat["pt"])
        subjets = ak.unflatten(ak.zip({f: v[s_order] for f, v in sflat.items()}), sub_counts)
    else:
        subjets = ak.unflatten(
            ak.zip({f: np.zeros(0, np.float32) for f in ("pt", "eta", "phi", "mass")}),
            np.zeros(n_total, np.int64),
        )

    fields = {
        "pt": _flat(jets_in.pt, np.float64),
        "eta": _flat(jets_in.eta, np.float64),
        "phi": _flat(jets_in.phi, np.float64),
        "mass": _flat(jets_in.mass, np.float64),
    }
    extra = {}
    if "rawFactor" in jets_in.fields:
        extra["pt_raw"] = fields["pt"] * (1.0 - _flat(jets_in.rawFactor, np.float64))
    if "msoftdrop" in jets_in.fields:
        extra["mass_softdrop"] = _flat(jets_in.msoftdrop, np.float64)
    for t in ("tau1", "tau2", "tau3"):
        if t in jets_in.fields:
            extra[f"cms_{t}"] = _flat(jets_in[t], np.float64)
    if opts.truth.enabled:
        from jetflow_clustering.truth import pfnano_truth

        extra.update(pfnano_truth(events, jets_in, filename))
    table = ak.zip(
        {
            **fields,
            **extra,
            "event": event_of_jet,
            "constituents": constituents,
            "subjets": subjets,
        },
        depth_limit=1,
    )
    return _keep(table, n_jets_evt, opts)


def _order_within(counts: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Permutation sorting ``key`` ascending inside each consecutive group of ``counts``."""
    group = np.repeat(np.arange(len(counts)), counts)
    return np.lexsort((key, group))


def _keep(table: ak.Array, n_per_event: np.ndarray, opts) -> ak.Array:
    """Apply ``min_pt`` and ``max_jets`` (leading jets by pT inside each event)."""
    n_total = len(table)
    pt = ak.to_numpy(table.pt)
    event = ak.to_numpy(table.event)
    order = np.lexsort((-pt, event))  # events in order, pT descending inside
    rank = np.empty(n_total, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(n_per_event)])[:-1]
    rank[order] = np.arange(n_total) - np.repeat(starts, n_per_event)
    keep = pt >= opts.min_pt
    if opts.max_jets is not None:
        keep &= rank < opts.max_jets
    return table[order][keep[order]]
