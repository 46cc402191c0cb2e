"""Checkpoints of a run: every finished chunk's output on disk, so that a stopped run resumes.

A run with a checkpoint folder (``jetflow run`` puts one beside ``--out``,
``<out>.checkpoint``; any fsspec URL that every worker can reach, such as
``s3://bucket/run1``, works too) saves each chunk's output there as soon as the
worker has made it, under ``<dataset>/<file identity>-<sha1 of its path>/<tree>/<start>-<stop>.coffea``
(lz4-compressed cloudpickle, written under a temporary name and renamed, so a
killed worker never leaves a file that looks complete; named by the path as well as
the identity (ROOT UUID or reader's), so a chunk of one file is never served for another,
even for a copy of it).  Run again, the chunks found there are loaded instead of
processed, and the merged result is the same as an uninterrupted run's.

``run.json`` in the folder describes what the checkpoints belong to: the
configuration (less the options that do not change a result: executor,
workers, scheduler, progress), the plugins, what they prepared, the SHA-256 of
every file the workers open (plugin files, models), and every input file with
its identity (a ROOT file's UUID; for a format with its own reader, the
reader's identity, :mod:`jetflow.core.sources`).  A run whose description
differs is refused, naming what changed, so checkpoints of two different runs are never mixed.
The folder is removed once the run's result is saved.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid as uuidlib
from collections.abc import Iterable, Mapping
from typing import Any

import cloudpickle
from coffea.processor import CheckpointerABC

from jetflow.core.errors import ConfigError, InputError, OutputError

MANIFEST = "run.json"
LAYOUT = 2
"""How chunk files are named (:meth:`ChunkCheckpoints.filepath`); 1: by the file's UUID alone."""
RUN_OPTIONS_NOT_IN_RESULT = ("executor", "workers", "scheduler", "progress")
"""``run`` options that change how a run is executed, never what it produces."""


def checkpoint_location(out: str | os.PathLike | None, checkpoint: str | os.PathLike | bool | None) -> str | None:
    """Where a run keeps its checkpoint: ``checkpoint`` when it is a location, ``<out>.checkpoint`` when it is
    ``None`` or ``True`` and there is an output, none when it is ``False`` (or there is neither)."""
    if checkpoint is None or checkpoint is True:
        return None if out is None else f"{os.fspath(out)}.checkpoint"
    return os.fspath(checkpoint) if checkpoint else None


def describe(engine_data: Mapping[str, Any], items: Iterable[Any]) -> dict[str, Any]:
    """What a run's checkpoints belong to: configuration, plugins, prepared values, input files.

    ``engine_data`` is :meth:`jetflow.core.engine.Engine.to_data`; ``items``
    are the run's coffea work items (their files' UUIDs identify the inputs).
    """
    config = json.loads(json.dumps(engine_data["config"], default=str))
    for option in RUN_OPTIONS_NOT_IN_RESULT:
        config.get("run", {}).pop(option, None)
    files = {f"{item.dataset}:{item.filename}": checkpoint_metadata(item)["fileuuid"] for item in items}
    return {
        "layout": LAYOUT,
        "config": config,
        "plugins": [str(p) for p in engine_data["plugins"]],
        "prepared": hashlib.sha256(cloudpickle.dumps(engine_data["prepared"])).hexdigest(),
        "worker_files": dict(engine_data.get("worker_files", {})),
        "files": dict(sorted(files.items())),
    }


