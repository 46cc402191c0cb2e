"""Source ``delphes``: Delphes-layout trees written here with uproot (dotted sub-branches, ``<Branch>_size``
counters), read back field by field against the construction; chunks, ``inputs``, missing branches,
``recognise``, weights, identity."""

from __future__ import annotations


import awkward as ak
import numpy as np
import pytest
import uproot
from jetflow_formats.delphes import SOURCE, DelphesOptions, DelphesReader, recognise

from jetflow import FileView, InputError

READER = DelphesReader()
N_EVENTS = 6

# Generator record of event 0: (PID, Status, IsPU, D1, D2, Charge); kinematics are drawn.
CHAIN = [
    (2212, 4, 0, 2, 2, 1), (2212, 4, 0, 3, 3, 1),      # 0, 1: beams
    (2, 21, 0, 4, 4, 0), (-1, 21, 0, 4, 4, 0),         # 2, 3: incoming quarks
    (24, 22, 0, 5, 5, 1),                              # 4: W+, a copy
    (24, 52, 0, 6, 7, 1),                              # 5: W+ -> u dbar          -> TruthW
    (2, 23, 0, -1, -1, 0), (-1, 23, 0, -1, -1, 0),     # 6, 7
    (6, 22, 0, 9, 10, 1),                              # 8: t -> t g (radiates)
    (6, 52, 0, 11, 12, 1),                             # 9: t -> W+ b, last copy  -> TruthTop
    (21, 51, 0, -1, -1, 0),                            # 10
    (24, 22, 0, 13, 14, 1),                            # 11: W+ -> e+ nu: leptonic, not TruthW
    (5, 23, 0, -1, -1, 0),                             # 12
    (-11, 1, 0, -1, -1, 1),                            # 13: e+                   -> GenParticle
    (12, 1, 0, -1, -1, 0),                             # 14: nu_e, invisible
    (211, 1, 0, -1, -1, 1),                            # 15: pi+                  -> GenParticle
    (-211, 1, 1, -1, -1, -1),                          # 16: pi-, pile-up
    (22, 1, 0, -1, -1, 0),                             # 17: photon               -> GenParticle
    (-24, 62, 0, 19, -1, -1),                          # 18: W-, one daughter (D2 = -1): a copy
    (-24, 52, 0, 20, 21, -1),                          # 19: W- -> s cbar          -> TruthW
    (3, 23, 0, -1, -1, 0), (-4, 23, 0, -1, -1, 0),     # 20, 21
    (-6, 62, 0, -1, -1, -1),                           # 22: tbar without daughters
    (24, 62, 0, 100, 101, 1),                          # 23: W+ with daughters outside the record
    (130, 1, 0, -1, -1, 0),                            # 24: K_L                  -> GenParticle
    (1000022, 1, 0, -1, -1, 0),                        # 25: neutralino, invisible
]
TRUTH_W, TRUTH_TOP, VISIBLE = [5, 19], [9], [13, 15, 17, 24]


def _jagged(rng, counts, **fields):
    """Per-event lists of each field: ``fields`` are ``(low, high, dtype)``."""
    out = {}
    for name, (low, high, dtype) in fields.items():
        flat = rng.uniform(low, high, counts.sum()).astype(dtype) if dtype != np.int32 else \
            rng.integers(low, high, counts.sum()).astype(dtype)
        out[name] = np.split(flat, np.cumsum(counts)[:-1])
    return out


