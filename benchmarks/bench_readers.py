"""Input format readers against their library reading the same file alone.

    python benchmarks/bench_readers.py --jets 200000 --jetclass-jets 100000 --events 5000 --repeat 5

Each format's file is made once (in a temporary folder, or ``--dir``, where a file already there of the same
name is reused), realistic in its layout and multiplicities:

* top tagging (``toptagging``, ``toptagging_parquet``): ``--jets`` jets as the reference files have them
  (``DataFrame.to_hdf(key="table", format="fixed")``, uncompressed; float32 ``E_i, PX_i, PY_i, PZ_i`` for
  i < 200, pT-sorted, zero-padded, ~40 (QCD) and ~55 (top) constituents; truth, ``ttv``, ``is_signal_new``)
  and its Parquet conversion (pyarrow, ``--row-group`` rows a row group, snappy);
* JetNet (``jetnet``): ``g150.hdf5``, ``particle_features [n, 150, 4]`` (~60 particles a jet) and
  ``jet_features [n, 4]``, float32, uncompressed;
* JetClass (``jetclass``): ``--jetclass-jets`` jets, ~40 particles each, every ``part_*``, ``jet_*``,
  ``label_*`` and ``aux_*`` branch of the dataset, written with uproot (zlib, a basket per 10,000 jets);
* Delphes (``delphes``): ``--events`` events of the CMS card's branches at LHC multiplicities (~1,500
  generator particles, ~200 EFlow tracks, ~150 photons, ~60 neutral hadrons, ~350 towers, jets), uproot;
* HepMC3 (``hepmc3``, when the plugin is there): ``--hepmc-events`` events of ~900 particles (600 final).

Then, on the same file and the same chunks (``--chunk`` jets, ``--event-chunk`` events), in one process:

* bare: the library alone reading exactly what the reader reads (the file opened per chunk, as the reader
  does): h5py slicing rows ``[start, stop)`` of the datasets into numpy; pyarrow reading the row groups that
  overlap the chunk with the columns, as numpy; uproot ``tree.arrays(filter_name=<the reader's branches>,
  entry_start, entry_stop)``; pyhepmc reading every event of the file in one pass (one reader, no skipping:
  its best case) with its particles' numpy views;
* reader: the source's ``reader.read(path, tree, start, stop, None)``, which also makes the jet or event
  records (constituents as jagged ``pt, eta, phi, mass``).  HepMC3's reader is timed twice: after the file's
  scan (``entries``, as in the process that planned the run), which notes where every event begins, and
  with no event's offset known before each chunk (a worker seeing the file first), counting ``E`` lines from
  the first byte.

Bare and reader repetitions are interleaved (ABAB..., after one untimed call of each); the table gives the
median rate of ``--repeat`` passes over the whole file and the ratio reader / bare.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np
from _timing import machine

SLOTS = 200
"""Constituent slots of the top-tagging files."""


# ---- the files ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def made(*paths: Path):
    """Temporary names for ``paths`` (``.<name>.part``), renamed into place when the block ends without error:
    an interrupted run leaves no half-written file that a later ``--dir`` run would reuse."""
    tmps = [p.with_name(f".{p.name}.part") for p in paths]
    try:
        yield tmps
        for tmp, p in zip(tmps, paths):
            os.replace(tmp, p)
    finally:
        for tmp in tmps:
            tmp.unlink(missing_ok=True)


def _sorted_fractions(rng, counts: np.ndarray) -> np.ndarray:
    """Flat momentum fractions, descending within each jet, summing to 1 per jet."""
    owner = np.repeat(np.arange(len(counts)), counts)
    x = rng.exponential(1.0, int(counts.sum())) ** 2
    x /= np.bincount(owner, weights=x, minlength=len(counts))[owner]
    order = np.lexsort((-x, owner))
    return x[order]


def _slots(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(jet, slot) of every flat constituent."""
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(int(counts.sum())) - np.repeat(starts, counts)


