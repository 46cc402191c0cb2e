"""Model kinds as plugins: a :class:`ModelKind` says what an architecture reads, what it can learn, the file it
saves and how it is built and fitted (docs/design.md, "Model kinds"; docs/plugins.md shows one).

A plugin provides model kinds through the hook ``jetflow_model_kinds``; ``jetflow train --model NAME``
(and the workflow step ``train``) trains any of them on a per-jet export, ``jetflow plugins`` lists them.
The core holds the descriptor only: it imports no machine-learning library, so listing kinds is cheap.

How a kind is trained:

* a network fitted by gradient descent (:attr:`ModelKind.fit` is ``None``): ``build(**args)`` returns an
  uncompiled Keras 3 model (its arguments: the ``model_args`` of the training, and ``n_particles`` or
  ``input_shape``, ``feature_scaling``, ``regression`` as :attr:`ModelKind.build` describes); the trainer
  compiles it (cross-entropy, a softmax head over classes, or the regression loss), fits it with early
  stopping, can average several seeds (``--members``) or read the export shard by shard (``--stream``);
* anything else (a closed-form fit, a scikit-learn model saved as ONNX): ``fit(request)`` does the fitting
  and saving itself and returns what the training record needs (the trainer's ``FitRequest`` and
  ``Fitted``: docs/plugins.md).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

READS = ("image", "constituents", "features")
"""What a model kind reads (:attr:`ModelKind.reads`): the jet image, the leading constituents' four-vectors
``[n, N, 4]`` (E, px, py, pz), or the jet features alone ``[n, k]``."""

SUFFIXES = (".keras", ".onnx")
"""The model files a kind may save (:attr:`ModelKind.suffix`); inference loads either."""


@dataclass(frozen=True)
class ModelKind:
    """One architecture that ``jetflow train`` can fit.

    Attributes
    ----------
    name
        What ``jetflow train --model`` takes (``convnet``, ``particlenet``, ...).
    description
        One line: what it is, and its reference.
    reads
        ``"image"``, ``"constituents"`` or ``"features"`` (:data:`READS`): the export column it reads first
        (``features``: the jet features named in the training, and nothing else).
    build
        A network: ``build(**args) -> keras.Model``, or ``"module:function"`` imported when a model is built
        (so listing kinds imports no Keras).  ``args`` are the training's ``model_args`` and, unless they set
        them, ``n_particles`` (``reads == "constituents"``) or ``input_shape`` (the image's), plus
        ``feature_scaling = (means, variances)`` when jet features join the input and ``regression = (mean,
        spread)`` for a regressor (its linear output in the target's units).  A classifier ends in one sigmoid
        unit; the trainer adds the softmax head of a multi-class training.  ``None`` with a :attr:`fit` that
        needs no network.
    fit
        ``None``: gradient descent on the built network.  Otherwise ``fit(request) -> Fitted`` (or
        ``"module:function"``), which fits, saves the model at ``request.out`` and returns its arguments,
        history and validation predictions: a closed-form fit, a library's own.
    features
        Jet features may join the input (``jetflow train --features``); for ``reads == "features"`` they are
        the input and must be named.
    constituent_features
        Per-particle features (charge, particle type, impact parameters: ``jetflow train
        --constituent-features``) may join the four-vectors of a kind that reads constituents: its builder then
        gets ``constituent_scaling = (means, variances)`` and takes them as a second input
        ``constituent_features`` ``[N, k]``.
    regress, multiclass
        It can regress a continuous target (``--target``); it can separate more than two classes.
    stream
        It can be trained from an export read shard by shard (``--stream``): only a network fitted by gradient
        descent can (:attr:`streams`).
    suffix
        The file it saves: ``.keras`` (a Keras model; ``jetflow onnx`` exports it) or ``.onnx``.
    """

    name: str
    description: str
    reads: Literal["image", "constituents", "features"]
    build: Callable[..., Any] | str | None = None
    fit: Callable[[Any], Any] | str | None = None
    features: bool = True
    constituent_features: bool = False
    regress: bool = True
    multiclass: bool = True
    stream: bool = True
    suffix: str = ".keras"

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"model kind {self.name!r}: a name of letters, digits and _ (it names columns)")
        if self.reads not in READS:
            raise ValueError(f"model kind {self.name!r}: reads must be one of {', '.join(READS)}, got {self.reads!r}")
        if self.suffix not in SUFFIXES:
            raise ValueError(f"model kind {self.name!r}: suffix must be one of {', '.join(SUFFIXES)}, "
                             f"got {self.suffix!r}")
        if self.build is None and self.fit is None:
            raise ValueError(f"model kind {self.name!r}: give build (a network) or fit (anything else)")
        if self.fit is None and self.suffix != ".keras":
            raise ValueError(f"model kind {self.name!r}: a network fitted by gradient descent saves a .keras file; "
                             f"a {self.suffix} model needs its own fit")
        if self.constituent_features and self.reads != "constituents":
            raise ValueError(f"model kind {self.name!r}: constituent_features are read beside constituents, "
                             f"and it reads {self.reads}")
        if self.reads == "features" and not self.features:
            raise ValueError(f"model kind {self.name!r}: it reads the jet features, so features must be true")

    @property
    def gradient_descent(self) -> bool:
        """Fitted by the trainer's gradient descent (so also as an ensemble of seeds, ``--members``)."""
        return self.fit is None

    @property
    def streams(self) -> bool:
        """It can be trained from an export read shard by shard: :attr:`stream`, by gradient descent."""
        return self.stream and self.gradient_descent

    def builder(self) -> Callable[..., Any]:
        """:attr:`build`, imported if named by a string."""
        return _resolve(self.build, self.name, "build")

    def fitter(self) -> Callable[[Any], Any]:
        """:attr:`fit`, imported if named by a string."""
        return _resolve(self.fit, self.name, "fit")

    def summary(self) -> str:
        """What it reads and can do, in one line (``jetflow plugins``)."""
        reads = self.reads + (" (+ per-particle features)" if self.constituent_features else "") + (
            " (+ jet features)" if self.features and self.reads != "features" else "")
        can = [w for w, ok in (("regress", self.regress), ("multi-class", self.multiclass),
                               ("stream", self.streams)) if ok]
        return f"reads {reads}; {', '.join(can) or 'classifies two classes'}; saves {self.suffix}"


def _resolve(target: Callable[..., Any] | str | None, name: str, what: str) -> Callable[..., Any]:
    if target is None:
        raise ValueError(f"model kind {name!r} has no {what}")
    if callable(target):
        return target
    module, _, function = target.partition(":")
    try:
        return getattr(importlib.import_module(module), function)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"model kind {name!r}: its {what} {target!r} cannot be imported ({type(exc).__name__}: "
                         f"{exc})") from exc
