"""Workflow steps as plugins provide them (hook ``jetflow_workflow_steps``).

A workflow file (docs/workflows.md) is a list of steps; each names a *kind*
(``generate``, ``run``, ``train``, ``report``, ...) that some plugin
provides as a :class:`WorkflowStep`: an options model and a function.  The
workflow engine validates each step's options against the model, calls the
function with a :class:`StepContext`, and records the :class:`StepResult`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class StepContext:
    """What a step function sees of the workflow.

    Attributes
    ----------
    name
        The step's name in the workflow file.
    out
        The workflow's output folder (it exists); relative paths of the
        step's options are relative to it (:meth:`resolve`).
    workers
        Parallel worker processes the workflow may use.
    scheduler
        The address of a dask scheduler the workflow's steps spread their work
        over (generation, the passes of the processor), or ``None``: local
        processes.
    progress
        Show progress bars and messages.
    plugins, disable
        Extra plugins and blocked plugin names of the workflow: a step that
        runs the processor passes them on.
    """

    name: str
    out: Path
    workers: int = 1
    progress: bool = True
    plugins: tuple[Any, ...] = ()
    disable: tuple[str, ...] = ()
    scheduler: str | None = None

    def resolve(self, path: str | os.PathLike) -> Path:
        """A path from the step's options, made absolute against the workflow's output folder."""
        p = Path(os.path.expanduser(os.fspath(path)))
        return p if p.is_absolute() else self.out / p

    def say(self, text: str) -> None:
        """A progress message (printed when ``progress`` is on)."""
        if self.progress:
            print(f"[jetflow {self.name}] {text}", flush=True)


@dataclass
class StepResult:
    """What a step leaves behind.

    Attributes
    ----------
    record
        Plain data (JSON-serialisable): written into ``study.json``, and what
        later steps refer to as ``${<step name>.<key>}`` in their options.
    markdown
        A Markdown account of the step for ``study.md`` (links relative to the
        workflow's output folder).
    """

    record: dict[str, Any] = field(default_factory=dict)
    markdown: str = ""


@dataclass(frozen=True)
class WorkflowStep:
    """A kind of workflow step.

    Attributes
    ----------
    options
        The pydantic model of the step's ``with:`` mapping (best a
        :class:`jetflow.Options`).
    run
        ``run(options, ctx) -> StepResult``: does the work; ``options`` is the
        validated model, ``ctx`` a :class:`StepContext`.
    description
        One line for ``jetflow workflow --list``.
    """

    options: type[BaseModel]
    run: Callable[[Any, StepContext], StepResult]
    description: str = ""
