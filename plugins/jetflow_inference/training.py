"""Training on a jetflow export: ``jetflow train --model convnet|maxout|lbn --data EXPORT --out MODEL.keras``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


def class_balanced_weights(weight: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The export's weights (with the pT reweighting) scaled so that each class sums to half the jets.

    Mean weight 1, signal and background of equal total weight: the loss then
    does not favour the larger class, and the pT weights keep their shape.
    """
    w = np.asarray(weight, dtype=np.float64).copy()
    n = len(w)
    for lab in (0, 1):
        sel = label == lab
        total = w[sel].sum()
        if total <= 0:
            raise ValueError(f"the export has no {'signal' if lab else 'background'} jets with positive weight")
        w[sel] *= (n / 2) / total
    return w


def load_inputs(data, model_name: str, n_particles: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """Inputs, labels and weights of an export for a model; raises naming the missing column."""
    from jetflow.formats.export import read

    from jetflow_inference.catalog import MODEL_INPUTS

    column = MODEL_INPUTS[model_name]
    table = read(data)
    if column not in table:
        hint = (
            "set accumulators.export.constituents: N in the run that made it"
            if column == "constituents"
            else "export the image column (accumulators.export.images)"
        )
        raise ValueError(f"export {data} has no column {column!r} for model {model_name!r}: {hint}")
    x = table[column]
    if column == "constituents":
        if x.shape[1] < n_particles:
            raise ValueError(f"export {data} holds {x.shape[1]} constituents per jet, the LBN wants {n_particles}")
        x = x[:, :n_particles]
    y = table["label"].astype(np.float32)
    w = class_balanced_weights(table["weight"], table["label"])
    return x.astype(np.float32), y, w, {"column": column, "shape": list(x.shape[1:])}


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


def plot_history(history: dict[str, list[float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes[0].plot(epochs, history["loss"], label="training")
    if "val_loss" in history:
        axes[0].plot(epochs, history["val_loss"], label="validation")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("weighted binary cross-entropy")
    axes[0].legend()
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
    progress: bool = True,
) -> dict[str, Any]:
    """Train a model of :data:`jetflow_inference.models.BUILDERS` on an export.

    The jets are shuffled with ``seed``; the last ``validation_split`` of them
    validate (early stopping on the validation loss, best weights restored).
    Writes ``out`` (the ``.keras`` model), ``<out>.history.png`` and
    ``<out>.json`` (the configuration, the history and the validation AUC).
    """
    import keras

    from jetflow.stats.accumulators import WeightedROC

    from jetflow_inference.models import BUILDERS

    if model_name not in BUILDERS:
        raise ValueError(f"--model must be one of {', '.join(BUILDERS)}, got {model_name!r}")
    out = Path(out)
    if out.suffix != ".keras":
        raise ValueError(f"the model file must end in .keras, got {out}")
    keras.utils.set_random_seed(seed)
    x, y, w, spec = load_inputs(data, model_name, n_particles)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(y))
    x, y, w = x[order], y[order], w[order]
    n_val = int(round(validation_split * len(y)))
    if n_val < 10 or len(y) - n_val < 10:
        raise ValueError(f"too few jets to train and validate: {len(y)} jets, validation_split {validation_split}")
    xt, yt, wt = x[:-n_val], y[:-n_val], w[:-n_val]
    xv, yv, wv = x[-n_val:], y[-n_val:], w[-n_val:]

    args = dict(model_args or {})
    if model_name == "lbn":
        args.setdefault("n_particles", n_particles)
    else:
        args.setdefault("input_shape", tuple(x.shape[1:]))
    model = BUILDERS[model_name](**args)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy",
        weighted_metrics=[keras.metrics.AUC(name="auc")],
    )
    t0 = time.time()
    if model_name == "fisher":
        from jetflow_inference.models import PT_SCALE

        direction, bias = fisher_weights(xt / PT_SCALE, yt, wt)
        dense = model.get_layer("score")
        dense.set_weights([direction[:, None].astype(np.float32), np.array([bias], np.float32)])
        fit = None
    else:
        fit = model.fit(
            xt,
            yt,
            sample_weight=wt,
            validation_data=(xv, yv, wv),
            epochs=epochs,
            batch_size=batch_size,
            shuffle=True,
            verbose=1 if progress else 0,
            callbacks=[keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)],
        )
    seconds = time.time() - t0
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    scores = model.predict(xv, batch_size=1024, verbose=0)[:, 0]
    roc = WeightedROC(["score"], [(2000, 0.0, 1.0)], "higher")
    roc.fill([scores], yv.astype(int), wv, np.zeros(len(yv), dtype=int))
    summary = roc.summary()
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()} if fit is not None else {"loss": []}
    record = {
        "model": model_name,
        "model_args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in args.items()},
        "input": spec,
        "data": str(data),
        "jets": {"train": int(len(yt)), "validation": int(n_val), "signal": int(y.sum()), "background": int(len(y) - y.sum())},
        "training": {"epochs_run": len(history["loss"]), "batch_size": batch_size, "learning_rate": learning_rate,
                     "validation_split": validation_split, "patience": patience, "seed": seed, "seconds": seconds},
        "validation": {"auc": summary["auc"], "area_0.2_0.8": summary["area_0.2_0.8"],
                       "rej@0.5": summary["rej@0.5"]},
        "history": history,
        "keras": keras.__version__,
    }
    Path(str(out) + ".json").write_text(json.dumps(record, indent=2))
    if fit is not None:
        plot_history(history, Path(str(out) + ".history.png"), f"{model_name}: validation AUC {summary['auc']:.3f}")
    return record
