"""Source ``delphes``: the ROOT output of the Delphes fast simulation (its CMS, ATLAS, FCC... cards) as particles.

Delphes writes one TTree ``Delphes``, one entry an event.  Each branch is a TClonesArray of one of the classes
of ``classes/DelphesClasses.h`` (github.com/delphes/delphes, read at commit 0ee14ba, April 2026), split into
sub-branches ``<Branch>.<Member>`` with a counter ``<Branch>_size``; which branches there are is the card's
``TreeWriter`` (``add Branch InputArray BranchName BranchClass``; ``cards/delphes_card_CMS.tcl``: ``Particle``
GenParticle, ``Tower`` Tower, ``EFlowTrack`` Track, ``EFlowPhoton`` and ``EFlowNeutralHadron`` Tower, ``GenJet``,
``Jet`` and ``FatJet`` Jet; the readers add ``Event``, an LHEFEvent or HepMCEvent).  The members read here:

``Event``              ``Number`` (Long64_t), ``Weight`` (Float_t; LHEFEvent and HepMCEvent, not LHCOEvent)
``Track``              ``PID, Charge, PT, Eta, Phi``; ``Mass`` (Delphes >= 3.4.3pre11, March 2021; 0 where the
                       file has none) and ``IsPU`` (added in November 2025) where present
``Tower``              ``ET, Eta, Phi, E, Eem, Ehad`` (``E = Eem + Ehad``, ``ET = E / cosh(Eta)``); ``IsPU`` where
                       present (November 2025)
``GenParticle``        ``PID, Status, IsPU, M1, M2, D1, D2, Charge, Mass, PT, Eta, Phi``: ``M1 .. D2`` index the
                       event's ``Particle`` array (0-based, -1: none)
``Jet``                ``PT, Eta, Phi, Mass``

uproot names a split sub-branch by its own name whatever its depth (``Tower.ET``, listed in full as
``Tower/Tower.ET``), so the same reading works on Delphes' files and on trees written by uproot with dotted
names (``mktree(..., counter_name=lambda c: f"{c}_size", field_name=lambda o, i: f"{o}.{i}")``).

What :class:`DelphesReader` yields per event (the ``"particles"`` layout of :mod:`jetflow.core.sources`):

* ``run = 1``, ``luminosityBlock = 0`` (uint32); ``event`` (uint64) = ``Event.Number``, or the entry number where
  the file has none; ``genWeight`` (float32) = ``Event.Weight``, 1 where the file has none.
* ``Particle`` (float32 ``pt, eta, phi, mass``, int32 ``pdgId, charge``, and int32 ``pileup`` when the file has
  an ``IsPU`` for them: 0 for the hard event, 1 for pile-up), chosen by ``formats.delphes.inputs``:

  ``eflow`` (default)
      the energy-flow objects, per event: ``EFlowTrack`` (``pt = PT``, ``mass = Mass`` or 0, ``pdgId = PID``,
      ``charge = Charge``), then ``EFlowPhoton`` (``pt = ET``, ``pdgId = 22``) and ``EFlowNeutralHadron``
      (``pt = ET``, ``pdgId = 130``), both massless and neutral;
  ``towers``
      the calorimeter towers ``Tower`` (massless, neutral, ``pt = ET``), labelled for the image channels
      (``jetflow.physics.particle_channels``, which reads only ``pdgId`` and ``charge``): ``pdgId = 22`` (photon
      channel) where ``Eem >= Ehad``, else 130 (neutral hadron channel).  Charged particles deposit in the
      towers too, so the charged channel is empty.

* ``GenParticle``: the ``Particle`` branch's final-state (``Status == 1``), visible (not |PID| in
  :data:`INVISIBLE`) particles of the hard event (``IsPU == 0`` where present): the generator-level jets.
* ``TruthW``: the W bosons (|PID| 24) whose first and last daughters ``D1``, ``D2`` are quarks (|PID| 1 .. 6; a
  ``D2`` of -1 means one daughter, ``D1``): the hadronically decaying Ws, each the last copy (earlier copies have
  a W as daughter).  ``TruthTop``: the top quarks (|PID| 6) that have a daughter and whose first and last
  daughters are not tops: the last copy before the decay, whatever the W does.  Both float32
  ``pt, eta, phi, mass``, in file order; found from the indices columnar, on flat arrays.
* ``DelphesJet``, ``DelphesGenJet``, ``DelphesFatJet`` (where the file has ``Jet``, ``GenJet``, ``FatJet``):
  Delphes' own jets, float32 ``pt, eta, phi, mass``, for a plugin to match.  ``FatJet.SoftDroppedP4`` (an array
  of TLorentzVector objects) is not read.

A collection whose branches the file lacks is left out; a missing branch that the chosen ``inputs`` need is a
:class:`jetflow.InputError` naming the file and the branches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import FileView, InputError, Options, Source
from jetflow_formats._common import root_identity, unreadable

TREE = "Delphes"
INVISIBLE = (12, 14, 16, 1000022, 1000039)
"""|PID| of final-state particles that leave no trace: neutrinos, the lightest neutralino, the gravitino."""
PHOTON, NEUTRAL_HADRON = 22, 130
"""``pdgId`` given to EFlowPhoton / EFlowNeutralHadron objects, and to towers (by ``Eem`` against ``Ehad``)."""

TRACK = {"pt": "PT", "eta": "Eta", "phi": "Phi", "pdgId": "PID", "charge": "Charge"}
TOWER = {"pt": "ET", "eta": "Eta", "phi": "Phi"}
CALO_TOWER = {**TOWER, "Eem": "Eem", "Ehad": "Ehad"}
GEN = {"pt": "PT", "eta": "Eta", "phi": "Phi", "mass": "Mass", "pdgId": "PID", "charge": "Charge", "status": "Status"}
FOUR = {"pt": "PT", "eta": "Eta", "phi": "Phi", "mass": "Mass"}
JETS = {"DelphesJet": "Jet", "DelphesGenJet": "GenJet", "DelphesFatJet": "FatJet"}
REQUIRED = {
    "eflow": [f"{b}.{m}" for b, members in (("EFlowTrack", TRACK), ("EFlowPhoton", TOWER),
                                            ("EFlowNeutralHadron", TOWER)) for m in members.values()],
    "towers": [f"Tower.{m}" for m in CALO_TOWER.values()],
}
"""The branches each choice of ``inputs`` cannot do without."""


class DelphesOptions(Options):
    """Section ``formats.delphes``."""

    inputs: Literal["eflow", "towers"] = Field(
        "eflow", description="what jets are clustered from: the energy-flow objects (EFlowTrack, EFlowPhoton, "
        "EFlowNeutralHadron) or the calorimeter towers (Tower)")


def _short(name: str) -> str:
    """A branch's own name: ``Tower.ET`` for ``Tower/Tower.ET``."""
    return name.rsplit("/", 1)[-1]


