"""Source ``jetclass``: the JetClass dataset (Qu et al., arXiv:2202.03772), ROOT files with the TTree ``tree``,
one entry a jet.

Branches read (per entry, ``part_*`` jagged over the jet's particles):

``part_px, part_py, part_pz, part_energy``
    the particles' four-momenta (GeV) -> constituents ``pt, eta, phi, mass`` (``mass = sqrt(max(E^2 - p^2, 0))``);
``part_charge`` and ``part_isChargedHadron, part_isNeutralHadron, part_isPhoton, part_isElectron, part_isMuon``
    -> constituents ``charge`` and ``pdgId``: charged hadron ``211 * charge``, neutral hadron 130, photon 22,
    electron ``-11 * charge``, muon ``-13 * charge``, 0 when no flag is set;
``part_d0val, part_d0err, part_dzval, part_dzerr``
    -> constituent fields ``d0val, d0err, dzval, dzerr`` (when the file has them);
``jet_pt, jet_eta, jet_phi, jet_energy``
    -> ``pt, eta, phi`` and ``mass = sqrt(max(E^2 - (pt cosh eta)^2, 0))``: the stored jet's own mass, so that
    the four jet fields describe one four-vector (for Delphes jets it is the constituents' sum up to rounding);
``jet_sdmass``, ``jet_tau1 .. jet_tau4``
    -> ``mass_softdrop``, ``jetclass_tau1 .. jetclass_tau4`` (when the file has them);
``label_QCD, label_Hbb, label_Hcc, label_Hgg, label_H4q, label_Hqql, label_Zqq, label_Wqq, label_Tbqq, label_Tbl``
    one-hot -> ``label`` (int8): the index of the branch that is set, in that order; every entry must have
    exactly one set, and a file without them is refused (InputError naming the file and the missing branches);
``aux_*``
    the flat numeric ones, kept under their names with ``aux: true`` (the default).

``part_deta, part_dphi`` (relative to the jet) are not read: eta and phi come from the momenta.  A chunk is
read with ``tree.arrays(filter_name=..., entry_start=, entry_stop=)``.  A file's identity is its ROOT UUID
(:meth:`JetClassReader.identity`), as for the ROOT files read through coffea.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import ColumnSpec, FileView, InputError, Options, Source
from jetflow_formats._common import at_entries, reading, root_identity
from jetflow_formats.toptagging import constituent_ptetaphim

TREE = "tree"
MOMENTA = ("part_px", "part_py", "part_pz", "part_energy")
FLAGS = ("part_isChargedHadron", "part_isNeutralHadron", "part_isPhoton", "part_isElectron", "part_isMuon")
IMPACT = ("part_d0val", "part_d0err", "part_dzval", "part_dzerr")
JET = ("jet_pt", "jet_eta", "jet_phi", "jet_energy")
TAUS = ("jet_tau1", "jet_tau2", "jet_tau3", "jet_tau4")
SOFTDROP = "jet_sdmass"
LABELS = ("label_QCD", "label_Hbb", "label_Hcc", "label_Hgg", "label_H4q", "label_Hqql", "label_Zqq", "label_Wqq",
          "label_Tbqq", "label_Tbl")
"""The one-hot label branches: ``label`` is the index of the one set, in this order."""
REQUIRED = (*MOMENTA, "part_charge", *FLAGS, *JET)

COLUMNS = {
    f"jetclass_tau{i}": ColumnSpec(fr"$\tau_{i}$ (JetClass)", "", 50, 0.0, 1.0, description=f"JetClass: stored tau{i}")
    for i in range(1, 5)
}
"""The per-jet columns this source adds beyond the builder's fields and ``label`` (``mass_softdrop`` is
declared by the clustering plugin under the same name; ``aux_*`` are the file's own)."""


class JetClassOptions(Options):
    """Section ``formats.jetclass``."""

    max_constituents: int | None = Field(
        None, ge=1, description="keep at most the first N particles of each jet (the file's order); all if null"
    )
    aux: bool = Field(True, description="keep the file's flat numeric aux_* branches as columns")


def _tree(file, path: str, tree: str):
    if tree not in file:
        raise InputError(f"file {path}: no TTree {tree!r} (keys: {', '.join(file.keys(cycle=False))})")
    return file[tree]


def _flat_aux(tree) -> list[str]:
    """The tree's ``aux_*`` branches of one number per entry."""
    names = []
    for name, typename in tree.typenames().items():
        if name.startswith("aux_") and "vector" not in typename and "[" not in typename:
            names.append(name)
    return names


def branches(tree, path: str, opts: JetClassOptions) -> list[str]:
    """The branches a chunk reads; InputError naming the file and the missing ones."""
    have = set(tree.keys())
    missing = [b for b in REQUIRED if b not in have]
    if missing:
        raise InputError(f"file {path}: JetClass branch(es) {', '.join(missing)} missing from tree {tree.name!r}")
    missing = [b for b in LABELS if b not in have]
    if missing:
        raise InputError(f"file {path}: JetClass label branch(es) {', '.join(missing)} missing from tree "
                         f"{tree.name!r}: the label is the index of the one-hot label_* branches")
    optional = [b for b in (*IMPACT, SOFTDROP, *TAUS) if b in have]
    return [*REQUIRED, *LABELS, *optional, *(_flat_aux(tree) if opts.aux else [])]


_CODES = (211, 130, 22, -11, -13)
_BY_FLAGS = np.array([next((c for i, c in enumerate(_CODES) if bits >> i & 1), 0) for bits in range(32)], np.int32)
"""pdgId (for charge +1) of each set of flags, as bits in :data:`FLAGS` order: the first flag set wins."""


