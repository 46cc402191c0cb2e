"""Training the point-cloud GAN of [epic-gan] on a jetflow export: ``jetflow train-gan --model epic``.

The data are the ``N`` leading constituents of each exported jet (``accumulators.export.constituents: N``) in
JetNet's coordinates (:func:`jetflow.stats.jetnet_metrics.jetnet_coordinates`), with the jet's class and its
multiplicity n (the real slots, at most N).  Each batch of real clouds:

1. the generator makes as many clouds with the same classes and multiplicities (so that real and generated
   clouds of a batch have one distribution of conditions, the training jets' own), from fresh noise;
2. the discriminator learns real (1) against generated (0) with the least-squares loss of [epic-gan];
3. the generator learns to be scored 1 on a second draw of noise for the same conditions, plus
   ``mass_weight`` x the W1 distance, per class, between the batch's generated jet masses and the mass
   distribution of all the training jets of that class (in units of the real spread; 0 turns it off).
   The mass is the one quantity a deep set learns slowly (a sum of four-vectors, squared) and the one
   W1-M judges: this term gives its gradient directly.

Adam (learning rate 1e-4, beta_1 0.5) for both.  Seeded.  The generator evaluated and saved is the
exponential moving average of the trained one's weights (``average`` = 0.995 per step: over the last
~200 steps; 0 keeps the trained weights), which smooths the epoch-to-epoch wander of a GAN.  After every
epoch a checkpoint (``<out>.checkpoint/``) and the figures of merit on held-out real jets: per class the W1 distances of the
jet mass and of the three particle coordinates between generated and real clouds (same conditions), in units
of the real distribution's spread.  The generator saved as ``out`` is that of the epoch where their sum is
smallest.  ``--resume`` carries on as for the LAGAN (:mod:`jetflow_gan.training`): same clouds by content,
seed and arguments.  Beside ``out``, ``<out>.conditions.npz`` holds the training jets' class, multiplicity,
pT and eta: :mod:`jetflow_gan.cloud_source` draws a generated jet's conditions and its place from them.

The training loop is TensorFlow's (the project's training backend; a visible GPU is used); the saved
generator runs under any Keras backend.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from jetflow.core.atomic import atomic_write, write_text

DEFAULTS = {"n_particles": 30, "hidden": 64, "latent": 10, "point_noise": 3, "generator_layers": 3,
            "discriminator_layers": 3, "mass_weight": 1.0, "average": 0.995}
"""The sizes: JetNet's 30 particles, and a CPU-sized EPiC-GAN ([epic-gan]'s are hidden 128 and 6 generator layers)."""


def load_clouds(data, n_particles: int) -> dict[str, np.ndarray]:
    """The jets of an export as clouds: ``cloud [n, N, 3]`` (JetNet coordinates, float32, leading first), ``mask
    [n, N]``, ``label``, ``multiplicity`` and the jets' ``pt``, ``eta``; in a canonical order (the same jets give the
    same split whatever order a parallel run exported them in)."""
    from jetflow.formats.export import read
    from jetflow.stats.jetnet_metrics import jetnet_coordinates

    table = read(data)
    if "constituents" not in table:
        raise ValueError(f"export {data} has no column 'constituents' for the point-cloud GAN: export them "
                         f"(accumulators.export.constituents: {n_particles})")
    if table["constituents"].shape[1] < n_particles:
        raise ValueError(f"export {data} holds {table['constituents'].shape[1]} constituents per jet; the point-cloud "
                         f"GAN was asked for n_particles = {n_particles}")
    cloud = jetnet_coordinates(table["constituents"][:, :n_particles], table["pt"], table["eta"], table["phi"])
    mask = cloud[..., 2] > 0
    multiplicity = mask.sum(1)
    if np.any(multiplicity == 0):
        raise ValueError(f"export {data}: {int(np.sum(multiplicity == 0))} jets have no constituents")
    label = np.asarray(table["label"]).astype(np.int32)
    order = np.lexsort((cloud[..., 2].max(1), cloud[..., 2].sum(1), multiplicity, label))
    return {"cloud": cloud[order].astype(np.float32), "mask": mask[order].astype(np.float32), "label": label[order],
            "multiplicity": multiplicity[order].astype(np.int32), "pt": np.asarray(table["pt"], np.float64)[order],
            "eta": np.asarray(table["eta"], np.float64)[order]}


def cloud_statistics(cloud: np.ndarray, mask: np.ndarray) -> dict[str, list[float]]:
    """Means and spreads of the real particles' (eta_rel, phi_rel, log pT_rel), and of the jets' mass and summed pT
    (units of pT_jet): the networks' standardisation."""
    from jetflow.stats.jetnet_metrics import jet_mass

    real = mask > 0
    x = np.stack([cloud[..., 0][real], cloud[..., 1][real], np.log(cloud[..., 2][real])], axis=-1).astype(np.float64)
    jet = np.stack([jet_mass(cloud), cloud[..., 2].sum(1)], axis=-1)
    return {"mean": x.mean(0).tolist(), "std": np.maximum(x.std(0), 1e-6).tolist(),
            "jet_mean": jet.mean(0).tolist(), "jet_std": np.maximum(jet.std(0), 1e-6).tolist()}