def _open_tree(path: str, tree: str):
    """``(file, tree)`` opened with uproot, or an :class:`InputError` naming the file."""
    import uproot

    try:
        f = uproot.open(path)
    except Exception as exc:
        raise unreadable(path, "as ROOT", exc) from exc
    try:
        t = f[tree]
    except KeyError:  # uproot.KeyInFileError
        t = None
    if not isinstance(t, uproot.TTree):
        keys = ", ".join(f.keys(cycle=False)) or "nothing"
        f.close()
        raise InputError(f"file {path}: no tree {tree!r} (it has: {keys}); a Delphes file has the tree {TREE!r}")
    return f, t


def _branches(t) -> frozenset[str]:
    return frozenset(_short(k) for k in t.keys(recursive=True))


def _group(arrays: ak.Array, branch: str, members: Mapping[str, str], present: frozenset[str]) -> ak.Array | None:
    """The jagged records ``{field: <branch>.<member>}``, or ``None`` when a member's branch is absent."""
    names = [f"{branch}.{m}" for m in members.values()]
    if not all(n in present for n in names):
        return None
    return ak.zip({f: arrays[f"{branch}.{m}"] for f, m in members.items()})


def _particles(collection: ak.Array, *, pt: ak.Array, mass: Any, pdg_id: Any, charge: Any, pileup: Any) -> ak.Array:
    """jetflow's particle records of one Delphes collection; ``pileup``: the flags, ``False`` for all 0, or
    ``None`` to leave the field out."""
    zero = ak.zeros_like(pt, dtype=np.int32)
    fields = {
        "pt": ak.values_astype(pt, np.float32),
        "eta": ak.values_astype(collection.eta, np.float32),
        "phi": ak.values_astype(collection.phi, np.float32),
        "mass": ak.values_astype(zero if mass is None else mass, np.float32),
        "pdgId": ak.values_astype(zero + pdg_id, np.int32),
        "charge": ak.values_astype(zero + charge, np.int32),
    }
    if pileup is not None:
        fields["pileup"] = ak.values_astype(zero if pileup is False else pileup, np.int32)
    return ak.zip(fields)


