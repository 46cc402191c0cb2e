"""The ROC part of the accumulators plugin's report: tables and rejection curves of the ``roc`` accumulators.

Writes into the report folder:

* ``summary.md``, ``summary.csv``: rejection at eps_S = 0.2 ... 0.8 with
  uncertainties, the standard AUC and [jet-images]'s area under the
  rejection over eps_S in [0.2, 0.8], best area first;
* ``roc.png``: rejection 1/eps_B (log scale) against signal efficiency eps_S
  ([jet-images]'s way of drawing a ROC) of the best discriminant of each kind
  (:func:`best_of_each_kind`: model scores, learned combinations, binned
  combinations, single observables), best by the figure of merit the table
  is sorted by, the area; ``roc_all.png``: every discriminant and combination;
* ``classes_<model>.md``, ``roc_<model>.png``, ``roc_<model>_all.png``: for a multi-class model, each class
  against the rest and against each other class (one-vs-one) as AUCs; as rejection curves each class
  against the rest (one curve per class), and with every pair.

The kinds are the columns' ``ColumnSpec`` kinds, declared again under the run's configuration
(:func:`column_kinds`); a ROC of 2-3 columns is their binned likelihood combination.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from jetflow.core.engine import Engine
from jetflow.core.errors import JetflowError
from jetflow.stats.roc import EFFICIENCIES

from jetflow_accumulators.plotting import line_colors, pyplot


def summary_rows(rocs: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per ROC: name, rejections with errors, AUC, area; sorted by area, then AUC (best first)."""
    rows = []
    for name, roc in rocs.items():
        try:
            s = roc.summary()
        except ValueError:
            continue  # no signal or no background in this ROC
        kind = roc.direction if getattr(roc, "group", None) is None else f"{roc.direction}, one-vs-rest"
        rows.append({"discriminant": name, "kind": kind, **s})
    return sorted(rows, key=lambda r: (-r["area_0.2_0.8"], -r["auc"]))


def _fmt(value: float, err: float) -> str:
    if not np.isfinite(value):
        return "inf"
    digits = 1 if value >= 10 else 2
    return f"{value:.{digits}f} ± {err:.{digits}f}"


def write_tables(rows: list[dict[str, Any]], out: Path) -> None:
    header = ["discriminant", "kind", *[f"rej@{e:.1f}" for e in EFFICIENCIES], "auc", "area_0.2_0.8"]
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header[:2] + [x for e in EFFICIENCIES for x in (f"rej@{e:.1f}", f"err@{e:.1f}")] + header[-2:])
        for r in rows:
            w.writerow(
                [r["discriminant"], r["kind"]]
                + [f"{r[k]:.6g}" for e in EFFICIENCIES for k in (f"rej@{e:.1f}", f"err@{e:.1f}")]
                + [f"{r['auc']:.6f}", f"{r['area_0.2_0.8']:.6g}"]
            )
    lines = [
        "| discriminant | " + " | ".join(f"1/eps_B @ eps_S={e:.1f}" for e in EFFICIENCIES) + " | AUC | area [0.2, 0.8] |",
        "|---|" + "---|" * (len(EFFICIENCIES) + 2),
    ]
    for r in rows:
        cells = [_fmt(r[f"rej@{e:.1f}"], r[f"err@{e:.1f}"]) for e in EFFICIENCIES]
        lines.append(f"| {r['discriminant']} | " + " | ".join(cells) + f" | {r['auc']:.3f} | {r['area_0.2_0.8']:.2f} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")


BINNED = "binned"
"""The kind of a ROC of 2-3 columns: their binned likelihood ratio (``accumulators.roc.combinations``)."""

KINDS = {
    "score": ("model score", "-"),
    "combination": ("learned combination", ":"),
    BINNED: ("binned combination", "-."),
    "observable": ("single observable", "--"),
}
"""The kinds of discriminant ``roc.png`` shows one of each (a ColumnSpec kind, or :data:`BINNED`), their names
in the legend and their line styles."""

OTHER_KIND = ("other discriminant", (0, (5, 1.5, 1, 1.5, 1, 1.5)))
"""Name and line style of a discriminant of any other kind (``other``, a column no plugin declared, or any
column when the run's columns are unknown: :func:`column_kinds`)."""

AREA = "area under 1/eps_B for eps_S in [0.2, 0.8]"
"""The figure of merit the table is sorted by and the best of each kind is chosen by."""

BEST_TITLE = r"Best of each kind, by the area of $1/\varepsilon_B$ over $\varepsilon_S \in [0.2, 0.8]$"
"""The title of ``roc.png``: which curves it shows, by which figure of merit (:data:`AREA`)."""


