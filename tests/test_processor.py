"""The processor: picklable, plugin manager once per process, errors that name the culprit."""

from __future__ import annotations

import textwrap

import awkward as ak
import cloudpickle
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory

import jetflow
from jetflow.core import cache
from jetflow.core.errors import PluginCallError
from jetflow.formats.schema import QuietPFNanoAODSchema

from conftest import PLUGINS


def events_of(path, start, stop, dataset="cms_a"):
    return NanoEventsFactory.from_root(
        {str(path): "Events"},
        schemaclass=QuietPFNanoAODSchema,
        mode="virtual",
        entry_start=start,
        entry_stop=stop,
        metadata={"dataset": dataset, "filename": str(path), "treename": "Events",
                  "entrystart": start, "entrystop": stop},
    ).events()


def hist_values(out):
    return {name: (h.values(flow=True).copy(), h.variances(flow=True).copy()) for name, h in out["hists"].items()}


def test_pickle_round_trip_processes_identically(pfnano_config, pfnano_file):
    p = jetflow.JetflowProcessor(pfnano_config, plugins=[str(PLUGINS / "constituent_count.py")])
    clone = cloudpickle.loads(cloudpickle.dumps(p))
    ev = events_of(pfnano_file, 0, 10)
    a = p.process(ev)["cms_a"]
    b = clone.process(events_of(pfnano_file, 0, 10))["cms_a"]
    assert set(a) == set(b) == {"events", "cutflow", "hists", "reweight_spectrum"}
    va, vb = hist_values(a), hist_values(b)
    assert va.keys() == vb.keys() and "n_constituents" in va
    for k in va:
        np.testing.assert_array_equal(va[k][0], vb[k][0])
    # the pickled processor carries plain data only, no plugin manager or modules
    assert set(vars(clone)) == {"_data", "_key"}
    assert set(clone._data) == {"config", "base_dir", "plugins", "disable", "prepared", "worker_files", "shipped"}
    assert clone._data["shipped"] == {}  # file contents travel only when asked (jetflow.run: on dask)


def test_engine_built_once_per_process(pfnano_config, pfnano_file, monkeypatch):
    from jetflow.core import engine as engine_mod

    builds = []
    original = engine_mod.Engine.from_data.__func__
    monkeypatch.setattr(engine_mod.Engine, "from_data", classmethod(lambda cls, data: builds.append(1) or original(cls, data)))
    cache.clear()
    p = jetflow.JetflowProcessor(pfnano_config)
    for start in range(0, 10, 2):
        cloudpickle.loads(cloudpickle.dumps(p)).process(events_of(pfnano_file, start, start + 2))
    assert builds == []  # the client keeps the engine it built
    # a process that has never seen it (a fresh worker) builds it exactly once, from the shipped data
    cache.clear()
    for start in range(0, 10, 5):
        cloudpickle.loads(cloudpickle.dumps(p)).process(events_of(pfnano_file, start, start + 5))
    assert builds == [1]
    assert cache.plugin_cache(cache.ENGINES).created[p._key] == 1


def test_merge_of_chunks_equals_one_chunk(pfnano_config, pfnano_file):
    p = jetflow.JetflowProcessor(pfnano_config)
    whole = p.process(events_of(pfnano_file, 0, 10))["cms_a"]
    parts = [p.process(events_of(pfnano_file, s, s + 3))["cms_a"] for s in (0, 3, 6, 9)]
    for order in ([0, 1, 2, 3], [3, 1, 0, 2]):
        merged = parts[order[0]]
        for i in order[1:]:
            merged = {k: merged[k] + parts[i][k] if k != "hists" else
                      {h: merged[k][h] + parts[i][k][h] for h in merged[k]} for k in merged}
        assert merged["events"].events == 10
        assert merged["cutflow"].counts == whole["cutflow"].counts
        for name, (values, variances) in hist_values(whole).items():
            np.testing.assert_allclose(merged["hists"][name].values(flow=True), values, rtol=1e-12)
            np.testing.assert_allclose(merged["hists"][name].variances(flow=True), variances, rtol=1e-12)