def _inputs(arrays: ak.Array, present: frozenset[str], inputs: str) -> ak.Array:
    """The clustering inputs ``Particle`` (module docstring)."""
    if inputs == "towers":
        t = _group(arrays, "Tower", CALO_TOWER, present)
        pileup = arrays["Tower.IsPU"] if "Tower.IsPU" in present else None
        label = ak.where(t.Eem >= t.Ehad, PHOTON, NEUTRAL_HADRON)
        return _particles(t, pt=t.pt, mass=None, pdg_id=label, charge=0, pileup=pileup)
    parts = [("EFlowTrack", TRACK), ("EFlowPhoton", TOWER), ("EFlowNeutralHadron", TOWER)]
    has_pileup = any(f"{b}.IsPU" in present for b, _ in parts)
    out = []
    for branch, members in parts:
        c = _group(arrays, branch, members, present)
        pileup = (arrays[f"{branch}.IsPU"] if f"{branch}.IsPU" in present else False) if has_pileup else None
        if branch == "EFlowTrack":
            mass = arrays["EFlowTrack.Mass"] if "EFlowTrack.Mass" in present else None
            out.append(_particles(c, pt=c.pt, mass=mass, pdg_id=c.pdgId, charge=c.charge, pileup=pileup))
        else:
            code = PHOTON if branch == "EFlowPhoton" else NEUTRAL_HADRON
            out.append(_particles(c, pt=c.pt, mass=None, pdg_id=code, charge=0, pileup=pileup))
    return ak.concatenate(out, axis=1)


def _four(values: Mapping[str, np.ndarray], keep: np.ndarray, counts: np.ndarray) -> ak.Array:
    """Jagged float32 ``pt, eta, phi, mass`` of the flat particles ``keep`` selects (``counts`` per event)."""
    event = np.repeat(np.arange(len(counts)), counts)[keep]
    per_event = np.bincount(event, minlength=len(counts))
    return ak.unflatten(ak.zip({f: values[f][keep].astype(np.float32) for f in FOUR}), per_event)


