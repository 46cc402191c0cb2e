"""The ``jetflow`` command line: a thin layer over the Python API.

Plugins add sub-commands through the ``jetflow_cli_commands`` hook.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from jetflow import __version__


def _fail(exc: Exception) -> None:
    click.echo(f"jetflow: error: {exc}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jetflow")
def cli() -> None:
    """jetflow: deep learning on jets, as coffea processors with pluggy plugins.

    Set JETFLOW_TRACE=1 to trace every hook call.
    """


_plugin_opt = click.option(
    "--plugin", "plugins", multiple=True, metavar="MODULE|FILE.py", help="Extra plugin (repeatable)."
)
_disable_opt = click.option(
    "--disable", "disable", multiple=True, metavar="NAME", help="Disable a plugin by name (repeatable)."
)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--executor", type=click.Choice(["iterative", "futures", "dask"]), default=None,
              help="Overrides run.executor (default: iterative).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (futures, dask LocalCluster).")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Connect to this dask scheduler instead of starting a LocalCluster.")
@click.option("--chunksize", type=click.IntRange(min=1), default=None, help="Events per chunk.")
@click.option("--maxchunks", type=click.IntRange(min=1), default=None, help="At most this many chunks per dataset.")
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="Where to save the result (load it with jetflow.load).")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default on).")
@click.option("--skip-bad-files", is_flag=True, default=None,
              help="Record unreadable files and chunks with bad input, and go on without them.")
@_plugin_opt
@_disable_opt
def run(config, executor, workers, scheduler, chunksize, maxchunks, out, progress, skip_bad_files, plugins, disable):
    """Run the processor over the datasets of CONFIG and save the result."""
    import jetflow

    if scheduler and executor not in (None, "dask"):
        _fail(click.UsageError("--scheduler needs --executor dask"))
    if scheduler and executor is None:
        executor = "dask"
    try:
        result = jetflow.run(
            config,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            chunksize=chunksize,
            maxchunks=maxchunks,
            progress=progress,
            skip_bad_files=skip_bad_files,
            out=out,
            plugins=plugins,
            disable=disable,
        )
    except jetflow.JetflowError as exc:
        _fail(exc)
    click.echo(result.summary())
    click.echo(f"\nsaved {out} ({result.meta['executor']}, {result.meta['wall_s']:.1f} s)")


@cli.command()
@click.argument("result", type=click.Path(dir_okay=False))
def info(result):
    """Summarise a saved RESULT: datasets, cut-flows, accumulators."""
    import jetflow

    try:
        res = jetflow.load(result)
    except jetflow.JetflowError as exc:
        _fail(exc)
    click.echo(res.summary())
    click.echo(f"\nrun: {res.meta}")


@cli.command()
@click.option("--process", type=click.Choice(["wprime", "qcd"]), required=True,
              help="wprime: W' -> W(qq') Z(nunu); qcd: hard QCD dijets.")
@click.option("--events", type=click.IntRange(min=1), required=True, help="Number of events.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Sample seed (file seeds derive from it).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Parallel worker processes.")
@click.option("--events-per-file", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--ecm", type=float, default=14000.0, show_default=True, help="Collision energy [GeV].")
@click.option("--wprime-mass", type=float, default=600.0, show_default=True, help="W' mass [GeV].")
@click.option("--pthat-min", type=float, default=200.0, show_default=True, help="QCD pTHat minimum [GeV].")
@click.option("--pthat-max", type=float, default=400.0, show_default=True, help="QCD pTHat maximum [GeV].")
@click.option("--set", "extra", multiple=True, metavar="'Key = value'", help="Extra Pythia setting (repeatable).")
@click.option("--progress/--no-progress", default=True)
def generate(process, events, out, seed, workers, events_per_file, ecm, wprime_mass, pthat_min, pthat_max, extra, progress):
    """Generate Pythia 8 events into jetflow's particle-level ROOT format."""
    from jetflow.generate import GenSettings
    from jetflow.generate import generate as run_generate

    settings = GenSettings(process, ecm, wprime_mass, pthat_min, pthat_max, tuple(extra))
    try:
        records = run_generate(
            settings, events, out, seed=seed, workers=workers, events_per_file=events_per_file, progress=progress
        )
    except (ValueError, RuntimeError) as exc:
        _fail(exc)
    pythia_s = sum(r["pythia_s"] for r in records)
    click.echo(
        f"wrote {sum(r['events'] for r in records)} {process} events in {len(records)} file(s) to {out} "
        f"(Pythia: {sum(r['events'] for r in records) / max(pythia_s, 1e-9):.0f} events/s per worker)"
    )


