"""Wall time of `jetflow generate` on a dask LocalCluster of 1 and 2 workers against the local process pool.

    python benchmarks/bench_generate_cluster.py --files 8 --events-per-file 250

The same sample (QCD, the study's settings, seed 1) is generated four times
into fresh folders, one after the other: the local pool with 1 and 2
processes, then a dask ``LocalCluster`` (processes, one thread each) with 1
and 2 workers, the client writing the files.  The cluster's start-up is
timed apart.  Printed: wall times, speed-up over one local process, and the
seconds per file, from which a cluster of W workers needs about
``ceil(files / W) x seconds per file``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _timing import machine

from jetflow_generation.pythia import GenSettings, generate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--events-per-file", type=int, default=250)
    ap.add_argument("--process", default="qcd")
    a = ap.parse_args()
    from distributed import LocalCluster

    settings = GenSettings(a.process)
    events = a.files * a.events_per_file
    print(machine(f"{a.process}, {a.files} files of {a.events_per_file} events"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            t0 = time.perf_counter()
            generate(settings, events, Path(tmp) / f"pool{workers}", seed=1, workers=workers,
                     events_per_file=a.events_per_file, progress=False)
            rows.append((f"local pool, {workers} process(es)", time.perf_counter() - t0, 0.0))
        for workers in (1, 2):
            t0 = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
                start = time.perf_counter() - t0
                t1 = time.perf_counter()
                generate(settings, events, Path(tmp) / f"dask{workers}", seed=1, events_per_file=a.events_per_file,
                         progress=False, scheduler=cluster.scheduler_address)
                rows.append((f"dask LocalCluster, {workers} worker(s)", time.perf_counter() - t1, start))
    base = rows[0][1]
    print("| generation | wall time | cluster start | speed-up over 1 process | seconds per file per worker |")
    print("|---|---|---|---|---|")
    for name, seconds, start in rows:
        workers = 2 if name.split(",")[1].strip().startswith("2") else 1
        print(f"| {name} | {seconds:.1f} s | {start:.1f} s | {base / seconds:.2f} | {seconds * workers / a.files:.2f} |")


if __name__ == "__main__":
    main()
