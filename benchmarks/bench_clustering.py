"""Jets/s of clustering + trimming (anti-kt R = 1.0, kt R_sub = 0.3, f_cut = 0.05), one core.

    python benchmarks/bench_clustering.py --events 2000

Generates the samples first (not timed), then times ``cluster_jets`` (FastJet's
awkward interface, every event of the chunk at once) on the visible particles
on exact calorimeter towers and on measured ones (the detector model with its
defaults), for the two leading jets above 100 GeV per event.
The tower-building time is reported separately.
"""

from __future__ import annotations

import argparse
import glob
import tempfile
import time

import awkward as ak
import numpy as np
from _timing import machine
from coffea.nanoevents import NanoEventsFactory
from jetflow_clustering.clustering import cluster_jets
from jetflow_clustering.options import DetectorOptions
from jetflow_clustering.towers import build_towers, particles_table
from jetflow_generation.pythia import GenSettings, generate

from jetflow.formats.schema import JetflowSchema


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(machine())
    print(f"{'sample':<7} {'input':<9} {'events':>6} {'jets':>6} {'inputs/ev':>9} {'jets/s':>9} {'towers ms':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for process in ("wprime", "qcd"):
            generate(GenSettings(process), args.events, tmp, seed=3, workers=2, events_per_file=args.events // 2 + 1, progress=False)
            files = sorted(glob.glob(f"{tmp}/{process}_s3_*.root"))
            events = [NanoEventsFactory.from_root({f: "Events"}, schemaclass=JetflowSchema, mode="eager").events()
                      for f in files]
            particles = [ev.Particle for ev in events]
            ids = [tuple(ak.to_numpy(ev[b]).astype(np.uint64) for b in ("run", "luminosityBlock", "event"))
                   for ev in events]
            for source in ("particles", "towers", "detector"):
                best = None
                for _ in range(args.repeat):
                    t_tow = 0.0
                    n_jets = n_in = 0
                    t_clu = 0.0
                    for p, event_ids in zip(particles, ids):
                        t0 = time.perf_counter()
                        if source == "towers":
                            fields, counts, _ = build_towers(p)
                        elif source == "detector":  # measured towers: response, resolution, thresholds
                            fields, counts, _ = build_towers(p, detector=DetectorOptions(), event_ids=event_ids)
                        else:
                            fields, counts = particles_table(p)
                        t1 = time.perf_counter()
                        jets = cluster_jets(fields, counts, radius=1.0, min_pt=100.0, max_jets=2)
                        t2 = time.perf_counter()
                        t_tow += t1 - t0
                        t_clu += t2 - t1
                        n_jets += len(jets)
                        n_in += int(counts.sum())
                    rate = n_jets / t_clu
                    if best is None or rate > best[0]:
                        best = (rate, t_tow, n_jets, n_in)
                rate, t_tow, n_jets, n_in = best
                print(
                    f"{process:<7} {source:<9} {args.events:>6} {n_jets:>6} {n_in / args.events:>9.0f} "
                    f"{rate:>9.0f} {1000 * t_tow:>9.1f}"
                )


if __name__ == "__main__":
    main()
