"""Bad input: each case a clear error naming the culprit, or a recorded skip.

Also covered elsewhere: a plugin that raises and a column of the wrong length
(test_processor), config errors (test_config), a misspelt hook (test_plugins),
a model file that is not Keras and a Lambda layer refused by safe mode
(test_models).
"""

from __future__ import annotations

import glob

import awkward as ak
import numpy as np
import pytest

import jetflow
from jetflow.core.errors import InputError, JetflowError

from conftest import rewrite


def source(generated):
    return sorted(glob.glob(str(generated["qcd"])))[0]


def config(*files, **run):
    return {
        "datasets": {"qcd": {"files": [str(f) for f in files], "label": "background"}},
        "clustering": {"source": "towers"},
        "selection": {"windows": {}},
        "run": {"progress": False, "chunksize": 100, **run},
    }


def test_truncated_and_corrupt_files(generated, tmp_path):
    good, other = sorted(glob.glob(str(generated["qcd"])))
    truncated = tmp_path / "truncated.root"  # another file's interrupted copy (a copy of `good` is refused: below)
    data = open(other, "rb").read()
    truncated.write_bytes(data[: len(data) // 2])
    corrupt = tmp_path / "corrupt.root"
    corrupt.write_bytes(b"not a ROOT file at all" * 100)
    for bad in (truncated, corrupt):
        with pytest.raises(InputError, match=str(bad.name)):
            jetflow.run(config(good, bad))
    # with --skip-bad-files the run goes on and says what it left out and why
    res = jetflow.run(config(good, truncated, corrupt), skip_bad_files=True)
    skipped = res.meta["skipped"]
    assert {s[0] for s in skipped} == {str(truncated), str(corrupt)}
    # the corrupt file does not open: skipped whole; the truncated one opens, its lost chunks are skipped
    assert [s[1:3] for s in skipped if s[0] == str(corrupt)] == [[0, -1]]
    reason = next(s[3] for s in skipped if s[0] == str(corrupt))
    assert "cannot be read as ROOT (no ROOT header: it begins b'not a ROOT" in reason
    lost = [s for s in skipped if s[0] == str(truncated)]
    assert lost and all(s[2] > s[1] and "OSError" in s[3] for s in lost)
    kept = 300 + 300 - sum(s[2] - s[1] for s in lost)
    assert res["qcd"]["events"].events == kept  # the good file whole, and what the truncated one still had
    assert f"skipped ({len(skipped)})" in res.summary()


@pytest.mark.parametrize("executor", ["iterative", "futures", "dask"])
def test_a_copy_beside_its_original_is_refused_naming_both(generated, tmp_path, executor):
    """An interrupted copy opens (its header is whole) and has the original's ROOT UUID: run beside the original it
    would be counted twice or served from the original's checkpointed chunks. Refused before any chunk, in either
    order, with or without --skip-bad-files; a complete copy or one file listed twice alike. (One file in two datasets
    is each dataset's own: test_executors reads the PFNano file as signal and as background.)"""
    good = source(generated)
    data = open(good, "rb").read()
    partial = tmp_path / "partial_copy.root"
    partial.write_bytes(data[: len(data) * 3 // 4])
    complete = tmp_path / "complete_copy.root"
    complete.write_bytes(data)
    for files in ((good, partial), (partial, good), (good, complete)):
        for skip in (False, True):
            with pytest.raises(InputError, match="same ROOT file") as err:
                jetflow.run(config(*files), executor=executor, workers=1, skip_bad_files=skip,
                            out=tmp_path / "r.coffea")
            assert str(files[0]) in str(err.value) and str(files[1]) in str(err.value)
    with pytest.raises(InputError, match="listed twice"):
        jetflow.run(config(good, good), executor=executor, workers=1)
    assert not (tmp_path / "r.coffea.checkpoint").exists()  # refused before any chunk


def test_missing_branch_names_file_and_branch(generated, tmp_path):
    bad = rewrite(source(generated), tmp_path / "nocharge.root", drop=("Particle_charge",))
    with pytest.raises(JetflowError, match=r"nocharge.root.*missing branch\(es\) Particle_charge"):
        jetflow.run(config(bad))


def test_empty_file_and_events_without_particles(generated, tmp_path):
    empty = rewrite(source(generated), tmp_path / "empty.root", entries=0)
    def strip(branches):
        p = branches["Particle"]
        keep = np.arange(len(p)) % 3 != 0  # every third event has no particle at all
        branches["Particle"] = p[ak.unflatten(np.repeat(keep, ak.to_numpy(ak.num(p))), ak.num(p))]
        return branches
    holes = rewrite(source(generated), tmp_path / "holes.root", change=strip)
    res = jetflow.run(config(empty, holes))
    assert res["qcd"]["events"].events == 300  # the empty file adds nothing and breaks nothing
    assert res["qcd"]["cutflow"].counts["all"] > 0
    only_empty = config(empty)
    with pytest.raises(JetflowError, match="no events"):
        jetflow.run(only_empty)


@pytest.mark.parametrize("field,value,message", [
    ("pt", np.nan, r"branch Particle_pt: 1 value\(s\) non-finite"),
    ("eta", np.inf, r"branch Particle_eta: 1 value\(s\) non-finite"),
    ("phi", 4.0, r"branch Particle_phi: 1 value\(s\) outside \(-pi, pi\]"),
])
def test_bad_values_named_or_skipped(generated, tmp_path, field, value, message):
    def poison(branches):
        p = branches["Particle"]
        flat = ak.to_numpy(ak.flatten(p[field])).copy()
        flat[ak.to_numpy(ak.num(p))[:150].sum() + 2] = value  # a particle of entry 150
        branches["Particle"] = ak.with_field(p, ak.unflatten(flat, ak.num(p)), field)
        return branches
    bad = rewrite(source(generated), tmp_path / f"bad_{field}.root", change=poison)
    with pytest.raises(InputError, match=message + r".*first at entry 150"):
        jetflow.run(config(bad))
    res = jetflow.run(config(bad), skip_bad_files=True)
    (record,) = res.meta["skipped"]
    assert record[0] == str(bad) and record[1] <= 150 < record[2] and "Particle_" + field in record[3]
    # every other chunk was processed
    assert res["qcd"]["events"].events == 300 - (record[2] - record[1])


def test_plugin_bug_is_never_skipped(generated, tmp_path):
    plugin = tmp_path / "buggy.py"
    plugin.write_text("from jetflow import hookimpl\n@hookimpl\ndef jetflow_observables(jets):\n    return 1 / 0\n")
    cfg = config(source(generated))
    cfg["plugins"] = {"load": [str(plugin)]}
    with pytest.raises(JetflowError, match="plugin 'buggy', hook jetflow_observables.*ZeroDivisionError"):
        jetflow.run(cfg, skip_bad_files=True)


def test_skip_bad_files_reaches_dask_workers(generated, tmp_path):
    """The option given to jetflow.run (not in the YAML) must reach worker processes that rebuild the config."""
    def poison(branches):
        p = branches["Particle"]
        flat = ak.to_numpy(ak.flatten(p["pt"])).copy()
        flat[5] = np.nan
        branches["Particle"] = ak.with_field(p, ak.unflatten(flat, ak.num(p)), "pt")
        return branches
    bad = rewrite(source(generated), tmp_path / "bad_dask.root", change=poison)
    res = jetflow.run(config(bad), executor="dask", workers=1, skip_bad_files=True)
    assert len(res.meta["skipped"]) == 1 and res["qcd"]["events"].events == 200
