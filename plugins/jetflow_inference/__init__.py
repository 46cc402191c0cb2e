"""Built-in plugin ``inference``: Keras 3 and ONNX models scoring jets, the built-in model kinds
(:mod:`jetflow_inference.kinds`), ``jetflow train`` and the workflow steps ``train`` and ``calibrate``.

Config section ``inference`` (called ``models`` before jetflow 0.2)::

    inference:
      models:
        convnet:                       # writes the column score_convnet
          kind: classifier             # classifier, combination: score_<name>; regressor: pred_<name>
          path: convnet.keras          # .keras | .onnx | a calibration's .json; relative to the config
          input: image                 # image | constituents | features
          column: image                # the image column (input: image)
          features: []                 # jet columns fed as the model's last input
          relative_to: null            # a regressor of a factor: pred_<name> = output x this column
          batch_size: 1024
          device: auto                 # auto | cpu | gpu
          mixed_precision: false       # float16 compute on a GPU (Keras)
          folds: 1                     # > 1: cross-fitted, path holds {fold} (see below)
          classes: null                # a multi-class model: [qcd, w, z, top], its outputs by label
      threads: null                    # TensorFlow / ONNX Runtime threads; default: the worker's cores

A model reads its inputs in this order: the image (``input: image``) or the
``N`` leading constituents' four-vectors (``input: constituents``, ``N`` from
the model's input shape), then, when ``features`` are named, those jet columns
as one float32 ``[n, k]`` array (``input: features``: that array alone).  So a
model trained elsewhere (PyTorch, scikit-learn, weaver) and exported to ONNX
plugs in by declaring its inputs here; ``jetflow onnx`` exports a jetflow network
the other way (:mod:`jetflow_inference.onnx_export`).

Keras models load with ``safe_mode=True`` (no arbitrary code from a model
file) and run in a batch predictor compiled for the Keras backend
(``KERAS_BACKEND``: TensorFlow, JAX or PyTorch); ONNX models run in an ONNX
Runtime session (the CUDA provider when present); see
:mod:`jetflow_inference.runtimes`.  Each is loaded once per worker process:
the plugin's per-process cache (``ctx.cache``), keyed by the file's path and
the SHA-256 of its content (so a changed file is reloaded, an unchanged one
never).  Jets are scored in batches on a GPU when one is visible
(``device: auto``), else on the CPU, with the worker's threads only.

A cross-fitted model (``folds: K``, files ``path`` with ``{fold}`` = 0 .. K-1,
as the workflow step ``combine`` writes them) scores each jet with the model
of its fold, ``entry % K`` (:mod:`jetflow.stats.crossfit`): on the sample the
models were fitted on, no jet is scored by a model that saw it.

Each classifier writes ``score_<name>``, declared with kind ``"score"`` so
that the ROC accumulators pick it up; a multi-class classifier (``classes``: one name per output, in the
order of the labels 0, 1, 2, ...) writes ``score_<name>_<class>`` for each, the softmax probabilities,
declared with ``score_of = (name, label)`` so that the ROCs take each class against the rest and the
report pairs them one against one; a combination (a classifier of other
discriminants) the same with kind ``"combination"``, which the ROC reads but
does not pair again (``roc.score_combinations``); each regressor ``pred_<name>``.  A
model whose input shapes do not match, or a missing input column, gives an
error naming the model and the expected shape.  When models are configured, a
chunk asks for the dask resource ``GPU`` (hook ``jetflow_resources``): on a
cluster where some workers declare it, chunks go to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import awkward as ak
import numpy as np
from pydantic import Field, model_validator

from jetflow import ColumnSpec, ConfigError, Options, hookimpl
from jetflow.core.cache import plugin_cache

from jetflow_inference.runtimes import Runtime, file_digest, get_model

from jetflow_inference.kinds import jetflow_model_kinds  # noqa: F401  (the built-in model kinds)
from jetflow_inference.steps import jetflow_workflow_steps  # noqa: F401  (the workflow step train)


class ModelOptions(Options):
    kind: Literal["classifier", "combination", "regressor"] = Field(
        "classifier", description=("classifier: writes score_<name> in [0, 1]; combination: a classifier of other "
                                   "discriminants, the same; regressor: writes pred_<name>"))
    range: tuple[float, float] = Field((0.0, 3.0), description="regressor: histogram range of pred_<name>")
    path: str = Field(description="the .keras or .onnx file (or a calibration's .json), relative to the config")
    input: Literal["image", "constituents", "features"] = Field(
        "image", description="the model's first input (features: the jet features alone)")
    column: str = Field("image", description="image column (input: image)")
    features: list[str] = Field(default_factory=list, description="jet columns fed as the model's last input")
    constituent_features: list[str] = Field(default_factory=list, description=(
        "input constituents: per-particle features fed beside the four-vectors (as jetflow train "
        "--constituent-features; jetflow.physics.constituent_features)"))
    relative_to: str | None = Field(
        None, description="regressor: the model predicts a factor, pred_<name> = factor x this column")
    batch_size: int = Field(1024, gt=0, description="jets per inference batch")
    device: Literal["auto", "cpu", "gpu"] = Field("auto", description="auto: a GPU when one is visible")
    mixed_precision: bool = Field(False, description="float16 compute (for GPUs)")
    folds: int = Field(1, ge=1, description=(
        "cross-fitted: path holds {fold}; a jet whose entry % folds is f is scored by model f, fitted on the other folds"))
    classes: list[str] | None = Field(None, min_length=2, description=(
        "a multi-class classifier: its outputs' class names, in label order (0, 1, ...); writes score_<name>_<class>"))

    @model_validator(mode="after")
    def _classes_are_a_classifiers(self):
        if self.classes is not None:
            if self.kind != "classifier" or self.folds > 1:
                raise ValueError("classes: a multi-class model is one classifier file (kind classifier, folds 1), "
                                 f"not kind {self.kind} with folds {self.folds}")
            if len(set(self.classes)) != len(self.classes) or not all(c.isidentifier() for c in self.classes):
                raise ValueError(f"classes: {self.classes} must be distinct names of letters, digits and _")
        return self

    @model_validator(mode="after")
    def _constituent_features_of_constituents(self):
        if self.constituent_features and self.input != "constituents":
            raise ValueError(f"constituent_features: per-particle features go beside constituents; this model's "
                             f"input is {self.input}")
        return self

    @model_validator(mode="after")
    def _relative_needs_a_regressor(self):
        if self.relative_to is not None and self.kind != "regressor":
            raise ValueError(f"relative_to: {self.relative_to!r} scales a regressor's output; this model is a {self.kind}")
        return self

    @model_validator(mode="after")
    def _folds_name_their_files(self):
        if (self.folds > 1) != ("{fold}" in self.path):
            raise ValueError(f"path {self.path!r}: a cross-fitted model (folds > 1) names its files with {{fold}}, "
                             f"and only such a model does (folds: {self.folds})")
        if self.folds > 1 and self.path.endswith(".json"):
            raise ValueError(f"path {self.path!r}: a calibration is not cross-fitted (folds must be 1)")
        return self

    def fold_path(self, fold: int) -> str:
        """The file of fold ``fold``'s model (``path`` itself when the model is not cross-fitted)."""
        return self.path.replace("{fold}", str(fold))


