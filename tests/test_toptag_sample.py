"""A top-tagging sample of jetflow's own: ttbar truth, top containment, the top-tagging files of an export."""

from __future__ import annotations

import glob
from pathlib import Path

import awkward as ak
import h5py
import numpy as np
import pandas as pd
import pytest
import uproot
from coffea.nanoevents import NanoEventsFactory

import jetflow
from jetflow.formats.export import read, shards, write_shard
from jetflow.formats.schema import JetflowSchema
from jetflow.physics import pxpypze
from jetflow_clustering import jets_of_particles
from jetflow_clustering.options import JetOptions
from jetflow_formats.toptagging import TopTaggingHDF5Reader, write_toptagging
from jetflow_formats.toptagging_sample import TopTaggingWriteOptions, write_sample
from jetflow_generation.pythia import GenSettings, generate

NO_MPI = ("PartonLevel:MPI = off",)  # as the reference dataset; and fast
TTV = {"train": 0, "val": 2, "test": 1}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("toptag")
    generate(GenSettings("ttbar", extra=NO_MPI), 120, out, seed=2, events_per_file=60, progress=False)
    generate(GenSettings("qcd", pthat_min=500, pthat_max=700, extra=NO_MPI), 120, out, seed=2, events_per_file=60,
             progress=False)
    return out


def events(path):
    return NanoEventsFactory.from_root({str(path): "Events"}, schemaclass=JetflowSchema, mode="eager").events()


def test_ttbar_truth_tops_and_their_quarks(sample):
    ev = events(sorted(glob.glob(str(sample / "ttbar_s2_*.root")))[0])
    assert ak.all(ev.processId == 6)
    assert ak.all(ak.num(ev.TruthTop) == 2) and ak.all(ak.num(ev.TopQuark) == 6)
    top_of = ak.to_numpy(ev.TopQuark.top)
    assert (top_of == [0, 0, 0, 1, 1, 1]).all()  # each top's b, then its W's two quarks
    ids = ak.to_numpy(ev.TopQuark.pdgId)
    assert np.isin(np.abs(ids[:, [0, 3]]), (1, 3, 5)).all()  # the top's down-type quark (b mostly)
    assert np.mean(np.abs(ids[:, [0, 3]]) == 5) > 0.95
    w_charge = np.sign(ids[:, 1:3]).sum(axis=1)  # a W+ gives q qbar: up-type and anti-down-type
    assert (np.abs(ids[:, 1:3]).min(axis=1) <= 4).all() and (w_charge == 0).all()
    tops, quarks = ev.TruthTop, ev.TopQuark
    assert abs(np.median(ak.to_numpy(ak.flatten(tops.mass))) - 173.0) < 2.0
    for k in (0, 1):
        b, q1, q2 = (quarks[:, 3 * k + i] for i in range(3))
        m3 = ak.to_numpy((b + q1 + q2).mass)
        mt = ak.to_numpy(tops[:, k].mass)
        mw = ak.to_numpy((q1 + q2).mass)
        # the b and the W's first copy sum to the top; the W's quarks to its last copy (recoil of the b's shower)
        assert np.median(np.abs(m3 - mt)) < 2.0 and np.mean(np.abs(m3 - mt) < 15.0) > 0.9
        assert (m3 < mt + 0.5).all()
        assert abs(np.median(mw) - 80.4) < 1.5 and np.mean(np.abs(mw - 80.4) < 8) > 0.8
        assert np.median(ak.to_numpy((b + q1 + q2).deltaR(tops[:, k]))) < 0.05
    qcd = uproot.open(sorted(glob.glob(str(sample / "qcd_s2_*.root")))[0])["Events"].arrays()
    assert ak.all(qcd.nTruthTop == 0) and ak.all(qcd.nTopQuark == 0)


def contained_by_hand(jets, ev, radius):
    """Loops: the jet axis within R of a top and of all three of its quarks."""
    out, top_pt = [], []
    for jet in jets:
        e = int(jet.event)
        best = None
        for k, top in enumerate(ev.TruthTop[e]):
            def dr(obj):
                dphi = (float(jet.phi) - float(obj.phi) + np.pi) % (2 * np.pi) - np.pi
                return float(np.hypot(float(jet.eta) - float(obj.eta), dphi))
            quarks = [q for q in ev.TopQuark[e] if int(q.top) == k]
            ok = dr(top) < radius and len(quarks) == 3 and all(dr(q) < radius for q in quarks)
            if dr(top) < radius and (best is None or (ok, -dr(top)) > best[:2]):
                best = (ok, -dr(top), float(top.pt))
        out.append(int(best is not None and best[0]))
        top_pt.append(0.0 if best is None else best[2])
    return np.array(out), np.array(top_pt)


