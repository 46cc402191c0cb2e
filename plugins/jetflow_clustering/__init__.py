"""Built-in plugin ``clustering``: where jets come from.

Implements ``jetflow_build_jets``.  An input format whose entries are jets already (the public jet datasets)
gives its jets as they are, trimmed and soft-dropped as configured (:mod:`jetflow_clustering.jet_level`).
Particle-level events are clustered from one of three sources (``clustering.source``):

``towers``
    Visible particles summed into 0.1 x 0.1 calorimeter towers ([jet-images],
    eq. 2.1), clustered with anti-kt and trimmed.  Exact by default; with
    ``towers.detector`` set (``{}`` for the defaults) the towers are measured:
    ECAL / HCAL deposits by particle type, a non-compensating hadron response,
    the Delphes CMS resolutions and thresholds, seeded by run and event
    numbers (:mod:`jetflow_clustering.detector`).  ``pileup_mitigation``
    (SoftKiller) cleans the inputs before clustering.
``particles``
    The visible particles themselves, clustered with anti-kt and trimmed.
``pfnano``
    CMS PFNano FatJets with their (PUPPI-weighted) PF candidates.

Reads: ``events.Particle`` (and ``events.GenParticle`` where the format has it: generator-level jets
for the truth) of a particle-level format, or ``events.FatJet``, ``events.FatJetPFCands``,
``events.PFCands``, ``events.SubJet`` (PFNano), or the entries of a jet-level format.
Writes the jet table: ``pt, eta, phi, mass, event, constituents, subjets``
and source-specific extras (see :data:`COLUMNS`); with ``truth.enabled``, the
generator-level truth of every jet (:mod:`jetflow_clustering.truth`: gen_pt,
gen_mass, gen_mass_softdrop, response, ..., top_contained; on PFNano also ``jec``).  References in brackets:
docs/references.md.
"""

from __future__ import annotations

from jetflow import ColumnSpec, hookimpl

from jetflow_clustering.options import JetOptions

COLUMNS = {
    "pt_untrimmed": ColumnSpec(r"Untrimmed jet $p_T$", "GeV", 100, 0.0, 1000.0, description="anti-kt jet before trimming"),
    "eta_untrimmed": ColumnSpec(r"Untrimmed jet $\eta$", "", 50, -5.0, 5.0),
    "phi_untrimmed": ColumnSpec(r"Untrimmed jet $\phi$", "", 50, -3.1416, 3.1416),
    "mass_untrimmed": ColumnSpec("Untrimmed jet mass", "GeV", 100, 0.0, 250.0, description="anti-kt jet before trimming"),
    "pt_raw": ColumnSpec(r"Jet raw $p_T$", "GeV", 100, 0.0, 1000.0, description="PFNano: pT before CMS calibration"),
    "mass_softdrop": ColumnSpec(
        "Soft-drop mass", "GeV", 100, 0.0, 250.0,
        description="beta = 0, z_cut = 0.1 on the untrimmed jet (PFNano: CMS's stored msoftdrop)",
    ),
    "cms_tau1": ColumnSpec(r"$\tau_1$ (CMS)", "", 50, 0.0, 1.0, description="PFNano: stored tau1"),
    "cms_tau2": ColumnSpec(r"$\tau_2$ (CMS)", "", 50, 0.0, 1.0, description="PFNano: stored tau2"),
    "cms_tau3": ColumnSpec(r"$\tau_3$ (CMS)", "", 50, 0.0, 1.0, description="PFNano: stored tau3"),
}


@hookimpl
def jetflow_options():
    return JetOptions


@hookimpl
def jetflow_columns(options):
    columns = dict(COLUMNS)
    if options is not None and options.truth.enabled:
        from jetflow_clustering.truth import COLUMNS as TRUTH, PFNANO_COLUMNS

        columns.update(TRUTH)
        if options.source == "pfnano":
            columns.update(PFNANO_COLUMNS)
    return columns


