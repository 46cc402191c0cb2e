"""The public jet datasets as jet-level sources (plugins/jetflow_formats: toptagging, jetnet, jetclass).

Every file here is written with the libraries that write the real datasets (pandas ``to_hdf``, pyarrow, h5py,
uproot) from hand-made constituents, and the expected values are computed apart from the readers (the
``vector`` package, or numpy written out here).
"""

from __future__ import annotations

import shutil
import sys

import awkward as ak
import numpy as np
import pytest
import vector

from jetflow import FileView, InputError

from conftest import REPO

try:
    import jetflow_formats  # noqa: F401
except ImportError:  # the package is not installed yet (no __init__.py): import its modules from plugins/
    sys.path.insert(0, str(REPO / "plugins"))

from jetflow_formats.jetclass import JETCLASS, LABELS, JetClassOptions  # noqa: E402
from jetflow_formats.jetnet import JETNET, JetNetOptions  # noqa: E402
from jetflow_formats.toptagging import TOPTAGGING, TOPTAGGING_PARQUET, TopTaggingOptions, write_toptagging  # noqa: E402

N_SLOTS = 6


def hand_made_jets(seed: int, n: int = 7) -> list[np.ndarray]:
    """``n`` jets, each ``[n_constituents, 4]`` (E, px, py, pz) in GeV, sorted by pT, massive particles; one jet
    fills every slot."""
    rng = np.random.default_rng(seed)
    jets = []
    for i in range(n):
        k = N_SLOTS if i == 0 else int(rng.integers(1, N_SLOTS))
        pt = np.sort(rng.uniform(1.0, 200.0, k))[::-1]
        eta, phi, m = rng.normal(0.3, 0.4, k), rng.uniform(-0.5, 0.5, k) + 3.0, rng.uniform(0.1, 1.0, k)
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        jets.append(np.stack([np.sqrt(px**2 + py**2 + pz**2 + m**2), px, py, pz], axis=1))
    return jets


def top_frame(jets, labels, *, label_dtype="int64"):
    """The top-tagging DataFrame: E_i, PX_i, PY_i, PZ_i zero-padded, truth, ttv, is_signal_new."""
    import pandas as pd

    data = {}
    for i in range(N_SLOTS):
        for j, p in enumerate(("E", "PX", "PY", "PZ")):
            data[f"{p}_{i}"] = [jet[i, j] if i < len(jet) else 0.0 for jet in jets]
    truth = [jet.sum(axis=0) * lab for jet, lab in zip(jets, labels)]
    for j, name in enumerate(("truthE", "truthPX", "truthPY", "truthPZ")):
        data[name] = [t[j] for t in truth]
    data["ttv"] = np.arange(len(jets)) % 3
    data["is_signal_new"] = np.asarray(labels).astype(label_dtype)
    return pd.DataFrame(data)


def expected(jets):
    """(constituents pt, eta, phi, mass per jet; jet pt, eta, phi, mass) with the vector package."""
    parts = [vector.array({"E": j[:, 0], "px": j[:, 1], "py": j[:, 2], "pz": j[:, 3]}) for j in jets]
    sums = [vector.obj(E=j[:, 0].sum(), px=j[:, 1].sum(), py=j[:, 2].sum(), pz=j[:, 3].sum()) for j in jets]
    return parts, np.array([[s.pt, s.eta, s.phi, s.mass] for s in sums])


def check_jets(got: ak.Array, jets, *, rtol=1e-5, atol=1e-4):
    parts, sums = expected(jets)
    assert len(got) == len(jets)
    for k, (name) in enumerate(("pt", "eta", "phi", "mass")):
        np.testing.assert_allclose(ak.to_numpy(got[name]), sums[:, k], rtol=1e-9, atol=1e-7)
    for jet, exp in zip(got.constituents, parts):
        assert len(jet) == len(exp)
        for name in ("pt", "eta", "phi", "mass"):
            np.testing.assert_allclose(ak.to_numpy(jet[name]), getattr(exp, name), rtol=rtol, atol=atol)


@pytest.fixture
def top_h5(tmp_path):
    jets, labels = hand_made_jets(1), [1, 0, 1, 1, 0, 0, 1]
    path = tmp_path / "train.h5"
    top_frame(jets, labels).to_hdf(path, key="table", format="fixed", mode="w")
    return str(path), jets, labels


