"""Built-in plugin ``weights``: normalisation and the signal pT reweighting of [jet-images].

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
    background's shape ([jet-images], Figure 1).  Background jets get 1.  Signal
    jets outside the spectrum's range, or in bins where the first pass saw no
    signal, cannot be reweighted: they keep factor 1 and are counted in the
    output (``reweight_outside``).

Two passes: every run accumulates the spectra (``reweight_spectrum``: label x
``column``, after the selection); a second run names the first run's result.
The client reads that result once, before any chunk is processed (hook
``jetflow_prepare``), and the workers receive the ratio with the run's
configuration: they never open the file.  References in brackets:
docs/references.md.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import ConfigError, Options, hookimpl

SPECTRUM = "reweight_spectrum"
OUTSIDE = "reweight_outside"


class ReweightOptions(Options):
    from_result: str | None = Field(None, description="result file of a first pass (its reweight_spectrum)")
    column: str = Field("pt", description="the spectrum to match")
    bins: int = Field(200, gt=0)
    start: float = 0.0
    stop: float = 1000.0


class WeightOptions(Options):
    normalize: bool = Field(True, description="genWeight * xsec * luminosity / sum of genWeight")
    luminosity: float = Field(1.0, gt=0, description="integrated luminosity in pb^-1")
    pt_reweight: ReweightOptions = Field(default_factory=ReweightOptions)


@hookimpl
def jetflow_options():
    return WeightOptions


def spectrum_ratio(path, column: str, section: str = "weights") -> dict[str, np.ndarray]:
    """From a saved result's ``reweight_spectrum``: bin edges, the background/signal shape ratio per
    bin (1 where the first pass saw no signal), and which bins had signal."""
    import jetflow

    result = jetflow.load(path)
    try:
        h = result.combined(SPECTRUM)
    except KeyError:
        raise ConfigError(
            f"{section}.pt_reweight.from_result: {path} has no {SPECTRUM} "
            "(it was not made with the weights plugin enabled)"
        ) from None
    if h.axes[1].name != column:
        raise ConfigError(f"{section}.pt_reweight: {path} holds the spectrum of {h.axes[1].name!r}, not {column!r}")
    values = h.values()  # label x column, label 0 background, 1 signal
    b, s = values[0], values[1]
    if b.sum() <= 0 or s.sum() <= 0:
        raise ConfigError(f"{section}.pt_reweight.from_result: {path} lacks signal or background jets")
    b, s = b / b.sum(), s / s.sum()
    ratio = np.divide(b, s, out=np.ones_like(b), where=s > 0)  # no signal there: no information, 1
    return {"edges": h.axes[1].edges, "ratio": ratio, "has_signal": s > 0}


@hookimpl
def jetflow_prepare(options, config):
    rw = options.pt_reweight
    if rw.from_result is None:
        return None
    return spectrum_ratio(config.resolve(rw.from_result), rw.column)


def _bins(spectrum, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's bin of the spectrum, and whether it is inside the spectrum's range."""
    idx = np.searchsorted(spectrum["edges"], values, side="right") - 1
    inside = (idx >= 0) & (idx < len(spectrum["ratio"]))
    return np.clip(idx, 0, len(spectrum["ratio"]) - 1), inside


@hookimpl
def jetflow_weights(jets, events, ctx):
    opts = ctx.options()
    factors = {}
    if opts.normalize:
        sumw = ctx.metadata.get("sumw_gen")
        if sumw is None:
            raise ConfigError(
                f"{ctx.plugin}.normalize needs the dataset's sum of generator weights (metadata 'sumw_gen'); "
                "jetflow.run provides it, a coffea user passes it in the fileset metadata, "
                f"or set {ctx.plugin}.normalize: false"
            )
        if sumw <= 0:
            raise ConfigError(f"dataset {ctx.dataset!r}: sum of generator weights is {sumw}, cannot normalise")
        event = ak.to_numpy(jets.event).astype(np.int64)
        gen = ak.to_numpy(events.genWeight).astype(np.float64)[event] if "genWeight" in events.fields else 1.0
        xsec = ctx.config.datasets[ctx.dataset].xsec
        factors["xsec"] = gen * (xsec * opts.luminosity / sumw)
    spectrum = ctx.prepared
    if spectrum is not None:
        x = ak.to_numpy(jets[opts.pt_reweight.column]).astype(np.float64)
        idx, inside = _bins(spectrum, x)
        factor = np.where(inside, spectrum["ratio"][idx], 1.0)
        factors["pt"] = factor if ctx.label == 1 else np.ones(len(x))
    return factors or None


@hookimpl
def jetflow_accumulate(jets, ctx):
    import hist

    from jetflow import Cutflow
    from jetflow.core.columns import flat_numeric

    opts = ctx.options().pt_reweight
    values = flat_numeric(jets[opts.column]) if opts.column in jets.fields else None
    if values is None:
        raise ConfigError(f"{ctx.plugin}.pt_reweight.column: {opts.column!r} is not a per-jet number in the jet table")
    h = hist.Hist(
        hist.axis.IntCategory([0, 1], name="label"),
        hist.axis.Regular(opts.bins, opts.start, opts.stop, name=opts.column),
        storage=hist.storage.Weight(),
    )
    weight = ak.to_numpy(jets.weight)
    h.fill(label=ak.to_numpy(jets.label).astype(int), **{opts.column: values}, weight=weight)
    out = {SPECTRUM: h}
    if ctx.prepared is not None and ctx.label == 1:
        idx, known = _bins(ctx.prepared, values)
        known &= ctx.prepared["has_signal"][idx]
        lost = Cutflow()
        lost.record(OUTSIDE, weight[~known])  # selected signal jets the spectrum could not reweight
        out[OUTSIDE] = lost
    return out
