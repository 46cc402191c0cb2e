"""Built-in plugin ``accumulators``: histograms, ROCs, images, correlations, ADO, exports.

Config section ``accumulators`` (called ``outputs`` before jetflow 0.2)::

    accumulators:
      histograms: true
      binning:                    # override a column's declared binning (histograms and ROCs)
        mass: {bins: 60, start: 0, stop: 300}
      roc:
        discriminants:            # column: higher | lower | likelihood
          mass: likelihood
          tau21: lower
          score_convnet: higher
        bins: 2000                # fine bins of a 1-D discriminant
        lr_bins: 20               # equal-background bins of its likelihood ratio
        combinations:             # binned likelihood ratios of 2 or 3 columns ([jet-images]; learned: the combine step)
          - [mass, tau21]
        score_combinations: [mass]  # [mass, score_X] for every score column of the run
        combination_bins: 60
        combination_lr_bins: 10
      average_image: image        # average images per label (and their difference)
      correlations: [score_convnet]   # per-pixel correlation of average_image's pixels with these
      ado:                        # average decision ordering of pairs ([dl-hep])
        - [tau21, score_convnet]
      regression:                 # prediction / truth: median and resolution ([lbn])
        targets:                  # name: {prediction: column, truth: column}
          jet_pt: {prediction: pt, truth: gen_pt}
        versus:                   # column: bin edges (every target also gets "all")
          gen_pt: [200, 300, 400, 600]
        ratio_bins: 3000          # fine bins of the ratio on [0, ratio_max)
        ratio_max: 3.0
      export:                     # training export: one Parquet shard per chunk
        dir: export
        columns: null             # null: every flat per-jet column; or a list
        images: [image]
        constituents: 30          # N leading four-vectors (E, px, py, pz) for the LBN
        constituent_features: []  # per-particle features of those N: charge, is_electron, ..., d0 (constituent_<name>)

Outputs (per dataset; the names are in :mod:`jetflow_accumulators.names`):
``hists`` (dict column -> Hist), ``roc`` (dict name ->
:class:`jetflow.stats.accumulators.WeightedROC`), ``average_image``,
``correlation``, ``ado`` (dict), ``regression`` (dict ``target|versus`` ->
:class:`jetflow.stats.response.ResponseHistogram`), ``export`` (shard records).  ROC halves
are the parity of the jet's entry number in its file, so results do not depend
on the chunking.  A multi-class model's class probability (``ColumnSpec.score_of``) is
histogrammed for its ROC in log-odds (:func:`jetflow.stats.accumulators.log_odds`), where small probabilities stay
resolved; every other score on its 0-1 range.

For every column declared through ``jetflow_columns`` (by any plugin) with a
binning (``bins > 0``) and present in the selected jets as a flat number, it
fills a ``hist.Hist`` with axes ``dataset`` (string category), ``label``
(0 background, 1 signal; every class of a multi-class run) and the column (regular, labelled with its unit),
weighted by the ``weight`` column (``Weight`` storage: sums of weights and of
squared weights).  Output: ``{"hists": {column: Hist}}``.

A flat numeric column that no plugin declares is not histogrammed: a warning
names it once per process, so that it is never dropped silently.

Its part of ``jetflow report`` is in :mod:`jetflow_accumulators.report`.
References in brackets: docs/references.md.
"""

from __future__ import annotations

import warnings
from typing import Literal

import awkward as ak
import numpy as np
from pydantic import Field, field_validator, model_validator

from jetflow import ConfigError, Options, hookimpl
from jetflow.core.columns import flat_numeric

from jetflow_accumulators.names import ADO, AVERAGE_IMAGE, CORRELATION, EXPORT, HISTS, REGRESSION, ROC
from jetflow_accumulators.report import jetflow_report  # noqa: F401  (this plugin's report hook)


class Binning(Options):
    bins: int = Field(gt=0)
    start: float
    stop: float

    @model_validator(mode="after")
    def _ordered(self):
        if not self.stop > self.start:
            raise ValueError(f"stop must be > start, got start={self.start}, stop={self.stop}")
        return self


Direction = Literal["higher", "lower", "likelihood"]