@pytest.mark.parametrize("label_dtype", ["int64", "float64"])  # two pandas blocks, or one of 4 n + 6 floats
def test_toptagging_hdf5_gives_the_jets_and_their_constituents(tmp_path, label_dtype):
    jets, labels = hand_made_jets(2), [0, 1, 1, 0, 1, 0, 0]
    path = str(tmp_path / "test.h5")
    top_frame(jets, labels, label_dtype=label_dtype).to_hdf(path, key="table", format="fixed", mode="w")
    reader = TOPTAGGING.reader
    assert reader.entries(path, "table") == 7
    got = reader.read(path, "table", 0, 7, None)
    check_jets(got, jets)  # padding removed: as many constituents as made
    assert got.label.tolist() == labels and str(got.label.type.content) == "int8"
    assert got.ttv.tolist() == [0, 1, 2, 0, 1, 2, 0]
    truth = [vector.obj(E=j[:, 0].sum(), px=j[:, 1].sum(), py=j[:, 2].sum(), pz=j[:, 3].sum()) for j in jets]
    np.testing.assert_allclose(got.truth_pt, [t.pt * lab for t, lab in zip(truth, labels)], rtol=1e-9)
    np.testing.assert_allclose(got.truth_mass, [t.mass * lab for t, lab in zip(truth, labels)], rtol=1e-9)


def test_toptagging_chunks_add_up_and_options_cut_constituents(top_h5):
    path, jets, _ = top_h5
    reader = TOPTAGGING.reader
    whole = reader.read(path, "table", 0, 7, None)
    parts = ak.concatenate([reader.read(path, "table", 0, 3, None), reader.read(path, "table", 3, 7, None)])
    assert parts.tolist() == whole.tolist()
    check_jets(reader.read(path, "table", 2, 5, None), jets[2:5])
    cut = reader.read(path, "table", 0, 7, TopTaggingOptions(max_constituents=2))
    check_jets(cut, [j[:2] for j in jets])
    with pytest.raises(InputError, match=r"train\.h5.*\[5, 9\)"):
        reader.read(path, "table", 5, 9, None)


@pytest.mark.parametrize("rows", [0, 1])
def test_toptagging_entries_agree_with_pandas_for_tiny_frames(tmp_path, rows):
    """pandas writes an empty frame's index as one placeholder element: a frame of no rows has 0 entries."""
    import pandas as pd

    jets = hand_made_jets(3, n=rows)
    path = str(tmp_path / "tiny.h5")
    top_frame(jets, [1] * rows).to_hdf(path, key="table", format="fixed", mode="w")
    assert TOPTAGGING.reader.entries(path, "table") == len(pd.read_hdf(path, "table")) == rows
    assert len(TOPTAGGING.reader.read(path, "table", 0, rows, None)) == rows


def test_toptagging_compressed_with_a_pytables_filter(top_h5, tmp_path):
    """blosc, which h5py cannot decode without a plugin: read through pandas' read_hdf(start=, stop=)."""
    path, jets, labels = top_h5
    packed = str(tmp_path / "blosc.h5")
    top_frame(jets, labels).to_hdf(packed, key="table", format="fixed", mode="w", complib="blosc", complevel=5)
    assert TOPTAGGING.recognise(FileView(packed)) and TOPTAGGING.reader.entries(packed, "table") == 7
    got = TOPTAGGING.reader.read(packed, "table", 1, 6, None)
    assert got.tolist() == TOPTAGGING.reader.read(path, "table", 1, 6, None).tolist()


def test_toptagging_parquet_reads_row_groups(top_h5, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path, jets, labels = top_h5
    out = str(tmp_path / "train.parquet")
    pq.write_table(pa.Table.from_pandas(top_frame(jets, labels)), out, row_group_size=2)
    reader = TOPTAGGING_PARQUET.reader
    assert reader.entries(out, "") == 7
    check_jets(reader.read(out, "", 0, 7, None), jets)
    across = reader.read(out, "", 1, 6, None)  # starts and ends inside row groups
    assert across.tolist() == TOPTAGGING.reader.read(path, "table", 1, 6, None).tolist()
    assert across.label.tolist() == labels[1:6]


def test_toptagging_missing_columns_and_damaged_files(tmp_path, top_h5):
    path, jets, labels = top_h5
    frame = top_frame(jets, labels).drop(columns=["is_signal_new"])
    missing = str(tmp_path / "nolabel.h5")
    frame.to_hdf(missing, key="table", format="fixed", mode="w")
    with pytest.raises(InputError, match=r"nolabel\.h5.*is_signal_new"):
        TOPTAGGING.reader.read(missing, "table", 0, 2, None)
    assert not TOPTAGGING.recognise(FileView(missing))
    with pytest.raises(InputError, match=r"nolabel\.h5.*no HDF5 key 'jets'"):
        TOPTAGGING.reader.read(missing, "jets", 0, 2, None)
    cut = tmp_path / "cut.h5"
    data = open(path, "rb").read()
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match=r"cut\.h5.*truncated or damaged"):
        TOPTAGGING.reader.entries(str(cut), "table")
    with pytest.raises(InputError, match=r"cut\.h5: cannot be read at entries \[0, 3\).*truncated or damaged"):
        TOPTAGGING.reader.read(str(cut), "table", 0, 3, None)
    assert not TOPTAGGING.recognise(FileView(str(cut)))  # never raises