class InferenceOptions(Options):
    former_names = ("models",)

    models: dict[str, ModelOptions] = Field(default_factory=dict, description="name -> model; writes score_<name>")
    threads: int | None = Field(None, ge=1, description="TensorFlow / ONNX Runtime threads (default: the worker's cores)")

    @model_validator(mode="after")
    def _orderable(self):
        self.evaluation_order()
        return self

    def evaluation_order(self) -> list[str]:
        """The models in the order they run: one that reads another's output (a combination of a network's
        score) after it, otherwise as configured; raises on a cycle."""
        made_by = {c: name for name, m in self.models.items() for c in output_columns(name, m)}
        needs = {name: {made_by[c] for c in (*m.features, m.relative_to) if c in made_by}
                 for name, m in self.models.items()}
        order: list[str] = []
        while len(order) < len(needs):
            ready = [n for n in needs if n not in order and needs[n] <= set(order)]
            if not ready:
                stuck = {n: sorted(needs[n] - set(order)) for n in needs if n not in order}
                raise ValueError(f"models read each other's outputs in a cycle: {stuck}")
            order.append(ready[0])
        return order


@hookimpl
def jetflow_options():
    return InferenceOptions


@hookimpl
def jetflow_columns(options):
    if options is None:
        return None
    specs = {}
    for name, m in options.models.items():
        if m.kind == "regressor":
            specs[f"pred_{name}"] = ColumnSpec(f"{name} prediction", "", 100, *m.range,
                                               description=f"regression output of {m.path}")
        elif m.classes:
            specs.update({column: ColumnSpec(f"{name} P({cls})", "", 100, 0.0, 1.0, kind="score", score_of=(name, label),
                                             description=f"probability of class {cls} (label {label}) from {m.path}")
                          for label, (cls, column) in enumerate(zip(m.classes, output_columns(name, m)))})
        else:
            specs[f"score_{name}"] = ColumnSpec(f"{name} score", "", 100, 0.0, 1.0,
                                                kind="score" if m.kind == "classifier" else "combination",
                                                description=f"output of {m.path}")
    return specs


def output_columns(name: str, model: ModelOptions) -> list[str]:
    """The columns a model writes: ``score_<name>`` (classifier), ``score_<name>_<class>`` for each class (multi-class
    classifier) or ``pred_<name>`` (regressor)."""
    if model.kind == "regressor":
        return [f"pred_{name}"]
    return [f"score_{name}_{cls}" for cls in model.classes] if model.classes else [f"score_{name}"]


@hookimpl
def jetflow_resources(options):
    return {"GPU": 1} if options is not None and options.models else None


