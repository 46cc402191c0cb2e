"""Cross-fitting: every jet scored by a model that never saw it.

A sample is split into ``folds`` by each jet's entry number in its file
(:func:`fold_of`: ``entry % folds``, so the jets of one event share a fold and
the split does not depend on the chunking).  Model ``f`` is fitted on the jets
of every other fold and scores the jets of fold ``f``.  On the sample it was
fitted on, each jet's score then comes from a model that did not see it, and a
run's processor can compute the scores chunk by chunk from the entry numbers
alone (``inference.models.<name>.folds``).  With 2 folds the split is the
halves on which the binned likelihood ratios of
:class:`jetflow.stats.accumulators.WeightedROC` are estimated and evaluated.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def fold_of(entries, folds: int) -> np.ndarray:
    """The fold of each jet: its event's entry number in its file, modulo ``folds``."""
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    return np.asarray(entries, dtype=np.int64) % folds


def cross_fit(fit: Callable[[np.ndarray, np.ndarray, np.ndarray], Any], x: np.ndarray, y: np.ndarray,
              w: np.ndarray, fold: np.ndarray, folds: int) -> list[Any]:
    """``[model_0, ..., model_{folds-1}]``: model ``f`` is ``fit(x, y, w)`` on the jets outside fold ``f``.

    Raises when a fold's training jets lack a class (too few jets to cross-fit).
    """
    if folds < 2:
        raise ValueError(f"cross-fitting needs at least 2 folds, got {folds}")
    models = []
    for f in range(folds):
        train = fold != f
        classes = set(np.unique(y[train]).tolist())
        if len(classes) < 2:
            raise ValueError(f"cross-fitting: the jets outside fold {f} of {folds} hold only label(s) {sorted(classes)} "
                             f"({int(train.sum())} jets); more jets are needed")
        models.append(fit(x[train], y[train], w[train]))
    return models


def cross_predict(predict: Callable[[Any, Any], np.ndarray], models: list[Any], x, fold: np.ndarray) -> np.ndarray:
    """Each jet scored by its fold's model: ``predict(models[f], x[fold == f])``, in the jets' order.

    ``x``: one array, or a list of arrays (a model of several inputs), one row per jet.
    """
    out = np.zeros(len(fold), dtype=np.float64)
    for f, model in enumerate(models):
        sel = fold == f
        if sel.any():
            rows = [a[sel] for a in x] if isinstance(x, list) else x[sel]
            out[sel] = np.asarray(predict(model, rows), dtype=np.float64).reshape(-1)
    return out
