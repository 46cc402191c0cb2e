"""Input formats as plugins (hook ``jetflow_sources``): a third-party format, registered here, runs through
``jetflow.run`` without any edit to jetflow, and gives the same jets as the same particles in jetflow's own
files; recognition, mixing, copies, chunking, executors, checkpoints and bad files work as for ROOT."""

from __future__ import annotations

import glob
import shutil
import types

import awkward as ak
import numpy as np
import pytest
import uproot

import jetflow
from jetflow import InputError, Source
from jetflow.core.errors import ConfigError, JetflowError
from conftest import generated_config, rewrite


# ---- a third-party format: events of particles in numpy's .npz, one array per field ----


class NpzReader:
    """``counts`` (particles per event), flat ``pt, eta, phi, mass, pdgId, charge``, per-event ``event``,
    ``genWeight``: read by slicing, never the whole file's particles at once."""

    def entries(self, path, tree):
        with np.load(path) as f:
            return len(f["counts"])

    def event_weights(self, path, tree, options):
        with np.load(path) as f:
            return f["genWeight"].astype(np.float64)

    def read(self, path, tree, start, stop, options):
        with np.load(path) as f:
            counts = f["counts"]
            offsets = np.concatenate([[0], np.cumsum(counts)])
            lo, hi = offsets[start], offsets[stop]
            particles = ak.unflatten(ak.zip({k: f[k][lo:hi] for k in ("pt", "eta", "phi", "mass", "pdgId", "charge")}),
                                     counts[start:stop])
            n = stop - start
            return ak.zip({"run": np.ones(n, np.uint32), "luminosityBlock": f["lumi"][start:stop],
                           "event": f["event"][start:stop], "genWeight": f["genWeight"][start:stop],
                           "Particle": particles}, depth_limit=1)


NPZ = Source(name="npz_particles", description="a test's particles in numpy .npz", provides="particles",
             recognise=lambda view: view.suffix == ".npz", tree="", reader=NpzReader())


def npz_plugin(source=NPZ):
    plugin = types.ModuleType("npz_format")
    plugin.jetflow_sources = jetflow.hookimpl(lambda: [source])
    return plugin


def write_npz(root_file, out) -> None:
    """The particles of one of jetflow's files, in the .npz format."""
    tree = uproot.open(root_file)["Events"]
    a = tree.arrays(["nParticle", "event", "luminosityBlock", "genWeight",
                     *(f"Particle_{f}" for f in ("pt", "eta", "phi", "mass", "pdgId", "charge"))], library="np")
    flat = {f: np.concatenate(a[f"Particle_{f}"]) for f in ("pt", "eta", "phi", "mass", "pdgId", "charge")}
    np.savez(out, counts=a["nParticle"], event=a["event"], lumi=a["luminosityBlock"], genWeight=a["genWeight"], **flat)


@pytest.fixture(scope="module")
def npz_files(generated, tmp_path_factory):
    out = tmp_path_factory.mktemp("npz")
    made = {}
    for process in ("wprime", "qcd"):
        for i, f in enumerate(sorted(glob.glob(str(generated[process])))):
            write_npz(f, out / f"{process}_{i}.npz")
        made[process] = out / f"{process}_*.npz"
    return made


def _config(generated, npz_files=None, **run):
    cfg = generated_config(generated, max_jets=2, chunksize=run.pop("chunksize", 250))
    cfg["run"].update(run)
    if npz_files is not None:
        cfg["datasets"]["w"]["files"] = [str(npz_files["wprime"])]
        cfg["datasets"]["q"]["files"] = [str(npz_files["qcd"])]
    return cfg


def snapshot(result):
    """Every histogram (values and variances, flow bins too), event count and cut-flow of a result."""
    out = {}
    for ds in result.datasets:
        acc = result[ds]
        out[ds, "events"] = acc["events"].events
        out[ds, "cutflow"] = (tuple(acc["cutflow"].steps), tuple(acc["cutflow"].counts.values()))
        for name, h in acc["hists"].items():
            out[ds, name] = (h.values(flow=True), h.variances(flow=True))
    return out


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], tuple) and isinstance(a[key][0], np.ndarray):
            np.testing.assert_array_equal(a[key][0], b[key][0], err_msg=str(key))
            np.testing.assert_array_equal(a[key][1], b[key][1], err_msg=str(key))
        else:
            assert a[key] == b[key], key


