"""HepMC3 as a particle-level source, jetflow's Pythia events written as HepMC3, and LHE files showered by Pythia.

The HepMC3 files of the reader's tests are built here with pyhepmc's own objects (GenEvent, GenParticle,
GenVertex, WriterAscii), particle by particle, and the expected values are computed here with ``math``.
"""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pyhepmc
import pytest
import uproot
from click.testing import CliRunner

import jetflow_generation.pythia as gen
from jetflow import InputError, hookimpl
from jetflow.core.sources import FileView
from jetflow_formats.hepmc3 import SOURCE, HepMC3Options, HepMC3Reader, particle_table
from jetflow_generation import generate_command
from jetflow_generation.hepmc_out import hepevt_links, hepmc_writer

READER = HepMC3Reader()
NAMES = ["nominal", "muR2", "muF2"]
NUMBERS = [7, 9, 20, 21, 100]
# (pdgId, status, px, py, pz) of every event's particles besides the beams; the photon pair comes from the pi0
FINAL = [(211, 1, 10.0, 2.0, 5.0), (-211, 1, -3.0, 4.0, -20.0), (321, 1, 1.0, -7.0, 0.5), (2212, 1, -2.0, -2.0, 40.0),
         (-2212, 1, 0.5, 0.1, -1.0), (2112, 1, 6.0, 1.0, 2.0), (130, 1, -1.0, 9.0, 3.0), (11, 1, 25.0, -5.0, 1.0),
         (-13, 1, -30.0, 0.0, 2.0), (12, 1, 5.0, 5.0, 5.0), (-14, 1, 1.0, 2.0, 3.0), (16, 1, -4.0, 1.0, 0.0),
         (1000022, 1, 50.0, 10.0, 0.0)]
PI0 = (111, 2, 8.0, -6.0, 4.0)
VISIBLE_CHARGE = {211: 1, -211: -1, 321: 1, 2212: 1, -2212: -1, 2112: 0, 130: 0, 11: -1, -13: 1, 22: 0}
MASSES = {211: 0.13957, 321: 0.493677, 2212: 0.938272, 2112: 0.939565, 130: 0.497611, 11: 0.000511, 13: 0.105658,
          111: 0.134977, 1000022: 100.0}


def _p4(px, py, pz, m):
    return px, py, pz, math.sqrt(px * px + py * py + pz * pz + m * m)


def _event(k: int, mev: bool, run: pyhepmc.GenRunInfo) -> pyhepmc.GenEvent:
    """Event ``k``: two beams into one vertex, out of which the final particles and a pi0 (status 2) that decays
    into two photons (one of them with a slightly negative m^2 from rounding)."""
    scale = 1000.0 if mev else 1.0
    event = pyhepmc.GenEvent(pyhepmc.Units.MEV if mev else pyhepmc.Units.GEV, pyhepmc.Units.MM)
    event.event_number = NUMBERS[k]

    def particle(pid, status, px, py, pz, e=None, mass=None):
        m = MASSES.get(abs(pid), 0.0) if mass is None else mass
        px, py, pz, e0 = _p4(px + k, py, pz, m)
        vec = pyhepmc.FourVector(px * scale, py * scale, pz * scale, (e0 if e is None else e) * scale)
        return pyhepmc.GenParticle(vec, pid, status)

    beams = [pyhepmc.GenParticle(pyhepmc.FourVector(0, 0, s * 6500 * scale, 6500 * scale), 2212, 4) for s in (1, -1)]
    hard = pyhepmc.GenVertex()
    for b in beams:
        hard.add_particle_in(b)
    for spec in FINAL:
        hard.add_particle_out(particle(*spec))
    pi0 = particle(*PI0)
    hard.add_particle_out(pi0)
    event.add_vertex(hard)
    decay = pyhepmc.GenVertex()
    decay.add_particle_in(pi0)
    decay.add_particle_out(particle(22, 1, 4.0, -3.0, 2.0))
    e = math.sqrt(2.0**2 + 1.0**2 + 2.0**2) * (1 - 1e-9)  # m^2 < 0 by a hair
    decay.add_particle_out(particle(22, 1, 2.0, -1.0, 2.0, e=e))
    event.add_vertex(decay)
    event.run_info = run
    event.weights = [1.5 + k, 2 * (1.5 + k), 3 * (1.5 + k)]
    return event


