"""The ``jetflow`` command line: a thin layer over the Python API.

The core's commands are ``run``, ``info``, ``report``, ``export-root``,
``plugins`` and ``workflow``; plugins add theirs through the ``jetflow_cli_commands`` hook
(the built-ins add ``generate``, ``train``, ``demo`` and ``reproduce``).
"""

from __future__ import annotations

import os
import sys

import click

from jetflow.version import __version__
from jetflow.core.config import EXECUTORS
from jetflow.core.errors import JetflowError, StoppedError
from jetflow.core.quiet import quiet_libraries


def fail(exc: Exception) -> None:
    """Print a one-line error (no traceback) and exit with status 2."""
    click.echo(f"jetflow: error: {exc}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jetflow")
def cli() -> None:
    """jetflow: deep learning on jets, as coffea processors with pluggy plugins.

    Set JETFLOW_TRACE=1 to trace every hook call, JETFLOW_VERBOSE=1 to see the libraries'
    own logging (TensorFlow's start-up messages, which jetflow otherwise keeps off the console).
    """


plugin_option = click.option(
    "--plugin", "plugins", multiple=True, metavar="MODULE|FILE.py", help="Extra plugin (repeatable)."
)
disable_option = click.option(
    "--disable", "disable", multiple=True, metavar="NAME", help="Disable a plugin by name (repeatable)."
)


@cli.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--executor", type=click.Choice(EXECUTORS), default=None,
              help="Overrides run.executor (default: iterative).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Worker processes (futures, dask LocalCluster).")
@click.option("--scheduler", default=None, metavar="ADDRESS", help="Connect to this dask scheduler instead of starting a LocalCluster.")
@click.option("--chunksize", type=click.IntRange(min=1), default=None, help="Events per chunk.")
@click.option("--maxchunks", type=click.IntRange(min=1), default=None, help="At most this many chunks per dataset.")
@click.option("--out", type=click.Path(dir_okay=False), required=True,
              help="Where to save the result (its folder must exist); load it with jetflow.load.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default on).")
@click.option("--skip-bad-files", is_flag=True, default=None,
              help="Record unreadable files and chunks with bad input, and go on without them.")
@click.option("--checkpoint", default=None, metavar="FOLDER|URL",
              help="Keep each finished chunk here (default: OUT.checkpoint; any fsspec URL every worker reaches); "
                   "the same command after a crash or a stop resumes from it. Removed once OUT is saved.")
@click.option("--no-checkpoint", is_flag=True, help="Keep no checkpoint: a stopped run starts again from the beginning.")
@click.option("--restart", is_flag=True, help="Discard an existing checkpoint instead of resuming from it.")
@plugin_option
@disable_option
def run(config, executor, workers, scheduler, chunksize, maxchunks, out, progress, skip_bad_files,
        checkpoint, no_checkpoint, restart, plugins, disable):
    """Run the processor over the datasets of CONFIG and save the result.

    Each finished chunk is kept in a checkpoint folder: after a crash, Ctrl-C or
    SIGTERM, the same command processes only the chunks that are missing.
    """
    from jetflow.running.checkpoint import ChunkCheckpoints, checkpoint_location
    from jetflow.running.run import run as run_processor

    if no_checkpoint and checkpoint:
        fail(click.UsageError("--checkpoint and --no-checkpoint exclude each other"))
    checkpoint = checkpoint_location(out, False if no_checkpoint else checkpoint)

    if scheduler and executor not in (None, "dask"):
        fail(click.UsageError("--scheduler needs --executor dask"))
    if scheduler and executor is None:
        executor = "dask"
    try:
        if restart and checkpoint:
            ChunkCheckpoints(checkpoint).remove()
        result = run_processor(
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
            checkpoint=checkpoint or False,  # None here: --no-checkpoint
        )
    except StoppedError as exc:
        click.echo(f"\njetflow: {exc}", err=True)  # on a line of its own, below the progress bar
        sys.exit(130)
    except JetflowError as exc:
        fail(exc)
    click.echo(result.summary())
    click.echo(f"\nsaved {out} ({result.meta['executor']}, {result.meta['wall_s']:.1f} s)")


@cli.command()
@click.argument("result", type=click.Path(dir_okay=False))
def info(result):
    """Summarise a saved RESULT: datasets, cut-flows, accumulators."""
    from jetflow.running.results import load

    try:
        res = load(result)
    except JetflowError as exc:
        fail(exc)
    click.echo(res.summary())
    click.echo(f"\nrun: {res.meta}")


