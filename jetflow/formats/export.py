"""Training exports: one Parquet shard per chunk, read back as one dataset.

A shard holds the selected jets of one chunk: flat per-jet columns (observables,
scores, ``weight``, ``label``, ``dataset``, ``entry``) and images, stored as
fixed-size lists of float32 with their shape in the schema metadata
(``jetflow.shape.<column>``) and the layout's version (``jetflow.export_format``:
the format of docs/design.md, "The per-jet export").  Shards are written under a temporary name and
renamed, so a crash never leaves a half-written shard behind; nothing is held
in memory across chunks.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jetflow.core.atomic import atomic_write
from jetflow.core.errors import InputError

SHAPE_KEY = "jetflow.shape."
FORMAT_KEY = "jetflow.export_format"
FORMAT_VERSION = 1
"""The version of the shard layout (docs/design.md, "The per-jet export"); a reader refuses a newer one."""


@dataclass
class ExportShards:
    """The Parquet shards an export wrote, as an accumulator: one record per chunk, merged as a set.

    ``records``: tuples ``(path, rows, dataset, filename, entrystart, entrystop)``.
    """

    records: tuple = ()

    def __add__(self, other: ExportShards) -> ExportShards:
        if not isinstance(other, ExportShards):
            return NotImplemented
        return ExportShards(tuple(sorted(set(self.records) | set(other.records))))

    @property
    def rows(self) -> int:
        return sum(r[1] for r in self.records)

    @property
    def paths(self) -> list[str]:
        return [r[0] for r in self.records]


def shard_name(dataset: str, filename: str, entrystart: int, entrystop: int) -> str:
    digest = hashlib.sha1(str(filename).encode()).hexdigest()[:10]
    return f"{dataset}__{Path(str(filename)).stem}-{digest}__{entrystart}-{entrystop}.parquet"


def write_shard(path: str | os.PathLike, columns: dict[str, np.ndarray]) -> int:
    """Write one shard atomically; returns the number of rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, names, meta = [], [], {}
    n = None
    for name, values in columns.items():
        values = np.asarray(values)
        n = len(values) if n is None else n
        if len(values) != n:
            raise ValueError(f"export column {name!r} has {len(values)} rows, expected {n}")
        if values.ndim > 1:
            inner = int(np.prod(values.shape[1:]))
            flat = pa.array(np.ascontiguousarray(values, dtype=np.float32).reshape(-1))
            arrays.append(pa.FixedSizeListArray.from_arrays(flat, inner))
            meta[f"{SHAPE_KEY}{name}"] = json.dumps(list(values.shape[1:]))
        elif values.dtype.kind in "US":
            arrays.append(pa.array(values.astype(str)))
        else:
            arrays.append(pa.array(values))
        names.append(name)
    meta[FORMAT_KEY] = str(FORMAT_VERSION)
    table = pa.Table.from_arrays(arrays, names=names).replace_schema_metadata(meta)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "export shard") as tmp:
        pq.write_table(table, tmp)
    return int(n or 0)


def shards(source: str | os.PathLike | Any) -> list[str]:
    """The shard paths of an export: a folder, a list of paths, or a result holding :class:`ExportShards`."""
    if hasattr(source, "output"):  # a jetflow Result
        paths = []
        for outputs in source.output.values():
            for acc in outputs.values():
                if isinstance(acc, ExportShards):
                    paths.extend(acc.paths)
        return sorted(paths)
    if isinstance(source, (list, tuple)):
        return sorted(map(str, source))
    folder = Path(source)
    if folder.is_file():
        return [str(folder)]
    if not folder.is_dir():
        raise InputError(f"the folder {folder} does not exist: give the one a run exported its jets into")
    found = sorted(str(p) for p in folder.glob("*.parquet") if not p.name.startswith("."))
    if not found:
        raise InputError(f"the folder {folder} holds no export shards (*.parquet): give the one a run exported "
                         "its jets into")
    _refuse_copies(folder, found)
    return found


_SHARD_NAME = re.compile(r"^(?P<chunk>.+)__(?P<stem>.+)-(?P<digest>[0-9a-f]{10})__(?P<range>\d+-\d+)\.parquet$")


def _refuse_copies(folder: Path, paths: list[str]) -> None:
    """Raise if two shards of a folder hold the same jets: the same dataset, input file name and entries from
    two input paths (:func:`shard_name` hashes the path), i.e. a run exported into a folder where a run on
    the same files, moved or reached by another path, had exported before."""
    import pyarrow.parquet as pq

    groups: dict[tuple, list[str]] = {}
    for path in paths:
        match = _SHARD_NAME.match(Path(path).name)
        if match:
            groups.setdefault((match["chunk"], match["stem"], match["range"]), []).append(path)
    for same_chunk in (g for g in groups.values() if len(g) > 1):
        tables = {p: pq.read_table(p, columns=[c for c in ("event", "entry", "pt") if c in pq.read_schema(p).names])
                  for p in same_chunk}
        first, *others = same_chunk
        for other in others:
            if tables[first].num_columns and tables[first].equals(tables[other]):
                raise InputError(f"export folder {folder} holds the same jets twice: {Path(first).name} and "
                                 f"{Path(other).name} (one input file reached by two paths, an earlier run's shards "
                                 "left in the folder?); remove the stale shards or export into an empty folder")


def read(source, columns: list[str] | None = None) -> dict[str, np.ndarray]:
    """Read an export into numpy arrays (images reshaped to ``[n, H, W, C]``).

    Parameters
    ----------
    source
        Export folder, list of shard paths, or a :class:`jetflow.Result`.
    columns
        Columns to read (default: all).
    """
    import pyarrow.parquet as pq

    paths = shards(source)
    tables = [pq.read_table(p, columns=columns) for p in paths]
    if not tables:
        return {}
    for path, table in zip(paths, tables):
        version = int((table.schema.metadata or {}).get(FORMAT_KEY.encode(), b"1"))
        if version > FORMAT_VERSION:
            raise InputError(f"export shard {path}: format {version} is newer than this jetflow reads "
                             f"({FORMAT_VERSION}); upgrade jetflow")
    import pyarrow as pa

    table = pa.concat_tables(tables, promote_options="default")
    meta = {k.decode(): v.decode() for k, v in (tables[0].schema.metadata or {}).items()}
    out = {}
    for name in table.column_names:
        col = table.column(name)
        key = f"{SHAPE_KEY}{name}"
        if key in meta:
            shape = json.loads(meta[key])
            flat = col.combine_chunks().flatten().to_numpy(zero_copy_only=False)
            out[name] = flat.reshape((len(col), *shape)).astype(np.float32, copy=False)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out
