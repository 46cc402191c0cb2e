"""Training on a jetflow export: ``jetflow train --model NAME --data EXPORT --out MODEL.keras [--target COLUMN]``.

Without a target, a classifier of signal against background (labels, pT
weights balanced per class, binary cross-entropy).  With ``--target COLUMN``,
a regressor of that per-jet column (a linear output in its units; loss ``mse``
or [lbn]'s ``central`` ratio loss); jets whose target is not positive (no
generator-level match) are left out and counted.  Networks are Keras models
(:mod:`jetflow_inference.models`), the scikit-learn models on jet features
are saved as ONNX (:mod:`jetflow_inference.tabular`).

References in brackets: docs/references.md.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from jetflow.core.atomic import atomic_write, write_bytes

from jetflow_inference.records import classifier_figures, regressor_figures, write_record


def model_arrays(table: dict[str, np.ndarray], source, model_name: str, n_particles: int,
                 features: list[str]) -> list[np.ndarray]:
    """A model's input arrays from an export's columns (all of it, or one shard: ``source`` names it in errors):
    the image or the ``n_particles`` leading constituents unless the model reads the features alone, then the
    jet ``features`` as ``[n, k]`` float64; raises naming a missing column and how to export it."""
    from jetflow_inference.catalog import MODEL_INPUTS

    column = MODEL_INPUTS[model_name]
    inputs = []
    if column != "features":
        if column not in table:
            hint = (
                "set accumulators.export.constituents: N in the run that made it"
                if column == "constituents"
                else "export the image column (accumulators.export.images)"
            )
            raise ValueError(f"export {source} has no column {column!r} for model {model_name!r}: {hint}")
        x = table[column]
        if column == "constituents":
            if x.shape[1] < n_particles:
                raise ValueError(f"export {source} holds {x.shape[1]} constituents per jet, model {model_name!r} wants {n_particles}")
            x = x[:, :n_particles]
        inputs.append(x)
    missing = [f for f in features if f not in table or np.asarray(table[f]).ndim != 1]
    if missing:
        raise ValueError(f"export {source} has no per-jet feature column {missing} (columns: {', '.join(sorted(table))})")
    if features:
        inputs.append(np.stack([np.asarray(table[f], dtype=np.float64) for f in features], axis=1))
    return inputs


RELATIVE_RANGE = (0.1, 10.0)
"""The correction factors truth / reconstructed a relative regression learns from; jets outside are left out."""


def load_inputs(data, model_name: str, n_particles: int = 30, target: str | None = None,
                features: list[str] | None = None, relative_to: str | None = None):
    """Inputs, targets (labels, or the target column) and weights of an export for a model.

    Returns ``(inputs, y, w, spec)``: ``inputs`` lists the model's input arrays
    in its order (the image or the constituents unless the model reads the
    features alone, then the jet ``features``); raises naming a missing column.
    A regression keeps the jets with a finite, positive target
    (``spec["left_out"]`` counts the others) and weights of mean 1; with
    ``relative_to`` the target is truth / that column (jets where that factor
    is outside :data:`RELATIVE_RANGE` are left out too), and
    ``spec["reference"]`` holds the column's values.
    """
    from jetflow.formats.export import read

    from jetflow_inference.catalog import MODEL_INPUTS

    column = MODEL_INPUTS[model_name]
    features = list(features or [])
    if column == "features" and not features:
        raise ValueError(f"model {model_name!r} reads jet features: name them (--features pt,eta,...)")
    table = read(data)
    inputs = model_arrays(table, data, model_name, n_particles, features)
    spec = {"column": column, "shape": list(inputs[0].shape[1:]), "features": features}
    if target is None:
        from jetflow_inference.classes import class_balanced_weights, class_names

        spec["classes"] = class_names(table["label"], table["dataset"], data)
        return ([x.astype(np.float32) for x in inputs], table["label"].astype(np.float32),
                class_balanced_weights(table["weight"], table["label"]), spec)
    if target not in table:
        raise ValueError(f"export {data} has no target column {target!r} (columns: {', '.join(sorted(table))})")
    y = np.asarray(table[target], dtype=np.float64)
    keep = np.isfinite(y) & (y > 0)
    if relative_to is not None:
        if relative_to not in table:
            raise ValueError(f"export {data} has no column {relative_to!r} to regress relative to")
        reference = np.asarray(table[relative_to], dtype=np.float64)
        keep &= np.isfinite(reference) & (reference > 0)
        y = np.divide(y, reference, out=np.zeros_like(y), where=keep)
        # a jet measured an order of magnitude off (a soft-drop mass of one massless tower) has no correction
        # factor to learn: its ratio, up to 1e7, would dominate any squared error
        keep &= (y > RELATIVE_RANGE[0]) & (y < RELATIVE_RANGE[1])
        spec["reference"] = reference[keep]
    if keep.sum() < 20:
        raise ValueError(f"export {data}: only {int(keep.sum())} jets have a positive {target!r} to regress")
    w = np.asarray(table["weight"], dtype=np.float64)[keep]
    spec.update(target=target, left_out=int((~keep).sum()))
    return [x[keep].astype(np.float32) for x in inputs], y[keep].astype(np.float32), w / w.mean(), spec


def train(
    model_name: str,
    data,
    out: str | os.PathLike,
    *,
    epochs: int = 30,
    batch_size: int = 128,
    validation_split: float = 0.25,
    patience: int = 5,
    learning_rate: float = 1e-3,
    lr_patience: int = 0,
    members: int = 1,
    seed: int = 1,
    n_particles: int = 30,
    model_args: dict[str, Any] | None = None,
    target: str | None = None,
    loss: str = "mse",
    features: list[str] | None = None,
    relative_to: str | None = None,
    progress: bool = True,
    stream: bool = False,
    window: int = 16384,
) -> dict[str, Any]:
    """Train a model of :data:`jetflow_inference.catalog.MODEL_INPUTS` on an export.

    The jets are shuffled with ``seed``; the last ``validation_split`` of them
    validate (networks: early stopping on the validation loss, best weights
    restored; with ``lr_patience`` the learning rate drops when it stalls,
    :func:`fit_callbacks`).  ``members`` > 1: the network is trained that many
    times, from seeds ``seed``, ``seed + 1``, ..., and saved as one model
    averaging them (:func:`jetflow_inference.models.ensemble`).  ``target``:
    regress that column (``loss``: ``mse`` or ``central``) instead of
    classifying.  ``features``: jet columns the model
    reads beside its image or constituents (the scikit-learn models read them
    alone).  ``relative_to``: the model regresses the factor target / that
    column (a reconstructed quantity), and inference multiplies its output by
    the column (``inference.models.X.relative_to``); the central ratio loss is
    the same either way, as prediction / truth = factor / (truth / column).
    ``stream``: read the export in batches, shard by shard, shuffled across
    shards in windows of ``window`` jets, instead of loading it whole
    (:mod:`jetflow_inference.streaming`: memory stays flat as the export
    grows; networks classifying only; the validation jets are then drawn per
    shard).  Writes ``out`` (``.keras``, or ``.onnx`` for the scikit-learn
    models), ``<out>.json`` (the configuration, the history and the validation
    figures: AUC and rejection, or median and resolution of prediction / truth)
    and for networks ``<out>.history.png``.
    """
    from jetflow_inference.catalog import MODEL_INPUTS, REGRESSORS, SCIKIT_LEARN, model_suffix

    if model_name not in MODEL_INPUTS:
        raise ValueError(f"--model must be one of {', '.join(MODEL_INPUTS)}, got {model_name!r}")
    if target is not None and model_name not in REGRESSORS:
        raise ValueError(f"--model {model_name} cannot regress; regressors: {', '.join(REGRESSORS)}")
    if loss not in ("mse", "central"):
        raise ValueError(f"--loss must be mse or central, got {loss!r}")
    if relative_to is not None and target is None:
        raise ValueError("--relative-to needs a --target")
    if lr_patience and lr_patience >= patience:
        raise ValueError(f"--lr-patience {lr_patience} must be below --patience {patience}: early stopping would end "
                         "training before the learning rate drops")
    if features and model_name == "fisher":
        raise ValueError("the Fisher discriminant reads the image alone (no --features)")
    if members != 1 and (members < 1 or stream or model_name in (*SCIKIT_LEARN, "fisher")):
        raise ValueError(f"--members {members}: {model_name}{' streamed' if stream else ''} cannot be trained as an "
                         "ensemble (only networks fitted in memory by gradient descent can; --members is at least 1)")
    out = Path(out)
    if out.suffix != model_suffix(model_name):
        raise ValueError(f"the model file of {model_name} must end in {model_suffix(model_name)}, got {out}")
    if stream:
        if target is not None or model_name in (*SCIKIT_LEARN, "fisher"):
            raise ValueError(f"--stream trains networks classifying signal and background; {model_name}"
                             f"{' regressing ' + target if target else ''} is fitted in memory (leave out --stream)")
        out.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        from jetflow_inference.streaming import fit_streamed

        args, history, predictions, yv, wv, spec, jets = fit_streamed(
            model_name, data, out, validation_split=validation_split, seed=seed, n_particles=n_particles,
            model_args=model_args, features=list(features or []), epochs=epochs, batch_size=batch_size,
            patience=patience, lr_patience=lr_patience, learning_rate=learning_rate, progress=progress, window=window)
        seconds = time.time() - t0
        validation, title = classifier_figures(predictions, yv, wv, spec)
        return write_record(model_name, out, data, target, relative_to, loss, args, spec, jets, history, validation,
                             title, batch_size, learning_rate, validation_split, patience, seed, seconds,
                             streamed={"window": window}, lr_patience=lr_patience,
                             input_statistics=_streamed_statistics(data, model_name, n_particles, spec))
    inputs, y, w, spec = load_inputs(data, model_name, n_particles, target, features, relative_to)
    classes = spec.get("classes")
    if classes and model_name == "fisher":
        raise ValueError(f"export {data} holds {len(classes)} classes; Fisher's discriminant separates two")
    reference = spec.pop("reference", np.ones(len(y)))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    inputs, y, w, reference = [x[order] for x in inputs], y[order], w[order], reference[order]
    n_val = int(round(validation_split * len(y)))
    if n_val < 10 or len(y) - n_val < 10:
        raise ValueError(f"too few jets to train and validate: {len(y)} jets, validation_split {validation_split}")
    train_inputs, yt, wt = [x[:-n_val] for x in inputs], y[:-n_val], w[:-n_val]
    val_inputs, yv, wv = [x[-n_val:] for x in inputs], y[-n_val:], w[-n_val:]
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    if model_name in SCIKIT_LEARN:
        args, history, predictions = _fit_scikit_learn(model_name, out, train_inputs[0], yt, wt, val_inputs[0],
                                                       target is not None, seed, model_args, classes)
    else:
        args, histories, predictions = _fit_network(
            model_name, out, train_inputs, yt, wt, val_inputs, yv, wv, target=target, loss=loss,
            relative=relative_to is not None, n_particles=n_particles, classes=classes,
            model_args=model_args, epochs=epochs, batch_size=batch_size, patience=patience, lr_patience=lr_patience,
            learning_rate=learning_rate, seed=seed, progress=progress, members=members)
        history = histories[0]
    seconds = time.time() - t0
    # a relative regressor is judged on what inference writes: factor x the column, against the truth
    validation, title = (classifier_figures(predictions, yv, wv, spec) if target is None
                         else regressor_figures(predictions * reference[-n_val:], yv * reference[-n_val:], wv))
    jets = {"train": int(len(yt)), "validation": int(n_val)}
    if target is not None:
        jets["left_out"] = spec["left_out"]
    else:
        jets.update({name: int((y == c).sum()) for c, name in enumerate(classes or ["background", "signal"])})
    return write_record(model_name, out, data, target, relative_to, loss, args, spec, jets, history, validation,
                         title, batch_size, learning_rate, validation_split, patience, seed, seconds,
                         lr_patience=lr_patience, members=histories if members > 1 else None,
                         input_statistics=None if model_name in SCIKIT_LEARN else input_statistics(spec, train_inputs))


def input_statistics(spec: dict, inputs: list[np.ndarray]) -> dict:
    """The training record's statistics of a network's training ``inputs`` (in its order: ``spec["column"]``,
    then the ``features``), from which ``jetflow onnx`` draws its check inputs
    (:mod:`jetflow_inference.input_statistics`)."""
    import warnings

    from jetflow_inference.input_statistics import summarise

    try:  # the model is saved already: a failure here must not lose its record
        return summarise(dict(zip([spec["column"], *(["features"] if spec["features"] else [])], inputs)))
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"the training record keeps no input statistics ({type(exc).__name__}: {exc}): "
                      "check the model's ONNX export with jetflow onnx --data EXPORT", stacklevel=2)
        return None


def _streamed_statistics(data, model_name: str, n_particles: int, spec: dict) -> dict:
    """:func:`input_statistics` of a streamed training: on the jets of a few shards, evenly spread."""
    from jetflow.formats.export import shards

    from jetflow_inference.input_statistics import MAX_JETS, spread_shards
    from jetflow_inference.streaming import shard_reader

    read_inputs = shard_reader(model_name, n_particles, spec["features"])
    paths = spread_shards(shards(data))
    share = -(-MAX_JETS // len(paths))
    arrays = [[x[:share].copy() for x in read_inputs(path)] for path in paths]  # one shard in memory at a time
    return input_statistics(spec, [np.concatenate([a[k] for a in arrays]) for k in range(len(arrays[0]))])


def _fit_network(model_name, out, train_inputs, yt, wt, val_inputs, yv, wv, *, target, loss, relative,
                 n_particles, model_args, epochs, batch_size, patience, lr_patience, learning_rate, seed, progress,
                 members=1, classes=None):
    """Build, fit and save a Keras network (``members`` > 1: that many, averaged by one saved model); returns its
    arguments, each member's history and the validation predictions."""
    import keras

    from jetflow_inference.models import PT_SCALE, ensemble, fisher_weights

    args = network_args(model_name, model_args, train_inputs[0], n_particles)
    if len(train_inputs) > 1:
        args["feature_scaling"] = (np.mean(train_inputs[1], axis=0).tolist(), np.var(train_inputs[1], axis=0).tolist())
    if target is not None:
        if not relative:
            args["regression"] = (float(np.mean(yt)), float(np.std(yt)) or 1.0)
        else:  # the factor truth / reco: its median, and its spread without the tails of jets measured near 0
            args["regression"] = (float(np.median(yt)), float(np.std(np.clip(yt, *np.percentile(yt, [5, 95])))) or 1.0)
    x_train = train_inputs if len(train_inputs) > 1 else train_inputs[0]
    x_val = val_inputs if len(val_inputs) > 1 else val_inputs[0]
    fitted, histories = [], []
    for k in range(members):  # member k starts from seed + k; the jets and their split are the same
        keras.utils.set_random_seed(seed + k)
        model = compiled_network(model_name, args, target, loss, learning_rate, len(classes) if classes else None)
        if model_name == "fisher":
            direction, bias = fisher_weights(x_train / PT_SCALE, yt, wt)
            model.get_layer("score").set_weights([direction[:, None].astype(np.float32), np.array([bias], np.float32)])
            histories.append({"loss": []})
        else:
            fit = model.fit(
                x_train, yt, sample_weight=wt, validation_data=(x_val, yv, wv), epochs=epochs, batch_size=batch_size,
                shuffle=True, verbose=1 if progress else 0,
                callbacks=fit_callbacks(patience, lr_patience, learning_rate),
            )
            histories.append({key: [float(v) for v in vals] for key, vals in fit.history.items()})
        fitted.append(model)
    model = fitted[0] if members == 1 else ensemble(fitted, model_name)
    with atomic_write(out, "model") as tmp:
        model.save(tmp)
    predictions = model.predict(x_val, batch_size=1024, verbose=0)
    return args, histories, predictions if classes else predictions[:, 0]


