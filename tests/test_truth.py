"""Generator-level truth: gen jets equal a direct FastJet clustering of the hard event's particles;
the match, the response, the PFNano target (CMS's jet energy correction)."""

from __future__ import annotations

import glob

import awkward as ak
import fastjet
import numpy as np
import pytest
import uproot
from coffea.nanoevents import NanoEventsFactory

import jetflow
from jetflow.formats.schema import JetflowSchema
from jetflow_clustering import particle_jets
from jetflow_clustering.truth import hard_particles, match


@pytest.fixture(scope="module")
def wprime_events(generated):
    f = sorted(glob.glob(str(generated["wprime"])))[0]
    return NanoEventsFactory.from_root({f: "Events"}, schemaclass=JetflowSchema, mode="eager").events()[:80]


def ids_of(ev):
    return tuple(ak.to_numpy(ev[b]).astype(np.uint64) for b in ("run", "luminosityBlock", "event"))


def direct_gen_jets(particles):
    """Reference: FastJet's classic interface, event by event, anti-kt R = 1.0 on the visible particles."""
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, 1.0)
    counts = ak.to_numpy(ak.num(particles))
    starts = np.concatenate([[0], np.cumsum(counts)])
    pt, eta, phi, mass = (ak.to_numpy(ak.flatten(particles[f])).astype(np.float64) for f in ("pt", "eta", "phi", "mass"))
    px, py, pz, e = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    out = []
    for lo, hi in zip(starts[:-1], starts[1:]):
        pjs = [fastjet.PseudoJet(*map(float, v)) for v in zip(px[lo:hi], py[lo:hi], pz[lo:hi], e[lo:hi])]
        cs = fastjet.ClusterSequence(pjs, jet_def)
        out.append([(j.pt(), j.eta(), j.phi_std(), j.m()) for j in cs.inclusive_jets(5.0)])
    return out


def test_matched_gen_jets_equal_a_direct_fastjet_clustering(wprime_events):
    ev = wprime_events
    jets = particle_jets(ev.Particle, min_pt=150, max_jets=2, trimming={"enabled": False}, truth={"enabled": True},
                         towers={"detector": {}}, event_ids=ids_of(ev))
    reference = direct_gen_jets(ev.Particle)
    matched = ak.to_numpy(jets.gen_matched) == 1
    assert matched.mean() > 0.95
    for k in np.nonzero(matched)[0]:
        jet = jets[k]
        cands = reference[int(jet.event)]
        dr = [np.hypot(jet.eta - c[1], (jet.phi - c[2] + np.pi) % (2 * np.pi) - np.pi) for c in cands]
        best = cands[int(np.argmin(dr))]
        assert min(dr) == pytest.approx(float(jet.gen_delta_r), abs=1e-6)
        np.testing.assert_allclose([jet.gen_pt, jet.gen_eta, jet.gen_mass], [best[0], best[1], best[3]], rtol=1e-7, atol=1e-7)
    assert (ak.to_numpy(jets.gen_delta_r)[matched] < 0.5).all()
    response = ak.to_numpy(jets.response)[matched]
    np.testing.assert_allclose(response, ak.to_numpy(jets.pt)[matched] / ak.to_numpy(jets.gen_pt)[matched])
    assert 0.75 < np.median(response) < 0.95  # the detector measures low


