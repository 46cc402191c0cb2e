"""Peak memory of ``jetflow run`` against the input size: does it grow with the number of chunks?

    python benchmarks/bench_run_memory.py --samples STUDY/samples/train --files 1,10 [--executor iterative]

The jet-images configuration of the study (towers, trimming, images, N-subjettiness, histograms of
every column, ROCs of mass / tau21 / Delta R and their binned combinations, average images, pixel
correlations; no models), on the first N files of each process (``wprime_*.root``, ``qcd_*.root``)
in ``--samples``.  Each size runs ``jetflow run`` in a fresh process, one after the other; the
peak resident memory of that process tree's largest member (``ru_maxrss`` of the child, from
wait4: with ``--executor futures`` the workers' own peaks are not in it, so iterative is the
default) and the wall time are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from _timing import child_peak, machine

CONFIG = {
    "clustering": {"source": "towers", "radius": 1.0, "min_pt": 200.0, "max_jets": 2},
    "selection": {"windows": {"pt": [250.0, 300.0], "mass": [65.0, 95.0]}},
    "accumulators": {
        "roc": {"discriminants": {"mass": "higher", "tau21": "lower", "delta_r": "higher"},
                "combinations": [["mass", "tau21"], ["mass", "delta_r"]]},
        "average_image": "image",
        "correlations": ["mass", "tau21"],
    },
}


def config_for(samples: Path, files: int, executor: str, chunksize: int) -> dict:
    datasets = {}
    for process, label in (("wprime", "signal"), ("qcd", "background")):
        found = sorted(samples.glob(f"{process}_*.root"))
        if len(found) < files:
            raise SystemExit(f"{samples}: {len(found)} {process} files, {files} wanted")
        datasets[process] = {"files": [str(p) for p in found[:files]], "label": label}
    return {**CONFIG, "datasets": datasets,
            "run": {"executor": executor, "workers": 2, "chunksize": chunksize, "progress": False}}


def peak_run(config: Path, out: Path, checkpoint: bool) -> tuple[float, float]:
    """(peak resident MB, seconds) of one ``jetflow run`` in a child process (its own rusage, from wait4)."""
    jetflow = Path(sys.executable).with_name("jetflow")
    cmd = [str(jetflow), "run", str(config), "--out", str(out), *([] if checkpoint else ["--no-checkpoint"])]
    return child_peak(cmd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=Path, required=True, help="a folder of wprime_*.root and qcd_*.root files")
    ap.add_argument("--files", default="1,10", help="files per process, one run per value")
    ap.add_argument("--executor", default="iterative", choices=["iterative", "futures"])
    ap.add_argument("--chunksize", type=int, default=2500)
    ap.add_argument("--checkpoint", choices=["off", "on", "both"], default="off",
                    help="keep a checkpoint of every chunk (both: each size without, then with)")
    a = ap.parse_args()
    modes = {"off": [False], "on": [True], "both": [False, True]}[a.checkpoint]
    import jetflow

    print(machine(f"executor {a.executor}, chunksize {a.chunksize}"))
    print("\n| files per process | checkpoint | events | chunks | jets selected | peak RSS [MB] | wall [s] |\n"
          "|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(x) for x in a.files.split(",")):
            cfg = Path(tmp) / f"run{n}.yaml"
            cfg.write_text(yaml.safe_dump(config_for(a.samples, n, a.executor, a.chunksize)))
            for checkpoint in modes:
                out = Path(tmp) / f"run{n}_{checkpoint}.coffea"
                peak, seconds = peak_run(cfg, out, checkpoint)
                res = jetflow.load(out)
                events = sum(res[d]["events"].events for d in res.datasets)
                chunks = sum(res[d]["events"].chunks for d in res.datasets)
                jets = sum(res[d]["cutflow"].counts[res[d]["cutflow"].steps[-1]] for d in res.datasets)
                print(f"| {n} | {'yes' if checkpoint else 'no'} | {events:,} | {chunks} | {jets:,} | {peak:,.0f} | "
                      f"{seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
