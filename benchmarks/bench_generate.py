"""Events/s of `jetflow generate` against a bare `pythia.next()` loop, same settings, one core.

    python benchmarks/bench_generate.py --events 2000 [--pileup 60]

Both run in this one process, one after the other, for each process (W', QCD):
the bare loop only calls ``pythia.next()``; jetflow's path is ``generate_file``
(Pythia's ``nextBatch``, selection of visible particles, charges, truth W, and
the ROOT write through a temporary file).  Pythia's initialisation is excluded
from both rates.  With ``--pileup MU`` jetflow's path also runs with MU
minimum-bias events overlaid on every event (a library of ``--library``
events made first, timed apart), in the same run: its rate, and the overlay's
time as a fraction of the hard events' Pythia time.
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


def wrapped(settings: GenSettings, events: int, seed: int, library: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        rec = generate_file(FileJob(settings, events, 0, seed, f"{tmp}/bench.root", pileup_library=library))
    return {**rec, "rate": events / (rec["total_s"] - rec["init_s"])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pileup", type=float, default=0.0, help="also time jetflow's path with this mean pile-up")
    ap.add_argument("--library", type=int, default=1000, help="minimum-bias events in the pile-up library")
    args = ap.parse_args()
    print(machine())
    library = None
    with tempfile.TemporaryDirectory() as lib_dir:
        if args.pileup > 0:
            from jetflow_generation.pileup import ensure_library, library_path

            rec = ensure_library(lib_dir, args.seed, args.library, 14000.0)
            library = str(library_path(lib_dir, args.seed, args.library, 14000.0))
            print(f"pile-up library: {args.library} minimum-bias events in {rec['total_s']:.1f} s "
                  f"({args.library / rec['pythia_s']:.0f} ev/s)")
        pu = f" {'+ pile-up ' + format(args.pileup, 'g') + ' ev/s':>22} {'overlay/pythia':>15}" if library else ""
        print(f"{'process':<8} {'bare ev/s':>10} {'jetflow ev/s':>13} {'ratio':>6}{pu}")
        for process in ("wprime", "qcd"):
            s = GenSettings(process)
            seed = derive_seed(args.seed, process, 0)
            b = bare(s, args.events, seed)
            w = wrapped(s, args.events, seed)["rate"]
            line = f"{process:<8} {b:>10.1f} {w:>13.1f} {w / b:>6.2f}"
            if library:
                p = wrapped(GenSettings(process, pileup=args.pileup, pileup_library=args.library), args.events, seed,
                            library)
                line += f" {p['rate']:>22.1f} {p['overlay_s'] / p['pythia_s']:>15.2f}"
            print(line)


if __name__ == "__main__":
    main()
