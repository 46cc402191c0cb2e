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


def test_results_are_bit_for_bit_the_same_across_executors_worker_counts_and_resumes(generated, tmp_path, monkeypatch):
    """Chunks are merged in chunk order whatever order they finish in: every floating-point sum is the same to the
    last bit, not only to 1e-16. The first chunk of each file finishes last under the process pool."""
    from conftest import generated_config
    from jetflow.running.checkpoint import ChunkCheckpoints

    monkeypatch.setenv("LATE_FIRST_CHUNK_S", "1.5")
    cfg = generated_config(generated, max_jets=2, chunksize=50,
                           plugins={"load": [str(PLUGINS / "late_first_chunk.py")]})
    reference = jetflow.run(cfg, executor="iterative")
    assert reference["q"]["events"].chunks == 12
    base = snapshot(reference)
    runs = {"futures, 2 workers": dict(executor="futures", workers=2),
            "futures, 1 worker": dict(executor="futures", workers=1),
            "dask, 2 workers": dict(executor="dask", workers=2)}
    for how in runs.values():
        assert_same(base, snapshot(jetflow.run(cfg, **how)))
    # a resumed run: half the chunks from an earlier run's checkpoint (kept: not removed after its save)
    out = tmp_path / "r.coffea"
    checkpoint = tmp_path / "ckpt"
    with monkeypatch.context() as keep:
        keep.setattr(ChunkCheckpoints, "remove", lambda self: None)
        jetflow.run(cfg, executor="futures", workers=2, out=out, checkpoint=checkpoint)
    out.unlink()
    chunks = sorted(checkpoint.rglob("*.coffea"))
    assert len(chunks) == 24
    for path in chunks[::2]:
        path.unlink()
    jetflow.run(cfg, executor="futures", workers=2, out=out, checkpoint=checkpoint)
    assert_same(base, snapshot(jetflow.load(out)))


def test_chunk_outputs_merge_to_the_same_bits_in_any_order_and_grouping():
    """Merged along the fixed tree, 37 chunks' sums are the same bits in every arrival order and grouping (holes
    included), and equal to the tree built by hand; merged as they come, they differ in the last bits."""
    import hist
    from coffea.processor import accumulate

    from jetflow.running.ordered import ChunkOrder

    rng = np.random.default_rng(5)

    def chunk(i):
        h = hist.Hist.new.Reg(4, 0, 1).Weight()
        h.fill(rng.uniform(0, 1, 50), weight=rng.lognormal(0, 2, 50))
        return {"d": {"h": h, "n": float(rng.uniform())}}

    outputs = [chunk(i) for i in range(37)]

    def by_hand(lo, hi):  # the block [lo, hi) of the tree, added in chunk order at the end
        if hi - lo == 1:
            return outputs[lo]
        return accumulate([by_hand(lo, (lo + hi) // 2), by_hand((lo + hi) // 2, hi)])

    expected = accumulate([by_hand(0, 32), by_hand(32, 36), by_hand(36, 37)])

    def merged(order, present=range(37)):
        pieces = [ChunkOrder.of(i, outputs[i]) for i in order if i in present]
        while len(pieces) > 1:  # random groupings, as a reduction tree or a process pool's batches make them
            k = int(rng.integers(len(pieces) - 1))
            pieces[k:k + 2] = [pieces[k] + pieces[k + 1]]
        return pieces[0].result()

    plain = set()
    for _ in range(20):
        order = rng.permutation(37)
        result = merged(order)
        assert result["d"]["n"] == expected["d"]["n"]
        np.testing.assert_array_equal(result["d"]["h"].view(flow=True), expected["d"]["h"].view(flow=True))
        plain.add(accumulate([outputs[i] for i in order])["d"]["n"])
    assert len(plain) > 1  # the plain merge does depend on the order
    holes = set(range(37)) - {3, 17, 18}  # chunks left out (skipped): the same bits in every order too
    first = merged(rng.permutation(37), holes)
    assert merged(rng.permutation(37), holes)["d"]["n"] == first["d"]["n"]
    with pytest.raises(ValueError, match="twice"):
        ChunkOrder.of(4, outputs[4]) + ChunkOrder.of(4, outputs[4])
    with pytest.raises(ValueError, match=r"chunks range\(2, 4\) merged twice \(already in range\(2, 3\)\)"):
        ChunkOrder.of(2, outputs[2]) + (ChunkOrder.of(2, outputs[2]) + ChunkOrder.of(3, outputs[3]))


def test_the_process_pool_keeps_its_workers_when_their_memory_grows_once(generated, tmp_path, monkeypatch):
    """A worker that grows by 400 MB in its first chunk (TensorFlow and the models loaded) keeps working: loky's
    leak detector would restart it after 300 MB, and its successor would load everything again."""
    from conftest import generated_config

    monkeypatch.delenv("LOKY_MAX_MEMORY_LEAK_SIZE", raising=False)
    monkeypatch.setenv("HOG_LOG", str(tmp_path / "pids.txt"))
    cfg = generated_config(generated, max_jets=1, chunksize=100,
                           plugins={"load": [str(PLUGINS / "memory_hog.py"), str(PLUGINS / "slow_plugin.py")]})
    jetflow.run(cfg, executor="futures", workers=2)
    pids = (tmp_path / "pids.txt").read_text().split()
    assert len(pids) == 12 and len(set(pids)) == 2