def test_exact_towers_respond_at_one_and_pileup_is_not_truth(wprime_events):
    particles = wprime_events.Particle
    exact = particle_jets(particles, min_pt=150, trimming={"enabled": False}, truth={"enabled": True})
    response = ak.to_numpy(exact.response)[ak.to_numpy(exact.gen_matched) == 1]
    assert 0.97 < np.median(response) < 1.03  # towers only move energy onto the grid
    # flag every third particle as pile-up: truth is the rest; the reconstructed jets see everything
    flags = ak.unflatten((np.arange(ak.sum(ak.num(particles))) % 3 == 0).astype(np.int8), ak.num(particles))
    flagged = ak.with_field(particles, flags, "pileup")
    assert ak.all(ak.num(hard_particles(flagged)) == ak.num(particles) - ak.sum(flags, axis=1))
    with_pu = particle_jets(flagged, min_pt=150, trimming={"enabled": False}, truth={"enabled": True})
    hard = particle_jets(hard_particles(flagged), source="particles", min_pt=5, max_jets=None,
                         trimming={"enabled": False})
    ok = ak.to_numpy(with_pu.gen_matched) == 1
    assert ok.mean() > 0.9 and np.isin(ak.to_numpy(with_pu.gen_pt)[ok], ak.to_numpy(hard.pt)).all()
    np.testing.assert_array_equal(ak.to_numpy(with_pu.pt), ak.to_numpy(exact.pt))
    assert np.median(ak.to_numpy(with_pu.response)[ok]) > 1.3  # a third of the energy is not truth


def test_match_takes_the_closest_within_the_radius():
    reco = ak.zip({"event": [0, 0, 1], "eta": [0.0, 1.0, 0.0], "phi": [0.0, 3.1, 0.0]})
    gen = ak.zip({"event": [0, 0, 0, 1], "eta": [0.9, 0.05, 0.0, 2.0], "phi": [-3.1, 0.0, 0.3, 0.0]})
    index, dr = match(reco, gen, 3, 0.5)
    np.testing.assert_array_equal(index, [1, 0, -1])  # phi wraps: 3.1 and -3.1 are 0.08 apart
    assert dr[0] == pytest.approx(0.05) and dr[1] == pytest.approx(np.hypot(0.1, 2 * np.pi - 6.2)) and dr[2] == np.inf


def test_pfnano_truth_is_cms_genjet_and_jec(pfnano_config, pfnano_file):
    from jetflow.core.engine import Engine
    from jetflow.formats.schema import QuietPFNanoAODSchema
    from jetflow_clustering.options import JetOptions
    from jetflow_clustering.pfnano import build_pfnano_jets

    cfg = dict(pfnano_config, clustering=dict(pfnano_config["clustering"], truth={"enabled": True}))
    assert {"gen_pt", "response", "jec"} <= set(Engine.build(cfg).columns)
    assert {"gen_pt", "response", "jec"} <= set(jetflow.run(cfg)["cms_a"]["hists"])
    # against the file read directly: every FatJet of the 10 events
    a = uproot.open(pfnano_file)["Events"].arrays(["FatJet_pt", "FatJet_rawFactor", "FatJet_genJetAK8Idx", "GenJetAK8_pt"])
    events = NanoEventsFactory.from_root({str(pfnano_file): "Events"}, schemaclass=QuietPFNanoAODSchema,
                                         mode="eager").events()
    jets = build_pfnano_jets(events, JetOptions(source="pfnano", min_pt=0, max_jets=None, truth={"enabled": True}))
    idx = a.FatJet_genJetAK8Idx
    assert len(jets) == ak.sum(ak.num(idx))
    jec = 1 / (1 - ak.to_numpy(ak.flatten(a.FatJet_rawFactor)))
    gen_pt = ak.to_numpy(ak.flatten(ak.where(idx >= 0, a.GenJetAK8_pt[ak.where(idx >= 0, idx, 0)], 0.0)))
    # the builder orders each event's jets by pT
    order = np.lexsort((-ak.to_numpy(ak.flatten(a.FatJet_pt)), np.repeat(np.arange(len(idx)), ak.num(idx))))
    np.testing.assert_allclose(ak.to_numpy(jets.jec), jec[order], rtol=1e-6)
    np.testing.assert_allclose(ak.to_numpy(jets.gen_pt), gen_pt[order], rtol=1e-6)
    np.testing.assert_array_equal(ak.to_numpy(jets.gen_matched), ak.to_numpy(ak.flatten(idx))[order] >= 0)
    ok = ak.to_numpy(jets.gen_matched) == 1
    assert np.median(ak.to_numpy(jets.pt_raw)[ok] / ak.to_numpy(jets.gen_pt)[ok]) < 1.0  # raw jets measure low
