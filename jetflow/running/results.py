"""A run's result: :class:`Result`, and saving and loading it (``jetflow.save``, ``jetflow.load``)."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetflow.core.atomic import atomic_write
from jetflow.core.errors import InputError, OutputError

CORE_OUTPUTS = ("events", "cutflow", "skipped")
"""The accumulators the core fills for every dataset (:mod:`jetflow.core.counters`)."""


@dataclass
class Result:
    """What a run produces and ``jetflow.load`` gives back.

    Attributes
    ----------
    output : dict
        ``{dataset: {name: accumulator}}``: the core's ``events``
        (EventCount), ``cutflow`` (Cutflow) and ``skipped`` (Skipped, only with
        ``skip_bad_files``), and whatever the ``jetflow_accumulate`` hooks add.
    config : dict
        The full configuration of the run, defaults filled in.
    meta : dict
        Executor, workers, chunksize, versions, wall time, host.
    """

    output: dict[str, dict[str, Any]]
    config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        return sorted(self.output)

    def __getitem__(self, dataset: str) -> dict[str, Any]:
        try:
            return self.output[dataset]
        except KeyError:
            raise KeyError(f"no dataset {dataset!r} in this result (have: {', '.join(self.datasets)})") from None

    def combined(self, name: str) -> Any:
        """An accumulator merged over every dataset that has it (dicts merged key by key).

        This is how signal and background datasets meet: ``result.combined(name)``.
        """
        from coffea.processor import accumulate

        items = [out[name] for out in self.output.values() if name in out]
        if not items:
            raise KeyError(f"no accumulator {name!r} in any dataset")
        return accumulate(items)

    def summary(self) -> str:
        lines = [f"jetflow result: {len(self.output)} dataset(s)"]
        for ds in self.datasets:
            out = self.output[ds]
            ev = out.get("events")
            lines.append(f"\n[{ds}] events: {getattr(ev, 'events', '?')}, chunks: {getattr(ev, 'chunks', '?')}")
            if "cutflow" in out:
                lines.append(str(out["cutflow"]))
            others = sorted(k for k in out if k not in CORE_OUTPUTS)
            if others:
                lines.append("outputs of the plugins: " + ", ".join(others))
        skipped = self.meta.get("skipped") or []
        if skipped:
            lines.append(f"\nskipped ({len(skipped)}), nothing else was left out:")
            for filename, start, stop, reason in skipped:
                where = "whole file" if stop < 0 else f"entries [{start}, {stop})"
                lines.append(f"  {filename}, {where}: {reason}")
        return "\n".join(lines)


def check_output(path: str | os.PathLike) -> Path:
    """Make sure a result can be written to ``path``, before any work is done.

    The folder must exist and take a new file; ``path`` must not be a folder.

    Raises
    ------
    OutputError
        Naming the path and what is wrong with it.
    """
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise OutputError(f"output {path} is a folder; give a file name such as {path / 'result.coffea'}")
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise OutputError(f"output {path}: the folder {folder} {what}; create it first or choose another place")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
    except OSError as exc:
        raise OutputError(f"output {path}: cannot write into {folder} ({exc.strerror or exc})") from None
    os.close(fd)
    os.unlink(probe)
    return path


def save(result: Result, path: str | os.PathLike) -> Path:
    """Write a result to ``path`` (lz4-compressed cloudpickle, like ``coffea.util.save``).

    The file is written under a temporary name and renamed
    (:func:`jetflow.core.atomic.atomic_write`), so an interrupted save never
    leaves a file that looks complete.  The folder must exist; a write the
    system refuses (a full disk) raises :class:`OutputError` naming the file.
    """
    from coffea.util import save as coffea_save

    path = check_output(path)
    with atomic_write(path, "result") as tmp:  # an error or a stop: no file that looks complete
        coffea_save(result, str(tmp))
    return path


def load(path: str | os.PathLike) -> Result:
    """Load a result saved by ``jetflow run`` / :func:`save`.

    Only open results you trust: like every pickle-based format, loading runs
    code stored in the file.
    """
    from coffea.util import load as coffea_load

    path = Path(path)
    if not path.is_file():
        raise InputError(f"result file {path} does not exist")
    try:
        obj = coffea_load(str(path))
    except Exception as exc:
        raise InputError(f"result file {path} cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(obj, Result):
        raise InputError(f"file {path} is not a jetflow result (it holds a {type(obj).__name__})")
    return obj