def _changed_keys(old: Any, new: Any, where: str, depth: int = 3) -> list[str]:
    """``key: old -> new`` for every differing leaf (dicts opened ``depth`` levels deep)."""
    if old == new:
        return []
    if depth and isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += _changed_keys(old.get(key), new.get(key), f"{where}.{key}" if where else str(key), depth - 1)
        return out
    return [f"{where}: {old!r} -> {new!r}"]


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What differs between two descriptions, in words (dotted config keys, file names)."""
    if old.get("layout", 1) != new.get("layout", 1):
        return [f"its chunk files are named as an earlier jetflow named them (layout {old.get('layout', 1)} -> "
                f"{new.get('layout', 1)}), and none of them would be found"]
    out = _changed_keys(old.get("config", {}), new.get("config", {}), "")
    if old.get("plugins") != new.get("plugins"):
        out.append(f"plugins: {old.get('plugins')} -> {new.get('plugins')}")
    if old.get("prepared") != new.get("prepared"):
        out.append("what the plugins prepared on the client (jetflow_prepare) changed")
    old_used, new_used = old.get("worker_files", {}), new.get("worker_files", {})
    out += [f"file {path} changed" if path in old_used and path in new_used else
            f"file {path} is {'no longer' if path in old_used else 'now'} used"
            for path in sorted(set(old_used) | set(new_used)) if old_used.get(path) != new_used.get(path)]
    old_files, new_files = old.get("files", {}), new.get("files", {})
    for key in sorted(set(old_files) | set(new_files)):
        if key not in new_files:
            out.append(f"input {key} is no longer in the run")
        elif key not in old_files:
            out.append(f"input {key} is new")
        elif old_files[key] != new_files[key]:
            out.append(f"input {key} changed (identity {old_files[key]} -> {new_files[key]})")
    return out


class ChunkCheckpoints(CheckpointerABC):
    """coffea's checkpointer interface, with atomic writes, loud failures and a run description.

    Parameters
    ----------
    location
        A folder or fsspec URL that the client and every worker can reach.
    """

    def __init__(self, location: str) -> None:
        import fsspec

        self.location = str(location)
        self.fs, self.root = fsspec.url_to_fs(self.location)

    # -- on the client --------------------------------------------------------

    def begin(self, description: Mapping[str, Any]) -> None:
        """Check an existing folder belongs to this run (else refuse), or start one; write ``run.json``."""
        manifest = f"{self.root}/{MANIFEST}"
        try:
            self._refuse_foreign_folder()
            if self.fs.exists(manifest):
                with self.fs.open(manifest, "r") as f:
                    old = json.load(f)
                changed = differences(old, description)
                if changed:
                    raise ConfigError(
                        f"checkpoint {self.location} belongs to a different run ("
                        + "; ".join(changed[:8]) + ("; ..." if len(changed) > 8 else "")
                        + "): remove it, pass --restart to discard it, or --checkpoint another folder"
                    )
                return
            self.fs.mkdirs(self.root, exist_ok=True)
            self._write(manifest, json.dumps(description, indent=1).encode())
        except (ConfigError, OutputError):
            raise
        except Exception as exc:
            raise OutputError(f"checkpoint {self.location}: cannot be used ({type(exc).__name__}: {exc})") from exc

    def done(self, items: Iterable[Any]) -> int:
        """How many of ``items`` have a checkpoint."""
        try:
            present = set(self.fs.find(self.root))
        except FileNotFoundError:
            return 0
        return sum(self.filepath(checkpoint_metadata(item)) in present for item in items)

    def remove(self) -> None:
        """Delete the folder (after the run's result is saved; ``--restart``); never a folder that is not a checkpoint."""
        if self.fs.exists(self.root):
            self._refuse_foreign_folder()
            self.fs.rm(self.root, recursive=True)

    def _refuse_foreign_folder(self) -> None:
        """An existing folder with files but no ``run.json`` is someone else's: never written into or removed."""
        if (self.fs.exists(self.root) and self.fs.ls(self.root, detail=False)
                and not self.fs.exists(f"{self.root}/{MANIFEST}")):
            raise OutputError(f"checkpoint {self.location}: the folder exists and is not a jetflow checkpoint "
                              f"(it has no {MANIFEST}); give a new or empty folder")

    # -- on the worker (coffea's interface) ------------------------------------

    def filepath(self, metadata: Mapping[str, Any], processor_instance: Any = None) -> str:
        tree = str(metadata["treename"]).replace("/", "_")
        path_hash = hashlib.sha1(str(metadata["filename"]).encode()).hexdigest()[:10]
        return (f"{self.root}/{metadata['dataset']}/{metadata['fileuuid'] or 'no-uuid'}-{path_hash}/{tree}/"
                f"{metadata['entrystart']}-{metadata['entrystop']}.coffea")

    def load(self, metadata: Mapping[str, Any], processor_instance: Any) -> Any:
        path = self.filepath(metadata)
        if not self.fs.exists(path):
            return None
        import lz4.frame

        try:
            with self.fs.open(path, "rb") as f:
                return cloudpickle.loads(lz4.frame.decompress(f.read()))
        except Exception as exc:
            raise InputError(
                f"checkpoint {path} (dataset {metadata['dataset']!r}, file {metadata['filename']}, entries "
                f"[{metadata['entrystart']}, {metadata['entrystop']})) cannot be read ({type(exc).__name__}: {exc}); "
                "delete that file to process the chunk again"
            ) from exc

    def save(self, output: Any, metadata: Mapping[str, Any], processor_instance: Any) -> None:
        import lz4.frame

        path = self.filepath(metadata)
        try:
            self.fs.mkdirs(path.rsplit("/", 1)[0], exist_ok=True)
            self._write(path, lz4.frame.compress(cloudpickle.dumps(output)))
        except Exception as exc:
            raise OutputError(f"checkpoint {path}: cannot be written ({type(exc).__name__}: {exc})") from exc

    def _write(self, path: str, data: bytes) -> None:
        """Write under a temporary name, then rename: a reader never sees half a file."""
        folder, name = path.rsplit("/", 1)
        tmp = f"{folder}/.{name}.{uuidlib.uuid4().hex}.tmp"
        with self.fs.open(tmp, "wb") as f:
            f.write(data)
        self.fs.mv(tmp, path)

    def __repr__(self) -> str:
        return f"ChunkCheckpoints({self.location!r})"


def checkpoint_metadata(item: Any) -> dict[str, Any]:
    """The metadata coffea gives a checkpointer for a work item."""
    return {
        "dataset": item.dataset,
        "filename": item.filename,
        "treename": item.treename,
        "entrystart": item.entrystart,
        "entrystop": item.entrystop,
        "fileuuid": str(uuidlib.UUID(bytes=item.fileuuid)) if item.fileuuid else "",
    }
