"""The particle-level files ``jetflow generate`` writes, and the NanoEvents schemas of them and of CMS (PF)NanoAOD
(the input formats themselves are sources: ``plugins/jetflow_formats``, docs/formats.md).

The jetflow particle-level format
---------------------------------
One ROOT file holds one TTree ``Events``, NanoAOD-style (so that coffea's
NanoAOD machinery and any NanoAOD tool reads it), one entry per event:

==============================  ============  ===========================================
branch                          type          meaning
==============================  ============  ===========================================
``run``                         uint32        1
``luminosityBlock``             uint32        generation job (chunk) index
``event``                       uint64        event number, unique within a sample
``genWeight``                   float32       Pythia's event weight (``info.weight()``)
``processId``                   int32         ``PROCESS_IDS``: 1 W'->WZ, 2 QCD dijets, 3 minimum bias,
                                              5 a user's LHE events showered (``jetflow generate --lhe``),
                                              6 hadronic top pairs (ttbar);
                                              ``GAN_PROCESS_ID`` 4: images of a generator (``jetflow_gan``)
``nParticle``                   int32         number of visible final-state particles
``Particle_pt``                 float32[n]    GeV
``Particle_eta``                float32[n]    pseudorapidity
``Particle_phi``                float32[n]    azimuth in (-pi, pi]
``Particle_mass``               float32[n]    GeV
``Particle_pdgId``              int32[n]      PDG code
``Particle_charge``             int32[n]      electric charge in units of e
``nTruthW``                     int32         1 for the signal, 0 for QCD
``TruthW_pt/eta/phi/mass``      float32[n]    the hadronically decaying W (signal only)
``nTruthTop``                   int32         hadronically decaying tops (2 for ttbar, else 0)
``TruthTop_pt/eta/phi/mass``    float32[n]    each as its last copy, the one that decays
``nTopQuark``                   int32         3 per TruthTop
``TopQuark_pt/eta/phi/mass``    float32[n]    its decay quarks: the b, the W's two quarks
``TopQuark_pdgId``              int32[n]      PDG code
``TopQuark_top``                int32[n]      which TruthTop of the event (0, 1, ...)
==============================  ============  ===========================================

The truth columns are defined in :mod:`jetflow_generation.processes` (files made before them lack them).

Samples with pile-up (``jetflow generate --pileup MU``) also have:

==========================  ============  ===========================================
``Particle_pileup``         int32[n]      0: the hard event; k: the k-th overlaid vertex
``Pileup_nPU``              int32         number of overlaid minimum-bias events
``PileupVertex_index``      int32[n]      which event of the pile-up library
``PileupVertex_dphi``       float32[n]    the angle it was turned by in phi
``PileupVertex_flip``       int8[n]       +1, or -1 when reflected in eta
==========================  ============  ===========================================

Visible means: final-state particles other than neutrinos (and other
invisible particles, by Pythia's ``isVisible``).

Coffea reads it with :class:`JetflowSchema`: ``events.Particle``, ``events.TruthW``,
``events.TruthTop`` and ``events.TopQuark`` are Lorentz-vector collections with ``pt, eta, phi, mass``
(and, for particles and top quarks, ``pdgId``; for particles ``charge``, for top quarks ``top``).
"""

from __future__ import annotations

from coffea.nanoevents import NanoAODSchema, PFNanoAODSchema

from jetflow.core.atomic import atomic_write

TREE_NAME = "Events"
PROCESS_IDS = {"wprime": 1, "qcd": 2, "minbias": 3, "lhe": 5, "ttbar": 6}
GAN_PROCESS_ID = 4
"""``processId`` of events whose particles are the pixels of a generated jet image (plugin ``gan``)."""
PARTICLE_FIELDS = ("pt", "eta", "phi", "mass", "pdgId", "charge")
TRUTH_FIELDS = ("pt", "eta", "phi", "mass")
EVENT_BRANCHES = ("run", "luminosityBlock", "event", "genWeight", "processId")
REQUIRED_BRANCHES = (
    *EVENT_BRANCHES,
    "nParticle",
    *(f"Particle_{f}" for f in PARTICLE_FIELDS),
)


class JetflowSchema(NanoAODSchema):
    """NanoEvents schema of jetflow's particle-level files (see module docstring)."""

    warn_missing_crossrefs = False
    mixins = {
        **NanoAODSchema.mixins,
        "Particle": "PtEtaPhiMLorentzVector",
        "TruthW": "PtEtaPhiMLorentzVector",
        "TruthTop": "PtEtaPhiMLorentzVector",
        "TopQuark": "PtEtaPhiMLorentzVector",
    }


class QuietPFNanoAODSchema(PFNanoAODSchema):
    """coffea's PFNanoAOD schema without a warning per absent NanoAOD collection
    (nor per Photon_mass/charge it replaces: those are NanoAOD conventions)."""

    warn_missing_crossrefs = False

    def __init__(self, base_form, version="latest"):
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Branch .* already exists", category=RuntimeWarning)
            super().__init__(base_form, version)


class QuietNanoAODSchema(NanoAODSchema):
    """coffea's NanoAOD schema without a warning per absent NanoAOD collection."""

    warn_missing_crossrefs = False


def write_events(path, branches: dict) -> None:
    """Write one file of the format: ``branches`` (event-level numpy arrays, jagged ``ak`` record
    arrays for collections) into the TTree ``Events`` of ``path``, through a temporary name in the
    same folder (a killed writer leaves no partial file)."""
    import awkward as ak
    import uproot

    with atomic_write(path, "events file") as tmp:
        with uproot.recreate(tmp) as f:
            # mktree names jagged record fields NanoAOD-style: nParticle, Particle_pt, ...
            tree = f.mktree(TREE_NAME, {k: (v.type if isinstance(v, ak.Array) else v.dtype) for k, v in branches.items()})
            tree.extend(branches)