def construct(seed=1, n=N_EVENTS):
    """The contents of a Delphes file: ``{branch: {member: [array per event]}}``."""
    rng = np.random.default_rng(seed)
    kin = {"Eta": (-2.5, 2.5, np.float32), "Phi": (-3.1, 3.1, np.float32)}
    c = {}
    c["Event"] = {"Number": [np.array([1000 + 7 * i], np.int64) for i in range(n)],
                  "Weight": [np.array([0.5 + i], np.float32) for i in range(n)]}
    counts = rng.integers(0, 5, n)
    counts[1] = 0
    c["EFlowTrack"] = _jagged(rng, counts, PT=(1, 50, np.float32), **kin, Mass=(0.1, 0.2, np.float32),
                              PID=(-300, 300, np.int32), Charge=(-1, 2, np.int32), IsPU=(0, 2, np.int32))
    for name in ("EFlowPhoton", "EFlowNeutralHadron", "Tower"):
        counts = rng.integers(0, 4, n)
        c[name] = _jagged(rng, counts, ET=(1, 30, np.float32), **kin, E=(1, 40, np.float32),
                          Eem=(0, 20, np.float32), Ehad=(0, 20, np.float32))
    c["Tower"]["IsPU"] = [np.zeros(len(x), np.int32) + (i % 2) for i, x in enumerate(c["Tower"]["ET"])]
    for name in ("Jet", "GenJet", "FatJet"):
        c[name] = _jagged(rng, rng.integers(0, 3, n), PT=(20, 500, np.float32), **kin, Mass=(1, 200, np.float32))
    gen_counts = np.array([len(CHAIN)] + [0] + [2] * (n - 2))
    gen = _jagged(rng, gen_counts, PT=(1, 100, np.float32), **kin, Mass=(0, 5, np.float32))
    columns = list(zip(*CHAIN))
    for k, member in enumerate(("PID", "Status", "IsPU", "D1", "D2", "Charge")):
        later = {"PID": [211, 22], "Status": [1, 1], "IsPU": [0, 0], "D1": [-1, -1], "D2": [-1, -1],
                 "Charge": [1, 0]}[member]
        gen[member] = [np.array(columns[k], np.int32)] + [np.zeros(0, np.int32)] + \
            [np.array(later, np.int32)] * (n - 2)
    c["Particle"] = gen
    return c


def write_delphes(path, content, drop=()):
    """A Delphes-layout tree: ``Tower_size``, ``Tower.ET``, ...; ``drop`` leaves out branches (``Tower.Eem``)
    or whole collections (``Event``)."""
    data = {}
    for branch, members in content.items():
        kept = {m: v for m, v in members.items() if f"{branch}.{m}" not in drop}
        if branch not in drop and kept:
            data[branch] = ak.zip({m: ak.Array(list(v)) for m, v in kept.items()})
    with uproot.recreate(path) as f:
        tree = f.mktree("Delphes", {k: v.type for k, v in data.items()},
                        counter_name=lambda c: f"{c}_size", field_name=lambda outer, inner: f"{outer}.{inner}")
        tree.extend(data)
    return path


@pytest.fixture(scope="module")
def content():
    return construct()


@pytest.fixture(scope="module")
def delphes_file(tmp_path_factory, content):
    return str(write_delphes(tmp_path_factory.mktemp("delphes") / "delphes.root", content))


def _list(values, i):
    return np.asarray(values[i]).tolist()


def test_branch_names_are_delphes(delphes_file):
    keys = set(uproot.open(delphes_file)["Delphes"].keys())
    assert {"Tower_size", "Tower.ET", "EFlowTrack.PT", "Event.Weight", "Particle.D1"} <= keys


def test_event_fields_and_eflow(delphes_file, content):
    ev = READER.read(delphes_file, "Delphes", 0, N_EVENTS, None)
    assert len(ev) == N_EVENTS == READER.entries(delphes_file, "Delphes")
    assert ev.run.type.content.primitive == "uint32" and ak.all(ev.run == 1) and ak.all(ev.luminosityBlock == 0)
    assert ev.event.type.content.primitive == "uint64"
    assert ev.event.tolist() == [1000 + 7 * i for i in range(N_EVENTS)]
    assert ev.genWeight.type.content.primitive == "float32"
    assert ev.genWeight.tolist() == [0.5 + i for i in range(N_EVENTS)]
    tr, ph, nh = content["EFlowTrack"], content["EFlowPhoton"], content["EFlowNeutralHadron"]
    assert ak.sum(ak.num(ev.Particle)) > 0
    for i in range(N_EVENTS):
        p = ev.Particle[i]
        assert p.pt.tolist() == _list(tr["PT"], i) + _list(ph["ET"], i) + _list(nh["ET"], i)
        assert p.eta.tolist() == _list(tr["Eta"], i) + _list(ph["Eta"], i) + _list(nh["Eta"], i)
        assert p.phi.tolist() == _list(tr["Phi"], i) + _list(ph["Phi"], i) + _list(nh["Phi"], i)
        n_ph, n_nh = len(ph["ET"][i]), len(nh["ET"][i])
        assert p.mass.tolist() == _list(tr["Mass"], i) + [0.0] * (n_ph + n_nh)
        assert p.pdgId.tolist() == _list(tr["PID"], i) + [22] * n_ph + [130] * n_nh
        assert p.charge.tolist() == _list(tr["Charge"], i) + [0] * (n_ph + n_nh)
        assert p.pileup.tolist() == _list(tr["IsPU"], i) + [0] * (n_ph + n_nh)
    types_ = {f: ev.Particle[f].type.content.content.primitive for f in ev.Particle.fields}
    assert types_ == {"pt": "float32", "eta": "float32", "phi": "float32", "mass": "float32",
                      "pdgId": "int32", "charge": "int32", "pileup": "int32"}


