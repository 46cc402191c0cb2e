"""Sources ``toptagging`` and ``toptagging_parquet``: the top-tagging reference dataset, one entry a jet.

The dataset of Kasieczka et al. (arXiv:1902.09914; files ``train.h5``, ``val.h5``, ``test.h5``) is a pandas
DataFrame written with ``DataFrame.to_hdf(key="table", format="fixed")``: PyTables' fixed layout, a group
``table`` holding ``axis0`` (the column names), ``axis1`` (the index) and, per dtype, ``block<i>_items`` (the
names of the block's columns) and ``block<i>_values`` (``[n_jets, n_items]``, stored transposed).  Columns:

``E_i, PX_i, PY_i, PZ_i`` (i = 0 .. 199)
    the constituents' four-momenta in GeV, sorted by pT (descending) and zero-padded;
``truthE, truthPX, truthPY, truthPZ``
    the top quark's four-momentum (zero for QCD jets);
``ttv``
    0, 1, 2: the sample the jet was drawn for (train, test, validation);
``is_signal_new``
    1 for a top jet, 0 for a QCD jet.

The Parquet conversion has the same columns (any extra column, such as pandas' ``__index_level_0__``, is
ignored).  Both are read chunk by chunk: rows ``[start, stop)`` of the blocks with h5py (pandas'
``read_hdf(start=, stop=)`` when h5py cannot decode the blocks, e.g. a PyTables-only compression filter), the
row groups that overlap the chunk with pyarrow; never the whole file.

Each jet becomes one record: ``pt, eta, phi, mass`` (float64, the four-vector sum of its constituents),
``constituents`` (jagged float32 ``pt, eta, phi, mass``: the entries with ``E > 0``, in the file's order;
``mass = sqrt(max(E^2 - p^2, 0))``), ``label`` (int8, ``is_signal_new``), ``truth_pt, truth_eta, truth_phi,
truth_mass`` (float64, from the truth four-vector; all 0 for QCD jets) and ``ttv`` (int8).
:func:`write_toptagging` writes a jet table in the same layout.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import ColumnSpec, FileView, InputError, Options, Source
from jetflow.core.atomic import atomic_write
from jetflow.physics import ptetaphim, pxpypze
from jetflow_formats._common import at_entries, open_hdf5, reading, unreadable

MOMENTUM = ("E", "PX", "PY", "PZ")
"""Per-constituent column prefixes: ``E_0, PX_0, PY_0, PZ_0, E_1, ...``."""
TRUTH = ("truthE", "truthPX", "truthPY", "truthPZ")
LABEL = "is_signal_new"
SPLIT = "ttv"
KEY = "table"
"""The pandas key (HDF5 group) of the reference files."""

COLUMNS = {
    "truth_pt": ColumnSpec(r"Top quark $p_T$", "GeV", 100, 0.0, 1000.0,
                           description="top tagging: truth top pT (0: QCD)"),
    "truth_eta": ColumnSpec(r"Top quark $\eta$", "", 50, -5.0, 5.0, description="top tagging: truth top eta (0: QCD)"),
    "truth_phi": ColumnSpec(r"Top quark $\phi$", "", 50, -3.1416, 3.1416, description="top tagging: truth top phi"),
    "truth_mass": ColumnSpec("Top quark mass", "GeV", 100, 0.0, 250.0, description="top tagging: truth top mass"),
    "ttv": ColumnSpec("ttv", "", 3, 0.0, 3.0, kind="other", description="top tagging: 0 train, 1 test, 2 validation"),
}
"""The per-jet columns these sources add beyond the builder's fields and ``label``."""


class TopTaggingOptions(Options):
    """Section ``formats.toptagging``."""

    max_constituents: int | None = Field(
        None, ge=1, description="read at most the first N constituents of each jet (the jet is their sum); all if null"
    )


