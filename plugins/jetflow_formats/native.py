"""jetflow's own particle-level files and CMS (PF)NanoAOD, as sources (:mod:`jetflow.core.sources`).

All three are ROOT trees ``Events`` read through coffea's NanoEvents:

``jetflow``
    what ``jetflow generate`` writes (layout: :mod:`jetflow.formats.schema`); ``events.Particle`` is what
    the clustering plugin clusters (``provides = "particles"``).
``pfnano``
    CMS PFNanoAOD: FatJets with their PF candidates (``PFCands``, ``FatJetPFCands``); the clustering
    plugin's ``source: pfnano`` builds the jet table from them (``provides = "events"``).
``nanoaod``
    CMS NanoAOD without PF candidates: FatJets and Jets only (``provides = "events"``).
"""

from __future__ import annotations

from jetflow import Source
from jetflow.formats.schema import JetflowSchema, QuietNanoAODSchema, QuietPFNanoAODSchema


def _events_branches(view) -> frozenset[str]:
    """The branches of the tree ``Events``, or of the dataset's ``tree`` where it names one."""
    return view.branches("Events")


def is_jetflow(view) -> bool:
    """A tree ``Events`` (or the dataset's ``tree``) with jetflow's particles (``Particle_pt``)."""
    return "Particle_pt" in _events_branches(view)


def is_pfnano(view) -> bool:
    """A tree ``Events`` (or the dataset's ``tree``) with CMS PF candidates (``PFCands_pt`` or
    ``FatJetPFCands_pFCandsIdx``)."""
    branches = _events_branches(view)
    return "Particle_pt" not in branches and ("PFCands_pt" in branches or "FatJetPFCands_pFCandsIdx" in branches)


def is_nanoaod(view) -> bool:
    """A tree ``Events`` (or the dataset's ``tree``) with CMS jets (``FatJet_pt`` or ``Jet_pt``), no PF
    candidates."""
    branches = _events_branches(view)
    return (not is_jetflow(view) and not is_pfnano(view)) and ("FatJet_pt" in branches or "Jet_pt" in branches)


JETFLOW = Source(
    name="jetflow",
    description="jetflow's particle-level files (jetflow generate): visible final-state particles per event",
    provides="particles",
    recognise=is_jetflow,
    tree="Events",
    schema=JetflowSchema,
    fields={"Particle_pt/eta/phi/mass/pdgId/charge": "the particles jets are clustered from",
            "Particle_pileup": "pile-up flag (0: hard event)",
            "run, luminosityBlock, event": "event identity (seeds the detector model)",
            "genWeight": "event weight", "TruthW_*": "the hadronic W (signal)",
            "TruthTop_*, TopQuark_*": "the hadronic tops and their decay quarks (ttbar; clustering.truth: "
                                      "top_contained)"},
)

PFNANO = Source(
    name="pfnano",
    description="CMS PFNanoAOD: FatJets and their PUPPI-weighted PF candidates (clustering.source: pfnano)",
    provides="events",
    recognise=is_pfnano,
    tree="Events",
    schema=QuietPFNanoAODSchema,
    fields={"FatJet_*": "the jets (pt, eta, phi, mass, msoftdrop, tau1-3, rawFactor)",
            "FatJetPFCands_jetIdx/pFCandsIdx, PFCands_*": "their constituents",
            "SubJet_*": "soft-drop subjets", "GenJetAK8_*": "truth (clustering.truth)", "genWeight": "event weight"},
)

NANOAOD = Source(
    name="nanoaod",
    description="CMS NanoAOD without PF candidates: FatJets and Jets only",
    provides="events",
    recognise=is_nanoaod,
    tree="Events",
    schema=QuietNanoAODSchema,
    fields={"FatJet_*, Jet_*": "the jets", "genWeight": "event weight"},
)
