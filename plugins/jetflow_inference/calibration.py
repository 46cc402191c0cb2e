"""The classical baseline of a regression: the reconstructed quantity, calibrated in bins of another.

A calibration multiplies a reconstructed column (``pt``, ``mass_softdrop``) by
the weighted median of truth / reconstructed in its bin of a second column
(``pt``, ``eta``): what a per-pT-bin jet energy correction does.  The bins
hold equal numbers of training jets.  It is saved as a small JSON file and
scored by the inference plugin like any model (``inference.models.X.path:
X.json``, ``kind: regressor``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import awkward as ak
import numpy as np

from jetflow.core.errors import ConfigError


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def fit_calibration(reco, truth, versus, weight, bins: int = 10, reco_name: str = "pt", versus_name: str = "pt") -> dict:
    """The correction factors: per equal-population bin of ``versus``, the weighted median of truth / reco."""
    reco, truth, versus, weight = (np.asarray(a, dtype=np.float64) for a in (reco, truth, versus, weight))
    ok = (reco > 0) & (truth > 0) & np.isfinite(versus)
    if ok.sum() < bins * 5:
        raise ValueError(f"a calibration in {bins} bins needs at least {bins * 5} jets with truth, got {int(ok.sum())}")
    reco, truth, versus, weight = reco[ok], truth[ok], versus[ok], weight[ok]
    inner = np.unique(np.quantile(versus, np.linspace(0, 1, bins + 1)[1:-1]))
    index = np.searchsorted(inner, versus, side="right")
    factors = [weighted_median(truth[index == b] / reco[index == b], weight[index == b]) for b in range(len(inner) + 1)]
    return {"kind": "calibration", "reco": reco_name, "versus": versus_name, "inner_edges": inner.tolist(),
            "factors": factors}


class Calibration:
    """A saved calibration: ``pred = reco * factor(bin of versus)``."""

    def __init__(self, name: str, path: str | os.PathLike) -> None:
        self.name = name
        self.path = Path(path)
        try:
            spec = json.loads(self.path.read_text())
            self.reco, self.versus = spec["reco"], spec["versus"]
            self.inner = np.asarray(spec["inner_edges"], dtype=np.float64)
            self.factors = np.asarray(spec["factors"], dtype=np.float64)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"model {name!r}: {self.path} is not a jetflow calibration ({type(exc).__name__}: {exc})") from exc
        if spec.get("kind") != "calibration" or len(self.factors) != len(self.inner) + 1:
            raise ConfigError(f"model {name!r}: {self.path} is not a jetflow calibration (kind, edges and factors)")

    def __call__(self, jets: ak.Array) -> np.ndarray:
        for column in (self.reco, self.versus):
            if column not in jets.fields:
                raise ConfigError(f"model {self.name!r} ({self.path}) reads the column {column!r}, which is not in the jet table")
        reco = ak.to_numpy(jets[self.reco]).astype(np.float64)
        versus = ak.to_numpy(jets[self.versus]).astype(np.float64)
        return reco * self.factors[np.searchsorted(self.inner, versus, side="right")]