def test_top_contained_against_loops(sample):
    ev = events(sorted(glob.glob(str(sample / "ttbar_s2_*.root")))[0])
    opts = JetOptions(source="towers", radius=0.8, min_pt=200, max_jets=3, trimming={"enabled": False},
                      truth={"enabled": True})
    jets = jets_of_particles(ev.Particle, opts, None, None, (ev.TruthTop, ev.TopQuark))
    contained, top_pt = contained_by_hand(jets, ev, 0.8)
    assert ak.to_numpy(jets.top_contained).dtype == np.int8
    assert (ak.to_numpy(jets.top_contained) == contained).all()
    assert 5 < contained.sum() < len(contained)  # both kinds of jets in the sample
    np.testing.assert_allclose(ak.to_numpy(jets.top_pt), top_pt, rtol=1e-6)
    without = jets_of_particles(ev.Particle, opts, None, None, None)  # files without the branches
    assert (ak.to_numpy(without.top_contained) == 0).all() and (ak.to_numpy(without.top_pt) == 0).all()
    qcd = events(sorted(glob.glob(str(sample / "qcd_s2_*.root")))[0])
    jets = jets_of_particles(qcd.Particle, opts, None, None, (qcd.TruthTop, qcd.TopQuark))
    assert len(jets) and (ak.to_numpy(jets.top_contained) == 0).all()


def run_export(sample, folder, chunksize):
    config = {"datasets": {"top": {"files": [str(sample / "ttbar_s2_*.root")], "label": "signal"},
                           "qcd": {"files": [str(sample / "qcd_s2_*.root")], "label": "background"}},
              "clustering": {"source": "towers", "radius": 0.8, "min_pt": 200, "max_jets": 2,
                             "trimming": {"enabled": False}, "truth": {"enabled": True}},
              "selection": {"windows": {"pt": [400, 800]}, "abs_eta_max": 2.0},
              "weights": {"normalize": False},
              "accumulators": {"histograms": False, "export": {"dir": str(folder), "constituents": 20, "images": []}},
              "run": {"progress": False, "chunksize": chunksize}}
    jetflow.run(config, disable=["images", "substructure"])
    return folder


@pytest.fixture(scope="module")
def exports(sample, tmp_path_factory):
    """The sample's export at chunk size 25, and that of a copy of the sample in another folder at 60."""
    import shutil

    base = tmp_path_factory.mktemp("exports")
    moved = shutil.copytree(sample, base / "moved")
    return run_export(sample, base / "a", 25), run_export(moved, base / "b", 60)


def frames(out):
    return {name: pd.read_hdf(out / f"{name}.h5", "table") for name in TTV}


def test_toptagging_files_hold_the_exported_jets(exports, tmp_path):
    folder = exports[0]
    opts = TopTaggingWriteOptions(export="x", out="y", n_constituents=30, fractions=(0.5, 0.25, 0.25))
    record = write_sample(folder, tmp_path / "tt", opts)
    data = read(folder)
    contained = data["top_contained"] == 1
    keep = (data["label"] == 0) | contained
    assert record["signal_not_contained"] == int(np.sum(~keep)) > 0
    # every exported jet kept, once, in one file; the jets of one event in the same file
    expected = {}
    for path in shards(folder):
        part = read([path])
        stem = Path(path).name.split("__")[1]
        for i in np.flatnonzero((part["label"] == 0) | (part["top_contained"] == 1)):
            p4 = np.zeros((30, 4), np.float32)
            p4[:20] = part["constituents"][i]
            expected[p4.tobytes()] = (part["dataset"][i], stem, int(part["entry"][i]), i, part)
    seen, event_file = set(), {}
    reader = TopTaggingHDF5Reader()
    for name, frame in frames(tmp_path / "tt").items():
        assert list(frame.columns[:4]) == ["E_0", "PX_0", "PY_0", "PZ_0"] and frame.shape[1] == 4 * 30 + 6
        assert (frame["ttv"] == TTV[name]).all() and frame["E_0"].dtype == np.float32
        values = frame.to_numpy(np.float32)[:, :120]
        for row, label, truth in zip(values, frame["is_signal_new"], frame[["truthE", "truthPX", "truthPY", "truthPZ"]]
                                     .to_numpy()):
            key = row.reshape(30, 4).tobytes()
            dataset, stem, entry, i, part = expected[key]
            assert key not in seen and label == part["label"][i]
            seen.add(key)
            assert event_file.setdefault((dataset, stem, entry), name) == name
            if label == 1:
                px, py, pz, e = pxpypze(*(part[c][i] for c in ("top_pt", "top_eta", "top_phi", "top_mass")))
                np.testing.assert_allclose(truth, np.float32([e, px, py, pz]), rtol=1e-6)
            else:
                assert (truth == 0).all()
        # jetflow's reader of the reference files reads them
        path = str(tmp_path / "tt" / f"{name}.h5")
        jets = reader.read(path, "table", 0, reader.entries(path, "table"), None)
        assert (ak.to_numpy(jets.label) == frame["is_signal_new"].to_numpy()).all()
        assert (ak.to_numpy(ak.num(jets.constituents)) == (values[:, 0::4] > 0).sum(axis=1)).all()
    assert len(seen) == len(expected) == int(keep.sum())
    assert record["jets"]["train"]["signal"] + record["jets"]["val"]["signal"] + record["jets"]["test"]["signal"] \
        == int(contained.sum())


