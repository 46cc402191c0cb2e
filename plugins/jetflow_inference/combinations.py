"""Learned combinations of discriminants: a classifier of a few jet columns approximates their likelihood ratio.

A binned likelihood ratio of two or three columns ([jet-images]'s 2-D
combinations; ``accumulators.roc.combinations``) needs cells small enough to
follow the ratio and populated enough to estimate it, which fails as the
dimension or the separation grows: [dl-hep]'s point is that a classifier
trained to separate the classes approximates the likelihood ratio without
binning (its output is a monotonic function of it).

:func:`fit_combination` fits one scikit-learn classifier per fold
(:mod:`jetflow.stats.crossfit`) on an export of the sample to be scored: model
``f`` sees the jets of the other folds only.  The models are saved as ONNX
(``<out>/<name>_fold<f>.onnx``, :mod:`jetflow_inference.tabular`) and a run
scores them through the inference plugin (``folds: K``): every jet is scored,
in the processor and chunk by chunk, by the model that did not see it, and the
ROC accumulators take the score like any other.  The workflow step
``combine`` does this for a list of combinations.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from jetflow.core.atomic import write_bytes


def combination_name(columns: list[str]) -> str:
    """``lr_<a>_<b>[_<c>]``: the model's name (its column is ``score_lr_...``); a score column counts by its model."""
    return "lr_" + "_".join(c.removeprefix("score_") for c in columns)


def fit_combination(table: dict[str, np.ndarray], columns: list[str], out: str | Path, *, model: str = "boosting",
                    folds: int = 2, seed: int = 1, model_args: dict[str, Any] | None = None) -> dict[str, Any]:
    """Fit the cross-fitted classifier of ``columns`` on an export's ``table``; save its folds as ONNX in ``out``.

    ``table`` needs the columns, ``label``, ``weight`` (class-balanced here, as
    in training) and ``entry`` (the fold).  Returns the inference entry
    (``kind: combination``, ``path`` with ``{fold}``, ``input: features``,
    ``features``, ``folds``)
    and the out-of-fold figures (AUC, area, rejection at 0.5) of the ONNX models
    on the export: what the run that scores the same sample will measure.
    """
    from jetflow.stats.crossfit import cross_fit, cross_predict, fold_of

    from jetflow_inference import tabular
    from jetflow_inference.runtimes import OnnxModel
    from jetflow_inference.classes import class_balanced_weights, classifier_figures

    if len(columns) < 2:
        raise ValueError(f"a combination takes at least 2 columns, got {columns}")
    missing = [c for c in (*columns, "label", "weight", "entry") if c not in table]
    if missing:
        raise ValueError(f"combination {columns}: the export has no column {missing} (columns: {', '.join(sorted(table))})")
    name = combination_name(columns)
    # ONNX Runtime reads float32: the trees are fitted on the float32 values, so their thresholds fall where it sees them
    x = np.stack([np.asarray(table[c], dtype=np.float32) for c in columns], axis=1).astype(np.float64)
    y = np.asarray(table["label"]).astype(np.int64)
    w = class_balanced_weights(table["weight"], y)
    fold = fold_of(table["entry"], folds)
    t0 = time.time()
    fitted = cross_fit(lambda xs, ys, ws: tabular.fit(tabular.estimator(model, False, seed, model_args), xs, ys, ws),
                       x, y, w, fold, folds)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    template = out / f"{name}_fold{{fold}}.onnx"
    runtimes = []
    for f, estimator in enumerate(fitted):
        path = Path(str(template).replace("{fold}", str(f)))
        write_bytes(path, tabular.to_onnx(estimator, len(columns)), "model")
        runtimes.append(OnnxModel(f"{name} (fold {f})", path, "cpu"))
    seconds = time.time() - t0
    scores = cross_predict(lambda m, xs: m(xs.astype(np.float32), 4096), runtimes, x, fold)
    figures, _ = classifier_figures(scores, y, w)
    return {
        "name": name,
        "inference": {"kind": "combination", "path": str(template), "input": "features", "features": list(columns),
                      "folds": folds},
        "model": model,
        "model_args": {**tabular.DEFAULTS[model], **(model_args or {})},
        "jets": [int((fold == f).sum()) for f in range(folds)],
        "seconds": seconds,
        "out_of_fold": figures,
    }
