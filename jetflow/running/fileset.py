"""The input of a run: the coffea fileset, the schema, and the sum of generator weights per dataset.

Every input file is opened once before any chunk is processed, so that an
unreadable file stops the run at once with its name (or, with
``run.skip_bad_files``, is recorded and left out).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jetflow.core.config import Config
from jetflow.core.errors import ConfigError, InputError


def check_file(filename: str, tree: str) -> tuple[int, str]:
    """Entries in ``tree`` of a file and the file's ROOT UUID (hex); raises :class:`InputError` naming the file
    and what is wrong."""
    import uproot

    if "://" not in filename and not Path(filename).is_file():
        raise InputError(f"file {filename} does not exist")
    try:
        with uproot.open(filename) as f:
            if tree not in f:
                raise InputError(f"file {filename}: no tree {tree!r} (it has: {', '.join(f.keys(cycle=False)) or 'nothing'})")
            return int(f[tree].num_entries), f.file.fUUID.hex()
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"file {filename}: cannot be read as ROOT ({type(exc).__name__}: {exc})") from exc


def build_fileset(cfg: Config, skipped: list | None = None) -> dict[str, dict[str, Any]]:
    """The coffea fileset of a configuration: ``{dataset: {files: {path: tree}, metadata}}``.

    Every file is opened once first.  An unreadable file stops the run with an
    error naming it, or, with ``run.skip_bad_files``, is appended to
    ``skipped`` as ``(file, 0, -1, reason)`` and left out.  Two files of a
    dataset with one ROOT UUID (a copy beside its original, complete or not;
    one file reached through two paths or globs) stop the run naming both,
    whatever ``skip_bad_files`` says: the dataset would count their events
    twice.  One file in two datasets is each dataset's own (a sample read as
    signal and as background in a closure test, say).
    """
    fileset = {}
    for name, ds in cfg.datasets.items():
        files = {}
        first_with_uuid: dict[str, str] = {}
        for f in cfg.files(name):
            try:
                _, uuid = check_file(f, ds.tree)
            except InputError as exc:
                if not cfg.run.skip_bad_files or skipped is None:
                    raise
                skipped.append((f, 0, -1, str(exc)))
                continue
            if uuid in first_with_uuid:
                raise InputError(_same_file(name, first_with_uuid[uuid], f, uuid))
            first_with_uuid[uuid] = f
            files[f] = ds.tree
        if not files:
            raise InputError(f"dataset {name!r}: no readable file left (see the skipped files)")
        fileset[name] = {"files": files, "metadata": {"label": cfg.label(name), "xsec": ds.xsec, **ds.metadata}}
    return fileset


def _same_file(dataset: str, a: str, b: str, uuid: str) -> str:
    """The error for two inputs of a dataset that are one ROOT file."""
    if a == b:
        return (f"dataset {dataset!r}: the file {a} is listed twice (two patterns match it): "
                "its events would be counted twice; list it once")
    return (f"dataset {dataset!r}: the files {a} and {b} are the same ROOT file (UUID {uuid}): a copy, complete "
            "or interrupted, or one file reached by two paths; its events would be counted twice. Keep one of them")


def resolve_schema(cfg: Config, fileset: dict[str, dict[str, Any]]):
    """The NanoEvents schema class for the run (detected from each dataset's first file if ``auto``)."""
    from jetflow.formats.schema import SCHEMAS, detect_schema

    name = cfg.run.schema_
    if name != "auto":
        return SCHEMAS[name]
    found = {}
    for ds, entry in fileset.items():
        first, tree = next(iter(entry["files"].items()))
        found[ds] = detect_schema(first, tree)
    kinds = set(found.values())
    if len(kinds) > 1:
        raise ConfigError(
            "run.schema: datasets are in different formats ("
            + ", ".join(f"{ds}: {k}" for ds, k in found.items())
            + "); run them separately or set run.schema"
        )
    return SCHEMAS[kinds.pop()]


def generator_weight_sums(items) -> dict[str, float]:
    """Sum of ``genWeight`` over exactly the entries that will be processed, per dataset.

    Reads only that branch (the event count where a file has no ``genWeight``).
    Every chunk carries it as the metadata ``sumw_gen``, so that a plugin
    normalising to the cross-section stays right under ``maxchunks``.
    """
    import uproot

    by_file: dict[tuple[str, str], list] = {}
    for item in items:
        by_file.setdefault((item.filename, item.treename), []).append(item)
    out: dict[str, float] = {}
    for (filename, treename), chunks in by_file.items():
        try:
            with uproot.open(filename) as f:
                tree = f[treename]
                weights = tree["genWeight"].array(library="np") if "genWeight" in tree else None
        except Exception as exc:
            raise InputError(f"file {filename}, branch genWeight: cannot be read ({type(exc).__name__}: {exc})") from exc
        for item in chunks:
            n = item.entrystop - item.entrystart
            w = float(weights[item.entrystart : item.entrystop].astype("f8").sum()) if weights is not None else float(n)
            out[item.dataset] = out.get(item.dataset, 0.0) + w
    return out
