"""Weighted ROC curves and the figure of merit of [jet-images], from binned counts.

Everything here works on *cells*: bins of a fine histogram (one variable) or of
a fine N-dimensional histogram (a likelihood combination), with the summed
signal and background weights (and squared weights) in each cell.  A ROC curve
is the cumulative sum of those cells taken in some order:

* ``threshold`` order: cells by decreasing (or increasing) value of the
  discriminant — the usual ROC of a cut ``score > c``;
* ``likelihood`` order: cells by decreasing signal-to-background density ratio,
  the Neyman-Pearson-optimal order for the binned variable(s).  The ratio is
  estimated on one half of the jets (split by event-number parity) and the
  curve is evaluated on the other half, then the roles are swapped and both
  halves summed (two-fold cross validation), so the curve is not tuned on the
  jets it is measured with.  As in [jet-images] the density ratio is estimated in
  coarse bins holding equal background weight, merged from the fine bins.

Figure of merit ([jet-images], section 3): signal efficiency eps_S = TPR(c, w),
rejection rho = 1 / FPR(c, w); the summary is the area under rho(eps_S) for
eps_S in [0.2, 0.8], with the standard AUC and rho at eps_S = 0.2, 0.3, ..., 0.8.

References in brackets: docs/references.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EFFICIENCIES = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass
class RocCurve:
    """A weighted ROC: cumulative efficiencies after each cell, starting at (0, 0).

    Attributes
    ----------
    eff_s, eff_b : np.ndarray
        Signal and background efficiencies (TPR, FPR), non-decreasing, from 0 to 1.
    var_b : np.ndarray
        Variance of ``eff_b`` at each point (weighted binomial).
    """

    eff_s: np.ndarray
    eff_b: np.ndarray
    var_b: np.ndarray

    def rejection(self, eps: float | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rejection 1/eps_B at signal efficiency ``eps`` (linear interpolation) and its uncertainty.

        The uncertainty is the weighted-binomial uncertainty of eps_B propagated
        to 1/eps_B; ``inf`` when no background passes.
        """
        eps = np.atleast_1d(np.asarray(eps, dtype=np.float64))
        fb = np.interp(eps, self.eff_s, self.eff_b)
        vb = np.interp(eps, self.eff_s, self.var_b)
        with np.errstate(divide="ignore", invalid="ignore"):
            rej = np.where(fb > 0, 1.0 / fb, np.inf)
            err = np.where(fb > 0, np.sqrt(vb) / fb**2, np.inf)
        return rej, err

    def auc(self) -> float:
        """Area under TPR(FPR), the standard AUC (0.5 random, 1 perfect)."""
        return float(np.trapezoid(self.eff_s, self.eff_b))

    def rejection_area(self, lo: float = 0.2, hi: float = 0.8, points: int = 601) -> float:
        """[jet-images]'s figure of merit: integral of 1/eps_B over eps_S in [lo, hi]."""
        eps = np.linspace(lo, hi, points)
        rej, _ = self.rejection(eps)
        return float(np.trapezoid(rej, eps))

    def summary(self) -> dict[str, float]:
        rej, err = self.rejection(EFFICIENCIES)
        out = {"auc": self.auc(), "area_0.2_0.8": self.rejection_area()}
        for e, r, s in zip(EFFICIENCIES, rej, err):
            out[f"rej@{e:.1f}"] = float(r)
            out[f"err@{e:.1f}"] = float(s)
        return out


def curve_from_cells(
    s: np.ndarray, b: np.ndarray, s2: np.ndarray, b2: np.ndarray, order: np.ndarray
) -> RocCurve:
    """ROC from cell weights taken in ``order`` (most signal-like first).

    ``s, b``: summed weights per cell; ``s2, b2``: summed squared weights.
    Cells whose order is tied should be merged before (the curve then jumps
    across them at once, the correct treatment of ties).
    """
    s, b, b2 = s[order], b[order], b2[order]
    total_s, total_b = s.sum(), b.sum()
    if total_s <= 0 or total_b <= 0:
        raise ValueError("a ROC needs positive signal and background weight")
    cs = np.concatenate([[0.0], np.cumsum(s)]) / total_s
    cb = np.concatenate([[0.0], np.cumsum(b)]) / total_b
    pass_b2 = np.concatenate([[0.0], np.cumsum(b2)])
    fail_b2 = b2.sum() - pass_b2
    # weighted binomial: var(eps) = [(1 - eps)^2 sum_pass w^2 + eps^2 sum_fail w^2] / W^2
    var_b = ((1 - cb) ** 2 * pass_b2 + cb**2 * fail_b2) / total_b**2
    return RocCurve(np.clip(cs, 0, 1), np.clip(cb, 0, 1), var_b)


