"""Events/s of the full pipeline per executor, and the framework's overhead, in one run.

    python benchmarks/bench_executors.py --events 4000

The pipeline: towers, anti-kt R = 1.0 + trimming + soft drop, the study's
selection, images, tau_N / Delta R / image observables, histograms and ROCs.
Run with the iterative executor, futures with 2 workers and dask with 2
workers (a LocalCluster, start-up included and reported apart), then the
same plugin functions called directly in a plain loop over the same chunks
(no coffea, no pluggy): the difference is the framework's overhead.
"""

from __future__ import annotations

import argparse
import glob
import tempfile
import time

import awkward as ak
from _timing import machine

import jetflow
from jetflow_generation.pythia import GenSettings, generate


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=4000, help="per process")
    ap.add_argument("--chunksize", type=int, default=1000)
    args = ap.parse_args()
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        for process in ("wprime", "qcd"):
            generate(GenSettings(process), args.events, tmp, seed=9, workers=2, events_per_file=args.events // 2, progress=False)
        total = 2 * args.events
        cfg = config(tmp, args.chunksize)
        jetflow.run(cfg, executor="iterative", maxchunks=1)  # warm caches (numba, file system)
        print(f"{'executor':<26} {'wall s':>8} {'events/s':>10}")
        rows = {}
        for name, kwargs in (("iterative", {}), ("futures, 2 workers", {"workers": 2}), ("dask, 2 workers", {"workers": 2})):
            executor = name.split(",")[0]
            t0 = time.perf_counter()
            res = jetflow.run(cfg, executor=executor, **kwargs)
            dt = time.perf_counter() - t0
            assert sum(res[d]["events"].events for d in res.datasets) == total
            rows[name] = dt
            print(f"{name:<26} {dt:>8.1f} {total / dt:>10.0f}")
        from distributed import Client, LocalCluster

        t0 = time.perf_counter()
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, Client(cluster) as c:
            t_start = time.perf_counter() - t0
            t1 = time.perf_counter()
            jetflow.run(cfg, client=c)
            dt = time.perf_counter() - t1
        print(f"{'dask, running cluster':<26} {dt:>8.1f} {total / dt:>10.0f}   (cluster start-up {t_start:.1f} s apart)")
        t0 = time.perf_counter()
        n = direct(tmp, args.chunksize)
        dt = time.perf_counter() - t0
        print(f"{'direct calls, one loop':<26} {dt:>8.1f} {n / dt:>10.0f}")
        print(f"framework overhead (iterative vs direct): {100 * (rows['iterative'] / dt - 1):.0f}%")


if __name__ == "__main__":
    main()