def _truth(gen: ak.Array, d1: ak.Array, d2: ak.Array) -> tuple[ak.Array, ak.Array]:
    """``TruthW`` and ``TruthTop`` (module docstring) from the generator particles and their daughter indices."""
    counts = ak.to_numpy(ak.num(gen, axis=1)).astype(np.int64)
    flat = {f: ak.to_numpy(ak.flatten(gen[f])) for f in ("pt", "eta", "phi", "mass", "pdgId")}
    pid = np.abs(flat["pdgId"].astype(np.int64))
    n_of = np.repeat(counts, counts)
    base = np.repeat(np.cumsum(counts) - counts, counts)

    def daughter_pid(index: np.ndarray) -> np.ndarray:
        """|PID| of the particle at the event-local ``index``; 0 where there is none."""
        valid = (index >= 0) & (index < n_of)
        return np.where(valid, pid[np.where(valid, base + index, 0)] if len(pid) else 0, 0)

    first = ak.to_numpy(ak.flatten(d1)).astype(np.int64)
    last = ak.to_numpy(ak.flatten(d2)).astype(np.int64)
    last = np.where(last < 0, first, last)
    pid_first, pid_last = daughter_pid(first), daughter_pid(last)

    def quark(p: np.ndarray) -> np.ndarray:
        return (p >= 1) & (p <= 6)

    hadronic_w = (pid == 24) & quark(pid_first) & quark(pid_last)
    last_top = (pid == 6) & (pid_first > 0) & (pid_first != 6) & (pid_last != 6)
    return _four(flat, hadronic_w, counts), _four(flat, last_top, counts)


def _gen_particles(arrays: ak.Array, present: frozenset[str]) -> dict[str, ak.Array]:
    """``GenParticle``, ``TruthW``, ``TruthTop`` from the branch ``Particle`` (empty if the file has none)."""
    gen = _group(arrays, "Particle", GEN, present)
    if gen is None:
        return {}
    pid = ak.to_numpy(ak.flatten(gen.pdgId)).astype(np.int64)
    keep = (gen.status == 1) & ak.unflatten(~np.isin(np.abs(pid), INVISIBLE), ak.num(gen, axis=1))
    if "Particle.IsPU" in present:
        keep = keep & (arrays["Particle.IsPU"] == 0)
    visible = gen[keep]
    out = {"GenParticle": _particles(visible, pt=visible.pt, mass=visible.mass, pdg_id=visible.pdgId,
                                     charge=visible.charge, pileup=None)}
    if "Particle.D1" in present and "Particle.D2" in present:
        out["TruthW"], out["TruthTop"] = _truth(gen, arrays["Particle.D1"], arrays["Particle.D2"])
    return out


def _wanted(inputs: str) -> list[str]:
    """Every branch a chunk may read (those the file lacks are skipped)."""
    names = ["Event.Number", "Event.Weight", *REQUIRED[inputs]]
    names += ["EFlowTrack.Mass", "EFlowTrack.IsPU", "EFlowPhoton.IsPU", "EFlowNeutralHadron.IsPU"] \
        if inputs == "eflow" else ["Tower.IsPU"]
    names += [f"Particle.{m}" for m in (*GEN.values(), "IsPU", "D1", "D2")]
    names += [f"{b}.{m}" for b in JETS.values() for m in FOUR.values()]
    return names


def _first(values: ak.Array, default: float) -> np.ndarray:
    """The one value per event of a one-object collection (``Event``); ``default`` for an empty one."""
    return ak.to_numpy(ak.fill_none(ak.firsts(values), default))


