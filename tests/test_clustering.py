"""Jet building: towers, anti-kt + trimming against FastJet's classic Filter, PFNano jets."""

from __future__ import annotations

import glob

import awkward as ak
import fastjet
import numpy as np
import pytest
from coffea.nanoevents import NanoEventsFactory

import jetflow
from jetflow.formats.schema import JetflowSchema
from jetflow_clustering.clustering import cluster_jets
from jetflow_clustering.towers import build_towers, particles_table


@pytest.fixture(scope="module")
def wprime_particles(generated):
    f = sorted(glob.glob(str(generated["wprime"])))[0]
    ev = NanoEventsFactory.from_root({f: "Events"}, schemaclass=JetflowSchema, mode="eager").events()
    return ev.Particle[:120]


def energy(pt, eta, mass):
    return np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)


def test_towers_conserve_visible_energy(wprime_particles):
    towers, counts, lost = build_towers(wprime_particles, 0.1, 5.0)
    p, pcounts = particles_table(wprime_particles)
    e_particles = energy(p["pt"], p["eta"], p["mass"])
    inside = np.abs(p["eta"]) < 5.0
    e_towers = towers["pt"] * np.cosh(towers["eta"])
    # per event: tower energy = energy of the visible particles inside the acceptance
    ev_p = np.bincount(np.repeat(np.arange(len(pcounts)), pcounts)[inside], weights=e_particles[inside], minlength=len(pcounts))
    ev_t = np.bincount(np.repeat(np.arange(len(counts)), counts), weights=e_towers, minlength=len(counts))
    np.testing.assert_allclose(ev_t, ev_p, rtol=1e-9)
    np.testing.assert_allclose(e_particles.sum(), e_towers.sum() + lost, rtol=1e-9)
    # towers are massless, at cell centres on the 0.1 x 2pi/63 grid, one per occupied cell
    assert (towers["mass"] == 0).all()
    np.testing.assert_allclose(np.mod(towers["eta"] + 5.0, 0.1), 0.05, atol=1e-9)
    np.testing.assert_allclose(np.mod(towers["phi"] + np.pi, 2 * np.pi / 63), np.pi / 63, atol=1e-9)
    # channels add up to the tower pT
    total = towers["pt_charged"] + towers["pt_neutral_hadron"] + towers["pt_photon"]
    np.testing.assert_allclose(total, towers["pt"], rtol=1e-9)


def classic_trimmed_jets(fields, counts, radius, min_pt, max_jets, r_sub, f_cut):
    """Reference: FastJet's classic interface, one event at a time, Filter for trimming."""
    jet_def = fastjet.JetDefinition(fastjet.antikt_algorithm, radius)
    trimmer = fastjet.Filter(fastjet.JetDefinition(fastjet.kt_algorithm, r_sub), fastjet.SelectorPtFractionMin(f_cut))
    e = energy(fields["pt"], fields["eta"], fields["mass"])
    px, py, pz = fields["pt"] * np.cos(fields["phi"]), fields["pt"] * np.sin(fields["phi"]), fields["pt"] * np.sinh(fields["eta"])
    out = []
    start = 0
    for n in counts:
        pjs = []
        for i in range(start, start + n):
            pj = fastjet.PseudoJet(float(px[i]), float(py[i]), float(pz[i]), float(e[i]))
            pj.set_user_index(int(i))
            pjs.append(pj)
        start += n
        cs = fastjet.ClusterSequence(pjs, jet_def)
        for jet in fastjet.sorted_by_pt(cs.inclusive_jets(min_pt))[:max_jets]:
            # Tower grids make exactly equidistant pairs, whose kt merging order depends
            # on the input order; feed the trimmer the constituents in input order, as
            # jetflow does, so that both resolve such ties alike.
            ordered = sorted(jet.constituents(), key=lambda c: c.user_index())
            t = trimmer(fastjet.join(ordered))
            out.append(
                {
                    "pt": t.pt(), "mass": t.m(), "eta": t.eta(), "phi": t.phi_std(),
                    "pt_untrimmed": jet.pt(), "mass_untrimmed": jet.m(),
                    "n_constituents": len(t.constituents()),
                    "subjet_pt": sorted((s.pt() for s in t.pieces()), reverse=True),
                }
            )
    return out