@hookimpl
def jetflow_worker_files(options, config):
    """Every model file (each fold's of a cross-fitted model; a calibration's table): jetflow_infer opens them."""
    if options is None:
        return None
    paths = [(name, m.fold_path(fold)) for name, m in options.models.items() for fold in range(m.folds)]
    for name, path in paths:
        if not config.resolve(path).is_file():
            raise ConfigError(f"inference.models.{name}.path: {config.resolve(path)} does not exist")
    return [path for _, path in paths]


@hookimpl
def jetflow_cli_commands():
    from jetflow_inference.cli import onnx_command, train_command

    return [train_command, onnx_command]


def model_inputs(jets, name: str, opts: ModelOptions, loaded: Runtime) -> list[np.ndarray]:
    """The arrays a model reads, in its input order: the image or the constituents (and their per-particle
    features), then the jet features."""
    inputs = []
    if opts.input == "image":
        if opts.column not in jets.fields:
            raise ConfigError(
                f"model {name!r} reads the image column {opts.column!r}, which is not in the jet table "
                f"(enable a plugin that makes it, or set the model's column); it expects {('n',) + loaded.input_shapes[0]}"
            )
        inputs.append(ak.to_numpy(jets[opts.column]).astype(np.float32))
    elif opts.input == "constituents":
        from jetflow.physics import constituent_four_vectors

        shape = loaded.input_shapes[0]
        if len(shape) != 2 or shape[1] != 4 or shape[0] is None:
            raise ConfigError(
                f"model {name!r} has input shape {shape}, not (N, 4) four-vectors; is its input option right?"
            )
        inputs.append(constituent_four_vectors(jets.constituents, shape[0]))
        if opts.constituent_features:
            from jetflow.physics import constituent_features

            try:
                inputs.append(constituent_features(jets.constituents, shape[0], opts.constituent_features))
            except ValueError as exc:
                raise ConfigError(f"model {name!r}: {exc}") from None
    if opts.features:
        inputs.append(jet_features(jets, name, opts.features))
    return inputs


def jet_features(jets, name: str, features: list[str], dtype=np.float32) -> np.ndarray:
    """The named per-jet columns as ``[n_jets, len(features)]`` (float32: what models read)."""
    missing = [f for f in features if f not in jets.fields]
    if missing:
        raise ConfigError(
            f"model {name!r} reads the jet features {missing}, which are not in the jet table "
            f"(columns: {', '.join(sorted(f for f in jets.fields if f not in ('constituents', 'subjets')))})"
        )
    if not features:
        return np.zeros((len(jets), 0), dtype)
    return np.stack([ak.to_numpy(jets[f]).astype(dtype) for f in features], axis=1)


@hookimpl
def jetflow_infer(jets, ctx):
    opts = ctx.options()
    if not opts.models:
        return None
    out = {}
    for name in opts.evaluation_order():
        m = opts.models[name]
        for column in {*m.features, m.relative_to} & (set(out) - set(jets.fields)):
            jets = ak.with_field(jets, out[column], column)  # the output of a model before it, which it reads
        path = ctx.config.resolve(m.path)
        if path.suffix == ".json":  # a calibration: the baseline of a regression
            from jetflow_inference.calibration import Calibration

            calibration = ctx.cache.get(("calibration", str(path.resolve()), file_digest(path)),
                                        lambda: Calibration(name, path))
            out[output_columns(name, m)[0]] = calibration(jets)
            continue
        width = len(m.classes) if m.classes else None
        if m.folds > 1:
            values = _cross_fitted_scores(jets, ctx, name, m, opts.threads)
        else:
            loaded = get_model(ctx.cache, name, path, m.device, m.mixed_precision, opts.threads)
            x = model_inputs(jets, name, m, loaded)
            values = loaded(x, m.batch_size, width) if len(jets) else np.zeros((0, width) if width else 0)
        if m.relative_to is not None:
            values = values * jet_features(jets, name, [m.relative_to], np.float64)[:, 0]
        columns = output_columns(name, m)
        out.update(zip(columns, values.T) if width else [(columns[0], values)])
    return out


def _cross_fitted_scores(jets, ctx, name: str, m: ModelOptions, threads: int | None) -> np.ndarray:
    """Each jet scored by the model of its fold (:mod:`jetflow.stats.crossfit`), which was fitted without it."""
    from jetflow.stats.crossfit import cross_predict, fold_of

    models = [get_model(ctx.cache, f"{name} (fold {f})", ctx.config.resolve(m.fold_path(f)), m.device,
                        m.mixed_precision, threads) for f in range(m.folds)]
    if not len(jets):
        return np.zeros(0)
    x = model_inputs(jets, name, m, models[0])
    return cross_predict(lambda model, xs: model(xs, m.batch_size), models, x, fold_of(ctx.entries(jets), m.folds))


def score(model_path, inputs, *, batch_size: int = 1024, device: str = "auto") -> np.ndarray:
    """Scores (or predictions) of a saved ``.keras`` or ``.onnx`` model on ``inputs`` (an array: images,
    four-vectors or features; or a list of them for a model of several inputs), loaded once per process."""
    cache = plugin_cache(__name__)
    loaded = get_model(cache, Path(model_path).stem, Path(model_path), device, False)
    return loaded(inputs, batch_size)
