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

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


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


def fisher_weights(x: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float = 1e-3) -> tuple[np.ndarray, float]:
    """Fisher's discriminant direction (Sigma_S + Sigma_B + lambda I)^-1 (mu_S - mu_B), weighted.

    ``lambda`` is ``ridge`` times the mean variance (empty pixels make the
    covariance singular).  The direction is scaled so that the projection has
    unit standard deviation and zero mean, so the sigmoid output does not
    saturate.
    """
    x = x.reshape(len(x), -1).astype(np.float64)
    mus, covs = [], []
    for lab in (1, 0):
        sel = y == lab
        ws = w[sel] / w[sel].sum()
        mu = ws @ x[sel]
        d = x[sel] - mu
        covs.append((d * ws[:, None]).T @ d)
        mus.append(mu)
    cov = covs[0] + covs[1]
    cov += ridge * np.trace(cov) / len(cov) * np.eye(len(cov))
    direction = np.linalg.solve(cov, mus[0] - mus[1])
    proj = x @ direction
    scale = proj.std() or 1.0
    return direction / scale, float(-proj.mean() / scale)


def plot_history(history: dict[str, list[float]], path: Path, title: str, loss_label: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_auc = "auc" in history
    fig, axes = plt.subplots(1, 2 if with_auc else 1, figsize=(12 if with_auc else 6.5, 4.5), squeeze=False)
    axes = axes[0]
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes[0].plot(epochs, history["loss"], label="training")
    if "val_loss" in history:
        axes[0].plot(epochs, history["val_loss"], label="validation")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel(loss_label)
    axes[0].legend()
    if with_auc:
        for key, name in (("auc", "training"), ("val_auc", "validation")):
            if key in history:
                axes[1].plot(epochs, history[key], label=name)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("weighted AUC")
        axes[1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


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
    restored).  ``target``: regress that column (``loss``: ``mse`` or
    ``central``) instead of classifying.  ``features``: jet columns the model
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
    if features and model_name == "fisher":
        raise ValueError("the Fisher discriminant reads the image alone (no --features)")
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
            patience=patience, learning_rate=learning_rate, progress=progress, window=window)
        seconds = time.time() - t0
        validation, title = _classifier_figures(predictions, yv, wv, spec)
        return _write_record(model_name, out, data, target, relative_to, loss, args, spec, jets, history, validation,
                             title, batch_size, learning_rate, validation_split, patience, seed, seconds,
                             streamed={"window": window})
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
        args, history, predictions = _fit_network(
            model_name, out, train_inputs, yt, wt, val_inputs, yv, wv, target=target, loss=loss,
            relative=relative_to is not None, n_particles=n_particles, classes=classes,
            model_args=model_args, epochs=epochs, batch_size=batch_size, patience=patience,
            learning_rate=learning_rate, seed=seed, progress=progress)
    seconds = time.time() - t0
    # a relative regressor is judged on what inference writes: factor x the column, against the truth
    validation, title = (_classifier_figures(predictions, yv, wv, spec) if target is None
                         else _regressor_figures(predictions * reference[-n_val:], yv * reference[-n_val:], wv))
    jets = {"train": int(len(yt)), "validation": int(n_val)}
    if target is not None:
        jets["left_out"] = spec["left_out"]
    else:
        jets.update({name: int((y == c).sum()) for c, name in enumerate(classes or ["background", "signal"])})
    return _write_record(model_name, out, data, target, relative_to, loss, args, spec, jets, history, validation,
                         title, batch_size, learning_rate, validation_split, patience, seed, seconds)


def _write_record(model_name, out, data, target, relative_to, loss, args, spec, jets, history, validation, title,
                  batch_size, learning_rate, validation_split, patience, seed, seconds, streamed=None) -> dict[str, Any]:
    """Write ``<out>.json`` (and the history plot) of a trained model; returns the record."""
    from jetflow_inference.catalog import SCIKIT_LEARN

    record = {
        "model": model_name,
        "task": "classification" if target is None else "regression",
        "target": target,
        "relative_to": relative_to,
        "loss": (("sparse_categorical_crossentropy" if spec.get("classes") else "binary_crossentropy")
                 if target is None else loss) if model_name not in SCIKIT_LEARN else "scikit-learn",
        "classes": spec.get("classes"),
        "model_args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in args.items()},
        "input": spec,
        "data": str(data),
        "jets": jets,
        "training": {"epochs_run": len(history["loss"]), "batch_size": batch_size, "learning_rate": learning_rate,
                     "validation_split": validation_split, "patience": patience, "seed": seed, "seconds": seconds,
                     "streamed": streamed},
        "validation": validation,
        "history": history,
        "versions": _versions(model_name in SCIKIT_LEARN),
    }
    Path(str(out) + ".json").write_text(json.dumps(record, indent=2))
    if history["loss"]:
        plot_history(history, Path(str(out) + ".history.png"), f"{model_name}: {title}",
                     "weighted binary cross-entropy" if target is None else f"{record['loss']} loss")
    return record


