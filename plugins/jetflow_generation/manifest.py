"""The manifest of a generated sample (``<stem>_manifest.json``): which files an earlier run made, so that the
same sample again, or a larger one with the same seed, generates only what is missing
(:func:`jetflow_generation.pythia.generate`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from jetflow.core.atomic import write_text

from jetflow_generation.hepmc_out import hepmc_path

if TYPE_CHECKING:
    from jetflow_generation.pythia import FileJob


def _reusable(old: dict, wanted: dict, jobs: list[FileJob]) -> tuple[list[dict], list[FileJob]]:
    """Split ``jobs`` into files an earlier run already made and files still to generate.

    A file is reused when the earlier manifest has the same settings, seed and file size,
    and lists a file of that name (in this directory) with the same event count and
    Pythia seed: its content is then the same.  So a larger sample extends a smaller one
    made with the same seed, and a sample directory can be copied elsewhere.  A job that asks for a HepMC3
    copy (``job.hepmc``) reuses a file only where that copy is there too.
    """
    if any(old.get(k) != wanted[k] for k in ("settings", "seed", "events_per_file")):
        return [], jobs
    done = {Path(rec["path"]).name: rec for rec in old.get("files", [])}
    kept, todo = [], []
    for job in jobs:
        rec = done.get(Path(job.path).name)
        if (rec is not None and rec["events"] == job.events and rec["seed"] == job.seed and Path(job.path).is_file()
                and (not job.hepmc or hepmc_path(job.path).is_file())):
            kept.append({**rec, "path": job.path, "reused": True})
        else:
            todo.append(job)
    return kept, todo


def _write_manifest(path: Path, wanted: dict, records: list[dict], others: list[dict]) -> None:
    """The sample's manifest, written atomically: this run's files, and those of an earlier, larger run with
    the same settings that this one did not ask for (so that a later run can still reuse them)."""
    import json

    files = sorted([*records, *others], key=lambda r: r["path"])
    write_text(path, json.dumps({**wanted, "files": files}, indent=2), "sample manifest")
