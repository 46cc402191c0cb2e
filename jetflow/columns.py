"""Column declarations: what a plugin writes into the per-jet table.

A plugin declares the columns it writes through the ``jetflow_columns`` hook.
The declaration documents the column (label, unit) and tells the histogram
accumulators how to bin it, so that a column added by a third-party plugin is
histogrammed and plotted without any edit to jetflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class ColumnSpec:
    """Describes one per-jet column.

    Parameters
    ----------
    label
        Axis label for plots, e.g. ``r"$\\tau_{21}$"``.
    unit
        Physical unit (``"GeV"``, ``""`` for dimensionless).
    bins, start, stop
        Default regular binning for the weighted histogram of the column.
        ``bins = 0`` means: do not histogram (images, jagged columns).
    kind
        ``"observable"``, ``"score"`` (a classifier output that ROC
        accumulators read), ``"image"`` or ``"other"``.
    description
        One line shown by ``jetflow plugins``.
    """

    label: str
    unit: str = ""
    bins: int = 50
    start: float = 0.0
    stop: float = 1.0
    kind: str = "observable"
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in {"observable", "score", "image", "other"}:
            raise ValueError(
                f"ColumnSpec kind must be observable, score, image or other, not {self.kind!r}"
            )
        if self.bins < 0:
            raise ValueError(f"ColumnSpec bins must be >= 0, not {self.bins}")
        if self.bins and not self.stop > self.start:
            raise ValueError(
                f"ColumnSpec needs stop > start for binning, got start={self.start}, stop={self.stop}"
            )

    @property
    def axis_label(self) -> str:
        """Label with the unit in brackets, as an axis title wants it."""
        return f"{self.label} [{self.unit}]" if self.unit else self.label


# Fields of the per-jet table that the core itself writes or that every jet
# builder must provide (see DESIGN.md, "Data flow").
CORE_COLUMNS: dict[str, ColumnSpec] = {
    "pt": ColumnSpec(r"Jet $p_T$", "GeV", 100, 0.0, 1000.0, description="jet pT (trimmed by default)"),
    "eta": ColumnSpec(r"Jet $\eta$", "", 50, -5.0, 5.0, description="jet pseudorapidity"),
    "phi": ColumnSpec(r"Jet $\phi$", "", 50, -3.1416, 3.1416, description="jet azimuth in (-pi, pi]"),
    "mass": ColumnSpec(r"Jet mass", "GeV", 100, 0.0, 250.0, description="jet mass (trimmed by default)"),
    "event": ColumnSpec("event index in chunk", "", 0, kind="other"),
    "weight": ColumnSpec("weight", "", 0, kind="other", description="product of jetflow_weights factors"),
    "label": ColumnSpec("label", "", 0, kind="other", description="1 signal, 0 background"),
    "dataset": ColumnSpec("dataset", "", 0, kind="other"),
    "constituents": ColumnSpec("constituents", "", 0, kind="other"),
    "subjets": ColumnSpec("subjets", "", 0, kind="other"),
}
"""Columns every jet table has; jet builders provide pt, eta, phi, mass,
constituents and subjets; the processor adds event, weight, label, dataset."""


def flat_numeric(column) -> np.ndarray | None:
    """The column as a 1-D numpy array if it is one number per jet, else None.

    Works for any awkward layout (indexed, masked-free) and for numpy input;
    strings, records and jagged or image columns give None.
    """
    import awkward as ak
    import numpy as np

    if isinstance(column, np.ndarray):
        return column if column.ndim == 1 and column.dtype.kind in "biuf" else None
    if column.ndim != 1 or column.fields:
        return None
    if column.layout.parameter("__array__") in ("string", "bytestring"):
        return None
    try:
        values = ak.to_numpy(column, allow_missing=False)
    except (ValueError, TypeError):
        return None
    return values if values.ndim == 1 and values.dtype.kind in "biuf" else None
