"""Event generation: the schema, reproducibility, safe writes, the signal truth."""

from __future__ import annotations

import glob
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoEventsFactory

import jetflow_generation.pythia as gen
from jetflow.core.sources import FileView
from jetflow.formats.schema import REQUIRED_BRANCHES, TREE_NAME, JetflowSchema
from jetflow_formats.native import is_jetflow


def read(path):
    return uproot.open(path)["Events"].arrays(library="ak")


def test_schema_branches_and_reading(generated):
    files = sorted(glob.glob(str(generated["wprime"])))
    assert len(files) == 2
    tree = uproot.open(files[0])["Events"]
    keys = set(tree.keys())
    assert set(REQUIRED_BRANCHES) <= keys
    assert {"nTruthW", "TruthW_pt", "TruthW_eta", "TruthW_phi", "TruthW_mass"} <= keys
    assert tree.num_entries == 300
    assert is_jetflow(FileView(str(files[0])))
    ev = NanoEventsFactory.from_root({files[0]: "Events"}, schemaclass=JetflowSchema, mode="eager").events()
    assert set(ev.Particle.fields) >= {"pt", "eta", "phi", "mass", "pdgId", "charge"}
    # signal: exactly one truth W per event, with the W mass
    assert ak.all(ak.num(ev.TruthW) == 1)
    w_mass = ak.to_numpy(ev.TruthW.mass[:, 0])
    assert abs(np.median(w_mass) - 80.4) < 1.0  # Breit-Wigner around m_W
    assert np.mean(np.abs(w_mass - 80.4) < 5) > 0.8  # BW tails: ~13% lie beyond 5 GeV for Gamma = 2.1
    # visible final state: no neutrinos; charges follow the PDG table
    ids = ak.to_numpy(ak.flatten(ev.Particle.pdgId))
    charge = ak.to_numpy(ak.flatten(ev.Particle.charge))
    assert not np.isin(np.abs(ids), [12, 14, 16]).any()
    assert (charge[ids == 211] == 1).all() and (charge[ids == -211] == -1).all()
    assert (charge[ids == 22] == 0).all() and (charge[ids == 11] == -1).all()
    phi = ak.to_numpy(ak.flatten(ev.Particle.phi))
    assert (phi > -np.pi - 1e-6).all() and (phi <= np.pi + 1e-6).all()
    # event numbers are unique across the files of a sample
    numbers = np.concatenate([ak.to_numpy(read(f)["event"]) for f in files])
    assert len(np.unique(numbers)) == 600


def test_qcd_has_no_truth_w(generated):
    f = sorted(glob.glob(str(generated["qcd"])))[0]
    arrays = read(f)
    assert ak.all(arrays["nTruthW"] == 0)
    assert ak.all(arrays["processId"] == 2)


def test_same_seed_same_content_whatever_the_workers(tmp_path):
    s = gen.GenSettings("qcd")
    gen.generate(s, 40, tmp_path / "a", seed=5, workers=1, events_per_file=20, progress=False)
    gen.generate(s, 40, tmp_path / "b", seed=5, workers=2, events_per_file=20, progress=False)
    gen.generate(s, 40, tmp_path / "c", seed=6, workers=1, events_per_file=20, progress=False)
    for name in ("qcd_s5_0000.root", "qcd_s5_0001.root"):
        a, b = read(tmp_path / "a" / name), read(tmp_path / "b" / name)
        assert a.fields == b.fields
        for field in a.fields:
            assert ak.all(a[field] == b[field]), field
    a = read(tmp_path / "a" / "qcd_s5_0000.root")
    c = read(tmp_path / "c" / "qcd_s6_0000.root")
    assert not ak.all(ak.num(a["Particle_pt"]) == ak.num(c["Particle_pt"]))
    # file seeds are distinct and derived from the sample seed
    seeds = {gen.derive_seed(5, "qcd", i) for i in range(100)}
    assert len(seeds) == 100 and all(1 <= x <= gen.MAX_PYTHIA_SEED for x in seeds)