def _expected(k: int) -> list[tuple]:
    """(pdgId, charge, pt, eta, phi, mass) of event ``k``'s visible final-state particles, in file order."""
    out = []
    for pid, status, px, py, pz in [*FINAL, (22, 1, 4.0, -3.0, 2.0), (22, 1, 2.0, -1.0, 2.0)]:
        if pid not in VISIBLE_CHARGE:
            continue
        px = px + k
        pt = math.hypot(px, py)
        out.append((pid, VISIBLE_CHARGE[pid], pt, math.asinh(pz / pt), math.atan2(py, px), MASSES.get(abs(pid), 0.0)))
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    """Five events, the third in MeV, with three named weights."""
    path = tmp_path_factory.mktemp("hepmc") / "events.hepmc3"
    run = pyhepmc.GenRunInfo()
    run.weight_names = NAMES
    with pyhepmc.io.WriterAscii(str(path)) as writer:
        for k in range(5):
            writer.write_event(_event(k, (k == 2), run))
    return path


def test_fields_units_visibility_charges(sample):
    assert READER.entries(str(sample), "") == 5
    events = READER.read(str(sample), "", 0, 5, None)
    assert str(events.type) == ("5 * {run: uint32, luminosityBlock: uint32, event: uint64, genWeight: float32, "
                                "Particle: var * {pt: float32, eta: float32, phi: float32, mass: float32, "
                                "pdgId: int32, charge: int32}}")
    assert events.event.tolist() == NUMBERS
    assert events.run.tolist() == [1] * 5 and events.luminosityBlock.tolist() == [0] * 5
    assert events.genWeight.tolist() == [1.5, 2.5, 3.5, 4.5, 5.5]
    for k in range(5):  # the MeV event (k = 2) reads in GeV as the others
        got = events.Particle[k]
        want = _expected(k)
        assert got.pdgId.tolist() == [w[0] for w in want]  # no neutrino, neutralino, pi0 or beam
        assert got.charge.tolist() == [w[1] for w in want]
        for i, name in enumerate(("pt", "eta", "phi", "mass"), start=2):
            np.testing.assert_allclose(ak.to_numpy(got[name]), [w[i] for w in want], rtol=1e-6, atol=1e-6)
        assert ak.all(got.mass >= 0)  # the photon with m^2 < 0 by a hair is massless


def test_charge_and_visibility_rule():
    ids = np.array([211, -211, 321, -321, 2212, -2212, 2112, 22, 11, -11, 13, -13, 130, 310, 3122, 3312, -3312, 12,
                    -14, 16, 1000022, 1000020040, 999999])
    charge, visible = particle_table(ids)
    assert charge.tolist() == [1, -1, 1, -1, 1, -1, 0, 0, -1, 1, -1, 1, 0, 0, 0, -1, 1, 0, 0, 0, 0, 2, 0]
    assert visible.tolist() == [True] * 17 + [False] * 4 + [True, True]
    # the generator's rule (Pythia's table, as jetflow_generation.pythia._charge_lookup asks it)
    import pythia8mc

    assert (charge[:17] == gen._charge_lookup(pythia8mc.Pythia("", False), ids[:17]).astype(np.int32)).all()


def test_weights_by_index_and_name(sample):
    path = str(sample)
    np.testing.assert_array_equal(READER.event_weights(path, ""), [1.5, 2.5, 3.5, 4.5, 5.5])
    for choice, factor in ((1, 2), ("muF2", 3), ("nominal", 1)):
        options = HepMC3Options(weight=choice)
        np.testing.assert_allclose(READER.event_weights(path, "", options), factor * np.arange(1.5, 6.5))
        np.testing.assert_allclose(READER.read(path, "", 1, 3, options).genWeight, factor * np.array([2.5, 3.5]))
    assert HepMC3Options().weight == 0
    np.testing.assert_allclose(READER.read(path, "", 0, 2, HepMC3Options(weight="muR2")).genWeight, [3.0, 5.0])
    with pytest.raises(InputError, match=r"events.hepmc3: no weight named 'pdf7' \(the file's weights: nominal"):
        READER.event_weights(path, "", HepMC3Options(weight="pdf7"))
    with pytest.raises(InputError, match="events.hepmc3, event entry 0: formats.hepmc3.weight = 5 is weight 5, "
                                         "but the event has 3 "):
        READER.read(path, "", 0, 2, HepMC3Options(weight=5))


