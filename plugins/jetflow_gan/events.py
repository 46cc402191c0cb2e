"""Generated jets as jetflow events: one jet per event, its particles massless photons, files seeded one by one.

Both generators of the plugin write through here (:mod:`jetflow_gan.source`: LAGAN images, one particle per
lit pixel; :mod:`jetflow_gan.cloud_source`: particle clouds), in jetflow's particle-level format
(:mod:`jetflow.formats.schema`, ``processId`` ``GAN_PROCESS_ID``).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

PHOTON = 22


def photons(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, counts: np.ndarray):
    """Flat particle ``pt, eta, phi`` split into jets of ``counts`` particles: jagged ``ak`` records ``pt, eta, phi,
    mass, pdgId, charge`` of massless photons (the particles both generators' jets are written as)."""
    import awkward as ak

    zeros = np.zeros(len(pt), dtype=np.int32)
    return ak.zip({
        "pt": ak.unflatten(pt, counts), "eta": ak.unflatten(eta, counts), "phi": ak.unflatten(phi, counts),
        "mass": ak.unflatten(np.zeros(len(pt), np.float32), counts),
        "pdgId": ak.unflatten(zeros + PHOTON, counts), "charge": ak.unflatten(zeros, counts),
    })


def file_seed(seed: int, label: int, index: int, generator: str = "gan") -> int:
    digest = hashlib.sha256(f"jetflow:{seed}:{generator}:{label}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def write_generated_events(path: Path, particle, index: int, first: int) -> None:
    """One generated jet per event, its ``particle`` (jagged records, :func:`image_particles`'s fields), as file
    ``path`` of jetflow's format: luminosity block ``index``, events numbered from ``first``, weight 1."""
    import awkward as ak

    from jetflow.formats.schema import GAN_PROCESS_ID, write_events

    n = len(particle)
    branches = {
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": np.full(n, index, dtype=np.uint32),
        "event": np.uint64(first) + np.arange(n, dtype=np.uint64),
        "genWeight": np.ones(n, dtype=np.float32),
        "processId": np.full(n, GAN_PROCESS_ID, dtype=np.int32),
        "Particle": particle,
        "TruthW": ak.zip({k: ak.unflatten(np.zeros(0, np.float32), np.zeros(n, np.int64))
                          for k in ("pt", "eta", "phi", "mass")}),
    }
    write_events(path, branches)


def write_generated_files(out: Path, stem: str, label: int, seed: int, events: int, events_per_file: int,
                          draw) -> list[dict]:
    """``events`` generated jets of class ``label`` in files ``<stem>_<label>_<seed>_<i>.root`` of ``events_per_file``
    (:func:`write_generated_events`).  ``draw(n, file_seed)`` makes a file's jets: it returns their particles and the
    seconds spent in the generator; the noise of file ``i`` is drawn from ``file_seed(seed, label, i, stem)``, so a
    file is the same whatever the number of files before it.  One record per file: path, events, seed, seconds
    in the generator and from its output to the file."""
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for index, first in enumerate(range(0, events, events_per_file)):
        n = min(events_per_file, events - first)
        s = file_seed(seed, label, index, stem)
        t0 = time.perf_counter()
        particle, generator_s = draw(n, s)
        path = out / f"{stem}_{label}_{seed}_{index:04d}.root"
        write_generated_events(path, particle, index, first)
        records.append({"path": str(path), "events": n, "seed": s, "generator_s": generator_s,
                        "write_s": time.perf_counter() - t0 - generator_s})
    return records
