"""Training and inference speed of the networks on constituents, side by side on the same jets (jets/s).

    python benchmarks/bench_cloud_training.py --jets 4096 --particles 30 --repeat 2
    KERAS_BACKEND=jax python benchmarks/bench_cloud_training.py ...      # another backend, a GPU when visible

Each network (``--networks``; ``NAME`` or ``NAME:SIZE`` for the sized ones, ``part:cpu``, ``particlenet:full``)
is built as ``jetflow train`` builds it (:mod:`jetflow_inference.kinds`), compiled with Adam and the
weighted binary cross-entropy, and fitted one epoch on ``--jets`` random jets of 3 to N massive particles
(batch ``--batch-size``) after one untimed epoch (tracing and compilation are not the training's speed); the
best of ``--repeat`` epochs is reported, and the inference speed of ``model.predict`` at batch 1024.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _timing import best_time, machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))


def random_jets(rng, n_jets: int, n_slots: int) -> np.ndarray:
    """Zero-padded (E, px, py, pz) of jets of 3 to ``n_slots`` particles around a random axis, pT ordered."""
    x = np.zeros((n_jets, n_slots, 4), np.float32)
    counts = rng.integers(3, n_slots + 1, n_jets)
    for j, n in enumerate(counts):  # the inputs are made once, outside the timing
        pt = np.sort(rng.exponential(30.0, n))[::-1] + 1.0
        eta, phi, m = rng.normal(0, 0.3, n), rng.normal(0, 0.3, n), rng.uniform(0, 0.5, n)
        x[j, :n] = np.stack([np.sqrt((pt * np.cosh(eta)) ** 2 + m * m), pt * np.cos(phi), pt * np.sin(phi),
                             pt * np.sinh(eta)], axis=1)
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", default="pfn,particlenet:lite,particlenet:full,part:cpu,part:paper")
    ap.add_argument("--jets", type=int, default=4096)
    ap.add_argument("--particles", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    from jetflow.core.quiet import quiet_libraries

    quiet_libraries()
    import keras

    from jetflow_inference.kinds import model_kinds

    kinds = model_kinds()
    rng = np.random.default_rng(0)
    x = random_jets(rng, args.jets, args.particles)
    y = rng.integers(0, 2, args.jets).astype(np.float32)
    print(machine(f"keras {keras.__version__} backend {keras.config.backend()}"))
    print(f"{args.jets} jets of up to {args.particles} particles, batch {args.batch_size}, best of {args.repeat}\n")
    print("| network | parameters | first epoch s (with tracing) | training jets/s | inference jets/s (batch 1024) |")
    print("|---|---|---|---|---|")
    for spec in args.networks.split(","):
        name, _, size = spec.partition(":")
        keras.utils.set_random_seed(1)
        model = kinds[name].builder()(n_particles=args.particles, **({"size": size} if size else {}))
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="binary_crossentropy")
        t0 = time.perf_counter()
        model.fit(x, y, epochs=1, batch_size=args.batch_size, verbose=0)  # traced and compiled here
        first = time.perf_counter() - t0
        train = best_time(lambda: model.fit(x, y, epochs=1, batch_size=args.batch_size, verbose=0), args.repeat)
        infer = best_time(lambda: model.predict(x, batch_size=1024, verbose=0), args.repeat, warmup=True)
        print(f"| {spec} | {model.count_params():,} | {first:.1f} | {args.jets / train:,.0f} | {args.jets / infer:,.0f} |")


if __name__ == "__main__":
    main()