def _fit_network(model_name, out, train_inputs, yt, wt, val_inputs, yv, wv, *, target, loss, relative,
                 n_particles, model_args, epochs, batch_size, patience, learning_rate, seed, progress, classes=None):
    """Build, fit and save a Keras network; returns its arguments, history and validation predictions."""
    import keras

    from jetflow_inference.models import PT_SCALE

    keras.utils.set_random_seed(seed)
    args = network_args(model_name, model_args, train_inputs[0], n_particles)
    if len(train_inputs) > 1:
        args["feature_scaling"] = (np.mean(train_inputs[1], axis=0).tolist(), np.var(train_inputs[1], axis=0).tolist())
    if target is not None:
        if not relative:
            args["regression"] = (float(np.mean(yt)), float(np.std(yt)) or 1.0)
        else:  # the factor truth / reco: its median, and its spread without the tails of jets measured near 0
            args["regression"] = (float(np.median(yt)), float(np.std(np.clip(yt, *np.percentile(yt, [5, 95])))) or 1.0)
    model = compiled_network(model_name, args, target, loss, learning_rate, len(classes) if classes else None)
    x_train = train_inputs if len(train_inputs) > 1 else train_inputs[0]
    x_val = val_inputs if len(val_inputs) > 1 else val_inputs[0]
    if model_name == "fisher":
        direction, bias = fisher_weights(x_train / PT_SCALE, yt, wt)
        model.get_layer("score").set_weights([direction[:, None].astype(np.float32), np.array([bias], np.float32)])
        history = {"loss": []}
    else:
        fit = model.fit(
            x_train, yt, sample_weight=wt, validation_data=(x_val, yv, wv), epochs=epochs, batch_size=batch_size,
            shuffle=True, verbose=1 if progress else 0,
            callbacks=[keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)],
        )
        history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    model.save(out)
    predictions = model.predict(x_val, batch_size=1024, verbose=0)
    return args, history, predictions if classes else predictions[:, 0]


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
    out.write_bytes(to_onnx(model, x_train.shape[1]))
    predictions = OnnxModel(model_name, out, "cpu")(x_val, 4096, len(classes) if classes else None)
    return {**DEFAULTS[model_name], **(model_args or {})}, {"loss": []}, predictions


def _versions(scikit_learn: bool) -> dict[str, str]:
    if scikit_learn:
        import onnxruntime
        import skl2onnx
        import sklearn

        return {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "onnxruntime": onnxruntime.__version__}
    import keras

    return {"keras": keras.__version__}


def _classifier_figures(predictions, labels, weights, spec) -> tuple[dict, str]:
    from jetflow_inference.classes import classifier_figures, multiclass_figures

    if spec.get("classes"):
        return multiclass_figures(predictions, labels, weights, spec["classes"])
    return classifier_figures(predictions, labels, weights)


def _regressor_figures(predictions, truth, weights) -> tuple[dict[str, float], str]:
    """Median and resolution of prediction / truth on the validation jets, and of a constant prediction."""
    from jetflow.stats.response import ResponseHistogram

    figures = {}
    for name, pred in (("", predictions), ("constant_", np.full(len(truth), np.average(truth, weights=weights)))):
        h = ResponseHistogram("all", [-np.inf, np.inf], ratio_max=max(3.0, float(np.percentile(pred / truth, 99.9)) * 1.1))
        h.fill(pred / truth, np.zeros(len(truth)), weights)
        s = h.summary(inclusive=True)
        figures.update({f"{name}median": float(s["median"][0]), f"{name}resolution": float(s["resolution"][0]),
                        f"{name}resolution_err": float(s["resolution_err"][0])})
    return figures, f"validation median {figures['median']:.3f}, resolution {figures['resolution']:.3f}"