@pytest.mark.parametrize("source", ["particles", "towers"])
def test_trimming_matches_fastjet_filter(wprime_particles, source):
    if source == "towers":
        fields, counts, _ = build_towers(wprime_particles, 0.1, 5.0)
    else:
        fields, counts = particles_table(wprime_particles)
    jets = cluster_jets(fields, counts, radius=1.0, min_pt=50.0, max_jets=2, r_sub=0.3, f_cut=0.05)
    ref = classic_trimmed_jets(fields, counts, 1.0, 50.0, 2, 0.3, 0.05)
    assert len(jets) == len(ref) > 100
    for key in ("pt", "mass", "eta", "pt_untrimmed", "mass_untrimmed"):
        np.testing.assert_allclose(ak.to_numpy(jets[key]), [r[key] for r in ref], rtol=1e-9, atol=1e-6, err_msg=key)
    dphi = np.angle(np.exp(1j * (ak.to_numpy(jets.phi) - [r["phi"] for r in ref])))
    np.testing.assert_allclose(dphi, 0, atol=1e-9)
    assert ak.to_list(ak.num(jets.constituents)) == [r["n_constituents"] for r in ref]
    for got, want in zip(ak.to_list(jets.subjets.pt), (r["subjet_pt"] for r in ref)):
        np.testing.assert_allclose(got, want, rtol=1e-9)
    # trimming removes radiation: never adds pT, and the leading jets are pT ordered
    assert (ak.to_numpy(jets.pt) <= ak.to_numpy(jets.pt_untrimmed) + 1e-9).all()
    # constituents add up to the trimmed jet
    c = jets.constituents
    sum_px = ak.to_numpy(ak.sum(c.pt * np.cos(c.phi), axis=1))
    sum_py = ak.to_numpy(ak.sum(c.pt * np.sin(c.phi), axis=1))
    np.testing.assert_allclose(np.hypot(sum_px, sum_py), ak.to_numpy(jets.pt), rtol=1e-9)


def test_trimming_off_and_empty_events():
    fields = {k: np.zeros(0) for k in ("pt", "eta", "phi", "mass", "charge", "pt_charged", "pt_neutral_hadron", "pt_photon", "n_charged")}
    fields["pdgId"] = np.zeros(0, dtype=np.int64)
    jets = cluster_jets(fields, np.zeros(5, dtype=np.int64), min_pt=10)
    assert len(jets) == 0 and "constituents" in jets.fields


def trimmed_mass_peak(generated, process, label):
    cfg = {
        "datasets": {process: {"files": [str(generated[process])], "label": label}},
        "clustering": {"source": "towers"},
        "selection": {"windows": {"pt": [250, 300]}},
        "accumulators": {"binning": {"mass": {"bins": 25, "start": 0, "stop": 250}}},
        "weights": {"normalize": False},  # count jets
        "run": {"progress": False},
    }
    h = jetflow.run(cfg)[process]["hists"]["mass"][{"dataset": process, "label": sum}]
    return h.axes[0].centers[np.argmax(h.values())], h.values().sum()


def test_trimmed_mass_peaks_at_w_for_signal_only(generated):
    peak_w, n_w = trimmed_mass_peak(generated, "wprime", "signal")
    peak_q, n_q = trimmed_mass_peak(generated, "qcd", "background")
    assert n_w > 100 and n_q > 50
    assert 70 < peak_w < 90
    assert not 70 < peak_q < 90


