"""Events/s of `jetflow generate` against a bare `pythia.next()` loop, same settings, one core.

    python benchmarks/bench_generate.py --events 2000

Both run in this one process, one after the other, for each process (W', QCD):
the bare loop only calls ``pythia.next()``; jetflow's path is ``generate_file``
(Pythia's ``nextBatch``, selection of visible particles, charges, truth W, and
the ROOT write through a temporary file).  Pythia's initialisation is excluded
from both rates.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from _timing import machine

from jetflow_generation.pythia import FileJob, GenSettings, derive_seed, generate_file, make_pythia


def bare(settings: GenSettings, events: int, seed: int) -> float:
    pythia = make_pythia(settings, seed)
    t0 = time.perf_counter()
    done = 0
    while done < events:
        if pythia.next():
            done += 1
    return events / (time.perf_counter() - t0)


def wrapped(settings: GenSettings, events: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        rec = generate_file(FileJob(settings, events, 0, seed, f"{tmp}/bench.root"))
    return events / (rec["total_s"] - rec["init_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(machine())
    print(f"{'process':<8} {'bare ev/s':>10} {'jetflow ev/s':>13} {'ratio':>6}")
    for process in ("wprime", "qcd"):
        s = GenSettings(process)
        seed = derive_seed(args.seed, process, 0)
        b = bare(s, args.events, seed)
        w = wrapped(s, args.events, seed)
        print(f"{process:<8} {b:>10.1f} {w:>13.1f} {w / b:>6.2f}")


if __name__ == "__main__":
    main()