def test_generator_particles_and_truth(delphes_file, content):
    ev = READER.read(delphes_file, "Delphes", 0, N_EVENTS, None)
    gen = content["Particle"]
    assert ev.GenParticle.fields == ["pt", "eta", "phi", "mass", "pdgId", "charge"]
    assert ev.GenParticle.pdgId[0].tolist() == [CHAIN[k][0] for k in VISIBLE]
    assert ev.GenParticle.charge[0].tolist() == [CHAIN[k][5] for k in VISIBLE]
    for name, keep in (("GenParticle", VISIBLE), ("TruthW", TRUTH_W), ("TruthTop", TRUTH_TOP)):
        for field, member in (("pt", "PT"), ("eta", "Eta"), ("phi", "Phi"), ("mass", "Mass")):
            assert ev[name][field][0].tolist() == gen[member][0][keep].tolist(), (name, field)
    assert ak.num(ev.GenParticle).tolist() == [len(VISIBLE), 0] + [2] * (N_EVENTS - 2)
    assert ev.GenParticle.pdgId[2].tolist() == [211, 22]
    assert ak.num(ev.TruthW).tolist() == [2] + [0] * (N_EVENTS - 1)
    assert ak.num(ev.TruthTop).tolist() == [1] + [0] * (N_EVENTS - 1)


def test_delphes_jets(delphes_file, content):
    ev = READER.read(delphes_file, "Delphes", 0, N_EVENTS, None)
    for name, branch in (("DelphesJet", "Jet"), ("DelphesGenJet", "GenJet"), ("DelphesFatJet", "FatJet")):
        assert ev[name].fields == ["pt", "eta", "phi", "mass"]
        for field, member in (("pt", "PT"), ("eta", "Eta"), ("phi", "Phi"), ("mass", "Mass")):
            assert ev[name][field].tolist() == [x.tolist() for x in content[branch][member]]


def test_towers(delphes_file, content):
    ev = READER.read(delphes_file, "Delphes", 0, N_EVENTS, DelphesOptions(inputs="towers"))
    t = content["Tower"]
    for i in range(N_EVENTS):
        p = ev.Particle[i]
        assert p.pt.tolist() == _list(t["ET"], i) and p.eta.tolist() == _list(t["Eta"], i)
        assert p.phi.tolist() == _list(t["Phi"], i)
        assert p.mass.tolist() == [0.0] * len(t["ET"][i]) and p.charge.tolist() == [0] * len(t["ET"][i])
        assert p.pdgId.tolist() == np.where(t["Eem"][i] >= t["Ehad"][i], 22, 130).tolist()
        assert p.pileup.tolist() == _list(t["IsPU"], i)
    # a run hands the reader its sub-section formats.delphes
    from jetflow.core.engine import Engine

    engine = Engine.build({"datasets": {"d": {"files": [delphes_file], "label": "signal"}},
                           "formats": {"delphes": {"inputs": "towers"}}}, prepare=False)
    assert engine.source_options("delphes") == DelphesOptions(inputs="towers")


@pytest.mark.parametrize("k", [1, 2, 5])
def test_chunks_add_up(delphes_file, k):
    whole = READER.read(delphes_file, "Delphes", 0, N_EVENTS, None)
    parts = [READER.read(delphes_file, "Delphes", 0, k, None), READER.read(delphes_file, "Delphes", k, N_EVENTS, None)]
    assert ak.to_list(ak.concatenate(parts)) == ak.to_list(whole)


def test_weights_and_identity(delphes_file, tmp_path, content):
    w = READER.event_weights(delphes_file, "Delphes")
    assert w.dtype == np.float64 and w.tolist() == [0.5 + i for i in range(N_EVENTS)]
    ident = READER.identity(delphes_file)
    assert isinstance(ident, bytes) and len(ident) == 16 and ident == uproot.open(delphes_file).file.fUUID
    other = write_delphes(tmp_path / "other.root", content)
    assert READER.identity(str(other)) != ident
    no_event = write_delphes(tmp_path / "no_event.root", content, drop=("Event",))
    assert READER.event_weights(str(no_event), "Delphes").tolist() == [1.0] * N_EVENTS


