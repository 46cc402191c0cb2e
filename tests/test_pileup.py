"""Pile-up: Poisson(MU) vertices from a minimum-bias library, flagged, exactly rebuildable; the hard event untouched."""

from __future__ import annotations

import glob

import awkward as ak
import numpy as np
import pytest
import uproot
from scipy.stats import chisquare, poisson

from jetflow_generation.pileup import Library, overlay
from jetflow_generation.pythia import GenSettings, generate


def toy_library(n: int = 50, seed: int = 0) -> Library:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 20, n)
    total = int(counts.sum())
    fields = {"pt": rng.exponential(1.0, total).astype(np.float32), "eta": rng.uniform(-4, 4, total).astype(np.float32),
              "phi": rng.uniform(-np.pi, np.pi, total).astype(np.float32), "mass": np.zeros(total, np.float32),
              "pdgId": rng.choice([211, -211, 22], total).astype(np.int32), "charge": np.zeros(total, np.int32)}
    return Library(np.concatenate([[0], np.cumsum(counts)]), fields)


def toy_events(n: int):
    counts = np.full(n, 3)
    x = np.arange(3 * n, dtype=np.float32)
    return ak.unflatten(ak.zip({"pt": 100 + x, "eta": x * 0, "phi": x * 0, "mass": x * 0,
                                "pdgId": np.full(3 * n, 21, np.int32), "charge": np.zeros(3 * n, np.int32)}), counts)


def test_the_number_of_vertices_is_poisson():
    mu = 60.0
    _, branches = overlay(toy_events(20000), toy_library(), mu, np.random.default_rng(3))
    n = branches["Pileup_nPU"]
    assert n.mean() == pytest.approx(mu, abs=4 * np.sqrt(mu / len(n)))
    # chi-square against Poisson(60) in bins of at least ~50 expected events
    edges = np.array([0, 45, 50, 54, 57, 59, 61, 63, 66, 70, 75, 200])
    observed = np.histogram(n, edges)[0]
    expected = np.diff(poisson.cdf(edges - 1, mu)) * len(n)
    expected *= observed.sum() / expected.sum()
    assert chisquare(observed, expected).pvalue > 1e-3


def test_overlaid_particles_are_the_library_events_turned_and_reflected():
    lib = toy_library()
    events = toy_events(200)
    merged, branches = overlay(events, lib, 5.0, np.random.default_rng(9))
    vertices = branches["PileupVertex"]
    for e in range(0, 200, 17):
        particles = merged[e]
        np.testing.assert_array_equal(ak.to_numpy(particles.pt[particles.pileup == 0]), ak.to_numpy(events[e].pt))
        for k, v in enumerate(vertices[e], start=1):
            mine = particles[particles.pileup == k]
            lo, hi = lib.offsets[v.index], lib.offsets[v.index + 1]
            np.testing.assert_array_equal(ak.to_numpy(mine.pt), lib.fields["pt"][lo:hi])
            np.testing.assert_allclose(ak.to_numpy(mine.eta), v.flip * lib.fields["eta"][lo:hi])
            dphi = np.angle(np.exp(1j * (ak.to_numpy(mine.phi) - lib.fields["phi"][lo:hi] - v.dphi)))
            np.testing.assert_allclose(dphi, 0, atol=1e-5)
    assert ak.sum(merged.pileup > 0) == int(np.diff(lib.offsets)[ak.to_numpy(ak.flatten(vertices.index))].sum())


def test_generated_pileup_keeps_the_hard_event_and_does_not_depend_on_workers(tmp_path):
    settings = dict(pthat_min=200.0, pthat_max=400.0)
    plain = generate(GenSettings("qcd", **settings), 120, tmp_path / "plain", seed=4, events_per_file=60, progress=False)
    pu = generate(GenSettings("qcd", **settings, pileup=20, pileup_library=80), 120, tmp_path / "pu", seed=4,
                  events_per_file=60, progress=False)
    again = generate(GenSettings("qcd", **settings, pileup=20, pileup_library=80), 120, tmp_path / "pu2", seed=4,
                     events_per_file=60, workers=2, progress=False)
    assert [r["path"].rsplit("/", 1)[1] for r in pu] == ["qcd_pu20_s4_0000.root", "qcd_pu20_s4_0001.root"]
    for a_rec, p_rec, w_rec in zip(plain, pu, again):
        a = uproot.open(a_rec["path"])["Events"].arrays()
        p = uproot.open(p_rec["path"])["Events"].arrays()
        w = uproot.open(w_rec["path"])["Events"].arrays()
        hard = p.Particle_pileup == 0
        assert ak.all(p.Particle_pt[hard] == a.Particle_pt) and ak.all(p.Particle_pdgId[hard] == a.Particle_pdgId)
        assert ak.all(ak.num(p.PileupVertex_index) == p.Pileup_nPU)
        assert ak.all(ak.max(p.Particle_pileup, axis=1, mask_identity=False) == p.Pileup_nPU)
        for field in ("Particle_pt", "Particle_phi", "PileupVertex_index"):
            assert ak.all(p[field] == w[field])  # one worker or two: the same files
    assert pu[0]["overlay_s"] > 0
    # the library was made once and is reused
    assert len(glob.glob(str(tmp_path / "pu" / "pileup_library_s4_n80_*.root"))) == 1
    from jetflow_generation.pileup import ensure_library

    assert ensure_library(tmp_path / "pu", 4, 80, 14000.0)["reused"]


def test_softkiller_against_an_event_by_event_reference():
    """The columnar SoftKiller equals a plain loop over events, and removes pile-up, not the jet."""
    from jetflow_clustering.mitigation import softkiller

    lib = toy_library(200, seed=2)
    rng = np.random.default_rng(4)
    hard = toy_events(300)
    merged, _ = overlay(hard, lib, 40.0, rng)
    counts = ak.to_numpy(ak.num(merged))
    fields = {f: ak.to_numpy(ak.flatten(merged[f])).astype(np.float64) for f in ("pt", "eta", "phi")}
    fields["pileup"] = ak.to_numpy(ak.flatten(merged.pileup))
    kept, kept_counts, cuts = softkiller(fields, counts, grid=0.5, max_abs_eta=4.0)
    starts = np.concatenate([[0], np.cumsum(counts)])
    n_eta, n_phi = 16, int(round(2 * np.pi / 0.5))
    for e in range(0, 300, 23):
        pt, eta, phi = (fields[f][starts[e]:starts[e + 1]] for f in ("pt", "eta", "phi"))
        patches = np.zeros((n_eta, n_phi))
        for p, y, f in zip(pt, eta, phi):
            if abs(y) < 4.0:
                i = min(int((y + 4.0) / 8.0 * n_eta), n_eta - 1)
                j = min(int(((f + np.pi) % (2 * np.pi)) / (2 * np.pi) * n_phi), n_phi - 1)
                patches[i, j] = max(patches[i, j], p)
        assert cuts[e] == pytest.approx(np.median(patches))
        assert kept_counts[e] == (pt >= np.median(patches)).sum()
    hard_kept = (kept["pileup"] == 0).sum() / (fields["pileup"] == 0).sum()
    pu_kept = (kept["pileup"] > 0).sum() / (fields["pileup"] > 0).sum()
    assert hard_kept == 1.0 and pu_kept < 0.5  # the 100 GeV hard particles all stay
