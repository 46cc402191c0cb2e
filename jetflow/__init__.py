"""jetflow: a plugin-based coffea framework for deep learning on jets.

Importing :mod:`jetflow` is cheap: it gives plugin authors ``hookimpl`` at once
and loads the heavy parts (coffea, the processor, the runner) only when they are
first used.

Plugin authors write::

    from jetflow import hookimpl

Analysts write::

    import jetflow
    result = jetflow.run("study.yaml", executor="futures", workers=2)
    result = jetflow.load("result.coffea")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jetflow._markers import PROJECT_NAME, hookimpl, hookspec

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access (PEP 562)
_LAZY = {
    "get_plugin_manager": "jetflow.plugins",
    "PluginCallError": "jetflow.errors",
    "JetflowError": "jetflow.errors",
    "ConfigError": "jetflow.errors",
    "InputError": "jetflow.errors",
    "ChunkContext": "jetflow.context",
    "ColumnSpec": "jetflow.columns",
    "Config": "jetflow.config",
    "load_config": "jetflow.config",
    "JetflowProcessor": "jetflow.processor",
    "JetflowSchema": "jetflow.schema",
    "run": "jetflow.runner",
    "load": "jetflow.runner",
    "save": "jetflow.runner",
    "Result": "jetflow.runner",
    "Cutflow": "jetflow.accumulators",
}

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec", "__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from jetflow.accumulators import Cutflow
    from jetflow.columns import ColumnSpec
    from jetflow.config import Config, load_config
    from jetflow.context import ChunkContext
    from jetflow.errors import ConfigError, InputError, JetflowError, PluginCallError
    from jetflow.plugins import get_plugin_manager
    from jetflow.processor import JetflowProcessor
    from jetflow.runner import Result, load, run, save
    from jetflow.schema import JetflowSchema


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jetflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
