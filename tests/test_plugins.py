"""The plugin manager: built-ins, entry points, extra plugins, disabling, validation, tracing."""

from __future__ import annotations

import textwrap

import pytest

import jetflow
from jetflow.core.calls import collect_columns, collect_options, describe, plugin_order
from jetflow.core.errors import PluginError
from jetflow.core.manager import BUILTIN_PLUGINS, get_plugin_manager, plugin_origin

BUILTINS = {"formats", "generation", "clustering", "weights", "selection", "images", "substructure", "inference",
            "accumulators", "gan", "studies"}


def names(pm):
    return {name for name, plugin in pm.list_name_plugin() if plugin is not None}


def test_builtins_are_listed_once_and_registered_by_name():
    pm = get_plugin_manager()
    assert names(pm) >= BUILTINS
    assert {m.removeprefix("jetflow_") for m in BUILTIN_PLUGINS} == BUILTINS
    assert all(plugin_origin(pm, name) == "built in" for name in BUILTINS)
    # in data-flow order, as `jetflow plugins` lists them
    assert [n for n, _ in pm.list_name_plugin() if n in BUILTINS] == [m.removeprefix("jetflow_") for m in BUILTIN_PLUGINS]


def test_third_party_entry_point_is_registered_by_its_name(tmp_path, monkeypatch):
    import sys

    (tmp_path / "thirdparty_jf.py").write_text("from jetflow import hookimpl\n@hookimpl\ndef jetflow_observables(jets):\n    return None\n")
    dist = tmp_path / "thirdparty_jf-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-jf\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[jetflow]\nnsub = thirdparty_jf\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = get_plugin_manager()
    assert "nsub" in names(pm) and plugin_origin(pm, "nsub") == "entry point of thirdparty-jf"
    assert "nsub" in names(get_plugin_manager(builtins=False))
    assert "nsub" not in names(get_plugin_manager(disable=["nsub"]))
    assert sys.modules["thirdparty_jf"] is pm.get_plugin("nsub")


def test_without_builtins_and_entry_points_the_manager_is_empty():
    assert names(get_plugin_manager(builtins=False, entry_points=False)) == set()


def test_disable_by_name():
    pm = get_plugin_manager(disable=["selection"])
    assert "selection" not in names(pm)
    assert pm.is_blocked("selection")
    assert "selection" not in collect_options(pm)
    assert not pm.hook.jetflow_select.get_hookimpls()


def test_disable_unknown_name_is_an_error():
    with pytest.raises(PluginError, match=r"cannot disable 'selction'.*Known plugins: .*selection"):
        get_plugin_manager(disable=["selction"])


def _write(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return path


def test_misspelt_hook_names_plugin_and_hook(tmp_path):
    path = _write(
        tmp_path,
        "typo_plugin",
        """
        from jetflow import hookimpl

        @hookimpl
        def jetflow_obsevables(jets, ctx):
            return {}
        """,
    )
    with pytest.raises(PluginError) as info:
        get_plugin_manager([str(path)])
    msg = str(info.value)
    assert "typo_plugin" in msg
    assert "jetflow_obsevables" in msg
    assert "Did you mean 'jetflow_observables'" in msg


def test_misspelt_argument_names_plugin_and_hook(tmp_path):
    path = _write(
        tmp_path,
        "badarg_plugin",
        """
        from jetflow import hookimpl

        @hookimpl
        def jetflow_observables(jet, ctx):
            return {}
        """,
    )
    with pytest.raises(PluginError) as info:
        get_plugin_manager([str(path)])
    assert "badarg_plugin" in str(info.value)
    assert "jetflow_observables" in str(info.value)
    assert "jet" in str(info.value)


def test_extra_plugin_by_path_module_and_object(tmp_path):
    path = _write(
        tmp_path,
        "extra_one",
        """
        from jetflow import hookimpl

        @hookimpl
        def jetflow_observables(jets):
            return None
        """,
    )

    class Extra:
        name = "extra_object"

        @jetflow.hookimpl
        def jetflow_accumulate(self, jets):
            return None

    pm = get_plugin_manager([str(path), "jetflow_selection", Extra()])
    assert {"extra_one", "extra_object"} <= names(pm)
    # a module given again by name is not registered twice
    assert pm.hook.jetflow_select.get_hookimpls().__len__() == 1
    # extra plugins run before the built-ins (pluggy: last registered first)
    order = plugin_order(pm, "jetflow_accumulate")
    assert order[0] == "extra_object" and "accumulators" in order


def test_missing_plugin_file_and_module():
    with pytest.raises(PluginError, match="does not exist"):
        get_plugin_manager(["/nonexistent/plugin.py"])
    with pytest.raises(PluginError, match="cannot import plugin module 'no_such_module_xyz'"):
        get_plugin_manager(["no_such_module_xyz"])


def test_options_must_be_a_model_named_by_the_plugin(tmp_path):
    path = _write(
        tmp_path,
        "greedy",
        """
        from pydantic import BaseModel
        from jetflow import hookimpl

        class Opts(BaseModel):
            x: int = 1

        @hookimpl
        def jetflow_options():
            return {"clustering": Opts}
        """,
    )
    pm = get_plugin_manager([str(path)])
    with pytest.raises(PluginError, match=r"plugin 'greedy', hook jetflow_options: must return a pydantic model "
                                          r"class \(its section is named 'greedy'"):
        collect_options(pm)


def test_columns_and_describe():
    pm = get_plugin_manager()
    cols = collect_columns(pm)
    assert cols["pt"].plugin == "jetflow" and cols["pt"].value.unit == "GeV"
    info = {e["name"]: e for e in describe(pm)}
    assert "jetflow_build_jets" in info["clustering"]["hooks"]
    assert "radius" in info["clustering"]["options"].model_fields
    assert info["generation"]["options"] is None


def test_tracing_env_var(monkeypatch, capfd):
    monkeypatch.setenv("JETFLOW_TRACE", "1")
    pm = get_plugin_manager()
    collect_options(pm)
    err = capfd.readouterr().err
    assert "jetflow_options" in err
    monkeypatch.setenv("JETFLOW_TRACE", "0")
    pm = get_plugin_manager()
    collect_options(pm)
    assert "jetflow_options" not in capfd.readouterr().err
