"""Training from an export too large for memory: batches read shard by shard, shuffled across shards.

``jetflow train --stream`` (and the ``train`` step's ``stream: true``) trains
a network on the batches of :func:`export_batches` instead of arrays loaded
whole.  Memory then holds the shards of two shuffle windows (``window`` jets
each, default 16,384: about 40 MB of 25 x 25 images) and, per jet, its label,
weight and place in the epoch's plan (a few tens of bytes), whatever the size
of the export:

* a first pass reads the ``label`` and ``weight`` columns (and the jet
  features, if any) of every shard: the class-balanced weights and the
  feature scaling of :mod:`jetflow_inference.training` are computed from them;
* each jet is assigned to training or validation by a seeded random number of
  its shard (``validation_split``), so the split does not depend on the order
  in which shards are read;
* every epoch reads the shards in a new random order, gathers them into
  windows of at least ``window`` jets, and shuffles each window's jets (a
  shuffle across shards: a batch mixes jets of several chunks and datasets).

Classification only (the regression's target selection needs every jet at
once); the Fisher discriminant is solved in memory.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jetflow import ModelKind
from jetflow.core.atomic import atomic_write

from jetflow_inference.fitting import (Fitted, TrainingSettings, compiled_network, fit_callbacks, keras_versions,
                                       network_args, recorded_loss)
from jetflow_inference.export_inputs import model_arrays


@dataclass
class Shard:
    path: str
    rows: int
    validation: np.ndarray  # bool per row
    weight: np.ndarray  # class-balanced
    label: np.ndarray


def split_mask(path: str, rows: int, validation_split: float, seed: int) -> np.ndarray:
    """Which rows of a shard validate: a random number per row, seeded by the shard's name and ``seed``."""
    rng = np.random.default_rng([seed, zlib.crc32(Path(path).name.encode())])
    return rng.random(rows) < validation_split


class ExportIndex:
    """An export's shards with each jet's split, label and class-balanced weight (the only per-jet arrays held)."""

    def __init__(self, data, validation_split: float, seed: int, features: list[str] | None = None):
        import pyarrow.parquet as pq

        from jetflow.formats.export import shards

        from jetflow_inference.classes import class_balanced_weights

        self.features = list(features or [])
        paths = shards(data)
        tables = [pq.read_table(p, columns=["label", "weight", *self.features]) for p in paths]
        label = np.concatenate([t.column("label").to_numpy() for t in tables]).astype(np.int64)
        if label.max(initial=0) > 1:
            raise ValueError(f"export {data} holds classes {sorted(set(label.tolist()))}: --stream trains signal "
                             "against background; a multi-class model is fitted in memory (leave out --stream)")
        weight = class_balanced_weights(np.concatenate([t.column("weight").to_numpy() for t in tables]), label)
        self.shards: list[Shard] = []
        start = 0
        for path, table in zip(paths, tables):
            n = table.num_rows
            self.shards.append(Shard(path, n, split_mask(path, n, validation_split, seed), weight[start:start + n],
                                     label[start:start + n]))
            start += n
        train = ~np.concatenate([s.validation for s in self.shards]) if self.shards else np.zeros(0, bool)
        if self.features:  # the network's feature scaling, from the training jets as in memory
            x = np.stack([np.concatenate([t.column(f).to_numpy() for t in tables]) for f in self.features], axis=1)
            self.feature_mean, self.feature_var = x[train].mean(axis=0), x[train].var(axis=0)

    def count(self, validation: bool) -> int:
        return int(sum((s.validation == validation).sum() for s in self.shards))


