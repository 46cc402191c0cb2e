"""Judging generated jet images as [lagan] did: with the physics of the images.

Per class (W, QCD): the distributions of image pT, image mass and image tau21
([lagan]'s formulas over pixels, :func:`jetflow_substructure.image_observables`)
of generated against Pythia images, as Wasserstein-1 distances beside the
distance between two independent Pythia samples of the same size; average
images; the nearest generated neighbour of Pythia images.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import numpy as np

CLASSES = {1: "W", 0: "QCD"}
PIXEL_SIZE = 0.1
"""The images' pixel size in eta and phi (the study's 25 x 25 images of 0.1 x 0.1)."""


def observables(images: np.ndarray, with_tau21: bool = True) -> dict[str, np.ndarray]:
    """Image pT, mass (and tau21) of images ``[n, 25, 25, 1]`` in GeV."""
    from jetflow_substructure import image_observables

    return image_observables(images, PIXEL_SIZE, tau21=with_tau21)


def wasserstein1(a: np.ndarray, b: np.ndarray) -> float:
    """The Wasserstein-1 (earth mover's) distance between two samples: the area between their CDFs."""
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(a, b))


def binned_wasserstein1(a, b) -> float:
    """The Wasserstein-1 distance between two 1-D ``hist`` histograms of the same binning.

    Each normalised to unit area (flow bins left out); the area between the
    cumulative distributions, whose steps sit at the bin edges, is the
    distance between the samples with every entry moved to its bin centre.
    Histograms merge by addition, so this is the same whatever the chunks
    they were filled in.
    """
    edges = np.asarray(a.axes[0].edges)
    if not np.array_equal(edges, np.asarray(b.axes[0].edges)):
        raise ValueError("binned_wasserstein1: the histograms have different binnings")
    pa, pb = (np.asarray(h.values(), dtype=np.float64) for h in (a, b))
    if pa.sum() <= 0 or pb.sum() <= 0:
        raise ValueError("binned_wasserstein1: an empty histogram")
    cdf = np.cumsum(pa / pa.sum() - pb / pb.sum())[:-1]
    centres = 0.5 * (edges[1:] + edges[:-1])
    return float(np.sum(np.abs(cdf) * np.diff(centres)))


def relative_distances(fake: np.ndarray, c_fake: np.ndarray, real: np.ndarray, c_real: np.ndarray,
                       with_tau21: bool = False) -> dict[str, float]:
    """Per class and observable, W1(generated, real) / standard deviation of the real values.

    Keys ``"<class>_<observable>"`` (``W_image_mass``, ...); the generator's
    figure of merit during training (pT and mass: cheap sums over pixels).
    """
    fo, ro = observables(fake, with_tau21), observables(real, with_tau21)
    out = {}
    for label, name in CLASSES.items():
        f, r = np.asarray(c_fake).ravel() == label, np.asarray(c_real).ravel() == label
        if not f.any() or not r.any():
            continue
        for key in fo:
            spread = float(np.std(ro[key][r])) or 1.0
            out[f"{name}_{key}"] = wasserstein1(fo[key][f], ro[key][r]) / spread
    return out


def load_discriminator(generator_path):
    """The discriminator trained beside a generator (from its checkpoint: the arguments and the weights)."""
    import json
    from pathlib import Path

    from jetflow_gan.model import discriminator

    checkpoint = Path(str(generator_path) + ".checkpoint")
    state = json.loads((checkpoint / "state.json").read_text())
    disc = discriminator(state["args"]["scale"], state["args"]["discriminator_filters"])
    disc.load_weights(checkpoint / "discriminator.weights.h5")
    return disc


def confusion(predicted: np.ndarray, truth: np.ndarray) -> list[list[float]]:
    """Row-normalised confusion matrix ``[[P(W|W), P(QCD|W)], [P(W|QCD), P(QCD|QCD)]]`` (rows: true class)."""
    rows = []
    for label in (1, 0):
        sel = truth == label
        p_w = float(np.mean(predicted[sel] == 1)) if sel.any() else float("nan")
        rows.append([p_w, 1.0 - p_w])
    return rows


def nearest_neighbours(queries: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """For each query image, the index of the pool image closest in pixel space (Euclidean distance)."""
    q = queries.reshape(len(queries), -1).astype(np.float64)
    p = pool.reshape(len(pool), -1).astype(np.float64)
    d2 = (q**2).sum(1)[:, None] - 2 * q @ p.T + (p**2).sum(1)[None, :]
    return np.argmin(d2, axis=1)


def sample_observables(samples: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, tuple[dict, np.ndarray]]:
    """name -> (images, classes) to name -> (image observables, classes): computed once for the table and plots."""
    return {name: (observables(images), classes) for name, (images, classes) in samples.items()}


def distance_table(obs: dict[str, tuple[dict, np.ndarray]], reference: str, rng) -> dict[str, dict]:
    """W1 of each sample's image observables to the ``reference`` sample's, per class, at equal sizes.

    ``obs``: name -> (observables, classes) (:func:`sample_observables`).  Per class, every compared sample
    is cut to the same number of jets (the smallest of them), drawn at random:
    W1 between finite samples shrinks as they grow, so only equal sizes
    compare.  Returns ``{class: {"jets": n, observable: {sample: W1}}}``.
    """
    table = {}
    for label, cls in CLASSES.items():
        ref_values, ref_classes = obs[reference]
        ref_sel = ref_classes == label
        others = [name for name in obs if name != reference]
        n = min(int(np.sum(obs[name][1] == label)) for name in others)
        row = {"jets": n, "reference_jets": int(ref_sel.sum())}
        for key in ref_values:
            r = ref_values[key][ref_sel]
            row[key] = {"spread": float(np.std(r))}
            for name in others:
                values, classes = obs[name]
                pick = rng.choice(np.flatnonzero(classes == label), n, replace=False)
                row[key][name] = wasserstein1(values[key][pick], r)
        table[cls] = row
    return table
