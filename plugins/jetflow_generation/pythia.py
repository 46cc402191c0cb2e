"""Event generation with Pythia 8 (``pythia8mc``) into jetflow's particle-level format.

The settings are those of [jet-images] (docs/references.md): 14 TeV pp; signal W' -> W Z with
W -> q q' and Z -> nu nu; background QCD dijets in a pTHat window.

Events are pulled from Pythia in bulk with ``Pythia.nextBatch`` (an awkward
array of whole events, filled in C++), so the wrapper adds little to Pythia's
own cost: the selection of visible final-state particles, the charge lookup
and the kinematics are numpy / awkward operations on whole batches.

A sample is split into files of ``events_per_file`` events; file ``i`` is
generated with the seed ``derive_seed(seed, process, i)``, so files are
independent, can run in parallel worker processes or on a dask cluster
(:mod:`jetflow_generation.executors`), and the same ``seed`` gives the same
content whatever the number of workers.  Each file is written under
a temporary name and renamed when complete, so an interrupted run never leaves
a file that looks complete.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import awkward as ak
import numpy as np

from jetflow.core.errors import InputError
from jetflow.formats.schema import PROCESS_IDS, write_events

from jetflow_generation.executors import run_jobs
from jetflow_generation.hepmc_out import hepmc_path, hepmc_writer
from jetflow_generation.lhe import check_lhe, lhe_name, lhe_strings, short_lhe
from jetflow_generation.manifest import _reusable, _write_manifest
from jetflow_generation.processes import process_strings, pthat_window, top_truth

INVISIBLE_IDS = (12, 14, 16)
"""Neutrinos: final-state particles that leave no trace (Pythia's isVisible is False for them)."""

MAX_PYTHIA_SEED = 900_000_000


@dataclass(frozen=True)
class GenSettings:
    """The physics knobs of a sample.

    Attributes
    ----------
    process
        ``"wprime"`` (W' -> W(qq') Z(nunu)), ``"qcd"`` (hard QCD dijets), ``"ttbar"`` (hadronic top pairs),
        ``"minbias"`` (non-diffractive soft QCD, what pile-up is made of), ``"lhe"`` (the events of ``lhe``);
        their settings and truth: :mod:`jetflow_generation.processes`.
    ecm
        Collision energy in GeV.
    wprime_mass
        W' mass in GeV (600-800 puts pT(W) in 200-400 GeV).
    pthat_min, pthat_max
        Hard-scattering pT window in GeV of qcd and ttbar (recorded, unused, for the others); None: the
        process's default (qcd 200-400, ttbar 500-700).
    extra
        Further Pythia settings strings, applied last.
    pileup
        Mean number of minimum-bias events overlaid on every event
        (:mod:`jetflow_generation.pileup`); 0: none.
    pileup_library
        Minimum-bias events in the sample's pile-up library.
    lhe
        For ``"lhe"``: the LHE file whose events Pythia showers (:mod:`jetflow_generation.lhe`).
    """

    process: Literal[tuple(PROCESS_IDS)]  # type: ignore[valid-type]
    ecm: float = 14000.0
    wprime_mass: float = 600.0
    pthat_min: float | None = None
    pthat_max: float | None = None
    extra: tuple[str, ...] = field(default_factory=tuple)
    pileup: float = 0.0
    pileup_library: int = 1000
    lhe: str = ""

    def __post_init__(self):  # the process's default pTHat window (processes.PTHAT_DEFAULTS) for a bound not given
        low, high = pthat_window(self.process, self.pthat_min, self.pthat_max)
        object.__setattr__(self, "pthat_min", low)
        object.__setattr__(self, "pthat_max", high)

    def record(self) -> dict:
        """The settings as plain data (what a manifest compares); the pile-up keys only with pile-up,
        so that manifests written before pile-up existed still match."""
        data = asdict(self)
        data["extra"] = list(self.extra)
        if self.pileup <= 0:
            data.pop("pileup")
            data.pop("pileup_library")
        if not self.lhe:
            data.pop("lhe")
        return data

    def stem(self, seed: int) -> str:
        """The start of the sample's file names: ``qcd_s1``, or ``qcd_pu60_s1`` with pile-up."""
        pu = f"_pu{self.pileup:g}" if self.pileup > 0 else ""
        name = f"lhe-{lhe_name(self.lhe)}" if self.process == "lhe" else self.process
        return f"{name}{pu}_s{seed}"

    def pythia_strings(self, seed: int, skip: int = 0) -> list[str]:
        """The Pythia settings of [jet-images] for this process, with a seed (LHE: from event ``skip`` on)."""
        common = [
            f"Beams:eCM = {self.ecm}",
            "Random:setSeed = on",
            f"Random:seed = {seed}",
            "Print:quiet = on",
            "Next:numberCount = 0",
        ]
        if self.process == "lhe":
            proc = lhe_strings(self.lhe, skip)
        elif self.process in PROCESS_IDS:
            proc = process_strings(self)
        else:
            raise ValueError(f"process must be one of {', '.join(PROCESS_IDS)}, got {self.process!r}")
        return common + proc + list(self.extra)


def derive_seed(seed: int, process: str, index: int) -> int:
    """A Pythia seed in [1, 900000000] for file ``index`` of a sample, from the user's seed."""
    digest = hashlib.sha256(f"jetflow:{seed}:{process}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") % MAX_PYTHIA_SEED + 1


def make_pythia(settings: GenSettings, seed: int, skip: int = 0):
    """An initialised ``pythia8mc.Pythia`` with the sample's settings (LHE: from event ``skip`` on)."""
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    for line in settings.pythia_strings(seed, skip):
        if not pythia.readString(line):
            raise ValueError(f"Pythia rejected the setting {line!r}")
    if not pythia.init():
        if settings.process == "lhe":
            raise InputError(f"LHE file {settings.lhe}: Pythia 8 cannot initialise from it (not LHEF, or no <init>)")
        raise RuntimeError(f"Pythia failed to initialise with settings {settings}")
    return pythia


def _charge_lookup(pythia, ids: np.ndarray) -> np.ndarray:
    """Charge (in e) of each PDG id, from Pythia's particle table, one call per distinct id."""
    unique, inverse = np.unique(ids, return_inverse=True)
    table = np.array([pythia.particleData.charge(int(i)) for i in unique], dtype=np.float64)
    return table[inverse]


def batch_to_arrays(batch: ak.Array, pythia, process: str) -> dict[str, ak.Array | np.ndarray]:
    """Turn a ``nextBatch`` array into the branches of jetflow's format (columnar)."""
    prt = batch.prt
    final = prt.status > 0
    absid = abs(prt.id)
    visible = final & (absid != 12) & (absid != 14) & (absid != 16)
    vis = prt[visible]
    n = ak.num(vis, axis=1)
    p = vis.p
    px, py, pz, e = (ak.to_numpy(ak.flatten(p[c])) for c in ("px", "py", "pz", "e"))
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0))
    phi = np.arctan2(py, px)
    mass = ak.to_numpy(ak.flatten(vis.m))
    ids = ak.to_numpy(ak.flatten(vis.id)).astype(np.int32)
    charge = _charge_lookup(pythia, ids).astype(np.int32)
    particle = ak.zip(
        {
            "pt": ak.unflatten(pt.astype(np.float32), n),
            "eta": ak.unflatten(eta.astype(np.float32), n),
            "phi": ak.unflatten(phi.astype(np.float32), n),
            "mass": ak.unflatten(mass.astype(np.float32), n),
            "pdgId": ak.unflatten(ids, n),
            "charge": ak.unflatten(charge, n),
        }
    )
    n_events = len(batch)
    weights = batch.info.weights
    gen_weight = ak.to_numpy(ak.fill_none(ak.firsts(weights), 1.0)).astype(np.float32)

    # truth W: the last W in the record (the copy that decays), signal only
    ws = prt[absid == 24]
    has_w = ak.num(ws, axis=1) > 0
    if process == "wprime":
        if not ak.all(has_w):
            bad = int(np.argmin(ak.to_numpy(has_w)))
            raise RuntimeError(f"W' event {bad} of a batch has no W in its record")
        last = ws[:, -1]
        wx, wy, wz, we = (ak.to_numpy(last.p[c]) for c in ("px", "py", "pz", "e"))
        wpt = np.hypot(wx, wy)
        wcounts = np.ones(n_events, dtype=np.int64)
        truth = {
            "pt": wpt,
            "eta": np.arcsinh(np.divide(wz, wpt, out=np.zeros_like(wpt), where=wpt > 0)),
            "phi": np.arctan2(wy, wx),
            "mass": ak.to_numpy(last.m),
        }
    else:
        wcounts = np.zeros(n_events, dtype=np.int64)
        truth = {k: np.zeros(0) for k in ("pt", "eta", "phi", "mass")}
    truth_w = ak.zip({k: ak.unflatten(v.astype(np.float32), wcounts) for k, v in truth.items()})
    return {"Particle": particle, "TruthW": truth_w, **top_truth(prt), "genWeight": gen_weight, "n_events": n_events}


