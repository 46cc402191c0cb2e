"""Configuration: validation with key paths, defaults, plugin sections, files."""

from __future__ import annotations

import pytest
import yaml

from jetflow.core.engine import load_config
from jetflow.core.errors import ConfigError


def base(tmp_path):
    f = tmp_path / "a.root"
    f.write_bytes(b"")
    return {"datasets": {"sig": {"files": ["a.root"], "label": "signal"}}}


def test_defaults_filled(tmp_path):
    cfg = load_config(base(tmp_path), base_dir=tmp_path)
    assert cfg.run.executor == "iterative"
    assert cfg.section("clustering").radius == 1.0
    assert cfg.section("clustering").trimming.f_cut == 0.05
    assert cfg.section("selection").windows == {"pt": (250.0, 300.0), "mass": (65.0, 95.0)}
    assert cfg.datasets["sig"].tree is None  # the input format's own (Events, Delphes, table, ...)
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
    raw["clustering"] = {"trimming": {"fcut": 0.1}}
    with pytest.raises(ConfigError) as info:
        load_config(raw, base_dir=tmp_path)
    msg = str(info.value)
    assert "clustering.trimming.fcut: unknown key" in msg
    assert "Did you mean 'f_cut'" in msg


def test_wrong_type_named_with_path(tmp_path):
    raw = base(tmp_path)
    raw["clustering"] = {"radius": "wide"}
    raw["datasets"]["sig"]["label"] = "sgnal"
    with pytest.raises(ConfigError) as info:
        load_config(raw, base_dir=tmp_path)
    msg = str(info.value)
    assert "clustering.radius:" in msg and "'wide'" in msg
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


def test_former_section_names_are_told_the_new_one(tmp_path):
    raw = base(tmp_path)
    raw.update(jets={"radius": 0.8}, models={"models": {}}, outputs={}, observables={})
    with pytest.raises(ConfigError) as info:
        load_config(raw, base_dir=tmp_path)
    msg = str(info.value)
    for old, new in (("jets", "clustering"), ("models", "inference"), ("outputs", "accumulators"),
                     ("observables", "substructure")):
        assert f"{old}: unknown section. Did you mean {new!r}? ({old!r} was renamed)" in msg


def test_every_builtin_section_is_named_after_its_plugin():
    from jetflow.core.calls import collect_options
    from jetflow.core.manager import BUILTIN_PLUGINS, builtin_name, get_plugin_manager

    pm = get_plugin_manager(entry_points=False)
    declared = collect_options(pm)
    assert all(section == plugin for section, (plugin, _) in declared.items())
    # every built-in with options has its section, named as `jetflow plugins` and --disable name it
    with_options = {builtin_name(m) for m in BUILTIN_PLUGINS} - {"generation", "gan", "studies"}  # no config section
    assert set(declared) == with_options


def test_config_is_immutable_and_overrides_make_a_validated_copy(tmp_path):
    import dataclasses

    from pydantic import ValidationError

    cfg = load_config(base(tmp_path), base_dir=tmp_path)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.run = None
    with pytest.raises(TypeError):
        cfg.sections["selection"] = None
    with pytest.raises(ValidationError):
        cfg.section("clustering").radius = 0.4
    fast = cfg.with_run(executor="futures", workers=3)
    assert (fast.run.executor, fast.run.workers) == ("futures", 3)
    assert (cfg.run.executor, cfg.run.workers) == ("iterative", 2)
    assert fast.section("clustering") is cfg.section("clustering")
    with pytest.raises(ConfigError, match=r"run.executor: .*'spark'"):
        cfg.with_run(executor="spark")
    # plain data that validates back to the same config
    again = load_config(cfg.to_dict(), base_dir=tmp_path)
    assert again.to_dict() == cfg.to_dict()
