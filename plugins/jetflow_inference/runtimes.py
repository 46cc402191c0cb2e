"""The model runtimes of the inference plugin: Keras 3 (``.keras``) and ONNX Runtime (``.onnx``).

Both take the model's inputs as a list of arrays, in the order the model
declares them (the main input, image or constituents, then the jet features
when the model has them), check their shapes against the model's, and score
them in batches of a fixed size.  A model is loaded once per process and
content (:func:`get_model`).
"""

from __future__ import annotations

import hashlib
import os
from collections import deque
from pathlib import Path

import numpy as np

from jetflow import ConfigError
from jetflow.core.cache import PluginCache
from jetflow.core.quiet import quiet_libraries


def worker_threads(requested: int | None) -> int:
    """``requested``, else the dask worker's thread count, else this process's cores."""
    if requested:
        return requested
    try:  # inside a dask worker: its own thread count
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        pass
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def configure_threads(cache: PluginCache, requested: int | None = None) -> None:
    """Bound TensorFlow's thread pools once per process (before it starts them); other backends keep theirs."""
    keras = _import_keras()

    if keras.backend.backend() != "tensorflow" or not cache.once("threads configured"):
        return
    import tensorflow as tf

    n = worker_threads(requested)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(max(1, min(2, n)))
    except RuntimeError:
        pass  # TensorFlow already running in this process: it keeps its pools


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Runtime:
    """What both runtimes share: the input check and the batch loop."""

    name: str
    path: Path
    input_names: list[str]
    input_shapes: list[tuple]
    pads_last_batch = False
    """Whether a short last batch is padded to the full size (for compiled graphs: one shape, one trace)."""

    def check(self, inputs: list[np.ndarray]) -> None:
        if len(inputs) != len(self.input_shapes):
            raise ConfigError(
                f"model {self.name!r} ({self.path}) has {len(self.input_shapes)} inputs ({', '.join(self.input_names)}), "
                f"the config gives it {len(inputs)}; check the model's input and features options"
            )
        for name, x, shape in zip(self.input_names, inputs, self.input_shapes):
            if len(x.shape) - 1 != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape[1:])):
                raise ConfigError(
                    f"model {self.name!r} ({self.path}) expects its input {name!r} of shape {('n',) + tuple(shape)}, "
                    f"got {x.shape}; check the model's input, column and features options"
                )

    in_flight = 1
    """How many batches are dispatched before the oldest one's scores are read back (>1: device work overlaps)."""

    def __call__(self, inputs, batch_size: int, classes: int | None = None) -> np.ndarray:
        """The model's output for every jet, float64: the score or the prediction (of a two-column output, the
        last column: a classifier's signal probability); with ``classes``, the ``[n, classes]`` class
        probabilities of a multi-class model, which must have that many outputs."""
        inputs = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        self.check(inputs)
        n = len(inputs[0])
        out = None
        pending: deque = deque()
        for start in range(0, n, batch_size):
            batch = [x[start : start + batch_size] for x in inputs]
            size = len(batch[0])
            if self.pads_last_batch and size < batch_size and n > batch_size:
                # pad the last batch: one static shape (one trace, one kernel choice)
                batch = [np.concatenate([b, np.zeros((batch_size - size,) + b.shape[1:], b.dtype)]) for b in batch]
            pending.append((start, size, self.dispatch(batch)))
            if len(pending) >= self.in_flight:
                out = self._read_back(out, n, *pending.popleft())
        while pending:
            out = self._read_back(out, n, *pending.popleft())
        if out is None:
            out = np.zeros((0, classes or 1))
        return self._select(out, classes)

    def _select(self, out: np.ndarray, classes: int | None) -> np.ndarray:
        width = out.shape[1]
        if classes is not None:
            if width != classes:
                raise ConfigError(f"model {self.name!r} ({self.path}) has {width} outputs per jet, its config declares "
                                  f"{classes} classes")
            return out
        if width > 2:
            raise ConfigError(f"model {self.name!r} ({self.path}) has {width} outputs per jet: a multi-class classifier; "
                              f"name them in its config (classes: [...], {width} names in label order)")
        return out[:, -1] if width == 2 else out[:, 0]

    def _read_back(self, out: np.ndarray | None, n: int, start: int, size: int, handle) -> np.ndarray:
        values = self.fetch(handle)[:size]
        if out is None:
            out = np.empty((n, values.shape[1]), dtype=np.float64)
        out[start : start + size] = values
        return out

    def dispatch(self, batch: list[np.ndarray]):
        """Start scoring one batch; returns what :meth:`fetch` turns into the scores (here: the scores)."""
        return self.predict(batch)

    def fetch(self, handle) -> np.ndarray:
        """The ``[batch, outputs]`` values of a dispatched batch."""
        return handle

    def predict(self, batch: list[np.ndarray]) -> np.ndarray:  # pragma: no cover - each runtime has its own
        raise NotImplementedError


