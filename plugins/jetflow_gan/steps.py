"""The workflow steps of the ``gan`` plugin: ``train_gan``, ``generate_gan``, ``lagan_evaluate`` and
``jetnet_metrics`` (:mod:`jetflow_gan.jetnet_step`)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from jetflow import Options, StepContext, StepResult, WorkflowStep
from jetflow_gan.jetnet_step import JetNetMetricsOptions, jetnet_metrics_step


class TrainOptions(Options):
    """Options of ``train_gan`` (those of ``jetflow train-gan``; epochs, batch size and learning rate default to the
    model's)."""

    model: str = Field("lagan", description=(
        "a generator of jetflow_gan.GENERATORS: lagan on images ([lagan]), epic on constituents ([epic-gan])"))
    data: str = Field(description="the training export (with images, or constituents)")
    out: str = Field(description="the generator file, name.keras")
    epochs: int | None = Field(None, ge=1)
    batch_size: int | None = Field(None, ge=2)
    learning_rate: float | None = Field(None, gt=0)
    validation_split: float = Field(0.25, ge=0.05, le=0.5)
    seed: int = 1
    model_args: dict[str, Any] = Field(default_factory=dict, description="generator / discriminator sizes")
    resume: bool = Field(True, description="carry on from (or reuse) the checkpoint beside out, when there is one")


def train_step(options: TrainOptions, ctx: StepContext) -> StepResult:
    from pathlib import Path

    from jetflow_gan import GENERATORS, trainer

    out = ctx.resolve(options.out)
    resume = options.resume and (Path(str(out) + ".checkpoint") / "state.json").is_file()
    given = {"epochs": options.epochs, "batch_size": options.batch_size, "learning_rate": options.learning_rate}
    record = trainer(options.model)(ctx.resolve(options.data), out, validation_split=options.validation_split,
                                    seed=options.seed, model_args=options.model_args, resume=resume,
                                    progress=ctx.progress, **{k: v for k, v in given.items() if v is not None})
    t, v = record["training"], record["validation"]
    text = (f"Generator `{options.model}` trained on `{options.data}` ({record['jets']['train']} jets, "
            f"{t['epochs_run']} epochs, {t['seconds']:.0f} s); saved `{options.out}` from epoch {t['best_epoch']} (sum "
            f"of W1 / spread of {GENERATORS[options.model][1]} per class on held-out jets: {v['distance_sum']:.2f}); "
            f"history "
            f"![history]({options.out}.history.png)")
    return StepResult({"generator": str(out), "training": t, "validation": v}, text)


class GenerateOptions(Options):
    """Options of ``generate_gan`` (those of ``jetflow generate-gan``)."""

    model: str = Field(description="the generator file")
    label: Literal["signal", "background"]
    events: int = Field(ge=1)
    out: str = Field(description="output folder")
    seed: int = 1
    events_per_file: int = Field(10000, ge=1)


def generate_step(options: GenerateOptions, ctx: StepContext) -> StepResult:
    from jetflow_gan.source import generate_gan

    records = generate_gan(ctx.resolve(options.model), 1 if options.label == "signal" else 0, options.events,
                           ctx.resolve(options.out), options.seed, options.events_per_file)
    seconds = sum(r["generator_s"] for r in records)
    text = (f"{options.events} generated {options.label} jets in `{options.out}` (generator {seconds:.1f} s with its "
            f"start-up)")
    return StepResult({"files": [r["path"] for r in records], "generator_s": seconds}, text)


class EvaluateOptions(Options):
    """Options of ``lagan_evaluate``: [lagan]'s judgement of a generator against Pythia."""

    generator: str = Field(description="the generator file")
    pythia_train: str = Field(description="export of the Pythia images the GAN learned from")
    pythia_reference: str = Field(description="export of independent Pythia images (the reference)")
    gan_export: str | None = Field(None, description="export of the GAN jets run through the chain (optional)")
    maxout_pythia: str | None = Field(None, description="a MaxOut trained on Pythia images (optional)")
    maxout_gan: str | None = Field(None, description="a MaxOut trained on GAN images (optional)")
    others: dict[str, str] = Field(default_factory=dict, description=(
        "other generators' jets run through the chain: name -> export (with images); judged beside the GAN's"))
    maxout_others: dict[str, str] = Field(default_factory=dict, description=(
        "MaxOuts trained on those jets: name -> model (with maxout_pythia and maxout_gan)"))
    out: str = Field("lagan", description="folder of the figures")
    gallery: int = Field(8, ge=1, le=20, description="Pythia images shown with their nearest GAN neighbour")
    seed: int = 1


def evaluate_step(options: EvaluateOptions, ctx: StepContext) -> StepResult:
    import keras

    from jetflow.formats.export import read

    from jetflow_gan import plots
    from jetflow_gan.evaluation import (CLASSES, confusion, distance_table, load_discriminator, nearest_neighbours,
                                        sample_observables)
    from jetflow_gan.sampling import sample
    from jetflow_gan.training import load_images

    out = ctx.resolve(options.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(options.seed)
    pythia_a = load_images(ctx.resolve(options.pythia_train))
    pythia_b = load_images(ctx.resolve(options.pythia_reference))
    gen = keras.saving.load_model(ctx.resolve(options.generator), safe_mode=True, compile=False)
    gan = (sample(gen, pythia_b[1], seed=options.seed + 7), pythia_b[1])
    samples = {"Pythia B (reference)": pythia_b, "Pythia A (training)": pythia_a, "GAN": gan}
    if options.gan_export:
        samples["GAN through the chain"] = load_images(ctx.resolve(options.gan_export))
    for name, folder in options.others.items():
        samples[name] = load_images(ctx.resolve(folder))
    obs = sample_observables(samples)
    table = distance_table(obs, "Pythia B (reference)", rng)
    plots.observable_distributions(obs, out / "observables.png")
    plots.average_images(pythia_b, gan, out / "average_images.png")

    disc = load_discriminator(ctx.resolve(options.generator))
    matrices = {}
    for name, (images, classes) in (("Pythia images", pythia_b), ("GAN images", gan),
                                    *((f"{k} images", samples[k]) for k in options.others)):
        aux = disc.predict(images, batch_size=1024, verbose=0)[1][:, 0]
        matrices[name] = confusion((aux > 0.5).astype(int), classes)
    plots.confusion_matrices(matrices, out / "confusion.png")

    record: dict[str, Any] = {"distances": table, "confusion": matrices}
    if options.maxout_pythia and options.maxout_gan:
        from jetflow.stats.accumulators import WeightedROC
        from jetflow_inference.runtimes import KerasModel

        reference = read(ctx.resolve(options.pythia_reference), columns=["image", "label", "weight"])
        images, labels, weights = reference["image"][..., :1], reference["label"].astype(int), reference["weight"]
        scores, aucs = {}, {}
        for name, path in (("trained on Pythia", options.maxout_pythia), ("trained on GAN", options.maxout_gan),
                           *((f"trained on {k}", v) for k, v in options.maxout_others.items())):
            scores[name] = KerasModel(name, ctx.resolve(path))(images, 1024)
            roc = WeightedROC(["score"], [(2000, 0.0, 1.0)], "higher")
            roc.fill([scores[name]], labels, weights, np.zeros(len(labels), dtype=int))
            aucs[name] = roc.summary()["auc"]
        plots.classifier_outputs(scores, labels, weights, aucs, out / "maxout.png")
        record["maxout_auc"] = aucs

    picks = rng.choice(len(pythia_b[0]), options.gallery, replace=False)
    neighbours = []
    for i in picks:
        pool = np.flatnonzero(gan[1] == pythia_b[1][i])
        neighbours.append(gan[0][pool[nearest_neighbours(pythia_b[0][i : i + 1], gan[0][pool])[0]]])
    plots.gallery(pythia_b[0][picks], np.stack(neighbours), out / "gallery.png")
    return StepResult(record, _markdown(options.out, table, matrices, record.get("maxout_auc"), CLASSES))


def _markdown(folder: str, table, matrices, aucs, classes) -> str:
    lines = ["Wasserstein-1 distance of each sample's image observables to the reference Pythia sample's (B), "
             "per class at equal sizes; the spread is B's standard deviation.", "",
             "| class | observable | jets | " + " | ".join(k for k in next(iter(table.values()))["image_pt"] if k != "spread")
             + " | spread |", "|---|---|---|" + "---|" * (len(next(iter(table.values()))["image_pt"]))]
    for cls, row in table.items():
        for key in ("image_pt", "image_mass", "image_tau21"):
            cells = [f"{v:.3g}" for k, v in row[key].items() if k != "spread"]
            lines.append(f"| {cls} | {key} | {row['jets']} | " + " | ".join(cells) + f" | {row[key]['spread']:.3g} |")
    lines += ["", "Auxiliary classifier (rows: true class W, QCD; P(says W)):", ""]
    for name, m in matrices.items():
        lines.append(f"- {name}: W -> W {m[0][0]:.1%}, QCD -> W {m[1][0]:.1%}")
    if aucs:
        lines += ["", "MaxOut AUC on held-out Pythia images: " + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items())]
    lines += ["", f"![observables]({folder}/observables.png)", f"![average images]({folder}/average_images.png)",
              f"![confusion]({folder}/confusion.png)", f"![gallery]({folder}/gallery.png)"]
    if aucs:
        lines.append(f"![maxout]({folder}/maxout.png)")
    return "\n".join(lines)


STEPS = {
    "train_gan": WorkflowStep(TrainOptions, train_step, "train a generator on a training export (jetflow train-gan)"),
    "generate_gan": WorkflowStep(GenerateOptions, generate_step, "jets from a generator (jetflow generate-gan)"),
    "lagan_evaluate": WorkflowStep(EvaluateOptions, evaluate_step, "judge a LAGAN against Pythia as [lagan] did"),
    "jetnet_metrics": WorkflowStep(JetNetMetricsOptions, jetnet_metrics_step,
                                   "generated jets against real with [jetnet]'s metrics, real against real beside"),
}
