"""The three executors give identical results on the same input; dask by address too."""

from __future__ import annotations

import numpy as np
import pytest

import jetflow

from conftest import PLUGINS


@pytest.fixture
def two_dataset_config(pfnano_config, pfnano_file):
    cfg = dict(pfnano_config)
    cfg["datasets"] = {
        "cms_a": {"files": [str(pfnano_file)], "label": "signal"},
        "cms_b": {"files": [str(pfnano_file)], "label": "background", "xsec": 2.0},
    }
    cfg["plugins"] = {"load": [str(PLUGINS / "constituent_count.py")]}
    return cfg


def snapshot(result):
    out = {}
    for ds in result.datasets:
        acc = result[ds]
        out[(ds, "events")] = (acc["events"].events, acc["events"].chunks)
        out[(ds, "cutflow")] = (tuple(acc["cutflow"].steps), tuple(acc["cutflow"].counts.values()))
        for name, h in acc["hists"].items():
            out[(ds, name)] = (h.values(flow=True), h.variances(flow=True))
    return out


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key][0], np.ndarray):
            np.testing.assert_array_equal(a[key][0], b[key][0], err_msg=str(key))
            np.testing.assert_array_equal(a[key][1], b[key][1], err_msg=str(key))
        else:
            assert a[key] == b[key], key


def test_iterative_futures_dask_identical(two_dataset_config, tmp_path):
    results = {}
    for executor in ("iterative", "futures", "dask"):
        out = tmp_path / f"{executor}.coffea"
        jetflow.run(two_dataset_config, executor=executor, workers=2, out=out)
        results[executor] = jetflow.load(out)
        assert results[executor].meta["executor"] == executor
    base = snapshot(results["iterative"])
    assert ("cms_a", "n_constituents") in base  # the third-party column made it to the output
    n_events, n_chunks = base[("cms_a", "events")]
    assert n_events == 10 and n_chunks >= 3  # chunksize 3: several chunks to merge
    # signal and background land in their label bin
    h = results["iterative"]["cms_b"]["hists"]["pt"]
    assert h[{"dataset": "cms_b", "label": 1}].sum().value == 0
    assert h[{"dataset": "cms_b", "label": 0}].sum(flow=True).value > 0
    for executor in ("futures", "dask"):
        assert_same(base, snapshot(results[executor]))


def test_dask_existing_scheduler_by_address(two_dataset_config, tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        res = jetflow.run(two_dataset_config, executor="dask", scheduler=cluster.scheduler_address)
    assert res.meta["scheduler"] == cluster.scheduler_address
    ref = jetflow.run(two_dataset_config, executor="iterative")
    assert_same(snapshot(ref), snapshot(res))


def test_a_plugin_error_in_a_worker_process_arrives_whole(two_dataset_config, tmp_path):
    """A chunk that fails in a process pool raises the jetflow error itself, with its coordinates, also where
    tblib's exception pickling is installed (importing TensorFlow does it: any run with a Keras model): the
    error and coffea's wrapper must not form a cycle of causes, on which that pickling recurses forever."""
    (tmp_path / "failing.py").write_text(
        "from jetflow import hookimpl\n\n"
        "@hookimpl\n"
        "def jetflow_accumulate(jets):\n"
        "    from tblib import pickling_support\n\n"
        "    pickling_support.install()  # what importing TensorFlow does in the worker\n"
        "    raise ValueError(f'cannot count {len(jets)} jets')\n")
    cfg = dict(two_dataset_config, plugins={"load": [str(tmp_path / "failing.py")]})
    cfg["run"] = dict(cfg["run"], executor="futures", workers=2)
    with pytest.raises(jetflow.PluginCallError, match=r"hook jetflow_accumulate.*ValueError: cannot count") as info:
        jetflow.run(cfg)
    assert info.value.plugin == "failing" and info.value.filename.endswith(".root")
