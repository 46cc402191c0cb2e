"""The jet table of an input format whose entries are jets already (``Source.provides == "jets"``: the public
jet datasets), made like the table of clustered jets: nothing is clustered, the rest is as for anti-kt jets.
Every entry is a jet of the table: ``min_pt`` and ``max_jets`` choose among an event's clustered jets and do not
apply here (a pT cut on these jets is ``selection.windows``, counted in the cut-flow).

Each entry's ``pt, eta, phi, mass`` is the jet before grooming (``pt_untrimmed``, ...).  Its constituents get
the channel fields the multi-channel images need (:func:`jetflow.physics.particle_channels`: from ``pdgId``
and ``charge``, taken as 0 where the format has none, i.e. neutral hadrons by the channel rule); trimming and
soft drop (the ``clustering`` options) work on them as on a clustered jet's, so ``subjets`` are the kept kt
subjets and the trimmed jet is their sum.  A format's own ``mass_softdrop`` is kept rather than recomputed.
Every other field of the entry (``label``, the format's own columns) is kept as it is, and so are the
constituents' extra fields (impact parameters, ...).
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from jetflow.core.errors import InputError
from jetflow.physics import particle_channels
from jetflow_clustering.clustering import _group_order, _softdrop_mass, _trim

JET_FIELDS = ("pt", "eta", "phi", "mass", "constituents")
"""What a jet-level format's entries must have."""


def jets_of_table(table: ak.Array, opts, filename: str) -> ak.Array:
    """The per-jet table (:data:`jetflow.core.columns.BUILDER_FIELDS` and the clustering plugin's columns) of
    jet-level entries; ``opts`` is the ``clustering`` section (trimming, soft drop)."""
    if opts.truth.enabled:
        from jetflow.core.errors import ConfigError

        raise ConfigError("clustering.truth: this input format's entries are jets without their generator-level "
                          "particles, so there is nothing to match them to; set clustering.truth.enabled to false")
    missing = [f for f in JET_FIELDS if f not in (table.fields or ())]
    if missing:
        raise InputError(f"file {filename}: the input format's jets lack field(s) {', '.join(missing)} "
                         f"(it gave: {', '.join(table.fields or ()) or 'nothing'})")
    n_jets = len(table)
    constituents = table.constituents
    n_const = ak.to_numpy(ak.num(constituents, axis=1)).astype(np.int64)
    const = {f: ak.to_numpy(ak.flatten(constituents[f])) for f in constituents.fields}
    for f in ("pt", "eta", "phi", "mass"):
        const[f] = const[f].astype(np.float64)
    for f, dtype in (("pdgId", np.int64), ("charge", np.float64)):
        const[f] = const[f].astype(dtype) if f in const else np.zeros(len(const["pt"]), dtype)
    const.update(particle_channels(const["pt"], const["pdgId"], const["charge"]))

    jet = {f: ak.to_numpy(table[f]).astype(np.float64) for f in ("pt", "eta", "phi", "mass")}
    out = {f"{f}_untrimmed": v for f, v in jet.items()}
    if opts.softdrop.enabled and "mass_softdrop" not in table.fields:
        out["mass_softdrop"] = _softdrop_mass(const, n_const, opts.radius, opts.softdrop.beta, opts.softdrop.z_cut)
    if opts.trimming.enabled:
        trimmed, const, n_const, subjets = _trim(const, n_const, jet["pt"], opts.trimming.r_sub, opts.trimming.f_cut)
        out.update(trimmed)
    else:
        out.update(jet)
        subjets = ak.unflatten(ak.zip({f: np.zeros(0) for f in ("pt", "eta", "phi", "mass")}),
                               np.zeros(n_jets, np.int64))
    order = _group_order(n_const, -const["pt"])
    out["constituents"] = ak.unflatten(ak.zip({f: v[order] for f, v in const.items()}), n_const)
    out["subjets"] = subjets
    out["event"] = np.arange(n_jets, dtype=np.int64)
    for f in table.fields:
        if f not in out and f not in JET_FIELDS:
            out[f] = table[f]
    return ak.zip(out, depth_limit=1)
