"""The workflow steps ``train``, ``combine`` and ``calibrate``: models fitted on an export, ready for a run's
``inference`` section."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from jetflow import Options, StepContext, StepResult, WorkflowStep, hookimpl
from jetflow.core.atomic import write_text

from jetflow_inference.fitting import LR_FACTOR
from jetflow_inference.tabular import DEFAULTS as SCIKIT_LEARN_DEFAULTS


class TrainOptions(Options):
    """Options of the workflow step ``train`` (those of ``jetflow train``, for several models)."""

    models: list[str] = Field(min_length=1, description=(
        "the model kinds to train, in order (jetflow plugins lists them: the built-ins and the workflow's plugins')"))
    data: str = Field(description="the export folder (accumulators.export.dir of a run)")
    out: str = Field("models", description="folder of the model files <prefix><name>.keras (.onnx: scikit-learn)")
    prefix: str = Field("", description="before each model's name: its file and its inference name (pred_<prefix><name>)")
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(128, ge=1)
    validation_split: float = Field(0.25, ge=0.05, le=0.5)
    patience: int = Field(5, ge=1, description="early stopping patience (epochs)")
    learning_rate: float = Field(1e-3, gt=0)
    optimizer: Literal["adam", "nesterov"] = Field("adam", description="adam, or SGD with Nesterov momentum 0.9")
    lr_patience: int = Field(0, ge=0, description=(
        f"the learning rate x {LR_FACTOR} after this many epochs without a better validation loss (below patience); "
        "0: constant"))
    seed: int = 1
    repeats: int = Field(1, ge=1, description=(
        "train every model this many times, from seeds seed, seed + 1000, ...: repeat k (from 1) is its own model, "
        "<prefix><name>_<k> (the spread of a figure over trainings)"))
    max_jets: int | None = Field(None, ge=20, description="train and validate on this many jets of the export (a seeded subset)")
    members: dict[str, Annotated[int, Field(ge=1)]] = Field(default_factory=dict, description=(
        "per network: train that many from seeds seed, seed + 1, ... and save one model averaging them"))
    n_particles: int = Field(30, ge=2, description="networks on constituents: the leading N")
    model_args: dict[str, dict[str, Any]] = Field(default_factory=dict, description="per model: builder arguments")
    target: str | None = Field(None, description="regress this export column instead of classifying")
    loss: Literal["mse", "central"] = Field("mse", description="regression loss")
    features: list[str] = Field(default_factory=list, description="jet columns the models read (beside their input)")
    constituent_features: list[str] = Field(default_factory=list, description=(
        "per-particle features (export columns constituent_<name>) the constituent networks read beside the four-vectors"))
    relative_to: str | None = Field(None, description="regress the factor target / this column (inference multiplies back)")
    stream: bool = Field(False, description="read the export shard by shard (memory holds shuffle windows, not the export)")
    window: int = Field(16384, ge=1, description="stream: jets per shuffle window")

    @model_validator(mode="after")
    def _members_are_of_the_models(self):
        unknown = sorted(set(self.members) - set(self.models))
        if unknown:
            raise ValueError(f"members names {', '.join(unknown)}, which this step does not train "
                             f"(models: {', '.join(self.models)})")
        return self


def train_step(options: TrainOptions, ctx: StepContext) -> StepResult:
    """Train every model; the record's ``models`` is a ready ``inference.models`` mapping."""
    from jetflow_inference.kinds import model_kinds
    from jetflow_inference.training import train

    kinds = model_kinds(ctx.plugins, ctx.disable)
    unknown = [name for name in options.models if name not in kinds]
    if unknown:
        raise ValueError(f"train: models {', '.join(map(repr, unknown))} are no model kind of the plugins "
                         f"(model kinds: {', '.join(kinds)}); a plugin adds one with the hook jetflow_model_kinds")
    models: dict[str, dict[str, str]] = {}
    validation: dict[str, Any] = {}
    trainings: dict[str, list[str]] = {}
    train_jets: dict[str, int] = {}
    parameters: dict[str, int | None] = {}
    rows = []
    for name, k in ((name, k) for name in options.models for k in range(1, options.repeats + 1)):
        model_name = f"{options.prefix}{name}" + (f"_{k}" if options.repeats > 1 else "")
        ctx.say(f"training {model_name}")
        path = ctx.resolve(options.out) / f"{model_name}{kinds[name].suffix}"
        record = train(
            name, str(ctx.resolve(options.data)), path, epochs=options.epochs, batch_size=options.batch_size,
            validation_split=options.validation_split, patience=options.patience,
            learning_rate=options.learning_rate, optimizer=options.optimizer, lr_patience=options.lr_patience,
            seed=options.seed + 1000 * (k - 1), max_jets=options.max_jets, members=options.members.get(name, 1),
            n_particles=options.n_particles, model_args=options.model_args.get(name, {}), target=options.target,
            loss=options.loss, features=options.features, constituent_features=options.constituent_features,
            relative_to=options.relative_to, progress=ctx.progress,
            stream=options.stream, window=options.window, plugins=ctx.plugins, disable=ctx.disable,
        )
        model = models[model_name] = {"path": str(path), "input": kinds[name].reads}
        trainings.setdefault(name, []).append(model_name)
        train_jets[name] = record["jets"]["train"]
        parameters[name] = record["parameters"]
        if record["input"]["features"]:
            model["features"] = record["input"]["features"]
        if record["input"].get("constituent_features"):
            model["constituent_features"] = record["input"]["constituent_features"]
        if record["classes"]:
            model["classes"] = record["classes"]
        if options.target is not None:
            model["kind"] = "regressor"
        if options.relative_to is not None:
            model["relative_to"] = options.relative_to
        validation[model_name] = record["validation"]
        v, t = record["validation"], record["training"]
        figures = (f"{v['auc']:.3f} | {v['rej@0.5']:.1f}" if options.target is None and not record["classes"]
                   else f"{v['auc']:.3f} (one-vs-rest; one-vs-one {v['auc_ovo_mean']:.3f}) | -" if options.target is None
                   else f"{v['median']:.3f} | {v['resolution']:.3f} ± {v['resolution_err']:.3f} | {v['constant_resolution']:.3f}")
        rows.append(f"| {model_name} | {t['epochs_run'] or '-'} | {t['seconds']:.0f} | {figures} |")
    header = ("| model | epochs | seconds | validation AUC | 1/eps_B at eps_S = 0.5 |\n|---|---|---|---|---|"
              if options.target is None else
              f"| model | epochs | seconds | median {options.target} ratio | resolution | a constant's resolution |\n"
              "|---|---|---|---|---|---|")
    task = "" if options.target is None else f", regressing `{options.target}` ({options.loss} loss)"
    text = "\n".join([
        f"Trained on `{options.data}`{task} (validation: the last {options.validation_split:.0%} of the shuffled jets):",
        "", header, *rows,
    ])
    return StepResult({"models": models, "validation": validation, "trainings": trainings, "train_jets": train_jets,
                       "parameters": parameters}, text)


