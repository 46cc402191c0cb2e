"""Built-in plugin ``inference``: TensorFlow/Keras 3 models scoring jets, ``jetflow train`` and the workflow step ``train``.

Config section ``inference`` (called ``models`` before jetflow 0.2)::

    inference:
      models:
        convnet:                       # writes the column score_convnet
          kind: classifier             # classifier: score_<name>; regressor: pred_<name>
          path: convnet.keras          # relative to the config
          input: image                 # image | constituents
          column: image                # the image column (input: image)
          batch_size: 1024
          device: auto                 # auto | cpu | gpu
          mixed_precision: false       # float16 compute on a GPU
      threads: null                    # TensorFlow threads; default: the worker's cores

Models load with ``safe_mode=True`` (no arbitrary code from a model file),
once per worker process: the plugin's per-process cache (``ctx.cache``), keyed
by the file's path and the SHA-256 of its content (so a changed file is
reloaded, an unchanged one never).  Jets are
scored in batches by a compiled ``tf.function`` on a GPU when one is visible
(``device: auto``), else on the CPU.  Inside a dask worker TensorFlow uses
that worker's threads only.

Each model writes ``score_<name>``, declared with kind ``"score"`` so that the
ROC accumulators pick it up.  A model whose input shape does not match, or a
missing input column, gives an error naming the model and the expected shape.
When models are configured, a chunk asks for the dask resource ``GPU``
(hook ``jetflow_resources``): on a cluster where some workers declare it,
chunks go to them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import ColumnSpec, ConfigError, Options, hookimpl
from jetflow.core.cache import PluginCache, plugin_cache

from jetflow_inference.steps import jetflow_workflow_steps  # noqa: F401  (the workflow step train)


class ModelOptions(Options):
    kind: Literal["classifier", "regressor"] = Field(
        "classifier", description="classifier: writes score_<name> in [0, 1]; regressor: writes pred_<name>"
    )
    range: tuple[float, float] = Field((0.0, 3.0), description="regressor: histogram range of pred_<name>")
    path: str = Field(description="the .keras file (or a calibration's .json), relative to the config")
    input: Literal["image", "constituents"] = Field("image", description="what the model reads")
    column: str = Field("image", description="image column (input: image)")
    batch_size: int = Field(1024, gt=0, description="jets per inference batch")
    device: Literal["auto", "cpu", "gpu"] = Field("auto", description="auto: a GPU when one is visible")
    mixed_precision: bool = Field(False, description="float16 compute (for GPUs)")


class InferenceOptions(Options):
    former_names = ("models",)

    models: dict[str, ModelOptions] = Field(default_factory=dict, description="name -> model; writes score_<name>")
    threads: int | None = Field(None, ge=1, description="TensorFlow intra-op threads (default: the worker's cores)")


@hookimpl
def jetflow_options():
    return InferenceOptions


@hookimpl
def jetflow_columns(options):
    if options is None:
        return None
    return {column_name(name, m): (
        ColumnSpec(f"{name} score", "", 100, 0.0, 1.0, kind="score", description=f"output of {m.path}")
        if m.kind == "classifier" else
        ColumnSpec(f"{name} prediction", "", 100, *m.range, description=f"regression output of {m.path}"))
        for name, m in options.models.items()}


def column_name(name: str, model: ModelOptions) -> str:
    """The column a model writes: ``score_<name>`` (classifier) or ``pred_<name>`` (regressor)."""
    return f"score_{name}" if model.kind == "classifier" else f"pred_{name}"


@hookimpl
def jetflow_resources(options):
    return {"GPU": 1} if options is not None and options.models else None


@hookimpl
def jetflow_cli_commands():
    from jetflow_inference.cli import train_command

    return [train_command]


# ---------------------------------------------------------------------------
# models, loaded once per process
# ---------------------------------------------------------------------------


def _worker_threads(requested: int | None) -> int:
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
    """Bound TensorFlow's thread pools once per process (before it starts them)."""
    if not cache.once("threads configured"):
        return
    import tensorflow as tf

    n = _worker_threads(requested)
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


