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

import os
import time
from pathlib import Path

import numpy as np

from jetflow_gan.events import photons, write_generated_files


def image_particles(images: np.ndarray, pixel_size: float):
    """The lit pixels of images ``[n, h, w, c]`` (first channel) as jagged massless particles.

    Returns an ``ak`` record array (one list per image) with ``pt, eta, phi,
    mass, pdgId, charge`` (:func:`jetflow_gan.events.photons`): row ``i`` (eta) and column ``j`` (phi) at the pixel
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