def make_toptagging(folder: Path, n: int, row_group: int, rng) -> tuple[Path, Path]:
    """The reference layout (pandas fixed HDF5) and its Parquet conversion."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    h5, parquet = folder / "toptagging.h5", folder / "toptagging.parquet"
    if h5.exists() and parquet.exists():
        return h5, parquet
    label = (rng.random(n) < 0.5).astype(np.int64)
    counts = np.clip(np.rint(np.where(label == 1, rng.normal(55, 12, n), rng.normal(40, 12, n))), 5, SLOTS)
    counts = counts.astype(np.int64)
    owner, slot = _slots(counts)
    jet_pt, jet_eta, jet_phi = rng.uniform(550, 650, n), rng.uniform(-2, 2, n), rng.uniform(-np.pi, np.pi, n)
    pt = _sorted_fractions(rng, counts) * jet_pt[owner]
    width = np.where(label == 1, 0.35, 0.2)[owner]
    eta = jet_eta[owner] + rng.normal(0, 1, len(owner)) * width
    phi = jet_phi[owner] + rng.normal(0, 1, len(owner)) * width
    padded = np.zeros((n, SLOTS, 4), np.float32)  # E, PX, PY, PZ: massless, as the dataset's EFlow objects
    padded[owner, slot] = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], 1)
    names = [f"{p}_{i}" for i in range(SLOTS) for p in ("E", "PX", "PY", "PZ")]
    frame = pd.DataFrame(padded.reshape(n, 4 * SLOTS), columns=names)
    del padded
    truth = np.stack([np.bincount(owner, weights=w, minlength=n) for w in
                      (pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta))], 1)
    truth = (truth * label[:, None] * rng.normal(1, 0.05, (n, 1))).astype(np.float32)
    frame = pd.concat([frame, pd.DataFrame(truth, columns=["truthE", "truthPX", "truthPY", "truthPZ"]),
                       pd.DataFrame({"ttv": np.zeros(n, np.int64), "is_signal_new": label})], axis=1)
    with made(h5, parquet) as (h5_tmp, parquet_tmp):
        frame.to_hdf(h5_tmp, key="table", format="fixed", mode="w")
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parquet_tmp, row_group_size=row_group)
    return h5, parquet


def make_jetnet(folder: Path, n: int, rng, slots: int = 150) -> Path:
    """``g150.hdf5``: particle_features (eta_rel, phi_rel, pt_rel, mask) and jet_features (pt, eta, mass, n)."""
    import h5py

    path = folder / f"g{slots}.hdf5"
    if path.exists():
        return path
    counts = np.clip(np.rint(rng.normal(60, 20, n)), 5, slots).astype(np.int64)
    owner, slot = _slots(counts)
    parts = np.zeros((n, slots, 4), np.float32)
    k = len(owner)
    parts[owner, slot] = np.stack([rng.normal(0, 0.15, k), rng.normal(0, 0.15, k),
                                   _sorted_fractions(rng, counts), np.ones(k)], 1)
    jets = np.stack([rng.uniform(950, 1050, n), rng.normal(0, 1, n), rng.uniform(10, 200, n), counts], 1)
    with made(path) as (tmp,), h5py.File(tmp, "w") as f:
        f["particle_features"] = parts
        f["jet_features"] = jets.astype(np.float32)
    return path


JETCLASS_LABELS = ("label_QCD", "label_Hbb", "label_Hcc", "label_Hgg", "label_H4q", "label_Hqql", "label_Zqq",
                   "label_Wqq", "label_Tbqq", "label_Tbl")


def make_jetclass(folder: Path, n: int, rng, basket: int = 10_000) -> Path:
    """A JetClass-layout ROOT file: tree ``tree``, every part_*, jet_*, label_*, aux_* branch."""
    import uproot

    path = folder / "jetclass.root"
    if path.exists():
        return path
    masses = np.array([0.1396, 0.4976, 0.0, 0.000511, 0.1057])
    with made(path) as (tmp,), uproot.recreate(tmp) as f:
        for first in range(0, n, basket):
            m = min(basket, n - first)
            counts = np.clip(np.rint(rng.normal(40, 15, m)), 2, 128).astype(np.int64)
            owner, _ = _slots(counts)
            k = len(owner)
            kind = rng.choice(5, k, p=[0.55, 0.15, 0.27, 0.015, 0.015])
            charge = np.where((kind == 1) | (kind == 2), 0, rng.choice([-1, 1], k))
            jet_pt, jet_eta, jet_phi = rng.uniform(500, 1000, m), rng.uniform(-2, 2, m), rng.uniform(-np.pi, np.pi, m)
            pt = _sorted_fractions(rng, counts) * jet_pt[owner]
            deta, dphi = rng.normal(0, 0.2, k), rng.normal(0, 0.2, k)
            eta, phi = jet_eta[owner] + deta, jet_phi[owner] + dphi
            px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
            energy = np.sqrt(px**2 + py**2 + pz**2 + masses[kind] ** 2)
            part = {"px": px, "py": py, "pz": pz, "energy": energy, "deta": deta, "dphi": dphi,
                    "d0val": rng.normal(0, 0.05, k) * (charge != 0), "d0err": rng.uniform(0, 0.05, k),
                    "dzval": rng.normal(0, 0.05, k) * (charge != 0), "dzerr": rng.uniform(0, 0.05, k),
                    "charge": charge}
            part.update({flag: (kind == i) for i, flag in enumerate(
                ("isChargedHadron", "isNeutralHadron", "isPhoton", "isElectron", "isMuon"))})
            part = ak.zip({key: ak.unflatten(np.asarray(v, np.float32), counts) for key, v in part.items()})
            sums = np.stack([np.bincount(owner, weights=w, minlength=m) for w in (energy, px, py, pz)], 1)
            j_pt = np.hypot(sums[:, 1], sums[:, 2])
            j_mass = np.sqrt(np.clip(sums[:, 0] ** 2 - (sums[:, 1:] ** 2).sum(1), 0, None))
            cls = rng.integers(0, len(JETCLASS_LABELS), m)
            data = {"part": part, "jet_pt": j_pt, "jet_eta": np.arcsinh(sums[:, 3] / j_pt),
                    "jet_phi": np.arctan2(sums[:, 2], sums[:, 1]), "jet_energy": sums[:, 0],
                    "jet_nparticles": counts, "jet_sdmass": j_mass * rng.uniform(0.7, 1.0, m),
                    **{f"jet_tau{i}": rng.uniform(0, 0.5, m) / i for i in range(1, 5)},
                    **{name: cls == c for c, name in enumerate(JETCLASS_LABELS)},
                    "aux_genpart_eta": jet_eta, "aux_genpart_phi": jet_phi, "aux_genpart_pid": np.full(m, 6),
                    "aux_genpart_pt": jet_pt, "aux_truth_match": np.ones(m)}
            data = {key: v if isinstance(v, ak.Array) else np.asarray(v, np.bool_ if v.dtype == bool else np.float32)
                    for key, v in data.items()}
            if first == 0:
                f.mktree("tree", {key: v.type if isinstance(v, ak.Array) else v.dtype for key, v in data.items()})
            f["tree"].extend(data)
    return path


DELPHES_PER_EVENT = {"Particle": 1500, "EFlowTrack": 200, "EFlowPhoton": 150, "EFlowNeutralHadron": 60,
                     "Tower": 350, "Jet": 8, "GenJet": 9, "FatJet": 3}
"""Mean multiplicities per event (Poisson) of the Delphes file's collections."""