def jets_of_momenta(p4: np.ndarray) -> dict[str, Any]:
    """Jets of zero-padded constituent four-momenta ``p4[n_jets, n_slots, 4]`` (``E, PX, PY, PZ``; a strided
    view will do): the fields ``pt, eta, phi, mass`` (float64, of the sum of the entries with ``E > 0``) and
    ``constituents`` (those entries, in row order).  Only the kept entries are converted to float64."""
    keep = p4[:, :, 0] > 0
    offsets = np.zeros(len(p4) + 1, np.int64)
    np.cumsum(np.count_nonzero(keep, axis=1), out=offsets[1:])
    e, px, py, pz = (column.astype(np.float64) for column in gather_kept(p4, keep).T)
    jet = ptetaphim(*(segment_sums(a, offsets) for a in (px, py, pz, e)))
    parts = ak.contents.RecordArray([ak.contents.NumpyArray(v) for v in constituent_ptetaphim(px, py, pz, e)],
                                    ["pt", "eta", "phi", "mass"])
    constituents = ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), parts))
    return {"pt": jet[0], "eta": jet[1], "phi": jet[2], "mass": jet[3], "constituents": constituents}


def gather_kept(p: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``p[keep]`` of a ``[n, slots, 4]`` array; float32 records are moved as 16-byte items (bytes, not values)."""
    if p.dtype == np.float32 and p.strides[-1] == 4:
        return p.view(np.complex128)[..., 0][keep].view(np.float32).reshape(-1, 4)
    return p[keep]


def segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """The sums of ``values[offsets[i]:offsets[i + 1]]``, 0 for an empty segment."""
    filled = offsets[1:] > offsets[:-1]
    out = np.zeros(len(offsets) - 1)
    out[filled] = np.add.reduceat(values, offsets[:-1][filled]) if values.size else 0.0
    return out


def constituent_ptetaphim(px, py, pz, e) -> tuple[np.ndarray, ...]:
    """float32 ``pt, eta, phi, mass`` of float64 four-momenta: :func:`jetflow.physics.ptetaphim`'s formulas
    with ``pt = sqrt(px^2 + py^2)`` for ``hypot`` (the same float32 values), in place where it can."""
    pt2 = px * px + py * py
    mass = e * e - (pt2 + pz * pz)
    np.sqrt(np.maximum(mass, 0.0, out=mass), out=mass)
    pt = np.sqrt(pt2, out=pt2)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0))
    return tuple(v.astype(np.float32) for v in (pt, eta, np.arctan2(py, px), mass))


def n_slots(names, path: str) -> int:
    """How many constituent slots the columns hold: ``E_i, PX_i, PY_i, PZ_i`` for i = 0 .. n - 1."""
    names = set(names)
    n = 0
    while all(f"{p}_{n}" in names for p in MOMENTUM):
        n += 1
    if n == 0:
        raise InputError(f"file {path}: no top-tagging constituent columns (E_0, PX_0, PY_0, PZ_0 missing)")
    return n


def wanted_columns(names, path: str, opts: TopTaggingOptions) -> list[str]:
    """The columns a chunk needs out of ``names``; InputError naming the file and the missing ones."""
    n = n_slots(names, path)
    if opts.max_constituents is not None:
        n = min(n, opts.max_constituents)
    missing = [c for c in (LABEL,) if c not in set(names)]
    if missing:
        raise InputError(f"file {path}: top-tagging column(s) {', '.join(missing)} missing")
    optional = [c for c in (*TRUTH, SPLIT) if c in set(names)]
    return [f"{p}_{i}" for i in range(n) for p in MOMENTUM] + [LABEL, *optional]


def slots_of_columns(columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """``[n_jets, n, 4]`` (``E, PX, PY, PZ``) of the columns ``E_i, ...``, transposed in blocks of rows."""
    stacked = np.stack([np.asarray(columns[f"{p}_{i}"]) for i in range(n) for p in MOMENTUM])
    rows = stacked.shape[1]
    out = np.empty((rows, 4 * n), stacked.dtype)
    for r in range(0, rows, 1024):
        out[r: r + 1024] = stacked[:, r: r + 1024].T
    return out.reshape(rows, n, 4)


def jets_of_columns(columns: Mapping[str, np.ndarray], names: list[str], path: str, p4=None) -> ak.Array:
    """The chunk's jet records from its columns (1-D arrays, one entry per jet; ``names`` from
    :func:`wanted_columns`); ``p4``: their constituents' ``[n_jets, n, 4]`` when the caller has it."""
    n = sum(1 for c in names if c.startswith("E_"))
    fields = jets_of_momenta(slots_of_columns(columns, n) if p4 is None else p4)
    label = np.asarray(columns[LABEL])
    if label.size and not np.isin(label, (0, 1)).all():
        bad = label[~np.isin(label, (0, 1))][0]
        raise InputError(f"file {path}: column {LABEL} holds {bad!r}; expected 0 (QCD) or 1 (top)")
    fields["label"] = label.astype(np.int8)
    size = len(label)
    truth = [np.asarray(columns[c], dtype=np.float64) if c in columns else np.zeros(size) for c in TRUTH]
    t_pt, t_eta, t_phi, t_mass = ptetaphim(truth[1], truth[2], truth[3], truth[0])
    fields.update(truth_pt=t_pt, truth_eta=t_eta, truth_phi=t_phi, truth_mass=t_mass)
    fields[SPLIT] = np.asarray(columns[SPLIT]).astype(np.int8) if SPLIT in columns else np.zeros(size, np.int8)
    return ak.zip(fields, depth_limit=1)


