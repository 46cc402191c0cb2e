"""Dask: a worker killed mid-run loses nothing; an existing client (the batch-system recipe)."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np

import jetflow

from conftest import PLUGINS


def study(generated):
    return {
        "datasets": {
            "wprime": {"files": [str(generated["wprime"])], "label": "signal"},
            "qcd": {"files": [str(generated["qcd"])], "label": "background"},
        },
        "clustering": {"source": "towers"},
        "selection": {"windows": {"pt": [200, 400]}},
        "plugins": {"load": [str(PLUGINS / "slow_plugin.py")]},
        "run": {"progress": False, "chunksize": 60},
    }


def same(a, b):
    assert a.datasets == b.datasets
    for ds in a.datasets:
        assert a[ds]["events"].events == b[ds]["events"].events
        assert a[ds]["cutflow"].counts == b[ds]["cutflow"].counts
        for name, h in a[ds]["hists"].items():
            np.testing.assert_allclose(h.values(flow=True), b[ds]["hists"][name].values(flow=True), rtol=1e-12)


def test_worker_killed_mid_run_loses_nothing(generated):
    from distributed import Client, LocalCluster

    cfg = study(generated)
    clean = jetflow.run(cfg, executor="iterative")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        victim_addr, victim = sorted(pids.items())[0]
        box = {}

        def go():
            try:
                box["result"] = jetflow.run(cfg, client=client)
            except Exception as exc:  # pragma: no cover - reported below
                box["error"] = exc

        runner = threading.Thread(target=go)
        runner.start()
        # wait until the victim is busy with a chunk, then kill its process outright
        deadline = time.time() + 60
        while time.time() < deadline and not client.processing().get(victim_addr):
            time.sleep(0.05)
        assert client.processing().get(victim_addr), "the victim never got a chunk"
        os.kill(victim, signal.SIGKILL)
        runner.join(timeout=300)
        assert not runner.is_alive()
        assert "error" not in box, box.get("error")
        after = client.run(os.getpid)
        assert victim not in after.values()  # the worker really died (the nanny started a new one)
    res = box["result"]
    n_chunks = sum(res[d]["events"].chunks for d in res.datasets)
    assert n_chunks == sum(clean[d]["events"].chunks for d in clean.datasets)  # none lost, none twice
    same(clean, res)


def test_existing_client_recipe(generated):
    """The batch-system recipe: build any dask cluster, wrap it in a Client, hand it to jetflow.run."""
    from distributed import Client, LocalCluster

    cfg = study(generated)
    cfg["plugins"] = {}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as client:
        res = jetflow.run(cfg, client=client, maxchunks=2)
    assert res.meta["executor"] == "dask"
    assert all(res[d]["events"].chunks == 2 for d in res.datasets)


def test_chunks_with_models_go_to_gpu_workers(generated, tmp_path):
    """A cluster with one worker declaring the resource GPU and one without: the model's chunks go to the first."""
    import subprocess
    import sys

    from distributed import Client, LocalCluster

    from jetflow_inference.models import convnet

    model = tmp_path / "convnet.keras"
    convnet(filters=4, dense=8).save(model)
    cfg = study(generated)
    cfg["plugins"] = {"load": [str(PLUGINS / "where_plugin.py")]}
    cfg["inference"] = {"models": {"convnet": {"path": str(model)}}}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      resources={"GPU": 1}) as cluster, Client(cluster) as client:
        gpu_worker = next(iter(client.scheduler_info()["workers"]))
        cpu = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler_address,
                                "--nthreads", "1", "--nworkers", "1", "--no-dashboard"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            client.wait_for_workers(2, timeout=60)
            res = jetflow.run(cfg, client=client, maxchunks=3)
            without_models = dict(cfg, inference={"models": {}})
            res_cpu = jetflow.run(without_models, client=client)
        finally:
            cpu.terminate()
            cpu.wait(30)
    where = res.combined("processed_on")
    assert set(where) == {gpu_worker} and sum(where.values()) == 6
    # without models nothing asks for a GPU: both workers share the chunks
    assert len(res_cpu.combined("processed_on")) == 2
