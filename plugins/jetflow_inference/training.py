"""Training on a jetflow export: ``jetflow train --model NAME --data EXPORT --out MODEL.keras [--target COLUMN]``.

``NAME`` is a model kind of any plugin (:class:`jetflow.ModelKind`, hook ``jetflow_model_kinds``; the
built-ins: :mod:`jetflow_inference.kinds`).  Without a target, a classifier of signal against background
(labels, pT weights balanced per class, binary cross-entropy) or of the export's classes.  With ``--target
COLUMN``, a regressor of that per-jet column (a linear output in its units; loss ``mse`` or [lbn]'s ``central``
ratio loss); jets whose target is not positive (no generator-level match) are left out and counted.  A network
is fitted by gradient descent (:mod:`jetflow_inference.fitting`), any other kind by its own ``fit``; either way
the record beside the model is the same (:class:`jetflow_inference.records.TrainingRecord`).

References in brackets: docs/references.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from jetflow import ModelKind

from jetflow_inference.fitting import OPTIMIZERS, FitRequest, TrainingSettings, fit_network
from jetflow_inference.input_statistics import training_statistics
from jetflow_inference.export_inputs import load_inputs
from jetflow_inference.records import TrainingRecord, classifier_figures, regressor_figures


def train(model_name: str, data, out: str | os.PathLike, *, plugins: Iterable = (), disable: Iterable[str] = (),
          **options: Any) -> dict[str, Any]:
    """Train a model kind on an export; returns its training record (what ``<out>.json`` holds).

    ``options`` are those of :class:`jetflow_inference.fitting.TrainingSettings`.  The jets are shuffled with
    ``seed``; ``max_jets``: only the first that many of them are used (a learning curve's smaller samples); the
    last ``validation_split`` of them validate (networks: early stopping on the validation loss,
    best weights restored; with ``lr_patience`` the learning rate drops when it stalls,
    :func:`jetflow_inference.fitting.fit_callbacks`).  ``members`` > 1: the network is trained that many
    times, from seeds ``seed``, ``seed + 1``, ..., and saved as one model averaging them.  ``target``:
    regress that column (``loss``: ``mse`` or ``central``) instead of classifying.  ``features``: jet columns
    the model reads beside its image or constituents (a kind that reads features reads them alone).
    ``constituent_features``: per-particle features (export columns ``constituent_<name>``) beside the
    four-vectors of a kind that reads them.  ``relative_to``: the model regresses the factor target / that column (a reconstructed quantity), and
    inference multiplies its output by the column (``inference.models.X.relative_to``); the central ratio loss
    is the same either way, as prediction / truth = factor / (truth / column).  ``stream``: read the export in
    batches, shard by shard, shuffled across shards in windows of ``window`` jets, instead of loading it whole
    (:mod:`jetflow_inference.streaming`: memory stays flat as the export grows; networks classifying only; the
    validation jets are then drawn per shard).  ``plugins``, ``disable``: where the kind is looked for, as for
    a run.  Writes ``out`` (the kind's suffix: ``.keras``, ``.onnx``), ``<out>.json`` (the configuration, the
    history and the validation figures: AUC and rejection, or median and resolution of prediction / truth) and
    for a fit with epochs ``<out>.history.png``.
    """
    from jetflow_inference.kinds import model_kind

    settings = TrainingSettings(**options)
    kind = model_kind(model_name, plugins, disable)
    out = Path(out)
    check_settings(kind, settings, out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if settings.stream:
        from jetflow_inference.streaming import fit_streamed, streamed_statistics

        t0 = time.time()
        fitted, yv, wv, spec, jets = fit_streamed(kind, data, out, settings)
        seconds = time.time() - t0
        validation, title = classifier_figures(fitted.predictions, yv, wv, spec)
        statistics = streamed_statistics(data, kind, settings.n_particles, spec)
        return TrainingRecord(kind, out, str(data), settings, spec, jets, fitted, validation, title, seconds,
                              statistics).write()
    s = settings
    inputs, y, w, spec = load_inputs(data, kind, s.n_particles, s.target, list(s.features), s.relative_to,
                                     list(s.constituent_features))
    classes = spec.get("classes")
    if classes and not kind.multiclass:
        raise ValueError(f"export {data} holds {len(classes)} classes; model kind {kind.name!r} separates two")
    reference = spec.pop("reference", np.ones(len(y)))
    order = np.random.default_rng(s.seed).permutation(len(y))[:s.max_jets]
    inputs, y, w, reference = [x[order] for x in inputs], y[order], w[order], reference[order]
    n_val = int(round(s.validation_split * len(y)))
    if n_val < 10 or len(y) - n_val < 10:
        raise ValueError(f"too few jets to train and validate: {len(y)} jets, validation_split {s.validation_split}")
    request = FitRequest(kind, out, s, [x[:-n_val] for x in inputs], y[:-n_val], w[:-n_val],
                         [x[-n_val:] for x in inputs], y[-n_val:], w[-n_val:], classes)
    t0 = time.time()
    fitted = fit_network(request) if kind.gradient_descent else kind.fitter()(request)
    seconds = time.time() - t0
    yv, wv = request.yv, request.wv
    # a relative regressor is judged on what inference writes: factor x the column, against the truth
    validation, title = (classifier_figures(fitted.predictions, yv, wv, spec) if s.target is None
                         else regressor_figures(fitted.predictions * reference[-n_val:], yv * reference[-n_val:], wv))
    jets = {"train": int(len(request.yt)), "validation": int(n_val)}
    if s.target is not None:
        jets["left_out"] = spec["left_out"]
    else:
        jets.update({name: int((y == c).sum()) for c, name in enumerate(classes or ["background", "signal"])})
    statistics = training_statistics(spec, request.train_inputs) if kind.suffix == ".keras" else None
    return TrainingRecord(kind, out, str(data), s, spec, jets, fitted, validation, title, seconds, statistics).write()


def check_settings(kind: ModelKind, s: TrainingSettings, out: Path) -> None:
    """Refuse what ``kind`` cannot do with these settings, naming the option and what the kind can."""
    if s.target is not None and not kind.regress:
        raise ValueError(f"--model {kind.name} cannot regress (its model kind says regress: false)")
    if s.optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {s.optimizer!r}")
    if s.loss not in ("mse", "central"):
        raise ValueError(f"--loss must be mse or central, got {s.loss!r}")
    if s.relative_to is not None and s.target is None:
        raise ValueError("--relative-to needs a --target")
    if s.lr_patience and s.lr_patience >= s.patience:
        raise ValueError(f"--lr-patience {s.lr_patience} must be below --patience {s.patience}: early stopping "
                         "would end training before the learning rate drops")
    if kind.reads == "features" and not s.features:
        raise ValueError(f"model {kind.name!r} reads jet features: name them (--features pt,eta,...)")
    if s.constituent_features and (not kind.constituent_features or s.stream):
        raise ValueError(f"--constituent-features: model {kind.name!r} " + (
            "reads them from an export read whole (leave out --stream)" if kind.constituent_features else
            "reads no per-particle features (its model kind says constituent_features: false)"))
    if s.features and not kind.features:
        raise ValueError(f"model {kind.name!r} reads its {kind.reads} alone (no --features)")
    if s.members != 1 and (s.members < 1 or s.stream or not kind.gradient_descent):
        raise ValueError(f"--members {s.members}: {kind.name}{' streamed' if s.stream else ''} cannot be trained as "
                         "an ensemble (only networks fitted in memory by gradient descent can; --members is at least 1)")
    if out.suffix != kind.suffix:
        raise ValueError(f"the model file of {kind.name} must end in {kind.suffix}, got {out}")
    if s.max_jets is not None and (s.max_jets < 20 or s.stream):
        raise ValueError(f"--max-jets {s.max_jets}: a subset of at least 20 jets, of an export read whole (not --stream)")
    if s.stream and (s.target is not None or not kind.streams):
        raise ValueError(f"--stream trains networks classifying signal and background; {kind.name}"
                         f"{' regressing ' + s.target if s.target else ''} is fitted in memory (leave out --stream)")
