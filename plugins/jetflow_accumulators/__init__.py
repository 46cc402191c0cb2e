"""Built-in plugin ``accumulators``: weighted histograms of every declared column.

Config section ``outputs``::

    outputs:
      histograms: true
      binning:              # override a column's declared binning
        mass: {bins: 60, start: 0, stop: 300}

For every column declared through ``jetflow_columns`` (by any plugin) with a
binning (``bins > 0``) and present in the selected jets as a flat number, it
fills a ``hist.Hist`` with axes ``dataset`` (string category), ``label``
(0 background, 1 signal) and the column (regular, labelled with its unit),
weighted by the ``weight`` column (``Weight`` storage: sums of weights and of
squared weights).  Output: ``{"hists": {column: Hist}}``.

A flat numeric column that no plugin declares is not histogrammed: a warning
names it once per process, so that it is never dropped silently.
"""

from __future__ import annotations

import warnings

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from jetflow import hookimpl
from jetflow.columns import flat_numeric


class Binning(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bins: int = Field(gt=0)
    start: float
    stop: float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.stop > self.start:
            raise ValueError(f"stop must be > start, got start={self.start}, stop={self.stop}")
        return self


class OutputOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    histograms: bool = Field(True, description="fill a weighted histogram of every declared column")
    binning: dict[str, Binning] = Field(default_factory=dict, description="per-column binning overrides")


@hookimpl
def jetflow_options():
    return {"outputs": OutputOptions}


_WARNED: set[str] = set()


def make_hist(name: str, spec, binning: Binning | None = None):
    """An empty weighted histogram for a column: dataset x label x value."""
    import hist

    bins, start, stop = (binning.bins, binning.start, binning.stop) if binning else (spec.bins, spec.start, spec.stop)
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", label="Dataset", growth=True),
        hist.axis.IntCategory([0, 1], name="label", label="Label (1 signal, 0 background)"),
        hist.axis.Regular(bins, start, stop, name=name, label=spec.axis_label),
        storage=hist.storage.Weight(),
    )


@hookimpl
def jetflow_accumulate(jets, ctx):
    opts = ctx.options("outputs")
    if not opts.histograms:
        return None
    weight = ak.to_numpy(jets["weight"])
    label = ak.to_numpy(jets["label"]).astype(np.int64)
    hists = {}
    for name in jets.fields:
        if name.startswith("weight_"):  # the weight factors of jetflow_weights
            continue
        values = flat_numeric(jets[name])
        if values is None:
            continue
        spec = ctx.columns.get(name)
        if spec is None:
            if name not in _WARNED:
                _WARNED.add(name)
                warnings.warn(
                    f"column {name!r} is not declared by any plugin (hook jetflow_columns), so it is "
                    "not histogrammed; declare it with a jetflow.ColumnSpec",
                    stacklevel=2,
                )
            continue
        if spec.bins == 0:
            continue
        h = make_hist(name, spec, opts.binning.get(name))
        h.fill(dataset=ctx.dataset, label=label, **{name: values}, weight=weight)
        hists[name] = h
    return {"hists": hists}