def test_a_third_party_format_gives_the_jets_of_jetflows_own_files(generated, npz_files):
    own = jetflow.run(_config(generated))
    npz = jetflow.run(_config(generated, npz_files), plugins=[npz_plugin()])
    assert own.meta["schema"] == "jetflow" and npz.meta["schema"] == "npz_particles"
    assert npz.meta["sumw_gen"] == pytest.approx(own.meta["sumw_gen"], rel=1e-12)
    base = snapshot(own)
    assert ("w", "pt") in base and base["w", "events"] == 600
    assert_same(base, snapshot(npz))


def test_chunking_executors_and_resume_give_one_result(generated, npz_files, tmp_path, monkeypatch):
    plugin = npz_plugin()
    base = snapshot(jetflow.run(_config(generated, npz_files, chunksize=600), plugins=[plugin]))
    for executor in ("iterative", "futures"):
        other = jetflow.run(_config(generated, npz_files, chunksize=70, executor=executor, workers=2),
                            plugins=[plugin])
        assert_same(base, snapshot(other))
    # the result cannot be written: every chunk stays in the checkpoint; with some of them lost, the same call
    # processes those again and loads the others
    import jetflow.running.run as running

    def full_disk(*args, **kwargs):
        raise jetflow.OutputError("result r.coffea: cannot be written (No space left on device)")

    cfg = _config(generated, npz_files, chunksize=70)
    monkeypatch.setattr(running, "save", full_disk)
    with pytest.raises(jetflow.OutputError, match="every chunk is kept in"):
        jetflow.run(cfg, plugins=[plugin], out=tmp_path / "r.coffea")
    monkeypatch.undo()
    chunks = sorted((tmp_path / "r.coffea.checkpoint").rglob("*.coffea"))
    assert len(chunks) == 16  # 2 datasets x 2 files of 300 events x 4 chunks of 75
    for lost in chunks[::3]:
        lost.unlink()
    resumed = jetflow.run(cfg, plugins=[plugin], out=tmp_path / "r.coffea")
    assert_same(base, snapshot(resumed))


def test_recognition_mixing_copies_and_unknown_formats(generated, npz_files, tmp_path):
    plugin = npz_plugin()
    npz = sorted(glob.glob(str(npz_files["wprime"])))
    root = sorted(glob.glob(str(generated["wprime"])))
    cfg = _config(generated)
    cfg["datasets"] = {"w": {"files": [npz[0], root[0]], "label": "signal"}}
    with pytest.raises(InputError, match=r"dataset 'w' mixes input formats: .*npz is npz_particles, .*root is jetflow"):
        jetflow.run(cfg, plugins=[plugin])
    copy = tmp_path / "copy.npz"
    shutil.copy(npz[0], copy)
    cfg["datasets"] = {"w": {"files": [npz[0], str(copy)], "label": "signal"}}
    with pytest.raises(InputError, match="are the same file .identical content"):
        jetflow.run(cfg, plugins=[plugin])
    # without the plugin nothing knows .npz
    cfg["datasets"] = {"w": {"files": [npz[0]], "label": "signal"}}
    with pytest.raises(InputError, match=r"file .*wprime_0.npz: of no known input format .*formats: jetflow, pfnano"):
        jetflow.run(cfg)
    cfg["run"]["schema"] = "delphes_v0"
    with pytest.raises(ConfigError, match=r"run.schema: no input format 'delphes_v0' \(known: auto, .*npz_particles"):
        jetflow.run(cfg, plugins=[plugin])
    # two plugins may not provide one name
    with pytest.raises(JetflowError, match="source 'npz_particles' is provided by two plugins"):
        other = npz_plugin()
        other.__name__ = "npz_format_again"
        jetflow.run(_config(generated, npz_files), plugins=[plugin, other])


def test_a_broken_file_is_named_and_skipped_on_request(generated, npz_files, tmp_path):
    plugin = npz_plugin()
    npz = sorted(glob.glob(str(npz_files["wprime"])))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(open(npz[0], "rb").read()[:2000])  # cut: numpy cannot read it
    cfg = _config(generated, npz_files)
    cfg["datasets"]["w"]["files"] = [npz[1], str(bad)]
    with pytest.raises(InputError, match=r"file .*bad.npz: cannot be read as npz_particles"):
        jetflow.run(cfg, plugins=[plugin])
    result = jetflow.run(cfg, plugins=[plugin], skip_bad_files=True)
    assert [rec[0] for rec in result.meta["skipped"]] == [str(bad)]
    assert result["w"]["events"].events == 300