def frame_rows(group) -> int:
    """The rows of a pandas fixed frame: its index ``axis1``'s length.  pandas writes an empty array as one
    placeholder element with a ``shape`` attribute, so an index with that attribute has no rows."""
    index = group["axis1"]
    return 0 if "shape" in index.attrs else int(index.shape[0])


def _block_rows(group, block: str, start: int, stop: int) -> np.ndarray:
    """Rows ``[start, stop)`` of a frame's value block (``[rows, its columns]``; none read when there are none)."""
    if stop > start:
        return group[block][start:stop]
    return np.zeros((0, len(group[block.replace("_values", "_items")])), group[block].dtype)


def pandas_blocks(group, path: str, key: str) -> dict[str, tuple[str, int]]:
    """``{column: (block dataset name, index in the block)}`` of a pandas fixed-format frame group."""
    if "axis0" not in group or "nblocks" not in group.attrs:
        raise InputError(f"file {path}: HDF5 key {key!r} is not a pandas DataFrame written with format='fixed'")
    where = {}
    for b in range(int(group.attrs["nblocks"])):
        items = group[f"block{b}_items"][()]
        for j, name in enumerate(items):
            where[name.decode() if isinstance(name, bytes) else str(name)] = (f"block{b}_values", j)
    return where


class TopTaggingHDF5Reader:
    """Reads the pandas HDF5 files (:mod:`jetflow_formats.toptagging`); ``tree`` is the pandas key."""

    def entries(self, path: str, tree: str) -> int:
        """The length of the frame's index (``<key>/axis1``: metadata only, nothing decompressed)."""
        with reading(path, "as HDF5"), open_hdf5(path) as f:
            return frame_rows(_frame_group(f, path, tree))

    def read(self, path: str, tree: str, start: int, stop: int, options: Any) -> ak.Array:
        """Rows ``[start, stop)`` of the blocks that hold the wanted columns, as jet records."""
        opts = options if options is not None else TopTaggingOptions()
        try:
            with open_hdf5(path) as f:
                group = _frame_group(f, path, tree)
                n_rows = frame_rows(group)
                if not 0 <= start <= stop <= n_rows:
                    raise InputError(f"file {path}: entries [{start}, {stop}) asked, the file has {n_rows}")
                try:
                    where = pandas_blocks(group, path, tree)
                    names = wanted_columns(list(where), path, opts)
                    blocks = {b: _block_rows(group, b, start, stop) for b in {where[c][0] for c in names}}
                except InputError:
                    raise
                except Exception as h5py_error:  # a filter h5py lacks (blosc): PyTables reads it
                    blocks, first_error = None, h5py_error
        except InputError:
            raise
        except Exception as exc:
            raise unreadable(path, at_entries(start, stop), exc) from exc
        if blocks is None:
            columns, names = self._pandas(path, tree, start, stop, opts, first_error)
        else:
            for b, values in blocks.items():
                if values.ndim != 2 or values.shape[0] != stop - start:
                    raise InputError(f"file {path}: HDF5 dataset {tree}/{b} gives shape {values.shape} for rows "
                                     f"[{start}, {stop}); expected [{stop - start}, n_columns]")
            columns = {c: blocks[where[c][0]][:, where[c][1]] for c in names}
            return jets_of_columns(columns, names, path, _interleaved(blocks, where, names))
        return jets_of_columns(columns, names, path)

    @staticmethod
    def _pandas(path: str, key: str, start: int, stop: int, opts: TopTaggingOptions, first: Exception):
        """The chunk through ``pandas.read_hdf(start=, stop=)`` (PyTables decodes its own filters)."""
        import pandas as pd

        try:
            frame = pd.read_hdf(path, key, start=start, stop=stop)
        except Exception as exc:
            raise unreadable(path, at_entries(start, stop), first) from exc
        names = wanted_columns(list(frame.columns), path, opts)
        return {c: frame[c].to_numpy() for c in names}, names


