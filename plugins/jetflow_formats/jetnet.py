"""Source ``jetnet``: the JetNet dataset's HDF5 files (Kansal et al., arXiv:2106.11535), one entry a jet.

The layout, as the Zenodo records (6975118: 30 particles, ``g.hdf5, q.hdf5, t.hdf5, w.hdf5, z.hdf5``;
6975117: 150 particles, ``g150.hdf5``, ...) describe it and the ``jetnet`` package
(``jetnet.datasets.JetNet.getData``) reads it, one file per jet type:

``particle_features``
    ``[n_jets, n_particles (30 or 150), 4]``: ``eta_rel, phi_rel, pt_rel, mask`` (``eta_rel = eta - eta_jet``,
    ``phi_rel = phi - phi_jet``, ``pt_rel = pt / pt_jet``; padded slots are zeros with ``mask = 0``);
``jet_features``
    ``[n_jets, 4]``: ``pt, eta, mass, num_particles``.  The files hold no jet type: the package prepends the
    type from the file's name, as the index in ``JetNet.jet_types = ["g", "q", "t", "w", "z"]`` (g=0, q=1,
    t=2, w=3, z=4), giving its ``all_jet_features = ["type", "pt", "eta", "mass", "num_particles"]``.  An
    array of 5 columns is read in that order (``type`` first), as saved from the package.

Each jet becomes one record: ``pt, eta, mass`` from ``jet_features`` (float64) and ``phi = 0``: the jet's
azimuth is not stored, and the particles' ``phi_rel`` are relative to it, so every jet is put at ``phi = 0``;
``constituents`` (jagged float32): ``pt = pt_rel * pt_jet``, ``eta = eta_rel + eta_jet``, ``phi = phi_rel``
(wrapped to (-pi, pi]), ``mass = 0``, the slots with ``mask > 0.5`` only, in the file's order (pT
descending); ``pt_constituents, mass_constituents`` (float64): the four-vector sum of those constituents (it
differs from the stored jet, which has all its particles, when a 30-particle file truncated it);
``jetnet_n_particles`` (int32: ``num_particles``); ``label`` (int8): the jet type, from the 5-column array's
``type`` or else the file name (``g``, ``q``, ``t``, ``w``, ``z``, optionally followed by digits: ``t150.hdf5``)
and absent when neither says it.  Read with h5py, rows ``[start, stop)`` of both datasets per chunk.
"""

from __future__ import annotations

import re
from typing import Any

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import ColumnSpec, FileView, InputError, Options, Source
from jetflow.physics import ptetaphim, wrap_phi
from jetflow_formats._common import at_entries, open_hdf5, reading
from jetflow_formats.toptagging import gather_kept

PARTICLES = "particle_features"
JETS = "jet_features"
JET_TYPES = ("g", "q", "t", "w", "z")
"""``jetnet.datasets.JetNet.jet_types``: the label is the index of the jet type in this list."""

COLUMNS = {
    "pt_constituents": ColumnSpec(r"Constituents' $p_T$", "GeV", 100, 0.0, 2000.0,
                                  description="JetNet: pT of the sum of the stored particles"),
    "mass_constituents": ColumnSpec("Constituents' mass", "GeV", 100, 0.0, 250.0,
                                    description="JetNet: mass of the sum of the stored particles"),
    "jetnet_n_particles": ColumnSpec("Particles (JetNet)", "", 150, 0.0, 150.0,
                                     description="JetNet: the jet's num_particles"),
}
"""The per-jet columns this source adds beyond the builder's fields and ``label``."""


class JetNetOptions(Options):
    """Section ``formats.jetnet``."""

    max_constituents: int | None = Field(
        None, ge=1, description="keep at most the first N particles of each jet (the file's order); all if null"
    )


def type_of_name(path: str) -> int | None:
    """The JetNet type index a file name says (``g.hdf5`` -> 0, ``t150.hdf5`` -> 2), or None."""
    stem = path.rstrip("/").rsplit("/", 1)[-1].split(".", 1)[0].lower()
    match = re.fullmatch(r"([gqtwz])\d*", stem)
    return JET_TYPES.index(match.group(1)) if match else None


def _check_shapes(f, path: str) -> tuple[int, int]:
    """``(n_jets, jet feature columns)`` after checking both datasets' shapes; InputError naming the bad one."""
    missing = [k for k in (PARTICLES, JETS) if k not in f]
    if missing:
        raise InputError(f"file {path}: JetNet dataset(s) {', '.join(missing)} missing "
                         f"(keys: {', '.join(sorted(f.keys()))})")
    parts, jets = f[PARTICLES].shape, f[JETS].shape
    if len(parts) != 3 or parts[2] != 4:
        raise InputError(f"file {path}: dataset {PARTICLES} has shape {parts}; expected [n_jets, n_particles, 4] "
                         "(eta_rel, phi_rel, pt_rel, mask)")
    if len(jets) != 2 or jets[1] not in (4, 5):
        raise InputError(f"file {path}: dataset {JETS} has shape {jets}; expected [n_jets, 4] "
                         "(pt, eta, mass, num_particles) or [n_jets, 5] (type first)")
    if parts[0] != jets[0]:
        raise InputError(f"file {path}: {PARTICLES} has {parts[0]} jets but {JETS} has {jets[0]}")
    return int(jets[0]), int(jets[1])