def test_chunks_join_to_the_whole_file_and_gzip(sample, tmp_path):
    whole = READER.read(str(sample), "", 0, 5, None)
    parts = ak.concatenate([READER.read(str(sample), "", 0, 3, None), READER.read(str(sample), "", 3, 5, None)])
    assert ak.to_list(parts) == ak.to_list(whole)
    assert READER.read(str(sample), "", 2, 4, None).event.tolist() == NUMBERS[2:4]
    assert len(READER.read(str(sample), "", 5, 5, None)) == 0
    packed = tmp_path / "events.hepmc3.gz"
    packed.write_bytes(gzip.compress(sample.read_bytes()))
    assert READER.entries(str(packed), "") == 5
    np.testing.assert_array_equal(READER.event_weights(str(packed), ""), READER.event_weights(str(sample), ""))
    assert ak.to_list(READER.read(str(packed), "", 1, 5, None)) == ak.to_list(whole[1:])
    with pytest.raises(InputError, match="has 5 events, so no event entry 7"):
        READER.read(str(sample), "", 7, 8, None)


@pytest.mark.parametrize("block", [97, 1 << 22])  # many blocks cut mid-line, or one
def test_chunks_start_where_their_events_begin(sample, monkeypatch, block):
    """The scan notes every event's byte offset (== where ``\\nE `` is in the bytes); a chunk read after it seeks
    there, one read before it counts from the nearest event known: the same events either way."""
    from jetflow_formats import hepmc3_scan

    monkeypatch.setattr(hepmc3_scan, "BLOCK", block)
    path = str(sample)
    data = sample.read_bytes()
    where = [i + 1 for i in range(len(data)) if data.startswith(b"\nE ", i)]
    hepmc3_scan._STARTS.clear()
    cold = [ak.to_list(READER.read(path, "", a, b, None)) for a, b in ((2, 4), (3, 5), (0, 2))]
    key = hepmc3_scan._file_key(path)
    assert hepmc3_scan._STARTS[key] == {0: where[0], 2: where[2], 3: where[3]}
    assert hepmc3_scan.scan(path).offsets.tolist() == where
    warm = [ak.to_list(READER.read(path, "", a, b, None)) for a, b in ((2, 4), (3, 5), (0, 2))]
    assert warm == cold and [e["event"] for e in cold[0]] == NUMBERS[2:4]


def test_truncated_file_names_the_entry(sample, tmp_path):
    text = sample.read_bytes()
    starts = [i + 1 for i in range(len(text)) if text.startswith(b"\nE ", i)]
    mid = tmp_path / "mid.hepmc3"  # cut inside the particles of the fourth event (entry 3)
    mid.write_bytes(text[: text.index(b"\nP ", starts[3]) + 200])
    with pytest.raises(InputError, match=r"mid.hepmc3, event entry 3: \d+ of the 18 particles its E line"):
        READER.entries(str(mid), "")
    with pytest.raises(InputError, match=r"mid.hepmc3, event entry 3: HepMC3 cannot parse it .* 1 of the 2 events"):
        READER.read(str(mid), "", 2, 4, None)
    assert READER.read(str(mid), "", 0, 3, None).event.tolist() == NUMBERS[:3]  # the whole events before still read
    cut = tmp_path / "cut.hepmc3"  # cut between two events: no closing line
    cut.write_bytes(text[: starts[3]])
    with pytest.raises(InputError, match="cut.hepmc3: truncated after event entry 2: it does not end with"):
        READER.entries(str(cut), "")
    with pytest.raises(InputError, match=r"cut.hepmc3, event entry 3: .*; 1 of the 2 events"):
        READER.read(str(cut), "", 2, 4, None)