def relative_distances(generated: np.ndarray, real: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Per class (``W``, ``QCD``): W1 of the jet mass and of each particle coordinate (real particles) between
    ``generated`` and ``real`` clouds, in units of the real distribution's standard deviation: ``{"W mass": ...,
    "W eta_rel": ..., "QCD mass": ...}``."""
    from scipy.stats import wasserstein_distance

    from jetflow.stats.jetnet_metrics import jet_mass
    from jetflow_gan.evaluation import CLASSES

    out = {}
    for value, name in CLASSES.items():
        g, r = generated[labels == value], real[labels == value]
        if len(r) < 2:
            continue
        row = {"mass": wasserstein_distance(jet_mass(g), jet_mass(r)) / max(jet_mass(r).std(), 1e-12)}
        for k, coordinate in enumerate(("eta_rel", "phi_rel", "pt_rel")):
            a, b = g[..., k][g[..., 2] > 0], r[..., k][r[..., 2] > 0]
            row[coordinate] = wasserstein_distance(a, b) / max(b.std(), 1e-12) if len(a) else float("inf")
        out.update({f"{name} {k}": float(v) for k, v in row.items()})
    return out


def train_epic(data, out: str | os.PathLike, *, epochs: int = 100, batch_size: int = 128, validation_split: float = 0.25,
               learning_rate: float = 1e-4, seed: int = 1, model_args: dict[str, Any] | None = None,
               resume: bool = False, time_limit: float | None = None, progress: bool = True) -> dict[str, Any]:
    """Train the point-cloud GAN on the constituents of an export; write the generator ``out``, ``<out>.json`` and
    ``<out>.conditions.npz``.  Returns the record written to ``<out>.json``."""
    import keras

    from jetflow.stats.jetnet_metrics import jet_mass
    from jetflow_gan.cloud_model import cloud_discriminator, cloud_generator
    from jetflow_gan.cloud_source import sample_clouds
    from jetflow_gan.training import (checked_arguments, data_fingerprint, finish_epoch, out_of_time,
                                      resume_checkpoint)

    if keras.backend.backend() != "tensorflow":
        raise ValueError(f"point-cloud GAN training runs with the TensorFlow backend, not KERAS_BACKEND="
                         f"{keras.backend.backend()}; the trained generator runs under any backend")
    out, args = checked_arguments("point-cloud GAN", out, DEFAULTS, model_args)
    jets = load_clouds(data, args["n_particles"])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(jets["label"]))
    jets = {k: v[order] for k, v in jets.items()}
    n_val = int(round(validation_split * len(order)))
    if len(order) - n_val < batch_size or n_val < 20:
        raise ValueError(f"too few jets to train the point-cloud GAN: {len(order)} jets, batch size {batch_size}")
    train = {k: v[:-n_val] for k, v in jets.items()}
    val = {k: v[-n_val:] for k, v in jets.items()}
    stats = cloud_statistics(train["cloud"], train["mask"])

    keras.utils.set_random_seed(seed)
    sizes = {"hidden": args["hidden"], "latent": args["latent"]}
    gen = cloud_generator(args["n_particles"], stats, point_noise=args["point_noise"],
                          epic_layers=args["generator_layers"], **sizes)
    disc = cloud_discriminator(args["n_particles"], stats, epic_layers=args["discriminator_layers"], **sizes)
    averaged = keras.models.clone_model(gen) if args["average"] else gen
    averaged.set_weights(gen.get_weights())
    opt_g = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    opt_d = keras.optimizers.Adam(learning_rate, beta_1=0.5)

    checkpoint = Path(str(out) + ".checkpoint")
    history: dict[str, list] = {"d_loss": [], "g_loss": [], "distance": [], "seconds": []}
    first_epoch, best = 0, (np.inf, -1)
    fingerprint = data_fingerprint(jets["cloud"], jets["label"])
    if resume:
        state = resume_checkpoint(checkpoint, args, fingerprint, seed, gen, disc,
                                  averaged if averaged is not gen else None)
        history, first_epoch, best = state["history"], state["epochs_done"], tuple(state["best"])
        rng = np.random.default_rng([seed, first_epoch])
    step = _tensorflow_step(gen, disc, opt_g, opt_d, args["mass_weight"] / stats["jet_std"][0],
                            mass_quantiles(jet_mass(train["cloud"]), train["label"]), averaged, args["average"])
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.mkdir(exist_ok=True)
    conditions = {k: train[k] for k in ("label", "multiplicity", "pt", "eta")}
    with atomic_write(Path(str(out) + ".conditions.npz"), "generator conditions") as tmp:
        np.savez(tmp, **conditions)
    shapes = {"point_noise": (args["n_particles"], args["point_noise"]), "global_noise": (args["latent"],)}
    t_start = time.time()
    for epoch in range(first_epoch, epochs):
        if out_of_time(time_limit, t_start, epoch, progress):
            break
        t0 = time.time()
        perm = rng.permutation(len(train["label"]))
        d_sum = g_sum = 0.0
        n_batches = len(perm) // batch_size
        for b in range(n_batches):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            noise = [rng.normal(size=(2, len(idx), *shape)).astype(np.float32) for shape in shapes.values()]
            d_loss, g_loss = step(train["cloud"][idx], train["mask"][idx], train["label"][idx, None],
                                  noise[0][0], noise[1][0], noise[0][1], noise[1][1])
            d_sum += float(d_loss)
            g_sum += float(g_loss)
        fake = sample_clouds(averaged, val["label"], val["multiplicity"], seed=seed + 1000 + epoch)
        distances = relative_distances(fake, val["cloud"], val["label"])
        score = sum(distances.values())
        history["d_loss"].append(d_sum / n_batches)
        history["g_loss"].append(g_sum / n_batches)
        history["distance"].append(distances)
        history["seconds"].append(time.time() - t0)
        best = finish_epoch(out, checkpoint, gen, disc, score, epoch, best,
                            {"args": args, "data": str(data), "fingerprint": fingerprint, "seed": seed, "history": history},
                            averaged if averaged is not gen else None)
        if progress:
            mass = ", ".join(f"{k.split()[0]} {v:.3f}" for k, v in distances.items() if k.endswith(" mass"))
            print(f"epoch {epoch + 1}/{epochs}: d_loss {history['d_loss'][-1]:.3f}, g_loss {history['g_loss'][-1]:.3f}, "
                  f"W1/spread of the mass {mass}, sum {score:.3f} ({history['seconds'][-1]:.1f} s)", flush=True)
    record = {
        "model": "epic",
        "task": "generation",
        "model_args": args,
        "statistics": stats,
        "data": str(data),
        "jets": {"train": int(len(train["label"])), "validation": int(n_val),
                 "signal_fraction": float(train["label"].mean())},
        "training": {"epochs_run": len(history["d_loss"]), "batch_size": batch_size, "learning_rate": learning_rate,
                     "validation_split": validation_split, "seed": seed, "seconds": float(sum(history["seconds"])),
                     "seconds_this_call": time.time() - t_start, "best_epoch": best[1] + 1},
        "validation": {"distance_sum": best[0], "distances": history["distance"][best[1]] if best[1] >= 0 else {}},
        "history": history,
        "versions": {"keras": keras.__version__},
    }
    write_text(Path(str(out) + ".json"), json.dumps(record, indent=2), "training record")
    from jetflow_gan.plots import training_history

    training_history(history, Path(str(out) + ".history.png"), best[1], "point-cloud GAN training")
    return record


def mass_quantiles(mass: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference of :func:`mass_distance`: the sorted masses of the class-0 jets then of the class-1 jets, and
    where each class's run starts and how long it is, ``[[start_0, length_0], [start_1, length_1]]``."""
    parts = [np.sort(mass[label == c]) for c in (0, 1)]
    runs = np.array([[0, len(parts[0])], [len(parts[0]), len(parts[1])]])
    return np.concatenate(parts).astype(np.float32), runs