def curve_of_scores(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> RocCurve:
    """The exact ROC of the cut ``score > c`` on per-jet ``scores`` (``labels`` 1 signal, 0 background): every
    distinct score a cell, so jets of equal score pass together (the curve's diagonal across a tie)."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    values, cell = np.unique(-scores, return_inverse=True)  # ascending -score: the most signal-like cell first
    sig = labels == 1
    s = np.bincount(cell, w * sig, len(values))
    b = np.bincount(cell, w * ~sig, len(values))
    s2 = np.bincount(cell, w**2 * sig, len(values))
    b2 = np.bincount(cell, w**2 * ~sig, len(values))
    return curve_from_cells(s, b, s2, b2, np.arange(len(values)))


def threshold_order(n_cells: int, direction: str) -> np.ndarray:
    """Cell order for a cut on a 1-D binned discriminant: high values first for ``higher``."""
    if direction == "higher":
        return np.arange(n_cells)[::-1]
    if direction == "lower":
        return np.arange(n_cells)
    raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")


def equal_background_edges(b_marginal: np.ndarray, n_bins: int) -> np.ndarray:
    """Group consecutive fine bins into at most ``n_bins`` groups of about equal background weight.

    Returns the group index of each fine bin (monotone, starting at 0).
    """
    total = b_marginal.sum()
    if total <= 0:
        return np.zeros(len(b_marginal), dtype=np.int64)
    cum = np.cumsum(b_marginal) / total
    # a fine bin goes to the group its cumulative background (at its centre) falls in
    centre = cum - 0.5 * b_marginal / total
    return np.minimum((centre * n_bins).astype(np.int64), n_bins - 1)


def coarse_cells(fine: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Sum a fine N-d array into coarse cells given the per-axis group index of each fine bin."""
    out = fine
    for axis, g in enumerate(groups):
        n = int(g.max()) + 1 if len(g) else 1
        moved = np.moveaxis(out, axis, 0)
        summed = np.zeros((n,) + moved.shape[1:])
        np.add.at(summed, g, moved)
        out = np.moveaxis(summed, 0, axis)
    return out


MIN_BACKGROUND_PER_CELL = 5.0
"""Adaptive coarse binning: at least this many (effective) background jets per cell on average."""


def coarse_bins_per_axis(b: np.ndarray, b2: np.ndarray, ndim: int, n_bins: int) -> int:
    """Equal-background bins per axis: ``n_bins`` at most, fewer when the background is scarce.

    With ``n_eff = (sum w)^2 / sum w^2`` background jets in the fitting half,
    each of the ``k^ndim`` cells gets ``n_eff / k^ndim >= MIN_BACKGROUND_PER_CELL``
    on average, so the density ratios are not dominated by empty cells.
    """
    sw, sw2 = b.sum(), b2.sum()
    n_eff = sw * sw / sw2 if sw2 > 0 else 0.0
    k = int(np.floor((n_eff / MIN_BACKGROUND_PER_CELL) ** (1.0 / ndim))) if n_eff > 0 else 1
    return int(np.clip(k, 1, n_bins))


def likelihood_curve(
    s: np.ndarray, b: np.ndarray, s2: np.ndarray, b2: np.ndarray, n_bins: int
) -> RocCurve:
    """Cross-validated likelihood-ratio ROC from fine N-d histograms split in two halves.

    Parameters
    ----------
    s, b, s2, b2
        Arrays of shape ``(2, *fine_shape)``: per half (event parity), the
        summed signal / background weights and squared weights in each fine cell.
    n_bins
        Coarse bins per axis, of equal background weight (on the fitting half);
        fewer when the background is scarce (:func:`coarse_bins_per_axis`).

    Returns
    -------
    RocCurve
        Evaluated on each half with the ratio estimated on the other, summed.
    """
    ndim = s.ndim - 1
    cells_s, cells_b, cells_s2, cells_b2, ratio = [], [], [], [], []
    for fit, ev in ((0, 1), (1, 0)):
        k = coarse_bins_per_axis(b[fit], b2[fit], ndim, n_bins)
        groups = []
        for axis in range(ndim):
            other = tuple(a for a in range(ndim) if a != axis)
            marginal = b[fit].sum(axis=other) if other else b[fit]
            groups.append(equal_background_edges(marginal, k))
        fs = coarse_cells(s[fit], groups).ravel()
        fb = coarse_cells(b[fit], groups).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            dens_s = fs / max(fs.sum(), 1e-300)
            dens_b = fb / max(fb.sum(), 1e-300)
            lr = np.where(dens_b > 0, dens_s / np.where(dens_b > 0, dens_b, 1), np.where(dens_s > 0, np.inf, 0.0))
        ratio.append(lr)
        cells_s.append(coarse_cells(s[ev], groups).ravel())
        cells_b.append(coarse_cells(b[ev], groups).ravel())
        cells_s2.append(coarse_cells(s2[ev], groups).ravel())
        cells_b2.append(coarse_cells(b2[ev], groups).ravel())
    # both evaluations in one list of cells, ordered by their estimated ratio
    lr = np.concatenate(ratio)
    cs, cb = np.concatenate(cells_s), np.concatenate(cells_b)
    cs2, cb2 = np.concatenate(cells_s2), np.concatenate(cells_b2)
    # cells with equal ratio are one step of the curve: merge them
    uniq, inverse = np.unique(-lr, return_inverse=True)
    merged = [np.bincount(inverse, weights=x, minlength=len(uniq)) for x in (cs, cb, cs2, cb2)]
    return curve_from_cells(*merged, order=np.arange(len(uniq)))
