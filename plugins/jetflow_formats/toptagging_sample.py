"""Workflow step ``toptagging_write``: a run's per-jet export written as the top-tagging reference dataset.

The reference dataset (Kasieczka et al., arXiv:1902.09914, section 2; its files: :mod:`jetflow_formats.toptagging`)
holds anti-kt R = 0.8 jets with 550 < pT < 650 GeV and |eta| < 2, QCD jets as they come and top jets whose
parton-level top and its three decay quarks lie within Delta R < 0.8 of the axis, as ``train.h5`` (1.2M),
``val.h5`` (400k) and ``test.h5`` (400k jets, tops and QCD in equal numbers).  A jetflow run makes such jets
(workflow ``toptagging-sample``: ``jetflow generate --process ttbar`` and high-pT QCD, towers through the
detector model, ``clustering.truth`` for ``top_contained``) and exports them (``accumulators.export`` with
``constituents: 200``); this step turns the export into the three files:

* it keeps every background jet (``label`` 0) and the signal jets (``label`` 1) with ``top_contained == 1``;
* a jet's sample is a hash of its dataset, its input file's name (from the shard's name: neither the chunking
  nor the folder the samples lie in changes it) and its event's entry: ``fractions`` (train, val, test; 0.6,
  0.2, 0.2 as 1.2M / 400k / 400k) of the events, the jets of one event in one sample, ``ttv`` 0 train, 2 val,
  1 test as the reference;
* each file's jets, signal and background together, are in the order of a seeded hash of (dataset, file,
  entry, jet of the event): a reproducible shuffle, the same whatever the chunking of the run;
* ``balance: true`` keeps as many jets of each class per file, as the reference: those first in a second
  hash order of their own (so that the kept jets are still shuffled), the same whatever the chunking;
* ``E_i, PX_i, PY_i, PZ_i`` are the export's constituents as they are (float32, pT-ordered, zero-padded to
  ``n_constituents``), ``truthE ... truthPZ`` the jet's top (``top_pt/eta/phi/mass`` of the export) for
  signal jets and zeros for QCD, ``is_signal_new`` the label.

The files are pandas' fixed layout (``DataFrame.to_hdf(key="table", format="fixed")``, what
``pandas.read_hdf`` and jetflow's ``toptagging`` source read), written block by block with h5py into the
structure pandas makes for a one-row frame of the same columns: memory holds one export shard and the
index of the jets (~60 bytes a jet), never a whole file (2M jets x 804 float32 is 6.4 GB).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from pydantic import Field, model_validator

from jetflow import InputError, Options, StepContext, StepResult, WorkflowStep
from jetflow.core.atomic import atomic_write
from jetflow.physics import pxpypze

from jetflow_formats.toptagging import KEY, LABEL, MOMENTUM, SPLIT, TRUTH

FILES = (("train", 0), ("val", 2), ("test", 1))
"""The files, in the order of ``fractions``, and their ``ttv`` (the reference's 0 train, 1 test, 2 val)."""
TOP = ("top_pt", "top_eta", "top_phi", "top_mass")
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
_SHARD = re.compile(r"^(?P<dataset>.+)__(?P<file>.+)-[0-9a-f]{10}__\d+-\d+\.parquet$")


class TopTaggingWriteOptions(Options):
    """Options of the workflow step ``toptagging_write``."""

    export: str = Field(description="the run's export folder (accumulators.export.dir), relative to the workflow's")
    out: str = Field(description="folder of train.h5, val.h5, test.h5 (relative to the workflow's folder)")
    fractions: tuple[float, float, float] = Field((0.6, 0.2, 0.2), description="train, val, test shares of events")
    seed: int = Field(1, ge=0, description="seed of the shuffle (the split is a hash of the events alone)")
    n_constituents: int = Field(200, ge=1, description="constituents written per jet (zero-padded)")
    balance: bool = Field(False, description="as many top as QCD jets in every file (the first in shuffle order)")
    contained: str = Field("top_contained", description="the export column that says a top jet is contained")

    @model_validator(mode="after")
    def _fractions(self):
        if any(f < 0 for f in self.fractions) or abs(sum(self.fractions) - 1.0) > 1e-9:
            raise ValueError(f"toptagging_write.fractions: {list(self.fractions)} must be >= 0 and sum to 1 "
                             "(train, val, test), e.g. [0.6, 0.2, 0.2]")
        return self


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return x ^ (x >> np.uint64(31))


def _digest(*parts) -> np.uint64:
    return np.uint64(int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little"))


def _columns(path: str) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_schema(path).names


def _read(path: str, columns: list[str]) -> dict[str, np.ndarray]:
    from jetflow.formats.export import read

    return read([path], columns=columns)


def index_export(paths: list[str], opts: TopTaggingWriteOptions, folder: str) -> dict[str, np.ndarray]:
    """The kept jets of the export's shards ``paths``: ``shard, row, label, ttv`` and their shuffle ``order``
    (an int64 rank within its file), read from the small columns only."""
    need = ["label", "entry", "dataset", opts.contained]
    parts = []
    for i, path in enumerate(paths):
        names = _columns(path)
        missing = [c for c in (*need, "constituents") if c not in names]
        if missing:
            fix = {"constituents": "accumulators.export.constituents: 200",
                   opts.contained: "clustering.truth.enabled: true and the column in accumulators.export.columns"}
            raise InputError(f"export shard {path}: no column(s) {', '.join(missing)} (export folder {folder}); run "
                             f"with {'; '.join(fix.get(c, 'the column exported') for c in missing)}")
        cols = _read(path, need)
        label = cols["label"].astype(np.int64)
        if label.size and not np.isin(label, (0, 1)).all():
            raise InputError(f"export shard {path}: label {label[~np.isin(label, (0, 1))][0]}; the top-tagging "
                             "layout has two classes, 1 (top) and 0 (QCD)")
        dataset = cols["dataset"].astype(str)
        match = _SHARD.match(Path(path).name)
        file_id = match["file"] if match else Path(path).stem
        entry = cols["entry"].astype(np.int64)
        base = np.array([_digest(d, file_id) for d in np.unique(dataset)], np.uint64)
        event_key = _mix(base[np.unique(dataset, return_inverse=True)[1]] ^ entry.astype(np.uint64))
        rank = np.zeros(len(entry), np.int64)  # the jet's place among its event's jets in the shard
        by_event = np.argsort(entry, kind="stable")
        run_start = np.r_[True, np.diff(entry[by_event]) != 0] if len(entry) else np.zeros(0, bool)
        starts = np.flatnonzero(run_start)
        rank[by_event] = np.arange(len(entry)) - np.repeat(starts, np.diff(np.r_[starts, len(entry)]))
        u = (event_key >> np.uint64(11)).astype(np.float64) / 2.0**53
        edges = np.cumsum(opts.fractions)
        which = np.minimum(np.searchsorted(edges, u, side="right"), 2)
        keep = (label == 0) | (cols[opts.contained].astype(np.int64) == 1)
        shuffle = _mix(_mix(event_key ^ _digest("shuffle", opts.seed)) ^ rank.astype(np.uint64))
        parts.append({"shard": np.full(len(entry), i, np.int64), "row": np.arange(len(entry)), "label": label,
                      "which": which, "shuffle": shuffle, "tie": event_key, "rank": rank, "keep": keep})
    index = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    index["dropped"] = np.asarray(int(np.sum(~index["keep"])))
    kept = {k: v[index["keep"]] for k, v in index.items() if k not in ("keep", "dropped")}
    order = np.zeros(len(kept["row"]), np.int64)
    chosen = np.ones(len(order), bool)
    for which in range(3):
        members = np.flatnonzero(kept["which"] == which)
        sort = members[np.lexsort((kept["rank"][members], kept["tie"][members], kept["shuffle"][members]))]
        if opts.balance:  # the first n of each class in an order of its own (the kept ones stay shuffled)
            pick = members[np.argsort(_mix(kept["shuffle"][members] ^ _digest("balance")), kind="stable")]
            labels = kept["label"][pick]
            n = min(int(np.sum(labels == 0)), int(np.sum(labels == 1)))
            in_class = np.zeros(len(pick), np.int64)
            for c in (0, 1):
                in_class[labels == c] = np.arange(int(np.sum(labels == c)))
            chosen[pick[in_class >= n]] = False
            sort = sort[chosen[sort]]
        order[sort] = np.arange(len(sort))
    out = {k: v[chosen] for k, v in kept.items()}
    out["order"], out["dropped"] = order[chosen], index["dropped"]
    out["unbalanced"] = np.asarray(int(np.sum(~chosen)))
    return out


def copy_attributes(src, dst) -> None:
    """Every HDF5 attribute of the h5py object ``src`` onto ``dst`` with its own type and dataspace (PyTables'
    UTF-8, null-terminated strings and empty TITLEs stay what PyTables reads back as ``str``)."""
    import h5py

    for i in range(h5py.h5a.get_num_attrs(src.id)):
        attr = h5py.h5a.open(src.id, index=i)
        space = attr.get_space()
        kind = attr.get_type()
        new = h5py.h5a.create(dst.id, attr.get_name(), kind, space)
        if space.get_simple_extent_type() != h5py.h5s.NULL:  # the bytes as stored, in the file's own type
            buf = np.empty(attr.shape, dtype=attr.dtype)
            attr.read(buf, mtype=kind)
            new.write(buf, mtype=kind)


class FixedFrameWriter:
    """One pandas fixed-format frame (key ``table``), ``n`` rows of the top-tagging columns, written block by
    block: the structure (groups, datasets, PyTables' attributes) is that of the file pandas writes for a
    one-row frame of the same columns, the row-sized datasets made ``n`` rows long (``n = 0`` too: zero-row
    datasets, which pandas and jetflow's reader read as an empty frame, where pandas' own empty layout
    stores one placeholder row)."""

    def __init__(self, path: Path, n: int, n_constituents: int):
        import h5py
        import pandas as pd

        self.names = [f"{p}_{i}" for i in range(n_constituents) for p in MOMENTUM] + list(TRUTH)
        frame = pd.concat([pd.DataFrame(np.zeros((1, len(self.names)), np.float32), columns=self.names),
                           pd.DataFrame({SPLIT: np.zeros(1, np.int64), LABEL: np.zeros(1, np.int64)})], axis=1)
        with tempfile.TemporaryDirectory() as tmp:
            template = Path(tmp) / "template.h5"
            frame.to_hdf(template, key=KEY, format="fixed", mode="w")
            self.file = h5py.File(path, "w")
            with h5py.File(template, "r") as src:
                copy_attributes(src, self.file)
                group = self.file.create_group(KEY)
                copy_attributes(src[KEY], group)
                self.blocks = {}
                for name, node in src[KEY].items():
                    if name == "axis1" or name.endswith("_values"):
                        dst = group.create_dataset(name, shape=(n, *node.shape[1:]), dtype=node.dtype)
                        copy_attributes(node, dst)
                    else:
                        src.copy(node, group, name)
                for b in range(int(src[KEY].attrs["nblocks"])):
                    items = [v.decode() for v in src[KEY][f"block{b}_items"][()]]
                    self.blocks[f"block{b}_values"] = items
            group["axis1"][:] = np.arange(n, dtype=group["axis1"].dtype)
        self.group = group
        floats = {name: k for k, name in enumerate(self.names)}
        ints = {SPLIT: 0, LABEL: 1}
        self.take = {}
        for block, items in self.blocks.items():
            source = "f" if items[0] in floats else "i"
            where = np.array([(floats if source == "f" else ints)[c] for c in items])
            whole = len(where) == len(floats if source == "f" else ints) and (where == np.arange(len(where))).all()
            self.take[block] = (source, None if whole else where)

    def write(self, positions: np.ndarray, floats: np.ndarray, ints: np.ndarray) -> None:
        """Rows at ``positions`` (increasing): ``floats[k, 4 n + 4]`` (constituents then truth, float32) and
        ``ints[k, 2]`` (``ttv``, ``is_signal_new``)."""
        if not len(positions):
            return
        for block, (source, where) in self.take.items():
            values = floats if source == "f" else ints
            self.group[block][positions] = values if where is None else values[:, where]

    def close(self) -> None:
        self.file.close()


def _rows(cols: dict[str, np.ndarray], rows: np.ndarray, label: np.ndarray, ttv: int, n: int):
    """The float and int block rows of the shard's ``rows``."""
    parts = cols["constituents"][rows][:, :n]
    p4 = np.zeros((len(rows), n, 4), np.float32)
    p4[:, : parts.shape[1]] = parts
    truth = np.zeros((len(rows), 4), np.float32)
    if all(c in cols for c in TOP):
        px, py, pz, e = pxpypze(*(cols[c][rows].astype(np.float64) for c in TOP))
        truth = np.where((label == 1)[:, None], np.stack([e, px, py, pz], axis=1), 0.0).astype(np.float32)
    floats = np.concatenate([p4.reshape(len(rows), 4 * n), truth], axis=1)
    ints = np.stack([np.full(len(rows), ttv, np.int64), label.astype(np.int64)], axis=1)
    return floats, ints


def write_sample(folder, out, opts: TopTaggingWriteOptions) -> dict:
    """Write ``train.h5, val.h5, test.h5`` into ``out`` from the export ``folder``; returns the counts."""
    from jetflow.formats.export import shards

    paths = shards(folder)
    index = index_export(paths, opts, str(folder))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = {name: {"signal": int(np.sum((index["which"] == w) & (index["label"] == 1))),
                     "background": int(np.sum((index["which"] == w) & (index["label"] == 0)))}
              for w, (name, _) in enumerate(FILES)}
    with contextlib.ExitStack() as stack:
        writers = []
        for w, (name, _) in enumerate(FILES):
            tmp = stack.enter_context(atomic_write(out / f"{name}.h5", "top-tagging file"))
            writer = FixedFrameWriter(tmp, sum(counts[name].values()), opts.n_constituents)
            stack.callback(writer.close)
            writers.append(writer)
        for i, path in enumerate(paths):
            mine = np.flatnonzero(index["shard"] == i)
            if not len(mine):
                continue
            names = _columns(path)
            cols = _read(path, ["constituents", *[c for c in TOP if c in names]])
            for w, (_, ttv) in enumerate(FILES):
                sel = mine[index["which"][mine] == w]
                sel = sel[np.argsort(index["order"][sel])]
                floats, ints = _rows(cols, index["row"][sel], index["label"][sel], ttv, opts.n_constituents)
                writers[w].write(index["order"][sel], floats, ints)
    return {"jets": counts, "signal_not_contained": int(index["dropped"]),
            "left_out_by_balance": int(index["unbalanced"]), "shards": len(paths),
            "files": {name: str(out / f"{name}.h5") for name, _ in FILES}}


def toptagging_write_step(options: TopTaggingWriteOptions, ctx: StepContext) -> StepResult:
    """Write the export as the top-tagging dataset's ``train.h5``, ``val.h5``, ``test.h5``."""
    t0 = time.perf_counter()
    ctx.say(f"writing the top-tagging files of {options.export} into {options.out}")
    record = write_sample(ctx.resolve(options.export), ctx.resolve(options.out), options)
    record["seconds"] = round(time.perf_counter() - t0, 3)
    jets = record["jets"]
    table = "\n".join(f"| `{name}.h5` | {ttv} | {jets[name]['signal']} | {jets[name]['background']} |"
                      for name, ttv in FILES)
    text = (f"The export `{options.export}` written in the top-tagging reference dataset's layout into "
            f"`{options.out}` ({options.n_constituents} constituents a jet); "
            f"{record['signal_not_contained']} signal jet(s) without the top and its quarks inside left out"
            + (f", {record['left_out_by_balance']} to balance the classes" if options.balance else "")
            + ".\n\n| file | ttv | top jets | QCD jets |\n|---|---|---|---|\n" + table)
    return StepResult(record, text)


STEPS = {"toptagging_write": WorkflowStep(TopTaggingWriteOptions, toptagging_write_step,
                                          "an export as the top-tagging dataset's train.h5, val.h5, test.h5")}
"""What the plugin's ``jetflow_workflow_steps`` returns (with the other steps it has)."""