def make_delphes(folder: Path, n: int, rng, basket: int = 500) -> Path:
    """A Delphes-layout tree (``Tower_size``, ``Tower.ET``, ...; as tests/test_delphes.py writes it)."""
    import uproot

    path = folder / "delphes.root"
    if path.exists():
        return path
    gen_pid = np.array([211, -211, 22, 22, 22, 130, 321, -321, 2212, 2112, 11, 13, 12, -14, 1, 2, 21, 24, 6, -6])
    with made(path) as (tmp,), uproot.recreate(tmp) as f:
        for first in range(0, n, basket):
            m = min(basket, n - first)
            data = {}

            def jagged(name, members, m=m, data=data):
                counts = rng.poisson(DELPHES_PER_EVENT[name], m)
                k = int(counts.sum())
                cols = {key: make(k) for key, make in members.items()}
                data[name] = ak.zip({key: ak.unflatten(v, counts) for key, v in cols.items()})
                return counts

            kin = {"PT": lambda k: rng.exponential(5.0, k).astype(np.float32) + np.float32(0.5),
                   "Eta": lambda k: rng.uniform(-4, 4, k).astype(np.float32),
                   "Phi": lambda k: rng.uniform(-np.pi, np.pi, k).astype(np.float32)}

            one = np.ones(m, np.int64)
            data["Event"] = ak.zip({"Number": ak.unflatten(np.arange(first, first + m, dtype=np.int64), one),
                                    "Weight": ak.unflatten(np.ones(m, np.float32), one)})
            ints = {"PID": lambda k: gen_pid[rng.integers(0, len(gen_pid), k)].astype(np.int32),
                    "Status": lambda k: rng.choice(np.array([1, 2, 4, 23, 62], np.int32), k, p=[.4, .4, .01, .09, .1]),
                    "IsPU": lambda k: np.zeros(k, np.int32),
                    **{key: (lambda k: rng.integers(-1, 1500, k).astype(np.int32)) for key in ("M1", "M2", "D1", "D2")},
                    "Charge": lambda k: rng.integers(-1, 2, k).astype(np.int32),
                    "Mass": lambda k: rng.uniform(0, 1, k).astype(np.float32)}
            jagged("Particle", {**ints, **kin})
            jagged("EFlowTrack", {"PID": ints["PID"], "Charge": ints["Charge"], **kin,
                                  "Mass": lambda k: np.full(k, 0.13957, np.float32)})
            calo = {"E": lambda k: rng.exponential(8.0, k).astype(np.float32),
                    "Eem": lambda k: rng.exponential(4.0, k).astype(np.float32),
                    "Ehad": lambda k: rng.exponential(4.0, k).astype(np.float32)}
            for name in ("EFlowPhoton", "EFlowNeutralHadron", "Tower"):
                jagged(name, {"ET": kin["PT"], "Eta": kin["Eta"], "Phi": kin["Phi"], **calo})
            for name in ("Jet", "GenJet", "FatJet"):
                jagged(name, {"PT": lambda k: rng.uniform(20, 500, k).astype(np.float32), "Eta": kin["Eta"],
                              "Phi": kin["Phi"], "Mass": lambda k: rng.uniform(1, 200, k).astype(np.float32)})
            if first == 0:
                f.mktree("Delphes", {key: v.type for key, v in data.items()},
                         counter_name=lambda c: f"{c}_size", field_name=lambda outer, inner: f"{outer}.{inner}")
            f["Delphes"].extend(data)
    return path


