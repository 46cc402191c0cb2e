"""ONNX out: a trained jetflow network (``.keras``) as an ``.onnx`` file that ONNX Runtime, CMSSW or any other
ONNX consumer scores, through Keras 3's exporter (tf2onnx under the TensorFlow backend).

The ONNX graph keeps the Keras model's input names and order (``image`` or
``constituents``, then ``features``) and a dynamic batch size, so the
inference plugin scores it with the same ``inference.models`` entry, the path
changed.  Every custom layer of :mod:`jetflow_inference.models` (the LBN,
MaxOut, the feature standardisation, the relative output) exports: their
constants live in the graph.

The export is checked against Keras on inputs that exercise the model: jets of
an export when one is given (``data``), else inputs drawn from the training
record's statistics of the training inputs (``MODEL.keras.json``,
:mod:`jetflow_inference.input_statistics`), else random ones.  Outputs that do
not vary on them (a trained network saturated by inputs unlike its training
data) check nothing, and are refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jetflow.core.atomic import atomic_write


def export_onnx(keras_path, onnx_path=None, data=None, check_jets: int = 256, seed: int = 0) -> dict:
    """Write the ONNX export of a saved model and check it: ``check_jets`` inputs (:func:`check_inputs`) scored by
    Keras and by ONNX Runtime.

    Returns ``{"path", "inputs", "checked_on", "jets", "max_abs_diff", "max_abs_output", "output_std",
    "output_min", "output_max"}`` (``output_std``: the largest over the outputs of their standard deviation over
    the jets).  Raises ``ValueError``, writing nothing, if the outputs' spread is within the agreement the
    check allows (the inputs do not exercise the model) or if the two disagree beyond float32 rounding."""
    import keras
    import onnxruntime as ort

    from jetflow_inference.kinds import register_layers

    register_layers()  # the custom layers of the built-in networks, for safe_mode loading

    keras_path = Path(keras_path)
    onnx_path = Path(onnx_path) if onnx_path else keras_path.with_suffix(".onnx")
    model = keras.saving.load_model(keras_path, safe_mode=True, compile=False)
    inputs, checked_on = check_inputs(model, keras_path, data, check_jets, np.random.default_rng(seed))
    expected = np.asarray(model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))
    expected = expected.reshape(len(expected), -1)
    scale = float(np.max(np.abs(expected)))
    tolerance = 1e-4 * max(1.0, scale)
    spread = float(np.max(np.std(expected, axis=0)))
    if spread <= tolerance:
        fix = ("pass --data an export of more varied jets" if data is not None else
               "pass --data EXPORT_FOLDER (a run's accumulators.export.dir) to check on real jets")
        raise ValueError(f"{keras_path}: the check inputs ({len(expected)} {checked_on}) do not exercise the model: "
                         f"its outputs vary by {spread:.2g} (standard deviation; from {expected.min():.4g} to "
                         f"{expected.max():.4g}), within the {tolerance:.2g} the comparison allows; {fix}")
    with atomic_write(onnx_path, "ONNX export") as tmp:  # nothing half-written or unchecked is left at onnx_path
        model.export(str(tmp), format="onnx", verbose=False)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        got = np.asarray(session.run(None, dict(zip(names, inputs)))[0])
        got = got.reshape(len(got), -1)
        diff = float(np.max(np.abs(got - expected))) if got.shape == expected.shape else np.inf
        if got.shape != expected.shape or diff > tolerance:
            raise ValueError(f"{keras_path}: the ONNX export disagrees with Keras by {diff:.3g} on {checked_on} "
                             f"(outputs {got.shape} against {expected.shape}, up to {scale:.3g})")
    return {"path": str(onnx_path), "inputs": names, "checked_on": checked_on, "jets": len(expected),
            "max_abs_diff": diff, "max_abs_output": scale, "output_std": spread,
            "output_min": float(expected.min()), "output_max": float(expected.max())}


def check_inputs(model, keras_path: Path, data, n: int, rng) -> tuple[list[np.ndarray], str]:
    """The model's inputs (float32, in its order) for the check and what they are: up to ``n`` jets of the export
    ``data``; without one, ``n`` drawn from the training record's input statistics; without those, random."""
    record_path = Path(str(keras_path) + ".json")
    try:
        record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"training record {record_path}: cannot be read ({exc}); move it away to check "
                         f"{keras_path.name} without it") from exc
    names = [t.name for t in model.inputs]
    shapes = {t.name: tuple(t.shape[1:]) for t in model.inputs}
    if data is not None:
        return _export_inputs(names, shapes, keras_path, record_path, record, data, n), f"jets of {data}"
    statistics = record.get("input_statistics")
    kept = {k: tuple(statistics["inputs"].get(k, {}).get("shape", ())) for k in names} if statistics else {}
    if statistics and all(kept[k] == shapes[k] for k in names):
        from jetflow_inference.input_statistics import draw

        drawn = draw(statistics, n, rng)
        return [drawn[k] for k in names], f"inputs drawn from the training statistics of {record_path.name}"
    if statistics:
        why = "its training record's input statistics do not match the model's inputs: " + ", ".join(
            f"{k} {kept[k] or 'absent'} against {shapes[k]}" for k in names if kept[k] != shapes[k])
    else:
        why = "no training record" if not record else "no input statistics in its training record"
    return [_example(rng, shapes[k], k, n) for k in names], f"random inputs ({why})"