LR_FACTOR = 0.3  # with lr_patience: the learning rate's factor each time the validation loss stalls,
LR_FLOOR = 0.01  # down to this fraction of its start


def fit_callbacks(patience: int, lr_patience: int, learning_rate: float) -> list:
    """Early stopping after ``patience`` epochs without a better validation loss (the best weights restored) and,
    with ``lr_patience`` > 0, the learning rate times :data:`LR_FACTOR` after that many such epochs."""
    import keras

    callbacks = [keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)]
    if lr_patience:
        callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=LR_FACTOR, patience=lr_patience,
                                                           min_lr=learning_rate * LR_FLOOR))
    return callbacks


def network_args(model_name: str, model_args: dict[str, Any] | None, first_input: np.ndarray,
                 n_particles: int) -> dict[str, Any]:
    """The builder's arguments: the user's, and the input size (``n_particles`` for a constituent network, the
    image's shape otherwise) unless they set it."""
    from jetflow_inference.catalog import MODEL_INPUTS

    args = dict(model_args or {})
    if MODEL_INPUTS[model_name] == "constituents":
        args.setdefault("n_particles", n_particles)
    else:
        args.setdefault("input_shape", tuple(first_input.shape[1:]))
    return args


def compiled_network(model_name: str, args: dict[str, Any], target: str | None, loss: str, learning_rate: float,
                     classes: int | None = None):
    """The network built with ``args`` and compiled: weighted cross-entropy (and AUC), over ``classes`` a softmax
    and its cross-entropy, or the regression loss."""
    import keras

    from jetflow_inference.classes import softmax_head
    from jetflow_inference.models import BUILDERS, CentralRatioMSE

    model = BUILDERS[model_name](**args)
    if classes:
        model = softmax_head(model, classes)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                      weighted_metrics=["accuracy"])
    elif target is None:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                      weighted_metrics=[keras.metrics.AUC(name="auc")])
    else:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=CentralRatioMSE() if loss == "central" else "mse")
    return model


def _fit_scikit_learn(model_name, out, x_train, yt, wt, x_val, regression, seed, model_args, classes=None):
    """Fit a scikit-learn model, save it as ONNX; the validation predictions come from ONNX Runtime (what a run sees)."""
    from jetflow_inference.runtimes import OnnxModel
    from jetflow_inference.tabular import DEFAULTS, estimator, fit, to_onnx

    model = fit(estimator(model_name, regression, seed, model_args), x_train, yt, wt)
    write_bytes(out, to_onnx(model, x_train.shape[1]), "model")
    predictions = OnnxModel(model_name, out, "cpu")(x_val, 4096, len(classes) if classes else None)
    return {**DEFAULTS[model_name], **(model_args or {})}, {"loss": []}, predictions
