"""Training the LAGAN on a jetflow export: ``jetflow train-gan --data EXPORT --out G.keras``.

The auxiliary-classifier game of [lagan], step by step on each batch of real
images ``x`` with classes ``c``:

1. the generator draws as many images, latent z ~ N(0, 1) and classes in the
   proportions of the training jets;
2. the discriminator learns real (1) against generated (0) on both, with 5%
   of those labels flipped, and the class on the real images only (as the
   seed's code: it must not learn the generator's mistakes as classes);
3. the generator learns to be called real (9% of those labels flipped) and
   to be classified as the class it was asked for, on twice the batch.

Adam (learning rate 2e-4, beta_1 0.5) for both, as the seed.  Seeded.  After
every epoch a checkpoint (``<out>.checkpoint/``: both networks' weights and
the history) and the figures of merit on held-out real images: per class the
Wasserstein-1 distances of image pT and mass between generated and real
images, in units of the real distribution's spread.  The generator saved as
``out`` is the one of the epoch where their sum is smallest (GAN training
oscillates; the history records every epoch).  ``--resume`` carries on from
the checkpoint (the optimisers restart), which must have been made from the
same images (by content: the export may have moved, a checkpoint trained on
another machine resumes here), seed and arguments; one that has done the
epochs asked for is reused as it is.

The training loop is TensorFlow's (the project's training backend); the saved
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

DEFAULTS = {"latent_size": 200, "scale": None, "generator_filters": 64, "generator_channels": 128,
            "discriminator_filters": 32}
"""[lagan]'s sizes; ``scale`` (GeV per network unit) None: the training images' mean lit-pixel intensity."""
FLIP_DISCRIMINATOR, FLIP_GENERATOR = 0.05, 0.09
"""[lagan]'s label flipping: the fraction of real/generated labels turned over for each network."""


def load_images(data) -> tuple[np.ndarray, np.ndarray]:
    """The images (float32 ``[n, 25, 25, 1]``, GeV, first channel) and classes (1 = signal) of an export,
    in a canonical order."""
    from jetflow.formats.export import read

    table = read(data)
    if "image" not in table:
        raise ValueError(f"export {data} has no column 'image' for the LAGAN: export the images (accumulators.export.images)")
    images = np.asarray(table["image"], dtype=np.float32)
    if images.ndim != 4 or images.shape[1:3] != (25, 25):
        raise ValueError(f"export {data}: the LAGAN makes 25 x 25 images, the export's are {images.shape[1:]}")
    images, classes = images[..., :1], np.asarray(table["label"]).astype(np.int32)
    # a canonical order (by class, summed and largest intensity): the same jets give the same training
    # and validation split whatever order a parallel run exported them in
    order = np.lexsort((images.max(axis=(1, 2, 3)), images.sum(axis=(1, 2, 3), dtype=np.float64), classes))
    return images[order], classes[order]