@cli.command()
@click.argument("result", type=click.Path(dir_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for plots and tables.")
@click.option("--column", "columns", multiple=True, help="Only these distributions (repeatable; default all).")
def report(result, out, columns):
    """Plots and tables from a saved RESULT (report.md gathers them): cut-flows and every plugin's part."""
    from jetflow.frontends.report import CUTFLOW_TITLE, make_report
    from jetflow.running.results import load

    try:
        res = load(result)
        written, parts = make_report(res, out, list(columns) or None)
    except JetflowError as exc:
        fail(exc)
    for path in written:
        click.echo(f"wrote {path}")
    for part in parts:
        if part.title != CUTFLOW_TITLE:
            click.echo(f"\n## {part.title}\n\n{part.markdown}")


@cli.command("export-root")
@click.argument("result", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def export_root(result, out):
    """Write every histogram and cut-flow of a saved RESULT to the ROOT file OUT (for combine, pyhf).

    One directory per dataset; names and rules: docs/design.md, "Fit-ready ROOT files".
    """
    from jetflow.frontends.root_export import export_root as write_root
    from jetflow.running.results import load

    try:
        account = write_root(load(result), out)
    except JetflowError as exc:
        fail(exc)
    click.echo(account.summary())


@cli.command()
@click.argument("workflow", required=False)
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Output folder (default: the workflow's name, in the working directory).")
@click.option("--preset", default=None, help="A named set of parameters of the workflow (its 'presets').")
@click.option("--set", "settings", multiple=True, metavar="NAME=VALUE",
              help="Set a parameter (repeatable; VALUE is read as YAML: 4, 0.5, [a, b]).")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="A dask scheduler (tcp://host:8786): generation and the passes run on its workers.")
@click.option("--progress/--no-progress", default=True)
@click.option("--list", "list_", is_flag=True, help="List the packaged workflows and the kinds of step.")
@plugin_option
@disable_option
def workflow(workflow, out, preset, settings, workers, scheduler, progress, list_, plugins, disable):
    """Run a WORKFLOW: a YAML file of steps, or the name of a packaged one (see --list).

    Steps that an earlier run into the same folder finished are reused where the
    step allows it (generation reuses its files).
    """
    from jetflow.frontends.workflow import describe_workflows, parse_settings, run_workflow

    try:
        if list_ or workflow is None:
            click.echo(describe_workflows(plugins, disable))
            return
        record = run_workflow(workflow, out=out, preset=preset, params=parse_settings(settings),
                              workers=workers, progress=progress, plugins=plugins, disable=disable,
                              scheduler=scheduler)
    except JetflowError as exc:
        fail(exc)
    print_workflow(record)


def print_workflow(record: dict) -> None:
    """What the end of a workflow run prints: where its account is, and the last step's Markdown."""
    click.echo(f"\nwrote {record['markdown']} in {record['timings_s']['total']:.0f} s")
    last = record["steps"][-1] if record["steps"] else None
    if last and last.get("markdown"):
        click.echo("\n" + last["markdown"])


def _format_default(value) -> str:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return "{" + ", ".join(f"{k}: {_format_default(v)}" for k, v in value.model_dump().items()) + "}"
    return repr(value)


@cli.command()
@plugin_option
@disable_option
def plugins(plugins, disable):
    """List the plugins, their hooks, the input formats (run.schema) and model kinds (jetflow train --model) they
    provide, their options (the section named after each) and their columns."""
    from pydantic_core import PydanticUndefined

    from jetflow.core.calls import describe
    from jetflow.core.manager import get_plugin_manager

    try:
        pm = get_plugin_manager(plugins, disable)
        entries = describe(pm)
    except JetflowError as exc:
        fail(exc)
    for entry in entries:
        click.secho(f"{entry['name']}", bold=True, nl=False)
        click.echo(f"  ({entry['module']}; {entry['origin']})")
        if entry["doc"]:
            click.echo(f"  {entry['doc'][0]}")
        click.echo(f"  hooks: {', '.join(entry['hooks']) or '(none)'}")
        if entry["sources"]:
            click.echo("  input formats (run.schema):")
            for source in entry["sources"]:
                how = f"ROOT tree {source.tree!r}" if source.is_root else "chunked reader"
                click.echo(f"    {source.name}: {source.provides}; {how}  # {source.description}")
        if entry["model_kinds"]:
            click.echo("  model kinds (jetflow train --model):")
            for kind in entry["model_kinds"]:
                click.echo(f"    {kind.name}: {kind.summary()}  # {kind.description}")
        model = entry["options"]
        if model is not None:
            click.echo(f"  options (config section {entry['name']}:)")
            for name, field in model.model_fields.items():
                key = field.alias or name
                default = (
                    "(required)"
                    if field.default is PydanticUndefined and field.default_factory is None
                    else _format_default(field.default_factory() if field.default_factory else field.default)
                )
                desc = f"  # {field.description}" if field.description else ""
                click.echo(f"    {entry['name']}.{key} = {default}{desc}")
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
    from jetflow.core.calls import call_each
    from jetflow.core.manager import get_plugin_manager

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
    # TensorFlow's start-up logging off the console (jetflow.core.quiet); JETFLOW_VERBOSE=1 shows it
    quiet_libraries()
    _plugin_commands()
    cli.main(args=argv, prog_name="jetflow")


if __name__ == "__main__":  # pragma: no cover
    main()
