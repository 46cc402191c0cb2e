"""Fitting a model kind: what a fit is given (:class:`FitRequest`) and returns (:class:`Fitted`), and the
gradient descent of every network kind (:func:`fit_network`: built, compiled, fitted with early stopping,
saved; an ensemble of seeds with ``members`` > 1).

A kind with its own ``fit`` (:class:`jetflow.ModelKind`) receives the same request and returns the same
result, so the trainer (:mod:`jetflow_inference.training`) records every kind alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jetflow import ModelKind
from jetflow.core.atomic import atomic_write

LR_FACTOR = 0.3  # with lr_patience: the learning rate's factor each time the validation loss stalls,
LR_FLOOR = 0.01  # down to this fraction of its start


@dataclass(frozen=True)
class TrainingSettings:
    """How a model is trained (``jetflow train``'s options; :func:`jetflow_inference.training.train` says what
    each does)."""

    epochs: int = 30
    batch_size: int = 128
    validation_split: float = 0.25
    patience: int = 5
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    lr_patience: int = 0
    members: int = 1
    seed: int = 1
    max_jets: int | None = None
    n_particles: int = 30
    model_args: dict[str, Any] = field(default_factory=dict)
    target: str | None = None
    loss: str = "mse"
    features: tuple[str, ...] = ()
    constituent_features: tuple[str, ...] = ()
    relative_to: str | None = None
    progress: bool = True
    stream: bool = False
    window: int = 16384

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features or ()))
        object.__setattr__(self, "constituent_features", tuple(self.constituent_features or ()))
        object.__setattr__(self, "model_args", dict(self.model_args or {}))


@dataclass
class FitRequest:
    """What a kind is fitted on and how.

    ``train_inputs`` and ``val_inputs`` list the model's input arrays in its order (its column, then the jet
    features); ``yt``, ``yv`` the labels (or the regression target), ``wt``, ``wv`` the weights.  ``classes``:
    the class names of a multi-class training (``None``: two classes, or a regression of ``settings.target``).
    """

    kind: ModelKind
    out: Path
    settings: TrainingSettings
    train_inputs: list[np.ndarray]
    yt: np.ndarray
    wt: np.ndarray
    val_inputs: list[np.ndarray]
    yv: np.ndarray
    wv: np.ndarray
    classes: list[str] | None = None


@dataclass
class Fitted:
    """What a fit returns: the model's arguments (recorded), one history per member (``{"loss": [...], ...}``;
    empty lists for a fit without epochs), the validation predictions (``[n]``, or ``[n, classes]``), the loss
    as recorded, the versions of the libraries that made the file, and a network's number of weights."""

    args: dict[str, Any]
    histories: list[dict[str, list[float]]]
    predictions: np.ndarray
    loss: str
    versions: dict[str, str]
    parameters: int | None = None


def keras_versions() -> dict[str, str]:
    import keras

    return {"keras": keras.__version__}


def network_args(kind: ModelKind, model_args: dict[str, Any] | None, first_input: np.ndarray,
                 n_particles: int) -> dict[str, Any]:
    """The builder's arguments: the user's, and the input size (``n_particles`` for a constituent network, the
    image's shape otherwise) unless they set it."""
    args = dict(model_args or {})
    if kind.reads == "constituents":
        args.setdefault("n_particles", n_particles)
    else:
        args.setdefault("input_shape", tuple(first_input.shape[1:]))
    return args


OPTIMIZERS = ("adam", "nesterov")
"""The optimizers a network trains with: Adam, or stochastic gradient descent with Nesterov momentum 0.9 (which
[jet-images] found better than Adam)."""


def optimizer(name: str, learning_rate: float):
    """A fresh Keras optimizer of :data:`OPTIMIZERS` by name."""
    import keras

    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "nesterov":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")


def compiled_network(kind: ModelKind, args: dict[str, Any], target: str | None, loss: str, learning_rate: float,
                     classes: int | None = None, optimizer_name: str = "adam"):
    """The network built with ``args`` and compiled with the optimizer ``optimizer_name``: weighted cross-entropy
    (and AUC), over ``classes`` a softmax and its cross-entropy, or the regression loss."""
    import keras

    from jetflow_inference.classes import softmax_head
    from jetflow_inference.network_parts import CentralRatioMSE

    model = kind.builder()(**args)
    opt = optimizer(optimizer_name, learning_rate)
    if classes:
        model = softmax_head(model, classes)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])
    elif target is None:
        model.compile(optimizer=opt, loss="binary_crossentropy", weighted_metrics=[keras.metrics.AUC(name="auc")])
    else:
        model.compile(optimizer=opt, loss=CentralRatioMSE() if loss == "central" else "mse")
    return model