def test_pfnano_pt_rebuilt_from_puppi_candidates(pfnano_file):
    from jetflow.formats.schema import QuietPFNanoAODSchema
    from jetflow_clustering.options import JetOptions
    from jetflow_clustering.pfnano import build_pfnano_jets

    ev = NanoEventsFactory.from_root({str(pfnano_file): "Events"}, schemaclass=QuietPFNanoAODSchema, mode="eager").events()
    jets = build_pfnano_jets(ev, JetOptions(source="pfnano", min_pt=0, max_jets=None))
    assert len(jets) == int(ak.sum(ak.num(ev.FatJet)))
    c = jets.constituents
    rebuilt = np.hypot(ak.to_numpy(ak.sum(c.pt * np.cos(c.phi), axis=1)), ak.to_numpy(ak.sum(c.pt * np.sin(c.phi), axis=1)))
    # the stored FatJet pT is calibrated (JEC: 6-13% above the candidates' sum in this
    # file); the PUPPI-weighted candidates sum to the raw pT = pt * (1 - rawFactor).
    # All 24 jets agree within 0.3% (NanoAOD stores candidate pT with reduced precision).
    rel = np.abs(rebuilt / ak.to_numpy(jets.pt_raw) - 1)
    assert (rel < 0.01).all(), rel
    unweighted = build_pfnano_jets(ev, JetOptions(source="pfnano", min_pt=0, max_jets=None, pfnano={"puppi": False}))
    cu = unweighted.constituents
    rebuilt_u = np.hypot(ak.to_numpy(ak.sum(cu.pt * np.cos(cu.phi), axis=1)), ak.to_numpy(ak.sum(cu.pt * np.sin(cu.phi), axis=1)))
    assert np.mean(np.abs(rebuilt_u / ak.to_numpy(jets.pt_raw) - 1)) > 2 * np.mean(rel)  # the weights matter
    # the link table is exact: every FatJetPFCands entry is used once
    assert int(ak.sum(ak.num(c))) == int(ak.sum(ak.num(ev.FatJetPFCands)))
    # subjets come from the SubJet collection through subJetIdx1/2
    assert ak.all(ak.num(jets.subjets) <= 2)


def test_wrong_source_for_file_names_file(pfnano_file):
    cfg = {"datasets": {"x": {"files": [str(pfnano_file)], "label": "signal"}},
           "clustering": {"source": "towers"}, "run": {"progress": False, "schema": "pfnano"}}
    with pytest.raises(jetflow.PluginCallError, match=r"pfnano.root: no Particle collection"):
        jetflow.run(cfg)


def classic_softdrop_mass(constituents, zcut=0.1, beta=0.0, r0=1.0):
    """Reference soft drop: classic FastJet C/A reclustering, declustered by hand."""
    pjs = [fastjet.PseudoJet(float(c["pt"] * np.cos(c["phi"])), float(c["pt"] * np.sin(c["phi"])),
                             float(c["pt"] * np.sinh(c["eta"])), float(np.sqrt((c["pt"] * np.cosh(c["eta"])) ** 2 + c["mass"] ** 2)))
           for c in constituents]
    cs = fastjet.ClusterSequence(pjs, fastjet.JetDefinition(fastjet.cambridge_algorithm, 1000.0))
    jet = cs.exclusive_jets(1)[0]
    p1, p2 = fastjet.PseudoJet(), fastjet.PseudoJet()
    while jet.has_parents(p1, p2):
        z = min(p1.pt(), p2.pt()) / (p1.pt() + p2.pt())
        if z > zcut * (p1.delta_R(p2) / r0) ** beta:
            break
        jet = p1 if p1.pt() >= p2.pt() else p2
        p1, p2 = fastjet.PseudoJet(), fastjet.PseudoJet()
    return jet.m()


def test_softdrop_mass_matches_manual_declustering(wprime_particles):
    fields, counts = particles_table(wprime_particles[:40])
    untrimmed = cluster_jets(fields, counts, min_pt=100.0, max_jets=2, trimming=False)
    jets = cluster_jets(fields, counts, min_pt=100.0, max_jets=2)
    assert len(jets) > 20
    want = [classic_softdrop_mass(ak.to_list(c)) for c in untrimmed.constituents]
    np.testing.assert_allclose(ak.to_numpy(jets.mass_softdrop), want, rtol=1e-9, atol=1e-9)
    # grooming removes mass: soft-drop mass <= ungroomed mass
    assert (ak.to_numpy(jets.mass_softdrop) <= ak.to_numpy(jets.mass_untrimmed) + 1e-9).all()