def _plugin(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_exception_names_plugin_hook_dataset_file_range(pfnano_config, pfnano_file, tmp_path):
    path = _plugin(tmp_path, "exploding", """
        from jetflow import hookimpl

        @hookimpl
        def jetflow_observables(jets):
            raise ZeroDivisionError("tau1 is zero")
        """)
    p = jetflow.JetflowProcessor(pfnano_config, plugins=[path])
    with pytest.raises(PluginCallError) as info:
        p.process(events_of(pfnano_file, 3, 6))
    err = info.value
    assert (err.plugin, err.hook, err.dataset) == ("exploding", "jetflow_observables", "cms_a")
    assert (err.filename, err.entrystart, err.entrystop) == (str(pfnano_file), 3, 6)
    msg = str(err)
    for piece in ("'exploding'", "jetflow_observables", "'cms_a'", str(pfnano_file), "[3, 6)", "ZeroDivisionError: tau1 is zero"):
        assert piece in msg
    assert isinstance(err.__cause__, ZeroDivisionError)
    # the coordinates survive pickling (how dask and futures send errors back)
    again = cloudpickle.loads(cloudpickle.dumps(err))
    assert str(again) == msg and again.plugin == "exploding"


def test_wrong_length_column_is_rejected(pfnano_config, pfnano_file, tmp_path):
    path = _plugin(tmp_path, "short", """
        import numpy as np
        from jetflow import hookimpl

        @hookimpl
        def jetflow_observables(jets):
            return {"bad": np.zeros(len(jets) + 1)}
        """)
    p = jetflow.JetflowProcessor(pfnano_config, plugins=[path])
    with pytest.raises(PluginCallError, match=r"plugin 'short', hook jetflow_observables.*column 'bad' has length \d+, expected one entry per jet"):
        p.process(events_of(pfnano_file, 0, 10))


def test_nan_column_and_overwrite_are_rejected(pfnano_config, pfnano_file, tmp_path):
    nan = _plugin(tmp_path, "nanny", """
        import numpy as np
        from jetflow import hookimpl

        @hookimpl
        def jetflow_observables(jets):
            x = np.ones(len(jets)); x[1] = np.nan
            return {"ratio": x}
        """)
    with pytest.raises(PluginCallError, match=r"'nanny'.*column 'ratio' has 1 non-finite value\(s\) \(first at jet 1: nan\)"):
        jetflow.JetflowProcessor(pfnano_config, plugins=[nan]).process(events_of(pfnano_file, 0, 10))
    over = _plugin(tmp_path, "overwriter", """
        from jetflow import hookimpl

        @hookimpl
        def jetflow_observables(jets):
            return {"mass": jets.mass * 2}
        """)
    with pytest.raises(PluginCallError, match=r"'overwriter'.*column 'mass' exists already \(written by 'clustering'\)"):
        jetflow.JetflowProcessor(pfnano_config, plugins=[over]).process(events_of(pfnano_file, 0, 10))


def test_no_jet_builder_names_the_builders(pfnano_config, pfnano_file, tmp_path):
    cfg = {k: v for k, v in pfnano_config.items() if k != "clustering"}  # the section goes with its plugin
    p = jetflow.JetflowProcessor(cfg, disable=["clustering"])
    with pytest.raises(PluginCallError, match=r"no plugin built jets for this chunk \(plugins implementing "
                                              r"jetflow_build_jets: none is enabled\)"):
        p.process(events_of(pfnano_file, 0, 10))
    shy = _plugin(tmp_path, "shy_builder", """
        from jetflow import hookimpl

        @hookimpl
        def jetflow_build_jets(events):
            return None
        """)
    with pytest.raises(PluginCallError, match=r"jetflow_build_jets: 'shy_builder'\)"):
        jetflow.JetflowProcessor(cfg, plugins=[shy], disable=["clustering"]).process(events_of(pfnano_file, 0, 10))


def test_weights_and_cutflow(pfnano_config, pfnano_file, tmp_path):
    path = _plugin(tmp_path, "weighter", """
        import numpy as np
        from jetflow import hookimpl

        @hookimpl
        def jetflow_weights(jets):
            return {"half": 0.5, "by_pt": np.asarray(jets.pt) / 1000.0}
        """)
    cfg = dict(pfnano_config, selection={"windows": {"pt": [200, None], "mass": [50, None]}})
    out = jetflow.JetflowProcessor(cfg, plugins=[path]).process(events_of(pfnano_file, 0, 10))["cms_a"]
    ev = events_of(pfnano_file, 0, 10)
    pt = ak.to_numpy(ak.flatten(ev.FatJet.pt))
    mass = ak.to_numpy(ak.flatten(ev.FatJet.mass))
    keep = pt >= 150
    w = 0.5 * pt / 1000.0
    cf = out["cutflow"]
    assert cf.steps == ["all", "selection:pt", "selection:mass"]
    assert cf.counts["all"] == keep.sum()
    assert cf.counts["selection:pt"] == (keep & (pt > 200)).sum()
    assert cf.counts["selection:mass"] == (keep & (pt > 200) & (mass > 50)).sum()
    np.testing.assert_allclose(cf.sumw["selection:mass"], w[keep & (pt > 200) & (mass > 50)].sum())
    h = out["hists"]["pt"]
    np.testing.assert_allclose(h.values(flow=True).sum(), w[keep & (pt > 200) & (mass > 50)].sum())
