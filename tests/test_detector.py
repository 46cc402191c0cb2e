"""The calorimeter model: response, resolution and thresholds against the configured parametrisation;
randomness that depends on the event, never on the chunking; a jet response that depends on the jet's content."""

from __future__ import annotations

import glob

import awkward as ak
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory
from scipy.optimize import brentq
from scipy.stats import norm

import jetflow
from jetflow.formats.schema import JetflowSchema
from jetflow_clustering import particle_jets
from jetflow_clustering.detector import counter_uniform, pi_over_e, resolution
from jetflow_clustering.options import DetectorOptions
from jetflow_clustering.towers import build_towers

N = 20000
CELL_ETA = 0.35  # a tower centre (0.1 grid from -5)
CELL_PHI = (10.5) * 2 * np.pi / 63 - np.pi


def single_particles(energy: float, pdg_id: int, mass: float = 0.0, n: int = N):
    """n events of one particle of the given energy, at a tower centre; events numbered 0..n-1."""
    pt = np.sqrt(energy**2 - mass**2) / np.cosh(CELL_ETA)
    one = np.ones(n)
    particles = ak.unflatten(ak.zip({
        "pt": pt * one, "eta": CELL_ETA * one, "phi": CELL_PHI * one, "mass": mass * one,
        "pdgId": np.full(n, pdg_id), "charge": np.zeros(n),
    }), np.ones(n, dtype=np.int64))
    ids = (np.ones(n, np.uint64), np.zeros(n, np.uint64), np.arange(n, dtype=np.uint64))
    return particles, ids


def measured(energy, pdg_id, mass=0.0, detector=None, n=N):
    detector = detector or DetectorOptions()
    particles, ids = single_particles(energy, pdg_id, mass, n)
    towers, counts, _ = build_towers(particles, 0.1, 5.0, detector, ids)
    return towers["pt"] * np.cosh(towers["eta"]), counts


def check_mean_and_width(values, mean, sigma):
    n = len(values)
    assert abs(values.mean() - mean) < 4 * sigma / np.sqrt(n), (values.mean(), mean)
    assert abs(values.std() / sigma - 1) < 5 / np.sqrt(2 * n), (values.std(), sigma)


@pytest.mark.parametrize("energy", [20.0, 100.0, 400.0])
def test_photons_are_measured_with_the_ecal_resolution(energy):
    det = DetectorOptions()
    e, counts = measured(energy, 22, detector=det)
    assert (counts == 1).all()  # far above the thresholds: every photon seen
    sigma = resolution(np.array([energy]), np.array([CELL_ETA]), det.ecal)[0]
    # the card's barrel formula, written out: (1 + 0.64 eta^2) sqrt((0.008 E)^2 + 0.11^2 E + 0.40^2)
    assert sigma == pytest.approx((1 + 0.64 * CELL_ETA**2) * np.sqrt((0.008 * energy) ** 2 + 0.11**2 * energy + 0.4**2))
    check_mean_and_width(e, energy, sigma)


@pytest.mark.parametrize("energy", [100.0, 200.0, 500.0])
def test_hadrons_are_measured_low_with_the_hcal_resolution(energy):
    det = DetectorOptions()
    e, counts = measured(energy, 211, mass=0.13957, detector=det)
    assert (counts == 1).all()
    response = 1 - (1 - 0.7) * energy**-0.15  # pi/e with h/e = 0.7, E0 = 1 GeV, m = 0.85
    assert pi_over_e(np.array([energy]), det.hadron_response)[0] == pytest.approx(response)
    mean = energy * response
    sigma = np.sqrt((0.05 * mean) ** 2 + 1.5**2 * mean)
    check_mean_and_width(e, mean, sigma)


def test_non_compensation_rises_with_energy_and_k0s_are_split():
    det = DetectorOptions()
    r = pi_over_e(np.array([2.0, 20.0, 200.0, 2000.0]), det.hadron_response)
    assert np.all(np.diff(r) > 0) and 0.7 < r[0] and r[-1] < 1
    energy = 200.0
    e, _ = measured(energy, 310, mass=0.4976, detector=det)
    ecal, hcal = 0.3 * energy, 0.7 * energy * pi_over_e(np.array([0.7 * energy]), det.hadron_response)[0]
    sigma = np.hypot(resolution(np.array([ecal]), np.array([CELL_ETA]), det.ecal)[0],
                     resolution(np.array([hcal]), np.array([CELL_ETA]), det.hcal)[0])
    check_mean_and_width(e, ecal + hcal, sigma)


def test_muons_and_neutrinos_leave_no_tower():
    for pdg, mass in ((13, 0.1057), (12, 0.0)):
        _, counts = measured(50.0, pdg, mass, n=100)
        assert counts.sum() == 0


def kept_fraction(mean: float, sigma: float, cut: float) -> float:
    """P(measured >= cut) for the log-normal of that mean and standard deviation."""
    s2 = np.log1p((sigma / mean) ** 2)
    return float(norm.sf((np.log(cut) - (np.log(mean) - s2 / 2)) / np.sqrt(s2)))


def test_thresholds_keep_the_lognormal_tail_above_them():
    """A 1 GeV photon is kept when measured above energy_min and above 2 sigma at the measured energy."""
    det = DetectorOptions()
    energy = 1.0
    e, counts = measured(energy, 22, detector=det)
    f = 1 + 0.64 * CELL_ETA**2  # the card's barrel formula, written out; the cut solves E = 2 sigma(E)
    cut = max(0.5, brentq(lambda x: x - 2 * f * np.sqrt((0.008 * x) ** 2 + 0.11**2 * x + 0.4**2), 0.01, 100))
    sigma = resolution(np.array([energy]), np.array([CELL_ETA]), det.ecal)[0]
    expected = kept_fraction(energy, sigma, cut)
    assert 0.05 < expected < 0.95
    assert abs(counts.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / N)
    assert e.min() >= cut and e.min() < 1.05 * cut