def test_the_layout_is_pandas_own(exports, tmp_path):
    """The same groups, datasets, dtypes and PyTables attributes as pandas' to_hdf (write_toptagging)."""
    write_sample(exports[0], tmp_path / "tt", TopTaggingWriteOptions(export="x", out="y", n_constituents=7))
    path = str(tmp_path / "tt" / "train.h5")
    reader = TopTaggingHDF5Reader()
    write_toptagging(tmp_path / "ref.h5", reader.read(path, "table", 0, 3, None), n_constituents=7)

    def layout(p):
        out = {}
        with h5py.File(p, "r") as f:
            f.visititems(lambda name, obj: out.update({name: (
                getattr(obj, "dtype", None), getattr(obj, "shape", (0,))[1:],
                {k: (v if k != "TITLE" else None) for k, v in obj.attrs.items()})}))
            out["/"] = dict(f.attrs)
            out["items"] = [f[f"table/block{b}_items"][()].tolist() for b in range(2)]
        return out

    ours, theirs = layout(path), layout(tmp_path / "ref.h5")
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert repr(ours[key]) == repr(theirs[key]), key
    # a file without jets: zero rows, for pandas and for jetflow's reader
    write_sample(exports[0], tmp_path / "one", TopTaggingWriteOptions(export="x", out="y", fractions=(1, 0, 0)))
    empty = str(tmp_path / "one" / "val.h5")
    assert pd.read_hdf(empty, "table").shape == (0, 806) and reader.entries(empty, "table") == 0


def test_split_and_order_do_not_depend_on_the_chunking_nor_the_folder(exports, tmp_path):
    opts = TopTaggingWriteOptions(export="x", out="y", n_constituents=20, seed=3)
    a = frames(Path(write_sample(exports[0], tmp_path / "a", opts)["files"]["train"]).parent)
    b = frames(Path(write_sample(exports[1], tmp_path / "b", opts)["files"]["train"]).parent)
    for name in TTV:
        pd.testing.assert_frame_equal(a[name], b[name])
    other = frames(Path(write_sample(exports[0], tmp_path / "c", opts.model_copy(update={"seed": 4}))["files"]["train"])
                   .parent)
    assert not a["train"].equals(other["train"])  # another shuffle of the same jets
    assert sorted(map(bytes, a["train"].to_numpy())) == sorted(map(bytes, other["train"].to_numpy()))
    balanced = frames(Path(write_sample(exports[1], tmp_path / "d", opts.model_copy(update={"balance": True}))
                           ["files"]["train"]).parent)
    for frame in balanced.values():
        assert (frame["is_signal_new"] == 1).sum() == (frame["is_signal_new"] == 0).sum()


def test_bad_exports_and_options_are_refused(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=r"fractions: \[0.5, 0.2, 0.2\] must be >= 0 and sum to 1"):
        TopTaggingWriteOptions(export="x", out="y", fractions=(0.5, 0.2, 0.2))
    n = 3
    base = {"label": np.zeros(n, np.int8), "entry": np.arange(n), "dataset": np.array(["q"] * n),
            "top_contained": np.zeros(n, np.int8)}
    write_shard(tmp_path / "e1" / "q__f-0123456789__0-3.parquet", base)
    with pytest.raises(jetflow.InputError, match=r"no column\(s\) constituents .*accumulators.export.constituents"):
        write_sample(tmp_path / "e1", tmp_path / "o", TopTaggingWriteOptions(export="x", out="y"))
    write_shard(tmp_path / "e2" / "q__f-0123456789__0-3.parquet",
                {**base, "label": np.array([0, 2, 1], np.int8), "constituents": np.ones((n, 4, 4))})
    with pytest.raises(jetflow.InputError, match="label 2; the top-tagging layout has two classes"):
        write_sample(tmp_path / "e2", tmp_path / "o", TopTaggingWriteOptions(export="x", out="y"))