def make_hepmc3(folder: Path, n: int, rng, final: int = 600, decayed: int = 300) -> Path:
    """A HepMC3 ASCII file: per event two beams, ``decayed`` status-2 particles from them, ``final``
    status-1 particles (two per decayed one), written with pyhepmc's ``WriterAscii``."""
    path = folder / "events.hepmc3"
    if path.exists():
        return path
    ids = np.array([211, -211, 22, 22, 130, 321, -321, 2212, -2212, 2112, 11, -13, 12, -14], np.int32)
    size = 2 + decayed + final
    parents = np.full((size, 2), -1, np.int32)
    parents[2: 2 + decayed] = (0, 1)
    mother = 2 + np.arange(final) * decayed // final
    parents[2 + decayed:, 0] = parents[2 + decayed:, 1] = mother
    status = np.concatenate([[4, 4], np.full(decayed, 2), np.ones(final)]).astype(np.int32)
    with made(path) as (tmp,):
        write_hepmc3(tmp, n, rng, ids, parents, status, size)
    return path


def write_hepmc3(path: Path, n: int, rng, ids, parents, status, size: int) -> None:
    import pyhepmc

    writer = pyhepmc.io.WriterAscii(str(path))
    try:
        for number in range(n):
            pt, eta, phi = rng.exponential(2.0, size) + 0.2, rng.uniform(-5, 5, size), rng.uniform(-np.pi, np.pi, size)
            pid = ids[rng.integers(0, len(ids), size)]
            pid[:2] = 2212
            px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
            mass = np.where(np.abs(pid) == 22, 0.0, 0.14)
            pz[:2], px[:2], py[:2] = (6500.0, -6500.0), 0.0, 0.0
            e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
            event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            event.from_hepevt(number, px, py, pz, e, mass, pid, status, parents=parents, fortran=False)
            event.weights = [1.0]
            writer.write_event(event)
    finally:
        writer.close()


# ---- the bare reads ----------------------------------------------------------------------------------------

def bare_h5(path, datasets: list[str], cut: dict[str, int] | None = None):
    """h5py alone: rows ``[start, stop)`` of ``datasets`` (the first ``cut[name]`` columns where given)."""
    import h5py

    def read(start, stop):
        with h5py.File(path, "r") as f:
            out = [f[d][start:stop] if d not in (cut or {}) else f[d][start:stop, : cut[d]] for d in datasets]
        return len(out[0])
    return read


