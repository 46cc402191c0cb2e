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
    background's shape ([jet-images], Figure 1).  Background jets get 1.  In a
    multi-class run every class but the background (label 0) is reweighted so,
    each by its own spectrum.  Jets outside the spectrum's range, or in bins
    where the first pass saw none of their class, cannot be reweighted: they
    keep factor 1 and are counted in the output (``reweight_outside``).

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
    """From a saved result's ``reweight_spectrum``: bin edges, per label the background/label shape ratio
    per bin (``ratio[label, bin]``; 1 for the background, and where the first pass saw none of that label),
    and which bins had jets of each label (``seen``)."""
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
    values = h.values()  # label x column, label 0 background, 1 signal (and more classes)
    b = values[0]
    if b.sum() <= 0 or values[1:].sum() <= 0:
        raise ConfigError(f"{section}.pt_reweight.from_result: {path} lacks signal or background jets")
    b = b / b.sum()
    totals = values.sum(axis=1, keepdims=True)
    shapes = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)
    ratio = np.divide(b, shapes, out=np.ones_like(values), where=shapes > 0)  # none there: no information, 1
    ratio[0] = 1.0
    return {"edges": h.axes[1].edges, "ratio": ratio, "seen": values > 0}


@hookimpl
def jetflow_prepare(options, config):
    rw = options.pt_reweight
    if rw.from_result is None:
        return None
    return spectrum_ratio(config.resolve(rw.from_result), rw.column)


def _bins(spectrum, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each value's bin of the spectrum, and whether it is inside the spectrum's range."""
    idx = np.searchsorted(spectrum["edges"], values, side="right") - 1
    bins = spectrum["ratio"].shape[-1]
    inside = (idx >= 0) & (idx < bins)
    return np.clip(idx, 0, bins - 1), inside


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
        label = ak.to_numpy(jets.label).astype(np.int64)  # the dataset's, or each jet's own (label: file)
        known = label < len(spectrum["ratio"])
        ratio = np.ones(len(idx))
        ratio[known] = spectrum["ratio"][label[known], idx[known]]
        factors["pt"] = np.where(inside, ratio, 1.0)  # the background's row is 1
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
        hist.axis.IntCategory(list(range(ctx.config.n_labels)), name="label"),
        hist.axis.Regular(opts.bins, opts.start, opts.stop, name=opts.column),
        storage=hist.storage.Weight(),
    )
    weight = ak.to_numpy(jets.weight)
    h.fill(label=ak.to_numpy(jets.label).astype(int), **{opts.column: values}, weight=weight)
    out = {SPECTRUM: h}
    label = ak.to_numpy(jets.label).astype(np.int64)
    if ctx.prepared is not None and (label != 0).any():
        idx, known = _bins(ctx.prepared, values)
        seen = ctx.prepared["seen"]
        in_table = label < len(seen)
        known[in_table] &= seen[label[in_table], idx[in_table]]
        known[~in_table] = False
        reweighted = label != 0  # the background is not reweighted: none of it is lost
        lost = Cutflow()
        lost.record(OUTSIDE, weight[reweighted & ~known])  # selected jets the spectrum could not reweight
        out[OUTSIDE] = lost
    return out
