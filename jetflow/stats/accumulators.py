"""Mergeable statistics of per-jet columns: ROCs, average images, pixel correlations, decision ordering.

Every accumulator here is Addable: ``a + b`` merges two chunk results, and
the result does not depend on how the data was chunked or in which order the
chunks were merged (sums are commutative; ordered keys are merged as ordered
unions).

References in brackets: docs/references.md.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------------------
# discriminants: fine weighted histograms -> ROC curves
# ---------------------------------------------------------------------------


def _bin_index(values: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """Index in [0, bins + 1]: 0 underflow, 1..bins regular, bins + 1 overflow (NaN -> overflow)."""
    x = (np.asarray(values, dtype=np.float64) - lo) / (hi - lo) * bins
    idx = np.floor(np.nan_to_num(x, nan=bins + 1.0, posinf=bins + 1.0, neginf=-1.0)).astype(np.int64) + 1
    return np.clip(idx, 0, bins + 1)


LOG_ODDS_MAX = 18.4
"""A class probability's ROC histogram spans log-odds -18.4 .. 18.4 (probabilities 1e-8 .. 1 - 1e-8)."""


def log_odds(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), clipped to +-:data:`LOG_ODDS_MAX`: the axis a class probability's ROC is binned on.  A
    monotonic map leaves the ROC as it is, and a class probability near 0 (a class the model rarely picks) stays
    resolved, where equal bins in p would put it in one."""
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return np.clip(np.log(p) - np.log1p(-p), -LOG_ODDS_MAX, LOG_ODDS_MAX)


def _labels(label, n_labels: int, what: str) -> np.ndarray:
    """Labels as int64, checked to be in ``[0, n_labels)``: an accumulator never drops a jet of an unknown class."""
    label = np.asarray(label, dtype=np.int64)
    bad = (label < 0) | (label >= n_labels)
    if bad.any():
        raise ValueError(f"{what}: label {int(label[bad][0])} outside the run's labels 0-{n_labels - 1}")
    return label


class WeightedROC:
    """Fine weighted histograms of one or more discriminants, per label and half.

    Filled with per-jet values, labels (``0 .. n_labels - 1``; 1 signal, 0 background), weights and
    halves (event number parity), it gives the ROC curve of the discriminant
    (``direction`` ``"higher"``/``"lower"``: a cut on one variable) or of the
    likelihood ratio of its variables (``"likelihood"``: one variable made
    optimal, or a combination of 2-3 variables as in [jet-images]).  Under- and
    overflow bins are kept as cells: no jet is dropped.  Merging (``+``) adds
    the histograms, so the result does not depend on chunking or merge order.

    Parameters
    ----------
    names
        Column names of the variables (1 to 3).
    binning
        ``(bins, lo, hi)`` per variable.
    direction
        ``"higher"``, ``"lower"`` (1 variable) or ``"likelihood"``.
    lr_bins
        Coarse bins of equal background weight per axis for the likelihood ratio.
    n_labels
        How many labels the run has (more than 2: a multi-class run).
    signal, background
        The labels the curve takes as signal and as background: by default 1 against 0; ``background=None``
        is every label but the signal's (one-vs-rest).  :meth:`curve` takes any other pair (one-vs-one).
    group
        For one of a multi-class model's scores: the model, whose class scores a report shows together.
    """

    signal: tuple[int, ...] = (1,)
    background: tuple[int, ...] | None = (0,)
    group: str | None = None
    # class attributes: results saved before multi-class labels unpickle with these

    def __init__(
        self,
        names: tuple[str, ...] | list[str],
        binning: tuple[tuple[int, float, float], ...] | list,
        direction: str = "likelihood",
        lr_bins: int = 20,
        n_labels: int = 2,
        signal: tuple[int, ...] = (1,),
        background: tuple[int, ...] | None = (0,),
        group: str | None = None,
    ) -> None:
        self.names = tuple(names)
        self.binning = tuple((int(b), float(lo), float(hi)) for b, lo, hi in binning)
        if len(self.names) != len(self.binning) or not 1 <= len(self.names) <= 3:
            raise ValueError("WeightedROC needs 1 to 3 variables, each with a binning")
        if direction not in ("higher", "lower", "likelihood"):
            raise ValueError(f"direction must be higher, lower or likelihood, got {direction!r}")
        if direction != "likelihood" and len(self.names) != 1:
            raise ValueError("a threshold ROC (higher/lower) takes exactly one variable")
        self.direction = direction
        self.lr_bins = int(lr_bins)
        self.signal = tuple(int(c) for c in signal)
        self.background = None if background is None else tuple(int(c) for c in background)
        self.group = group
        shape = (max(2, int(n_labels)), 2) + tuple(b + 2 for b, _, _ in self.binning)
        self.sumw = np.zeros(shape)
        self.sumw2 = np.zeros(shape)

    @property
    def name(self) -> str:
        return "+".join(self.names)

    def fill(self, values, label, weight, half) -> None:
        """Add jets: ``values`` one array per variable; ``label`` in ``[0, n_labels)``; ``half`` 0/1."""
        if len(values) != len(self.names):
            raise ValueError(f"{self.name}: expected {len(self.names)} value arrays, got {len(values)}")
        label = _labels(label, len(self.sumw), f"ROC {self.name}")
        half = np.asarray(half, dtype=np.int64)
        w = np.asarray(weight, dtype=np.float64)
        flat = label * 2 + half
        for v, (bins, lo, hi) in zip(values, self.binning):
            flat = flat * (bins + 2) + _bin_index(v, bins, lo, hi)
        size = self.sumw.size
        self.sumw += np.bincount(flat, weights=w, minlength=size).reshape(self.sumw.shape)
        self.sumw2 += np.bincount(flat, weights=w * w, minlength=size).reshape(self.sumw.shape)

    def _compatible(self, other: WeightedROC) -> bool:
        return (
            isinstance(other, WeightedROC)
            and self.names == other.names
            and self.binning == other.binning
            and self.direction == other.direction
            and self.lr_bins == other.lr_bins
            and self.sumw.shape == other.sumw.shape
            and (self.signal, self.background, self.group) == (other.signal, other.background, other.group)
        )

    def __add__(self, other: WeightedROC) -> WeightedROC:
        if not isinstance(other, WeightedROC):
            return NotImplemented
        if not self._compatible(other):
            raise ValueError(f"cannot add WeightedROC {self.name} to a differently binned {other.name}")
        out = WeightedROC(self.names, self.binning, self.direction, self.lr_bins, len(self.sumw), self.signal,
                          self.background, self.group)
        out.sumw = self.sumw + other.sumw
        out.sumw2 = self.sumw2 + other.sumw2
        return out

    @property
    def n_labels(self) -> int:
        return len(self.sumw)

    def classes(self, signal=None, background=None) -> tuple[list[int], list[int]]:
        """The signal and background labels of a curve: the given ones, or where ``None`` is given this ROC's
        own (an own background of ``None`` is every label but the signal's: one-vs-rest)."""
        signal = list(self.signal if signal is None else signal)
        background = self.background if background is None else background
        return signal, self.rest(signal) if background is None else list(background)

    def rest(self, signal) -> list[int]:
        """Every label but the ``signal`` labels: the background of a one-vs-rest curve."""
        return [c for c in range(self.n_labels) if c not in signal]

    def curve(self, direction: str | None = None, signal=None, background=None):
        """The ROC curve (:class:`jetflow.stats.roc.RocCurve`) of ``signal`` against ``background`` labels
        (default: this ROC's own, see :meth:`classes`)."""
        from jetflow.stats.roc import curve_from_cells, likelihood_curve, threshold_order

        direction = direction or self.direction
        sig, bkg = self.classes(signal, background)
        s, b = self.sumw[sig].sum(axis=0), self.sumw[bkg].sum(axis=0)
        s2, b2 = self.sumw2[sig].sum(axis=0), self.sumw2[bkg].sum(axis=0)
        if direction == "likelihood":
            return likelihood_curve(s, b, s2, b2, self.lr_bins)
        s, b, s2, b2 = (a.sum(axis=0) for a in (s, b, s2, b2))
        return curve_from_cells(s, b, s2, b2, threshold_order(len(s), direction))

    def summary(self, signal=None, background=None) -> dict[str, float]:
        return self.curve(signal=signal, background=background).summary()

    def __repr__(self) -> str:
        sig, bkg = self.classes()
        return (f"WeightedROC({self.name!r}, {self.direction}, signal {sig} w={self.sumw[sig].sum():.4g}, "
                f"background {bkg} w={self.sumw[bkg].sum():.4g})")


class AverageImage:
    """Weighted sums of images per label: the average images and their difference."""

    def __init__(self, shape: tuple[int, ...], n_labels: int = 2) -> None:
        self.shape = tuple(shape)
        n_labels = max(2, int(n_labels))
        self.sum = np.zeros((n_labels,) + self.shape)
        self.sumw = np.zeros(n_labels)
        self.count = np.zeros(n_labels, dtype=np.int64)

    def fill(self, images: np.ndarray, label: np.ndarray, weight: np.ndarray) -> None:
        label = _labels(label, len(self.sumw), "average image")
        for lab in np.unique(label):
            sel = label == lab
            if sel.any():
                self.sum[lab] += np.tensordot(weight[sel], images[sel].astype(np.float64), axes=1)
                self.sumw[lab] += weight[sel].sum()
                self.count[lab] += int(sel.sum())

    def __add__(self, other: AverageImage) -> AverageImage:
        if not isinstance(other, AverageImage):
            return NotImplemented
        if self.sum.shape != other.sum.shape:
            raise ValueError(f"cannot add average images of shapes {self.sum.shape} and {other.sum.shape} (labels x image)")
        out = AverageImage(self.shape, len(self.sumw))
        out.sum = self.sum + other.sum
        out.sumw = self.sumw + other.sumw
        out.count = self.count + other.count
        return out

    def mean(self, label: int) -> np.ndarray:
        w = self.sumw[label]
        return self.sum[label] / w if w > 0 else np.zeros(self.shape)

    def difference(self) -> np.ndarray:
        """Signal minus background average image."""
        return self.mean(1) - self.mean(0)


class PixelCorrelation:
    """Weighted Pearson correlation of every pixel with discriminants, from sufficient statistics.

    Keeps, per label, sum w, sum w x_p, sum w x_p^2, and per discriminant
    sum w y, sum w y^2, sum w x_p y: mergeable by addition.
    """

    def __init__(self, shape: tuple[int, ...], names: tuple[str, ...] | list[str], n_labels: int = 2) -> None:
        self.shape = tuple(shape)
        self.names = tuple(names)
        k, n = len(self.names), max(2, int(n_labels))
        self.sw = np.zeros(n)
        self.sx = np.zeros((n,) + self.shape)
        self.sxx = np.zeros((n,) + self.shape)
        self.sy = np.zeros((n, k))
        self.syy = np.zeros((n, k))
        self.sxy = np.zeros((n, k) + self.shape)

    def fill(self, images: np.ndarray, ys: np.ndarray, label: np.ndarray, weight: np.ndarray) -> None:
        """``images`` [n, *shape]; ``ys`` [n, k] discriminant values."""
        x = images.astype(np.float64)
        ys = np.asarray(ys, dtype=np.float64).reshape(len(x), len(self.names))
        label = _labels(label, len(self.sw), "pixel correlation")
        for lab in np.unique(label):
            sel = label == lab
            if not sel.any():
                continue
            w = weight[sel]
            xs, yv = x[sel], ys[sel]
            self.sw[lab] += w.sum()
            self.sx[lab] += np.tensordot(w, xs, axes=1)
            self.sxx[lab] += np.tensordot(w, xs * xs, axes=1)
            self.sy[lab] += w @ yv
            self.syy[lab] += w @ (yv * yv)
            self.sxy[lab] += np.tensordot((w[:, None] * yv).T, xs, axes=1)

    def __add__(self, other: PixelCorrelation) -> PixelCorrelation:
        if not isinstance(other, PixelCorrelation):
            return NotImplemented
        if (self.shape, self.names, len(self.sw)) != (other.shape, other.names, len(other.sw)):
            raise ValueError("cannot add pixel correlations of different shapes, discriminants or labels")
        out = PixelCorrelation(self.shape, self.names, len(self.sw))
        for attr in ("sw", "sx", "sxx", "sy", "syy", "sxy"):
            setattr(out, attr, getattr(self, attr) + getattr(other, attr))
        return out

    def correlation(self, name: str, labels: tuple[int, ...] = (0, 1)) -> np.ndarray:
        """Per-pixel correlation with discriminant ``name`` over the given labels; 0 where undefined."""
        k = self.names.index(name)
        lab = list(labels)
        sw = self.sw[lab].sum()
        if sw <= 0:
            return np.zeros(self.shape)
        mx = self.sx[lab].sum(axis=0) / sw
        my = self.sy[lab, k].sum() / sw
        cov = self.sxy[lab, k].sum(axis=0) / sw - mx * my
        vx = self.sxx[lab].sum(axis=0) / sw - mx * mx
        vy = self.syy[lab, k].sum() / sw - my * my
        den = np.sqrt(np.clip(vx, 0, None) * max(vy, 0.0))
        return np.divide(cov, den, out=np.zeros(self.shape), where=den > 1e-300)


class DiscriminantOrdering:
    """Average decision ordering (ADO, [dl-hep]) of two discriminants, from a fine 2-D histogram.

    ADO = fraction (weighted) of (signal, background) pairs that both
    discriminants order the same way; pairs tied in either count one half.
    Values are oriented so that larger means more signal-like (``directions``).
    """

    def __init__(self, names, binning, directions=("higher", "higher"), n_labels: int = 2) -> None:
        self.names = tuple(names)
        self.binning = tuple((int(b), float(lo), float(hi)) for b, lo, hi in binning)
        self.directions = tuple(directions)
        if len(self.names) != 2 or any(d not in ("higher", "lower") for d in self.directions):
            raise ValueError("ADO takes two discriminants, each with direction higher or lower")
        self.sumw = np.zeros((max(2, int(n_labels)),) + tuple(b + 2 for b, _, _ in self.binning))

    def fill(self, a, b, label, weight) -> None:
        """Add jets; the ADO is of signal (label 1) against background (label 0) pairs."""
        ia = _bin_index(a, *self.binning[0])
        ib = _bin_index(b, *self.binning[1])
        if self.directions[0] == "lower":
            ia = self.binning[0][0] + 1 - ia
        if self.directions[1] == "lower":
            ib = self.binning[1][0] + 1 - ib
        flat = (_labels(label, len(self.sumw), "ADO") * self.sumw.shape[1] + ia) * self.sumw.shape[2] + ib
        self.sumw += np.bincount(flat, weights=weight, minlength=self.sumw.size).reshape(self.sumw.shape)

    def __add__(self, other: DiscriminantOrdering) -> DiscriminantOrdering:
        if not isinstance(other, DiscriminantOrdering):
            return NotImplemented
        if (self.names, self.binning, self.directions, self.sumw.shape) != (
                other.names, other.binning, other.directions, other.sumw.shape):
            raise ValueError("cannot add ADOs of different discriminants, binnings or labels")
        out = DiscriminantOrdering(self.names, self.binning, self.directions, len(self.sumw))
        out.sumw = self.sumw + other.sumw
        return out

    def value(self) -> float:
        s, b = self.sumw[1], self.sumw[0]
        total = s.sum() * b.sum()
        if total <= 0:
            return float("nan")
        # cumulative background below/above in both variables
        c = b.cumsum(axis=0).cumsum(axis=1)
        n0, n1 = b.shape
        row = b.sum(axis=1)
        col = b.sum(axis=0)
        total_b = b.sum()
        ii, jj = np.meshgrid(np.arange(n0), np.arange(n1), indexing="ij")
        pad = np.zeros((n0 + 1, n1 + 1))
        pad[1:, 1:] = c
        below = pad[ii, jj]  # b[k < i, l < j]
        # b[k > i, l > j] = total - b[k <= i, any] - b[any, l <= j] + b[k <= i, l <= j]
        row_le = np.cumsum(row)[ii]
        col_le = np.cumsum(col)[jj]
        above = total_b - row_le - col_le + pad[ii + 1, jj + 1]
        tie = row[ii] + col[jj] - b
        concordant = (s * (below + above + 0.5 * tie)).sum()
        return float(concordant / total)
