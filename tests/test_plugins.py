"""The plugin manager: entry points, extra plugins, disabling, validation, tracing."""

from __future__ import annotations

import textwrap

import pytest

import jetflow
from jetflow.errors import PluginError
from jetflow.plugins import collect_columns, collect_options, describe, get_plugin_manager, plugin_order

BUILTINS = {"clustering", "selection", "accumulators", "images", "substructure", "weights"}


def names(pm):
    return {name for name, plugin in pm.list_name_plugin() if plugin is not None}


def test_entry_points_register_builtins():
    pm = get_plugin_manager()
    assert BUILTINS <= names(pm)
    # registered through the entry-point group, exactly like a third-party plugin
    dists = {pm.get_name(p) for p, _ in pm.list_plugin_distinfo()}
    assert BUILTINS <= dists


def test_no_entry_points_gives_empty_manager():
    assert names(get_plugin_manager(entry_points=False)) == set()


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
    order = [name for name, _ in plugin_order(pm, "jetflow_accumulate")]
    assert order[0] == "extra_object" and "accumulators" in order


def test_missing_plugin_file_and_module():
    with pytest.raises(PluginError, match="does not exist"):
        get_plugin_manager(["/nonexistent/plugin.py"])
    with pytest.raises(PluginError, match="cannot import plugin module 'no_such_module_xyz'"):
        get_plugin_manager(["no_such_module_xyz"])


def test_two_plugins_declaring_one_section(tmp_path):
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
            return {"jets": Opts}
        """,
    )
    pm = get_plugin_manager([str(path)])
    with pytest.raises(PluginError, match="'jets' is declared by two plugins"):
        collect_options(pm)


def test_columns_and_describe():
    pm = get_plugin_manager()
    cols = collect_columns(pm)
    assert cols["pt"].plugin == "jetflow" and cols["pt"].value.unit == "GeV"
    info = {e["name"]: e for e in describe(pm)}
    assert "jetflow_build_jets" in info["clustering"]["hooks"]
    assert "jets" in info["clustering"]["options"]


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
