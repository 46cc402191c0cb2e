"""A model's input arrays from a per-jet export (:mod:`jetflow.formats.export`): its column (the image, the
leading constituents, or nothing but the jet features), the jet features, and the labels or the regression
target with the weights (:func:`load_inputs`; streamed, shard by shard: :mod:`jetflow_inference.streaming`)."""

from __future__ import annotations

import numpy as np

from jetflow import ModelKind


def model_arrays(table: dict[str, np.ndarray], source, kind: ModelKind, n_particles: int,
                 features: list[str], constituent_features: list[str] = ()) -> list[np.ndarray]:
    """A model's input arrays from an export's columns (all of it, or one shard: ``source`` names it in errors):
    the image or the ``n_particles`` leading constituents unless the model reads the features alone, their
    ``constituent_features`` as ``[n, N, k]`` (columns ``constituent_<name>``), then the jet ``features`` as
    ``[n, k]`` float64; raises naming a missing column and how to export it."""
    column = kind.reads
    inputs = []
    if column != "features":
        if column not in table:
            hint = (
                "set accumulators.export.constituents: N in the run that made it"
                if column == "constituents"
                else "export the image column (accumulators.export.images)"
            )
            raise ValueError(f"export {source} has no column {column!r} for model {kind.name!r}: {hint}")
        x = table[column]
        if column == "constituents":
            if x.shape[1] < n_particles:
                raise ValueError(f"export {source} holds {x.shape[1]} constituents per jet, model {kind.name!r} wants {n_particles}")
            x = x[:, :n_particles]
        inputs.append(x)
    if constituent_features:
        absent = [name for name in constituent_features if f"constituent_{name}" not in table]
        if absent:
            raise ValueError(f"export {source} has no column {', '.join('constituent_' + a for a in absent)} for model "
                             f"{kind.name!r}: set accumulators.export.constituent_features: [{', '.join(absent)}] in "
                             "the run that made it")
        inputs.append(np.stack([table[f"constituent_{name}"][:, :n_particles] for name in constituent_features], axis=-1))
    missing = [f for f in features if f not in table or np.asarray(table[f]).ndim != 1]
    if missing:
        raise ValueError(f"export {source} has no per-jet feature column {missing} (columns: {', '.join(sorted(table))})")
    if features:
        inputs.append(np.stack([np.asarray(table[f], dtype=np.float64) for f in features], axis=1))
    return inputs


RELATIVE_RANGE = (0.1, 10.0)
"""The correction factors truth / reconstructed a relative regression learns from; jets outside are left out."""


def load_inputs(data, kind: ModelKind, n_particles: int = 30, target: str | None = None,
                features: list[str] | None = None, relative_to: str | None = None,
                constituent_features: list[str] | None = None):
    """Inputs, targets (labels, or the target column) and weights of an export for a model.

    Returns ``(inputs, y, w, spec)``: ``inputs`` lists the model's input arrays
    in its order (the image or the constituents unless the model reads the
    features alone, then the jet ``features``); raises naming a missing column.
    A regression keeps the jets with a finite, positive target
    (``spec["left_out"]`` counts the others) and weights of mean 1; with
    ``relative_to`` the target is truth / that column (jets where that factor
    is outside :data:`RELATIVE_RANGE` are left out too), and
    ``spec["reference"]`` holds the column's values.
    """
    from jetflow.formats.export import read

    column = kind.reads
    features = list(features or [])
    table = read(data)
    constituent_features = list(constituent_features or [])
    inputs = model_arrays(table, data, kind, n_particles, features, constituent_features)
    spec = {"column": column, "shape": list(inputs[0].shape[1:]), "features": features}
    if constituent_features:
        spec["constituent_features"] = constituent_features
    if target is None:
        from jetflow_inference.classes import class_balanced_weights, class_names

        spec["classes"] = class_names(table["label"], table["dataset"], data)
        return ([x.astype(np.float32) for x in inputs], table["label"].astype(np.float32),
                class_balanced_weights(table["weight"], table["label"]), spec)
    if target not in table:
        raise ValueError(f"export {data} has no target column {target!r} (columns: {', '.join(sorted(table))})")
    y = np.asarray(table[target], dtype=np.float64)
    keep = np.isfinite(y) & (y > 0)
    if relative_to is not None:
        if relative_to not in table:
            raise ValueError(f"export {data} has no column {relative_to!r} to regress relative to")
        reference = np.asarray(table[relative_to], dtype=np.float64)
        keep &= np.isfinite(reference) & (reference > 0)
        y = np.divide(y, reference, out=np.zeros_like(y), where=keep)
        # a jet measured an order of magnitude off (a soft-drop mass of one massless tower) has no correction
        # factor to learn: its ratio, up to 1e7, would dominate any squared error
        keep &= (y > RELATIVE_RANGE[0]) & (y < RELATIVE_RANGE[1])
        spec["reference"] = reference[keep]
    if keep.sum() < 20:
        raise ValueError(f"export {data}: only {int(keep.sum())} jets have a positive {target!r} to regress")
    w = np.asarray(table["weight"], dtype=np.float64)[keep]
    spec.update(target=target, left_out=int((~keep).sum()))
    return [x[keep].astype(np.float32) for x in inputs], y[keep].astype(np.float32), w / w.mean(), spec
