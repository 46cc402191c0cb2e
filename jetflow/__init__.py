"""jetflow: a plugin-based coffea framework for deep learning on jets.

Importing :mod:`jetflow` is cheap: it gives plugin authors ``hookimpl`` at once
and loads the heavy parts (coffea, the processor, the runner) only when they are
first used.  The layers (docs/design.md): :mod:`jetflow.core` (plugin API and
engine), :mod:`jetflow.running` (running and results), :mod:`jetflow.stats`
(statistics tools), :mod:`jetflow.formats` (data formats), :mod:`jetflow.physics`
(columnar kinematics), :mod:`jetflow.frontends` (command line, reports, workflows).

Plugin authors write::

    from jetflow import ColumnSpec, Options, hookimpl

Analysts write::

    import jetflow
    result = jetflow.run("study.yaml", executor="futures", workers=2)
    result = jetflow.load("result.coffea")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from jetflow.core.markers import PROJECT_NAME, hookimpl, hookspec
from jetflow.version import __version__

# name -> module that defines it; imported on first attribute access (PEP 562)
_LAZY = {
    "ChunkContext": "jetflow.core.context",
    "ColumnSpec": "jetflow.core.columns",
    "Options": "jetflow.core.options",
    "Source": "jetflow.core.sources",
    "FileView": "jetflow.core.sources",
    "ModelKind": "jetflow.core.model_kinds",
    "ReportPart": "jetflow.core.report",
    "WorkflowStep": "jetflow.core.steps",
    "StepContext": "jetflow.core.steps",
    "StepResult": "jetflow.core.steps",
    "JetflowError": "jetflow.core.errors",
    "ConfigError": "jetflow.core.errors",
    "InputError": "jetflow.core.errors",
    "OutputError": "jetflow.core.errors",
    "PluginError": "jetflow.core.errors",
    "PluginCallError": "jetflow.core.errors",
    "get_plugin_manager": "jetflow.core.manager",
    "Config": "jetflow.core.config",
    "Engine": "jetflow.core.engine",
    "load_config": "jetflow.core.engine",
    "JetflowProcessor": "jetflow.core.processor",
    "run_stages": "jetflow.core.stages",
    "Cutflow": "jetflow.core.counters",
    "JetflowSchema": "jetflow.formats.schema",
    "run": "jetflow.running.run",
    "Result": "jetflow.running.results",
    "load": "jetflow.running.results",
    "save": "jetflow.running.results",
    "make_report": "jetflow.frontends.report",
    "run_workflow": "jetflow.frontends.workflow",
}

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec", "__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from jetflow.core.columns import ColumnSpec
    from jetflow.core.config import Config
    from jetflow.core.context import ChunkContext
    from jetflow.core.counters import Cutflow
    from jetflow.core.engine import Engine, load_config
    from jetflow.core.errors import (
        ConfigError,
        InputError,
        JetflowError,
        OutputError,
        PluginCallError,
        PluginError,
    )
    from jetflow.core.manager import get_plugin_manager
    from jetflow.core.model_kinds import ModelKind
    from jetflow.core.options import Options
    from jetflow.core.processor import JetflowProcessor
    from jetflow.core.report import ReportPart
    from jetflow.core.stages import run_stages
    from jetflow.core.steps import StepContext, StepResult, WorkflowStep
    from jetflow.formats.schema import JetflowSchema
    from jetflow.frontends.report import make_report
    from jetflow.frontends.workflow import run_workflow
    from jetflow.running.results import Result, load, save
    from jetflow.running.run import run


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jetflow' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