class RocOptions(Options):
    discriminants: dict[str, Direction] = Field(
        default_factory=dict, description="column: higher | lower | likelihood (score columns default to higher)"
    )
    scores: bool = Field(True, description="add every declared score column (kinds score, combination) as 'higher'")
    bins: int = Field(2000, gt=1, description="fine bins of a 1-D discriminant")
    lr_bins: int = Field(20, gt=1, description="equal-background bins of a 1-D likelihood ratio")
    combinations: list[list[str]] = Field(default_factory=list, description="2-3 columns per likelihood combination")
    score_combinations: list[str] = Field(
        default_factory=list, description="columns combined with every score column: [column, score_X] per model"
    )
    combination_bins: int = Field(60, gt=1, description="fine bins per axis of a combination")
    combination_lr_bins: int = Field(10, gt=1, description="equal-background bins per axis of a combination")

    @field_validator("combinations")
    @classmethod
    def _sizes(cls, combos):
        for c in combos:
            if not 2 <= len(c) <= 3:
                raise ValueError(f"a combination takes 2 or 3 columns, got {c}")
        return combos


class ExportOptions(Options):
    dir: str = Field(description="folder of the Parquet shards (relative to the config)")
    columns: list[str] | None = Field(None, description="flat columns to export (null: all)")
    images: list[str] = Field(default_factory=lambda: ["image"], description="image columns to export")
    constituents: int | None = Field(
        None, ge=1, description="also export the N leading constituents' four-vectors (E, px, py, pz) for the LBN"
    )
    constituent_features: list[str] = Field(default_factory=list, description=(
        "per-particle features of those N constituents, each a column constituent_<name> [n, N]: a numeric "
        "constituent field (charge, pdgId, d0, dz, ... where the input format has it) or a particle type "
        "(is_electron, is_muon, is_photon, is_charged_hadron, is_neutral_hadron)"))

    @model_validator(mode="after")
    def _features_of_exported_constituents(self):
        if self.constituent_features and self.constituents is None:
            raise ValueError("constituent_features: the features of the N leading constituents need constituents: N")
        return self


class RegressionTarget(Options):
    prediction: str = Field(description="column: the predicted (or reconstructed) quantity")
    truth: str = Field(description="column: the true quantity (jets where it is <= 0 are counted, not filled)")


class RegressionOptions(Options):
    targets: dict[str, RegressionTarget] = Field(default_factory=dict, description="name -> prediction, truth")
    versus: dict[str, list[float]] = Field(default_factory=dict, description="column -> bin edges")
    ratio_bins: int = Field(3000, gt=1, description="fine bins of prediction / truth")
    ratio_max: float = Field(3.0, gt=0, description="the fine bins cover [0, ratio_max)")


class AccumulatorOptions(Options):
    former_names = ("outputs",)

    histograms: bool = Field(True, description="fill a weighted histogram of every declared column")
    binning: dict[str, Binning] = Field(default_factory=dict, description="per-column binning overrides")
    roc: RocOptions = Field(default_factory=RocOptions)
    average_image: str | None = Field(None, description="image column to average per label")
    correlations: list[str] = Field(default_factory=list, description="discriminants to correlate with pixels")
    ado: list[tuple[str, str]] = Field(default_factory=list, description="pairs of discriminants")
    regression: RegressionOptions = Field(default_factory=RegressionOptions)
    export: ExportOptions | None = Field(None, description="training export")


@hookimpl
def jetflow_options():
    return AccumulatorOptions


def make_hist(name: str, spec, binning: Binning | None = None, n_labels: int = 2):
    """An empty weighted histogram for a column: dataset x label (0 .. n_labels - 1) x value."""
    import hist

    bins, start, stop = (binning.bins, binning.start, binning.stop) if binning else (spec.bins, spec.start, spec.stop)
    return hist.Hist(
        hist.axis.StrCategory([], name="dataset", label="Dataset", growth=True),
        hist.axis.IntCategory(list(range(max(2, n_labels))), name="label",
                              label="Label (1 signal, 0 background, or the class)"),
        hist.axis.Regular(bins, start, stop, name=name, label=spec.axis_label),
        storage=hist.storage.Weight(),
    )


def _histograms(jets, ctx, opts):
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
            if ctx.cache.once(("undeclared column", name)):
                warnings.warn(
                    f"column {name!r} is not declared by any plugin (hook jetflow_columns), so it is "
                    "not histogrammed; declare it with a jetflow.ColumnSpec",
                    stacklevel=2,
                )
            continue
        if spec.bins == 0:
            continue
        h = make_hist(name, spec, opts.binning.get(name), ctx.config.n_labels)
        h.fill(dataset=ctx.dataset, label=label, **{name: values}, weight=weight)
        hists[name] = h
    return hists