@cli.command()
@click.argument("result", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for plots and tables.")
@click.option("--column", "columns", multiple=True, help="Only these distributions (repeatable; default all).")
def report(result, out, columns):
    """Plots and tables from a saved RESULT: ROCs, rejection table, images, distributions."""
    import jetflow
    from jetflow.report import make_report

    try:
        res = jetflow.load(result)
    except jetflow.JetflowError as exc:
        _fail(exc)
    written = make_report(res, out, list(columns) or None)
    for path in written:
        click.echo(f"wrote {path}")
    summary = Path(out) / "summary.md"
    if summary.exists():
        click.echo("\n" + summary.read_text())


def _print_study(record) -> None:
    from pathlib import Path as _P

    click.echo(f"\nwrote {record['report']} in {record['timings_s']['total']:.0f} s "
               f"(evaluation jets: {record['evaluation_jets']})")
    summary = _P(record["report"]) / "summary.md"
    if summary.exists():
        click.echo("\n" + summary.read_text())


@cli.command()
@click.option("--out", type=click.Path(file_okay=False), default="jetflow-demo", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--progress/--no-progress", default=True)
def demo(out, workers, progress):
    """The main job on small embedded defaults: Pythia W' and QCD -> jets, images, tau21 ->
    selection and reweighting -> a small ConvNet trained and applied -> the report (a few minutes)."""
    from jetflow.study import DEMO, StudyPlan, run_study

    record = run_study(StudyPlan(out=out, workers=workers, progress=progress, **DEMO))
    _print_study(record)


@cli.command()
@click.option("--scale", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="1: 4,000 W' and 16,000 QCD events in each of the training and evaluation samples.")
@click.option("--out", type=click.Path(file_okay=False), default="jetflow-study", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--progress/--no-progress", default=True)
def reproduce(scale, out, workers, progress):
    """The full seed-000 study: mass, tau21, Delta R, 2-D likelihoods, Fisher, MaxOut, ConvNet, LBN, mass + DNN.

    About 4 minutes per unit of scale on 2 cores, three quarters of it event generation.
    Event files already in OUT from an earlier run are kept (same settings, seeds and
    file size): run again with a larger --scale and only the new files are generated.
    """
    from jetflow.study import reproduce_plan, run_study

    record = run_study(reproduce_plan(out, scale, workers, progress))
    _print_study(record)


def _format_default(value) -> str:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return "{" + ", ".join(f"{k}: {_format_default(v)}" for k, v in value.model_dump().items()) + "}"
    return repr(value)


@cli.command()
@_plugin_opt
@_disable_opt
def plugins(plugins, disable):
    """List the plugins, their hooks, their options with defaults and their columns."""
    from pydantic_core import PydanticUndefined

    import jetflow
    from jetflow.plugins import describe

    try:
        pm = jetflow.get_plugin_manager(plugins, disable)
        entries = describe(pm)
    except jetflow.JetflowError as exc:
        _fail(exc)
    for entry in entries:
        click.secho(f"{entry['name']}", bold=True, nl=False)
        click.echo(f"  ({entry['module']}; {entry['distribution']})")
        if entry["doc"]:
            click.echo(f"  {entry['doc'][0]}")
        click.echo(f"  hooks: {', '.join(entry['hooks']) or '(none)'}")
        for section, model in entry["options"].items():
            click.echo(f"  options [{section}]:")
            for name, field in model.model_fields.items():
                key = field.alias or name
                default = (
                    "(required)"
                    if field.default is PydanticUndefined and field.default_factory is None
                    else _format_default(field.default_factory() if field.default_factory else field.default)
                )
                desc = f"  # {field.description}" if field.description else ""
                click.echo(f"    {section}.{key} = {default}{desc}")
        if entry["columns"]:
            click.echo("  columns:")
            for col, spec in entry["columns"].items():
                binning = f"{spec.bins} bins [{spec.start}, {spec.stop}]" if spec.bins else "not histogrammed"
                desc = f"  # {spec.description}" if spec.description else ""
                click.echo(f"    {col}: {spec.axis_label}; {binning}{desc}")
        click.echo()


def _plugin_commands() -> None:
    """Attach the sub-commands that plugins contribute."""
    if os.environ.get("JETFLOW_NO_PLUGIN_COMMANDS"):
        return
    from jetflow.plugins import call_each, get_plugin_manager

    try:
        pm = get_plugin_manager()
    except Exception as exc:  # a broken plugin must not break `jetflow --help`
        click.echo(f"jetflow: warning: plugins not loaded: {exc}", err=True)
        return
    for plugin, commands in call_each(pm, "jetflow_cli_commands", {}):
        for command in commands or []:
            if command.name in cli.commands:
                click.echo(
                    f"jetflow: warning: plugin {plugin!r} adds command {command.name!r}, which exists; ignored",
                    err=True,
                )
                continue
            cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``jetflow`` script."""
    # TensorFlow's C++ start-up chatter (oneDNN notes, CUDA probing on machines without a
    # GPU) buries the CLI's own output; Python exceptions still surface.  Set
    # TF_CPP_MIN_LOG_LEVEL=0 to see all of it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _plugin_commands()
    cli.main(args=argv, prog_name="jetflow")


if __name__ == "__main__":  # pragma: no cover
    main()