class JetNetReader:
    """Reads JetNet HDF5 files (:mod:`jetflow_formats.jetnet`); ``tree`` is ignored."""

    def entries(self, path: str, tree: str) -> int:
        """The first dimension of ``jet_features`` (checked against ``particle_features``)."""
        with reading(path, "as HDF5"), open_hdf5(path) as f:
            return _check_shapes(f, path)[0]

    def read(self, path: str, tree: str, start: int, stop: int, options: Any) -> ak.Array:
        """Rows ``[start, stop)`` of ``particle_features`` and ``jet_features`` as jet records."""
        opts = options if options is not None else JetNetOptions()
        with reading(path, at_entries(start, stop)), open_hdf5(path) as f:
            _, width = _check_shapes(f, path)
            n = f[PARTICLES].shape[1] if opts.max_constituents is None else opts.max_constituents
            parts = f[PARTICLES][start:stop, :n]  # the file's dtype: only the kept particles become float64
            jets = np.asarray(f[JETS][start:stop], dtype=np.float64)
        if len(jets) != stop - start:
            raise InputError(f"file {path}: entries [{start}, {stop}) asked, the file has {start + len(jets)}")
        return jets_of_arrays(parts, jets, path)


def jets_of_arrays(parts: np.ndarray, jets: np.ndarray, path: str) -> ak.Array:
    """Jet records of ``particle_features`` ``[n, P, 4]`` and ``jet_features`` ``[n, 4 or 5]`` rows."""
    jet_type = None
    if jets.shape[1] == 5:
        jet_type, jets = jets[:, 0], jets[:, 1:]
    pt, eta, mass, count = jets[:, 0], jets[:, 1], jets[:, 2], jets[:, 3]
    keep = parts[:, :, 3] > 0.5
    counts = np.count_nonzero(keep, axis=1)
    eta_rel, phi_rel, pt_rel = (c.astype(np.float64) for c in gather_kept(parts, keep)[:, :3].T)
    owner = np.repeat(np.arange(len(jets)), counts)
    c_pt = pt_rel * pt[owner]
    c_eta = eta_rel + eta[owner]
    c_phi = wrap_phi(phi_rel)
    c_mass = np.zeros_like(c_pt)
    px, py, pz = c_pt * np.cos(c_phi), c_pt * np.sin(c_phi), c_pt * np.sinh(c_eta)
    e = np.abs(c_pt * np.cosh(c_eta))  # sqrt((pt cosh eta)^2 + 0^2): the same doubles
    sums = [np.bincount(owner, weights=a, minlength=len(jets)) for a in (px, py, pz, e)]
    s_pt, _, _, s_mass = ptetaphim(*sums)
    offsets = np.zeros(len(jets) + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    constituents = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), ak.contents.RecordArray(
        [ak.contents.NumpyArray(v.astype(np.float32)) for v in (c_pt, c_eta, c_phi, c_mass)],
        ["pt", "eta", "phi", "mass"])))
    fields = {"pt": pt, "eta": eta, "phi": np.zeros(len(jets)), "mass": mass,
              "constituents": constituents,
              "pt_constituents": s_pt, "mass_constituents": s_mass,
              "jetnet_n_particles": count.astype(np.int32)}
    if jet_type is None:
        named = type_of_name(path)
        jet_type = None if named is None else np.full(len(jets), named)
    if jet_type is not None:
        bad = ~np.isin(jet_type, np.arange(len(JET_TYPES)))
        if bad.any():
            raise InputError(f"file {path}: jet type {jet_type[bad][0]!r} in {JETS}; expected 0 .. 4 "
                             f"({', '.join(JET_TYPES)})")
        fields["label"] = jet_type.astype(np.int8)
    return ak.zip(fields, depth_limit=1)


def _recognise(view: FileView) -> bool:
    """An HDF5 file with the datasets ``particle_features`` and ``jet_features``."""
    return {PARTICLES, JETS} <= view.hdf5_keys


JETNET = Source(
    name="jetnet",
    description="JetNet (arXiv:2106.11535): HDF5 particle_features / jet_features, one file per jet type",
    provides="jets",
    recognise=_recognise,
    tree="",
    section="jetnet",
    reader=JetNetReader(),
    fields={
        "particle_features (eta_rel, phi_rel, pt_rel, mask)": "constituents (pt, eta, phi = phi_rel, mass 0)",
        "jet_features (pt, eta, mass, num_particles)": "pt, eta, mass (phi = 0), jetnet_n_particles",
        "the file name (g, q, t, w, z) or a type column": "label (int8: g 0, q 1, t 2, w 3, z 4)",
    },
)
