"""The input of a run: the coffea fileset, the input format, and the sum of generator weights per dataset.

Every input file is opened once before any chunk is processed, so that an
unreadable file stops the run at once with its name (or, with
``run.skip_bad_files``, is recorded and left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jetflow.core.engine import Engine
from jetflow.core.errors import ConfigError, InputError


def check_file(filename: str, tree: str) -> tuple[int, str]:
    """Entries in ``tree`` of a file and the file's ROOT UUID (hex); raises :class:`InputError` naming the file
    and what is wrong."""
    import uproot

    _check_exists(filename)
    try:
        with uproot.open(filename) as f:
            if tree not in f:
                raise InputError(f"file {filename}: no tree {tree!r} (it has: {', '.join(f.keys(cycle=False)) or 'nothing'})")
            return int(f[tree].num_entries), f.file.fUUID.hex()
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"file {filename}: cannot be read as ROOT ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class RunInput:
    """What a run reads: the coffea fileset, its input format, and for formats read by a
    :class:`~jetflow.core.sources.ChunkReader` every file's entries and identity.

    Attributes
    ----------
    fileset
        ``{dataset: {"files": {path: tree}, "metadata": {label, xsec, ...}}}`` (coffea's layout).
    source
        The name of the input format every file is in (:mod:`jetflow.core.sources`).
    files
        For a reader's format: ``{(dataset, path): (entries, 16-byte identity)}``; empty for ROOT trees,
        whose entries and UUIDs coffea reads.
    """

    fileset: dict[str, dict[str, Any]]
    source: str
    files: dict[tuple[str, str], tuple[int, bytes]] = field(default_factory=dict)


def build_inputs(engine: Engine, skipped: list | None = None) -> RunInput:
    """The input of a run: every file of every dataset, its input format (``run.schema``, or recognised by the
    sources when ``auto``), opened once before any chunk.

    An unreadable file, or one of no known format, stops the run with an error naming it, or, with
    ``run.skip_bad_files``, is appended to ``skipped`` as ``(file, 0, -1, reason)`` and left out.  A dataset
    whose files are in two formats, or datasets in different formats, are refused naming both.  Two files of a
    dataset with one identity (ROOT UUID, or a reader's content identity: a copy beside its original, one file
    reached through two paths or globs) stop the run naming both, whatever ``skip_bad_files`` says: the dataset
    would count their events twice.  One file in two datasets is each dataset's own (a sample read as signal and
    as background in a closure test, say).
    """
    cfg = engine.config
    fileset: dict[str, dict[str, Any]] = {}
    formats: dict[str, tuple[str, str]] = {}  # dataset -> (format, its first file)
    reader_files: dict[tuple[str, str], tuple[int, bytes]] = {}
    for name, ds in cfg.datasets.items():
        files: dict[str, str] = {}
        first_with_uuid: dict[bytes, str] = {}
        for f in cfg.files(name):
            try:
                fmt = cfg.run.schema_ if cfg.run.schema_ != "auto" else recognise(f, engine, ds.tree)
                _, source = engine.source(fmt)
                tree = ds.tree or source.tree
                entries, identity = open_input(f, tree, source)
            except InputError as exc:
                if not cfg.run.skip_bad_files or skipped is None:
                    raise
                skipped.append((f, 0, -1, str(exc)))
                continue
            if name in formats and formats[name][0] != fmt:
                other_fmt, other = formats[name]
                raise InputError(f"dataset {name!r} mixes input formats: {other} is {other_fmt}, {f} is {fmt}; "
                                 "give each format its own dataset (and run)")
            formats.setdefault(name, (fmt, f))
            if identity in first_with_uuid:
                raise InputError(_same_file(name, first_with_uuid[identity], f, identity.hex(), source.is_root))
            first_with_uuid[identity] = f
            files[f] = tree
            if not source.is_root:
                reader_files[name, f] = (entries, identity)
        if not files:
            raise InputError(f"dataset {name!r}: no readable file left (see the skipped files)")
        fileset[name] = {"files": files, "metadata": {"label": cfg.label(name), "xsec": ds.xsec, **ds.metadata}}
    kinds = {fmt for fmt, _ in formats.values()}
    if len(kinds) > 1:
        raise ConfigError(
            "run.schema: datasets are in different formats ("
            + ", ".join(f"{ds}: {fmt}" for ds, (fmt, _) in formats.items())
            + "); run them separately or set run.schema"
        )
    return RunInput(fileset, kinds.pop(), reader_files)


def recognise(filename: str, engine: Engine, tree: str | None = None) -> str:
    """The input format of a file (of a dataset whose ``tree`` is ``tree``, ``None``: not given): the one source
    whose ``recognise`` claims it; an :class:`InputError` naming the file when none or several do.  A recogniser
    that raises is a plugin's bug: a :class:`PluginError` naming the plugin, the source and the file."""
    from jetflow.core.errors import PluginError
    from jetflow.core.sources import FileView

    _check_exists(filename)
    view = FileView(filename, tree)
    claims = []
    for fmt, decl in engine.sources.items():
        try:
            claimed = decl.value.recognise(view)
        except Exception as exc:
            raise PluginError(f"plugin {decl.plugin!r}, hook jetflow_sources: the recogniser of source {fmt!r} "
                              f"raised on file {filename} ({type(exc).__name__}: {exc}); it must return False "
                              "for a file it does not read") from exc
        if claimed:
            claims.append(fmt)
    if len(claims) == 1:
        return claims[0]
    if not claims:
        if view.root_error:
            raise InputError(f"file {filename}: cannot be read as ROOT ({view.root_error})")
        if view.head.startswith(b"root") and tree is not None and tree not in view.root_trees:
            raise InputError(f"file {filename}: no tree {tree!r} (datasets' tree; it has: "
                             f"{', '.join(sorted(view.root_trees)) or 'no TTree'})")
        if view.suffix == ".root" and not view.head.startswith(b"root"):
            why = view.read_error or f"no ROOT header: it begins {view.head[:24]!r}"
            raise InputError(f"file {filename}: cannot be read as ROOT ({why})")
        known = ", ".join(engine.sources) or "none (no plugin provides one)"
        raise InputError(f"file {filename}: of no known input format ({_what_it_is(view)}; formats: {known}); "
                         "set run.schema to read it as one of them, or check the file")
    raise InputError(f"file {filename} looks like several input formats ({', '.join(claims)}): set run.schema")


