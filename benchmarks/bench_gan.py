"""Generated jets per second: a LAGAN generator and a point-cloud GAN against the Pythia -> towers -> jets ->
images chain.

    python benchmarks/bench_gan.py --events 1000                      # both, side by side (here: CPU)
    python benchmarks/bench_gan.py --gan-only --batches 256,4096      # a GPU machine (no Pythia needed)
    taskset -c 0 python benchmarks/bench_gan.py --events 1000         # everything on one core

The chain: ``jetflow generate`` of W' and QCD events (one core), then a
``jetflow run`` (iterative, one core) with the study's clustering, trimming,
images and selection (250 < pT < 300 GeV, 65 < m < 95 GeV); its time per
*selected* jet, the one that has an image in the study.  The generator: the
seed's architecture (``--filters``, ``--channels``: 64 and 128; the weights do
not change the time) in batches, best of ``--repeat`` passes after a warm-up,
per image: as trained (``predict`` of the Keras model) and folded for sampling
(``jetflow_gan.sampling.sample``, what ``jetflow generate-gan`` and the study
call), side by side.  Then the point-cloud GAN of ``--model epic`` at its default sizes (``--cloud-hidden``,
``--cloud-layers``; 30 particles; random weights), through ``jetflow_gan.cloud_source.sample_clouds``, the
function ``jetflow generate-gan`` calls (its cost does not depend on the multiplicity: every slot is
computed, then masked).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import best_time, machine


def chain_seconds_per_jet(events: int, tmp: Path) -> tuple[float, int, float]:
    import jetflow
    from jetflow_generation.pythia import GenSettings, generate

    t0 = time.perf_counter()
    for process in ("wprime", "qcd"):
        generate(GenSettings(process), events, tmp / "samples", seed=3, workers=1, events_per_file=events, progress=False)
    t_gen = time.perf_counter() - t0
    result = jetflow.run({
        "datasets": {"w": {"files": [str(tmp / "samples" / "wprime_*.root")], "label": "signal"},
                     "q": {"files": [str(tmp / "samples" / "qcd_*.root")], "label": "background"}},
        "clustering": {"source": "towers", "max_jets": 2, "min_pt": 150},
        "selection": {"windows": {"pt": [250, 300], "mass": [65, 95]}},
        "accumulators": {"histograms": False, "export": {"dir": str(tmp / "export")}},
        "run": {"progress": False, "executor": "iterative"},
    })
    total = time.perf_counter() - t0
    jets = sum(list(result.output[d]["cutflow"].counts.values())[-1] for d in ("w", "q"))
    return total / max(jets, 1), jets, t_gen / total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1000, help="Pythia events per process")
    ap.add_argument("--images", type=int, default=20000, help="generated images per timed pass")
    ap.add_argument("--batches", default="256,1024,4096")
    ap.add_argument("--filters", type=int, default=64)
    ap.add_argument("--channels", type=int, default=128)
    ap.add_argument("--cloud-hidden", type=int, default=64)
    ap.add_argument("--cloud-layers", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gan-only", action="store_true")
    args = ap.parse_args()
    import keras

    from jetflow_gan.model import generator
    from jetflow_gan.sampling import sample, sampling_model

    device = keras.config.backend()
    if device == "jax":
        import jax

        device += f" on {jax.devices()[0]}"
    print(machine(f"keras {keras.__version__} backend {device}"))
    if not args.gan_only:
        with tempfile.TemporaryDirectory() as tmp:
            per_jet, jets, gen_share = chain_seconds_per_jet(args.events, Path(tmp))
        print(f"Pythia chain: {jets} selected jets from 2 x {args.events} events, {per_jet * 1e3:.1f} ms per jet "
              f"({1 / per_jet:.1f} jets/s; generation {gen_share:.0%} of it)")
    gen = generator(filters=args.filters, channels=args.channels)
    labels = np.arange(args.images) % 2
    z = np.random.default_rng(1).normal(size=(args.images, gen.inputs[0].shape[-1])).astype(np.float32)
    t0 = time.perf_counter()
    folded = sampling_model(gen)
    assert folded is not gen, "nothing folded: not the seed's generator"
    print(f"folding: {time.perf_counter() - t0:.2f} s, once per generator")
    print(f"{'batch':>6} {'as trained, images/s':>21} {'folded, images/s':>17}"
          + ("" if args.gan_only else f" {'x the chain (as trained, folded)':>33}"))
    for b in map(int, args.batches.split(",")):
        t_plain = best_time(lambda: gen.predict([z, labels.reshape(-1, 1)], batch_size=b, verbose=0), args.repeat,
                            warmup=True)
        t_fold = best_time(lambda: sample(folded, labels, seed=1, batch_size=b), args.repeat, warmup=True)
        rate_plain, rate_folded = args.images / t_plain, args.images / t_fold
        print(f"{b:>6} {rate_plain:>21.0f} {rate_folded:>17.0f}"
              + ("" if args.gan_only else f" {rate_plain * per_jet:>16.0f} {rate_folded * per_jet:>16.0f}"))
    from jetflow_gan.cloud_model import cloud_generator
    from jetflow_gan.cloud_source import sample_clouds

    stats = {"mean": [0.0, 0.0, -4.0], "std": [0.2, 0.2, 1.5], "jet_mean": [0.28, 1.01], "jet_std": [0.03, 0.02]}
    cloud = cloud_generator(30, stats, hidden=args.cloud_hidden, epic_layers=args.cloud_layers)
    counts = np.full(args.images, 30)
    print(f"point-cloud GAN (hidden {args.cloud_hidden}, {args.cloud_layers} EPiC layers, 30 particles): "
          f"{cloud.count_params():,} parameters")
    print(f"{'batch':>6} {'jets/s':>10}" + ("" if args.gan_only else f" {'x the chain':>12}"))
    for b in map(int, args.batches.split(",")):
        rate = args.images / best_time(lambda: sample_clouds(cloud, labels, counts, seed=1, batch_size=b),
                                       args.repeat, warmup=True)
        print(f"{b:>6} {rate:>10.0f}" + ("" if args.gan_only else f" {rate * per_jet:>12.0f}"))


if __name__ == "__main__":
    main()