def test_write_toptagging_round_trip(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(5)
    counts = np.array([3, 1, 8, 5])
    n = counts.sum()
    parts = ak.unflatten(ak.zip({"pt": rng.uniform(1, 300, n), "eta": rng.normal(0, 1, n),
                                 "phi": rng.uniform(-np.pi, np.pi, n), "mass": rng.uniform(0.5, 2.0, n)}), counts)
    jets = ak.zip({"constituents": parts, "label": np.array([1, 0, 0, 1])}, depth_limit=1)
    order = ak.argsort(parts.pt, axis=1, ascending=False)
    lead = parts[order][:, :6]
    for fmt, name in (("hdf5", "own.h5"), ("parquet", "own.parquet")):
        out = tmp_path / name
        write_toptagging(out, jets, n_constituents=6, format=fmt, dtype="float64")
        source = TOPTAGGING if fmt == "hdf5" else TOPTAGGING_PARQUET
        assert source.recognise(FileView(str(out)))
        got = source.reader.read(str(out), source.tree, 0, 4, None)
        assert got.label.tolist() == [1, 0, 0, 1]
        for field in ("pt", "eta", "phi", "mass"):
            np.testing.assert_allclose(ak.flatten(got.constituents[field]), ak.flatten(lead[field]),
                                       rtol=1e-5, atol=1e-5)
    frame = pd.read_hdf(tmp_path / "own.h5", "table")
    assert list(frame.columns) == [f"{p}_{i}" for i in range(6) for p in ("E", "PX", "PY", "PZ")] + [
        "truthE", "truthPX", "truthPY", "truthPZ", "ttv", "is_signal_new"]
    assert (frame.loc[1, "E_1":"PZ_5"] == 0).all()  # zero-padded
    assert not list(tmp_path.glob(".*"))  # written atomically, nothing left behind


# ---- JetNet ---------------------------------------------------------------------------------------------------

def jetnet_file(path, *, n=5, slots=8, seed=3, five_columns=False):
    """A JetNet-layout file: particle_features (eta_rel, phi_rel, pt_rel, mask), jet_features."""
    import h5py

    rng = np.random.default_rng(seed)
    counts = rng.integers(1, slots + 1, n)
    counts[0] = slots
    pf = np.zeros((n, slots, 4), np.float32)
    for i, k in enumerate(counts):
        pf[i, :k] = np.stack([rng.normal(0, 0.2, k), rng.normal(0, 0.2, k),
                              np.sort(rng.uniform(0.01, 0.3, k))[::-1], np.ones(k)], axis=1)
    jf = np.stack([rng.uniform(900, 1100, n), rng.normal(0, 1, n), rng.uniform(10, 200, n), counts], axis=1)
    if five_columns:
        jf = np.concatenate([np.full((n, 1), 3.0), jf], axis=1)
    with h5py.File(path, "w") as f:
        f["particle_features"] = pf
        f["jet_features"] = jf.astype(np.float32)
    return pf, jf.astype(np.float32), counts


def test_jetnet_constituents_label_and_chunks(tmp_path):
    path = str(tmp_path / "t150.hdf5")
    pf, jf, counts = jetnet_file(path)
    reader = JETNET.reader
    assert reader.entries(path, "") == 5 and JETNET.recognise(FileView(path))
    got = reader.read(path, "", 0, 5, None)
    assert got.label.tolist() == [2] * 5  # t is JetNet type 2
    np.testing.assert_allclose(got.pt, jf[:, 0], rtol=1e-6)
    np.testing.assert_allclose(got.eta, jf[:, 1], rtol=1e-6)
    np.testing.assert_allclose(got.mass, jf[:, 2], rtol=1e-6)
    assert got.phi.tolist() == [0.0] * 5 and ak.num(got.constituents).tolist() == counts.tolist()
    for i, jet in enumerate(got.constituents):
        k = counts[i]
        np.testing.assert_allclose(jet.pt, pf[i, :k, 2].astype(np.float64) * jf[i, 0], rtol=1e-5)
        np.testing.assert_allclose(jet.eta, pf[i, :k, 0].astype(np.float64) + jf[i, 1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(jet.phi, pf[i, :k, 1], rtol=1e-6)
        assert (np.asarray(jet.mass) == 0).all()
        p64, j64 = pf[i, :k].astype(np.float64), jf[i].astype(np.float64)
        v = vector.array({"pt": p64[:, 2] * j64[0], "eta": p64[:, 0] + j64[1], "phi": p64[:, 1],
                          "mass": np.zeros(k)}).sum()
        np.testing.assert_allclose([got.pt_constituents[i], got.mass_constituents[i]], [v.pt, v.mass],
                                   rtol=1e-5, atol=1e-3)
    assert ak.concatenate([reader.read(path, "", 0, 2, None), reader.read(path, "", 2, 5, None)]).tolist() \
        == got.tolist()
    few = reader.read(path, "", 0, 5, JetNetOptions(max_constituents=2))
    assert ak.num(few.constituents).tolist() == np.minimum(counts, 2).tolist()


def test_jetnet_type_column_name_without_type_and_errors(tmp_path):
    import h5py

    path = str(tmp_path / "gluons_and_more.hdf5")
    jetnet_file(path, five_columns=True)
    assert JETNET.reader.read(path, "", 0, 5, None).label.tolist() == [3] * 5  # the column says w
    plain = str(tmp_path / "sample.hdf5")
    jetnet_file(plain)
    assert "label" not in JETNET.reader.read(plain, "", 0, 5, None).fields  # nothing says the type
    bad = str(tmp_path / "g.hdf5")
    with h5py.File(bad, "w") as f:
        f["particle_features"] = np.zeros((3, 4, 3))
        f["jet_features"] = np.zeros((3, 4))
    with pytest.raises(InputError, match=r"g\.hdf5.*particle_features has shape \(3, 4, 3\)"):
        JETNET.reader.entries(bad, "")
    with h5py.File(bad, "w") as f:
        f["jet_features"] = np.zeros((3, 4))
    with pytest.raises(InputError, match=r"g\.hdf5.*particle_features missing"):
        JETNET.reader.read(bad, "", 0, 3, None)
    cut = tmp_path / "z.hdf5"
    data = open(plain, "rb").read()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"z\.hdf5: cannot be read at entries \[0, 2\).*truncated or damaged"):
        JETNET.reader.read(str(cut), "", 0, 2, None)


# ---- JetClass -------------------------------------------------------------------------------------------------

def jetclass_file(path, *, labels=(0, 8, 5, 9), with_labels=True):
    """A JetClass-layout ROOT file written with uproot: one jet per entry, particles of every type."""
    import uproot

    rng = np.random.default_rng(7)
    counts = np.array([4, 1, 6, 3])[: len(labels)]
    n = int(counts.sum())
    kind = rng.integers(0, 5, n)
    kind[:5] = np.arange(5)
    charge = np.where(kind == 1, 0, np.where(kind == 2, 0, rng.choice([-1, 1], n))).astype(np.float32)
    p = rng.normal(0, 30, (n, 3))
    m = np.array([0.1396, 0.4976, 0.0, 0.000511, 0.1057])[kind]
    energy = np.sqrt((p**2).sum(axis=1) + m**2)
    flags = ("isChargedHadron", "isNeutralHadron", "isPhoton", "isElectron", "isMuon")
    part = {"px": p[:, 0], "py": p[:, 1], "pz": p[:, 2], "energy": energy, "deta": np.zeros(n), "dphi": np.zeros(n),
            "d0val": rng.normal(0, 0.1, n), "d0err": rng.uniform(0, 0.1, n), "dzval": rng.normal(0, 0.1, n),
            "dzerr": rng.uniform(0, 0.1, n), "charge": charge}
    part.update({flag: (kind == i).astype(np.float32) for i, flag in enumerate(flags)})
    part = ak.zip({k: ak.unflatten(np.asarray(v, np.float32), counts) for k, v in part.items()})
    sums = np.add.reduceat(np.column_stack([energy, p]), np.concatenate([[0], np.cumsum(counts)[:-1]]))
    jet = vector.array({"E": sums[:, 0], "px": sums[:, 1], "py": sums[:, 2], "pz": sums[:, 3]})
    data = {"part": part, "jet_pt": jet.pt, "jet_eta": jet.eta, "jet_phi": jet.phi, "jet_energy": jet.E,
            "jet_nparticles": counts.astype(np.float32), "jet_sdmass": jet.mass * 0.9,
            **{f"jet_tau{i}": np.full(len(counts), 0.1 * i) for i in range(1, 5)},
            "aux_genpart_pt": jet.pt * 1.01}
    if with_labels:
        data.update({name: np.array([lab == k for lab in labels]) for k, name in enumerate(LABELS)})
    with uproot.recreate(path) as f:
        f.mktree("tree", {k: v.type if isinstance(v, ak.Array) else np.asarray(v).dtype for k, v in data.items()})
        f["tree"].extend(data)
    return part, jet, kind, charge


def test_jetclass_constituents_pdgid_label_and_chunks(tmp_path):
    path = str(tmp_path / "HToBB_100.root")
    part, jet, kind, charge = jetclass_file(path)
    reader = JETCLASS.reader
    assert reader.entries(path, "tree") == 4 and JETCLASS.recognise(FileView(path))
    got = reader.read(path, "tree", 0, 4, None)
    assert got.label.tolist() == [0, 8, 5, 9] and str(got.label.type.content) == "int8"
    flat = ak.flatten(got.constituents)
    v = vector.array({"E": ak.flatten(part.energy), "px": ak.flatten(part.px), "py": ak.flatten(part.py),
                      "pz": ak.flatten(part.pz)})
    for name in ("pt", "eta", "phi"):
        np.testing.assert_allclose(flat[name], getattr(v, name), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(flat.mass, np.sqrt(np.clip(v.E**2 - v.p**2, 0, None)), atol=2e-2)
    q = charge.astype(int)
    pdg = np.select([kind == 0, kind == 1, kind == 2, kind == 3, kind == 4], [211 * q, 130 * q**0, 22 * q**0,
                    -11 * q, -13 * q])
    assert flat.pdgId.tolist() == pdg.tolist() and flat.charge.tolist() == charge.tolist()
    np.testing.assert_allclose(flat.d0val, ak.flatten(part.d0val))
    np.testing.assert_allclose(got.pt, jet.pt, rtol=1e-6)
    np.testing.assert_allclose(got.mass, jet.mass, rtol=1e-5)
    np.testing.assert_allclose(got.mass_softdrop, jet.mass * 0.9, rtol=1e-6)
    assert got.jetclass_tau3.tolist() == pytest.approx([0.3] * 4) and "aux_genpart_pt" in got.fields
    assert ak.concatenate([reader.read(path, "tree", 0, 1, None), reader.read(path, "tree", 1, 4, None)]).tolist() \
        == got.tolist()
    few = reader.read(path, "tree", 0, 4, JetClassOptions(max_constituents=2, aux=False))
    assert ak.num(few.constituents).tolist() == [2, 1, 2, 2] and "aux_genpart_pt" not in few.fields


def test_jetclass_without_labels_and_its_identity(tmp_path):
    import uproot

    path = str(tmp_path / "nolabels.root")
    jetclass_file(path, with_labels=False)
    with pytest.raises(InputError, match=r"nolabels\.root.*label branch\(es\) label_QCD, label_Hbb.*label_Tbl"):
        JETCLASS.reader.read(path, "tree", 0, 2, None)
    ok = str(tmp_path / "a.root")
    jetclass_file(ok)
    copy = tmp_path / "copy.root"
    shutil.copy(ok, copy)
    identity = JETCLASS.reader.identity(ok)
    assert identity == uproot.open(ok).file.fUUID and len(identity) == 16
    assert JETCLASS.reader.identity(str(copy)) == identity != JETCLASS.reader.identity(path)
    with pytest.raises(InputError, match=r"a\.root.*no TTree 'Events'"):
        JETCLASS.reader.entries(ok, "Events")


def test_each_source_recognises_its_own_layout_only(tmp_path, top_h5):
    path, jets, labels = top_h5
    files = {"toptagging": path, "jetnet": str(tmp_path / "q.hdf5"), "jetclass": str(tmp_path / "j.root"),
             "toptagging_parquet": str(tmp_path / "t.parquet")}
    jetnet_file(files["jetnet"])
    jetclass_file(files["jetclass"])
    write_toptagging(files["toptagging_parquet"], TOPTAGGING.reader.read(path, "table", 0, 7, None),
                     n_constituents=N_SLOTS, format="parquet")
    sources = [TOPTAGGING, TOPTAGGING_PARQUET, JETNET, JETCLASS]
    for name, file in files.items():
        claims = [s.name for s in sources if s.recognise(FileView(file))]
        assert claims == [name], (file, claims)
