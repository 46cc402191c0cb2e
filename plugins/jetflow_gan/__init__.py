"""Built-in plugin ``gan``: the location-aware GAN of [lagan], and its images as a source of jets.

- :mod:`jetflow_gan.model`: the locally-connected layer, generator and discriminator;
- :mod:`jetflow_gan.training`: the auxiliary-classifier training (``jetflow train-gan``);
- :mod:`jetflow_gan.source`: a generator's images written as jetflow events
  (``jetflow generate-gan``), which any run reads like Pythia's;
- :mod:`jetflow_gan.evaluation`: the seed's physics figures of merit.

It has no config section and writes no columns: its files are the input of a run.
References in brackets: docs/references.md.
"""

from __future__ import annotations

import sys

import click

from jetflow import hookimpl


@click.command("train-gan")
@click.option("--data", required=True, type=click.Path(exists=True), help="Export folder with images (Pythia jets).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="GENERATOR.keras to write.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=2), default=100, show_default=True)
@click.option("--learning-rate", type=float, default=2e-4, show_default=True)
@click.option("--validation-split", type=click.FloatRange(0.05, 0.5), default=0.25, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--size", "sizes", multiple=True, metavar="NAME=N",
              help="Network size: latent_size, generator_filters, generator_channels, discriminator_filters "
                   "(repeatable; default the seed's 200, 64, 128, 32).")
@click.option("--resume", is_flag=True, help="Carry on from the checkpoint beside --out (same images, seed and sizes).")
@click.option("--time-limit", type=float, default=None, metavar="SECONDS", help="Start no epoch after this.")
@click.option("--progress/--no-progress", default=True)
def train_gan_command(data, out, epochs, batch_size, learning_rate, validation_split, seed, sizes, resume, time_limit,
                      progress):
    """Train the location-aware GAN of [lagan] on the images of a jetflow export (TensorFlow or JAX backend;
    checkpoints every epoch); the generator feeds jetflow generate-gan."""
    from jetflow_gan.training import train_lagan

    try:
        args = {name: int(value) for name, value in (s.split("=", 1) for s in sizes)}
        record = train_lagan(data, out, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
                             learning_rate=learning_rate, seed=seed, model_args=args, resume=resume,
                             time_limit=time_limit, progress=progress)
    except ValueError as exc:
        click.echo(f"jetflow: error: {exc}", err=True)
        sys.exit(2)
    t, v = record["training"], record["validation"]
    click.echo(f"saved {out} (epoch {t['best_epoch']} of {t['epochs_run']}, {t['seconds']:.0f} s): sum over classes of "
               f"W1(generated, real) / spread of image pT and mass {v['distance_sum']:.3f}; history {out}.json, "
               f"{out}.history.png; checkpoint {out}.checkpoint")


@click.command("generate-gan")
@click.option("--model", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A LAGAN generator (jetflow train-gan).")
@click.option("--label", type=click.Choice(["signal", "background"]), required=True,
              help="The class to generate: signal (W) or background (QCD).")
@click.option("--events", type=click.IntRange(min=1), required=True, help="Number of jets (one per event).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Sample seed.")
@click.option("--events-per-file", type=click.IntRange(min=1), default=10000, show_default=True)
def generate_gan_command(model, label, events, out, seed, events_per_file):
    """Generate jets with a trained LAGAN: each image is written as an event of massless pixel particles
    in jetflow's format, so that `jetflow run` treats them like Pythia's."""
    from jetflow_gan.source import generate_gan

    try:
        records = generate_gan(model, 1 if label == "signal" else 0, events, out, seed, events_per_file)
    except ValueError as exc:
        click.echo(f"jetflow: error: {exc}", err=True)
        sys.exit(2)
    seconds = sum(r["generator_s"] for r in records)
    click.echo(f"wrote {events} {label} jets in {len(records)} file(s) to {out} "
               f"(generator {seconds:.1f} s with its start-up: {events / max(seconds, 1e-9):.0f} images/s; "
               "benchmarks/bench_gan.py times it warm)")


@hookimpl
def jetflow_cli_commands():
    return [train_gan_command, generate_gan_command]


@hookimpl
def jetflow_workflow_steps():
    from jetflow_gan.steps import STEPS

    return STEPS