@dataclass
class FileJob:
    settings: GenSettings
    events: int
    index: int
    seed: int
    path: str
    first_event: int = 0
    batch: int = 500
    pileup_library: str | None = None
    hepmc: bool = False


def generate_file(job: FileJob) -> dict:
    """Generate one file: ``job.events`` events with Pythia seed ``job.seed``.

    Written to ``job.path`` through a temporary name (with ``job.hepmc``, the hard events also as HepMC3
    beside it: :mod:`jetflow_generation.hepmc_out`).  Returns timing figures.
    """
    with hepmc_writer(job.path if job.hepmc else None, job.first_event) as hepmc:
        return _generate_file(job, hepmc)


def _generate_file(job: FileJob, hepmc) -> dict:
    """:func:`generate_file`'s work; ``hepmc`` (:func:`jetflow_generation.hepmc_out.hepmc_writer`) gets every batch."""
    t0 = time.perf_counter()
    pythia = make_pythia(job.settings, job.seed, job.first_event)
    t_init = time.perf_counter() - t0
    parts = []
    done = 0
    t_gen = 0.0
    while done < job.events:
        n = min(job.batch, job.events - done)
        t1 = time.perf_counter()
        batch = pythia.nextBatch(n)
        t_gen += time.perf_counter() - t1
        if len(batch) < n and job.settings.process == "lhe":
            raise short_lhe(job.settings.lhe, job.first_event, job.events, done + len(batch))
        if len(batch) == 0:
            raise RuntimeError(f"Pythia produced no event in a batch of {n} (seed {job.seed})")
        parts.append(batch_to_arrays(batch, pythia, job.settings.process))
        hepmc.write(batch, pythia)
        done += len(batch)
    particle = ak.concatenate([p["Particle"] for p in parts])[: job.events]
    truth = {k: ak.concatenate([p[k] for p in parts])[: job.events] for k in ("TruthW", "TruthTop", "TopQuark")}
    gen_weight = np.concatenate([p["genWeight"] for p in parts])[: job.events]
    n = len(particle)
    pileup_branches, t_overlay = {}, 0.0
    if job.settings.pileup > 0:
        t1 = time.perf_counter()
        from jetflow_generation.pileup import overlay_file

        particle, pileup_branches = overlay_file(job, particle)
        t_overlay = time.perf_counter() - t1
    branches = {
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": np.full(n, job.index, dtype=np.uint32),
        "event": np.uint64(job.first_event) + np.arange(n, dtype=np.uint64),
        "genWeight": gen_weight,
        "processId": np.full(n, PROCESS_IDS[job.settings.process], dtype=np.int32),
        "Particle": particle,
        **truth,
        **pileup_branches,
    }
    path = Path(job.path)
    write_events(path, branches)
    return {
        "path": str(path),
        "events": n,
        "seed": job.seed,
        "init_s": t_init,
        "pythia_s": t_gen,
        "overlay_s": t_overlay,
        "total_s": time.perf_counter() - t0,
        **({"hepmc": str(hepmc_path(path))} if job.hepmc else {}),
    }


