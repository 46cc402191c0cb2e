"""What a training leaves beside its model: ``<out>.json`` (configuration, history, validation figures) and the
history plot ``<out>.history.png`` (:func:`jetflow_inference.training.train` writes them)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from jetflow.core.atomic import write_text


def plot_history(history: dict[str, list[float]], path: Path, title: str, loss_label: str, others=()) -> None:
    """Loss (and AUC) against epoch; ``others``: further ensemble members' histories (their validation loss)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_auc = "auc" in history
    fig, axes = plt.subplots(1, 2 if with_auc else 1, figsize=(13 if with_auc else 8, 5), squeeze=False)
    axes = axes[0]
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes[0].plot(epochs, history["loss"], label="training" + (", member 1" if others else ""))
    if "val_loss" in history:
        axes[0].plot(epochs, history["val_loss"], label="validation" + (", member 1" if others else ""))
    for k, other in enumerate(others):
        axes[0].plot(np.arange(1, len(other["val_loss"]) + 1), other["val_loss"], lw=0.8, alpha=0.6,
                     label=f"validation, member {k + 2}")
    for i, epoch in enumerate(np.flatnonzero(np.diff(history.get("learning_rate", []))) + 1.5):  # between epochs
        axes[0].axvline(epoch, color="grey", linestyle=":", label=None if i else "learning rate drops")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel(loss_label)
    axes[0].legend(fontsize="x-small")
    if with_auc:
        for key, name in (("auc", "training"), ("val_auc", "validation")):
            if key in history:
                axes[1].plot(epochs, history[key], label=name)
        axes[1].set_xlabel("epoch")
        axes[1].set_ylabel("weighted AUC")
        axes[1].legend(fontsize="x-small")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write_record(model_name, out, data, target, relative_to, loss, args, spec, jets, history, validation, title,
                  batch_size, learning_rate, validation_split, patience, seed, seconds, streamed=None,
                  lr_patience=0, members=None, input_statistics=None) -> dict[str, Any]:
    """Write ``<out>.json`` (and the history plot) of a trained model; returns the record.  ``members``: an
    ensemble's histories (``history`` is the first's), recorded per member: its seed, epochs and best validation
    loss.  ``input_statistics``: a network's, per input, of its training inputs
    (:mod:`jetflow_inference.input_statistics`; ``jetflow onnx`` draws its check inputs from them)."""
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
                     "validation_split": validation_split, "patience": patience, "lr_patience": lr_patience,
                     "seed": seed, "seconds": seconds,
                     "members": None if members is None else [
                         {"seed": seed + k, "epochs_run": len(h["loss"]), "best_val_loss": min(h["val_loss"])}
                         for k, h in enumerate(members)],
                     "streamed": streamed},
        "validation": validation,
        "history": history,
        "input_statistics": input_statistics,
        "versions": versions(model_name in SCIKIT_LEARN),
    }
    # lists of numbers (the input statistics' thousands, the history) one to a line, not one number to a line
    # (only the line breaks json.dumps put in go: a string holds none)
    text = re.sub(r"\[\n\s*([^\[\]{}\"]*?)\n\s*\]", lambda m: "[" + re.sub(r",\n\s*", ", ", m.group(1)) + "]",
                  json.dumps(record, indent=2))
    write_text(Path(str(out) + ".json"), text, "training record")
    if history["loss"]:
        plot_history(history, Path(str(out) + ".history.png"), f"{model_name}: {title}",
                     "weighted binary cross-entropy" if target is None else f"{record['loss']} loss",
                     others=(members or [])[1:])
    return record


def versions(scikit_learn: bool) -> dict[str, str]:
    if scikit_learn:
        import onnxruntime
        import skl2onnx
        import sklearn

        return {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__, "onnxruntime": onnxruntime.__version__}
    import keras

    return {"keras": keras.__version__}


def classifier_figures(predictions, labels, weights, spec) -> tuple[dict, str]:
    from jetflow_inference.classes import classifier_figures, multiclass_figures

    if spec.get("classes"):
        return multiclass_figures(predictions, labels, weights, spec["classes"])
    return classifier_figures(predictions, labels, weights)


def regressor_figures(predictions, truth, weights) -> tuple[dict[str, float], str]:
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