def test_not_hepmc3(tmp_path):
    text = tmp_path / "notes.hepmc3"
    text.write_text("these are not events\n")
    with pytest.raises(InputError, match=r"notes.hepmc3: not a HepMC3 ASCII file \(it begins b'these are not"):
        READER.entries(str(text), "")
    with pytest.raises(InputError, match="notes.hepmc3: not a HepMC3 ASCII file"):
        READER.read(str(text), "", 0, 1, None)
    old = tmp_path / "old.hepmc"
    old.write_text("HepMC::Version 2.06.09\nHepMC::IO_GenEvent-START_EVENT_LISTING\nE 0 -1\n")
    with pytest.raises(InputError, match="old.hepmc: a HepMC2 file"):
        READER.entries(str(old), "")
    with pytest.raises(InputError, match="missing.hepmc3: cannot be opened"):
        READER.entries(str(tmp_path / "missing.hepmc3"), "")


def test_recognise(sample, tmp_path):
    assert SOURCE.name == "hepmc3" and SOURCE.provides == "particles" and SOURCE.reader is not None
    unnamed = tmp_path / "events.txt"
    shutil.copy(sample, unnamed)
    other = tmp_path / "notes.txt"
    other.write_text("HepMC is a format\n")
    hepmc2 = tmp_path / "old.txt"
    hepmc2.write_text("HepMC::Version 2.06.09\nHepMC::IO_GenEvent-START_EVENT_LISTING\n")
    for path, claimed in ((sample, True), (unnamed, True), (tmp_path / "x.hepmc.gz", True),
                          (tmp_path / "x.HEPMC", True), (other, False), (hepmc2, False),
                          (tmp_path / "absent.root", False)):
        assert SOURCE.recognise(FileView(str(path))) is claimed, path


def test_hepevt_links_follow_pythias_mother_rules():
    # 0 system; 1, 2 beams; 3, 4 incoming (one mother each); 5, 6 outgoing (mothers 3 and 4, adjacent); 7 a copy
    # of 5; 8 a photon radiated by 6 (final) and 9 the copy of 6; 10 the combination of 9 and 7 (two separate
    # mothers, given in that order); 11 a beam remnant; 12, 13 the hadrons of the string 10..11 (a range); 14 a
    # decay product of 13
    status = np.array([-11, -12, -12, -21, -21, -23, -23, -51, 51, -51, -73, -63, 83, -84, 91])
    mother1 = np.array([0, 0, 0, 1, 2, 3, 3, 5, 6, 6, 9, 1, 10, 10, 13])
    mother2 = np.array([0, 0, 0, 0, 0, 4, 4, 0, 0, 6, 7, 0, 11, 11, 0])
    order, parents = hepevt_links(status, mother1, mother2)
    record = order + 1  # the record index of every written particle
    mothers = {int(record[j]): sorted(int(record[i]) for i in range(lo, hi + 1)) if lo >= 0 else []
               for j, (lo, hi) in enumerate(parents)}
    assert mothers == {1: [], 2: [], 3: [1], 4: [2], 5: [3, 4], 6: [3, 4], 7: [5], 8: [6], 9: [6], 10: [7, 9],
                       11: [1], 12: [10, 11], 13: [10, 11], 14: [13]}
    # every particle is written after its mothers (HepMC3's files list a vertex after those its mothers come
    # from), and the final state last, in record order
    assert all(hi < j for j, (lo, hi) in enumerate(parents) if lo >= 0)
    assert list(record[-3:]) == [8, 12, 14]


def _mother_list(status: int, m1: int, m2: int) -> list[int]:
    """Pythia's ``Particle::motherList``, as its manual writes it."""
    if abs(status) in (11, 12) or (m1 == 0 and m2 == 0):
        return []
    if m2 == 0 or m2 == m1:
        return [m1]
    if 80 < abs(status) < 90 or 100 < abs(status) < 107:
        return list(range(m1, m2 + 1))
    return sorted((m1, m2))


