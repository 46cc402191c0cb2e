"""Clusters without a shared filesystem: plugin files and models travel with the run, inputs come by URL."""

from __future__ import annotations

import functools
import http.server
import io
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import jetflow
from jetflow.core.engine import Engine
from test_executors import assert_same, snapshot

from conftest import PLUGINS


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """A static file server that answers byte-range requests (as XRootD / HTTP storage does), quietly."""

    def send_head(self):
        wanted = self.headers.get("Range")
        if not wanted:
            return super().send_head()
        data = Path(self.translate_path(self.path)).read_bytes()
        first, last = wanted.split("=", 1)[1].split(",")[0].split("-")
        start = int(first)
        stop = min(int(last) + 1 if last else len(data), len(data))
        self.send_response(206)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.send_header("Content-Length", str(stop - start))
        self.end_headers()
        return io.BytesIO(data[start:stop])

    def log_message(self, *args):
        pass


@pytest.fixture
def served(pfnano_file, tmp_path):
    """The PFNano file behind a local HTTP server: its URL."""
    folder = tmp_path / "server"
    folder.mkdir()
    shutil.copy(pfnano_file, folder / "pfnano.root")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(RangeRequestHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pfnano.root"
    server.shutdown()


def tiny_tagger(path: Path) -> None:
    """An ONNX model made without jetflow: sigmoid((pt - 400) / 100 + n_constituents / 50) of [pt, n_constituents]."""
    import onnx
    from onnx import TensorProto, helper

    jet = helper.make_tensor_value_info("jet", TensorProto.FLOAT, [None, 2])
    out = helper.make_tensor_value_info("score", TensorProto.FLOAT, [None, 1])
    nodes = [helper.make_node("MatMul", ["jet", "w"], ["linear"]),
             helper.make_node("Add", ["linear", "b"], ["logit"]),
             helper.make_node("Sigmoid", ["logit"], ["score"])]
    inits = [helper.make_tensor("w", TensorProto.FLOAT, [2, 1], [0.01, 0.02]),
             helper.make_tensor("b", TensorProto.FLOAT, [1], [-4.0])]
    graph = helper.make_graph(nodes, "tiny_tagger", [jet], [out], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def test_a_run_on_workers_that_cannot_see_the_clients_files_equals_the_local_run(served, pfnano_config, tmp_path):
    """The user's plugin file and model exist only while the client builds the run; the workers run in
    another working directory after both are deleted, and the input comes from an HTTP server."""
    from distributed import Client, LocalCluster

    client_files = tmp_path / "analysis"
    client_files.mkdir()
    shutil.copy(PLUGINS / "constituent_count.py", client_files / "constituent_count.py")
    tiny_tagger(client_files / "tagger.onnx")
    cfg = dict(pfnano_config)
    cfg["datasets"] = {"remote": {"files": [served], "label": "signal"}}
    cfg["plugins"] = {"load": ["constituent_count.py"]}  # relative to the analysis folder, as in a YAML file
    cfg["inference"] = {"models": {"tagger": {"path": "tagger.onnx", "input": "features",
                                              "features": ["pt", "n_constituents"]}}}

    local = jetflow.run(Engine.build(cfg, base_dir=client_files), executor="iterative")
    scores = local["remote"]["hists"]["score_tagger"]
    assert scores.sum(flow=True).value > 0 and "n_constituents" in local["remote"]["hists"]

    engine = Engine.build(cfg, base_dir=client_files)
    shutil.rmtree(client_files)  # from now on the files exist nowhere but in the run
    elsewhere = tmp_path / "worker_cwd"
    elsewhere.mkdir()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      local_directory=str(elsewhere)) as cluster, Client(cluster) as client:
        client.run(os.chdir, str(elsewhere))
        remote = jetflow.run(engine, client=client)
        copies = client.run(lambda: sorted(p.name for p in Path(__import__("tempfile").gettempdir()).glob(
            f"jetflow-shipped-{os.getuid()}/*/*")))
    assert_same(snapshot(local), snapshot(remote))
    for names in copies.values():  # each worker made its own copies of the two files
        assert {"constituent_count.py", "tagger.onnx"} <= set(names)


def test_a_missing_model_file_is_named_before_any_chunk(pfnano_config, tmp_path):
    cfg = dict(pfnano_config, inference={"models": {"tagger": {"path": str(tmp_path / "nope.onnx"),
                                                                 "input": "features", "features": ["pt"]}}})
    with pytest.raises(jetflow.JetflowError, match=r"plugin 'inference', hook jetflow_worker_files: ConfigError: "
                                                   r"inference.models.tagger.path: .*nope.onnx does not exist"):
        jetflow.run(cfg)


def test_shipped_copies_are_what_resolve_gives_on_a_worker(tmp_path):
    """A worker rebuilds the engine from the shipped data: plugin files import from the copies (same plugin
    name), ``config.resolve`` of a model path gives its copy with the same bytes."""
    folder = tmp_path / "a"
    folder.mkdir()
    shutil.copy(PLUGINS / "constituent_count.py", folder / "constituent_count.py")
    tiny_tagger(folder / "tagger.onnx")
    cfg = {"datasets": {"d": {"files": ["x.root"], "label": "signal"}},
           "plugins": {"load": ["constituent_count.py"]},
           "inference": {"models": {"t": {"path": "tagger.onnx", "input": "features", "features": ["pt"]}}}}
    engine = Engine.build(cfg, base_dir=folder)
    data = engine.to_data(ship_files=True)
    assert set(data["shipped"]) == {str(folder / "constituent_count.py"), str(folder / "tagger.onnx")}
    original = (folder / "tagger.onnx").read_bytes()
    shutil.rmtree(folder)
    rebuilt = Engine.from_data(data)
    copy = rebuilt.config.resolve("tagger.onnx")
    assert copy != folder / "tagger.onnx" and copy.read_bytes() == original
    assert rebuilt.pm.get_plugin("constituent_count") is not None
    assert np.all([rebuilt.config.resolve("other.txt") == folder / "other.txt"])  # not shipped: as written
