"""A trained generator as a source of jets: ``jetflow generate-gan --model G.keras --label signal ...``.

Each generated image becomes one event of jetflow's particle-level format
(:mod:`jetflow.formats.schema`, ``processId`` ``GAN_PROCESS_ID``): every lit
pixel is a massless particle (a photon, ``pdgId`` 22) with pT = the pixel's
intensity at the pixel centre (eta, phi) of the image frame, the jet axis at
eta = phi = 0.  Such files run through the same chain as Pythia's (jets,
trimming, images, observables, classifiers, report) unchanged: clustering
finds the jet of the pixels again, and the image preprocessing finds its
leading subjet at the centre (a GAN image is already preprocessed, so the
image comes back the same up to the re-centring on the subjet axis and the
rotation; the tests measure that round trip on Pythia images).

Seeds: the latent vectors of file ``i`` are drawn from a seed derived from
(sample seed, "gan", label, i): the same files whatever the number of files
made before.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np

PHOTON = 22


def image_particles(images: np.ndarray, pixel_size: float):
    """The lit pixels of images ``[n, h, w, c]`` (first channel) as jagged massless particles.

    Returns an ``ak`` record array (one list per image) with ``pt, eta, phi,
    mass, pdgId, charge`` (:func:`photons`): row ``i`` (eta) and column ``j`` (phi) at the pixel
    centre ``((i - (h - 1) / 2) * pixel_size, (j - (w - 1) / 2) * pixel_size)``.
    """
    inten = np.asarray(images)[..., 0]
    n, h, w = inten.shape
    lit = inten > 0
    counts = lit.sum(axis=(1, 2))
    _, ii, jj = np.nonzero(lit)  # row-major: image by image
    eta = ((ii - (h - 1) / 2) * pixel_size).astype(np.float32)
    phi = ((jj - (w - 1) / 2) * pixel_size).astype(np.float32)
    return photons(inten[lit].astype(np.float32), eta, phi, counts)


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


def generate_gan(model: str | os.PathLike, label: int, events: int, out: str | os.PathLike, seed: int = 1,
                 events_per_file: int = 10000, pixel_size: float = 0.1, batch_size: int = 1024) -> list[dict]:
    """Write ``events`` generated jets of class ``label`` (1 = W, 0 = QCD) as files ``gan_<label>_<seed>_<i>.root``
    (a LAGAN's) or ``cloud_<label>_<seed>_<i>.root`` (a point-cloud generator's, :mod:`jetflow_gan.cloud_source`).

    Returns one record per file (path, events, seed, seconds in the
    generator and in writing).
    """
    import keras

    from jetflow_gan.cloud_source import generate_clouds, is_cloud_generator  # (these imports register the layers)
    from jetflow_gan.sampling import sample, sampling_model

    if label not in (0, 1):
        raise ValueError(f"label must be 1 (signal, W) or 0 (background, QCD), got {label}")
    if events < 1 or events_per_file < 1:
        raise ValueError(f"events ({events}) and events per file ({events_per_file}) must be >= 1")
    model = Path(model)
    try:
        gen = keras.saving.load_model(model, safe_mode=True, compile=False)
    except Exception as exc:
        raise ValueError(f"{model} cannot be loaded as a generator ({type(exc).__name__}: {exc})") from exc
    out = Path(out)
    if is_cloud_generator(gen):
        return generate_clouds(gen, model, label, events, out, seed, events_per_file)
    if len(gen.inputs) != 2 or tuple(gen.outputs[0].shape[1:]) != (25, 25, 1):
        raise ValueError(f"{model} is neither a LAGAN generator (inputs latent + class, output a 25 x 25 x 1 image) "
                         "nor a point-cloud one (inputs point_noise, global_noise, mask, class)")
    gen = sampling_model(gen)

    def draw(n: int, s: int):
        t0 = time.perf_counter()
        images = sample(gen, np.full(n, label), seed=s, batch_size=batch_size)
        return image_particles(images, pixel_size), time.perf_counter() - t0

    return write_generated_files(out, "gan", label, seed, events, events_per_file, draw)