@pytest.mark.parametrize("energy", [5.0, 20.0])
def test_hcal_threshold_is_delphes_fixed_cut_at_9_gev(energy):
    """Delphes judges a tower's significance with sigma at the measured energy: for the HCAL's
    sqrt((0.05 E)^2 + 1.5^2 E) at 2 sigma that is a fixed cut at E = 9 / (1 - 4 x 0.05^2) = 9.09 GeV.
    Charged pions of 5 GeV keep about 5% of their towers, of 20 GeV about 92%."""
    det = DetectorOptions()
    e, counts = measured(energy, 211, mass=0.13957, detector=det)
    cut = 9.0 / (1 - 4 * 0.05**2)
    deposit = energy * (1 - (1 - 0.7) * energy**-0.15)  # pi/e with h/e = 0.7, E0 = 1 GeV, m = 0.85
    expected = kept_fraction(deposit, np.sqrt((0.05 * deposit) ** 2 + 1.5**2 * deposit), cut)
    assert abs(counts.mean() - expected) < 4 * np.sqrt(expected * (1 - expected) / N), (counts.mean(), expected)
    assert e.min() >= cut * (1 - 1e-12)
    assert e.min() < 1.03 * cut  # the cut itself, not the 2 sigma of the true deposit (5.9 GeV at 5 GeV)


def test_randomness_is_a_function_of_the_event_and_the_seed():
    particles, ids = single_particles(80.0, 22, n=1000)
    det = DetectorOptions()
    whole, _, _ = build_towers(particles, 0.1, 5.0, det, ids)
    # the same events in two chunks, in the other order
    a, _, _ = build_towers(particles[500:], 0.1, 5.0, det, tuple(i[500:] for i in ids))
    b, _, _ = build_towers(particles[:500], 0.1, 5.0, det, tuple(i[:500] for i in ids))
    np.testing.assert_array_equal(np.concatenate([b["pt"], a["pt"]]), whole["pt"])
    other, _, _ = build_towers(particles, 0.1, 5.0, DetectorOptions(seed=1), ids)
    assert not np.any(other["pt"] == whole["pt"])
    shifted, _, _ = build_towers(particles, 0.1, 5.0, det, (ids[0], ids[1], ids[2] + 1))
    np.testing.assert_array_equal(shifted["pt"][:-1], whole["pt"][1:])  # event k+1's number: event k+1's towers
    u = counter_uniform(3, np.arange(100000))
    assert 0 < u.min() and u.max() < 1 and abs(u.mean() - 0.5) < 0.005 and abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.02


def test_jet_response_depends_on_the_photon_content(generated):
    """Photons are measured at 1, hadrons below: the more of a jet's pT photons carry, the higher its response."""
    files = sorted(glob.glob(str(generated["qcd"])))
    ev = NanoEventsFactory.from_root({files[0]: "Events"}, schemaclass=JetflowSchema, mode="eager").events()
    ids = tuple(ak.to_numpy(ev[b]).astype(np.uint64) for b in ("run", "luminosityBlock", "event"))
    exact = particle_jets(ev.Particle, min_pt=150, max_jets=1, trimming={"enabled": False})
    reco = particle_jets(ev.Particle, min_pt=50, max_jets=1, trimming={"enabled": False},
                         towers={"detector": {}}, event_ids=ids)
    both = np.intersect1d(ak.to_numpy(exact.event), ak.to_numpy(reco.event))
    e = exact[np.isin(ak.to_numpy(exact.event), both)]
    r = reco[np.isin(ak.to_numpy(reco.event), both)]
    close = np.hypot(ak.to_numpy(e.eta - r.eta), ak.to_numpy(e.phi - r.phi)) < 0.2
    response = ak.to_numpy(r.pt / e.pt)[close]
    photon = ak.to_numpy(ak.sum(e.constituents.pt_photon, axis=1) / e.pt)[close]
    assert close.sum() > 100
    assert 0.8 < np.median(response) < 0.97
    slope = np.polyfit(photon, response, 1)[0]
    assert slope > 0.05  # ~0.15 expected: photons at 1, hadrons at ~0.85


def test_runs_do_not_depend_on_chunking_or_executor(generated):
    cfg = {
        "datasets": {"qcd": {"files": [str(generated["qcd"])], "label": "background"}},
        "clustering": {"source": "towers", "towers": {"detector": {"seed": 7}}},
        "selection": {"windows": {"pt": [150, None]}},
        "run": {"progress": False},
    }
    a = jetflow.run(cfg, executor="iterative", chunksize=300)
    b = jetflow.run(cfg, executor="futures", workers=2, chunksize=70)
    assert a["qcd"]["cutflow"].counts == b["qcd"]["cutflow"].counts
    for name, h in a["qcd"]["hists"].items():
        np.testing.assert_allclose(h.values(flow=True), b["qcd"]["hists"][name].values(flow=True), rtol=1e-12)
    exact = jetflow.run(dict(cfg, clustering={"source": "towers"}), chunksize=300)
    assert exact["qcd"]["hists"]["pt"].values().sum() != a["qcd"]["hists"]["pt"].values().sum()