@hookimpl
def jetflow_build_jets(events, ctx):
    opts = ctx.options()
    source = ctx.source
    if source is not None and source.provides == "jets":
        from jetflow_clustering.jet_level import jets_of_table

        return jets_of_table(events, opts, ctx.filename)
    if opts.source == "pfnano":
        from jetflow_clustering.pfnano import build_pfnano_jets

        return build_pfnano_jets(events, opts, ctx.filename)
    measured = opts.source == "towers" and opts.towers.detector is not None
    if measured and source is not None and source.detector_level:
        from jetflow import ConfigError

        raise ConfigError(f"clustering.towers.detector: the input format {source.name!r} holds reconstructed "
                          "objects already (towers, energy-flow objects); a detector model would measure them twice. "
                          "Set clustering.towers.detector to null")
    particles = _particles(events, ctx.filename)
    _check_particles(particles, ctx)
    event_ids = _event_ids(events, ctx.filename) if measured else None
    gen = events.GenParticle if "GenParticle" in events.fields else None
    tops = (events.TruthTop, events.TopQuark) if {"TruthTop", "TopQuark"} <= set(events.fields) else None
    return jets_of_particles(particles, opts, event_ids, gen, tops if opts.truth.enabled else None)


def jets_of_particles(particles, opts: JetOptions, event_ids=None, gen_particles=None, tops=None):
    """Jets of jagged particles: towers (exact or measured) or the particles themselves, pile-up
    mitigation if asked for, then anti-kt; with ``truth.enabled``, each matched to a generator-level
    jet of ``gen_particles`` (default: the hard event's particles, those not flagged as pile-up), and
    ``top_contained`` with the jet's top from ``tops``: the events' ``(TruthTop, TopQuark)`` collections
    (jetflow's files of ``generate --process ttbar``), or None (every jet 0)."""
    import awkward as ak

    from jetflow_clustering.towers import build_towers, particles_table

    if opts.source == "towers":
        t = opts.towers
        fields, counts, _ = build_towers(particles, t.size, t.max_abs_eta, t.detector, event_ids)
    else:
        fields, counts = particles_table(particles)
    if opts.pileup_mitigation.method == "softkiller":
        from jetflow_clustering.mitigation import softkiller

        m = opts.pileup_mitigation
        fields, counts, _ = softkiller(fields, counts, m.grid, m.max_abs_eta)
    jets = _cluster(fields, counts, opts, opts.min_pt, opts.max_jets)
    if not opts.truth.enabled:
        return jets
    from jetflow_clustering.truth import hard_particles, match, top_columns, truth_columns

    gen_fields, gen_counts = particles_table(hard_particles(particles) if gen_particles is None else gen_particles)
    gen = _cluster(gen_fields, gen_counts, opts, opts.truth.min_pt, None)
    max_dr = opts.truth.max_delta_r if opts.truth.max_delta_r is not None else opts.radius / 2
    index, delta_r = match(jets, gen, len(counts), max_dr)
    columns = truth_columns(jets, gen, index, delta_r)
    columns.update(top_columns(jets, *(tops if tops is not None else (None, None)), len(counts), opts.radius))
    for name, values in columns.items():
        jets = ak.with_field(jets, values, name)
    return jets


def _cluster(fields, counts, opts: JetOptions, min_pt: float, max_jets: int | None):
    from jetflow_clustering.clustering import cluster_jets

    return cluster_jets(
        fields, counts, radius=opts.radius, min_pt=min_pt, max_jets=max_jets,
        trimming=opts.trimming.enabled, r_sub=opts.trimming.r_sub, f_cut=opts.trimming.f_cut,
        softdrop=opts.softdrop.enabled, sd_beta=opts.softdrop.beta, sd_zcut=opts.softdrop.z_cut,
    )


