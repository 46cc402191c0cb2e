"""The per-jet table: the fields every table has, and how a plugin declares the columns it adds.

One per-jet table (a flat awkward record array, one record per jet) flows
through the stages of the processor (docs/design.md, "Data flow").  A jet
builder provides :data:`BUILDER_FIELDS`; the processor adds
:data:`PROCESSOR_FIELDS`; every other column is added by a plugin and
declared through the ``jetflow_columns`` hook with a :class:`ColumnSpec`, so
that it is documented, histogrammed and plotted without any edit to jetflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

COLUMN_KINDS = ("observable", "score", "combination", "image", "other")


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
        ``"observable"``, ``"score"`` (a classifier output in [0, 1] that ROC
        accumulators read), ``"combination"`` (a score that combines other
        discriminants: ROC accumulators read it, but do not combine it further), ``"image"`` (float32 ``[n_jets, height, width,
        channels]``, height along eta, width along phi) or ``"other"``.
    description
        One line shown by ``jetflow plugins``.
    pixel_size
        Images only: the pixel size in eta and in phi; the image is centred
        on the jet's reference point, so pixel ``(i, j)`` sits at
        ``((i - (height - 1) / 2) * pixel_size, (j - (width - 1) / 2) * pixel_size)``.
        A plugin that reads an image takes its geometry from here, never from
        the options of the plugin that made it.
    score_of
        Scores of a multi-class model only: ``(model, label)``, the model and the label (class number) whose
        probability the column is.  ROC accumulators take that label as the signal against every other
        (one-vs-rest) and report the model's classes pair by pair (one-vs-one).
    """

    label: str
    unit: str = ""
    bins: int = 50
    start: float = 0.0
    stop: float = 1.0
    kind: str = "observable"
    description: str = ""
    pixel_size: float | None = None
    score_of: tuple[str, int] | None = None

    def __post_init__(self) -> None:
        if self.kind not in COLUMN_KINDS:
            raise ValueError(f"ColumnSpec kind must be one of {', '.join(COLUMN_KINDS)}, not {self.kind!r}")
        if self.bins < 0:
            raise ValueError(f"ColumnSpec bins must be >= 0, not {self.bins}")
        if self.bins and not self.stop > self.start:
            raise ValueError(
                f"ColumnSpec needs stop > start for binning, got start={self.start}, stop={self.stop}"
            )
        if self.pixel_size is not None and not self.pixel_size > 0:
            raise ValueError(f"ColumnSpec pixel_size must be > 0, not {self.pixel_size}")
        if self.score_of is not None and self.kind != "score":
            raise ValueError(f"ColumnSpec score_of {self.score_of} is for kind 'score', not {self.kind!r}")

    @property
    def axis_label(self) -> str:
        """Label with the unit in brackets, as an axis title wants it."""
        return f"{self.label} [{self.unit}]" if self.unit else self.label


BUILDER_FIELDS: dict[str, ColumnSpec] = {
    "pt": ColumnSpec(r"Jet $p_T$", "GeV", 100, 0.0, 1000.0, description="jet pT (trimmed by default)"),
    "eta": ColumnSpec(r"Jet $\eta$", "", 50, -5.0, 5.0, description="jet pseudorapidity"),
    "phi": ColumnSpec(r"Jet $\phi$", "", 50, -3.1416, 3.1416, description="jet azimuth in (-pi, pi]"),
    "mass": ColumnSpec(r"Jet mass", "GeV", 100, 0.0, 250.0, description="jet mass (trimmed by default)"),
    "constituents": ColumnSpec(
        "constituents", "", 0, kind="other",
        description="jagged records pt, eta, phi, mass (GeV), and pdgId, charge where known",
    ),
    "subjets": ColumnSpec("subjets", "", 0, kind="other", description="jagged records pt, eta, phi, mass, leading first"),
    "event": ColumnSpec("event index in chunk", "", 0, kind="other", description="int64 index of the jet's event in the chunk"),
}
"""Fields every jet builder (hook ``jetflow_build_jets``) provides."""

PROCESSOR_FIELDS: dict[str, ColumnSpec] = {
    "weight": ColumnSpec("weight", "", 0, kind="other", description="product of the jetflow_weights factors"),
    "label": ColumnSpec("label", "", 0, kind="other",
                        description="int8: 1 signal, 0 background, or the dataset's class number"),
    "dataset": ColumnSpec("dataset", "", 0, kind="other", description="the dataset's name in the config"),
}
"""Fields the processor adds after jet building (and ``weight_<factor>`` per weight factor)."""

CORE_COLUMNS: dict[str, ColumnSpec] = {**BUILDER_FIELDS, **PROCESSOR_FIELDS}
"""Every field the core defines: the per-jet table's common fields."""


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