class CalibrateOptions(Options):
    """Options of the workflow step ``calibrate``: the classical baseline of a regression."""

    data: str = Field(description="the export folder")
    target: str = Field(description="the true quantity (export column)")
    reco: str = Field(description="the reconstructed quantity it calibrates (export column)")
    versus: str = Field("pt", description="the column whose bins the correction depends on")
    bins: int = Field(10, ge=1, description="bins of equal training population")
    out: str = Field(description="the calibration file, name.json (relative to the workflow's folder)")


def calibrate_step(options: CalibrateOptions, ctx: StepContext) -> StepResult:
    """Per-bin median corrections of a reconstructed quantity; the record's ``models`` is ready for ``inference``."""
    import json

    from jetflow.formats.export import read

    from jetflow_inference.calibration import fit_calibration

    table = read(ctx.resolve(options.data), columns=list(dict.fromkeys([options.target, options.reco, options.versus, "weight"])))
    spec = fit_calibration(table[options.reco], table[options.target], table[options.versus], table["weight"],
                           options.bins, options.reco, options.versus)
    path = ctx.resolve(options.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, json.dumps(spec, indent=2), "calibration")
    name = path.stem
    factors = ", ".join(f"{f:.3f}" for f in spec["factors"])
    text = (f"Calibration `{options.out}`: `{options.reco}` times the median {options.target} / {options.reco} in "
            f"{len(spec['factors'])} bins of `{options.versus}` (factors {factors}).")
    return StepResult({"models": {name: {"path": str(path), "kind": "regressor"}}, "calibration": spec}, text)


