"""Inference throughput (jets/s) against batch size: jetflow's plugin path and a bare ``model.predict``.

    python benchmarks/bench_inference.py --jets 20000                  # here: TensorFlow, CPU; + ONNX Runtime
    KERAS_BACKEND=jax python benchmarks/bench_inference.py --jets 20000 # the plugin under JAX
    python benchmarks/bench_inference.py --save-models DIR              # build + export the models once (here)
    KERAS_BACKEND=jax python benchmarks/bench_inference.py --models DIR --mixed
                                    # a GPU machine without TensorFlow: the plugin on saved .keras / .onnx files

With ``--onnx`` (TensorFlow backend: the export needs tf2onnx) the model is
also exported with ``jetflow onnx`` and scored by the plugin's ONNX Runtime
path.  Under TensorFlow the plugin's predictor of before issue 29 (a
``tf.function(reduce_retracing=True)`` traced at its first call, a short last
batch padded) is a column beside today's (one graph traced at load for any
number of jets), and a second table compares the two in fresh processes as a
worker sees them: the networks loaded, then ``--chunks`` chunks of 50 to 1500
jets (batch 1024): seconds from loading to the last score, and traces.
Models (``--networks``, default the study's ConvNet on 25 x 25 x 1 images and
LBN on 30 constituents; any network of ``jetflow train``: ``efn``, ``pfn``,
``particlenet``, ...) are freshly initialised (throughput does not depend on
the weights), or read from ``--models DIR`` (``<name>.keras`` and their
``.onnx`` exports, written by ``--save-models DIR``).  ``--mixed`` adds the plugin with
``mixed_precision: true`` (float16 compute on a GPU).  Inputs are
random but realistic in shape and sparsity.  Each point is the best of
``--repeat`` timed passes after one warm-up pass.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
from _timing import best_time, machine

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
sys.path.insert(0, str(PLUGINS))


def inputs(kind: str, n: int, rng) -> np.ndarray:
    """``kind``: the input a network reads (``image`` or ``constituents``)."""
    if kind == "image":
        x = np.zeros((n, 25, 25, 1), np.float32)
        lit = rng.random((n, 25, 25)) < 0.12  # ~12% of pixels lit, as in [jet-images]
        x[..., 0][lit] = rng.exponential(5.0, lit.sum())
        return x
    p3 = rng.normal(0, 20, (n, 30, 3)).astype(np.float32)
    p3[..., 0] += 250.0  # a jet: its constituents around one direction
    e = np.linalg.norm(p3, axis=-1, keepdims=True) + 0.2
    x = np.concatenate([e, p3], axis=-1)
    x[np.arange(30)[None, :] >= rng.integers(8, 31, n)[:, None]] = 0.0  # 8 to 30 constituents, zero-padded
    return x


def retracing_predictor(model, device: str, name: str):
    """The plugin's TensorFlow predictor before issue 29 (commit c1d635b): traced at its first call, and again
    at the first batch of another size."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    where = gpus[0].name if gpus and device != "cpu" else "/CPU:0"

    def scores(xs):
        return tf.cast(model(xs if len(xs) > 1 else xs[0], training=False), tf.float32)

    compiled = tf.function(scores, reduce_retracing=True)

    def predict(xs):
        with tf.device(where):
            return compiled([tf.constant(x) for x in xs])

    return predict, where


def plugin_runtime(name: str, path: Path, before: bool):
    """The plugin's Keras runtime (with ``before``, on :func:`retracing_predictor`, padding its last batch) and
    the ``tf.function`` objects made while it was built (their tracing counts are its traces)."""
    import tensorflow as tf
    from jetflow_inference import runtimes

    made, tf_function = [], tf.function

    def recording(*args, **kwargs):
        made.append(tf_function(*args, **kwargs))
        return made[-1]

    predictor = retracing_predictor if before else runtimes._tensorflow_predictor
    with mock.patch.object(tf, "function", recording), mock.patch.object(runtimes, "_tensorflow_predictor", predictor):
        model = runtimes.KerasModel(name, path, "auto", False)
    model.pads_last_batch = model.pads_last_batch or before
    return model, made


def cold_worker(variant: str, models: Path, networks: list[str], chunks: list[int]) -> None:
    """One worker's view, in this fresh process: load the networks, score the chunks; print JSON."""
    from jetflow_inference.kinds import model_kinds

    kinds = model_kinds()
    rng = np.random.default_rng(1)
    data = {reads: inputs(reads, max(chunks), rng) for reads in {kinds[n].reads for n in networks}}
    import keras  # noqa: F401  (TensorFlow's import is not the predictor's cost)

    t0 = time.perf_counter()
    built = {n: plugin_runtime(n, models / f"{n}.keras", variant == "before") for n in networks}
    loaded = time.perf_counter() - t0
    first = None
    for size in chunks:
        for n, (r, _) in built.items():
            r(data[kinds[n].reads][:size], 1024)
        first = first or time.perf_counter() - t0
    total = time.perf_counter() - t0
    traces = sum(f.experimental_get_tracing_count() for _, made in built.values() for f in made
                 if hasattr(f, "experimental_get_tracing_count"))  # not a decorator, tf.function(**options)
    print(json.dumps({"load_s": loaded, "first_chunk_s": first, "total_s": total, "traces": traces,
                      "jets": sum(chunks)}))


