"""The classes a classifier learns: signal against background, or any number of classes (W, Z, top, QCD, ...).

A dataset's label is 1 (signal), 0 (background) or a class number
(``datasets.X.label``); an export whose labels go beyond 0 and 1 trains a
multi-class classifier: a softmax over the classes 0 .. K-1 (every one
present), weighted so that each class weighs the same, named after the
datasets that carry it.  Its validation figures are the one-vs-rest AUC of
each class and the one-vs-one AUCs of each pair (Hand and Till's: class c's
probability separating c from d, averaged with the reverse), from the same
weighted ROC histograms the run's accumulators keep.
"""

from __future__ import annotations

import re

import numpy as np


def class_balanced_weights(weight: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The export's weights (with the pT reweighting) scaled so that each class sums to the same share of the jets.

    Mean weight 1, every class of equal total weight (signal and background: half each): the loss then does not
    favour the larger class, and the pT weights keep their shape.
    """
    w = np.asarray(weight, dtype=np.float64).copy()
    label = np.asarray(label)
    present = np.unique(label)
    classes = present if len(present) > 2 or present.max(initial=0) > 1 else np.array([0, 1])
    n = len(w)
    for lab in classes:
        sel = label == lab
        total = w[sel].sum()
        if total <= 0:
            name = ("background", "signal")[lab] if len(classes) == 2 else f"class {lab}"
            raise ValueError(f"the export has no {name} jets with positive weight")
        w[sel] *= (n / len(classes)) / total
    return w


def class_names(label: np.ndarray, dataset: np.ndarray, source) -> list[str] | None:
    """For a multi-class export (labels beyond 0 and 1), one name per class 0 .. K-1: its datasets' names joined by
    ``_`` (a column name's part); ``None`` for signal against background.  Raises when a class number in between
    has no jets (a softmax output that never learns)."""
    label = np.asarray(label, dtype=np.int64)
    present = np.unique(label)
    if present.max(initial=0) <= 1:
        return None
    missing = sorted(set(range(int(present.max()) + 1)) - set(present.tolist()))
    if missing:
        raise ValueError(f"export {source}: classes {present.tolist()} present, {missing} missing; a multi-class "
                         "export numbers its classes 0, 1, 2, ... without gaps")
    dataset = np.asarray(dataset).astype(str)
    names = ["_".join(sorted(set(dataset[label == c]))) for c in range(len(present))]
    names = [re.sub(r"\W", "_", n) for n in names]
    return names if len(set(names)) == len(names) else [f"class{c}" for c in range(len(names))]


def softmax_head(model, classes: int):
    """A binary network of :mod:`jetflow_inference.models` with its sigmoid ``score`` output replaced by a softmax
    over ``classes`` (``scores``): the same body, one probability per class."""
    import keras

    body = model.get_layer("score").input
    scores = keras.layers.Dense(classes, activation="softmax", name="scores")(body)
    return keras.Model(model.inputs, scores, name=model.name)


def classifier_figures(scores, labels, weights) -> tuple[dict[str, float], str]:
    """A binary classifier's validation AUC, area and rejection at eps_S = 0.5."""
    from jetflow.stats.accumulators import WeightedROC

    roc = WeightedROC(["score"], [(2000, 0.0, 1.0)], "higher")
    roc.fill([scores], labels.astype(int), weights, np.zeros(len(labels), dtype=int))
    s = roc.summary()
    return {"auc": s["auc"], "area_0.2_0.8": s["area_0.2_0.8"], "rej@0.5": s["rej@0.5"]}, f"validation AUC {s['auc']:.3f}"


def multiclass_figures(probabilities: np.ndarray, labels: np.ndarray, weights: np.ndarray,
                       names: list[str]) -> tuple[dict, str]:
    """A multi-class classifier's validation figures: per class the one-vs-rest AUC (``auc_ovr``), per ordered pair
    ``c|d`` the AUC of class c's probability separating c from d (``auc_ovo``), their means (``auc``: one-vs-rest,
    ``auc_ovo_mean``: over pairs, each averaged with its reverse), each probability binned in log-odds as the
    run's accumulators bin it."""
    from jetflow.stats.accumulators import LOG_ODDS_MAX, WeightedROC, log_odds

    k = len(names)
    labels = np.asarray(labels).astype(int)
    halves = np.zeros(len(labels), dtype=int)
    ovr, ovo = {}, {}
    for c, name in enumerate(names):
        roc = WeightedROC([name], [(2000, -LOG_ODDS_MAX, LOG_ODDS_MAX)], "higher", n_labels=k, signal=(c,),
                          background=None)
        roc.fill([log_odds(probabilities[:, c])], labels, weights, halves)  # binned as the run's ROCs bin it
        ovr[name] = roc.summary()["auc"]
        for d, other in enumerate(names):
            if d != c:
                ovo[f"{name}|{other}"] = roc.summary(signal=(c,), background=(d,))["auc"]
    pairs = [(ovo[f"{a}|{b}"] + ovo[f"{b}|{a}"]) / 2 for i, a in enumerate(names) for b in names[i + 1:]]
    figures = {"auc": float(np.mean(list(ovr.values()))), "auc_ovr": ovr, "auc_ovo": ovo,
               "auc_ovo_mean": float(np.mean(pairs))}
    return figures, f"validation AUC one-vs-rest {figures['auc']:.3f}, one-vs-one {figures['auc_ovo_mean']:.3f}"
