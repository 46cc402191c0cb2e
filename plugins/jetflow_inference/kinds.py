"""The model kinds the inference plugin provides (hook ``jetflow_model_kinds``), and finding a kind by name
among every plugin's.

The builders are named by strings (``module:function``), so that ``jetflow plugins`` and the command line
list the kinds without importing Keras.  Importing the modules of the built-in builders registers their
custom layers (:func:`register_layers`), which loading a saved ``.keras`` file with ``safe_mode=True`` needs.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from jetflow import ModelKind, hookimpl

_MODELS = "jetflow_inference.models"
_CLOUDS = "jetflow_inference.particle_clouds"

BUILTIN_KINDS = (
    ModelKind("convnet", "[jet-images]'s ConvNet on jet images (3 convolutions, max pooling, dropout)", "image",
              build=f"{_MODELS}:convnet"),
    ModelKind("maxout", "[jet-images]'s MaxOut network on flattened jet images", "image", build=f"{_MODELS}:maxout"),
    ModelKind("dcnn", "[jet-response]'s DCNN on multi-channel jet images", "image", build=f"{_MODELS}:dcnn"),
    ModelKind("pixelcal", "a per-pixel calibration network on multi-channel jet images", "image",
              build="jetflow_inference.pixel_calibration:pixelcal"),
    ModelKind("fisher", "Fisher's linear discriminant on jet images ([jet-images]), set in closed form", "image",
              build=f"{_MODELS}:fisher", fit=f"{_MODELS}:fit_fisher", features=False, regress=False,
              multiclass=False, stream=False),
    ModelKind("lbn", "the Lorentz Boost Network ([lbn]) on constituent four-vectors", "constituents",
              build=f"{_MODELS}:lbn"),
    ModelKind("efn", "[efn]'s Energy Flow Network (IRC-safe deep set) on constituents", "constituents",
              build=f"{_CLOUDS}:efn", constituent_features=True),
    ModelKind("pfn", "[efn]'s Particle Flow Network (deep set) on constituents", "constituents",
              build=f"{_CLOUDS}:pfn", constituent_features=True),
    ModelKind("particlenet", "[particlenet]'s EdgeConv network on constituents (size lite or full)", "constituents",
              build=f"{_CLOUDS}:particlenet", constituent_features=True),
    ModelKind("part", "the Particle Transformer ([part]): attention with pairwise interaction features",
              "constituents", build="jetflow_inference.transformer:part", constituent_features=True),
    *(ModelKind(name, f"scikit-learn {what} on jet features, saved as ONNX", "features",
                fit="jetflow_inference.tabular:fit_scikit_learn", stream=False, suffix=".onnx")
      for name, what in (("forest", "random forest"), ("boosting", "gradient-boosted trees"),
                         ("mlp", "multilayer perceptron ([jet-response])"))),
)
"""The kinds ``jetflow train --model`` knows without further plugins."""


@hookimpl
def jetflow_model_kinds():
    return list(BUILTIN_KINDS)


def register_layers() -> None:
    """Import every built-in builder's module, registering its custom Keras layers (for loading a saved model)."""
    for kind in BUILTIN_KINDS:
        if isinstance(kind.build, str):
            importlib.import_module(kind.build.partition(":")[0])


def model_kinds(plugins: Iterable = (), disable: Iterable[str] = ()) -> dict[str, ModelKind]:
    """``{name: kind}`` of every plugin's ``jetflow_model_kinds`` (the built-ins, entry points, ``plugins``)."""
    from jetflow.core.calls import collect_model_kinds
    from jetflow.core.manager import get_plugin_manager

    return {name: declared.value for name, declared in
            collect_model_kinds(get_plugin_manager(list(plugins), list(disable))).items()}


def model_kind(name: str, plugins: Iterable = (), disable: Iterable[str] = ()) -> ModelKind:
    """The kind called ``name``; a ``ValueError`` listing the kinds there are if none is."""
    kinds = model_kinds(plugins, disable)
    if name not in kinds:
        raise ValueError(f"--model must be one of {', '.join(kinds)} (model kinds of the plugins; a plugin adds "
                         f"one with the hook jetflow_model_kinds), got {name!r}")
    return kinds[name]