class CombineOptions(Options):
    """Options of the workflow step ``combine``: learned, cross-fitted combinations of discriminants."""

    data: str = Field(description="an export of the sample the combinations will score (its discriminant columns)")
    combinations: list[list[str]] = Field(default_factory=list, description="2 or more columns per combination")
    score_combinations: list[str] = Field(
        default_factory=list, description="columns combined with every score column of the export: [column, score_X]")
    model: Literal[tuple(SCIKIT_LEARN_DEFAULTS)] = Field(  # type: ignore[valid-type]
        "boosting", description="the scikit-learn classifier")
    model_args: dict[str, Any] = Field(default_factory=dict, description="its arguments (beside the defaults)")
    folds: int = Field(2, ge=2, le=20, description="cross-fitting folds (entry % folds)")
    out: str = Field("combinations", description="folder of the models <name>_fold<f>.onnx")
    seed: int = 1


def combine_step(options: CombineOptions, ctx: StepContext) -> StepResult:
    """Fit every combination; the record's ``models`` is a ready ``inference.models`` mapping (cross-fitted)."""
    from jetflow.formats.export import read

    from jetflow_inference.combinations import fit_combination

    table = read(ctx.resolve(options.data))
    scores = sorted(c for c in table if c.startswith("score_"))
    wanted = [*options.combinations, *([c, s] for c in options.score_combinations for s in scores)]
    if not wanted:
        raise ValueError(f"combine: no combinations given, and no score columns in {options.data} to combine with "
                         f"{options.score_combinations}")
    models, figures, rows = {}, {}, []
    for columns in wanted:
        ctx.say(f"combining {' + '.join(columns)}")
        record = fit_combination(table, columns, ctx.resolve(options.out), model=options.model, folds=options.folds,
                                 seed=options.seed, model_args=options.model_args)
        models[record["name"]] = record["inference"]
        figures[record["name"]] = record
        f = record["out_of_fold"]
        rows.append(f"| {record['name']} | {' + '.join(columns)} | {f['auc']:.3f} | {f['area_0.2_0.8']:.2f} | "
                    f"{record['seconds']:.0f} |")
    text = "\n".join([
        f"{len(wanted)} combinations learned by {options.model} on `{options.data}` ({len(table['label'])} jets), "
        f"cross-fitted in {options.folds} folds; out-of-fold figures:", "",
        "| model | columns | AUC | area [0.2, 0.8] | seconds |", "|---|---|---|---|---|", *rows])
    return StepResult({"models": models, "combinations": figures}, text)


@hookimpl
def jetflow_workflow_steps():
    return {
        "train": WorkflowStep(TrainOptions, train_step, "train networks on a training export (jetflow train)"),
        "combine": WorkflowStep(CombineOptions, combine_step,
                                "learned likelihood-ratio combinations of discriminants, cross-fitted"),
        "calibrate": WorkflowStep(CalibrateOptions, calibrate_step,
                                  "per-bin median correction of a reconstructed quantity (a regression baseline)"),
    }