class LoadedModel:
    """A model, its device and a compiled batch predictor."""

    def __init__(self, name: str, path: Path, device: str, mixed_precision: bool) -> None:
        import keras
        import tensorflow as tf

        import jetflow_inference.models  # noqa: F401  (registers the custom layers)

        self.name = name
        self.path = path
        try:
            model = keras.saving.load_model(path, safe_mode=True, compile=False)
        except Exception as exc:
            raise ConfigError(
                f"model {name!r}: {path} cannot be loaded as a Keras model with safe_mode=True "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        gpus = tf.config.list_logical_devices("GPU")
        if device == "gpu" and not gpus:
            raise ConfigError(f"model {name!r}: device gpu, but TensorFlow sees no GPU here")
        self.device = (gpus[0].name if gpus else "/CPU:0") if device in ("auto", "gpu") else "/CPU:0"
        if mixed_precision:
            with _policy("mixed_float16"):
                clone = keras.models.clone_model(model)
            clone.set_weights(model.get_weights())
            model = clone
        self.model = model
        self.input_shape = tuple(model.input_shape[1:])

        @tf.function(reduce_retracing=True)
        def predict(x):
            return tf.cast(model(x, training=False), tf.float32)

        self._predict = predict

    def __call__(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        import tensorflow as tf

        if tuple(x.shape[1:]) != self.input_shape:
            raise ConfigError(
                f"model {self.name!r} ({self.path}) expects inputs of shape {('n',) + self.input_shape}, "
                f"got {x.shape}; check the model's input and column options"
            )
        out = np.empty(len(x), dtype=np.float64)
        with tf.device(self.device):
            for start in range(0, len(x), batch_size):
                batch = x[start : start + batch_size]
                if len(batch) < batch_size and len(x) > batch_size:
                    # pad the last batch: one static shape, one trace
                    pad = np.zeros((batch_size - len(batch),) + batch.shape[1:], batch.dtype)
                    scores = self._predict(tf.constant(np.concatenate([batch, pad])))[: len(batch)]
                else:
                    scores = self._predict(tf.constant(batch))
                out[start : start + len(batch)] = np.asarray(scores).reshape(len(batch), -1)[:, 0]
        return out


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


def get_model(cache: PluginCache, name: str, path: Path, device: str = "auto", mixed_precision: bool = False) -> LoadedModel:
    """The loaded model for a file, from a per-process cache (loaded at most once per content).

    The key is ``(path, SHA-256 of the content, device, mixed_precision)``.
    """
    if not path.is_file():
        raise ConfigError(f"model {name!r}: {path} does not exist")
    key = (str(path.resolve()), file_digest(path), device, mixed_precision)
    return cache.get(key, lambda: LoadedModel(name, path, device, mixed_precision))


def model_inputs(jets, name: str, opts: ModelOptions, loaded: LoadedModel) -> np.ndarray:
    if opts.input == "image":
        if opts.column not in jets.fields:
            raise ConfigError(
                f"model {name!r} reads the image column {opts.column!r}, which is not in the jet table "
                f"(enable a plugin that makes it, or set the model's column); it expects {('n',) + loaded.input_shape}"
            )
        return ak.to_numpy(jets[opts.column]).astype(np.float32)
    from jetflow.physics import constituent_four_vectors

    if len(loaded.input_shape) != 2 or loaded.input_shape[1] != 4:
        raise ConfigError(
            f"model {name!r} has input shape {loaded.input_shape}, not (N, 4) four-vectors; "
            f"is its input option right?"
        )
    return constituent_four_vectors(jets.constituents, loaded.input_shape[0])


@hookimpl
def jetflow_infer(jets, ctx):
    opts = ctx.options()
    if not opts.models:
        return None
    configure_threads(ctx.cache, opts.threads)
    out = {}
    for name, m in opts.models.items():
        path = ctx.config.resolve(m.path)
        if path.suffix == ".json":  # a calibration: the baseline of a regression
            from jetflow_inference.calibration import Calibration

            calibration = ctx.cache.get(("calibration", str(path.resolve()), file_digest(path)),
                                        lambda: Calibration(name, path))
            out[column_name(name, m)] = calibration(jets)
            continue
        loaded = get_model(ctx.cache, name, path, m.device, m.mixed_precision)
        x = model_inputs(jets, name, m, loaded)
        out[column_name(name, m)] = loaded(x, m.batch_size) if len(x) else np.zeros(0)
    return out


def score(model_path, inputs: np.ndarray, *, batch_size: int = 1024, device: str = "auto") -> np.ndarray:
    """Scores of a saved model on ``inputs`` (images or four-vectors), loaded once per process."""
    cache = plugin_cache(__name__)
    configure_threads(cache, None)
    loaded = get_model(cache, Path(model_path).stem, Path(model_path), device, False)
    return loaded(np.asarray(inputs, dtype=np.float32), batch_size)
