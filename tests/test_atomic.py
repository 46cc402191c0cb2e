"""Every file jetflow writes goes through one helper (jetflow.core.atomic): a full disk gives one line naming the
file, leaves nothing half-written and no temporary behind; `jetflow run` then keeps its checkpoint, and the same
command finishes once the result can be written."""

from __future__ import annotations

import ast
import errno
import re
from pathlib import Path
from types import SimpleNamespace

import hist
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from jetflow.core import atomic
from jetflow.core.errors import OutputError

from conftest import REPO, generated_config

FULL = "No space left on device"


def no_space(src, dst):
    """The rename of a full disk's write: the writer wrote its temporary, then the disk was full."""
    assert Path(src).exists()
    raise OSError(errno.ENOSPC, FULL)


@pytest.fixture
def disk_full(monkeypatch):
    """Every atomic write fails as on a full disk."""
    monkeypatch.setattr(atomic, "os", SimpleNamespace(replace=no_space))


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".part." in p.name)


def _result(tmp_path):
    from jetflow.running.results import Result, save

    path = tmp_path / "r.coffea"
    save(Result(output={"d": {}}), path)
    return path


def _export_shard(tmp_path):
    from jetflow.formats.export import write_shard

    path = tmp_path / "d__f-0123456789__0-3.parquet"
    write_shard(path, {"pt": np.arange(3.0), "label": np.ones(3, np.int8)})
    return path


def _root_file(tmp_path):
    from jetflow.frontends.root_export import export_root
    from jetflow.running.results import Result

    h = hist.Hist.new.Reg(4, 0, 1, name="x").Weight()
    h.fill([0.1, 0.5], weight=[0.5, 2.0])
    path = tmp_path / "r.root"
    export_root(Result(output={"d": {"hists": {"x": h}}}), path)
    return path


def _events_file(tmp_path):
    from jetflow.formats.schema import write_events

    path = tmp_path / "events.root"
    write_events(path, {"event": np.arange(3, dtype=np.uint64), "genWeight": np.ones(3, np.float32)})
    return path


def _shipped_copy(tmp_path):
    from jetflow.core.engine import local_copies

    content = f"# a plugin file of {tmp_path}\n".encode()  # new content: a new copy is written
    return Path(local_copies({str(tmp_path / "plugin.py"): content})[str(tmp_path / "plugin.py")])


def _sample_manifest(tmp_path):
    from jetflow_generation.pythia import _write_manifest

    path = tmp_path / "qcd_s1_manifest.json"
    _write_manifest(path, {"process": "qcd"}, [], [])
    return path


def _gan_checkpoint(tmp_path):
    from jetflow_gan.training import _atomically

    path = tmp_path / "generator.weights.h5"
    _atomically(path, lambda tmp: tmp.write_bytes(b"weights"), "GAN checkpoint")
    return path


WRITERS = {"result": _result, "export shard": _export_shard, "output": _root_file, "events file": _events_file,
           "shipped copy": _shipped_copy, "sample manifest": _sample_manifest, "GAN checkpoint": _gan_checkpoint}


@pytest.mark.parametrize("what", WRITERS)
def test_a_full_disk_is_one_error_naming_the_file_and_leaves_nothing(what, tmp_path, monkeypatch):
    write = WRITERS[what]
    target = write(tmp_path)  # a real write first: the file and its folder
    before = target.read_bytes()
    if what == "shipped copy":
        target.unlink()  # a copy already there is not written again
    with monkeypatch.context() as patch:
        patch.setattr(atomic, "os", SimpleNamespace(replace=no_space))
        with pytest.raises(OutputError, match=re.escape(f"{what} {target}: cannot be written ({FULL})")):
            write(tmp_path)
    assert leftovers(target.parent) == []
    if what != "shipped copy":
        assert target.read_bytes() == before  # the previous file is whole


def test_the_helper_passes_other_errors_through_and_cleans_up(tmp_path):
    target = tmp_path / "f.txt"
    with pytest.raises(KeyError):
        with atomic.atomic_write(target) as tmp:
            tmp.write_text("half")
            raise KeyError("a writer's own bug")
    assert not target.exists() and leftovers(tmp_path) == []
    atomic.write_text(target, "whole")
    assert target.read_text() == "whole" and leftovers(tmp_path) == []


def test_jetflow_run_on_a_full_disk_keeps_the_checkpoint_and_the_same_command_finishes(generated, tmp_path, disk_full,
                                                                                      monkeypatch):
    from jetflow.frontends.cli import cli

    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump(generated_config(generated, max_jets=2, chunksize=300)))
    out = tmp_path / "r.coffea"
    args = ["run", str(config), "--out", str(out), "--no-progress"]
    full = CliRunner().invoke(cli, args)
    assert full.exit_code == 2, full.output
    (line,) = [line for line in full.output.splitlines() if line.strip()]
    assert line == (f"jetflow: error: result {out}: cannot be written ({FULL}); every chunk is kept in "
                    f"{out}.checkpoint: once the result can be written, the same command finishes from there "
                    "without processing a chunk again")
    assert not out.exists() and (tmp_path / "r.coffea.checkpoint").is_dir() and leftovers(tmp_path) == []
    monkeypatch.undo()  # space freed
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "resuming from" in again.output and "4 of 4 chunks already done" in again.output
    assert out.is_file() and not (tmp_path / "r.coffea.checkpoint").exists()


def test_nothing_but_the_helper_renames_files_into_place():
    """One helper: no module renames a temporary itself (os.replace, os.rename, shutil.move, Path.rename)."""
    own = []
    for path in sorted([*(REPO / "jetflow").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]):
        if path == Path(atomic.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                base = node.func.value
                name = base.id if isinstance(base, ast.Name) else None
                path_replace = node.func.attr == "replace" and len(node.args) == 1  # str.replace takes two
                if (name, node.func.attr) in {("os", "replace"), ("os", "rename"), ("shutil", "move")} or \
                        node.func.attr == "rename" or (path_replace and name not in ("os", "dataclasses")):
                    own.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert own == []