def bare_parquet(path, columns: list[str]):
    """pyarrow alone: the row groups that overlap the chunk, the columns, sliced, as numpy."""
    import pyarrow.parquet as pq

    def read(start, stop):
        pf = pq.ParquetFile(path)
        sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
        edges = np.concatenate([[0], np.cumsum(sizes)])
        groups = [i for i in range(len(sizes)) if edges[i] < stop and edges[i + 1] > start]
        table = pf.read_row_groups(groups, columns=columns).slice(start - int(edges[groups[0]]), stop - start)
        out = [table.column(c).to_numpy() for c in columns]
        return len(out[0])
    return read


def bare_uproot(path, tree: str, branches: list[str]):
    """uproot alone: ``tree.arrays(filter_name=branches, entry_start, entry_stop)``."""
    import uproot

    def read(start, stop):
        with uproot.open(path) as f:
            return len(f[tree].arrays(filter_name=branches, entry_start=start, entry_stop=stop))
    return read


def bare_pyhepmc(path):
    """pyhepmc alone: every event of the file, one reader, each event's particles as numpy."""
    import pyhepmc

    def read_all():
        n = 0
        with pyhepmc.open(path) as f:
            for event in f:
                v = event.numpy.particles
                _ = (v.status, v.pid, v.px, v.py, v.pz, v.e, v.generated_mass, v.is_generated_mass_set)
                n += 1
        return n
    return read_all


# ---- timing ------------------------------------------------------------------------------------------------

def passes(read, n: int, chunk: int):
    """A function reading the whole file in chunks through ``read(start, stop)``; it returns the entries read."""
    bounds = [(s, min(s + chunk, n)) for s in range(0, n, chunk)]

    def whole():
        total = 0
        for start, stop in bounds:
            got = read(start, stop)
            total += got if isinstance(got, int) else len(got)
        assert total == n, (total, n)
        return total
    return whole