def test_jetflow_plugins_lists_the_formats():
    from click.testing import CliRunner

    from jetflow.frontends.cli import cli

    text = CliRunner().invoke(cli, ["plugins"]).output
    assert "input formats (run.schema):" in text
    for name in ("jetflow: particles; ROOT tree 'Events'", "pfnano: events; ROOT tree 'Events'"):
        assert name in text


# ---- a format plugin that misbehaves is named, never skipped as a bad file, never silently wrong ----


def _reader(**methods):
    """An NpzReader with some methods replaced."""
    reader = NpzReader()
    for name, method in methods.items():
        setattr(reader, name, types.MethodType(method, reader))
    return reader


def _source(**changes):
    import dataclasses

    return dataclasses.replace(NPZ, **changes)


def test_a_misbehaving_format_plugin_is_named(generated, npz_files):
    from jetflow.core.engine import Engine
    from jetflow.core.errors import PluginError

    cfg = _config(generated, npz_files, maxchunks=1)
    # a hook returning a generator registers its sources (they are listed before they are checked)
    plugin = types.ModuleType("npz_generator")
    plugin.jetflow_sources = jetflow.hookimpl(lambda: (s for s in [NPZ]))
    assert "npz_particles" in Engine.build(cfg, plugins=[plugin], prepare=False).sources
    # a misspelt options section would read no options: refused at once
    with pytest.raises(PluginError, match=r"source 'npz_particles' reads its options from section "
                                          r"npz_format.npz, which the plugin does not have \(it has no options"):
        Engine.build(cfg, plugins=[npz_plugin(_source(section="npz"))], prepare=False)
    # a reader's bug (or a recogniser's) is the plugin's error even with skip_bad_files: no file is "bad"
    broken = {
        "entries": _reader(entries=lambda self, path, tree: self.no_such_method(path)),
        "entries count": _reader(entries=lambda self, path, tree: "300"),
        "identity": _reader(identity=lambda self, path: b"short"),
        "event_weights": _reader(event_weights=lambda self, path, tree, options: np.ones(7)),
    }
    messages = {"entries": "AttributeError", "entries count": r"returned '300', not a count",
                "identity": r"returned b'short', not 16 bytes", "event_weights": r"returned 7 weights for 300 entries"}
    for what, reader in broken.items():
        with pytest.raises(PluginError, match=rf"source 'npz_particles' \(NpzReader\.{what.split()[0]}\) on file "
                                              rf".*npz: .*{messages[what]}"):
            jetflow.run(cfg, plugins=[npz_plugin(_source(reader=reader))], skip_bad_files=True)

    def nosy(view):
        raise KeyError("Events")

    with pytest.raises(PluginError, match=r"plugin 'npz_format', hook jetflow_sources: the recogniser of source "
                                          r"'npz_particles' raised on file .* \(KeyError: 'Events'\); it must return False"):
        jetflow.run(cfg, plugins=[npz_plugin(_source(recognise=nosy))], skip_bad_files=True)


def test_recognition_looks_in_the_datasets_tree(generated, tmp_path):
    """A jetflow file whose tree is renamed is recognised in the tree its dataset names; a ROOT file without
    that tree, or without any tree, is named as such."""
    src = sorted(glob.glob(str(generated["wprime"])))[0]
    renamed = tmp_path / "renamed.root"
    rewrite(src, renamed, tree="MyEvents")
    cfg = _config(generated, maxchunks=1)
    cfg["datasets"] = {"w": {"files": [str(renamed)], "label": "signal", "tree": "MyEvents"}}
    result = jetflow.run(cfg)
    assert result.meta["schema"] == "jetflow" and result["w"]["events"].events > 0
    cfg["datasets"]["w"]["tree"] = "Other"
    with pytest.raises(InputError, match=r"renamed.root: no tree 'Other' \(datasets' tree; it has: MyEvents\)"):
        jetflow.run(cfg)
    empty = tmp_path / "empty.root"
    with uproot.recreate(empty) as out:
        out["note"] = "no tree here"
    cfg["datasets"] = {"w": {"files": [str(empty)], "label": "signal"}}
    with pytest.raises(InputError, match=r"empty.root: of no known input format \(a ROOT file without a TTree"):
        jetflow.run(cfg)
