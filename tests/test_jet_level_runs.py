"""Jet-level formats through ``jetflow.run``: jets of the top-tagging layout (HDF5 and Parquet) give the jets,
images and N-subjettiness of the same constituents as one-jet events of jetflow's own format."""

from __future__ import annotations

import glob
import types

import awkward as ak
import numpy as np
import pytest
import uproot

import jetflow
from jetflow.formats.schema import write_events
from jetflow_clustering import particle_jets
from jetflow_formats.toptagging import TOPTAGGING, write_toptagging

COLLECTED = ("pt", "eta", "phi", "mass", "mass_softdrop", "tau1", "tau2", "tau3", "tau21", "image", "label")


class Collected:
    """Per-jet arrays of a run, concatenated in chunk order (an accumulator)."""

    def __init__(self, arrays):
        self.arrays = arrays

    def __add__(self, other):
        return Collected({k: np.concatenate([v, other.arrays[k]]) for k, v in self.arrays.items()})


def collector():
    plugin = types.ModuleType("collect_jets")
    plugin.jetflow_accumulate = jetflow.hookimpl(
        lambda jets, ctx: {"collected": Collected({k: ak.to_numpy(jets[k]) for k in COLLECTED})})
    return plugin


@pytest.fixture(scope="module")
def jet_files(generated, tmp_path_factory):
    """The leading anti-kt R = 0.8 jet of each W' and QCD event, in the top-tagging layout (HDF5, Parquet), and
    its constituents as read back, as the particles of one event each in jetflow's format."""
    out = tmp_path_factory.mktemp("jets")
    tables = []
    for label, process in ((1, "wprime"), (0, "qcd")):
        for f in sorted(glob.glob(str(generated[process])))[:1]:
            p = uproot.open(f)["Events"].arrays(filter_name="Particle_*")
            particles = ak.zip({k[len("Particle_"):]: p[k] for k in p.fields})
            jets = particle_jets(particles, source="particles", radius=0.8, min_pt=300, max_jets=1,
                                 trimming={"enabled": False})
            tables.append(ak.with_field(jets, np.full(len(jets), label, np.int8), "label"))
    jets = ak.concatenate(tables)
    h5, pq = out / "jets.h5", out / "jets.parquet"
    write_toptagging(h5, jets)
    write_toptagging(pq, jets, format="parquet")
    read = TOPTAGGING.reader.read(str(h5), "table", 0, len(jets), None)
    c = read.constituents
    n = len(read)
    zeros = ak.values_astype(ak.zeros_like(c.pt), np.int32)
    write_events(out / "events.root", {
        "run": np.ones(n, np.uint32), "luminosityBlock": np.zeros(n, np.uint32), "event": np.arange(n, dtype=np.uint64),
        "genWeight": np.ones(n, np.float32), "processId": np.where(ak.to_numpy(read.label) == 1, 1, 2).astype(np.int32),
        "Particle": ak.zip({"pt": c.pt, "eta": c.eta, "phi": c.phi, "mass": c.mass, "pdgId": zeros, "charge": zeros}),
    })
    return {"h5": h5, "parquet": pq, "events": out / "events.root", "labels": ak.to_numpy(read.label), "n": n}


def _run(files, label, schema="auto"):
    cfg = {
        "datasets": {"jets": {"files": [str(files)], "label": label}},
        "clustering": {"source": "particles", "radius": 0.8, "min_pt": 0.0, "max_jets": 1},
        "weights": {"normalize": False},
        "selection": {"windows": {}},
        "run": {"progress": False, "chunksize": 37, "schema": schema},
    }
    return jetflow.run(cfg, plugins=[collector()])["jets"]["collected"].arrays


def test_top_tagging_jets_equal_the_same_particles_in_jetflows_format(jet_files):
    assert jet_files["n"] > 100 and 0 < jet_files["labels"].mean() < 1
    events = _run(jet_files["events"], "signal")
    for layout in ("h5", "parquet"):
        jets = _run(jet_files[layout], "file")
        assert len(jets["pt"]) == len(events["pt"]) == jet_files["n"]
        np.testing.assert_array_equal(jets["label"], jet_files["labels"])  # label: file
        for name in ("pt", "eta", "mass", "mass_softdrop", "tau1", "tau2", "tau3", "tau21"):
            np.testing.assert_allclose(jets[name], events[name], rtol=2e-5, atol=2e-5, err_msg=f"{layout}: {name}")
        dphi = np.angle(np.exp(1j * (jets["phi"] - events["phi"])))
        np.testing.assert_allclose(dphi, 0, atol=2e-5)
        # images are normalised sums of pixels: equal where the constituents fall in the same pixels
        same_pixels = (np.abs(jets["image"] - events["image"]).reshape(len(jets["pt"]), -1).max(axis=1) < 1e-4)
        assert same_pixels.mean() > 0.98, same_pixels.mean()


def test_label_file_needs_a_format_with_labels(jet_files):
    with pytest.raises(jetflow.ConfigError, match=r"label: file, but the jets of .* \(input format jetflow.*carry no label"):
        _run(jet_files["events"], "file")
