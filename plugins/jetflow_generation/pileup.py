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
how), so that an overlay can be rebuilt exactly.  Columnar: one gather of the
library's flat arrays per file, no loop over events.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

from jetflow.physics import wrap_phi

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
    record_path.write_text(json.dumps(record, indent=2))
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


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenation of ``arange(start, start + length)`` for every pair, without a loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + (np.arange(total) - offsets)


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

    # the pile-up particles, vertex after vertex: one gather from the library
    lengths = np.diff(library.offsets)[index]
    take = _ranges(library.offsets[index], lengths)
    vertex_of = np.repeat(np.arange(n_vertices), lengths)
    pu = {f: values[take] for f, values in library.fields.items()}
    pu["eta"] = pu["eta"] * flip[vertex_of]
    pu["phi"] = wrap_phi(pu["phi"] + dphi[vertex_of]).astype(pu["phi"].dtype)
    first_vertex = np.repeat(np.cumsum(n_pu) - n_pu, n_pu)  # each vertex's number within its event, from 1
    pu["pileup"] = (np.arange(n_vertices) - first_vertex + 1)[vertex_of].astype(np.int32)

    # each event: its hard particles, then its vertices' particles: placed, not sorted
    hard_counts = ak.to_numpy(ak.num(particles, axis=1)).astype(np.int64)
    pu_counts = np.bincount(np.repeat(np.arange(n_events), n_pu), weights=lengths, minlength=n_events).astype(np.int64)
    counts = hard_counts + pu_counts
    starts = np.cumsum(counts) - counts
    hard_pos = _ranges(starts, hard_counts)
    pu_pos = _ranges(starts + hard_counts, pu_counts)
    merged = {}
    for f in PARTICLE_FIELDS:
        hard = ak.to_numpy(ak.flatten(particles[f]))
        values = np.empty(int(counts.sum()), dtype=hard.dtype)
        values[hard_pos] = hard
        values[pu_pos] = pu[f]
        merged[f] = values
    merged["pileup"] = np.zeros(int(counts.sum()), dtype=np.int32)
    merged["pileup"][pu_pos] = pu["pileup"]
    branches = {
        "Pileup_nPU": n_pu.astype(np.int32),
        "PileupVertex": ak.unflatten(ak.zip({"index": index.astype(np.int32), "dphi": dphi.astype(np.float32),
                                             "flip": flip}), n_pu),
    }
    return ak.unflatten(ak.zip(merged), counts), branches
