"""What a training leaves beside its model: ``<out>.json`` (configuration, history, validation figures) and the
history plot ``<out>.history.png`` (:class:`TrainingRecord`; :func:`jetflow_inference.training.train` writes
them), and the validation figures they hold."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jetflow import ModelKind
from jetflow.core.atomic import write_text

from jetflow_inference.fitting import Fitted, TrainingSettings


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


@dataclass
class TrainingRecord:
    """What a training leaves beside its model (``<out>.json``, :meth:`as_dict`; and the history plot).

    ``spec`` describes the input (``column``, ``shape``, ``features``; ``classes``, ``target``, ``left_out``
    where they apply), ``jets`` counts the training and validation jets, ``validation`` holds the figures on
    the validation jets (``title``: them in one line), ``input_statistics`` a network's statistics of its
    training inputs (:mod:`jetflow_inference.input_statistics`; ``jetflow onnx`` draws its check inputs from
    them).
    """

    kind: ModelKind
    out: Path
    data: str
    settings: TrainingSettings
    spec: dict[str, Any]
    jets: dict[str, int]
    fitted: Fitted
    validation: dict[str, Any]
    title: str
    seconds: float
    input_statistics: dict | None = None

    def as_dict(self) -> dict[str, Any]:
        """The record as ``<out>.json`` holds it.  An ensemble's members (``settings.members`` > 1) are recorded
        each: its seed, epochs and best validation loss; ``history`` is the first member's."""
        s, history = self.settings, self.fitted.histories[0]
        members = self.fitted.histories if s.members > 1 else None
        return {
            "model": self.kind.name,
            "task": "classification" if s.target is None else "regression",
            "target": s.target,
            "relative_to": s.relative_to,
            "loss": self.fitted.loss,
            "classes": self.spec.get("classes"),
            "model_args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.fitted.args.items()},
            "input": self.spec,
            "data": str(self.data),
            "jets": self.jets,
            "training": {"epochs_run": len(history["loss"]), "batch_size": s.batch_size,
                         "learning_rate": s.learning_rate, "optimizer": s.optimizer,
                         "validation_split": s.validation_split,
                         "patience": s.patience, "lr_patience": s.lr_patience, "seed": s.seed, "max_jets": s.max_jets,
                         "seconds": self.seconds,
                         "members": None if members is None else [
                             {"seed": s.seed + k, "epochs_run": len(h["loss"]), "best_val_loss": min(h["val_loss"])}
                             for k, h in enumerate(members)],
                         "streamed": {"window": s.window} if s.stream else None},
            "validation": self.validation,
            "history": history,
            "input_statistics": self.input_statistics,
            "versions": self.fitted.versions,
            "parameters": self.fitted.parameters,
        }

    def write(self) -> dict[str, Any]:
        """Write ``<out>.json`` (and ``<out>.history.png`` when the fit had epochs); returns :meth:`as_dict`."""
        record = self.as_dict()
        # lists of numbers (the input statistics' thousands, the history) one to a line, not one number to a line
        # (only the line breaks json.dumps put in go: a string holds none)
        text = re.sub(r"\[\n\s*([^\[\]{}\"]*?)\n\s*\]", lambda m: "[" + re.sub(r",\n\s*", ", ", m.group(1)) + "]",
                      json.dumps(record, indent=2))
        write_text(Path(str(self.out) + ".json"), text, "training record")
        if record["history"]["loss"]:
            plot_history(record["history"], Path(str(self.out) + ".history.png"), f"{self.kind.name}: {self.title}",
                         "weighted binary cross-entropy" if self.settings.target is None else f"{record['loss']} loss",
                         others=self.fitted.histories[1:])
        return record


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
