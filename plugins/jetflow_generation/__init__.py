"""Built-in plugin ``generation``: Pythia 8 samples in jetflow's particle-level format.

Adds the command ``jetflow generate`` and the workflow step ``generate``; the
generator itself is :mod:`jetflow_generation.pythia` (the settings of
[jet-images]: W' -> W Z with W -> q q', Z -> nu nu, and QCD dijets; hadronic top pairs with their parton-level truth
for top tagging, :mod:`jetflow_generation.processes`;
references in brackets: docs/references.md), with pile-up overlaid from a
minimum-bias library by :mod:`jetflow_generation.pileup`; ``--lhe FILE`` showers a
user's LHE events instead (:mod:`jetflow_generation.lhe`), and ``--hepmc`` also
writes every file's hard events as HepMC3 (:mod:`jetflow_generation.hepmc_out`).
It has no config section and writes no columns: its files are the input of a run.
"""

from __future__ import annotations

import os
import sys
from typing import Literal

import click
from pydantic import Field

from jetflow import Options, StepContext, StepResult, WorkflowStep, hookimpl
from jetflow.formats.schema import PROCESS_IDS

Process = Literal[tuple(PROCESS_IDS)]  # type: ignore[valid-type]


class GenerateOptions(Options):
    """Options of the workflow step ``generate`` (the flags of ``jetflow generate``)."""

    process: Process = Field(description="wprime: W' -> W(qq') Z(nunu); qcd: hard QCD dijets; ttbar: hadronic top "
                             "pairs; minbias: soft QCD; lhe: the events of the LHE file `lhe`")
    events: int = Field(ge=1, description="number of events")
    out: str = Field(description="output folder (relative to the workflow's folder)")
    seed: int = Field(1, ge=0, description="sample seed (file seeds derive from it)")
    events_per_file: int = Field(1000, ge=1, description="events per file (and per task)")
    ecm: float = Field(14000.0, gt=0, description="collision energy [GeV]")
    wprime_mass: float = Field(600.0, gt=0, description="W' mass [GeV]")
    pthat_min: float | None = Field(None, ge=0, description="pTHat minimum [GeV] of qcd and ttbar (null: qcd 200, "
                                    "ttbar 500)")
    pthat_max: float | None = Field(None, gt=0, description="pTHat maximum [GeV] of qcd and ttbar (null: qcd 400, "
                                    "ttbar 700)")
    extra: list[str] = Field(default_factory=list, description="further Pythia settings")
    pileup: float = Field(0.0, ge=0, description="mean number of minimum-bias events overlaid on every event")
    pileup_library: int = Field(1000, ge=1, description="minimum-bias events in the sample's pile-up library")
    reuse: bool = Field(True, description="keep the files an earlier run made with the same settings and seed")
    lhe: str | None = Field(None, description="process lhe: the LHE file to shower (relative to the workflow's folder)")
    hepmc: bool = Field(False, description="also write each file's hard events as HepMC3 (x.root -> x.hepmc3)")

    def settings(self, lhe: str = ""):
        """The physics settings; ``lhe``: the LHE file's path as resolved (process ``lhe``)."""
        from jetflow_generation.pythia import GenSettings

        if (self.process == "lhe") != bool(self.lhe):
            raise ValueError("generate: process lhe and an lhe file go together (process: lhe, lhe: FILE)")
        return GenSettings(self.process, self.ecm, self.wprime_mass, self.pthat_min, self.pthat_max, tuple(self.extra),
                           self.pileup, self.pileup_library, lhe)


def generate_step(options: GenerateOptions, ctx: StepContext) -> StepResult:
    """Generate (or reuse) a sample."""
    from jetflow_generation.pythia import generate

    out = ctx.resolve(options.out)
    ctx.say(f"generating {options.events} {options.process} events into {options.out} (seed {options.seed})")
    settings = options.settings(str(ctx.resolve(options.lhe)) if options.lhe else "")
    files = generate(settings, options.events, out, seed=options.seed, workers=ctx.workers,
                     events_per_file=options.events_per_file, progress=ctx.progress, reuse=options.reuse,
                     scheduler=ctx.scheduler, hepmc=options.hepmc)
    reused = sum(rec["events"] for rec in files if rec.get("reused"))
    made = [rec for rec in files if not rec.get("reused")]
    rate = sum(r["events"] for r in made) / max(sum(r["pythia_s"] for r in made), 1e-9) if made else None
    record = {"process": options.process, "events": options.events, "reused": reused, "files": len(files),
              "folder": str(out), "seed": options.seed, "pythia_events_per_s": rate}
    pu = f" with pile-up {options.pileup:g}" if options.pileup > 0 else ""
    text = f"{options.events} {options.process} events{pu} (seed {options.seed}) in {len(files)} file(s) in `{options.out}`"
    text += f"; {reused} of them reused from an earlier run." if reused else "."
    return StepResult(record, text)


