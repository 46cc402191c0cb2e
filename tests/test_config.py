"""Configuration: validation with key paths, defaults, plugin sections, files."""

from __future__ import annotations

import pytest
import yaml

from jetflow.config import load_config
from jetflow.errors import ConfigError


def base(tmp_path):
    f = tmp_path / "a.root"
    f.write_bytes(b"")
    return {"datasets": {"sig": {"files": ["a.root"], "label": "signal"}}}


def test_defaults_filled(tmp_path):
    cfg = load_config(base(tmp_path), base_dir=tmp_path)
    assert cfg.run.executor == "iterative"
    assert cfg.section("jets").radius == 1.0
    assert cfg.section("jets").trimming.f_cut == 0.05
    assert cfg.section("selection").windows == {"pt": (250.0, 300.0), "mass": (65.0, 95.0)}
    assert cfg.datasets["sig"].tree == "Events"
    assert cfg.label("sig") == 1
    assert cfg.files("sig") == [str(tmp_path / "a.root")]


def test_yaml_file_paths_relative_to_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x_1.root").write_bytes(b"")
    (tmp_path / "sub" / "x_2.root").write_bytes(b"")
    cfg_path = tmp_path / "sub" / "study.yaml"
    cfg_path.write_text(yaml.safe_dump({"datasets": {"bkg": {"files": ["x_*.root"], "label": "background"}}}))
    cfg = load_config(cfg_path)
    assert [p.rsplit("/", 1)[1] for p in cfg.files("bkg")] == ["x_1.root", "x_2.root"]
    assert cfg.label("bkg") == 0


def test_unknown_key_named_with_path_and_hint(tmp_path):
    raw = base(tmp_path)
    raw["jets"] = {"trimming": {"fcut": 0.1}}
    with pytest.raises(ConfigError) as info:
        load_config(raw, base_dir=tmp_path)
    msg = str(info.value)
    assert "jets.trimming.fcut: unknown key" in msg
    assert "Did you mean 'f_cut'" in msg


def test_wrong_type_named_with_path(tmp_path):
    raw = base(tmp_path)
    raw["jets"] = {"radius": "wide"}
    raw["datasets"]["sig"]["label"] = "sgnal"
    with pytest.raises(ConfigError) as info:
        load_config(raw, base_dir=tmp_path)
    msg = str(info.value)
    assert "jets.radius:" in msg and "'wide'" in msg
    assert "datasets.sig.label:" in msg and "'sgnal'" in msg


def test_unknown_section_and_dataset_key(tmp_path):
    raw = base(tmp_path)
    raw["selections"] = {}
    raw["datasets"]["sig"]["xsection"] = 3.0
    with pytest.raises(ConfigError) as info:
        load_config(raw, base_dir=tmp_path)
    msg = str(info.value)
    assert "selections: unknown section. Did you mean 'selection'" in msg
    assert "datasets.sig.xsection: unknown key. Did you mean 'xsec'" in msg


def test_section_of_disabled_plugin_is_rejected(tmp_path):
    raw = base(tmp_path)
    raw["selection"] = {"windows": {}}
    with pytest.raises(ConfigError, match="selection: unknown section"):
        load_config(raw, base_dir=tmp_path, disable=["selection"])


def test_missing_datasets_and_bad_run(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config({"run": {"executor": "spark", "chunksize": 0}}, base_dir=tmp_path)
    msg = str(info.value)
    assert "datasets: required" in msg
    assert "run.executor" in msg and "'spark'" in msg
    assert "run.chunksize" in msg


def test_file_pattern_matching_nothing(tmp_path):
    raw = base(tmp_path)
    raw["datasets"]["sig"]["files"] = ["missing_*.root"]
    cfg = load_config(raw, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"datasets.sig.files\[0\]: no file matches 'missing_\*.root'"):
        cfg.files("sig")


def test_bad_yaml_names_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("datasets: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_config(p)


def test_selection_window_order(tmp_path):
    raw = base(tmp_path)
    raw["selection"] = {"windows": {"pt": [300, 250]}}
    with pytest.raises(ConfigError, match="selection.windows: .*low < high"):
        load_config(raw, base_dir=tmp_path)