def test_optional_branches_absent(tmp_path, content):
    path = str(write_delphes(tmp_path / "old.root", content, drop=(
        "Event", "EFlowTrack.Mass", "EFlowTrack.IsPU", "Particle", "FatJet", "GenJet.Mass")))
    ev = READER.read(path, "Delphes", 2, 5, None)
    assert ev.event.tolist() == [2, 3, 4] and ev.genWeight.tolist() == [1.0] * 3
    assert "pileup" not in ev.Particle.fields
    n_tracks = [len(x) for x in content["EFlowTrack"]["PT"][2:5]]
    assert [m[:n].tolist() for m, n in zip(ev.Particle.mass, n_tracks)] == [[0.0] * n for n in n_tracks]
    assert set(ev.fields) == {"run", "luminosityBlock", "event", "genWeight", "Particle", "DelphesJet"}


def test_missing_required_branches(tmp_path, content):
    path = str(write_delphes(tmp_path / "no_photons.root", content, drop=("EFlowPhoton", "Tower.Eem")))
    with pytest.raises(InputError, match=r"no_photons\.root.*EFlowPhoton\.ET.*EFlowPhoton\.Eta"):
        READER.read(path, "Delphes", 0, 2, None)
    with pytest.raises(InputError, match=r"no_photons\.root.*Tower\.Eem"):
        READER.read(path, "Delphes", 0, 2, DelphesOptions(inputs="towers"))
    with pytest.raises(InputError, match=r"no_photons\.root.*no tree 'Events'"):
        READER.entries(path, "Events")
    histogram = tmp_path / "histogram.root"
    with uproot.recreate(histogram) as f:
        f["Delphes"] = np.histogram(np.arange(3))
    with pytest.raises(InputError, match=r"histogram\.root: no tree 'Delphes'"):
        READER.event_weights(str(histogram), "Delphes")
    not_root = tmp_path / "x.root"
    not_root.write_text("not a ROOT file")
    with pytest.raises(InputError, match=r"x\.root: cannot be read as ROOT"):
        READER.read(str(not_root), "Delphes", 0, 1, None)


def test_recognise(delphes_file, tmp_path):
    from jetflow.formats.schema import write_events

    assert recognise(FileView(delphes_file)) and SOURCE.recognise(FileView(delphes_file))
    jetflow_file = tmp_path / "jetflow.root"
    particles = ak.zip({"pt": ak.Array([[1.0], []]), "eta": ak.Array([[0.0], []])})
    write_events(jetflow_file, {"run": np.ones(2, np.uint32), "Particle": particles})
    assert not recognise(FileView(str(jetflow_file)))
    other_tree = tmp_path / "other_tree.root"
    with uproot.recreate(other_tree) as f:
        f["Delphes"] = {"x": np.arange(3)}
    assert not recognise(FileView(str(other_tree)))
    text = tmp_path / "events.txt"
    text.write_text("Tower.ET")
    assert not recognise(FileView(str(text)))
    # the names uproot lists for a file Delphes wrote itself: the TClonesArray branch and its sub-branches
    assert recognise(_listing({"Delphes": frozenset({"Event", "Event/Event.Number", "Event_size"})}))
    assert recognise(_listing({"Delphes": frozenset({"Tower/Tower.ET"})}))


def _listing(trees: dict) -> FileView:
    """A FileView whose ROOT listing is ``trees`` (what uproot would give; set in its cached property)."""
    view = FileView("listed.root")
    view.__dict__["root_trees"] = trees
    return view


def test_source_declaration():
    assert SOURCE.name == "delphes" and SOURCE.provides == "particles" and SOURCE.tree == "Delphes"
    assert SOURCE.detector_level and not SOURCE.is_root and SOURCE.reader is not None
    assert DelphesOptions().inputs == "eflow"
    with pytest.raises(ValueError):
        DelphesOptions(inputs="tracks")


# --- end to end: the same particles as a Delphes file and as a jetflow file give the same jets and images ---


