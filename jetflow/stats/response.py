"""Regression performance from mergeable histograms: the median and the resolution of prediction / truth.

:class:`ResponseHistogram` keeps, in bins of a second variable (the jet's
pT, eta, constituent multiplicity, photon fraction, ...), a fine weighted
histogram of the ratio r = prediction / truth.  Merging adds the histograms,
so the result does not depend on chunking or merge order.  From it:

* the quantiles of r, by linear interpolation of the weighted cumulative
  distribution inside the fine bins (exact to the bin width);
* the response, the median q50, and the resolution of [lbn]'s challenge,
  (q84 - q16) / (2 q50);
* their statistical errors from the order-statistic interval: the error of
  the q-quantile is half the distance between the quantiles at
  q -/+ sqrt(q (1 - q) / n_eff), n_eff = (sum w)^2 / sum w^2.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import numpy as np

QUANTILES = (0.16, 0.5, 0.84)


class ResponseHistogram:
    """Weighted fine histograms of ``ratio`` in bins of ``versus``.

    Parameters
    ----------
    versus
        The name of the binning variable (a column), for labels.
    edges
        Its bin edges; values below the first or above the last edge go to
        under- and overflow bins, which are kept.
    ratio_bins, ratio_max
        The fine histogram of the ratio: ``ratio_bins`` bins on ``[0, ratio_max)``
        (negative ratios and ratios above go to under- and overflow).
    """

    def __init__(self, versus: str, edges, ratio_bins: int = 3000, ratio_max: float = 3.0) -> None:
        self.versus = versus
        self.edges = np.asarray(edges, dtype=np.float64)
        if self.edges.ndim != 1 or len(self.edges) < 2 or np.any(np.diff(self.edges) <= 0):
            raise ValueError(f"ResponseHistogram {versus!r}: edges must increase, got {edges}")
        self.ratio_bins = int(ratio_bins)
        self.ratio_max = float(ratio_max)
        shape = (len(self.edges) + 1, self.ratio_bins + 2)
        self.sumw = np.zeros(shape)
        self.sumw2 = np.zeros(shape)
        self.unfilled = np.zeros(2)  # jets without a usable ratio (no truth): count, sum of weights

    @property
    def ratio_edges(self) -> np.ndarray:
        return np.linspace(0.0, self.ratio_max, self.ratio_bins + 1)

    def fill(self, ratio, versus, weight=None) -> None:
        """Add jets: their ratio prediction / truth, their ``versus`` value, their weight.

        A NaN ratio (a jet without truth) is not histogrammed but counted in ``unfilled``.
        """
        ratio = np.asarray(ratio, dtype=np.float64)
        versus = np.asarray(versus, dtype=np.float64)
        w = np.ones_like(ratio) if weight is None else np.asarray(weight, dtype=np.float64)
        if not (len(ratio) == len(versus) == len(w)):
            raise ValueError("ResponseHistogram.fill: ratio, versus and weight need one entry per jet")
        missing = np.isnan(ratio)
        self.unfilled += [missing.sum(), w[missing].sum()]
        ratio, versus, w = ratio[~missing], versus[~missing], w[~missing]
        v_index = np.searchsorted(self.edges, versus, side="right")  # 0 underflow ... len(edges) overflow
        x = np.nan_to_num(ratio / self.ratio_max * self.ratio_bins, nan=-1.0, posinf=self.ratio_bins + 1.0,
                          neginf=-1.0)
        r_index = np.clip(np.floor(x).astype(np.int64) + 1, 0, self.ratio_bins + 1)
        flat = v_index * (self.ratio_bins + 2) + r_index
        size = self.sumw.size
        self.sumw += np.bincount(flat, weights=w, minlength=size).reshape(self.sumw.shape)
        self.sumw2 += np.bincount(flat, weights=w * w, minlength=size).reshape(self.sumw.shape)

    def _compatible(self, other) -> bool:
        return (isinstance(other, ResponseHistogram) and self.versus == other.versus
                and np.array_equal(self.edges, other.edges) and self.ratio_bins == other.ratio_bins
                and self.ratio_max == other.ratio_max)

    def __add__(self, other: ResponseHistogram) -> ResponseHistogram:
        if not isinstance(other, ResponseHistogram):
            return NotImplemented
        if not self._compatible(other):
            raise ValueError(f"cannot add response histograms of different binnings ({self.versus}, {other.versus})")
        out = ResponseHistogram(self.versus, self.edges, self.ratio_bins, self.ratio_max)
        out.sumw = self.sumw + other.sumw
        out.sumw2 = self.sumw2 + other.sumw2
        out.unfilled = self.unfilled + other.unfilled
        return out

    # -- results -------------------------------------------------------------

    def _rows(self, inclusive: bool) -> tuple[np.ndarray, np.ndarray]:
        """The weight histograms of the ratio: per versus bin (under- and overflow included), or all together."""
        if inclusive:
            return self.sumw.sum(axis=0, keepdims=True), self.sumw2.sum(axis=0, keepdims=True)
        return self.sumw, self.sumw2

    def _at(self, sumw: np.ndarray, levels: np.ndarray) -> np.ndarray:
        """Quantiles of each row of ``sumw`` at that row's ``levels`` ([n_rows, k]); NaN for an empty row.

        Inside a fine bin the cumulative weight is linear; under- and
        overflowing ratios sit at 0 and ``ratio_max``.
        """
        edges = np.concatenate([[0.0], self.ratio_edges, [self.ratio_max]])
        out = np.full(levels.shape, np.nan)
        for row, w in enumerate(sumw):  # rows are bins of the versus variable: a handful
            total = w.sum()
            if total > 0:
                cum = np.concatenate([[0.0], np.cumsum(np.clip(w, 0, None))]) / total
                out[row] = np.interp(levels[row], cum, edges)
        return out

    def quantiles(self, q, inclusive: bool = False) -> np.ndarray:
        """Quantiles of the ratio, ``[n_rows, len(q)]``: rows are the underflow, each bin of ``versus``
        and the overflow, or one row for all jets with ``inclusive``."""
        sumw, _ = self._rows(inclusive)
        q = np.atleast_1d(np.asarray(q, dtype=np.float64))
        return self._at(sumw, np.broadcast_to(q, (len(sumw), len(q))))

    def n_effective(self, inclusive: bool = False) -> np.ndarray:
        """(sum w)^2 / sum w^2 of each row."""
        sumw, sumw2 = self._rows(inclusive)
        w, w2 = sumw.sum(axis=1), sumw2.sum(axis=1)
        return np.divide(w * w, w2, out=np.zeros_like(w), where=w2 > 0)

    def summary(self, inclusive: bool = False) -> dict[str, np.ndarray]:
        """Per row: ``n_eff``, ``median``, ``resolution``, their errors ``median_err`` and
        ``resolution_err``, and ``q16``, ``q84``."""
        sumw, _ = self._rows(inclusive)
        n_eff = self.n_effective(inclusive)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.sqrt(np.outer(1.0 / n_eff, [p * (1 - p) for p in QUANTILES]))  # [rows, 3]
        levels = np.concatenate([np.broadcast_to(QUANTILES, step.shape), np.clip(QUANTILES - step, 0, 1),
                                 np.clip(QUANTILES + step, 0, 1)], axis=1)
        values = self._at(sumw, np.nan_to_num(levels, nan=0.5))
        q, lo, hi = values[:, :3], values[:, 3:6], values[:, 6:]
        err = 0.5 * (hi - lo)
        q16, q50, q84 = q.T
        with np.errstate(divide="ignore", invalid="ignore"):
            resolution = (q84 - q16) / (2 * q50)
            resolution_err = np.hypot(err[:, 0], err[:, 2]) / (2 * q50)
        return {"n_eff": n_eff, "median": q50, "median_err": err[:, 1], "resolution": resolution,
                "resolution_err": resolution_err, "q16": q16, "q84": q84}

    def __repr__(self) -> str:
        return f"ResponseHistogram(versus={self.versus!r}, {len(self.edges) - 1} bins, sum w={self.sumw.sum():.4g})"
