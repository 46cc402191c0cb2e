"""Pile-up: minimum-bias events overlaid on every hard event, from a library made once per sample.

A sample generated with ``pileup = MU`` first makes (or reuses) a library of
minimum-bias events (Pythia ``SoftQCD:nonDiffractive``, the library's own
derived seed) in the sample's folder.  Every hard event then receives
n ~ Poisson(MU) of them, drawn uniformly with replacement; each overlaid
event is turned by a random angle in phi and reflected in eta with
probability 1/2, so that the library's finite size does not repeat the same
picture.  The random numbers of a file come from its own derived seed: the
content does not depend on the number of workers.

Written into the file: every particle's ``Particle_pileup`` (0 hard event, k
for the k-th overlaid vertex), ``Pileup_nPU`` (n) and the jagged
``PileupVertex_index`` / ``_dphi`` / ``_flip`` (which library event, turned
how), so that an overlay can be rebuilt exactly.  One compiled pass finds
where every particle of the file comes from, then one gather per field.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numba as nb
import numpy as np

from jetflow.core.atomic import write_text

PARTICLE_FIELDS = ("pt", "eta", "phi", "mass", "pdgId", "charge")


def library_path(folder: str | os.PathLike, seed: int, size: int, ecm: float) -> Path:
    """Where the pile-up library of a sample lives: one per (seed, size, collision energy)."""
    return Path(folder) / f"pileup_library_s{seed}_n{size}_ecm{ecm:g}.root"


def library_seed(seed: int) -> int:
    from jetflow_generation.pythia import derive_seed

    return derive_seed(seed, "pileup-library", 0)


def ensure_library(folder: str | os.PathLike, seed: int, size: int, ecm: float, progress: bool = False) -> dict:
    """The sample's library: made the first time, reused afterwards (its record says which)."""
    from jetflow_generation.pythia import FileJob, GenSettings, generate_file

    path = library_path(folder, seed, size, ecm)
    record_path = path.with_suffix(".json")
    if path.is_file() and record_path.is_file():
        return {**json.loads(record_path.read_text()), "reused": True}
    if progress:
        print(f"[jetflow generate] making a pile-up library of {size} minimum-bias events: {path.name}", flush=True)
    record = generate_file(FileJob(GenSettings("minbias", ecm), size, 0, library_seed(seed), str(path)))
    write_text(record_path, json.dumps(record, indent=2), "pile-up library record")
    return {**record, "reused": False}


@dataclass(frozen=True)
class Library:
    """A pile-up library in flat arrays: ``fields[f][offsets[i]:offsets[i + 1]]`` are event i's particles."""

    offsets: np.ndarray
    fields: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.offsets) - 1


def load_library(path: str | os.PathLike) -> Library:
    """The library's particles, flat."""
    import uproot

    with uproot.open(path) as f:
        arrays = f["Events"].arrays([f"Particle_{p}" for p in PARTICLE_FIELDS])
    counts = ak.to_numpy(ak.num(arrays[f"Particle_{PARTICLE_FIELDS[0]}"], axis=1)).astype(np.int64)
    fields = {p: ak.to_numpy(ak.flatten(arrays[f"Particle_{p}"])) for p in PARTICLE_FIELDS}
    return Library(np.concatenate([[0], np.cumsum(counts)]), fields)


