"""Streamed training: an export read shard by shard, shuffled across shards, each jet once per epoch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import jetflow
from jetflow.formats.export import read, shards
from jetflow_inference.streaming import ExportIndex, export_batches, shard_reader, split_mask
from jetflow_inference.classes import class_balanced_weights
from jetflow_inference.kinds import model_kind
from jetflow_inference.training import train

from conftest import generated_config


@pytest.fixture(scope="module")
def export(generated, tmp_path_factory):
    """The session's sample as an export of many small shards (chunks of 60 events), images and entry numbers."""
    tmp = tmp_path_factory.mktemp("streaming")
    jetflow.run(generated_config(generated, max_jets=1, chunksize=60, accumulators={
        "histograms": False, "export": {"dir": str(tmp / "export"), "columns": ["pt", "mass"]}}))
    return tmp / "export"


def _ids(pt, mass):
    """A jet's identity: its pT and mass as the network reads them (float32)."""
    return list(zip(np.asarray(pt, np.float32).tolist(), np.asarray(mass, np.float32).tolist()))


def test_every_training_jet_once_per_epoch_in_a_new_order_mixing_shards(export):
    paths = shards(export)
    assert len(paths) >= 10
    index = ExportIndex(export, 0.25, seed=3, features=["pt", "mass"])
    reader = shard_reader(model_kind("convnet"), 30, ["pt", "mass"])
    batches = export_batches(index, False, 32, reader, shuffle=True, seed=3, window=100)
    table = read(export)
    w_expected = class_balanced_weights(table["weight"], table["label"])
    validation = np.concatenate([split_mask(p, len(read([p], ["label"])["label"]), 0.25, 3) for p in paths])
    expected = sorted(_ids(table["pt"][~validation], table["mass"][~validation]))
    by_jet = dict(zip(_ids(table["pt"], table["mass"]), zip(table["label"], w_expected)))
    orders = []
    for _ in range(2):
        seen, mixed = [], 0
        for i in range(len(batches)):
            (images, features), y, w = batches[i]
            assert images.shape[1:] == (25, 25, 1) and len(images) == len(y) == len(w) == len(features)
            ids = _ids(features[:, 0], features[:, 1])
            assert [by_jet[j] for j in ids] == [pytest.approx((a, b)) for a, b in zip(y, w)]  # labels, weights follow
            mixed += len(set(y.tolist())) > 1
            seen += ids
        batches.on_epoch_end()
        assert sorted(seen) == expected  # each training jet exactly once, no validation jet
        assert mixed > len(batches) // 2  # batches mix the signal and the background shards
        orders.append(seen)
    assert orders[0] != orders[1]
    assert index.count(True) == validation.sum() and 0.15 < validation.mean() < 0.35


def separable_export(folder, shards: int = 12, per_shard: int = 40, seed: int = 0):
    """An export whose images show their label: signal jets have their energy in the centre pixel, background
    jets in a corner one (plus noise), in shards that each hold one class, as a run's shards of one dataset do."""
    from jetflow.formats.export import write_shard

    rng = np.random.default_rng(seed)
    for k in range(shards):
        label = k % 2
        images = rng.exponential(1.0, (per_shard, 25, 25, 1)).astype(np.float32)
        images[:, 12, 12, 0] += 40.0 * label
        images[:, 0, 0, 0] += 40.0 * (1 - label)
        write_shard(folder / f"d{label}__shard{k:02d}.parquet",
                    {"image": images, "weight": np.ones(per_shard), "label": np.full(per_shard, label, np.int8)})
    return folder


def test_streamed_training_learns_and_records_it(export, tmp_path):
    """The streamed batches pair each image with its own label, across shards of one class each: a network
    learns an export whose images show their label (and the sample's export trains and is recorded)."""
    toy = separable_export(tmp_path / "toy")
    learned = train("convnet", toy, tmp_path / "toy.keras", epochs=3, batch_size=16, seed=2, progress=False,
                    model_args={"filters": 4, "dense": 8}, stream=True, window=64)
    assert learned["validation"]["auc"] > 0.95, learned["validation"]
    record = train("convnet", export, tmp_path / "c.keras", epochs=1, batch_size=32, seed=2, progress=False,
                   model_args={"filters": 4, "dense": 8}, stream=True, window=64)
    assert record["training"]["streamed"] == {"window": 64}
    assert record["jets"]["train"] + record["jets"]["validation"] == len(read(export, ["label"])["label"])
    with pytest.raises(ValueError, match="fisher is fitted in memory"):
        train("fisher", export, tmp_path / "f.keras", progress=False, stream=True)


def test_an_export_folder_holding_the_same_jets_twice_is_refused(export, tmp_path):
    """A run on the same input files reached by another path writes shards with another path hash; reading the
    folder with both would train and validate on every jet twice."""
    import re
    import shutil

    import pyarrow.parquet as pq

    folder = tmp_path / "export"
    shutil.copytree(export, folder)
    first = Path(shards(folder)[0])
    digest = re.search(r"-([0-9a-f]{10})__", first.name)[1]
    moved = folder / first.name.replace(digest, "0" * 10 if digest != "0" * 10 else "1" * 10)
    shutil.copy(first, moved)
    with pytest.raises(ValueError, match=f"holds the same jets twice: .*{moved.name}.*remove the stale shards"):
        read(folder)
    # two input files that share a name (other folders, other events) are two sets of jets
    table = pq.read_table(first)
    pq.write_table(table.set_column(table.column_names.index("pt"), "pt", [np.asarray(table["pt"]) * 1.5]), moved)
    assert len(read(folder)["pt"]) == len(read(export)["pt"]) + table.num_rows