def recorded_loss(settings: TrainingSettings, classes: list[str] | None) -> str:
    """The loss a network is trained with, as the training record names it."""
    if settings.target is not None:
        return settings.loss
    return "sparse_categorical_crossentropy" if classes else "binary_crossentropy"


def fit_callbacks(patience: int, lr_patience: int, learning_rate: float) -> list:
    """Early stopping after ``patience`` epochs without a better validation loss (the best weights restored) and,
    with ``lr_patience`` > 0, the learning rate times :data:`LR_FACTOR` after that many such epochs."""
    import keras

    callbacks = [keras.callbacks.EarlyStopping("val_loss", patience=patience, restore_best_weights=True)]
    if lr_patience:
        callbacks.append(keras.callbacks.ReduceLROnPlateau("val_loss", factor=LR_FACTOR, patience=lr_patience,
                                                           min_lr=learning_rate * LR_FLOOR))
    return callbacks


def fit_network(request: FitRequest) -> Fitted:
    """Build, fit by gradient descent and save a Keras network (``members`` > 1: that many, from seeds ``seed``,
    ``seed + 1``, ..., averaged by one saved model: :func:`ensemble`)."""
    import keras

    r, s = request, request.settings
    args = network_args(r.kind, s.model_args, r.train_inputs[0], s.n_particles)
    if s.constituent_features:  # the real particles' (E > 0) statistics, feature by feature
        real = r.train_inputs[1][r.train_inputs[0][..., 0] > 0]
        args["constituent_scaling"] = (np.mean(real, axis=0).tolist(), np.var(real, axis=0).tolist())
    if s.features:
        args["feature_scaling"] = (np.mean(r.train_inputs[-1], axis=0).tolist(),
                                   np.var(r.train_inputs[-1], axis=0).tolist())
    if s.target is not None:
        yt = r.yt
        if s.relative_to is None:
            args["regression"] = (float(np.mean(yt)), float(np.std(yt)) or 1.0)
        else:  # the factor truth / reco: its median, and its spread without the tails of jets measured near 0
            args["regression"] = (float(np.median(yt)), float(np.std(np.clip(yt, *np.percentile(yt, [5, 95])))) or 1.0)
    x_train = r.train_inputs if len(r.train_inputs) > 1 else r.train_inputs[0]
    x_val = r.val_inputs if len(r.val_inputs) > 1 else r.val_inputs[0]
    fitted, histories = [], []
    for k in range(s.members):  # member k starts from seed + k; the jets and their split are the same
        keras.utils.set_random_seed(s.seed + k)
        model = compiled_network(r.kind, args, s.target, s.loss, s.learning_rate, len(r.classes) if r.classes else None,
                                 s.optimizer)
        fit = model.fit(
            x_train, r.yt, sample_weight=r.wt, validation_data=(x_val, r.yv, r.wv), epochs=s.epochs,
            batch_size=s.batch_size, shuffle=True, verbose=1 if s.progress else 0,
            callbacks=fit_callbacks(s.patience, s.lr_patience, s.learning_rate),
        )
        histories.append({key: [float(v) for v in vals] for key, vals in fit.history.items()})
        fitted.append(model)
    model = fitted[0] if s.members == 1 else ensemble(fitted, r.kind.name)
    with atomic_write(r.out, "model") as tmp:
        model.save(tmp)
    predictions = model.predict(x_val, batch_size=1024, verbose=0)
    return Fitted(args, histories, predictions if r.classes else predictions[:, 0], recorded_loss(s, r.classes),
                  keras_versions(), fitted[0].count_params())


def ensemble(members: list, name: str):
    """One model whose output is the mean of ``members``' outputs (networks of the same inputs, e.g. one network
    trained from several seeds: ``jetflow train --members K``).  It saves, loads and exports to ONNX like any
    other, so inference needs nothing new."""
    import keras
    from keras import layers

    inputs = [keras.Input(shape=tuple(t.shape[1:]), name=t.name) for t in members[0].inputs]
    x = inputs if len(inputs) > 1 else inputs[0]
    outputs = [keras.Model(m.inputs, m.outputs[0], name=f"member_{k}")(x) for k, m in enumerate(members)]
    return keras.Model(inputs, layers.Average(name="member_mean")(outputs), name=f"{name}_ensemble")
