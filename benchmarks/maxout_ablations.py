"""Ablations of [jet-images]'s MaxOut network: what limits its rejection on the jet-images study's jets.

    python benchmarks/maxout_ablations.py --train STUDY/export_train --eval STUDY/export_eval --seeds 2

``STUDY`` is a ``jetflow reproduce`` output folder (its pass-3 export must hold the images: the packaged
workflow's ``export_eval`` does not, so run its passes with ``images`` exported, as docs/study.md says).  Each
variant is trained with ``jetflow train``'s code on the training export (the study's epochs and patience, a
quarter validating), from ``--seeds`` seeds, and scored on the independent evaluation export with the study's
weights (signal reweighted to QCD's pT): 1/eps_B at eps_S = 0.5 and the AUC from the exact ROC of the scores,
mean ± standard deviation over the seeds.  The ConvNet is trained the same way, as the reference that matches
the paper.  Printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import machine

VARIANTS: list[tuple[str, str, dict, dict]] = [
    # (label, model kind, builder arguments, training settings)
    ("as built: dropout 0.3 after every layer, He init, Adam 1e-3", "maxout", {}, {}),
    ("dropout after the MaxOut layers only (0.3, 0.2)", "maxout", {"dropout": [0.3, 0.2, 0.0, 0.0]}, {}),
    ("no dropout", "maxout", {"dropout": 0.0}, {}),
    ("Glorot-uniform init", "maxout", {"kernel_initializer": "glorot_uniform"}, {}),
    ("input ln(1 + pT / 100 GeV)", "maxout", {"log_input": True}, {}),
    ("Adam 1e-4", "maxout", {}, {"learning_rate": 1e-4}),
    ("Adam 1e-3, x0.3 after 3 epochs without progress", "maxout", {}, {"lr_patience": 3}),
    ("SGD + Nesterov 0.9, 1e-2 (the paper's optimizer)", "maxout", {}, {"optimizer": "nesterov", "learning_rate": 1e-2}),
    ("ConvNet (the study's, for reference)", "convnet", {}, {}),
    ("Adam 1e-4, up to 150 epochs, patience 20", "maxout", {}, {"learning_rate": 1e-4, "epochs": 150, "patience": 20}),
    ("as built, on half of the training jets", "maxout", {}, {"fraction": 0.5}),
    ("as built, on a quarter of the training jets", "maxout", {}, {"fraction": 0.25}),
]
"""A ``fraction`` trains on that share of the export's jets (``max_jets``; a quarter of them validating)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train", type=Path, required=True)
    ap.add_argument("--eval", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--only", default="", help="comma-separated variant numbers (from 0) to run")
    a = ap.parse_args()

    from jetflow.formats.export import read
    from jetflow.stats.roc import curve_of_scores
    from jetflow_inference import score
    from jetflow_inference.training import train

    test = read(a.eval, columns=["image", "label", "weight"])
    n_train = len(read(a.train, columns=["label"])["label"])
    chosen = [VARIANTS[int(i)] for i in a.only.split(",")] if a.only else VARIANTS
    print(machine(f"train {a.train}, evaluate {a.eval} ({len(test['label'])} jets)"))
    print("| variant | jets trained on (+ validated) | epochs run | seconds | 1/eps_B at eps_S = 0.5 | AUC |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for number, (label, kind, args, settings) in enumerate(chosen):
            rejections, aucs, epochs, seconds = [], [], [], []
            for seed in range(1, a.seeds + 1):
                out = Path(tmp) / f"v{number}_{kind}_{seed}.keras"  # a new name: score() loads each file once
                t0 = time.time()
                options = {"epochs": a.epochs, "patience": a.patience, **settings}
                if "fraction" in options:
                    options["max_jets"] = int(round(options.pop("fraction") * n_train))
                record = train(kind, a.train, out, seed=seed, model_args=args, progress=False, **options)
                seconds.append(time.time() - t0)
                epochs.append(record["training"]["epochs_run"])
                scores = score(out, test["image"])
                curve = curve_of_scores(scores, test["label"], test["weight"])
                rejections.append(float(curve.rejection(0.5)[0][0]))
                aucs.append(curve.auc())
            jets = f"{record['jets']['train']:,} (+ {record['jets']['validation']:,})"
            print(f"| {label} | {jets} | {', '.join(map(str, epochs))} | {np.mean(seconds):.0f} | {_spread(rejections, 2)} | "
                  f"{_spread(aucs, 4)} |", flush=True)


def _spread(values: list[float], digits: int) -> str:
    """Mean ± standard deviation over the seeds."""
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{np.mean(values):.{digits}f} ± {np.std(values, ddof=1):.{digits}f}"


if __name__ == "__main__":
    main()
