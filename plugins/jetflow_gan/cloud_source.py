"""A trained point-cloud generator as a source of jets: ``jetflow generate-gan --model CLOUD.keras ...``.

Each generated cloud becomes one event of jetflow's particle-level format (as the LAGAN's images,
:func:`jetflow_gan.events.write_generated_events`): every particle a massless photon (``pdgId`` 22; the
training jets are made of calorimeter towers, massless and neutral) at pT = pT_rel x pT_jet, eta = eta_rel +
eta_jet, phi = phi_rel + phi_jet.  The jet's class is asked for; its multiplicity, pT and eta are those of a
training jet of that class drawn at random (``<model>.conditions.npz``, written by the training), so that
multiplicity, pT and eta have the training jets' joint distribution, and its phi is uniform.  Such files run
through the same chain as Pythia's: clustering finds the jet of the particles again.

Seeds: the noise of file ``i`` is drawn from (sample seed, "cloud", label, i), as the LAGAN's files.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

import jetflow_gan.cloud_model  # noqa: F401  (registers the layers a saved generator is made of)
from jetflow_gan.events import photons, write_generated_files


def sample_clouds(gen, labels: np.ndarray, multiplicities: np.ndarray, seed: int, batch_size: int = 4096) -> np.ndarray:
    """Clouds ``[n, N, 3]`` in JetNet coordinates (pT-ordered, padded with 0) of a point-cloud generator for the given
    classes (1 = W) and multiplicities (1..N), the noise drawn with ``seed``."""
    n_particles, point_noise = (int(d) for d in gen.inputs[0].shape[1:])
    latent = int(gen.inputs[1].shape[-1])
    labels, multiplicities = np.asarray(labels, np.int32), np.asarray(multiplicities)
    if len(multiplicities) and (multiplicities.min() < 1 or multiplicities.max() > n_particles):
        raise ValueError(f"multiplicities must lie in 1..{n_particles} (the generator's particles), got "
                         f"{multiplicities.min()}..{multiplicities.max()}")
    rng = np.random.default_rng(seed)
    z_points = rng.normal(size=(len(labels), n_particles, point_noise)).astype(np.float32)
    z_global = rng.normal(size=(len(labels), latent)).astype(np.float32)
    mask = (np.arange(n_particles) < multiplicities[:, None]).astype(np.float32)
    cloud = gen.predict([z_points, z_global, mask, labels.reshape(-1, 1)], batch_size=batch_size, verbose=0)
    order = np.argsort(-cloud[..., 2], axis=1, kind="stable")
    return np.take_along_axis(cloud, order[..., None], axis=1)


def cloud_particles(cloud: np.ndarray, jet_pt: np.ndarray, jet_eta: np.ndarray, jet_phi: np.ndarray):
    """The real particles (pT_rel > 0) of clouds ``[n, N, 3]`` placed at jets (pT, eta, phi): jagged ``ak`` records
    ``pt, eta, phi, mass, pdgId, charge`` (massless photons, :func:`jetflow_gan.events.photons`)."""
    real = cloud[..., 2] > 0
    pt = (cloud[..., 2] * jet_pt[:, None])[real].astype(np.float32)
    eta = (cloud[..., 0] + jet_eta[:, None])[real].astype(np.float32)
    phi = np.angle(np.exp(1j * (cloud[..., 1] + jet_phi[:, None])))[real].astype(np.float32)
    return photons(pt, eta, phi, real.sum(1))


def is_cloud_generator(gen) -> bool:
    """Whether a loaded Keras model is a point-cloud generator (inputs point noise, global noise, mask, class)."""
    return [t.name for t in gen.inputs] == ["point_noise", "global_noise", "mask", "class"]


def load_conditions(model: Path) -> dict[str, np.ndarray]:
    path = Path(str(model) + ".conditions.npz")
    if not path.is_file():
        raise ValueError(f"{model}: no {path.name} beside it (the training jets' classes, multiplicities, pT and eta "
                         "that jetflow train-gan --model epic writes); the generator cannot place its jets without it")
    with np.load(path) as table:
        return {k: table[k] for k in table.files}


def generate_clouds(gen, model: Path, label: int, events: int, out: Path, seed: int = 1, events_per_file: int = 10000,
                    batch_size: int = 4096) -> list[dict]:
    """Write ``events`` generated jets of class ``label`` as files ``cloud_<label>_<seed>_<i>.root``; one record
    per file (path, events, seed, seconds in the generator and in writing)."""
    conditions = load_conditions(model)
    pool = np.flatnonzero(conditions["label"] == label)
    if not len(pool):
        raise ValueError(f"{model}: the generator was trained on no jets of class {label}")

    def draw(n: int, s: int):
        rng = np.random.default_rng([s, 1])
        picks = pool[rng.integers(len(pool), size=n)]
        t0 = time.perf_counter()
        cloud = sample_clouds(gen, np.full(n, label), conditions["multiplicity"][picks], seed=s, batch_size=batch_size)
        generator_s = time.perf_counter() - t0
        phi = rng.uniform(-np.pi, np.pi, size=n)
        return cloud_particles(cloud, conditions["pt"][picks], conditions["eta"][picks], phi), generator_s

    return write_generated_files(out, "cloud", label, seed, events, events_per_file, draw)