def _binning(name: str, ctx, opts, bins: int) -> tuple[int, float, float]:
    """Fine binning of a discriminant: its declared range (or override), ``bins`` bins."""
    spec = ctx.columns.get(name)
    override = opts.binning.get(name)
    if override is not None:
        return (bins, override.start, override.stop)
    if spec is None:
        raise ConfigError(
            f"{ctx.plugin}: column {name!r} is not declared by any plugin, so its range is unknown; "
            f"give {ctx.plugin}.binning.{name} = {{bins, start, stop}}"
        )
    if spec.kind in SCORE_KINDS:
        return (bins, 0.0, 1.0)
    return (bins, spec.start, spec.stop)


def _column(jets, ctx, name: str, what: str) -> np.ndarray:
    if name not in jets.fields:
        raise ConfigError(
            f"{ctx.plugin}.{what}: no column {name!r} in the jet table (columns: {', '.join(jets.fields)})"
        )
    values = flat_numeric(jets[name])
    if values is None:
        raise ConfigError(f"{ctx.plugin}.{what}: column {name!r} is not one number per jet")
    return values.astype(np.float64)


SCORE_KINDS = ("score", "combination")
"""Column kinds that are classifier outputs in [0, 1]: ROC discriminants, ``higher`` signal-like."""


def _scores(ctx, kinds: tuple[str, ...] = ("score",)) -> list[str]:
    """The declared columns of these kinds (default: scores, not combinations) of the run, in declaration order."""
    return [name for name, spec in ctx.columns.items() if spec.kind in kinds]


def discriminants(ctx, opts) -> dict[str, str]:
    """Every 1-D discriminant of the run and its direction."""
    out = dict(opts.roc.discriminants)
    if opts.roc.scores:
        for name in _scores(ctx, SCORE_KINDS):
            out.setdefault(name, "higher")
    return out


def combinations(ctx, opts) -> list[list[str]]:
    """Every likelihood combination: the configured ones, then [column, score] per score column (of signal
    against background: not a multi-class model's class scores)."""
    scores = [s for s in _scores(ctx) if ctx.columns[s].score_of is None]
    return [*opts.roc.combinations, *([c, s] for c in opts.roc.score_combinations for s in scores)]


def _halves(jets, ctx) -> np.ndarray:
    """Parity of each jet's entry number in its file: independent of the chunking."""
    from jetflow.stats.crossfit import fold_of

    return fold_of(ctx.entries(jets), 2)


def _rocs(jets, ctx, opts, label, weight) -> dict:
    from jetflow.stats.accumulators import LOG_ODDS_MAX, WeightedROC, log_odds

    present = set(jets.fields)
    rocs = {}
    half = _halves(jets, ctx)
    for name, direction in discriminants(ctx, opts).items():
        if name not in present and ctx.columns.get(name) is not None and ctx.columns[name].kind in SCORE_KINDS:
            continue  # a declared score whose model is not configured in this run
        spec = ctx.columns.get(name)
        values, binning = _column(jets, ctx, name, "roc.discriminants"), _binning(name, ctx, opts, opts.roc.bins)
        multi = {}
        if spec is not None and spec.score_of is not None:  # one-vs-rest of a multi-class model's class
            multi = {"signal": (spec.score_of[1],), "background": None, "group": spec.score_of[0]}
            if name not in opts.binning:
                values, binning = log_odds(values), (opts.roc.bins, -LOG_ODDS_MAX, LOG_ODDS_MAX)
        roc = WeightedROC([name], [binning], direction, opts.roc.lr_bins, ctx.config.n_labels, **multi)
        roc.fill([values], label, weight, half)
        rocs[name] = roc
    for combo in combinations(ctx, opts):
        binning = [_binning(c, ctx, opts, opts.roc.combination_bins) for c in combo]
        roc = WeightedROC(combo, binning, "likelihood", opts.roc.combination_lr_bins, ctx.config.n_labels)
        roc.fill([_column(jets, ctx, c, "roc.combinations") for c in combo], label, weight, half)
        rocs[roc.name] = roc
    return rocs


def _images(jets, ctx, opts, label, weight) -> dict:
    from jetflow.stats.accumulators import AverageImage, PixelCorrelation

    column = opts.average_image or "image"
    if column not in jets.fields:
        raise ConfigError(f"{ctx.plugin}.average_image: no image column {column!r} in the jet table")
    images = ak.to_numpy(jets[column])
    avg = AverageImage(images.shape[1:], ctx.config.n_labels)
    avg.fill(images, label, weight)
    out = {AVERAGE_IMAGE: avg}
    if opts.correlations:
        ys = (np.stack([_column(jets, ctx, c, "correlations") for c in opts.correlations], axis=1)
              if len(jets) else np.zeros((0, len(opts.correlations))))
        corr = PixelCorrelation(images.shape[1:], opts.correlations, ctx.config.n_labels)
        corr.fill(images, ys, label, weight)
        out[CORRELATION] = corr
    return out


