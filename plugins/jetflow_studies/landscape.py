"""The workflow step ``landscape``: taggers trained several times, judged on one scored test export as the
top-tagging landscape ([toptagging]) judges them, beside the published values.

For every model kind and every training-sample size the ``train`` steps recorded, each training's scores
(``score_<model>`` of the export) give the exact ROC of the cut ``score > c``
(:func:`jetflow.stats.roc.curve_of_scores`), hence the AUC, the accuracy of ``score > 0.5`` and the rejection
1/eps_B at one signal efficiency with its binomial uncertainty; the table shows each figure's mean and standard
deviation over the trainings.  Written: ``<out>/landscape.csv`` (one row per training), ``roc.png`` (rejection
against eps_S, first training of each kind, largest sample), ``learning_curve.png`` (rejection against the
number of training jets).
"""

from __future__ import annotations

import csv
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from jetflow import Options, StepContext, StepResult


class Published(BaseModel):
    """A published figure row: what a paper reports for an architecture."""

    model_config = {"extra": "forbid"}

    name: str = Field(description="the architecture as the paper names it")
    auc: float | None = None
    accuracy: float | None = None
    rejection: str | None = Field(None, description="1/eps_B at the efficiency, as printed (with its ±)")
    source: str = Field(description="the reference key in docs/references.md, and the table")


class LandscapeOptions(Options):
    """Options of the workflow step ``landscape``."""

    data: str = Field(description="the test export holding every training's score_<model> column, label and weight")
    trainings: list[dict[str, Any]] = Field(min_length=1, description=(
        "records of train steps (${train}, ...): their trainings (kind -> model names) and train_jets"))
    efficiency: float = Field(0.3, gt=0, lt=1, description="the signal efficiency eps_S of the rejection 1/eps_B")
    published: dict[str, list[Published]] = Field(default_factory=dict, description=(
        "per model kind: the published rows to show beside it"))
    sample_note: str = Field("", description="how the sample differs from the published one (sizes, detector)")
    out: str = Field("landscape", description="folder of landscape.csv and the figures")


def figures(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray, efficiency: float) -> dict[str, float]:
    """AUC, accuracy of ``score > 0.5`` and 1/eps_B (with its uncertainty) at ``efficiency``, from the exact ROC."""
    from jetflow.stats.roc import curve_of_scores

    curve = curve_of_scores(scores, labels, weights)
    rej, err = curve.rejection(efficiency)
    right = np.where(labels == 1, scores > 0.5, scores <= 0.5)
    return {"auc": curve.auc(), "accuracy": float(np.average(right, weights=weights)),
            "rejection": float(rej[0]), "rejection_err": float(err[0])}


def _trainings(records: list[dict[str, Any]]) -> list[tuple[str, int, list[str], int | None]]:
    """(kind, training jets, model names, weights of the network) of every train record, in their order."""
    out = []
    for i, record in enumerate(records):
        if "trainings" not in record or "train_jets" not in record:
            raise ValueError(f"landscape: trainings[{i}] is not the record of a train step (it has no trainings and "
                             f"train_jets; keys: {', '.join(record) or 'none'})")
        out += [(kind, int(record["train_jets"][kind]), list(names), (record.get("parameters") or {}).get(kind))
                for kind, names in record["trainings"].items()]
    return out


