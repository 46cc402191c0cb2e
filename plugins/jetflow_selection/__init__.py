"""Built-in plugin ``selection``: windows on per-jet columns.

Config section ``selection``::

    selection:
      windows:            # column: [low, high]; either end may be null
        pt: [250, 300]
        mass: [65, 95]
      abs_eta_max: 2.0    # optional |eta| cut

A window ``[low, high]`` keeps ``low < x < high`` (open at both ends, as
"250 < pT < 300 GeV").  Each window is applied at the first stage where its
column exists: right after jet building for the builder's columns (so images
are only made for jets that can pass), after observables for the rest.  A
window on a column that no stage produces is an error naming the column.

Each cut is a step of the weighted cut-flow (``selection:pt``, ...).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, field_validator

from jetflow import ConfigError, Options, hookimpl
from jetflow.core.columns import flat_numeric


class SelectionOptions(Options):
    windows: dict[str, tuple[float | None, float | None]] = Field(
        default_factory=lambda: {"pt": (250.0, 300.0), "mass": (65.0, 95.0)},
        description="column: [low, high], open interval; null for no bound (the study: pT 250-300 GeV, mass 65-95 GeV)",
    )
    abs_eta_max: float | None = Field(None, gt=0, description="keep |eta| < this")

    @field_validator("windows")
    @classmethod
    def _ordered(cls, windows):
        for column, (low, high) in windows.items():
            if low is not None and high is not None and not low < high:
                raise ValueError(f"window on {column!r} needs low < high, got [{low}, {high}]")
        return windows


@hookimpl
def jetflow_options():
    return SelectionOptions


def _column(jets, name: str, section: str) -> np.ndarray:
    values = flat_numeric(jets[name])
    if values is None:
        raise ConfigError(f"{section}.windows.{name}: column {name!r} is not a flat per-jet number")
    return values


@hookimpl
def jetflow_select(jets, ctx):
    opts = ctx.options()
    masks = {}
    present = set(jets.fields)
    if ctx.stage == "jets" and opts.abs_eta_max is not None:
        masks["abs_eta"] = np.abs(_column(jets, "eta", ctx.plugin)) < opts.abs_eta_max
    for name, (low, high) in opts.windows.items():
        if ctx.stage == "jets" and name not in present:
            continue  # applied after the observables are made
        if ctx.stage == "observables" and name in ctx.jet_fields:
            continue  # applied at the "jets" stage already
        if name not in present:
            raise ConfigError(
                f"{ctx.plugin}.windows.{name}: no such column in the jet table "
                f"(columns: {', '.join(sorted(f for f in present if flat_numeric(jets[f]) is not None))})"
            )
        x = _column(jets, name, ctx.plugin)
        mask = np.ones(len(x), dtype=bool)
        if low is not None:
            mask &= x > low
        if high is not None:
            mask &= x < high
        masks[name] = mask
    return masks or None