@hookimpl
def jetflow_workflow_steps():
    return {"generate": WorkflowStep(GenerateOptions, generate_step, "Pythia 8 events (jetflow generate)")}


@click.command("generate")
@click.option("--process", type=click.Choice(list(PROCESS_IDS)), default=None,
              help="wprime: W' -> W(qq') Z(nunu); qcd: hard QCD dijets (high-pT QCD of top tagging: --pthat-min 500 "
                   "--pthat-max 700); ttbar: hadronic top pairs, with TruthTop and TopQuark; minbias: non-diffractive "
                   "soft QCD; lhe: the events of --lhe (implied by it).")
@click.option("--lhe", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="Shower the events of this LHE file with Pythia 8 (file k of the sample: its events "
                   "[k*N, (k+1)*N), N = --events-per-file).")
@click.option("--events", type=click.IntRange(min=1), default=None,
              help="Number of events (required, except with --lhe: all of the file's).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Sample seed (file seeds derive from it).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Parallel worker processes.")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Generate on the workers of this dask scheduler (tcp://host:8786) instead; files are written here.")
@click.option("--events-per-file", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--ecm", type=float, default=14000.0, show_default=True, help="Collision energy [GeV].")
@click.option("--wprime-mass", type=float, default=600.0, show_default=True, help="W' mass [GeV].")
@click.option("--pthat-min", type=click.FloatRange(min=0), default=None,
              help="pTHat minimum [GeV] of qcd and ttbar  [default: qcd 200, ttbar 500]")
@click.option("--pthat-max", type=click.FloatRange(min=0, min_open=True), default=None,
              help="pTHat maximum [GeV] of qcd and ttbar  [default: qcd 400, ttbar 700]")
@click.option("--set", "extra", multiple=True, metavar="'Key = value'", help="Extra Pythia setting (repeatable).")
@click.option("--pileup", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="MU",
              help="Overlay Poisson(MU) minimum-bias events on every event, flagged Particle_pileup.")
@click.option("--pileup-library", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Minimum-bias events in the sample's pile-up library (made once, reused).")
@click.option("--reuse/--no-reuse", default=True, show_default=True,
              help="Keep the files an earlier run into OUT made with the same settings, seed and file size.")
@click.option("--hepmc", is_flag=True, default=False,
              help="Also write each file's hard events (the full Pythia record; with --pileup, without the pile-up) "
                   "as HepMC3 beside it (x.root -> x.hepmc3), e.g. for Delphes.")
@click.option("--progress/--no-progress", default=True)
def generate_command(process, lhe, events, out, seed, workers, scheduler, events_per_file, ecm, wprime_mass, pthat_min,
                     pthat_max, extra, pileup, pileup_library, reuse, hepmc, progress):
    """Generate Pythia 8 events into jetflow's particle-level ROOT format."""
    from jetflow_generation.lhe import check_lhe
    from jetflow_generation.pythia import GenSettings, generate

    try:
        if lhe is not None and process not in (None, "lhe"):
            raise ValueError(f"--lhe showers an LHE file: it goes with --process lhe or none, not {process}")
        process = "lhe" if lhe is not None else process
        if process is None or (process == "lhe") != (lhe is not None):
            raise ValueError("give --process (wprime, qcd, ttbar, minbias), or --lhe FILE")
        if events is None and lhe is None:
            raise ValueError("give --events")
        if events is None:  # --lhe: all of the file's events
            events = check_lhe(lhe, None)
        settings = GenSettings(process, ecm, wprime_mass, pthat_min, pthat_max, tuple(extra),
                               pileup, pileup_library, os.path.abspath(lhe) if lhe is not None else "")
        records = generate(settings, events, out, seed=seed, workers=workers, events_per_file=events_per_file,
                           progress=progress, reuse=reuse, scheduler=scheduler, hepmc=hepmc)
    except (ValueError, RuntimeError) as exc:
        click.echo(f"jetflow: error: {exc}", err=True)
        sys.exit(2)
    made = [r for r in records if not r.get("reused")]
    total = sum(r["events"] for r in made)
    reused = len(records) - len(made)
    rate = f" (Pythia: {total / max(sum(r['pythia_s'] for r in made), 1e-9):.0f} events/s per worker)" if made else ""
    click.echo(f"wrote {total} {process} events in {len(made)} file(s) to {out}{rate}"
               + (f"; {reused} file(s) of an earlier run reused" if reused else ""))


@hookimpl
def jetflow_cli_commands():
    return [generate_command]