def test_written_history_is_pythias_mother_list(tmp_path):
    pythia = gen.make_pythia(gen.GenSettings("wprime"), 3)
    batch = pythia.nextBatch(2)
    with hepmc_writer(tmp_path / "w.root", 0) as writer:
        writer.write(batch, pythia)
    with pyhepmc.open(tmp_path / "w.hepmc3") as f:
        events = list(f)
    assert len(events) == 2
    for event, record in zip(events, batch.prt):
        status, m1, m2, ids = (record[c].to_list() for c in ("status", "mother1", "mother2", "id"))
        order, _ = hepevt_links(np.asarray(status), np.asarray(m1), np.asarray(m2))
        index = {p.id: int(order[p.id - 1]) + 1 for p in event.particles}  # HepMC id -> Pythia record index
        assert len(index) == len(ids) - 1 and all(ids[index[p.id]] == p.pid for p in event.particles)
        for p in event.particles:
            i = index[p.id]
            assert sorted(index[q.id] for q in p.parents) == [m for m in _mother_list(status[i], m1[i], m2[i])
                                                              if m > 0], i


@pytest.fixture(scope="module")
def with_hepmc(tmp_path_factory) -> list[dict]:
    """20 QCD events in two files, with their HepMC3 copies."""
    out = tmp_path_factory.mktemp("gen_hepmc")
    return gen.generate(gen.GenSettings("qcd"), 20, out, seed=2, events_per_file=10, progress=False, hepmc=True)


def test_hepmc_output_has_the_root_files_particles(with_hepmc):
    assert [Path(r["hepmc"]).name for r in with_hepmc] == ["qcd_s2_0000.hepmc3", "qcd_s2_0001.hepmc3"]
    for rec in with_hepmc:
        root = uproot.open(rec["path"])["Events"].arrays()
        assert READER.entries(rec["hepmc"], "") == len(root) == 10
        events = READER.read(rec["hepmc"], "", 0, 10, None)
        assert events.event.tolist() == root.event.tolist()
        np.testing.assert_array_equal(events.genWeight, root.genWeight)
        for k in range(10):
            assert events.Particle.pdgId[k].tolist() == root.Particle_pdgId[k].tolist()
            assert events.Particle.charge[k].tolist() == root.Particle_charge[k].tolist()
            for name in ("pt", "eta", "phi", "mass"):
                np.testing.assert_allclose(ak.to_numpy(events.Particle[name][k]),
                                           ak.to_numpy(root[f"Particle_{name}"][k]), rtol=1e-6, atol=1e-6)


def test_hepmc_output_keeps_pythias_history(with_hepmc):
    with pyhepmc.open(with_hepmc[0]["hepmc"]) as f:
        event = f.read()
    beams = [p for p in event.particles if p.status == 4]
    assert [p.pid for p in beams] == [2212, 2212] and all(not p.parents for p in beams)  # HepMC's root vertex
    assert all(p.end_vertex is not None for p in beams)
    assert all(len(v.particles_in) >= 1 and len(v.particles_out) >= 1 for v in event.vertices)
    final = [p for p in event.particles if p.status == 1]
    assert final and all(p.parents and p.end_vertex is None for p in final)
    assert all(p.end_vertex is not None for p in event.particles if p.status == 2)  # decayed hadrons
    assert [p for p in event.particles if not p.parents] == beams
    # every final-state particle descends from the beams
    for p in final[:20]:
        while p.parents:
            p = p.parents[0]
        assert p.status == 4
    assert event.weight_names == ["Weight"] and event.weights == [1.0]