def _what_it_is(view) -> str:
    """A few words on what a file that no source recognised is."""
    if view.root_trees:
        return "a ROOT file with tree(s) " + ", ".join(sorted(view.root_trees))
    if view.hdf5_keys:
        return "an HDF5 file with key(s) " + ", ".join(sorted(view.hdf5_keys))
    if view.parquet_columns:
        return f"a Parquet file with {len(view.parquet_columns)} columns"
    if view.read_error:
        return f"unreadable: {view.read_error}"
    if not view.head:
        return "empty"
    if view.head.startswith(b"root"):
        return "a ROOT file without a TTree"
    return f"it begins {view.head[:24]!r}"


def open_input(filename: str, tree: str, source) -> tuple[int, bytes]:
    """Entries and identity of one input file of a format (ROOT UUID, or the reader's); an :class:`InputError`
    naming the file and what is wrong."""
    from jetflow.core.sources import content_identity

    if source.is_root:
        entries, uuid = check_file(filename, tree)
        return entries, bytes.fromhex(uuid)
    _check_exists(filename)
    reader = source.reader
    entries = _call_reader(source, filename, "entries", lambda: reader.entries(filename, tree))
    identity = (_call_reader(source, filename, "identity", lambda: reader.identity(filename))
                if hasattr(reader, "identity") else content_identity(filename))
    if isinstance(entries, bool) or not isinstance(entries, (int, np.integer)) or entries < 0:
        raise _reader_bug(source, filename, "entries", TypeError(f"returned {entries!r}, not a count >= 0"))
    if not isinstance(identity, (bytes, bytearray)) or len(identity) != 16:
        raise _reader_bug(source, filename, "identity", TypeError(f"returned {identity!r}, not 16 bytes"))
    return int(entries), bytes(identity)


READER_BUGS = (AttributeError, NameError, TypeError, ImportError, AssertionError, NotImplementedError)
"""Exceptions of a reader that say its code is wrong, not the file: a :class:`PluginError`, never skipped."""


def _call_reader(source, filename: str, method: str, call):
    """``call()``, one of a reader's methods: a bug of its code is the plugin's error, anything else the file's."""
    try:
        return call()
    except InputError:
        raise
    except READER_BUGS as exc:
        raise _reader_bug(source, filename, method, exc) from exc
    except Exception as exc:
        raise InputError(f"file {filename}: cannot be read as {source.name} ({type(exc).__name__}: {exc})") from exc