class DelphesReader:
    """:class:`jetflow.core.sources.ChunkReader` of Delphes trees (module docstring), through uproot."""

    def entries(self, path: str, tree: str = TREE) -> int:
        f, t = _open_tree(path, tree)
        with f:
            return int(t.num_entries)

    identity = staticmethod(root_identity)

    def event_weights(self, path: str, tree: str = TREE, options: Any = None) -> np.ndarray:
        """``Event.Weight`` of every event (float64; 1 where the file has none): only that branch is read."""
        f, t = _open_tree(path, tree)
        with f:
            n = int(t.num_entries)
            if "Event.Weight" not in _branches(t):
                return np.ones(n)
            try:
                w = t.arrays(filter_name=["Event.Weight"])["Event.Weight"]
            except Exception as exc:
                raise InputError(f"file {path}, branch Event.Weight: cannot be read ({type(exc).__name__}: {exc})"
                                 ) from exc
            return _first(w, 1.0).astype(np.float64)

    def read(self, path: str, tree: str, start: int, stop: int, options: Any) -> ak.Array:
        """Events ``[start, stop)`` in the ``"particles"`` layout (module docstring)."""
        opts = options if options is not None else DelphesOptions()
        f, t = _open_tree(path, tree)
        with f:
            present = _branches(t)
            missing = [b for b in REQUIRED[opts.inputs] if b not in present]
            if missing:
                raise InputError(f"file {path}, tree {tree!r}: missing branch(es) {', '.join(missing)}, which "
                                 f"formats.delphes.inputs = {opts.inputs!r} needs (is it a Delphes file, and "
                                 "does its card write these branches?)")
            names = [n for n in _wanted(opts.inputs) if n in present]
            try:
                arrays = t.arrays(filter_name=names, entry_start=start, entry_stop=stop)
            except Exception as exc:
                raise InputError(f"file {path}, tree {tree!r}: entries [{start}, {stop}) cannot be read "
                                 f"({type(exc).__name__}: {exc})") from exc
        n = len(arrays)
        number = _first(arrays["Event.Number"], -1) if "Event.Number" in present else np.full(n, -1)
        entry = np.arange(start, start + n, dtype=np.int64)
        weight = _first(arrays["Event.Weight"], 1.0) if "Event.Weight" in present else np.ones(n)
        events = {
            "run": np.ones(n, np.uint32),
            "luminosityBlock": np.zeros(n, np.uint32),
            "event": np.where(np.asarray(number) >= 0, number, entry).astype(np.uint64),
            "genWeight": np.asarray(weight, np.float32),
            "Particle": _inputs(arrays, present, opts.inputs),
            **_gen_particles(arrays, present),
        }
        for name, branch in JETS.items():
            jets = _group(arrays, branch, FOUR, present)
            if jets is not None:
                events[name] = ak.zip({k: ak.values_astype(jets[k], np.float32) for k in FOUR})
        return ak.zip(events, depth_limit=1)


def recognise(view: FileView) -> bool:
    """A ROOT file with a tree ``Delphes`` that has an ``Event``, ``Tower`` or ``EFlowTrack`` branch
    (``Tower``, ``Tower/Tower.ET``, ``Tower.ET`` or ``Tower_size``: Delphes' layout or uproot's)."""
    branches = view.branches(TREE)
    if not branches:
        return False
    collections = {_short(b).split(".", 1)[0].removesuffix("_size") for b in branches}
    return bool(collections & {"Event", "Tower", "EFlowTrack"})


SOURCE = Source(
    name="delphes",
    description="Delphes fast-simulation ROOT output (tree Delphes): energy-flow objects or towers, "
                "generator particles, W and top truth, Delphes' jets",
    provides="particles",
    recognise=recognise,
    tree=TREE,
    reader=DelphesReader(),
    detector_level=True,
    section="delphes",
    fields={
        "Event.Number": "event (the entry number where absent)",
        "Event.Weight": "genWeight (1 where absent)",
        "EFlowTrack.PT/Eta/Phi/Mass/PID/Charge/IsPU": "Particle (inputs: eflow); mass 0 without Mass",
        "EFlowPhoton.ET/Eta/Phi": "Particle (inputs: eflow), pdgId 22",
        "EFlowNeutralHadron.ET/Eta/Phi": "Particle (inputs: eflow), pdgId 130",
        "Tower.ET/Eta/Phi/Eem/Ehad/IsPU": "Particle (inputs: towers), pdgId 22 if Eem >= Ehad else 130",
        "Particle.PT/Eta/Phi/Mass/PID/Charge/Status/IsPU": "GenParticle (Status 1, visible, not pile-up)",
        "Particle.D1/D2": "TruthW (W -> quarks), TruthTop (last top copy)",
        "Jet, GenJet, FatJet .PT/Eta/Phi/Mass": "DelphesJet, DelphesGenJet, DelphesFatJet",
    },
)