def test_interrupted_write_leaves_no_complete_looking_file(tmp_path, monkeypatch):
    job = gen.plan(gen.GenSettings("qcd"), 10, tmp_path, seed=1, events_per_file=10)[0]

    def boom(*args, **kwargs):
        raise KeyboardInterrupt("interrupted while renaming")

    monkeypatch.setattr(gen.os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_file(job)
    assert list(tmp_path.iterdir()) == []  # neither the final file nor the partial one


def test_bad_settings_rejected(tmp_path):
    with pytest.raises(ValueError, match="--events must be >= 1"):
        gen.plan(gen.GenSettings("qcd"), 0, tmp_path, 1, 10)
    with pytest.raises(ValueError, match="Pythia rejected the setting 'NotASetting:x = 1'"):
        gen.make_pythia(gen.GenSettings("qcd", extra=("NotASetting:x = 1",)), 1)


def test_reuse_returns_an_existing_sample(tmp_path):
    s = gen.GenSettings("qcd")
    first = gen.generate(s, 20, tmp_path, seed=4, events_per_file=20, progress=False)
    stamp = (tmp_path / "qcd_s4_0000.root").stat().st_mtime_ns
    again = gen.generate(s, 20, tmp_path, seed=4, events_per_file=20, progress=False, reuse=True)
    assert all(rec.pop("reused") for rec in again)
    assert again == first and (tmp_path / "qcd_s4_0000.root").stat().st_mtime_ns == stamp
    # other settings: generated anew
    gen.generate(gen.GenSettings("qcd", pthat_min=250.0), 20, tmp_path, seed=4, events_per_file=20, progress=False, reuse=True)
    assert (tmp_path / "qcd_s4_0000.root").stat().st_mtime_ns != stamp


def test_reuse_extends_a_smaller_sample(tmp_path):
    s = gen.GenSettings("qcd")
    small, big, fresh = tmp_path / "small", tmp_path / "big", tmp_path / "fresh"
    gen.generate(s, 20, small, seed=5, events_per_file=10, progress=False)
    shutil.copytree(small, big)  # a copied sample directory is reused too
    stamps = {p.name: p.stat().st_mtime_ns for p in big.glob("*.root")}
    records = gen.generate(s, 35, big, seed=5, events_per_file=10, progress=False, reuse=True)
    assert [Path(r["path"]).parent for r in records] == [big] * 4
    assert [r["events"] for r in records] == [10, 10, 10, 5]
    for name, stamp in stamps.items():  # the first two files were not touched
        assert (big / name).stat().st_mtime_ns == stamp
    gen.generate(s, 35, fresh, seed=5, events_per_file=10, progress=False)
    for name in ("qcd_s5_0000.root", "qcd_s5_0003.root"):
        with uproot.open(big / name) as a, uproot.open(fresh / name) as b:
            ta, tb = a[TREE_NAME], b[TREE_NAME]
            assert ak.to_list(ta["Particle_pt"].array()) == ak.to_list(tb["Particle_pt"].array())
            assert ta["event"].array().tolist() == tb["event"].array().tolist()
    # a different file size: nothing is reused, all files made again
    gen.generate(s, 35, big, seed=5, events_per_file=7, progress=False, reuse=True)
    assert len(list(big.glob("qcd_s5_*.root"))) == 5


def test_generation_on_a_dask_cluster_makes_the_local_pools_files(tmp_path):
    """Files spread over the workers of a dask LocalCluster (written by the client, not the workers) have the
    content of the local process pool's, file by file; the sample's manifest is the same."""
    from distributed import LocalCluster

    s = gen.GenSettings("wprime")
    pool = gen.generate(s, 45, tmp_path / "pool", seed=3, workers=2, events_per_file=15, progress=False)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = gen.generate(s, 45, tmp_path / "dask", seed=3, events_per_file=15, progress=False,
                               scheduler=cluster.scheduler_address)
        assert {r["worker"] for r in on_dask} <= set(cluster.scheduler_info["workers"])  # made on its workers
    assert [Path(r["path"]).name for r in on_dask] == [Path(r["path"]).name for r in pool]
    assert [(r["events"], r["seed"]) for r in on_dask] == [(r["events"], r["seed"]) for r in pool]
    for rec in pool:
        name = Path(rec["path"]).name
        a, b = read(tmp_path / "pool" / name), read(tmp_path / "dask" / name)
        assert a.fields == b.fields
        for field in a.fields:
            assert ak.to_list(a[field]) == ak.to_list(b[field]), (name, field)
    assert not list((tmp_path / "dask").glob(".*"))  # no temporary file left


def test_a_killed_generation_loses_only_the_file_in_progress(tmp_path):
    """The manifest is written after every file: after a crash, the run again makes only the missing files;
    a smaller sample asked for later keeps the larger one's extra files listed for the next run."""
    s = gen.GenSettings("qcd")

    def crash_after_the_first(record):
        raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        gen.generate(s, 30, tmp_path, seed=2, events_per_file=10, progress=False, on_file=crash_after_the_first)
    first = tmp_path / "qcd_s2_0000.root"
    stamp = first.stat().st_mtime_ns
    records = gen.generate(s, 30, tmp_path, seed=2, events_per_file=10, progress=False, reuse=True)
    assert [bool(r.get("reused")) for r in records] == [True, False, False]
    assert first.stat().st_mtime_ns == stamp
    smaller = gen.generate(s, 10, tmp_path, seed=2, events_per_file=10, progress=False, reuse=True)
    assert len(smaller) == 1 and smaller[0]["reused"]
    again = gen.generate(s, 30, tmp_path, seed=2, events_per_file=10, progress=False, reuse=True)
    assert all(r["reused"] for r in again)
