"""Learning curve: a network's rejection against the number of jets it is trained on, on a fixed held-out set.

    python benchmarks/learning_curve.py --data STUDY/export_train --models convnet,lbn --fractions 0.125,0.25,0.5,1

The export's shards are shuffled (``--seed``); a quarter of them is held out
as the test set, never trained or validated on.  For each fraction, the
network is trained (``jetflow train``'s defaults, ``--epochs`` and
``--patience`` as the study's) on that fraction of the remaining shards,
then scored on the test set with the study's weights (signal reweighted to
QCD's pT): AUC, 1/eps_B at eps_S = 0.5, and the area under 1/eps_B for
eps_S in [0.2, 0.8].  Printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _timing import machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--models", default="convnet")
    ap.add_argument("--fractions", default="0.125,0.25,0.5,1")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    from jetflow.formats.export import read, shards
    from jetflow.stats.accumulators import WeightedROC
    from jetflow_inference import score
    from jetflow_inference.kinds import model_kinds
    from jetflow_inference.training import train

    paths = np.array(shards(a.data))
    order = np.random.default_rng(a.seed).permutation(len(paths))
    n_test = len(paths) // 4
    test, pool = list(paths[order[:n_test]]), list(paths[order[n_test:]])
    print(machine(f"{a.data}: {len(paths)} shards, {n_test} held out"))
    print("| model | jets trained on (+ validated) | epochs | AUC | 1/eps_B at 0.5 | area [0.2, 0.8] |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            column = model_kinds()[model].reads
            table = read(test, columns=[column, "label", "weight"])
            x = table[column][:, :30] if column == "constituents" else table[column]
            for fraction in (float(f) for f in a.fractions.split(",")):
                subset = pool[: max(2, int(round(fraction * len(pool))))]
                out = Path(tmp) / f"{model}_{fraction}.keras"
                record = train(model, subset, out, epochs=a.epochs, patience=a.patience, seed=a.seed, progress=False)
                s = score(out, x, batch_size=2048)
                roc = WeightedROC(["score"], [(2000, 0.0, 1.0)], "higher")
                roc.fill([s], table["label"].astype(int), table["weight"], np.zeros(len(s), dtype=int))
                r = roc.summary()
                jets = record["jets"]
                print(f"| {model} | {jets['train']} (+ {jets['validation']}) | {record['training']['epochs_run']} | "
                      f"{r['auc']:.3f} | {r['rej@0.5']:.1f} | {r['area_0.2_0.8']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
