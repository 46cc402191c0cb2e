"""Long runs: a killed or stopped ``jetflow run`` resumes from its checkpoint to the result of a clean run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import jetflow
from test_executors import assert_same, snapshot

from conftest import PLUGINS, SHARED

CHUNK_LOG = '''"""Logs every chunk it sees (dataset, entries) and makes it take a while."""
import os, time
from jetflow import hookimpl

@hookimpl
def jetflow_observables(jets, ctx):
    with open(os.environ["CHUNK_LOG"], "a") as f:
        f.write(f"{ctx.dataset} {ctx.entrystart} {ctx.entrystop}\\n")
    time.sleep(float(os.environ.get("CHUNK_SLEEP", "0")))
    return None
'''


@pytest.fixture
def long_run(pfnano_config, pfnano_file, tmp_path, monkeypatch):
    """A run of 6 chunks (two datasets of 10 PFNano events, chunks of 4, 4 and 2) with a plugin that logs each chunk it
    processes.  (Opening the PFNano tree, 1,800 branches, takes 2 s per chunk.)"""
    (tmp_path / "chunk_log.py").write_text(CHUNK_LOG)
    cfg = dict(pfnano_config)
    cfg["datasets"] = {
        "cms_a": {"files": [str(pfnano_file)], "label": "signal"},
        "cms_b": {"files": [str(pfnano_file)], "label": "background"},
    }
    cfg["plugins"] = {"load": [str(PLUGINS / "constituent_count.py"), str(tmp_path / "chunk_log.py")]}
    cfg["run"] = dict(cfg["run"], chunksize=3)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("CHUNK_LOG", str(tmp_path / "chunks.log"))
    return path


def chunks_logged(tmp_path: Path) -> list[str]:
    log = tmp_path / "chunks.log"
    return log.read_text().splitlines() if log.exists() else []


def start(config: Path, out: Path, *extra: str, sleep: float) -> subprocess.Popen:
    """``jetflow run`` in its own process group, as a batch job would run it."""
    env = dict(os.environ, CHUNK_SLEEP=str(sleep))
    return subprocess.Popen(
        [sys.executable, "-m", "jetflow", "run", str(config), "--out", str(out), "--no-progress", *extra],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def wait_for_checkpoints(folder: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(list(folder.rglob("*.coffea"))) >= n:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {n} chunks were kept: {proc.communicate()}")
        time.sleep(0.1)
    raise AssertionError(f"fewer than {n} checkpoints in {folder} after {timeout} s")


def test_a_run_killed_whole_resumes_to_the_clean_result_processing_only_the_missing_chunks(long_run, tmp_path):
    clean = jetflow.run(long_run, checkpoint=False)
    assert len(chunks_logged(tmp_path)) == 6
    (tmp_path / "chunks.log").unlink()

    out = tmp_path / "result.coffea"
    folder = tmp_path / "result.coffea.checkpoint"
    proc = start(long_run, out, "--executor", "futures", "--workers", "2", sleep=0.5)
    wait_for_checkpoints(folder, 2, proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job: client and pool workers, no clean-up of any kind
    proc.wait()
    assert not out.exists()
    kept = {p.stem for p in folder.rglob("*.coffea")}
    assert 2 <= len(kept) < 6
    first = chunks_logged(tmp_path)
    (tmp_path / "chunks.log").unlink()

    done = subprocess.run([sys.executable, "-m", "jetflow", "run", str(long_run), "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, env=dict(os.environ, CHUNK_SLEEP="0"))
    assert done.returncode == 0, done.stderr
    assert f"{len(kept)} of 6 chunks already done" in done.stdout
    second = chunks_logged(tmp_path)
    assert len(second) == 6 - len(kept)  # only the missing chunks were processed again
    assert len(first) >= len(kept)
    assert not folder.exists()  # removed once the result is saved
    resumed = jetflow.load(out)
    assert_same(snapshot(clean), snapshot(resumed))
    assert resumed["cms_a"]["events"].chunks == clean["cms_a"]["events"].chunks == 3


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stopped_run_leaves_no_output_says_how_to_resume_and_resumes(long_run, tmp_path, sig):
    out = tmp_path / "result.coffea"
    folder = tmp_path / "result.coffea.checkpoint"
    proc = start(long_run, out, sleep=0.5)  # iterative: one chunk at a time
    wait_for_checkpoints(folder, 2, proc)
    # Ctrl-C in a terminal reaches the whole process group; a batch system's SIGTERM reaches the job
    os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    name = signal.Signals(sig).name
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"jetflow: stopped by {name}: "), stderr
    assert "of 6 chunks finished and kept in" in lines[-1] and "Run the same command again to resume" in lines[-1]
    assert "Traceback" not in stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".result")] == []  # no half-written output
    kept = len(list(folder.rglob("*.coffea")))
    assert f"{kept} of 6 chunks finished" in lines[-1]

    resumed = jetflow.run(long_run, out=out)
    assert resumed["cms_a"]["events"].chunks == 3 and resumed["cms_b"]["events"].chunks == 3
    assert not folder.exists()


def test_a_checkpoint_of_another_configuration_or_input_is_refused(long_run, pfnano_file, tmp_path, monkeypatch):
    folder = tmp_path / "kept"
    cfg = yaml.safe_load(long_run.read_text())
    cfg["plugins"]["load"].append(_failing_plugin(tmp_path))
    data = tmp_path / "input.root"
    shutil.copy(pfnano_file, data)
    base = dict(cfg, datasets={"cms_a": {"files": [str(data)], "label": "signal"}})
    # a chunk that fails leaves the chunks finished before it in the checkpoint, and no output
    monkeypatch.setenv("FAIL_AT_ENTRY", "8")
    with pytest.raises(jetflow.PluginCallError, match="chunk 8 is bad"):
        jetflow.run(base, checkpoint=folder, out=tmp_path / "r.coffea")
    assert len(list(folder.rglob("*.coffea"))) == 2 and not (tmp_path / "r.coffea").exists()
    monkeypatch.delenv("FAIL_AT_ENTRY")

    with pytest.raises(jetflow.ConfigError, match=r"belongs to a different run \(selection.windows.pt: \[200.0, None\] "
                                                  r"-> \[250.0, None\]\): .*--restart"):
        jetflow.run(dict(base, selection={"windows": {"pt": [250, None]}}), checkpoint=folder)

    shutil.copy(SHARED / "data" / "nano_dy.root", data)  # the same path, another file
    with pytest.raises(jetflow.ConfigError, match=r"input cms_a:.*input.root changed \(identity [-0-9a-f]+ -> "):
        jetflow.run(base, checkpoint=folder)
    shutil.copy(pfnano_file, data)  # a copy is the same file (ROOT's UUID is in the content)

    # the executor, the workers and progress bars are not part of what a result is: resuming with others is fine
    (tmp_path / "chunks.log").unlink()
    resumed = jetflow.run(base, checkpoint=folder, executor="futures", workers=2)
    assert resumed["cms_a"]["events"].chunks == 3
    assert len(chunks_logged(tmp_path)) == 1  # the 2 kept chunks were not processed again


def _failing_plugin(tmp_path: Path) -> str:
    path = tmp_path / "fails_late.py"
    path.write_text(
        "import os\n"
        "from jetflow import hookimpl\n\n"
        "@hookimpl\n"
        "def jetflow_accumulate(jets, ctx):\n"
        "    if str(ctx.entrystart) == os.environ.get('FAIL_AT_ENTRY'):\n"
        "        raise ValueError(f'chunk {ctx.entrystart} is bad')\n"
        "    return None\n")
    return str(path)


def test_a_folder_that_is_not_a_checkpoint_is_never_written_into_or_removed(long_run, tmp_path):
    folder = tmp_path / "my_analysis"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    with pytest.raises(jetflow.OutputError, match=r"my_analysis: the folder exists and is not a jetflow checkpoint"):
        jetflow.run(long_run, checkpoint=folder)
    from jetflow.running.checkpoint import ChunkCheckpoints

    with pytest.raises(jetflow.OutputError, match="is not a jetflow checkpoint"):
        ChunkCheckpoints(str(folder)).remove()  # what --restart does
    assert (folder / "notes.txt").read_text() == "precious"


def test_a_chunk_is_never_served_for_another_file_with_the_same_uuid(tmp_path):
    """Checkpoints are named by the file's path as well as its ROOT UUID: a copy's chunk (same UUID, same entries)
    is processed, not loaded from the original's."""
    from jetflow.running.checkpoint import ChunkCheckpoints

    checkpoints = ChunkCheckpoints(str(tmp_path / "ckpt"))
    chunk = {"dataset": "qcd", "treename": "Events", "entrystart": 0, "entrystop": 300,
             "fileuuid": "fad1409a-ee49-11f1-ac05-02fc00000001"}
    checkpoints.save({"out": "the original's output"}, {**chunk, "filename": "/data/original.root"}, None)
    assert checkpoints.load({**chunk, "filename": "/data/original.root"}, None) == {"out": "the original's output"}
    assert checkpoints.load({**chunk, "filename": "/scratch/copy.root"}, None) is None


def test_a_checkpoint_of_an_earlier_layout_is_refused_not_silently_ignored(tmp_path):
    """Chunk files were named by the file's UUID alone (layout 1): such a folder is refused with the reason, not
    taken as a checkpoint none of whose chunks is ever found."""
    from jetflow.core.errors import ConfigError
    from jetflow.running.checkpoint import LAYOUT, ChunkCheckpoints, differences

    old = {"config": {}, "plugins": [], "files": {}}  # run.json of layout 1 had no layout key
    new = {**old, "layout": LAYOUT}
    assert differences(new, new) == []
    (why,) = differences(old, new)
    assert "layout 1 -> 2" in why
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps(old))
    with pytest.raises(ConfigError, match="layout 1 -> 2"):
        ChunkCheckpoints(str(folder)).begin(new)
