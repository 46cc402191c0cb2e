"""Built-in plugin ``gan``: generated jets.  The location-aware GAN of [lagan] (images) and the point-cloud
GAN of [epic-gan] (constituents), both as sources of jets.

- :mod:`jetflow_gan.model`: the locally-connected layer, the LAGAN's generator and discriminator;
- :mod:`jetflow_gan.training`: the auxiliary-classifier training (``jetflow train-gan``);
- :mod:`jetflow_gan.cloud_model`, :mod:`jetflow_gan.cloud_training`: the EPiC layer, the point-cloud
  networks and their training (``jetflow train-gan --model epic``);
- :mod:`jetflow_gan.source`, :mod:`jetflow_gan.cloud_source`: a generator's images or clouds written as
  jetflow events (``jetflow generate-gan``; :mod:`jetflow_gan.events`), which any run reads like Pythia's;
- :mod:`jetflow_gan.evaluation`: the seed's physics figures of merit; :mod:`jetflow_gan.jetnet_step`:
  [jetnet]'s metrics as a workflow step.

It has no config section and writes no columns: its files are the input of a run.
References in brackets: docs/references.md.
"""

from __future__ import annotations

import sys

import click

from jetflow import hookimpl


GENERATORS = {"lagan": ("jetflow_gan.training:train_lagan", "image pT and mass"),
              "epic": ("jetflow_gan.cloud_training:train_epic", "jet mass and particle eta, phi, pT")}
"""The generative models ``jetflow train-gan --model NAME`` trains ([lagan]'s image GAN, [epic-gan]'s point clouds):
their training function, and what the held-out distances that choose the saved epoch are of."""


def trainer(kind: str):
    """The training function of a generative model named in :data:`GENERATORS`."""
    import importlib

    if kind not in GENERATORS:
        raise ValueError(f"unknown generative model {kind!r}; known: {', '.join(GENERATORS)}")
    module, name = GENERATORS[kind][0].split(":")
    return getattr(importlib.import_module(module), name)


@click.command("train-gan")
@click.option("--model", "kind", type=click.Choice(sorted(GENERATORS)), default="lagan", show_default=True,
              help="lagan: jet images ([lagan]); epic: particle clouds ([epic-gan]) of the exported constituents.")
@click.option("--data", required=True, type=click.Path(exists=True),
              help="Export folder (Pythia jets) with images (lagan) or constituents (epic).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="GENERATOR.keras to write.")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="[default: lagan 30, epic 100]")
@click.option("--batch-size", type=click.IntRange(min=2), default=None, help="[default: lagan 100, epic 128]")
@click.option("--learning-rate", type=float, default=None, help="[default: lagan 2e-4, epic 1e-4]")
@click.option("--validation-split", type=click.FloatRange(0.05, 0.5), default=0.25, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--size", "sizes", multiple=True, metavar="NAME=N",
              help="Network size (repeatable): lagan latent_size, generator_filters, generator_channels, "
                   "discriminator_filters (default the seed's 200, 64, 128, 32); epic n_particles, hidden, latent, "
                   "point_noise, generator_layers, discriminator_layers (default 30, 64, 10, 3, 3, 3).")
@click.option("--resume", is_flag=True, help="Carry on from the checkpoint beside --out (same images, seed and sizes).")
@click.option("--time-limit", type=float, default=None, metavar="SECONDS", help="Start no epoch after this.")
@click.option("--progress/--no-progress", default=True)
def train_gan_command(kind, data, out, epochs, batch_size, learning_rate, validation_split, seed, sizes, resume,
                      time_limit, progress):
    """Train a generator on a jetflow export (checkpoints every epoch): the location-aware GAN of [lagan] on its
    images (TensorFlow or JAX backend), or the point-cloud GAN of [epic-gan] on its constituents (TensorFlow);
    the generator feeds jetflow generate-gan."""
    train = trainer(kind)
    given = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate}
    try:
        args = {name: _number(name, value) for name, value in (s.split("=", 1) for s in sizes)}
        record = train(data, out, validation_split=validation_split, seed=seed, model_args=args, resume=resume,
                       time_limit=time_limit, progress=progress, **{k: v for k, v in given.items() if v is not None})
    except ValueError as exc:
        click.echo(f"jetflow: error: {exc}", err=True)
        sys.exit(2)
    t, v = record["training"], record["validation"]
    observables = GENERATORS[kind][1]
    click.echo(f"saved {out} (epoch {t['best_epoch']} of {t['epochs_run']}, {t['seconds']:.0f} s): sum over classes of "
               f"W1(generated, real) / spread of {observables} {v['distance_sum']:.3f}; history {out}.json, "
               f"{out}.history.png; checkpoint {out}.checkpoint")


def _number(name: str, value: str) -> int | float:
    """A ``--size NAME=VALUE`` value: an integer (sizes) or a float (``mass_weight``, ``average``)."""
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    raise ValueError(f"--size {name}={value}: the value must be a number")


@click.command("generate-gan")
@click.option("--model", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A generator (jetflow train-gan): a LAGAN's or a point-cloud GAN's.")
@click.option("--label", type=click.Choice(["signal", "background"]), required=True,
              help="The class to generate: signal (W) or background (QCD).")
@click.option("--events", type=click.IntRange(min=1), required=True, help="Number of jets (one per event).")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option("--seed", type=click.IntRange(min=0), default=1, show_default=True, help="Sample seed.")
@click.option("--events-per-file", type=click.IntRange(min=1), default=10000, show_default=True)
def generate_gan_command(model, label, events, out, seed, events_per_file):
    """Generate jets with a trained generator, one event each in jetflow's format (a LAGAN image: one massless
    particle per lit pixel; a cloud: its particles), so that `jetflow run` treats them like Pythia's."""
    from jetflow_gan.source import generate_gan

    try:
        records = generate_gan(model, 1 if label == "signal" else 0, events, out, seed, events_per_file)
    except ValueError as exc:
        click.echo(f"jetflow: error: {exc}", err=True)
        sys.exit(2)
    seconds = sum(r["generator_s"] for r in records)
    click.echo(f"wrote {events} {label} jets in {len(records)} file(s) to {out} "
               f"(generator {seconds:.1f} s with its start-up: {events / max(seconds, 1e-9):.0f} jets/s; "
               "benchmarks/bench_gan.py times it warm)")


@hookimpl
def jetflow_cli_commands():
    return [train_gan_command, generate_gan_command]


@hookimpl
def jetflow_workflow_steps():
    from jetflow_gan.steps import STEPS

    return STEPS
