"""Options of the ``clustering:`` config section (called ``jets:`` before jetflow 0.2).

References in brackets: docs/references.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from jetflow import Options


class TrimmingOptions(Options):
    """Trimming (Krohn, Thaler, Wang, arXiv:0912.1342) as in [jet-images]."""

    enabled: bool = True
    r_sub: float = Field(0.3, gt=0, description="kt subjet radius")
    f_cut: float = Field(0.05, ge=0, lt=1, description="drop subjets with pT < f_cut * pT(jet)")


class SoftDropOptions(Options):
    """Soft drop of the untrimmed jet (arXiv:1402.2657): gives the column mass_softdrop."""

    enabled: bool = True
    beta: float = Field(0.0, ge=0, description="angular exponent")
    z_cut: float = Field(0.1, gt=0, lt=0.5, description="momentum-sharing cut")


class ResolutionRegion(Options):
    """sigma(E) = f(|eta|) * sqrt((constant E)^2 + stochastic^2 E + noise^2) (GeV) for |eta| up to ``max_abs_eta``,
    with the eta factor f = factor + slope * (|eta| - centre)^2."""

    max_abs_eta: float = Field(gt=0, description="upper edge of the region in |eta|")
    stochastic: float = Field(ge=0, description="a in GeV^1/2: the a^2 E term")
    noise: float = Field(0.0, ge=0, description="b in GeV")
    constant: float = Field(0.0, ge=0, description="c: the (c E)^2 term")
    factor: float = Field(1.0, gt=0, description="eta factor at the centre")
    slope: float = Field(0.0, description="eta factor's quadratic term")
    centre: float = Field(0.0, ge=0, description="|eta| at which the eta factor is 'factor'")


class CalorimeterOptions(Options):
    """One calorimeter (ECAL or HCAL): resolution by |eta| region and the thresholds a deposit must pass."""

    regions: list[ResolutionRegion] = Field(min_length=1, description="by increasing max_abs_eta")
    energy_min: float = Field(ge=0, description="GeV: a tower's deposit below this is lost")
    significance_min: float = Field(ge=0, description="a deposit below this many sigma(E) is lost")


def _ecal() -> CalorimeterOptions:
    # Delphes CMS card (delphes_card_CMS.tcl, module ECal): resolution formula and thresholds
    central = {"stochastic": 0.11, "noise": 0.40, "constant": 0.008}
    return CalorimeterOptions(
        regions=[
            ResolutionRegion(max_abs_eta=1.5, **central, factor=1.0, slope=0.64, centre=0.0),
            ResolutionRegion(max_abs_eta=2.5, **central, factor=2.16, slope=5.6, centre=2.0),
            ResolutionRegion(max_abs_eta=5.0, stochastic=2.08, constant=0.107),
        ],
        energy_min=0.5,
        significance_min=2.0,
    )


def _hcal() -> CalorimeterOptions:
    # Delphes CMS card (delphes_card_CMS.tcl, module HCal)
    return CalorimeterOptions(
        regions=[
            ResolutionRegion(max_abs_eta=3.0, stochastic=1.50, constant=0.050),
            ResolutionRegion(max_abs_eta=5.0, stochastic=2.70, constant=0.130),
        ],
        energy_min=1.0,
        significance_min=2.0,
    )


class HadronResponse(Options):
    """Non-compensation (PDG review "Calorimetry", Groom): a hadron of energy E is measured as
    E * pi/e with pi/e = 1 - (1 - h/e) (E / e0)^(m - 1), clipped to [0, 1]."""

    h_over_e: float = Field(0.7, gt=0, le=1, description="h/e of the hadron calorimeter (0.6-0.8 for sampling)")
    e0: float = Field(1.0, gt=0, description="GeV: the scale of the power law")
    m: float = Field(0.85, gt=0, le=1, description="the power law's exponent (0.83-0.87)")


class DetectorOptions(Options):
    """A calorimeter with a response ([jet-response]): the towers' energies measured, not exact.

    Electrons, photons and pi0 go to the ECAL; K0S and Lambda 30% to the ECAL and 70% to the
    HCAL; other hadrons to the HCAL; muons and neutrinos nowhere (the Delphes CMS card's
    energy fractions).  Each tower's ECAL and HCAL deposits are smeared (log-normal, mean the
    deposit, width its resolution) and kept above their thresholds.  The random numbers are a
    function of (seed, run, luminosity block, event, tower), so results do not depend on the
    chunking, the executor or the number of workers.
    """

    seed: int = Field(0, ge=0, description="the detector's seed: another seed, another realisation")
    ecal: CalorimeterOptions = Field(default_factory=_ecal, description="Delphes CMS ECAL")
    hcal: CalorimeterOptions = Field(default_factory=_hcal, description="Delphes CMS HCAL")
    hadron_response: HadronResponse = Field(default_factory=HadronResponse)


class TowerOptions(Options):
    """Calorimeter towers of [jet-images], eq. 2.1."""

    size: float = Field(0.1, gt=0, description="tower size in eta and phi")
    max_abs_eta: float = Field(5.0, gt=0, description="calorimeter acceptance")
    detector: DetectorOptions | None = Field(
        None, description="null: exact towers ([jet-images]); a mapping (e.g. {}): measured towers, DetectorOptions"
    )


class MitigationOptions(Options):
    """Pile-up mitigation of the clustering inputs (:mod:`jetflow_clustering.mitigation`)."""

    method: Literal["none", "softkiller"] = Field("none", description="softkiller: SoftKiller (arXiv:1407.0408)")
    grid: float = Field(0.4, gt=0, description="SoftKiller's patch size in eta and phi")
    max_abs_eta: float = Field(4.0, gt=0, description="the patches cover |eta| < this")


class TruthOptions(Options):
    """Generator-level truth of every jet (:mod:`jetflow_clustering.truth`): gen_pt, gen_mass, response, ..."""

    enabled: bool = Field(False, description="match every jet to a generator-level jet and write the truth columns")
    min_pt: float = Field(5.0, ge=0, description="GeV: generator-level jets considered for the match")
    max_delta_r: float | None = Field(None, gt=0, description="match radius (null: R / 2)")


class PFNanoOptions(Options):
    """CMS PFNano FatJets with their PF candidates."""

    collection: str = Field("FatJet", description="jet collection (FatJet)")
    puppi: bool = Field(True, description="weight the PF candidates' four-momenta by their PUPPI weight")


class JetOptions(Options):
    """Where jets come from and how they are built."""

    former_names = ("jets",)

    source: Literal["towers", "particles", "pfnano"] = Field(
        "towers",
        description="towers: cluster calorimeter towers of the visible particles ([jet-images]); "
        "particles: cluster the visible particles; pfnano: CMS FatJets with their PFCands",
    )
    radius: float = Field(1.0, gt=0, description="anti-kt radius R")
    min_pt: float = Field(100.0, ge=0, description="minimum (untrimmed) jet pT in GeV")
    max_jets: int | None = Field(2, ge=1, description="keep the N leading jets per event (None: all)")
    trimming: TrimmingOptions = Field(default_factory=TrimmingOptions)
    softdrop: SoftDropOptions = Field(default_factory=SoftDropOptions)
    towers: TowerOptions = Field(default_factory=TowerOptions)
    truth: TruthOptions = Field(default_factory=TruthOptions)
    pileup_mitigation: MitigationOptions = Field(default_factory=MitigationOptions)
    pfnano: PFNanoOptions = Field(default_factory=PFNanoOptions)