class KerasModel(Runtime):
    """A ``.keras`` model (loaded with ``safe_mode=True``) and a compiled batch predictor, on its device.

    Under any Keras 3 backend (``KERAS_BACKEND``): TensorFlow runs a graph
    traced once at load for any number of jets, JAX a ``jax.jit`` of the
    model's stateless call with the weights as device arrays, PyTorch the
    model under ``torch.no_grad`` on the GPU when there is one.  A model file
    saved under one backend loads under the others.
    """

    in_flight = 4  # JAX and PyTorch run asynchronously: the next batches' copies and kernels queue meanwhile

    def __init__(self, name: str, path: Path, device: str = "auto", mixed_precision: bool = False) -> None:
        keras = _import_keras()

        from jetflow_inference.kinds import register_layers

        register_layers()  # the custom layers of the built-in networks, for safe_mode loading

        self.name, self.path = name, path
        try:
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:
            raise ConfigError(
                f"model {name!r}: {path} cannot be loaded as a Keras model with safe_mode=True "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        if mixed_precision:
            with _policy("mixed_float16"):
                clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
            model = clone
        self.model = model
        self.input_names = [t.name for t in model.inputs]
        self.input_shapes = [tuple(t.shape[1:]) for t in model.inputs]
        self.backend = keras.backend.backend()
        compile_predictor = {"tensorflow": _tensorflow_predictor, "jax": _jax_predictor, "torch": _torch_predictor}
        if self.backend not in compile_predictor:
            raise ConfigError(f"model {name!r}: the Keras backend {self.backend!r} is not supported (tensorflow, jax, torch)")
        self._predict, self.device = compile_predictor[self.backend](model, device, name)
        # a short last batch is padded for jax.jit (one compilation per shape); TensorFlow's graph takes any size
        self.pads_last_batch = self.backend != "tensorflow"

    def dispatch(self, batch):
        return self._predict([b.astype(np.float32, copy=False) for b in batch])

    def fetch(self, scores) -> np.ndarray:
        if self.backend == "torch":
            scores = scores.cpu()
        scores = np.asarray(scores, dtype=np.float32)
        return scores.reshape(len(scores), -1)


def _import_keras():
    """Keras, imported with TensorFlow's start-up logging kept off the console (:mod:`jetflow.core.quiet`)."""
    quiet_libraries()
    import keras

    return keras


def _no_gpu(name: str, runtime: str) -> ConfigError:
    return ConfigError(f"model {name!r}: device gpu, but {runtime} sees no GPU here")


def _tensorflow_predictor(model, device: str, name: str):
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if device == "gpu" and not gpus:
        raise _no_gpu(name, "TensorFlow")
    where = (gpus[0].name if gpus else "/CPU:0") if device in ("auto", "gpu") else "/CPU:0"

    def scores(xs):
        return tf.cast(model(xs if len(xs) > 1 else xs[0], training=False), tf.float32)

    # traced here, once per model and process, for any number of jets (a None batch dimension).  A tf.function
    # traced at its first call is traced again at the first batch of another size (a chunk of fewer jets than
    # batch_size), and TensorFlow's retracing warning counts the traces of every model together (one Python code)
    signature = [tf.TensorSpec((None, *t.shape[1:]), tf.float32) for t in model.inputs]
    with tf.device(where):
        compiled = tf.function(scores).get_concrete_function(signature)

    def predict(xs):
        with tf.device(where):
            return compiled([tf.constant(x) for x in xs])

    return predict, where


def _jax_predictor(model, device: str, name: str):
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if device == "gpu" and not gpus:
        raise _no_gpu(name, "JAX")
    where = gpus[0] if gpus and device != "cpu" else jax.devices("cpu")[0]
    trainable = jax.device_put([v.value for v in model.trainable_variables], where)
    non_trainable = jax.device_put([v.value for v in model.non_trainable_variables], where)

    @jax.jit
    def compiled(trainable, non_trainable, xs):
        out, _ = model.stateless_call(trainable, non_trainable, xs if len(xs) > 1 else xs[0], training=False)
        return out.astype("float32")

    return (lambda xs: compiled(trainable, non_trainable, jax.device_put(xs, where))), str(where)


def _torch_predictor(model, device: str, name: str):
    import torch

    if device == "gpu" and not torch.cuda.is_available():
        raise _no_gpu(name, "PyTorch")
    where = torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")

    def predict(xs):
        with torch.no_grad():
            tensors = [torch.as_tensor(x, device=where) for x in xs]
            return model(tensors if len(tensors) > 1 else tensors[0], training=False).float()  # on the device

    return predict, str(where)


class OnnxModel(Runtime):
    """An ``.onnx`` model in an ONNX Runtime session (the CUDA provider when present and allowed).

    The output read is the model's first floating-point output (all its
    columns: :meth:`Runtime.__call__` picks).
    """

    TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}

    def __init__(self, name: str, path: Path, device: str = "auto", threads: int | None = None) -> None:
        import onnxruntime as ort

        self.name, self.path = name, path
        available = ort.get_available_providers()
        if device == "gpu" and "CUDAExecutionProvider" not in available:
            raise ConfigError(f"model {name!r}: device gpu, but ONNX Runtime has no CUDA provider here")
        providers = (["CUDAExecutionProvider"] if device != "cpu" and "CUDAExecutionProvider" in available else [])
        options = ort.SessionOptions()
        options.intra_op_num_threads = worker_threads(threads)
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers + ["CPUExecutionProvider"])
        except Exception as exc:
            raise ConfigError(f"model {name!r}: {path} cannot be loaded by ONNX Runtime ({type(exc).__name__}: {exc})") from exc
        inputs = self.session.get_inputs()
        self.input_names = [i.name for i in inputs]
        self.input_shapes = [tuple(d if isinstance(d, int) else None for d in i.shape[1:]) for i in inputs]
        self.input_types = [self.TYPES.get(i.type) for i in inputs]
        if None in self.input_types:
            raise ConfigError(f"model {name!r} ({path}): inputs of types {[i.type for i in inputs]}; jetflow feeds floats")
        outputs = [o for o in self.session.get_outputs() if o.type in self.TYPES]
        if not outputs:
            raise ConfigError(f"model {name!r} ({path}) has no floating-point output")
        self.output = outputs[0].name
        self.device = self.session.get_providers()[0]

    def predict(self, batch):
        feed = {n: b.astype(t, copy=False) for n, b, t in zip(self.input_names, batch, self.input_types)}
        return np.asarray(self.session.run([self.output], feed)[0]).reshape(len(batch[0]), -1)


class _policy:
    """Context manager setting the global Keras dtype policy for the layers built inside it."""

    def __init__(self, name):
        self.name = name

    def __enter__(self):
        import keras

        self.old = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.name)

    def __exit__(self, *exc):
        import keras

        keras.config.set_dtype_policy(self.old)


def get_model(cache: PluginCache, name: str, path: Path, device: str = "auto", mixed_precision: bool = False,
              threads: int | None = None) -> Runtime:
    """The loaded model for a file, from a per-process cache (loaded at most once per content).

    ``.onnx`` files run in ONNX Runtime, anything else in Keras.  The key is
    ``(path, SHA-256 of the content, device, mixed_precision)``.
    """
    if not path.is_file():
        raise ConfigError(f"model {name!r}: {path} does not exist")
    key = (str(path.resolve()), file_digest(path), device, mixed_precision)
    if path.suffix == ".onnx":
        return cache.get(key, lambda: OnnxModel(name, path, device, threads))
    configure_threads(cache, threads)
    return cache.get(key, lambda: KerasModel(name, path, device, mixed_precision))