def train_lagan(data, out: str | os.PathLike, *, epochs: int = 30, batch_size: int = 100, validation_split: float = 0.25,
                learning_rate: float = 2e-4, seed: int = 1, model_args: dict[str, Any] | None = None,
                resume: bool = False, time_limit: float | None = None, progress: bool = True) -> dict[str, Any]:
    """Train the LAGAN on the images of an export; write the generator ``out`` and ``<out>.json``.

    Returns the record written to ``<out>.json``: arguments, jets, per-epoch
    history (losses, the auxiliary classifier's accuracy on held-out real
    images, the Wasserstein distances) and the chosen epoch.
    """
    import keras

    from jetflow_gan.evaluation import relative_distances
    from jetflow_gan.model import discriminator, generator
    from jetflow_gan.sampling import sample

    if keras.backend.backend() not in ("tensorflow", "jax"):
        raise ValueError(f"LAGAN training runs with the TensorFlow or JAX backend, not KERAS_BACKEND="
                         f"{keras.backend.backend()}; the trained generator runs under any backend")
    out, args = checked_arguments("LAGAN", out, DEFAULTS, model_args)
    images, classes = load_images(data)
    if args["scale"] is None:  # one network unit = the mean intensity of a lit pixel
        args["scale"] = float(images[images > 0].mean())
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    images, classes = images[order], classes[order]
    n_val = int(round(validation_split * len(images)))
    if len(images) - n_val < batch_size or n_val < 20:
        raise ValueError(f"too few images to train the LAGAN: {len(images)} jets, batch size {batch_size}")
    x_train, c_train = images[:-n_val], classes[:-n_val]
    x_val, c_val = images[-n_val:], classes[-n_val:]
    signal_fraction = float(c_train.mean())

    keras.utils.set_random_seed(seed)
    gen = generator(args["latent_size"], args["scale"], args["generator_filters"], args["generator_channels"])
    disc = discriminator(args["scale"], args["discriminator_filters"])
    opt_g = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    opt_d = keras.optimizers.Adam(learning_rate, beta_1=0.5)
    latent = args["latent_size"]

    checkpoint = Path(str(out) + ".checkpoint")
    history: dict[str, list] = {"d_loss": [], "g_loss": [], "aux_accuracy": [], "distance": [], "seconds": []}
    first_epoch, best = 0, (np.inf, -1)
    fingerprint = data_fingerprint(images, classes)
    if resume:
        state = resume_checkpoint(checkpoint, args, fingerprint, seed, gen, disc)
        history, first_epoch, best = state["history"], state["epochs_done"], tuple(state["best"])
        rng = np.random.default_rng([seed, first_epoch])
    step, sync = {"tensorflow": _tensorflow_step, "jax": _jax_step}[keras.backend.backend()](gen, disc, opt_g, opt_d)
    out.parent.mkdir(parents=True, exist_ok=True)
    checkpoint.mkdir(exist_ok=True)
    t_start = time.time()
    for epoch in range(first_epoch, epochs):
        if out_of_time(time_limit, t_start, epoch, progress):
            break
        t0 = time.time()
        perm = rng.permutation(len(x_train))
        d_sum = g_sum = 0.0
        n_batches = len(perm) // batch_size
        for b in range(n_batches):
            idx = perm[b * batch_size : (b + 1) * batch_size]
            n = len(idx)
            z = rng.normal(size=(n, latent)).astype(np.float32)
            c_fake = (rng.random((n, 1)) < signal_fraction).astype(np.int32)
            z2 = rng.normal(size=(2 * n, latent)).astype(np.float32)
            c2 = (rng.random((2 * n, 1)) < signal_fraction).astype(np.int32)
            d_loss, g_loss = step(x_train[idx], c_train[idx, None], z, c_fake, rng.random(2 * n) < FLIP_DISCRIMINATOR,
                                  z2, c2, rng.random(2 * n) < FLIP_GENERATOR)
            d_sum += float(d_loss)
            g_sum += float(g_loss)
        sync()  # the trained weights into the Keras variables (JAX keeps them apart while training)
        fake = sample(gen, c_val, seed=seed + 1000 + epoch)
        distances = relative_distances(fake, c_val, x_val, c_val)
        aux = disc.predict(x_val, batch_size=1024, verbose=0)[1][:, 0]
        score = sum(distances[k] for k in distances)
        history["d_loss"].append(d_sum / n_batches)
        history["g_loss"].append(g_sum / n_batches)
        history["aux_accuracy"].append(float(np.mean((aux > 0.5) == (c_val == 1))))
        history["distance"].append(distances)
        history["seconds"].append(time.time() - t0)
        best = finish_epoch(out, checkpoint, gen, disc, score, epoch, best,
                            {"args": args, "data": str(data), "fingerprint": fingerprint, "seed": seed, "history": history})
        if progress:
            print(f"epoch {epoch + 1}/{epochs}: d_loss {history['d_loss'][-1]:.3f}, g_loss {history['g_loss'][-1]:.3f}, "
                  f"aux accuracy {history['aux_accuracy'][-1]:.3f}, W1/spread {score:.3f} "
                  f"({history['seconds'][-1]:.0f} s)", flush=True)
    record = {
        "model": "lagan",
        "task": "generation",
        "model_args": args,
        "data": str(data),
        "jets": {"train": int(len(x_train)), "validation": int(n_val), "signal_fraction": signal_fraction},
        "training": {"epochs_run": len(history["d_loss"]), "batch_size": batch_size, "learning_rate": learning_rate,
                     "validation_split": validation_split, "seed": seed, "seconds": float(sum(history["seconds"])),
                     "seconds_this_call": time.time() - t_start, "best_epoch": best[1] + 1,
                     "flip": {"discriminator": FLIP_DISCRIMINATOR, "generator": FLIP_GENERATOR}},
        "validation": {"distance_sum": best[0], "distances": history["distance"][best[1]] if best[1] >= 0 else {}},
        "history": history,
        "versions": {"keras": keras.__version__},
    }
    write_text(Path(str(out) + ".json"), json.dumps(record, indent=2), "training record")
    from jetflow_gan.plots import training_history

    training_history(history, Path(str(out) + ".history.png"), best[1])
    return record