class JetRows:
    """A test plugin that keeps every jet's kinematics, constituents and image (in chunk order)."""

    name = "jet_rows"

    @staticmethod
    def _rows(jets):
        const = jets.constituents
        return [(int(j["event"]), float(j["pt"]), float(j["eta"]), float(j["phi"]), float(j["mass"]),
                 [tuple(float(c[f]) for f in ("pt", "eta", "phi", "mass")) for c in k], np.asarray(im).tolist())
                for j, k, im in zip(ak.to_list(jets[["event", "pt", "eta", "phi", "mass"]]), ak.to_list(const),
                                    jets["image"])]

    from jetflow import hookimpl

    @hookimpl
    def jetflow_accumulate(self, jets):
        return {"jet_rows": self._rows(jets)}


def _same_particles(tmp_path, n=8, seed=5):
    """A Delphes file and a jetflow-format file holding one set of particles: per event two sprays of tracks
    (charged pions), photons and neutral hadrons, in that order (as the Delphes reader concatenates them)."""
    from jetflow.formats.schema import write_events

    rng = np.random.default_rng(seed)
    kinds = {"EFlowTrack": (211, 0.13957), "EFlowPhoton": (22, 0.0), "EFlowNeutralHadron": (130, 0.0)}
    objects = {kind: [] for kind in kinds}
    for _ in range(n):
        axes = rng.uniform([-1.5, -3.0], [1.5, 3.0], (2, 2))
        for kind, (pdg_id, mass) in kinds.items():
            m = rng.integers(3, 8, 2)
            eta = np.concatenate([axis[0] + rng.normal(0, 0.2, k) for axis, k in zip(axes, m)])
            phi = np.concatenate([axis[1] + rng.normal(0, 0.2, k) for axis, k in zip(axes, m)])
            charge = rng.choice([-1, 1], m.sum()) if kind == "EFlowTrack" else np.zeros(m.sum())
            objects[kind].append({"pt": rng.uniform(2, 40, m.sum()), "eta": eta,
                                  "phi": np.mod(phi + np.pi, 2 * np.pi) - np.pi, "mass": np.full(m.sum(), mass),
                                  "pdgId": pdg_id * (charge if kind == "EFlowTrack" else np.ones(m.sum())),
                                  "charge": charge})
    f32 = {f: np.float32 for f in ("pt", "eta", "phi", "mass")} | {"pdgId": np.int32, "charge": np.int32}
    delphes = {"Event": {"Number": [np.array([500 + i], np.int64) for i in range(n)],
                         "Weight": [np.ones(1, np.float32)] * n}}
    for kind, objs in objects.items():
        members = {"pt": "PT" if kind == "EFlowTrack" else "ET", "eta": "Eta", "phi": "Phi"}
        if kind == "EFlowTrack":
            members |= {"mass": "Mass", "pdgId": "PID", "charge": "Charge"}
        delphes[kind] = {m: [o[f].astype(f32[f]) for o in objs] for f, m in members.items()}
    particles = ak.zip({f: ak.Array([np.concatenate([objects[k][i][f] for k in kinds]).astype(t) for i in range(n)])
                        for f, t in f32.items()})
    jfile = tmp_path / "same_jetflow.root"
    write_events(jfile, {"run": np.ones(n, np.uint32), "luminosityBlock": np.zeros(n, np.uint32),
                         "event": np.arange(500, 500 + n, dtype=np.uint64), "genWeight": np.ones(n, np.float32),
                         "processId": np.full(n, 2, np.int32), "Particle": particles})
    return str(write_delphes(tmp_path / "same.root", delphes)), str(jfile)


def test_same_jets_and_images_as_a_jetflow_file(tmp_path):
    import jetflow

    dfile, jfile = _same_particles(tmp_path)
    plugins = [JetRows()]
    results = {}
    for name, path in (("delphes", dfile), ("jetflow", jfile)):
        config = {"datasets": {"d": {"files": [path], "label": "signal"}},
                  "clustering": {"source": "particles", "min_pt": 20, "max_jets": None},
                  "selection": {"windows": {}}, "images": {"npix": 15}, "weights": {"normalize": False},
                  "run": {"progress": False, "chunksize": 3}}
        results[name] = jetflow.run(config, plugins=plugins)["d"]["jet_rows"]
    delphes, native = results["delphes"], results["jetflow"]
    assert len(delphes) == len(native) >= 10
    for a, b in zip(delphes, native):
        assert a[0] == b[0] and a[1:5] == pytest.approx(b[1:5], rel=1e-6, abs=1e-9)
        assert len(a[5]) == len(b[5]) and np.allclose(a[5], b[5], rtol=1e-6, atol=1e-9)
        assert np.allclose(a[6], b[6], rtol=1e-5, atol=1e-9) and np.sum(a[6]) > 0