def _event_ids(events, filename):
    """(run, luminosityBlock, event) of every event: what seeds the detector's randomness."""
    import awkward as ak
    import numpy as np

    from jetflow import InputError

    missing = [b for b in ("run", "luminosityBlock", "event") if b not in events.fields]
    if missing:
        raise InputError(f"file {filename}: missing branch(es) {', '.join(missing)}, which seed the detector model's "
                         "random numbers (clustering.towers.detector)")
    return tuple(ak.to_numpy(events[b]).astype(np.uint64) for b in ("run", "luminosityBlock", "event"))


def _check_particles(particles, ctx) -> None:
    """Refuse non-finite momenta and phi outside (-pi, pi], naming the file, branch, entry and value."""
    import awkward as ak
    import numpy as np

    from jetflow import InputError

    counts = ak.to_numpy(ak.num(particles, axis=1))
    for field in ("pt", "eta", "phi", "mass"):
        values = ak.to_numpy(ak.flatten(particles[field])).astype(np.float64)
        bad = ~np.isfinite(values)
        what = "non-finite"
        if field == "phi" and not bad.any():
            bad = (values <= -np.pi - 1e-6) | (values > np.pi + 1e-6)
            what = "outside (-pi, pi]"
        if bad.any():
            first = int(np.argmax(bad))
            entry = ctx.entrystart + int(np.searchsorted(np.cumsum(counts), first, side="right"))
            raise InputError(
                f"file {ctx.filename}, branch Particle_{field}: {int(bad.sum())} value(s) {what} in entries "
                f"[{ctx.entrystart}, {ctx.entrystop}), first at entry {entry}: {values[first]!r}; "
                "fix the producer of this file (or run with --skip-bad-files to record and skip the chunk)"
            )


def _particles(events, filename):
    """``events.Particle``, or an error naming the file and the missing branches."""
    from jetflow import InputError
    from jetflow.formats.schema import PARTICLE_FIELDS

    if "Particle" not in events.fields:
        raise InputError(
            f"file {filename}: no Particle collection (branches nParticle, Particle_*); "
            "clustering.source = 'towers' or 'particles' needs particle-level events (jetflow's own files, "
            "HepMC3, Delphes: an input format that provides particles), or set clustering.source = 'pfnano' for CMS PFNano"
        )
    missing = [f for f in PARTICLE_FIELDS if f not in events.Particle.fields]
    if missing:
        raise InputError(f"file {filename}: missing branch(es) {', '.join('Particle_' + m for m in missing)}")
    return events.Particle


# ---------------------------------------------------------------------------
# plain functions for a user's own coffea processor
# ---------------------------------------------------------------------------


def pfnano_jets(events, *, min_pt: float = 0.0, max_jets: int | None = None, puppi: bool = True, collection: str = "FatJet"):
    """The jet table of (PF)NanoAOD events: FatJets with their (PUPPI-weighted) PF candidates.

    ``events`` are coffea NanoEvents (PFNanoAOD schema, eager or virtual).
    Returns the flat per-jet table the processor uses (``pt, eta, phi, mass,
    pt_raw, mass_softdrop, cms_tau1..3, event, constituents, subjets``).
    """
    from jetflow_clustering.pfnano import build_pfnano_jets

    opts = JetOptions(source="pfnano", min_pt=min_pt, max_jets=max_jets, pfnano={"puppi": puppi, "collection": collection})
    return build_pfnano_jets(events, opts, filename=str(getattr(events, "metadata", {}).get("filename", "?")))


def particle_jets(particles, *, source: str = "towers", event_ids=None, **options):
    """Anti-kt (+ trimming, soft drop) jets of jagged particles (``pt, eta, phi, mass, pdgId, charge``).

    ``options`` are those of the ``clustering`` config section (radius, min_pt,
    max_jets, trimming={...}, softdrop={...}, towers={...}).  With a detector
    (``towers={"detector": {...}}``), ``event_ids`` are the events'
    ``(run, luminosityBlock, event)`` arrays that seed its random numbers.
    """
    return jets_of_particles(particles, JetOptions(source=source, **options), event_ids)