def _reader_bug(source, filename: str, method: str, exc: Exception):
    from jetflow.core.errors import PluginError

    return PluginError(f"source {source.name!r} ({type(source.reader).__name__}.{method}) on file {filename}: "
                       f"{type(exc).__name__}: {exc} (a bug of the format's plugin, not of the file)")


def _check_exists(filename: str) -> None:
    """A local file that is not there is an :class:`InputError` (URLs are their library's to open)."""
    if "://" not in filename and not Path(filename).is_file():
        raise InputError(f"file {filename} does not exist")


def plan_reader_chunks(run_input: RunInput, chunksize: int, maxchunks: int | None) -> list:
    """coffea work items of the files a reader reads: each file cut into chunks of about ``chunksize`` entries, as
    coffea cuts a ROOT tree (``round(n / chunksize)`` chunks of equal size), at most ``maxchunks`` per dataset."""
    import math

    from coffea.processor.executor import WorkItem

    items = []
    for dataset, entry in run_input.fileset.items():
        planned = 0
        for filename, tree in entry["files"].items():
            n, identity = run_input.files[dataset, filename]
            pieces = max(round(n / chunksize), 1)
            size = max(math.ceil(n / pieces), 1)
            for start in range(0, n, size):
                if maxchunks is not None and planned >= maxchunks:
                    break
                items.append(WorkItem(dataset, filename, tree, start, min(n, start + size), identity,
                                      dict(entry["metadata"])))
                planned += 1
    return items


def _same_file(dataset: str, a: str, b: str, uuid: str, root: bool = True) -> str:
    """The error for two inputs of a dataset that are one file (one ROOT UUID, or one content identity)."""
    if a == b:
        return (f"dataset {dataset!r}: the file {a} is listed twice (two patterns match it): "
                "its events would be counted twice; list it once")
    same = f"the same ROOT file (UUID {uuid})" if root else f"the same file (identical content, identity {uuid})"
    return (f"dataset {dataset!r}: the files {a} and {b} are {same}: a copy, complete "
            "or interrupted, or one file reached by two paths; its events would be counted twice. Keep one of them")


def generator_weight_sums(items, run_input: RunInput, engine: Engine) -> dict[str, float]:
    """Sum of ``genWeight`` over exactly the entries that will be processed, per dataset.

    Reads only that branch (the event count where a file has no ``genWeight``); a reader's format, its
    ``event_weights`` (the entry count where it has none).  Every chunk carries it as the metadata ``sumw_gen``, so
    that a plugin normalising to the cross-section stays right under ``maxchunks``.
    """
    by_file: dict[tuple[str, str], list] = {}
    for item in items:
        by_file.setdefault((item.filename, item.treename), []).append(item)
    _, source = engine.source(run_input.source)
    out: dict[str, float] = {}
    for (filename, treename), chunks in by_file.items():
        weights = (_root_weights(filename, treename) if source.is_root else
                   _reader_weights(filename, treename, source, engine.source_options(source.name),
                                   run_input.files[chunks[0].dataset, filename][0]))
        for item in chunks:
            n = item.entrystop - item.entrystart
            w = float(weights[item.entrystart : item.entrystop].astype("f8").sum()) if weights is not None else float(n)
            out[item.dataset] = out.get(item.dataset, 0.0) + w
    return out


def _root_weights(filename: str, treename: str):
    """The ``genWeight`` branch of a ROOT tree (``None`` if it has none)."""
    import uproot

    try:
        with uproot.open(filename) as f:
            tree = f[treename]
            return tree["genWeight"].array(library="np") if "genWeight" in tree else None
    except Exception as exc:
        raise InputError(f"file {filename}, branch genWeight: cannot be read ({type(exc).__name__}: {exc})") from exc


def _reader_weights(filename: str, treename: str, source, options, entries: int):
    """A reader's weights of every entry of a file (``None`` if the reader gives none), one per entry."""
    if not hasattr(source.reader, "event_weights"):
        return None
    weights = _call_reader(source, filename, "event_weights",
                           lambda: source.reader.event_weights(filename, treename, options))
    if weights is None:
        return None
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (entries,):
        raise _reader_bug(source, filename, "event_weights", ValueError(
            f"returned {weights.shape[0] if weights.ndim == 1 else weights.shape} weights for {entries} entries"))
    return weights
