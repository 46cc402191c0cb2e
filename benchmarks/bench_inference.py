"""Inference throughput (jets/s) against batch size: jetflow's plugin path and a bare ``model.predict``.

    python benchmarks/bench_inference.py --jets 20000                  # here: TensorFlow, CPU; + ONNX Runtime
    KERAS_BACKEND=jax python benchmarks/bench_inference.py --jets 20000 # the plugin under JAX
    python benchmarks/bench_inference.py --save-models DIR              # build + export the models once (here)
    KERAS_BACKEND=jax python benchmarks/bench_inference.py --models DIR --mixed
                                    # a GPU machine without TensorFlow: the plugin on saved .keras / .onnx files

With ``--onnx`` (TensorFlow backend: the export needs tf2onnx) the model is
also exported with ``jetflow onnx`` and scored by the plugin's ONNX Runtime
path.
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
import os
import sys
import tempfile
from pathlib import Path

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
    args = ap.parse_args()
    import keras

    networks = args.networks.split(",")
    if args.save_models:
        from jetflow_inference.models import BUILDERS
        from jetflow_inference.onnx_export import export_onnx

        args.save_models.mkdir(parents=True, exist_ok=True)
        for name in networks:
            BUILDERS[name]().save(args.save_models / f"{name}.keras")
            export_onnx(args.save_models / f"{name}.keras")
        return

    if args.bare_only:  # no jetflow install needed: the model builders alone
        import importlib.util

        spec = importlib.util.spec_from_file_location("jetflow_models", PLUGINS / "jetflow_inference" / "models.py")
        models = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(models)
        builders, reads = models.BUILDERS, models.MODEL_INPUTS  # the particle-cloud networks need the package
    else:
        from jetflow_inference.catalog import MODEL_INPUTS as reads
        from jetflow_inference.models import BUILDERS as builders

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
            print(f"{'batch':>6} {'model.predict jets/s':>22}" + "".join(f"{k + ' jets/s':>32}" for k in runtimes))
            for b in map(int, args.batches.split(",")):
                t_bare = best_time(lambda: model.predict(x, batch_size=b, verbose=0), args.repeat, warmup=True)
                cells = [f"{args.jets / best_time(lambda: r(x, b), args.repeat, warmup=True):>32.0f}"
                         for r in runtimes.values()]
                print(f"{b:>6} {args.jets / t_bare:>22.0f}" + "".join(cells))


if __name__ == "__main__":
    main()
