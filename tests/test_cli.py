"""The command line, as a user runs it."""

from __future__ import annotations

import subprocess
import sys

import yaml

import jetflow

from conftest import PLUGINS


def jf(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "jetflow.frontends.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd
    )


def test_plugins_lists_builtins_hooks_options():
    res = jf("plugins")
    assert res.returncode == 0, res.stderr
    for name in ("clustering", "selection", "accumulators"):
        assert f"\n{name}  (" in "\n" + res.stdout
    assert "clustering.radius = 1.0" in res.stdout
    assert "selection.windows = {'pt': (250.0, 300.0), 'mass': (65.0, 95.0)}" in res.stdout
    assert "hooks: jetflow_build_jets" in res.stdout


def test_plugins_with_user_plugin_and_disable():
    res = jf("plugins", "--plugin", PLUGINS / "constituent_count.py", "--disable", "selection")
    assert res.returncode == 0, res.stderr
    assert "constituent_count" in res.stdout and "n_constituents" in res.stdout
    assert "\nselection  (" not in res.stdout


def test_run_with_user_plugin_file_then_load(pfnano_config, tmp_path):
    # a plugin in the user's own file, named in the YAML: no edit to jetflow
    cfg = dict(pfnano_config, plugins={"load": [str(PLUGINS / "constituent_count.py")]})
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = tmp_path / "result.coffea"
    res = jf("run", path, "--executor", "iterative", "--chunksize", 5, "--out", out)
    assert res.returncode == 0, res.stderr
    assert "saved" in res.stdout and "selection:pt" in res.stdout
    result = jetflow.load(out)
    assert "n_constituents" in result["cms_a"]["hists"]
    assert result.meta["chunksize"] == 5 and result.config["clustering"]["source"] == "pfnano"
    info = jf("info", out)
    assert info.returncode == 0 and "cms_a" in info.stdout


def test_run_bad_config_exit_code_and_message(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("datasets:\n  s:\n    files: [x.root]\n    label: signal\nclustering:\n  radius: wide\n")
    res = jf("run", path, "--out", tmp_path / "o.coffea")
    assert res.returncode == 2
    assert "clustering.radius" in res.stderr and "'wide'" in res.stderr
    assert "Traceback" not in res.stderr


def test_run_refuses_an_output_it_cannot_write_before_any_work(pfnano_config, tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(pfnano_config))
    res = jf("run", path, "--out", "/nonexistent-dir/r.coffea")
    assert res.returncode == 2, res.stdout
    assert res.stderr.strip().splitlines() == [
        "jetflow: error: output /nonexistent-dir/r.coffea: the folder /nonexistent-dir does not exist; "
        "create it first or choose another place"
    ]
    assert not res.stdout  # nothing was processed
    res = jf("run", path, "--out", tmp_path)
    assert res.returncode == 2 and "is a directory" in res.stderr


def test_load_rejects_non_result(tmp_path):
    import pytest
    from coffea.util import save

    p = tmp_path / "other.coffea"
    save({"a": 1}, str(p))
    with pytest.raises(jetflow.InputError, match="is not a jetflow result"):
        jetflow.load(p)
    with pytest.raises(jetflow.InputError, match="does not exist"):
        jetflow.load(tmp_path / "nope.coffea")


def test_example_plugin_with_its_own_section(pfnano_config):
    from conftest import REPO

    cfg = dict(pfnano_config, my_plugin={"min_constituent_pt": 5.0})
    res = jetflow.run(cfg, plugins=[str(REPO / "examples" / "my_plugin.py")])
    hists = res["cms_a"]["hists"]
    assert {"n_hard_constituents", "leading_fraction"} <= set(hists)
    assert hists["leading_fraction"].sum(flow=True).value == res["cms_a"]["cutflow"].sumw["selection:pt"]
    # its section is validated like any other
    import pytest

    with pytest.raises(jetflow.ConfigError, match="my_plugin.min_pt: unknown key"):
        jetflow.run(dict(pfnano_config, my_plugin={"min_pt": 5.0}), plugins=[str(REPO / "examples" / "my_plugin.py")])


def test_commands_reading_an_export_name_a_folder_without_shards_in_one_line(tmp_path):
    """`jetflow train` (in memory and streamed) and `jetflow train-gan` on a folder that holds no export shards:
    one line naming the folder, no traceback."""
    empty = tmp_path / "not_an_export"
    empty.mkdir()
    (empty / "notes.txt").write_text("no shards here")
    for args in (("train", "--model", "convnet"), ("train", "--model", "convnet", "--stream"),
                 ("train", "--model", "forest", "--features", "pt"), ("train-gan",)):
        out = tmp_path / ("m.onnx" if "forest" in args else "m.keras")
        res = jf(*args, "--data", empty, "--out", out)
        assert res.returncode == 2, (args, res.stderr)
        assert "Traceback" not in res.stderr, (args, res.stderr)
        assert f"jetflow: error: the folder {empty} holds no export shards" in res.stderr, (args, res.stderr)