@nb.njit(cache=True)
def _place(hard_counts, n_pu, lib_offsets, index, dphi, flip, hard_eta, hard_phi, lib_eta, lib_phi, total):
    """One pass over the output particles of a file: where each comes from (an index into
    [hard particles; library particles]), its vertex number (0: the hard event), and its eta and
    phi, reflected and turned for pile-up (phi kept in (-pi, pi])."""
    source = np.empty(total, np.int64)
    number = np.empty(total, np.int32)
    eta = np.empty(total, hard_eta.dtype)
    phi = np.empty(total, hard_phi.dtype)
    n_hard = hard_counts.sum()
    out = 0
    hard = 0
    v = 0
    for e in range(hard_counts.shape[0]):
        for _ in range(hard_counts[e]):
            source[out] = hard
            number[out] = 0
            eta[out] = hard_eta[hard]
            phi[out] = hard_phi[hard]
            hard += 1
            out += 1
        for k in range(n_pu[e]):
            lib = index[v]
            for p in range(lib_offsets[lib], lib_offsets[lib + 1]):
                source[out] = n_hard + p
                number[out] = k + 1
                eta[out] = flip[v] * lib_eta[p]
                f = lib_phi[p] + dphi[v]
                if f > np.pi:
                    f -= 2 * np.pi
                elif f <= -np.pi:
                    f += 2 * np.pi
                phi[out] = f
                out += 1
            v += 1
    return source, number, eta, phi


def overlay(particles: ak.Array, library: Library, mu: float, rng: np.random.Generator) -> tuple[ak.Array, dict]:
    """Every event's particles followed by those of n ~ Poisson(mu) library events, flagged.

    Returns
    -------
    (particles, branches)
        The particles with the field ``pileup`` (0 hard, k for the k-th vertex)
        and the branches ``Pileup_nPU`` and ``PileupVertex`` (``index``,
        ``dphi``, ``flip``) of every event.
    """
    n_events = len(particles)
    n_pu = rng.poisson(mu, n_events).astype(np.int64)
    n_vertices = int(n_pu.sum())
    index = rng.integers(0, len(library), n_vertices)
    dphi = rng.uniform(-np.pi, np.pi, n_vertices)
    flip = rng.integers(0, 2, n_vertices).astype(np.int8) * 2 - 1

    hard_counts = ak.to_numpy(ak.num(particles, axis=1)).astype(np.int64)
    lengths = np.diff(library.offsets)[index]
    counts = hard_counts + np.bincount(np.repeat(np.arange(n_events), n_pu), weights=lengths,
                                       minlength=n_events).astype(np.int64)
    # one compiled pass places every particle; then one gather per remaining field
    hard = {f: ak.to_numpy(ak.flatten(particles[f])) for f in PARTICLE_FIELDS}
    source, number, eta, phi = _place(hard_counts, n_pu, library.offsets, index, dphi, flip, hard["eta"], hard["phi"],
                                      library.fields["eta"].astype(hard["eta"].dtype, copy=False),
                                      library.fields["phi"].astype(hard["phi"].dtype, copy=False), int(counts.sum()))
    merged = {f: np.concatenate([hard[f], library.fields[f].astype(hard[f].dtype, copy=False)])[source]
              for f in PARTICLE_FIELDS if f not in ("eta", "phi")}
    merged.update(eta=eta, phi=phi, pileup=number)
    merged = {f: merged[f] for f in (*PARTICLE_FIELDS, "pileup")}
    branches = {
        "Pileup_nPU": n_pu.astype(np.int32),
        "PileupVertex": ak.unflatten(ak.zip({"index": index.astype(np.int32), "dphi": dphi.astype(np.float32),
                                             "flip": flip}), n_pu),
    }
    return ak.unflatten(ak.zip(merged), counts), branches


def overlay_file(job, particles: ak.Array) -> tuple[ak.Array, dict]:
    """A file's events with their pile-up: the library loaded once per process, the file's own seed."""
    from jetflow.core.cache import plugin_cache

    from jetflow_generation.pythia import derive_seed

    if job.pileup_library is None:
        raise ValueError(f"{job.path}: pile-up {job.settings.pileup} asked for, but no pile-up library given")
    library = plugin_cache("generation").get(("pileup library", job.pileup_library),
                                             lambda: load_library(job.pileup_library))
    rng = np.random.default_rng(derive_seed(job.seed, "pileup-overlay", job.index))
    return overlay(particles, library, job.settings.pileup, rng)
