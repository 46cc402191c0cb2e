"""Built-in plugin ``clustering``: where jets come from.

Implements ``jetflow_build_jets`` for three sources (``jets.source``):

``towers``
    Visible particles summed into 0.1 x 0.1 calorimeter towers (seed 000,
    eq. 2.1), clustered with anti-kt and trimmed.
``particles``
    The visible particles themselves, clustered with anti-kt and trimmed.
``pfnano``
    CMS PFNano FatJets with their (PUPPI-weighted) PF candidates.

Reads: ``events.Particle`` (jetflow format) or ``events.FatJet``,
``events.FatJetPFCands``, ``events.PFCands``, ``events.SubJet`` (PFNano).
Writes the jet table: ``pt, eta, phi, mass, event, constituents, subjets``
and source-specific extras (see :data:`COLUMNS`).
"""

from __future__ import annotations

from jetflow import ColumnSpec, hookimpl

from jetflow_clustering.options import JetOptions

COLUMNS = {
    "pt_raw": ColumnSpec(r"Jet raw $p_T$", "GeV", 100, 0.0, 1000.0, description="PFNano: pT before CMS calibration"),
    "mass_softdrop": ColumnSpec("Soft-drop mass (CMS)", "GeV", 100, 0.0, 250.0, description="PFNano: stored msoftdrop"),
    "cms_tau1": ColumnSpec(r"$\tau_1$ (CMS)", "", 50, 0.0, 1.0, description="PFNano: stored tau1"),
    "cms_tau2": ColumnSpec(r"$\tau_2$ (CMS)", "", 50, 0.0, 1.0, description="PFNano: stored tau2"),
    "cms_tau3": ColumnSpec(r"$\tau_3$ (CMS)", "", 50, 0.0, 1.0, description="PFNano: stored tau3"),
}


@hookimpl
def jetflow_options():
    return {"jets": JetOptions}


@hookimpl
def jetflow_columns():
    return dict(COLUMNS)


@hookimpl
def jetflow_build_jets(events, ctx):
    opts = ctx.options("jets")
    if opts.source == "pfnano":
        from jetflow_clustering.pfnano import build_pfnano_jets

        return build_pfnano_jets(events, opts, ctx.filename)
    return None
