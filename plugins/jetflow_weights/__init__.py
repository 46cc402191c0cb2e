"""Built-in plugin ``weights``: normalisation and the signal pT reweighting of seed 000.

Config section ``weights``::

    weights:
      normalize: true          # factor "xsec": genWeight * xsec * luminosity / sum of genWeight
      luminosity: 1.0          # in pb^-1 (xsec is in pb)
      pt_reweight:
        from_result: null      # a previous run's result (jetflow run --out): its spectra
        column: pt
        bins: 200
        start: 0.0
        stop: 1000.0

Factors (each kept as a column ``weight_<name>``, multiplied into ``weight``):

``xsec``
    ``genWeight(event) * xsec(dataset) * luminosity / sumw_gen(dataset)``, where
    ``sumw_gen`` is the sum of ``genWeight`` over the entries the run
    processes (``jetflow.run`` computes it before processing; a coffea user
    passes it as dataset metadata ``sumw_gen``).
``pt``
    signal jets only: ``B(pT) / S(pT)`` with ``B``, ``S`` the background and
    signal spectra of ``column`` (each normalised to unit area) found in
    ``from_result``, so that the weighted signal spectrum has the
    background's shape (seed 000, Figure 1).  Background jets get 1.  Signal
    jets outside the spectrum's range, or in bins where the first pass saw no
    signal, cannot be reweighted: they keep factor 1 and are counted in the
    output (``reweight_outside``).

Two passes: every run accumulates the spectra (``reweight_spectrum``: label x
``column``, after the selection); a second run names the first run's result.
"""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from jetflow import hookimpl
from jetflow.errors import ConfigError


class ReweightOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    from_result: str | None = Field(None, description="result file of a first pass (its reweight_spectrum)")
    column: str = Field("pt", description="the spectrum to match")
    bins: int = Field(200, gt=0)
    start: float = 0.0
    stop: float = 1000.0


class WeightOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    normalize: bool = Field(True, description="genWeight * xsec * luminosity / sum of genWeight")
    luminosity: float = Field(1.0, gt=0, description="integrated luminosity in pb^-1")
    pt_reweight: ReweightOptions = Field(default_factory=ReweightOptions)


@hookimpl
def jetflow_options():
    return {"weights": WeightOptions}


_RATIO_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
"""Per process: (result path, column, mtime) -> (edges, ratio, bins with signal)."""


def spectrum_has_signal(path, column: str) -> np.ndarray:
    """Per bin of the first pass's spectrum: did it have signal (so a ratio)?"""
    spectrum_ratio(path, column)
    return _RATIO_CACHE[(str(path), column, os.stat(path).st_mtime_ns)][2]


def spectrum_ratio(path, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges and the background/signal shape ratio per bin, from a saved result."""
    key = (str(path), column, os.stat(path).st_mtime_ns)  # a rewritten result is read again
    if key not in _RATIO_CACHE:
        import jetflow

        result = jetflow.load(path)
        try:
            h = result.combined("reweight_spectrum")
        except KeyError:
            raise ConfigError(
                f"weights.pt_reweight.from_result: {path} has no reweight_spectrum "
                "(it was not made with the weights plugin enabled)"
            ) from None
        if h.axes[1].name != column:
            raise ConfigError(
                f"weights.pt_reweight: {path} holds the spectrum of {h.axes[1].name!r}, not {column!r}"
            )
        values = h.values()  # label x column, label 0 background, 1 signal
        b, s = values[0], values[1]
        if b.sum() <= 0 or s.sum() <= 0:
            raise ConfigError(f"weights.pt_reweight.from_result: {path} lacks signal or background jets")
        b, s = b / b.sum(), s / s.sum()
        ratio = np.divide(b, s, out=np.ones_like(b), where=s > 0)  # no signal there: no information, 1
        _RATIO_CACHE[key] = (h.axes[1].edges, ratio, s > 0)
    return _RATIO_CACHE[key][:2]


@hookimpl
def jetflow_weights(jets, events, ctx):
    opts = ctx.options("weights")
    factors = {}
    if opts.normalize:
        sumw = ctx.metadata.get("sumw_gen")
        if sumw is None:
            raise ConfigError(
                "weights.normalize needs the dataset's sum of generator weights (metadata 'sumw_gen'); "
                "jetflow.run provides it, a coffea user passes it in the fileset metadata, "
                "or set weights.normalize: false"
            )
        if sumw <= 0:
            raise ConfigError(f"dataset {ctx.dataset!r}: sum of generator weights is {sumw}, cannot normalise")
        event = ak.to_numpy(jets.event).astype(np.int64)
        gen = ak.to_numpy(events.genWeight).astype(np.float64)[event] if "genWeight" in events.fields else 1.0
        xsec = ctx.config.datasets[ctx.dataset].xsec
        factors["xsec"] = gen * (xsec * opts.luminosity / sumw)
    rw = opts.pt_reweight
    if rw.from_result is not None:
        edges, ratio = spectrum_ratio(ctx.config.resolve(rw.from_result), rw.column)
        x = ak.to_numpy(jets[rw.column]).astype(np.float64)
        idx = np.searchsorted(edges, x, side="right") - 1
        inside = (idx >= 0) & (idx < len(ratio))
        factor = np.where(inside, ratio[np.clip(idx, 0, len(ratio) - 1)], 1.0)
        factors["pt"] = factor if ctx.label == 1 else np.ones(len(x))
    return factors or None


@hookimpl
def jetflow_accumulate(jets, ctx):
    import hist

    from jetflow.accumulators import Cutflow
    from jetflow.columns import flat_numeric

    opts = ctx.options("weights").pt_reweight
    values = flat_numeric(jets[opts.column]) if opts.column in jets.fields else None
    if values is None:
        raise ConfigError(f"weights.pt_reweight.column: {opts.column!r} is not a per-jet number in the jet table")
    h = hist.Hist(
        hist.axis.IntCategory([0, 1], name="label"),
        hist.axis.Regular(opts.bins, opts.start, opts.stop, name=opts.column),
        storage=hist.storage.Weight(),
    )
    weight = ak.to_numpy(jets.weight)
    h.fill(label=ak.to_numpy(jets.label).astype(int), **{opts.column: values}, weight=weight)
    out = {"reweight_spectrum": h}
    if opts.from_result is not None and ctx.label == 1:
        edges, ratio = spectrum_ratio(ctx.config.resolve(opts.from_result), opts.column)
        idx = np.searchsorted(edges, values, side="right") - 1
        known = (idx >= 0) & (idx < len(ratio))
        known[known] = spectrum_has_signal(ctx.config.resolve(opts.from_result), opts.column)[idx[known]]
        lost = Cutflow()
        lost.record("reweight_outside", weight[~known])  # selected signal jets the spectrum could not reweight
        out["reweight_outside"] = lost
    return out
