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


class TowerOptions(Options):
    """Calorimeter towers of [jet-images], eq. 2.1."""

    size: float = Field(0.1, gt=0, description="tower size in eta and phi")
    max_abs_eta: float = Field(5.0, gt=0, description="calorimeter acceptance")


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
    pfnano: PFNanoOptions = Field(default_factory=PFNanoOptions)