def pdg_ids(flags: Mapping[str, np.ndarray], charge: np.ndarray) -> np.ndarray:
    """pdgId of each particle from its type flags and charge (the first flag set wins, in :data:`FLAGS` order)."""
    bits = np.zeros(len(charge), np.uint8)
    for i, flag in enumerate(FLAGS):
        bits |= (np.asarray(flags[flag]) > 0.5).view(np.uint8) << i
    out = _BY_FLAGS[bits]
    charged = np.isin(_BY_FLAGS, (211, -11, -13))[bits]
    return np.multiply(out, np.rint(charge).astype(np.int32), out=out, where=charged)


def jets_of_arrays(arrays: ak.Array, path: str, start: int, opts: JetClassOptions) -> ak.Array:
    """Jet records of one chunk's branches (read by :meth:`JetClassReader.read`)."""
    parts = arrays[list(MOMENTA) + ["part_charge", *FLAGS, *[b for b in IMPACT if b in arrays.fields]]]
    if opts.max_constituents is not None:
        parts = parts[:, : opts.max_constituents]
    counts = ak.to_numpy(ak.num(parts["part_px"], axis=1))

    def flat(name):  # the file's values, not copied
        return ak.to_numpy(ak.flatten(parts[name], axis=1))

    pt, eta, phi, mass = constituent_ptetaphim(*(flat(b).astype(np.float64) for b in MOMENTA))
    charge = flat("part_charge")
    record = {"pt": pt, "eta": eta, "phi": phi, "mass": mass, "pdgId": pdg_ids({f: flat(f) for f in FLAGS}, charge),
              "charge": charge.astype(np.float32, copy=False)}
    record.update({b.removeprefix("part_"): flat(b).astype(np.float32, copy=False)
                   for b in IMPACT if b in parts.fields})
    offsets = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    constituents = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), ak.contents.RecordArray(
        [ak.contents.NumpyArray(v) for v in record.values()], list(record))))

    def jet(name):
        return ak.to_numpy(arrays[name]).astype(np.float64)

    j_pt, j_eta, j_e = jet("jet_pt"), jet("jet_eta"), jet("jet_energy")
    fields = {"pt": j_pt, "eta": j_eta, "phi": jet("jet_phi"),
              "mass": np.sqrt(np.clip(j_e**2 - (j_pt * np.cosh(j_eta)) ** 2, 0.0, None)),
              "constituents": constituents}
    onehot = np.stack([ak.to_numpy(arrays[b]).astype(np.float64) for b in LABELS], axis=1)
    bad = np.flatnonzero((onehot != 0).sum(axis=1) != 1)
    if bad.size:
        row = onehot[bad[0]]
        raise InputError(f"file {path}: entry {start + int(bad[0])} has {int((row != 0).sum())} of the label "
                         f"branches set ({', '.join(b for b, v in zip(LABELS, row) if v) or 'none'}); expected one")
    fields["label"] = onehot.argmax(axis=1).astype(np.int8)
    if SOFTDROP in arrays.fields:
        fields["mass_softdrop"] = jet(SOFTDROP)
    fields.update({f"jetclass_{b.removeprefix('jet_')}": jet(b) for b in TAUS if b in arrays.fields})
    fields.update({b: ak.to_numpy(arrays[b]) for b in arrays.fields if b.startswith("aux_")})
    return ak.zip(fields, depth_limit=1)


class JetClassReader:
    """Reads JetClass ROOT files with uproot (:mod:`jetflow_formats.jetclass`); ``tree`` is the TTree's name."""

    def entries(self, path: str, tree: str) -> int:
        """``num_entries`` of the tree."""
        import uproot

        with reading(path, "as ROOT"), uproot.open(path) as f:
            return int(_tree(f, path, tree or TREE).num_entries)

    def read(self, path: str, tree: str, start: int, stop: int, options: Any) -> ak.Array:
        """Entries ``[start, stop)`` of the wanted branches as jet records."""
        import uproot

        opts = options if options is not None else JetClassOptions()
        with reading(path, at_entries(start, stop)), uproot.open(path) as f:
            t = _tree(f, path, tree or TREE)
            names = branches(t, path, opts)
            arrays = t.arrays(filter_name=names, entry_start=start, entry_stop=stop, library="ak")
        return jets_of_arrays(arrays, path, start, opts)

    identity = staticmethod(root_identity)


def _recognise(view: FileView) -> bool:
    """A ROOT file whose TTree ``tree`` has the branches ``part_px`` and ``jet_pt``."""
    return {"part_px", "jet_pt"} <= view.branches(TREE)


JETCLASS = Source(
    name="jetclass",
    description="JetClass (arXiv:2202.03772): ROOT TTree 'tree', one entry a jet, ten one-hot label_* classes",
    provides="jets",
    recognise=_recognise,
    tree=TREE,
    section="jetclass",
    reader=JetClassReader(),
    fields={
        "part_px, part_py, part_pz, part_energy": "constituents pt, eta, phi, mass",
        "part_is* flags, part_charge": "constituents pdgId, charge",
        "part_d0val, part_d0err, part_dzval, part_dzerr": "constituents d0val, d0err, dzval, dzerr",
        "jet_pt, jet_eta, jet_phi, jet_energy": "pt, eta, phi, mass",
        "jet_sdmass, jet_tau1..4": "mass_softdrop, jetclass_tau1..4",
        "label_QCD .. label_Tbl (one-hot)": "label (int8: 0 QCD .. 9 Tbl)",
        "aux_* (flat)": "aux_* (with formats.jetclass.aux)",
    },
)