def _export_inputs(names, shapes, keras_path, record_path, record, data, n) -> list[np.ndarray]:
    """Up to ``n`` jets of the export ``data`` (from at most 8 of its shards, evenly spread) as the model's inputs:
    each input the export column of its name (``constituents``: the leading ones the model reads), ``features``
    the jet columns its training record names; raises naming a missing column or a wrong shape."""
    import pyarrow.parquet as pq

    from jetflow.formats.export import read, shards

    from jetflow_inference.input_statistics import spread_shards

    features = (record.get("input") or {}).get("features") or []
    per_particle = (record.get("input") or {}).get("constituent_features") or []
    if "constituent_features" in names and not per_particle:
        raise ValueError(f"{keras_path} reads per-particle features, and no training record {record_path} names "
                         "them: check it without --data, or put the record beside the model")
    if "features" in names and not features:
        raise ValueError(f"{keras_path} reads jet features, and no training record {record_path} names them: "
                         "check it without --data, or put the record beside the model")
    paths = spread_shards(shards(data))
    columns = ([k for k in names if k not in ("features", "constituent_features")]
               + (features if "features" in names else [])
               + ([f"constituent_{p}" for p in per_particle] if "constituent_features" in names else []))
    missing = sorted(set(columns) - set(pq.read_schema(paths[0]).names))
    if missing:
        raise ValueError(f"export {data} has no column {', '.join(map(repr, missing))} that {keras_path} reads "
                         "(constituents: accumulators.export.constituents: N; images: accumulators.export.images)")
    table = read(paths, columns=columns)
    total = len(table[columns[0]])
    if not total:
        raise ValueError(f"export {data} holds no jets to check {keras_path} on")
    rows = np.unique(np.linspace(0, total - 1, min(n, total)).round().astype(int))
    inputs = []
    for name in names:
        if name == "features":
            x = np.stack([np.asarray(table[f], dtype=np.float64) for f in features], axis=1)
        elif name == "constituent_features":
            x = np.stack([table[f"constituent_{p}"][:, :shapes[name][0]] for p in per_particle], axis=-1)
        else:
            x = table[name]
            if name == "constituents" and len(x.shape) == 3:
                x = x[:, :shapes[name][0]]
        if tuple(x.shape[1:]) != shapes[name]:
            raise ValueError(f"{keras_path} reads {name!r} of shape {('n',) + shapes[name]}, export {data} holds "
                             f"{('n',) + tuple(x.shape[1:])}")
        inputs.append(np.ascontiguousarray(x[rows], dtype=np.float32))
    return inputs


def _example(rng, shape, name, n) -> np.ndarray:
    """Random inputs: pixel pT, physical four-vectors (E >= |p|), or positive features."""
    x = rng.exponential(5.0, (n, *shape)).astype(np.float32)
    if name == "constituents":
        x[..., 1:] = rng.normal(0.0, 30.0, (n, *shape[:-1], 3))
        x[..., 0] = np.linalg.norm(x[..., 1:], axis=-1) * 1.01 + 0.1
    return x