def data_fingerprint(images: np.ndarray, classes: np.ndarray) -> str:
    """SHA-256 of the training images and classes: a checkpoint resumes on the same data wherever it lies."""
    import hashlib

    h = hashlib.sha256(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(classes).tobytes())
    return h.hexdigest()


def checked_arguments(what: str, out, defaults: dict, model_args: dict | None) -> tuple[Path, dict]:
    """The generator file (it must end in ``.keras``) and the model's arguments, ``defaults`` updated with
    ``model_args`` (an unknown name is an error naming the known ones); ``what`` names the model."""
    out = Path(out)
    if out.suffix != ".keras":
        raise ValueError(f"the {what} generator file must end in .keras, got {out}")
    args = {**defaults, **(model_args or {})}
    unknown = set(args) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {what} arguments {sorted(unknown)}; known: {', '.join(defaults)}")
    return out, args


def out_of_time(time_limit: float | None, t_start: float, epoch: int, progress: bool) -> bool:
    """Whether ``--time-limit`` seconds have passed since ``t_start``, before epoch ``epoch`` (said when so)."""
    if time_limit is None or time.time() - t_start <= time_limit:
        return False
    if progress:
        print(f"time limit {time_limit:.0f} s reached after epoch {epoch}: resume for the rest", flush=True)
    return True

def resume_checkpoint(checkpoint: Path, args: dict, fingerprint: str, seed: int, gen, disc, saved=None) -> dict:
    """The state of a GAN checkpoint (``--resume``), its networks' weights loaded into ``gen``, ``disc`` (and
    ``saved``, as :func:`finish_epoch` wrote them); it must have been made with the same arguments, data (by
    content) and seed."""
    if not (checkpoint / "state.json").is_file():
        raise ValueError(f"--resume: no checkpoint at {checkpoint}")
    state = json.loads((checkpoint / "state.json").read_text())
    if state["args"] != args or state["fingerprint"] != fingerprint or state["seed"] != seed:
        raise ValueError(f"--resume: the checkpoint at {checkpoint} was made with other data, seed or "
                         f"arguments ({state['data']}, seed {state['seed']}, {state['args']}); remove it to start afresh")
    gen.load_weights(checkpoint / "generator.weights.h5")
    disc.load_weights(checkpoint / "discriminator.weights.h5")
    if saved is not None:
        saved.load_weights(checkpoint / "saved.weights.h5")
    return state


def finish_epoch(out: Path, checkpoint: Path, gen, disc, score: float, epoch: int, best: tuple, state: dict,
                 saved=None) -> tuple:
    """After an epoch of score ``score`` (smaller is better): the generator (or the model ``saved``, which the
    checkpoint keeps too: an average of the generator's weights) saved as ``out`` if it is the best so far, then
    the checkpoint, the networks' weights and ``state`` (with ``epochs_done`` and ``best``), each file replaced
    whole, the state last (a run killed meanwhile resumes one epoch back).  Returns the best (score, epoch)."""
    if score < best[0]:
        best = (float(score), epoch)
        _atomically(out, (saved or gen).save, "generator")
    state = {**state, "epochs_done": epoch + 1, "best": list(best)}
    if saved is not None:
        _atomically(checkpoint / "saved.weights.h5", saved.save_weights, "GAN checkpoint")
    _atomically(checkpoint / "generator.weights.h5", gen.save_weights, "GAN checkpoint")
    _atomically(checkpoint / "discriminator.weights.h5", disc.save_weights, "GAN checkpoint")
    write_text(checkpoint / "state.json", json.dumps(state, indent=1), "GAN checkpoint")
    return best


def _discriminator_loss(outputs, c, flip):
    """On a batch of real images then as many generated ones (one batch, as the seed: batch normalisation
    must see both): real (1) against generated (0), ``flip`` turning labels over; plus the class of the real
    images."""
    from keras import losses, ops

    generation, auxiliary = outputs
    n = ops.shape(c)[0]
    target = ops.concatenate([ops.ones((n,)), ops.zeros((n,))])
    target = ops.where(flip, 1.0 - target, target)[:, None]
    bce = losses.binary_crossentropy
    return ops.mean(bce(target, generation)) + ops.mean(bce(ops.cast(c, "float32"), auxiliary[:n]))


