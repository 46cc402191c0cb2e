"""ONNX out: a trained jetflow network (``.keras``) as an ``.onnx`` file that ONNX Runtime, CMSSW or any other
ONNX consumer scores, through Keras 3's exporter (tf2onnx under the TensorFlow backend).

The ONNX graph keeps the Keras model's input names and order (``image`` or
``constituents``, then ``features``) and a dynamic batch size, so the
inference plugin scores it with the same ``inference.models`` entry, the path
changed.  Every custom layer of :mod:`jetflow_inference.models` (the LBN,
MaxOut, the feature standardisation, the relative output) exports: their
constants live in the graph.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def export_onnx(keras_path, onnx_path=None, check_jets: int = 64, seed: int = 0) -> dict:
    """Write the ONNX export of a saved model and check it: ``check_jets`` random inputs scored by Keras and by
    ONNX Runtime.  Returns ``{"path", "inputs", "max_abs_diff", "max_abs_output"}``; raises ``ValueError``
    if the two disagree beyond float32 rounding."""
    import keras
    import onnxruntime as ort

    import jetflow_inference.models  # noqa: F401  (registers the custom layers)

    keras_path = Path(keras_path)
    onnx_path = Path(onnx_path) if onnx_path else keras_path.with_suffix(".onnx")
    model = keras.saving.load_model(keras_path, safe_mode=True, compile=False)
    rng = np.random.default_rng(seed)
    inputs = [_example(rng, tuple(t.shape[1:]), t.name, check_jets) for t in model.inputs]
    expected = np.asarray(model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0))
    tmp = onnx_path.with_name(onnx_path.name + ".part")
    try:  # nothing half-written or unchecked is left at onnx_path
        model.export(str(tmp), format="onnx", verbose=False)
        session = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        got = np.asarray(session.run(None, dict(zip(names, inputs)))[0])
        diff = float(np.max(np.abs(got - expected))) if len(got) else 0.0
        scale = float(np.max(np.abs(expected))) if len(expected) else 0.0
        if got.shape != expected.shape or diff > 1e-4 * max(1.0, scale):
            raise ValueError(f"{keras_path}: the ONNX export disagrees with Keras by {diff:.3g} (outputs up to {scale:.3g})")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(onnx_path)
    return {"path": str(onnx_path), "inputs": names, "max_abs_diff": diff, "max_abs_output": scale}


def _example(rng, shape, name, n) -> np.ndarray:
    """Plausible inputs: pixel pT, physical four-vectors (E >= |p|), or positive features."""
    x = rng.exponential(5.0, (n, *shape)).astype(np.float32)
    if name == "constituents":
        x[..., 1:] = rng.normal(0.0, 30.0, (n, *shape[:-1], 3))
        x[..., 0] = np.linalg.norm(x[..., 1:], axis=-1) * 1.01 + 0.1
    return x
