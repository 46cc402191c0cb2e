"""Events/s of the full pipeline per executor, and the framework's overhead, in one run.

    python benchmarks/bench_executors.py --events 4000
    python benchmarks/bench_executors.py --events 25000 --no-direct      # 50,000 events: the scaling

The pipeline: towers, anti-kt R = 1.0 + trimming + soft drop, the study's
selection, images, tau_N / Delta R / image observables, histograms and ROCs.
Run with the iterative executor, futures with 2 workers and dask with 2
workers (a LocalCluster, start-up included and reported apart), then the
same plugin functions called directly in a plain loop over the same chunks
(no coffea, no pluggy): the difference is the framework's overhead.  Each run
says where its wall time went (benchmarks/_chunk_timeline.py): before the first
chunk, in the chunks, processes idle, after the last chunk.
"""

from __future__ import annotations

import argparse
import glob
import os
import tempfile
import time
from pathlib import Path

import awkward as ak
from _chunk_timeline import timeline_summary
from _timing import machine

import jetflow
from jetflow_generation.pythia import GenSettings, generate

TIMELINE_PLUGIN = str(Path(__file__).with_name("_chunk_timeline.py"))


def config(tmp, chunksize):
    return {
        "datasets": {
            "wprime": {"files": [f"{tmp}/wprime_s9_*.root"], "label": "signal"},
            "qcd": {"files": [f"{tmp}/qcd_s9_*.root"], "label": "background"},
        },
        "clustering": {"source": "towers"},
        "accumulators": {"roc": {"discriminants": {"tau21": "lower", "mass": "likelihood"}}},
        "weights": {"normalize": False},
        "run": {"progress": False, "chunksize": chunksize},
    }


def direct(tmp, chunksize):
    """The same steps as plain function calls in a loop over the same chunks."""
    import uproot

    from jetflow_clustering import particle_jets
    from jetflow_images import jet_images
    from jetflow_substructure import image_observables, substructure

    n = 0
    for f in sorted(glob.glob(f"{tmp}/*_s9_*.root")):
        tree = uproot.open(f)["Events"]
        for start in range(0, tree.num_entries, chunksize):
            arr = tree.arrays([f"Particle_{x}" for x in ("pt", "eta", "phi", "mass", "pdgId", "charge")],
                              entry_start=start, entry_stop=start + chunksize)
            particles = ak.zip({x: arr[f"Particle_{x}"] for x in ("pt", "eta", "phi", "mass", "pdgId", "charge")})
            jets = particle_jets(particles, source="towers")
            sel = (jets.pt > 250) & (jets.pt < 300) & (jets.mass > 65) & (jets.mass < 95)
            jets = jets[sel]
            images = jet_images(jets)
            substructure(jets)
            image_observables(images, 0.1)
            n += len(arr)
    return n


def timed_run(cfg, timeline, **kwargs):
    """``jetflow.run`` with the chunk timeline plugin; (result, where the time went)."""
    open(timeline, "w").close()
    t0 = time.time()
    res = jetflow.run(cfg, plugins=[TIMELINE_PLUGIN], **kwargs)
    return res, timeline_summary(timeline, t0, time.time())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=4000, help="per process")
    ap.add_argument("--chunksize", type=int, default=1000)
    ap.add_argument("--events-per-file", type=int, default=None, help="default: half the events of a process")
    ap.add_argument("--no-direct", action="store_true", help="skip the plain loop (long runs)")
    args = ap.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        per_file = args.events_per_file or args.events // 2
        t0 = time.perf_counter()
        for process in ("wprime", "qcd"):
            generate(GenSettings(process), args.events, tmp, seed=9, workers=2, events_per_file=per_file, progress=False)
        print(f"generated {2 * args.events} events in {time.perf_counter() - t0:.0f} s")
        total = 2 * args.events
        cfg = config(tmp, args.chunksize)
        timeline = f"{tmp}/timeline.txt"
        os.environ["JETFLOW_CHUNK_TIMELINE"] = timeline  # the workers inherit it
        jetflow.run(cfg, executor="iterative", maxchunks=1, plugins=[TIMELINE_PLUGIN])  # warm caches (numba, files)
        print(f"{'executor':<26} {'wall s':>8} {'events/s':>10} {'x iterative':>12} | where the time went (s): "
              "before the first chunk, chunks (summed over processes), processes idle, after the last chunk")
        rows = {}

        def show(name, dt, where):
            speedup = rows["iterative"] / dt if "iterative" in rows else 1.0
            print(f"{name:<26} {dt:>8.1f} {total / dt:>10.0f} {speedup:>12.2f} | {where['before']:.1f}, "
                  f"{where['busy']:.1f} in {where['chunks']} chunks on {where['processes']} process(es), "
                  f"{where['idle']:.1f}, {where['after']:.1f}")

        for name, kwargs in (("iterative", {}), ("futures, 2 workers", {"workers": 2}), ("dask, 2 workers", {"workers": 2})):
            executor = name.split(",")[0]
            res, where = timed_run(cfg, timeline, executor=executor, **kwargs)
            assert sum(res[d]["events"].events for d in res.datasets) == total
            rows[name] = where["wall"]
            show(name, where["wall"], where)
        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as c:
            t_start = time.perf_counter() - t0
            _, where = timed_run(cfg, timeline, client=c)
        show("dask, running cluster", where["wall"], where)
        print(f"(the running cluster's start-up, {t_start:.1f} s, apart)")
        if not args.no_direct:
            t0 = time.perf_counter()
            n = direct(tmp, args.chunksize)
            dt = time.perf_counter() - t0
            print(f"{'direct calls, one loop':<26} {dt:>8.1f} {n / dt:>10.0f}")
            print(f"framework overhead (iterative vs direct): {100 * (rows['iterative'] / dt - 1):.0f}%")


if __name__ == "__main__":
    main()