def _interleaved(blocks: Mapping[str, np.ndarray], where, names: list[str]) -> np.ndarray | None:
    """The ``[rows, n, 4]`` view of the block holding ``E_0, PX_0, PY_0, PZ_0, E_1, ...`` in order, or None."""
    n = sum(1 for c in names if c.startswith("E_"))
    block, first = where["E_0"]
    if any(where[f"{p}_{i}"] != (block, first + 4 * i + k) for i in range(n) for k, p in enumerate(MOMENTUM)):
        return None
    values = blocks[block]
    return values[:, first: first + 4 * n].reshape(len(values), n, 4)


def _frame_group(f, path: str, key: str):
    """The HDF5 group of a pandas fixed-format frame; InputError naming the file and the key otherwise."""
    if key not in f:
        raise InputError(f"file {path}: no HDF5 key {key!r} (keys: {', '.join(sorted(f.keys()))})")
    group = f[key]
    if not hasattr(group, "attrs") or "axis1" not in group or "nblocks" not in group.attrs:
        raise InputError(f"file {path}: HDF5 key {key!r} is not a pandas DataFrame written with format='fixed'")
    return group


class TopTaggingParquetReader:
    """Reads the Parquet conversion: the row groups that overlap a chunk, only the wanted columns."""

    def entries(self, path: str, tree: str) -> int:
        """``num_rows`` of the file's metadata."""
        with reading(path, "as Parquet"):
            return int(self._file(path).metadata.num_rows)

    @staticmethod
    def _file(path: str):
        import fsspec
        import pyarrow.parquet as pq

        return pq.ParquetFile(fsspec.open(path, "rb").open())

    def read(self, path: str, tree: str, start: int, stop: int, options: Any) -> ak.Array:
        """Rows ``[start, stop)``: the overlapping row groups read with the wanted columns, then sliced."""
        opts = options if options is not None else TopTaggingOptions()
        try:
            pf = self._file(path)
        except Exception as exc:
            raise unreadable(path, at_entries(start, stop), exc) from exc
        names = wanted_columns(pf.schema_arrow.names, path, opts)
        sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
        edges = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)])
        groups = [i for i in range(len(sizes)) if edges[i] < stop and edges[i + 1] > start]
        try:
            if groups:
                table = pf.read_row_groups(groups, columns=names)
                table = table.slice(start - int(edges[groups[0]]), stop - start)
            else:
                table = pf.schema_arrow.empty_table().select(names)
            columns = {c: table.column(c).to_numpy() for c in names}
        except Exception as exc:
            raise unreadable(path, at_entries(start, stop), exc) from exc
        return jets_of_columns(columns, names, path)


def _recognise_hdf5(view: FileView) -> bool:
    """An HDF5 file whose key ``table`` (or the dataset's ``tree``) is a pandas fixed frame with the columns
    ``E_0`` and ``is_signal_new``."""
    key = view.tree or KEY
    if key not in view.hdf5_keys:
        return False
    try:
        with open_hdf5(view.path) as f:
            names = set(pandas_blocks(f[key], view.path, key))
    except Exception:
        try:  # compressed with a filter h5py lacks: the column names through PyTables
            import pandas as pd

            names = set(pd.read_hdf(view.path, key, start=0, stop=0).columns)
        except Exception:
            return False
    return {"E_0", LABEL} <= names


def _recognise_parquet(view: FileView) -> bool:
    """A Parquet file with the columns ``E_0`` and ``is_signal_new``."""
    return {"E_0", LABEL} <= view.parquet_columns