def column_kinds(result) -> dict[str, str]:
    """``{column: ColumnSpec kind}`` of every column the run declared.

    A run keeps them in its ``meta["column_kinds"]``.  Of a result without them (written before they were
    kept), the columns are declared again, by the result's plugins under the result's own configuration
    (``result.config``, which validates back to the run's); nothing is prepared.  When it no longer
    validates, a warning says why and no kind is known (every single column is then an "other discriminant").
    """
    kept = (result.meta or {}).get("column_kinds")
    if kept:
        return dict(kept)
    try:
        specs = Engine.build(result.config or {}, prepare=False).column_specs()
    except JetflowError as exc:
        warnings.warn(f"report: the kinds of the discriminants are unknown, since the result's configuration does "
                      f"not validate here ({exc}); roc.png shows the best binned combination and the best of the "
                      "other discriminants", stacklevel=2)
        return {}
    return {name: spec.kind for name, spec in specs.items()}


def discriminant_kind(roc, kinds: dict[str, str]) -> str | None:
    """What a ROC judges: :data:`BINNED` for 2-3 columns, else its column's kind (``None``: not declared)."""
    return BINNED if len(roc.names) > 1 else kinds.get(roc.names[0])


def _kind_style(roc, kinds: dict[str, str]) -> tuple[str, Any]:
    name, style = KINDS.get(discriminant_kind(roc, kinds), OTHER_KIND)
    return (f"{name}, one-vs-rest" if roc.group is not None else name), style


def best_of_each_kind(rows: list[dict[str, Any]], rocs: dict[str, Any], kinds: dict[str, str]) -> list[dict[str, Any]]:
    """The best row of each kind of signal-against-background discriminant, best first.

    ``rows`` are :func:`summary_rows` (sorted by :data:`AREA`, then AUC), so the first row of a kind is its best.
    Every kind not in :data:`KINDS` counts as one. A multi-class model's class against the rest is left out: it
    answers another question, shown in the model's own plot (:func:`plot_classes`).
    """
    seen, best = set(), []
    for row in rows:
        roc = rocs[row["discriminant"]]
        kind = discriminant_kind(roc, kinds)
        kind = kind if kind in KINDS else None
        if roc.group is None and kind not in seen:
            seen.add(kind)
            best.append(row)
    return best