def interleaved(fns: dict, repeat: int) -> dict[str, float]:
    """Median seconds of each function, their repetitions interleaved (after one untimed call each)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jets", type=int, default=200_000, help="jets of the top-tagging and JetNet files")
    ap.add_argument("--jetclass-jets", type=int, default=100_000, help="jets of the JetClass file")
    ap.add_argument("--events", type=int, default=5000, help="events of the Delphes file")
    ap.add_argument("--hepmc-events", type=int, default=1000, help="events of the HepMC3 file")
    ap.add_argument("--chunk", type=int, default=50_000, help="jets a chunk (jet-level formats)")
    ap.add_argument("--event-chunk", type=int, default=5000, help="events a chunk (Delphes, HepMC3)")
    ap.add_argument("--row-group", type=int, default=50_000, help="rows a row group of the Parquet file")
    ap.add_argument("--repeat", type=int, default=5, help="interleaved bare / reader passes of each file")
    ap.add_argument("--formats", default="toptagging,toptagging_parquet,jetnet,jetclass,delphes,hepmc3",
                    help="which formats, comma separated")
    ap.add_argument("--dir", type=Path, help="where the files are made (reused when there); a temporary folder if not")
    a = ap.parse_args()
    wanted = a.formats.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        run(a, wanted, folder)


def run(a, wanted: list[str], folder: Path) -> None:
    import uproot
    from jetflow_formats import delphes, jetclass
    from jetflow_formats.jetnet import JETNET
    from jetflow_formats.toptagging import TOPTAGGING, TOPTAGGING_PARQUET

    rng = np.random.default_rng(20261202)
    rows = []  # (format, file, entries, chunk, bare label, bare fn, reader fn, unit)
    t0 = time.perf_counter()
    if {"toptagging", "toptagging_parquet"} & set(wanted):
        h5, parquet = make_toptagging(folder, a.jets, a.row_group, rng)
        if "toptagging" in wanted:
            import h5py

            with h5py.File(h5, "r") as f:
                blocks = sorted(k for k in f["table"] if k.endswith("_values"))
            rows.append(("toptagging", h5, a.jets, a.chunk, "h5py",
                         bare_h5(h5, [f"table/{b}" for b in blocks]),
                         lambda s, e: TOPTAGGING.reader.read(str(h5), "table", s, e, None), "jets"))
        if "toptagging_parquet" in wanted:
            import pyarrow.parquet as pq

            columns = [c for c in pq.read_schema(parquet).names if not c.startswith("__")]
            rows.append(("toptagging_parquet", parquet, a.jets, a.chunk, "pyarrow", bare_parquet(parquet, columns),
                         lambda s, e: TOPTAGGING_PARQUET.reader.read(str(parquet), "", s, e, None), "jets"))
    if "jetnet" in wanted:
        path = make_jetnet(folder, a.jets, rng)
        rows.append(("jetnet", path, a.jets, a.chunk, "h5py", bare_h5(path, ["particle_features", "jet_features"]),
                     lambda s, e, p=path: JETNET.reader.read(str(p), "", s, e, None), "jets"))
    if "jetclass" in wanted:
        path = make_jetclass(folder, a.jetclass_jets, rng)
        with uproot.open(path) as f:
            names = jetclass.branches(f["tree"], str(path), jetclass.JetClassOptions())
        rows.append(("jetclass", path, a.jetclass_jets, a.chunk, "uproot", bare_uproot(path, "tree", names),
                     lambda s, e, p=path: jetclass.JETCLASS.reader.read(str(p), "tree", s, e, None), "jets"))
    if "delphes" in wanted:
        path = make_delphes(folder, a.events, rng)
        with uproot.open(path) as f:
            present = delphes._branches(f["Delphes"])
        for inputs in ("eflow", "towers"):
            names = [b for b in delphes._wanted(inputs) if b in present]
            options = delphes.DelphesOptions(inputs=inputs)
            rows.append((f"delphes ({inputs})", path, a.events, a.event_chunk, "uproot",
                         bare_uproot(path, "Delphes", names),
                         lambda s, e, p=path, o=options: delphes.SOURCE.reader.read(str(p), "Delphes", s, e, o),
                         "events"))
    hepmc = None
    if "hepmc3" in wanted:
        try:
            from jetflow_formats import hepmc3

            path = make_hepmc3(folder, a.hepmc_events, rng)
            hepmc3.SOURCE.reader.read(str(path), "", 0, 2, None)  # the plugin is there and reads
            hepmc = (path, hepmc3.SOURCE.reader)
        except Exception as exc:  # noqa: BLE001 - the plugin is missing or unfinished
            print(f"# hepmc3 skipped: {type(exc).__name__}: {exc}")
    print(machine(f"files made in {time.perf_counter() - t0:.0f} s, {a.repeat} interleaved passes, medians"))
    print("| format | file | entries | chunk | bare library read | jetflow reader | reader / bare |")
    print("|---|---|---|---|---|---|---|")

    def line(name, path, n, chunk, lib, t, unit):
        size = os.path.getsize(path) / 2**20
        print(f"| {name} | {path.name}, {size:,.0f} MB | {n:,} | {min(chunk, n):,} | "
              f"{lib}: {n / t['bare']:,.0f} {unit}/s | {n / t['reader']:,.0f} {unit}/s | "
              f"{t['bare'] / t['reader']:.2f} |", flush=True)

    for name, path, n, chunk, lib, bare, reader, unit in rows:
        t = interleaved({"bare": passes(bare, n, chunk), "reader": passes(reader, n, chunk)}, a.repeat)
        line(name, path, n, chunk, lib, t, unit)
    if hepmc is not None:
        path, reader = hepmc
        reader.entries(str(path), "")  # the file's scan, once per process: not part of reading a chunk
        n, chunk = a.hepmc_events, a.event_chunk
        from jetflow_formats import hepmc3_scan

        def unindexed(s, e):  # a process that knows no event's offset: counts E lines from the first byte
            hepmc3_scan._STARTS.clear()
            return reader.read(str(path), "", s, e, None)

        t = interleaved({"bare": bare_pyhepmc(path),
                         "reader": passes(lambda s, e: reader.read(str(path), "", s, e, None), n, chunk),
                         "unindexed": passes(unindexed, n, chunk)}, a.repeat)
        line("hepmc3", path, n, chunk, "pyhepmc (one pass)", t, "events")
        line("hepmc3, no offsets known", path, n, chunk, "pyhepmc (one pass)", {**t, "reader": t["unindexed"]},
             "events")


if __name__ == "__main__":
    main()