def write_toptagging(path, jets: ak.Array, *, n_constituents: int = 200, format: Literal["hdf5", "parquet"] = "hdf5",
                     dtype: str = "float32") -> None:
    """Write a jet table in the top-tagging layout, atomically (:func:`jetflow.core.atomic.atomic_write`).

    ``jets`` needs ``constituents`` (jagged ``pt, eta, phi`` and optionally ``mass``, 0 if absent) and
    ``label`` (0 or 1, written as ``is_signal_new``); ``truth_pt, truth_eta, truth_phi, truth_mass`` (the
    truth four-vector, else zeros) and ``ttv`` (else 0) are used when present.  The leading
    ``n_constituents`` constituents by pT become ``E_i, PX_i, PY_i, PZ_i`` (zero-padded, ``dtype`` as the
    reference files' float32); ``ttv`` and ``is_signal_new`` are int64.  ``format="hdf5"`` writes
    ``DataFrame.to_hdf(key="table", format="fixed")``, ``"parquet"`` the same columns with pyarrow.
    """
    import pandas as pd

    if format not in ("hdf5", "parquet"):
        raise ValueError(f"write_toptagging: format must be 'hdf5' or 'parquet', got {format!r}")
    fields = set(jets.fields or ())
    if not {"constituents", "label"} <= fields:
        raise ValueError(f"write_toptagging: jets need the fields constituents and label, have {sorted(fields)}")
    label = ak.to_numpy(jets["label"]).astype(np.int64)
    if not np.isin(label, (0, 1)).all():
        raise ValueError(f"write_toptagging: label must be 0 or 1, got {label[~np.isin(label, (0, 1))][0]}")
    parts = jets["constituents"]
    parts = parts[ak.argsort(parts.pt, axis=1, ascending=False)][:, :n_constituents]

    def padded(field):
        if field not in parts.fields:
            return np.zeros((len(parts), n_constituents))
        return ak.to_numpy(ak.fill_none(ak.pad_none(parts[field], n_constituents, clip=True), 0.0)).astype(np.float64)

    valid = ak.to_numpy(ak.fill_none(ak.pad_none(ak.ones_like(parts.pt), n_constituents, clip=True), 0)) > 0
    momenta = pxpypze(padded("pt"), padded("eta"), padded("phi"), padded("mass"))
    px, py, pz, e = (np.where(valid, a, 0.0) for a in momenta)
    data = np.stack([e, px, py, pz], axis=2).reshape(len(parts), 4 * n_constituents).astype(dtype)
    names = [f"{p}_{i}" for i in range(n_constituents) for p in MOMENTUM]
    frame = pd.DataFrame(data, columns=names)
    if {"truth_pt", "truth_eta", "truth_phi", "truth_mass"} <= fields:
        t_px, t_py, t_pz, t_e = pxpypze(*(ak.to_numpy(jets[f]).astype(np.float64)
                                          for f in ("truth_pt", "truth_eta", "truth_phi", "truth_mass")))
    else:
        t_px = t_py = t_pz = t_e = np.zeros(len(parts))
    truth = pd.DataFrame(np.stack([t_e, t_px, t_py, t_pz], axis=1).astype(dtype), columns=list(TRUTH))
    ttv = ak.to_numpy(jets[SPLIT]).astype(np.int64) if SPLIT in fields else np.zeros(len(parts), np.int64)
    frame = pd.concat([frame, truth, pd.DataFrame({SPLIT: ttv, LABEL: label})], axis=1)
    with atomic_write(path, "top-tagging file") as tmp:
        if format == "hdf5":
            frame.to_hdf(tmp, key=KEY, format="fixed", mode="w")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)


FIELDS = {
    "E_i, PX_i, PY_i, PZ_i": "constituents (pt, eta, phi, mass; E > 0 only); the jet is their sum",
    "is_signal_new": "label (int8: 1 top, 0 QCD)",
    "truthE, truthPX, truthPY, truthPZ": "truth_pt, truth_eta, truth_phi, truth_mass",
    "ttv": "ttv (int8)",
}

TOPTAGGING = Source(
    name="toptagging",
    description="top-tagging reference dataset (arXiv:1902.09914): pandas HDF5, key 'table', one entry a jet",
    provides="jets",
    recognise=_recognise_hdf5,
    tree=KEY,
    section="toptagging",
    reader=TopTaggingHDF5Reader(),
    fields=FIELDS,
)

TOPTAGGING_PARQUET = Source(
    name="toptagging_parquet",
    description="top-tagging reference dataset converted to Parquet (same columns), one entry a jet",
    provides="jets",
    recognise=_recognise_parquet,
    tree="",
    section="toptagging",
    reader=TopTaggingParquetReader(),
    fields=FIELDS,
)
