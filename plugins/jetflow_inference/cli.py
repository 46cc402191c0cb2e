"""``jetflow train``, contributed to the command line through ``jetflow_cli_commands``."""

from __future__ import annotations

import sys

import click

from jetflow import JetflowError

from jetflow_inference.fitting import LR_FACTOR, LR_FLOOR
from jetflow_inference.kinds import BUILTIN_KINDS

_PLUGIN = click.option("--plugin", "plugins", multiple=True, metavar="MODULE|FILE.py",
                       help="Extra plugin (repeatable): its model kinds and custom layers.")
_DISABLE = click.option("--disable", "disable", multiple=True, metavar="NAME", help="Disable a plugin by name.")


@click.command("train")
@click.option("--model", "model_name", required=True, metavar="NAME",
              help="A model kind (jetflow plugins lists them): " + ", ".join(k.name for k in BUILTIN_KINDS)
                   + ", or a plugin's.")
@click.option("--data", required=True, type=click.Path(exists=True), help="Export folder (accumulators.export.dir of a run).")
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="MODEL.keras to write (MODEL.onnx for forest, boosting and mlp).")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@click.option("--validation-split", type=click.FloatRange(0.05, 0.5), default=0.25, show_default=True)
@click.option("--patience", type=click.IntRange(min=1), default=5, show_default=True, help="Early stopping patience.")
@click.option("--learning-rate", type=float, default=1e-3, show_default=True)
@click.option("--optimizer", type=click.Choice(["adam", "nesterov"]), default="adam", show_default=True,
              help="Adam, or stochastic gradient descent with Nesterov momentum 0.9.")
@click.option("--lr-patience", type=click.IntRange(min=0), default=0, show_default=True,
              help=f"Multiply the learning rate by {LR_FACTOR} after this many epochs without a better validation loss "
                   f"(down to {LR_FLOOR:g} of it; below --patience); 0: constant.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--members", type=click.IntRange(min=1), default=1, show_default=True,
              help="Networks: train K from seeds SEED, SEED+1, ... and save one model averaging them.")
@click.option("--max-jets", type=click.IntRange(min=20), default=None,
              help="Train and validate on this many of the export's jets (a seeded random subset) [default: all].")
@click.option("--particles", "n_particles", type=click.IntRange(min=2), default=30, show_default=True, help="Networks on constituents: the leading N.")
@click.option("--target", default=None, metavar="COLUMN",
              help="Regress this export column (gen_pt, gen_mass_softdrop, ...) instead of classifying signal and background.")
@click.option("--loss", type=click.Choice(["mse", "central"]), default="mse", show_default=True,
              help="Regression loss: mse, or central (MSE of prediction/truth over each batch's central 74%).")
@click.option("--features", default="", metavar="COL,COL,...",
              help="Jet columns the model reads (forest, boosting and mlp read them alone; a network beside its input).")
@click.option("--constituent-features", default="", metavar="NAME,NAME,...",
              help="Networks on constituents: per-particle features beside the four-vectors (export columns "
                   "constituent_<name>: accumulators.export.constituent_features), e.g. charge,is_electron,d0.")
@click.option("--relative-to", default=None, metavar="COLUMN",
              help="Regress the factor target / COLUMN (a reconstructed quantity); inference multiplies it back "
                   "(inference.models.X.relative_to).")
@click.option("--stream", is_flag=True,
              help="Read the export in batches, shard by shard, shuffled across shards (memory holds shuffle "
                   "windows, not the export).")
@click.option("--window", type=click.IntRange(min=1), default=16384, show_default=True,
              help="--stream: jets per shuffle window.")
@click.option("--progress/--no-progress", default=True)
@_PLUGIN
@_DISABLE
def train_command(model_name, data, out, epochs, batch_size, validation_split, patience, learning_rate, optimizer, lr_patience, seed,
                  members, max_jets, n_particles, target, loss, features, constituent_features, relative_to, stream, window, progress, plugins, disable):
    """Train a model kind on a jetflow export: a classifier of the labels, or with --target a regressor of a column
    (pT weights).  Built in: a ConvNet, MaxOut, DCNN (or a Fisher discriminant) on images, an LBN, EFN, PFN,
    ParticleNet or Particle Transformer on constituents, a scikit-learn random forest, gradient boosting or MLP
    on jet features (saved as ONNX); a plugin adds others (hook jetflow_model_kinds, --plugin)."""
    from jetflow_inference.training import train

    try:
        record = train(
            model_name, data, out, epochs=epochs, batch_size=batch_size, validation_split=validation_split,
            patience=patience, learning_rate=learning_rate, optimizer=optimizer, lr_patience=lr_patience, seed=seed, members=members,
            max_jets=max_jets, n_particles=n_particles, target=target, loss=loss,
            features=[f for f in features.split(",") if f],
            constituent_features=[f for f in constituent_features.split(",") if f], relative_to=relative_to,
            progress=progress,
            stream=stream, window=window, plugins=plugins, disable=disable,
        )
    except (ValueError, OSError, JetflowError) as exc:  # OutputError and InputError are ValueErrors
        click.echo(f"jetflow: error: {exc}", err=True)
        sys.exit(2)
    v = record["validation"]
    figures = (f"validation AUC one-vs-rest {v['auc']:.3f} (" + ", ".join(f"{c} {a:.3f}" for c, a in v["auc_ovr"].items())
               + f"), one-vs-one {v['auc_ovo_mean']:.3f}" if record["classes"] else
               f"validation AUC {v['auc']:.3f}, 1/eps_B at eps_S=0.5: {v['rej@0.5']:.1f}" if target is None else
               f"validation prediction/truth: median {v['median']:.3f}, resolution {v['resolution']:.3f} "
               f"(a constant: {v['constant_resolution']:.3f})")
    epochs = f"{record['training']['epochs_run']} epochs, " if record["history"]["loss"] else ""
    click.echo(
        f"saved {out} ({epochs}{record['training']['seconds']:.0f} s); {figures}; "
        f"configuration {out}.json" + (f", history {out}.history.png" if record["history"]["loss"] else "")
    )


@click.command("onnx")
@click.argument("model", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="MODEL.onnx to write [default: beside MODEL].")
@click.option("--data", type=click.Path(exists=True), default=None,
              help="Export folder (accumulators.export.dir of a run): check on its jets [default: inputs drawn from "
                   "the statistics in MODEL.keras.json, its training record].")
@_PLUGIN
def onnx_command(model, out, data, plugins):
    """Export a trained network (MODEL.keras) to ONNX, checked against Keras on jets of an export (--data) or on
    inputs like its training data; refused if the model's outputs do not vary on them.  The inference plugin (or
    any ONNX Runtime) scores it with the same inputs."""
    from jetflow.core.manager import get_plugin_manager

    from jetflow_inference.onnx_export import export_onnx

    try:
        get_plugin_manager(plugins)  # imports them: a plugin's network may have layers of its own
        info = export_onnx(model, out, data=data)
    except (ValueError, OSError, JetflowError) as exc:  # jetflow's InputError (an export's folder or shard) is a ValueError
        click.echo(f"jetflow: error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"saved {info['path']} (inputs {', '.join(info['inputs'])}; checked on {info['jets']} "
               f"{info['checked_on']}: largest difference from Keras {info['max_abs_diff']:.2g}, outputs' standard "
               f"deviation {info['output_std']:.3g}, from {info['output_min']:.4g} to {info['output_max']:.4g})")