def plot_rocs(rocs: dict[str, Any], rows: list[dict[str, Any]], kinds: dict[str, str], path: Path,
              title: str = "") -> None:
    """Rejection against signal efficiency of the discriminants of ``rows``, in their order.

    Each curve is drawn in its kind's line style (:data:`KINDS`), labelled with its kind and its area, and
    carries its discriminant's name as its ``gid``.
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(15, 8))  # the legend beside the axes, not over the curves
    colors = line_colors(plt, len(rows))
    for i, r in enumerate(rows):
        name = r["discriminant"]
        curve = rocs[name].curve()
        keep = (curve.eff_b > 0) & (curve.eff_s >= 0.05)
        kind, style = _kind_style(rocs[name], kinds)
        ax.plot(curve.eff_s[keep], 1 / curve.eff_b[keep], linestyle=style, color=colors[i % len(colors)], lw=2,
                gid=name, label=f"{name}: {kind} (area {r['area_0.2_0.8']:.1f})")
    ax.plot(np.linspace(0.05, 1, 50), 1 / np.linspace(0.05, 1, 50), "k:", lw=1, label="random")
    ax.axvspan(0.2, 0.8, color="0.93", zorder=0)
    ax.set_yscale("log")
    ax.set_xlim(0.05, 1.0)
    ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
    ax.legend(fontsize=12 if len(rows) > 8 else 13, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        ax.set_title(title, fontsize=16)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def class_groups(rocs: dict[str, Any]) -> dict[str, dict[int, tuple[str, Any]]]:
    """The ROCs of multi-class models: model -> {label: (class name, its one-vs-rest ROC)}."""
    groups: dict[str, dict[int, tuple[str, Any]]] = {}
    for name, roc in rocs.items():
        group = getattr(roc, "group", None)
        if group is not None:
            groups.setdefault(group, {})[roc.signal[0]] = (name.removeprefix(f"score_{group}_"), roc)
    return {g: dict(sorted(classes.items())) for g, classes in groups.items()}


def _auc(roc, signal, background) -> float:
    try:
        return roc.summary(signal=signal, background=background)["auc"]
    except ValueError:
        return float("nan")  # no jets of one side


def class_table(group: str, classes: dict[int, tuple[str, Any]]) -> str:
    """A multi-class model's AUCs: each class against the rest, and row class c's probability separating c from
    column class d (one-vs-one; the mean of (c, d) and (d, c) is Hand and Till's pair AUC)."""
    names = [name for name, _ in classes.values()]
    lines = [f"Model `{group}`: AUC of each class's probability, against the rest and against each other class "
             "(row: the class taken as signal; column: the class taken as background).", "",
             "| class | vs rest | " + " | ".join(f"vs {n}" for n in names) + " |",
             "|---|---|" + "---|" * len(names)]
    for c, (name, roc) in classes.items():
        cells = ["-" if d == c else f"{_auc(roc, (c,), (d,)):.3f}" for d in classes]
        lines.append(f"| {name} | {_auc(roc, (c,), roc.rest((c,))):.3f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_classes(group: str, classes: dict[int, tuple[str, Any]], path: Path, pairs: bool = False) -> None:
    """Rejection curves of a multi-class model: each class against the rest (solid), one curve per class, and
    with ``pairs`` each pair too (dashed).  Each curve carries its legend's ``<class> vs <rest or class>`` as its
    ``gid``."""
    plt = pyplot()
    curves = [(f"{name} vs rest", roc, (c,), roc.rest((c,)), "-") for c, (name, roc) in classes.items()]
    if pairs:
        curves += [(f"{name} vs {other}", roc, (c,), (d,), "--") for c, (name, roc) in classes.items()
                   for d, (other, _) in classes.items() if d > c]
    many = len(curves) > 8
    fig, ax = plt.subplots(figsize=(13 if many else 9, 8))
    colors = line_colors(plt, len(curves))
    for i, (label, roc, signal, background, style) in enumerate(curves):
        try:
            curve = roc.curve(signal=signal, background=background)
        except ValueError:
            continue
        keep = (curve.eff_b > 0) & (curve.eff_s >= 0.05)
        ax.plot(curve.eff_s[keep], 1 / curve.eff_b[keep], style, color=colors[i % len(colors)], lw=2, gid=label,
                label=f"{label} (AUC {curve.auc():.3f})")
    ax.set_yscale("log")
    ax.set_xlim(0.05, 1.0)
    ax.set_xlabel(r"Efficiency of the signal class $\varepsilon_S$")
    ax.set_ylabel(r"Rejection of the background class(es) $1/\varepsilon_B$")
    ax.set_title(f"{group}: " + ("one-vs-rest and one-vs-one" if pairs else "each class against the rest"),
                 fontsize=16)
    if many:
        ax.legend(fontsize=12, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=13, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def roc_part(rocs: dict[str, Any], result, out: Path) -> tuple[list[Path], list[str]]:
    """The files and the Markdown of the ROCs: the rejection table, the best of each kind and every
    discriminant, then per multi-class model its AUC table, each class against the rest and every pair."""
    rows = summary_rows(rocs)
    write_tables(rows, out)
    files = [out / "summary.md", out / "summary.csv"]
    lines = ["Rejection 1/eps_B at signal efficiency eps_S:", "", (out / "summary.md").read_text(), ""]
    kinds = column_kinds(result)
    best = best_of_each_kind(rows, rocs, kinds)
    if best:
        plot_rocs(rocs, best, kinds, out / "roc.png", title=BEST_TITLE)
        chosen = ", ".join(f"{r['discriminant']} ({_kind_style(rocs[r['discriminant']], kinds)[0]})" for r in best)
        files.append(out / "roc.png")
        note = " (signal against background; the classes of a multi-class model are drawn below)" if any(
            roc.group is not None for roc in rocs.values()) else ""
        lines += ["![ROC curves](roc.png)", "",
                  f"The best discriminant of each kind by the {AREA} (the table's last column){note}: {chosen}. "
                  "Every discriminant:", ""]
    plot_rocs(rocs, rows, kinds, out / "roc_all.png", title="Every discriminant")
    files.append(out / "roc_all.png")
    lines += ["![ROC curves of every discriminant](roc_all.png)", ""]
    for group, classes in class_groups(rocs).items():
        main, every = out / f"roc_{group}.png", out / f"roc_{group}_all.png"
        taken = {f.name for f in files} & {main.name, every.name}
        if taken:
            raise ValueError(f"report: the ROC plots of multi-class model {group!r} would overwrite "
                             f"{', '.join(sorted(taken))}; give the model another name")
        (out / f"classes_{group}.md").write_text(class_table(group, classes))
        plot_classes(group, classes, main)
        plot_classes(group, classes, every, pairs=True)
        files += [out / f"classes_{group}.md", main, every]
        lines += [(out / f"classes_{group}.md").read_text(), "",
                  f"![{group}: each class against the rest]({main.name})", "",
                  f"![{group}: each class against the rest and against each other class]({every.name})", ""]
    return files, lines