def export_batches(index: ExportIndex, validation: bool, batch_size: int, read_inputs, *, shuffle: bool,
                   seed: int, window: int = 16384):
    """A ``keras.utils.PyDataset`` of the training (``validation=False``) or validation jets of ``index``.

    ``read_inputs(path)`` returns the model's input arrays of one shard (every
    row).  Each epoch has a plan: the shards in a random order (``shuffle``),
    gathered into windows of at least ``window`` jets, each window's jets
    permuted; batch ``i`` is the plan's ``i``-th slice, so a batch can be asked
    for in any order, and the shards of the last two windows read stay in
    memory.  ``on_epoch_end`` draws the next epoch's plan.  Fit with
    ``shuffle=False``: the plan shuffles, Keras must not shuffle the batches.
    """
    import keras

    class ExportBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.epoch = 0
            self.windows: dict[int, dict[int, list[np.ndarray]]] = {}  # window -> shard -> arrays
            self._plan()

        def __len__(self):
            return max(1, -(-len(self.plan_shard) // batch_size))

        def _plan(self):
            rng = np.random.default_rng([seed, self.epoch])
            order = rng.permutation(len(index.shards)) if shuffle else np.arange(len(index.shards))
            shard_ids, rows, window_ids, current, held = [], [], [], [], 0

            def close():
                nonlocal current, held
                if not current:
                    return
                s = np.concatenate([np.full(len(r), k) for k, r in current])
                r = np.concatenate([r for _, r in current])
                if shuffle:
                    perm = rng.permutation(len(s))
                    s, r = s[perm], r[perm]
                shard_ids.append(s)
                rows.append(r)
                window_ids.append(np.full(len(s), len(window_ids)))
                current, held = [], 0

            for k in order:
                picked = np.flatnonzero(index.shards[k].validation == validation)
                if picked.size:
                    current.append((k, picked))
                    held += picked.size
                if held >= window:
                    close()
            close()
            empty = np.zeros(0, dtype=np.int64)
            self.plan_shard = np.concatenate(shard_ids) if shard_ids else empty
            self.plan_row = np.concatenate(rows) if rows else empty
            self.plan_window = np.concatenate(window_ids) if window_ids else empty
            self.windows = {}

        def _arrays(self, window_id: int, shard: int) -> list[np.ndarray]:
            if window_id not in self.windows:
                for old in sorted(self.windows)[:-1]:  # keep the previous window: a batch may straddle two
                    del self.windows[old]
                self.windows[window_id] = {}
            loaded = self.windows[window_id]
            if shard not in loaded:
                s = index.shards[shard]
                loaded[shard] = [*read_inputs(s.path), s.label.astype(np.float32), s.weight]
            return loaded[shard]

        def __getitem__(self, idx):
            if not 0 <= idx < len(self):
                raise IndexError(f"batch {idx} of {len(self)}")
            sl = slice(idx * batch_size, (idx + 1) * batch_size)
            shards, rows, windows = self.plan_shard[sl], self.plan_row[sl], self.plan_window[sl]
            batch = None
            for shard in np.unique(shards):  # a loop over the few shards in the batch, not over its jets
                sel = shards == shard
                arrays = self._arrays(int(windows[sel][0]), int(shard))
                if batch is None:
                    batch = [np.empty((len(shards), *a.shape[1:]), dtype=a.dtype) for a in arrays]
                for out, a in zip(batch, arrays):
                    out[sel] = a[rows[sel]]
            *inputs, y, w = batch
            return (inputs if len(inputs) > 1 else inputs[0]), y, w

        def on_epoch_end(self):
            if shuffle:
                self.epoch += 1
                self._plan()

        def labels_and_weights(self) -> tuple[np.ndarray, np.ndarray]:
            """The side's labels and weights in the order of the batches (of this epoch)."""
            label = np.empty(len(self.plan_shard), dtype=np.float32)
            weight = np.empty(len(self.plan_shard))
            for shard in np.unique(self.plan_shard):
                sel = self.plan_shard == shard
                label[sel] = index.shards[shard].label[self.plan_row[sel]]
                weight[sel] = index.shards[shard].weight[self.plan_row[sel]]
            return label, weight

    return ExportBatches()


def shard_reader(kind: ModelKind, n_particles: int, features: list[str]):
    """``read(path)``: the model's input arrays (image or constituents, then the features; float32) of one
    export shard (:func:`jetflow_inference.export_inputs.model_arrays`)."""
    import pyarrow.parquet as pq

    from jetflow.formats.export import read

    wanted = [kind.reads, *features]

    def read_inputs(path: str) -> list[np.ndarray]:
        present = set(pq.read_schema(path).names)
        table = read([path], columns=[c for c in wanted if c in present])  # a missing one: model_arrays says so
        return [x.astype(np.float32, copy=False) for x in model_arrays(table, path, kind, n_particles, features)]

    return read_inputs


def fit_streamed(kind: ModelKind, data, out, settings: TrainingSettings):
    """Fit a classifier network on batches read shard by shard; returns ``(fitted, validation labels, their
    weights, input spec, jet counts)`` for the training record."""
    import keras

    s = settings
    features = list(s.features)
    keras.utils.set_random_seed(s.seed)
    index = ExportIndex(data, s.validation_split, s.seed, features)
    n_val, n_train = index.count(True), index.count(False)
    if n_val < 10 or n_train < 10:
        raise ValueError(f"too few jets to train and validate: {n_train} and {n_val} jets, validation_split "
                         f"{s.validation_split}")
    read_inputs = shard_reader(kind, s.n_particles, features)
    first = read_inputs(index.shards[0].path)
    args = network_args(kind, s.model_args, first[0], s.n_particles)
    if features:
        args["feature_scaling"] = (index.feature_mean.tolist(), index.feature_var.tolist())
    model = compiled_network(kind, args, None, "mse", s.learning_rate, None, s.optimizer)
    train_batches = export_batches(index, False, s.batch_size, read_inputs, shuffle=True, seed=s.seed, window=s.window)
    val_batches = export_batches(index, True, 1024, read_inputs, shuffle=False, seed=s.seed, window=s.window)
    fit = model.fit(train_batches, validation_data=val_batches, epochs=s.epochs, verbose=1 if s.progress else 0,
                    shuffle=False,  # the batches' plan shuffles, within windows of shards
                    callbacks=fit_callbacks(s.patience, s.lr_patience, s.learning_rate))
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    with atomic_write(out, "model") as tmp:
        model.save(tmp)
    predictions = model.predict(val_batches, verbose=0)[:, 0]
    yv, wv = val_batches.labels_and_weights()
    labels = np.concatenate([sh.label for sh in index.shards])
    spec = {"column": kind.reads, "shape": list(first[0].shape[1:]), "features": features}
    jets = {"train": n_train, "validation": n_val, "signal": int(labels.sum()), "background": int(len(labels) - labels.sum())}
    fitted = Fitted(args, [history], predictions, recorded_loss(s, None), keras_versions(), model.count_params())
    return fitted, yv, wv, spec, jets


def streamed_statistics(data, kind: ModelKind, n_particles: int, spec: dict) -> dict | None:
    """The training record's input statistics of a streamed training: on the jets of a few shards, evenly
    spread (:func:`jetflow_inference.input_statistics.training_statistics`)."""
    from jetflow.formats.export import shards

    from jetflow_inference.input_statistics import MAX_JETS, spread_shards, training_statistics

    read_inputs = shard_reader(kind, n_particles, spec["features"])
    paths = spread_shards(shards(data))
    share = -(-MAX_JETS // len(paths))
    arrays = [[x[:share].copy() for x in read_inputs(path)] for path in paths]  # one shard in memory at a time
    return training_statistics(spec, [np.concatenate([a[k] for a in arrays]) for k in range(len(arrays[0]))])