def _ados(jets, ctx, opts, label, weight) -> dict:
    from jetflow.stats.accumulators import DiscriminantOrdering

    directions = discriminants(ctx, opts)
    ados = {}
    for a, b in opts.ado:
        dirs = (directions.get(a), directions.get(b))
        if any(d not in ("higher", "lower") for d in dirs):
            raise ConfigError(
                f"{ctx.plugin}.ado: [{a}, {b}]: each needs a direction higher or lower in "
                f"{ctx.plugin}.roc.discriminants (got {a}: {dirs[0]}, {b}: {dirs[1]}), so that both are "
                "ordered signal-like first"
            )
        ado = DiscriminantOrdering([a, b], [_binning(a, ctx, opts, 1000), _binning(b, ctx, opts, 1000)], dirs,
                                   ctx.config.n_labels)
        ado.fill(_column(jets, ctx, a, "ado"), _column(jets, ctx, b, "ado"), label, weight)
        ados[f"{a}|{b}"] = ado
    return ados


def _regression(jets, ctx, opts, weight) -> dict:
    """One response histogram per target and versus column (and ``all``): prediction / truth."""
    from jetflow.stats.response import ResponseHistogram

    out = {}
    for name, target in opts.targets.items():
        prediction = _column(jets, ctx, target.prediction, f"regression.targets.{name}.prediction")
        truth = _column(jets, ctx, target.truth, f"regression.targets.{name}.truth")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(truth > 0, prediction / truth, np.nan)
        binnings = {"all": (None, [-np.inf, np.inf])} | {v: (v, edges) for v, edges in opts.versus.items()}
        for versus, (column, edges) in binnings.items():
            values = _column(jets, ctx, column, f"regression.versus.{column}") if column else np.zeros(len(ratio))
            h = ResponseHistogram(versus, edges, opts.ratio_bins, opts.ratio_max)
            h.fill(ratio, values, weight)
            out[f"{name}|{versus}"] = h
    return out


@hookimpl
def jetflow_accumulate(jets, ctx):
    opts = ctx.options()
    out = {}
    if opts.histograms:
        out[HISTS] = _histograms(jets, ctx, opts)
    weight = ak.to_numpy(jets.weight).astype(np.float64)
    label = ak.to_numpy(jets.label).astype(np.int64)
    rocs = _rocs(jets, ctx, opts, label, weight)
    if rocs:
        out[ROC] = rocs
    if opts.average_image is not None or opts.correlations:
        out.update(_images(jets, ctx, opts, label, weight))
    if opts.ado:
        out[ADO] = _ados(jets, ctx, opts, label, weight)
    if opts.regression.targets:
        out[REGRESSION] = _regression(jets, ctx, opts.regression, weight)
    if opts.export is not None:
        out[EXPORT] = _export(jets, ctx, opts.export)
    return out


def _export(jets, ctx, opts):
    from jetflow.formats.export import ExportShards, shard_name, write_shard

    names = opts.columns
    if names is None:
        names = [f for f in jets.fields if flat_numeric(jets[f]) is not None]
    columns = {}
    for name in names:
        columns[name] = _column(jets, ctx, name, "export.columns")
    for name in opts.images:
        if name in jets.fields:
            columns[name] = ak.to_numpy(jets[name])
        else:
            raise ConfigError(f"{ctx.plugin}.export.images: no image column {name!r} in the jet table")
    if opts.constituents is not None:
        from jetflow.physics import constituent_four_vectors

        columns["constituents"] = constituent_four_vectors(jets.constituents, opts.constituents)
    if opts.constituent_features:
        from jetflow.physics import constituent_features

        try:
            values = constituent_features(jets.constituents, opts.constituents, opts.constituent_features)
        except ValueError as exc:
            raise ConfigError(f"{ctx.plugin}.export.constituent_features: {exc} (file {ctx.filename})") from None
        for k, name in enumerate(opts.constituent_features):
            columns[f"constituent_{name}"] = values[:, :, k]
    columns["weight"] = ak.to_numpy(jets.weight).astype(np.float64)
    columns["label"] = ak.to_numpy(jets.label).astype(np.int8)
    columns["entry"] = ctx.entries(jets)
    columns["dataset"] = np.full(len(jets), ctx.dataset)
    path = ctx.config.resolve(opts.dir) / shard_name(ctx.dataset, ctx.filename, ctx.entrystart, ctx.entrystop)
    rows = write_shard(path, columns)
    return ExportShards(((str(path), rows, ctx.dataset, ctx.filename, ctx.entrystart, ctx.entrystop),))