def plan(settings: GenSettings, events: int, out: str | os.PathLike, seed: int, events_per_file: int) -> list[FileJob]:
    """The files of a sample: names, sizes and derived seeds."""
    if events < 1:
        raise ValueError(f"--events must be >= 1, got {events}")
    if events_per_file < 1:
        raise ValueError(f"--events-per-file must be >= 1, got {events_per_file}")
    out = Path(out)
    n_files = -(-events // events_per_file)
    jobs = []
    for i in range(n_files):
        n = min(events_per_file, events - i * events_per_file)
        name = f"{settings.stem(seed)}_{i:04d}.root"
        jobs.append(
            FileJob(settings, n, i, derive_seed(seed, settings.process, i), str(out / name), i * events_per_file)
        )
    return jobs


def generate(
    settings: GenSettings,
    events: int,
    out: str | os.PathLike,
    *,
    seed: int = 1,
    workers: int = 1,
    events_per_file: int = 1000,
    progress: bool = True,
    on_file: Callable[[dict], None] | None = None,
    reuse: bool = False,
    scheduler=None,
    hepmc: bool = False,
) -> list[dict]:
    """Generate a sample into ``out`` (created if needed).

    Parameters
    ----------
    settings
        The process and its physics knobs.
    events
        Total number of events.
    seed
        The sample's seed; each file's Pythia seed is derived from it.
    workers
        Worker processes generating files in parallel.
    events_per_file
        Events per output file (and per task).
    reuse
        Keep the files of an earlier run into ``out`` with the same settings, seed and
        ``events_per_file`` (its manifest says which) and generate only the rest: the
        same sample again costs nothing, and a larger one extends a smaller one.
    scheduler
        A dask scheduler's address or a ``distributed.Client``: the files are
        generated on its workers (``workers`` is then unused), written here.
        The files are the same as a local run's, whichever worker makes each.
    hepmc
        Also write each file's hard events as HepMC3 beside it (``x.root`` -> ``x.hepmc3``).

    The manifest is written after every file, so a run that is killed loses only
    the files in progress: run it again with ``reuse`` and it makes only those.

    Returns
    -------
    list of dict
        One record per file: path, events, seed, timings.
    """
    import json

    if settings.process == "lhe":
        check_lhe(settings.lhe, events)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    jobs = plan(settings, events, out, seed, events_per_file)
    for job in jobs:
        job.hepmc = hepmc
    manifest_path = out / f"{settings.stem(seed)}_manifest.json"
    wanted = {"settings": settings.record(), "seed": seed, "events": events, "events_per_file": events_per_file}
    kept: list[dict] = []
    others: list[dict] = []
    if reuse and manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        kept, jobs = _reusable(old, wanted, jobs)
        if kept:  # same settings: the earlier run's files beyond this plan stay listed
            planned = {Path(rec["path"]).name for rec in kept} | {Path(job.path).name for job in jobs}
            others = [rec for rec in old["files"] if Path(rec["path"]).name not in planned
                      and (out / Path(rec["path"]).name).is_file()]
        if not jobs:
            return kept
    if settings.pileup > 0:
        from jetflow_generation.pileup import ensure_library, library_path

        ensure_library(out, seed, settings.pileup_library, settings.ecm, progress)
        for job in jobs:
            job.pileup_library = str(library_path(out, seed, settings.pileup_library, settings.ecm))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=events, unit="ev", desc=f"generate {settings.process}")
    records = list(kept)
    if bar is not None and kept:
        bar.update(sum(rec["events"] for rec in kept))
    try:
        for rec in run_jobs(generate_file, jobs, workers, scheduler):
            records.append(rec)
            # after every file: a run killed now loses only the files still being generated
            _write_manifest(manifest_path, wanted, records, others)
            if bar is not None:
                bar.update(rec["events"])
            if on_file:
                on_file(rec)
    finally:
        if bar is not None:
            bar.close()
    _write_manifest(manifest_path, wanted, records, others)
    return sorted(records, key=lambda r: r["path"])