def mass_distance(generated, label, reference, runs):
    """W1 between a batch of jet masses ``generated`` ``[b]`` of classes ``label`` ``[b]`` (0 / 1) and the real mass
    distribution of each class (:func:`mass_quantiles`), averaged over the batch: the k-th smallest of the n
    masses of a class against that class's real quantile (k + 1/2) / n (nearest rank).  The batch's classes must
    be ones the reference holds jets of, as in training, where a generated batch takes a real batch's classes."""
    from keras import ops

    label = ops.cast(label, "int32")
    order = ops.argsort(ops.cast(label, "float32") * 1e3 + generated)  # class 0 first, each class ascending
    masses, classes = ops.take(generated, order), ops.take(label, order)
    n_0 = ops.sum(1 - label)
    counts = ops.where(classes == 0, n_0, ops.shape(label)[0] - n_0)
    rank = ops.arange(ops.shape(label)[0]) - ops.where(classes == 0, 0, n_0)
    runs = ops.take(ops.convert_to_tensor(runs), classes, axis=0)
    quantile = (ops.cast(rank, "float32") + 0.5) / ops.cast(counts, "float32")
    index = runs[:, 0] + ops.minimum(ops.cast(quantile * ops.cast(runs[:, 1], "float32"), "int32"),
                                     ops.maximum(runs[:, 1], 1) - 1)
    return ops.mean(ops.abs(masses - ops.take(ops.convert_to_tensor(reference), index)))


