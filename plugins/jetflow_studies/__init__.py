"""Built-in plugin ``studies``: the packaged studies, as workflow files, and ``jetflow demo`` / ``jetflow reproduce``.

A study is data: a workflow file in ``workflows/`` (its format:
docs/workflows.md).  This plugin offers them by name (hook
``jetflow_workflows``) and adds two commands that run one:

``jetflow demo``
    the jet-images study at its ``demo`` preset (about two minutes on 2 cores), scoring with the
    networks jetflow ships beside the one it trains;
``jetflow reproduce [--study NAME] --scale N``
    a study at full strength (default: jet-images).

A new study is a new workflow file here, and plugins for what it needs.
"""

from __future__ import annotations

from pathlib import Path

import click

from jetflow import hookimpl

WORKFLOWS = Path(__file__).resolve().parent / "workflows"
DEFAULT_STUDY = "jet-images"


@hookimpl
def jetflow_workflows():
    return {path.stem.replace("_", "-"): path for path in sorted(WORKFLOWS.glob("*.yaml"))}


def _run(study: str, out: str, preset: str | None, params: dict, workers: int, progress: bool,
         scheduler: str | None = None) -> None:
    from jetflow.core.errors import JetflowError
    from jetflow.frontends.cli import fail, print_workflow
    from jetflow.frontends.workflow import run_workflow

    try:
        record = run_workflow(study, out=out, preset=preset, params=params, workers=workers, progress=progress,
                              scheduler=scheduler)
    except JetflowError as exc:
        fail(exc)
    print_workflow(record)


@click.command("demo")
@click.option("--out", type=click.Path(file_okay=False), default="jetflow-demo", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--progress/--no-progress", default=True)
def demo_command(out, workers, progress):
    """The main job on small embedded defaults: Pythia W' and QCD -> jets, images, tau21 ->
    selection and reweighting -> a small ConvNet trained and applied, beside the ConvNet and LBN
    jetflow ships -> learned combinations -> the report (about four minutes).

    It is the jet-images workflow at its demo preset (jetflow workflow jet-images --preset demo).
    """
    _run(DEFAULT_STUDY, out, "demo", {}, workers, progress)


@click.command("reproduce")
@click.option("--study", default=DEFAULT_STUDY, show_default=True, help="A packaged study (jetflow workflow --list).")
@click.option("--scale", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              help="jet-images: 1 means 4,000 W' and 16,000 QCD events in each of the training and evaluation samples.")
@click.option("--out", type=click.Path(file_okay=False), default="jetflow-study", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True)
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="A dask scheduler (tcp://host:8786): generation and the passes run on its workers.")
@click.option("--progress/--no-progress", default=True)
def reproduce_command(study, scale, out, workers, scheduler, progress):
    """A study at full strength; jet-images: mass, tau21, Delta R, 2-D likelihoods, Fisher, MaxOut,
    ConvNet, LBN, mass + each network.

    jet-images takes about 4 minutes per unit of scale on 2 cores, three quarters of it event
    generation.  Event files already in OUT from an earlier run are kept (same settings, seeds and
    file size): run again with a larger --scale and only the new files are generated.
    """
    _run(study, out, None, {"scale": scale}, workers, progress, scheduler)


@hookimpl
def jetflow_cli_commands():
    return [demo_command, reproduce_command]


@hookimpl
def jetflow_workflow_steps():
    from jetflow import WorkflowStep

    from jetflow_studies.landscape import LandscapeOptions, landscape_step
    from jetflow_studies.pretrained import PretrainedOptions, pretrained_step

    return {"pretrained": WorkflowStep(PretrainedOptions, pretrained_step,
                                       "the networks shipped with jetflow (trained by jetflow reproduce)"),
            "landscape": WorkflowStep(LandscapeOptions, landscape_step,
                                      "taggers trained several times, judged on a scored test export beside published values")}
