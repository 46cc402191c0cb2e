"""Peak memory of training: the export loaded whole against streamed (``jetflow train --stream``), at growing sizes.

    python benchmarks/bench_streaming.py --data STUDY/export_train --copies 1,4 --model convnet --epochs 1

A larger export is made by linking the shards of ``--data`` ``N`` times under
other names (the same jets again: the memory is what is measured, not the
physics).  Each configuration runs ``jetflow train`` in a fresh process, one
after the other; the peak resident memory of that process (``ru_maxrss`` of
the child) and its wall time are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from _timing import child_peak, machine


def grown_export(data: Path, copies: int, where: Path) -> tuple[Path, int, int]:
    """``data``'s shards linked ``copies`` times into ``where``; (folder, shards, bytes on disk)."""
    shards = sorted(p for p in data.glob("*.parquet") if not p.name.startswith("."))
    where.mkdir(parents=True, exist_ok=True)
    size = 0
    for k in range(copies):
        for p in shards:
            (where / f"copy{k}__{p.name}").symlink_to(p.resolve())
            size += p.stat().st_size
    return where, len(shards) * copies, size


def peak_train(folder: Path, out: Path, model: str, epochs: int, stream: bool, extra: list[str]) -> tuple[float, float]:
    """(peak resident MB, seconds) of one ``jetflow train`` in a child process (its own rusage, from wait4)."""
    jetflow = Path(sys.executable).with_name("jetflow")
    cmd = [str(jetflow), "train", "--model", model, "--data", str(folder), "--out", str(out), "--epochs", str(epochs),
           "--no-progress", *extra, *(["--stream"] if stream else [])]
    return child_peak(cmd, {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True, help="an export folder with images")
    ap.add_argument("--copies", default="1,4", help="export sizes, in copies of --data")
    ap.add_argument("--model", default="convnet")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--args", default="", help="extra jetflow train arguments, space separated")
    a = ap.parse_args()
    print(machine(f"model {a.model}, {a.epochs} epoch(s)"))
    print("| export | shards | on disk | mode | peak memory | time |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for copies in (int(c) for c in a.copies.split(",")):
            folder, n, size = grown_export(a.data, copies, Path(tmp) / f"x{copies}")
            for stream in (False, True):
                mb, s = peak_train(folder, Path(tmp) / f"m{copies}{stream}.keras", a.model, a.epochs, stream,
                                   a.args.split())
                print(f"| {copies} x | {n} | {size / 2**20:.0f} MB | {'streamed' if stream else 'whole'} | "
                      f"{mb:.0f} MB | {s:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