def _tensorflow_step(gen, disc, opt_g, opt_d, mass_weight: float, reference, averaged, average: float):
    """One compiled training step (a ``tf.function``): the discriminator on a real batch and as many generated clouds
    of the same conditions, then the generator on a second draw of noise, its loss plus ``mass_weight`` x the
    batch's W1 of the jet mass per class to the training jets' (:func:`mass_distance`, ``reference``: its
    :func:`mass_quantiles`); then ``averaged``'s weights move to ``average`` x theirs + (1 - ``average``) x the
    generator's."""
    import tensorflow as tf

    from jetflow_gan.cloud_model import jet_mass

    @tf.function
    def step(cloud, mask, label, z_points, z_global, z_points_2, z_global_2):
        fake = gen([z_points, z_global, mask, label], training=True)
        with tf.GradientTape() as tape:
            real_score = disc([cloud, mask, label], training=True)
            fake_score = disc([fake, mask, label], training=True)
            d_loss = tf.reduce_mean((real_score - 1.0) ** 2) + tf.reduce_mean(fake_score**2)
        opt_d.apply_gradients(zip(tape.gradient(d_loss, disc.trainable_variables), disc.trainable_variables))
        with tf.GradientTape() as tape:
            fake = gen([z_points_2, z_global_2, mask, label], training=True)
            score = disc([fake, mask, label], training=True)
            g_loss = tf.reduce_mean((score - 1.0) ** 2)
            if mass_weight:
                g_loss += mass_weight * mass_distance(jet_mass(fake, mask[..., None]), label[:, 0], *reference)
        opt_g.apply_gradients(zip(tape.gradient(g_loss, gen.trainable_variables), gen.trainable_variables))
        if averaged is not gen:
            for mean, value in zip(averaged.trainable_variables, gen.trainable_variables):
                mean.assign(average * mean + (1.0 - average) * value)
        return d_loss, g_loss

    return step