def compare_cold_workers(models: Path, networks: list[str], n_chunks: int, repeat: int) -> None:
    chunks = [int(c) for c in np.random.default_rng(2).integers(50, 1501, n_chunks)]
    print(f"\n## a worker's first {n_chunks} chunks ({min(chunks)}-{max(chunks)} jets, {sum(chunks)} in all; "
          f"batch 1024), {'+'.join(networks)} loaded in a fresh process: before / after issue 29")
    print(f"{'variant':>8} {'load s':>8} {'first chunk s':>14} {'all chunks s':>13} {'jets/s':>9} {'traces':>7}")
    for _ in range(repeat):
        for variant in ("before", "after"):  # alternated: the machine's load drifts
            cmd = [sys.executable, __file__, "--cold-worker", variant, "--models", str(models), "--networks",
                   ",".join(networks), "--chunk-sizes", ",".join(map(str, chunks))]
            r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
            print(f"{variant:>8} {r['load_s']:>8.2f} {r['first_chunk_s']:>14.2f} {r['total_s']:>13.2f} "
                  f"{r['jets'] / (r['total_s'] - r['load_s']):>9.0f} {r['traces']:>7}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jets", type=int, default=20000)
    ap.add_argument("--batches", default="64,256,1024,4096")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bare-only", action="store_true", help="only model.predict (no TensorFlow needed)")
    ap.add_argument("--onnx", action="store_true", help="also the plugin's ONNX Runtime path (exported model)")
    ap.add_argument("--models", type=Path, help="read convnet/lbn .keras (and .onnx, if there) from this folder")
    ap.add_argument("--save-models", type=Path, help="build the models, save them (+ ONNX export) here, and stop")
    ap.add_argument("--mixed", action="store_true", help="also the plugin with mixed_precision (float16)")
    ap.add_argument("--networks", default="convnet,lbn", help="comma-separated networks of jetflow train")
    ap.add_argument("--chunks", type=int, default=20, help="chunks of the cold-worker comparison (TensorFlow; 0: none)")
    ap.add_argument("--cold-worker", choices=("before", "after"), help=argparse.SUPPRESS)  # one side of that comparison
    ap.add_argument("--chunk-sizes", help=argparse.SUPPRESS)
    args = ap.parse_args()
    networks = args.networks.split(",")
    if not args.bare_only:  # TensorFlow's start-up logging off the console, as in jetflow
        from jetflow.core.quiet import quiet_libraries

        quiet_libraries()
    if args.cold_worker:
        return cold_worker(args.cold_worker, args.models, networks, [int(c) for c in args.chunk_sizes.split(",")])
    import keras

    if args.save_models:
        from jetflow_inference.kinds import model_kinds
        from jetflow_inference.onnx_export import export_onnx

        kinds = model_kinds()
        args.save_models.mkdir(parents=True, exist_ok=True)
        for name in networks:
            kinds[name].builder()().save(args.save_models / f"{name}.keras")
            export_onnx(args.save_models / f"{name}.keras")
        return

    if args.bare_only:  # no jetflow install needed: the network modules alone, without the plugin's __init__
        import importlib
        import types

        package = types.ModuleType("jetflow_inference")
        package.__path__ = [str(PLUGINS / "jetflow_inference")]
        sys.modules["jetflow_inference"] = package
        modules = [importlib.import_module(f"jetflow_inference.{m}") for m in ("models", "particle_clouds")]
        builders = {n: getattr(m, n) for m in modules for n in networks if hasattr(m, n)}
        reads = {n: builders[n]().inputs[0].name for n in networks}  # "image" or "constituents"
    else:
        from jetflow_inference.kinds import model_kinds

        kinds = model_kinds()
        builders = {n: kinds[n].builder() for n in networks}
        reads = {n: kinds[n].reads for n in networks}

    backend = keras.config.backend()
    device = "CPU"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        device = gpus[0].name if gpus else f"CPU ({os.cpu_count()} cores)"
    elif backend == "jax":
        import jax

        device = str(jax.devices()[0])
    elif backend == "torch":
        import torch

        device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(machine(f"keras {keras.__version__} backend {backend}, device {device}"))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in networks:
            path = (args.models or Path(tmp)) / f"{name}.keras"
            if not args.models:
                builders[name]().save(path)
            x = inputs(reads[name], args.jets, rng)
            model = keras.saving.load_model(path, safe_mode=True)
            runtimes = {}
            if not args.bare_only:
                from jetflow_inference.runtimes import KerasModel, OnnxModel

                if backend == "tensorflow":
                    runtimes["plugin (tensorflow, before #29)"] = plugin_runtime(name, path, before=True)[0]
                runtimes[f"plugin ({backend})"] = KerasModel(name, path, "auto", False)
                if args.mixed:
                    runtimes[f"plugin ({backend}, float16)"] = KerasModel(name, path, "auto", True)
                if args.onnx and not args.models:
                    from jetflow_inference.onnx_export import export_onnx

                    export_onnx(path)
                if path.with_suffix(".onnx").is_file():
                    ort_model = OnnxModel(name, path.with_suffix(".onnx"), "auto")
                    runtimes[f"plugin (ORT {ort_model.device.removesuffix('ExecutionProvider')})"] = ort_model
            print(f"\n## {name}: {args.jets} jets, input {x.shape[1:]}")
            widths = [max(32, len(k) + 9) for k in runtimes]
            print(f"{'batch':>6} {'model.predict jets/s':>22}"
                  + "".join(f"{k + ' jets/s':>{w}}" for k, w in zip(runtimes, widths)))
            for b in map(int, args.batches.split(",")):
                t_bare = best_time(lambda: model.predict(x, batch_size=b, verbose=0), args.repeat, warmup=True)
                cells = [f"{args.jets / best_time(lambda: r(x, b), args.repeat, warmup=True):>{w}.0f}"
                         for r, w in zip(runtimes.values(), widths)]
                print(f"{b:>6} {args.jets / t_bare:>22.0f}" + "".join(cells))
        if backend == "tensorflow" and not args.bare_only and args.chunks:
            compare_cold_workers(args.models or Path(tmp), networks, args.chunks, args.repeat)


if __name__ == "__main__":
    main()
