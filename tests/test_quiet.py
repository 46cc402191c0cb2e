"""The console of a run is jetflow's own: TensorFlow's start-up logging stays off it unless asked for."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
import yaml

import jetflow
from jetflow.core.quiet import stderr_without_log_lines, verbose

from conftest import REPO

PRETRAINED = REPO / "plugins" / "jetflow_studies" / "pretrained"
NOISE = re.compile(r"oneDNN|cuda|absl|I0000|W0000|E0000|tensorflow/core|retracing", re.IGNORECASE)
"""What TensorFlow, absl and CUDA write (TensorFlow 2.21, a machine without a GPU)."""


def environment(**env) -> dict[str, str]:
    """This process's environment without the variables that set anyone's logging, plus ``env``."""
    unset = ("TF_CPP_MIN_LOG_LEVEL", "JETFLOW_VERBOSE", "JETFLOW_TRACE")
    return {**{k: v for k, v in os.environ.items() if k not in unset}, **env}


def run_cli(config: dict, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "jetflow", "run", str(path), "--out", str(tmp_path / "r.coffea")],
                          capture_output=True, text=True, env=environment(), timeout=300, check=False)


def scored_config(pfnano_file, executor: str, chunks: int) -> dict:
    """The real PFNano file (10 events) in ``chunks`` chunks, scored by the two networks jetflow ships."""
    return {
        "datasets": {"cms": {"files": [str(pfnano_file)], "label": "signal"}},
        "clustering": {"source": "pfnano", "min_pt": 150, "max_jets": None},
        "selection": {"windows": {"pt": [200, None]}},
        "weights": {"normalize": False},
        "inference": {"models": {
            "convnet": {"path": str(PRETRAINED / "convnet.keras"), "batch_size": 4},
            "lbn": {"path": str(PRETRAINED / "lbn.keras"), "input": "constituents", "batch_size": 4},
        }},
        "run": {"executor": executor, "workers": 2, "chunksize": -(-10 // chunks), "progress": False},
    }


def test_a_run_with_models_on_two_workers_prints_only_jetflows_summary(pfnano_file, tmp_path):
    done = run_cli(scored_config(pfnano_file, "futures", chunks=2), tmp_path)
    assert done.returncode == 0, done.stderr
    noise = [line for line in (done.stdout + done.stderr).splitlines() if NOISE.search(line)]
    assert not noise, noise
    result = jetflow.load(tmp_path / "r.coffea")
    assert {"score_convnet", "score_lbn"} <= set(result["cms"]["hists"])  # the workers did score the jets
    saved = f"saved {tmp_path / 'r.coffea'} (futures, {result.meta['wall_s']:.1f} s)"
    assert done.stdout == f"{result.summary()}\n\n{saved}\n"
    assert done.stderr == ""


IMPORT_TENSORFLOW = "from jetflow.core.quiet import quiet_libraries; quiet_libraries(); import keras; " \
                    "print(keras.ops.ones(2))"


@pytest.mark.parametrize("verbose_flag", [None, "1"])
def test_the_first_import_of_tensorflow_is_quiet_unless_jetflow_verbose(verbose_flag):
    environ = environment(JETFLOW_VERBOSE=verbose_flag) if verbose_flag else environment()
    done = subprocess.run([sys.executable, "-c", IMPORT_TENSORFLOW], capture_output=True, text=True, env=environ,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("tf.Tensor([1. 1.]")
    if verbose_flag:  # TensorFlow 2.21 on a machine without a GPU: absl's banner, oneDNN, CUDA
        assert any(NOISE.search(line) for line in done.stderr.splitlines()), done.stderr
    else:
        assert done.stderr == ""


def test_jetflow_trace_or_verbose_asks_for_the_libraries_logging(monkeypatch):
    for trace, verbose_flag, expected in [(None, None, False), ("1", None, True), ("0", None, False),
                                          (None, "1", True), (None, "0", False), ("0", "yes", True)]:
        for name, value in (("JETFLOW_TRACE", trace), ("JETFLOW_VERBOSE", verbose_flag)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        assert verbose() is expected, (trace, verbose_flag)


TF_LINES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1796216326.771793   22932 port.cc:153] oneDNN custom operations are on.\n"
    "E0000 00:00:1796216331.900588   22932 cuda_platform.cc:52] failed call to cuInit: INTERNAL\n"
    "W1203 09:15:02.123456    7 gpu_device.cc:2344] Cannot dlopen some GPU libraries.\n"
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the "
    "appropriate compiler flags.\n"
)
OTHER_LINES = (
    "/some/module.py:12: UserWarning: a warning of the library's Python code\n"
    "  warnings.warn(msg)\n"
    "jetflow: warning: something of jetflow's own\n"
    "I0000 is not a log line without its time and place\n"
)


def test_stderr_filter_drops_tensorflows_log_lines_and_keeps_the_rest(capfd):
    tf, other = TF_LINES.splitlines(keepends=True), OTHER_LINES.splitlines(keepends=True)
    with stderr_without_log_lines():
        for i in range(max(len(tf), len(other))):  # interleaved, and in writes of several lines
            os.write(2, "".join(tf[i:i + 1] + other[i:i + 1]).encode())
    assert capfd.readouterr().err == OTHER_LINES


def test_stderr_filter_gives_back_everything_when_the_import_fails(capfd):
    with pytest.raises(ImportError, match="no such library"), stderr_without_log_lines():
        os.write(2, (TF_LINES + OTHER_LINES).encode())
        raise ImportError("no such library")
    assert capfd.readouterr().err == TF_LINES + OTHER_LINES


def test_the_import_hook_filters_the_first_import_only_and_keeps_its_python_warnings(tmp_path, monkeypatch, capfd):
    """A stand-in for TensorFlow: a module that writes absl lines to fd 2 and warns while it is imported."""
    import importlib
    import logging

    from jetflow.core import quiet

    (tmp_path / "noisy_library.py").write_text(
        "import os, warnings\n"
        f"os.write(2, {TF_LINES.encode()!r})\n"
        "warnings.warn('deprecated, as the library itself says', DeprecationWarning)\n"
        "LOADED = __loader__\n"
    )
    for name in ("JETFLOW_VERBOSE", "JETFLOW_TRACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.setattr(quiet, "QUIETED", ("noisy_library",))
    monkeypatch.delitem(sys.modules, "noisy_library", raising=False)
    quiet.quiet_libraries()
    with pytest.warns(DeprecationWarning, match="as the library itself says"):
        module = importlib.import_module("noisy_library")
    assert capfd.readouterr().err == ""
    assert type(module.__loader__).__name__ == "SourceFileLoader" and module.LOADED is module.__loader__
    assert logging.getLogger("noisy_library").level == logging.ERROR
    with pytest.warns(DeprecationWarning):
        importlib.reload(module)  # not a first import: as it is
    assert capfd.readouterr().err == TF_LINES
    monkeypatch.delitem(sys.modules, "noisy_library")


def test_clustering_on_two_workers_prints_no_fastjet_banner(generated, tmp_path):
    """FastJet prints a 13-line banner in every process that first clusters; jetflow cites it in
    docs/references.md instead."""
    from conftest import generated_config

    done = run_cli(generated_config(generated, max_jets=1, chunksize=300, run={"executor": "futures", "workers": 2,
                                                                               "progress": False}), tmp_path)
    assert done.returncode == 0, done.stderr
    assert "FastJet" not in done.stdout + done.stderr
    result = jetflow.load(tmp_path / "r.coffea")
    assert result["q"]["cutflow"].counts["all"] > 0  # the workers did cluster
    assert done.stdout == f"{result.summary()}\n\nsaved {tmp_path / 'r.coffea'} (futures, {result.meta['wall_s']:.1f} s)\n"