def _spread(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def landscape_step(options: LandscapeOptions, ctx: StepContext) -> StepResult:
    """Score every training on the test export; table, CSV and figures."""
    import pyarrow.parquet as pq

    from jetflow.formats.export import read, shards

    groups = _trainings(options.trainings)
    columns = [f"score_{name}" for _, _, names, _ in groups for name in names]
    data = ctx.resolve(options.data)
    paths = shards(data)
    if not paths:
        raise ValueError(f"landscape: export {data} holds no shards")
    absent = [c for c in columns if c not in pq.read_schema(paths[0]).names]
    if absent:
        raise ValueError(f"landscape: export {data} has no column {', '.join(absent)}: the run that made it must score "
                         "with every training (inference.models: the train steps' models)")
    table = read(paths, columns=["label", "weight", *columns])
    labels, weights = table["label"].astype(int), table["weight"].astype(np.float64)
    n_sig, n_bkg = int((labels == 1).sum()), int((labels == 0).sum())
    if not n_sig or not n_bkg:
        raise ValueError(f"landscape: export {data} holds {n_sig} signal and {n_bkg} background jets; it needs both")
    rows = []
    for group, (kind, jets, names, parameters) in enumerate(groups):
        for k, name in enumerate(names, 1):
            rows.append({"group": group, "kind": kind, "train_jets": jets, "parameters": parameters, "training": k,
                         "model": name,
                         **figures(table[f"score_{name}"], labels, weights, options.efficiency)})
    out = ctx.resolve(options.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "landscape.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    summary = _summary(rows)
    main = {}  # per kind, the trainings on the most jets (the first train step's on a tie)
    for s in summary:
        if s["kind"] not in main or s["train_jets"] > main[s["kind"]]["train_jets"]:
            main[s["kind"]] = s
    largest = {kind: s["train_jets"] for kind, s in main.items()}
    main = list(main.values())
    _plot_rocs(options, table, labels, weights, main, out)
    if any(sum(s["kind"] == kind for s in summary) > 1 for kind in largest):
        _plot_learning_curve(summary, options.efficiency, out)
    record = {"test_jets": {"signal": n_sig, "background": n_bkg}, "summary": summary,
              "best": max(main, key=lambda s: s["rejection"])["kind"], "files": sorted(p.name for p in out.iterdir())}
    return StepResult(record, _markdown(options, main, summary, n_sig, n_bkg, largest))


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread of each figure per group (a kind's trainings in one train step)."""
    out = []
    for group in dict.fromkeys(r["group"] for r in rows):
        mine = [r for r in rows if r["group"] == group]
        entry: dict[str, Any] = {"kind": mine[0]["kind"], "train_jets": mine[0]["train_jets"],
                                 "parameters": mine[0]["parameters"], "trainings": len(mine),
                                 "models": [r["model"] for r in mine]}
        for figure in ("auc", "accuracy", "rejection"):
            entry[figure], entry[f"{figure}_std"] = _spread([r[figure] for r in mine])
        entry["rejection_stat"] = float(np.mean([r["rejection_err"] for r in mine]))
        out.append(entry)
    return out


def _markdown(options: LandscapeOptions, main, summary, n_sig: int, n_bkg: int, largest) -> str:
    eps = f"{options.efficiency:g}"
    lines = [f"Tested on `{options.data}`: {n_sig:,} signal and {n_bkg:,} background jets. Each figure is the mean "
             "± the standard deviation over the trainings (seeds differ in initialisation, shuffling and the "
             f"validation split); 1/eps_B at eps_S = {eps} also carries its statistical uncertainty from the "
             "finite background (weighted binomial, mean over trainings) in brackets.", ""]
    if options.sample_note:
        lines += [options.sample_note.strip(), ""]
    lines += [f"| model | parameters | trainings | training jets | AUC | accuracy | 1/eps_B at eps_S = {eps} |",
              "|---|---|---|---|---|---|---|"]
    for s in sorted(main, key=lambda s: -s["rejection"]):
        size = "-" if s["parameters"] is None else f"{s['parameters']:,}"
        lines.append(f"| {s['kind']} | {size} | {s['trainings']} | {s['train_jets']:,} | {s['auc']:.4f} ± {s['auc_std']:.4f} | "
                     f"{s['accuracy']:.4f} ± {s['accuracy_std']:.4f} | {s['rejection']:.1f} ± {s['rejection_std']:.1f} "
                     f"(stat. {s['rejection_stat']:.1f}) |")
    if options.published:
        lines += ["", f"Published, on the reference samples (AUC, accuracy, 1/eps_B at eps_S = {eps}):", "",
                  "| jetflow kind | published as | AUC | accuracy | 1/eps_B | source |", "|---|---|---|---|---|---|"]
        for kind in [s["kind"] for s in sorted(main, key=lambda s: -s["rejection"])] + sorted(set(options.published) - set(largest)):
            for p in options.published.get(kind, []):
                lines.append(f"| {kind if kind in largest else '-'} | {p.name} | {_num(p.auc)} | {_num(p.accuracy)} | "
                             f"{p.rejection or '-'} | {p.source} |")
    curve = [s for s in summary if sum(t["kind"] == s["kind"] for t in summary) > 1]
    if curve:
        lines += ["", "Learning curve (`learning_curve.png`):", "",
                  f"| model | training jets | trainings | AUC | 1/eps_B at eps_S = {eps} |", "|---|---|---|---|---|"]
        for s in sorted(curve, key=lambda s: (s["kind"], s["train_jets"])):
            lines.append(f"| {s['kind']} | {s['train_jets']:,} | {s['trainings']} | {s['auc']:.4f} ± {s['auc_std']:.4f} | "
                         f"{s['rejection']:.1f} ± {s['rejection_std']:.1f} |")
    lines += ["", f"![ROC]({options.out}/roc.png)"]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _plot_rocs(options: LandscapeOptions, table, labels, weights, main, out) -> None:
    from jetflow.stats.roc import curve_of_scores
    from jetflow_accumulators.plotting import line_colors, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 7))
    ordered = sorted(main, key=lambda s: -s["rejection"])
    for s, color in zip(ordered, line_colors(plt, len(ordered))):
        curve = curve_of_scores(table[f"score_{s['models'][0]}"], labels, weights)
        keep = (curve.eff_b > 0) & (curve.eff_s > 0.05)
        ax.plot(curve.eff_s[keep], 1 / curve.eff_b[keep], color=color, label=f"{s['kind']} (AUC {s['auc']:.3f})")
    ax.axvline(options.efficiency, color="grey", ls=":", lw=1)
    ax.set_yscale("log")
    ax.set_xlabel(r"signal efficiency $\epsilon_S$")
    ax.set_ylabel(r"background rejection $1/\epsilon_B$")
    ax.set_xlim(0, 1)
    ax.legend(fontsize=14)
    fig.savefig(out / "roc.png", dpi=80, bbox_inches="tight")
    plt.close(fig)


def _plot_learning_curve(summary, efficiency: float, out) -> None:
    from jetflow_accumulators.plotting import line_colors, pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 7))
    kinds = list(dict.fromkeys(s["kind"] for s in summary))
    for kind, color in zip(kinds, line_colors(plt, len(kinds))):
        mine = sorted((s for s in summary if s["kind"] == kind), key=lambda s: s["train_jets"])
        if len(mine) < 2:
            continue
        ax.errorbar([s["train_jets"] for s in mine], [s["rejection"] for s in mine],
                    yerr=[s["rejection_std"] for s in mine], color=color, marker="o", capsize=3, label=kind)
    from matplotlib.ticker import NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # decades only: the minor labels of a short range overlap
    ax.set_xlabel("training jets")
    ax.set_ylabel(rf"$1/\epsilon_B$ at $\epsilon_S = {efficiency:g}$")
    ax.legend(fontsize=14)
    fig.savefig(out / "learning_curve.png", dpi=80, bbox_inches="tight")
    plt.close(fig)