def test_hepmc_copies_count_for_reuse(with_hepmc, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(Path(with_hepmc[0]["path"]).parent, out)
    again = gen.generate(gen.GenSettings("qcd"), 20, out, seed=2, events_per_file=10, progress=False, hepmc=True,
                         reuse=True)
    assert all(r.get("reused") for r in again)
    second = out / Path(with_hepmc[1]["hepmc"]).name
    second.unlink()  # a file without its HepMC3 copy is made again, with it
    redone = gen.generate(gen.GenSettings("qcd"), 20, out, seed=2, events_per_file=10, progress=False, hepmc=True,
                          reuse=True)
    assert [bool(r.get("reused")) for r in redone] == [True, False]
    assert second.read_bytes() == Path(with_hepmc[1]["hepmc"]).read_bytes()  # seeded: the same events again


def _lhe(path: Path, n: int, cut: bool = False) -> list[tuple[float, float, float]]:
    """A Les Houches file of ``n`` u u~ -> d d~ events at 13 TeV (massless partons, colour through an s-channel
    gluon); returns the outgoing d quark's (px, py, pz) of every event."""
    lines = ['<LesHouchesEvents version="1.0">', "<header>", "</header>", "<init>",
             " 2212 2212 6.5e+03 6.5e+03 0 0 247000 247000 3 1", " 1.0e+03 1.0e+01 1.0e+00 1", "</init>"]
    quarks = []
    for i in range(n):
        e, theta, phi = 300.0 + 25 * i, 0.6 + 0.15 * (i % 6), 0.7 * i
        px, py, pz = e * math.sin(theta) * math.cos(phi), e * math.sin(theta) * math.sin(phi), e * math.cos(theta)
        quarks.append((px, py, pz))
        lines += ["<event>", " 4 1 1.0e+00 2.0e+02 7.8e-03 1.18e-01",
                  f" 2 -1 0 0 501 0 0.0 0.0 {e:.8e} {e:.8e} 0.0 0. 9.",
                  f" -2 -1 0 0 0 501 0.0 0.0 {-e:.8e} {e:.8e} 0.0 0. 9.",
                  f" 1 1 1 2 502 0 {px:.8e} {py:.8e} {pz:.8e} {e:.8e} 0.0 0. 9.",
                  f" -1 1 1 2 0 502 {-px:.8e} {-py:.8e} {-pz:.8e} {e:.8e} 0.0 0. 9.", "</event>"]
    text = "\n".join([*lines, "</LesHouchesEvents>"]) + "\n"
    path.write_text(text[: text.rfind("<event>") + 40] if cut else text)
    return quarks


def _hard_quark(event: pyhepmc.GenEvent) -> tuple[float, float, float]:
    """The outgoing d quark of the hard process (Pythia status 23)."""
    (d,) = [p for p in event.particles if p.status == 23 and p.pid == 1]
    return d.momentum.px, d.momentum.py, d.momentum.pz


def test_lhe_showered_file_by_file(tmp_path):
    lhe = tmp_path / "uu_dd.lhe"
    quarks = _lhe(lhe, 10)
    out = tmp_path / "out"
    result = CliRunner().invoke(generate_command, ["--lhe", str(lhe), "--out", str(out), "--events-per-file", "6",
                                                   "--hepmc", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "wrote 10 lhe events in 2 file(s)" in result.output  # all the file's events: --events not given
    files = sorted(out.glob("lhe-uu_dd_s1_*.root"))
    assert [f.name for f in files] == ["lhe-uu_dd_s1_0000.root", "lhe-uu_dd_s1_0001.root"]
    first, second = (uproot.open(f)["Events"].arrays() for f in files)
    assert len(first) == 6 and len(second) == 4
    assert ak.all(first.processId == 5) and (first.event.tolist() + second.event.tolist()) == list(range(10))
    assert ak.all(ak.num(first.Particle_pt) > 20)  # showered and hadronised
    # file k showers the LHE events [6k, 6k + 6): the hard process's d quark is the LHE event's
    for k, f in enumerate(files):
        with pyhepmc.open(f.with_suffix(".hepmc3")) as events:
            for i, event in enumerate(events):
                np.testing.assert_allclose(_hard_quark(event), quarks[6 * k + i], rtol=2e-3, atol=0.5)
    # seeded: the same seed gives the same first file, another seed another
    settings = gen.GenSettings("lhe", lhe=str(lhe))
    same = gen.generate(settings, 6, tmp_path / "same", seed=1, events_per_file=6, progress=False)[0]
    other = gen.generate(settings, 6, tmp_path / "other", seed=2, events_per_file=6, progress=False)[0]
    a, b = (uproot.open(r["path"])["Events"].arrays() for r in (same, other))
    assert ak.all(a.Particle_pt == first.Particle_pt) and ak.all(a.Particle_pdgId == first.Particle_pdgId)
    assert not ak.all(ak.num(b.Particle_pt) == ak.num(first.Particle_pt))


def test_bad_lhe_files(tmp_path):
    _lhe(tmp_path / "cut.lhe", 5, cut=True)
    (tmp_path / "text.lhe").write_text("not events\n")
    _lhe(tmp_path / "five.lhe", 5)
    settings = lambda name: gen.GenSettings("lhe", lhe=str(tmp_path / name))  # noqa: E731
    cases = [("missing.lhe", 3, "missing.lhe: does not exist"),
             ("text.lhe", 3, "text.lhe: not a Les Houches event file"),
             ("cut.lhe", 3, r"cut.lhe: truncated after 4 complete events"),
             ("five.lhe", 8, r"five.lhe: has 5 events, 8 asked for")]
    for name, events, message in cases:
        with pytest.raises(InputError, match=f"LHE file .*{message}"):
            gen.generate(settings(name), events, tmp_path / "out", progress=False)
    result = CliRunner().invoke(generate_command, ["--lhe", str(tmp_path / "cut.lhe"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("jetflow: error: LHE file ") and "cut.lhe: truncated" in result.output
    result = CliRunner().invoke(generate_command, ["--lhe", str(tmp_path / "five.lhe"), "--process", "qcd",
                                                   "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--lhe showers an LHE file" in result.output
    # a file that looks like LHEF but whose <init> block Pythia cannot read
    (tmp_path / "init.lhe").write_text('<LesHouchesEvents version="1.0">\n<init>\nnonsense\n</init>\n'
                                       "<event>\n</event>\n</LesHouchesEvents>\n")
    with pytest.raises(InputError, match="LHE file .*init.lhe: Pythia 8 cannot initialise from it"):
        gen.make_pythia(settings("init.lhe"), 1)


# --- end to end: one sample through jetflow's own format and through its HepMC3 copy gives the same jets ---


class JetRows:
    """A test plugin that keeps every jet's kinematics, constituents and image (in chunk order)."""

    name = "jet_rows"

    @hookimpl
    def jetflow_accumulate(self, jets):
        rows = ak.to_list(jets[["event", "pt", "eta", "phi", "mass"]])
        return {"jet_rows": [(int(j["event"]), j["pt"], j["eta"], j["phi"], j["mass"],
                              [tuple(c[f] for f in ("pt", "eta", "phi", "mass", "pdgId", "charge")) for c in k],
                              np.asarray(image).tolist())
                             for j, k, image in zip(rows, ak.to_list(jets.constituents), jets["image"])]}


def test_same_jets_and_images_as_jetflows_own_format(with_hepmc):
    import jetflow

    plugins = [JetRows()]
    results = {}
    for kind in ("path", "hepmc"):
        config = {"datasets": {"d": {"files": [rec[kind] for rec in with_hepmc], "label": "signal"}},
                  "clustering": {"source": "particles", "min_pt": 20, "max_jets": None},
                  "selection": {"windows": {}}, "images": {"npix": 15}, "weights": {"normalize": False},
                  "run": {"progress": False, "chunksize": 4}}
        results[kind] = jetflow.run(config, plugins=plugins)["d"]["jet_rows"]
    native, hepmc = results["path"], results["hepmc"]
    assert len(native) == len(hepmc) >= 40
    for a, b in zip(native, hepmc):
        assert a[0] == b[0] and a[1:5] == pytest.approx(b[1:5], rel=1e-6, abs=1e-6)
        assert len(a[5]) == len(b[5]) and [c[4:] for c in a[5]] == [c[4:] for c in b[5]]
        assert np.allclose([c[:4] for c in a[5]], [c[:4] for c in b[5]], rtol=1e-6, atol=1e-6)
        assert np.allclose(a[6], b[6], rtol=1e-5, atol=1e-9) and np.sum(a[6]) > 0