def _generator_loss(gen_out, aux_out, c, flip):
    """Called real (``flip`` turning some over) and classified as the class asked for."""
    from keras import losses, ops

    bce = losses.binary_crossentropy
    return ops.mean(bce(ops.where(flip, 0.0, 1.0)[:, None], gen_out)) + ops.mean(bce(ops.cast(c, "float32"), aux_out))


def _tensorflow_step(gen, disc, opt_g, opt_d):
    """One compiled training step (a ``tf.function``) and a no-op sync: TensorFlow updates the variables in place."""
    import tensorflow as tf

    @tf.function
    def step(x, c, z, c_fake, flip_d, z2, c2, flip_g):
        fake = gen([z, c_fake], training=True)
        with tf.GradientTape() as tape:
            d_loss = _discriminator_loss(disc(tf.concat([x, fake], 0), training=True), c, flip_d)
        opt_d.apply_gradients(zip(tape.gradient(d_loss, disc.trainable_variables), disc.trainable_variables))
        with tf.GradientTape() as tape:
            gen_out, aux_out = disc(gen([z2, c2], training=True), training=True)
            g_loss = _generator_loss(gen_out, aux_out, c2, flip_g)
        opt_g.apply_gradients(zip(tape.gradient(g_loss, gen.trainable_variables), gen.trainable_variables))
        return d_loss, g_loss

    return step, lambda: None


def _jax_step(gen, disc, opt_g, opt_d):
    """One ``jax.jit`` training step over the networks' and optimisers' state, and the sync that writes
    that state back into the Keras variables (before sampling or saving)."""
    import jax

    opt_g.build(gen.trainable_variables)
    opt_d.build(disc.trainable_variables)
    holders = (gen.trainable_variables, gen.non_trainable_variables, disc.trainable_variables,
               disc.non_trainable_variables, opt_g.variables, opt_d.variables)
    state = None  # read from the variables at the next step (Keras' own predict donates their buffers)

    def d_loss_fn(dtv, dntv, gtv, gntv, x, c, z, c_fake, flip):
        fake, gntv = gen.stateless_call(gtv, gntv, [z, c_fake], training=True)
        outputs, dntv = disc.stateless_call(dtv, dntv, jax.numpy.concatenate([x, jax.lax.stop_gradient(fake)]),
                                            training=True)
        return _discriminator_loss(outputs, c, flip), (dntv, gntv)

    def g_loss_fn(gtv, gntv, dtv, dntv, z, c, flip):
        fake, gntv = gen.stateless_call(gtv, gntv, [z, c], training=True)
        (gen_out, aux_out), dntv = disc.stateless_call(dtv, dntv, fake, training=True)
        return _generator_loss(gen_out, aux_out, c, flip), (gntv, dntv)

    @jax.jit
    def jitted(state, x, c, z, c_fake, flip_d, z2, c2, flip_g):
        gtv, gntv, dtv, dntv, og, od = state
        (d_loss, (dntv, gntv)), grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
            dtv, dntv, gtv, gntv, x, c, z, c_fake, flip_d)
        dtv, od = opt_d.stateless_apply(od, grads, dtv)
        (g_loss, (gntv, dntv)), grads = jax.value_and_grad(g_loss_fn, has_aux=True)(gtv, gntv, dtv, dntv, z2, c2, flip_g)
        gtv, og = opt_g.stateless_apply(og, grads, gtv)
        return [gtv, gntv, dtv, dntv, og, od], d_loss, g_loss

    def step(*batch):
        nonlocal state
        if state is None:
            state = [[v.value for v in vs] for vs in holders]
        state, d_loss, g_loss = jitted(state, *batch)
        return d_loss, g_loss

    def sync():
        nonlocal state
        for variables, values in zip(holders, state or []):
            for v, value in zip(variables, values):
                v.assign(value)
        state = None

    return step, sync


def _atomically(path: Path, write, what: str) -> None:
    """``write(tmp)`` (a Keras ``save`` or ``save_weights``) to a temporary beside ``path``, renamed to ``path``."""
    with atomic_write(path, what) as tmp:
        write(tmp)
