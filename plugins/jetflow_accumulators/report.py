"""The accumulators plugin's part of a report (hook ``jetflow_report``).

Writes into the report folder:

* ``roc.png``: rejection 1/eps_B (log scale) against signal efficiency eps_S
  for every discriminant and combination ([jet-images]'s way of drawing a ROC);
* ``summary.md``, ``summary.csv``: rejection at eps_S = 0.2 ... 0.8 with
  uncertainties, the standard AUC and [jet-images]'s area under the
  rejection over eps_S in [0.2, 0.8];
* ``average_images.png``: average signal and background images (log colour)
  and their difference;
* ``correlation_<name>.png``: per-pixel correlation of the image with a discriminant;
* ``dist_<column>.png``: weighted distributions per label (unit area);
* ``classes_<model>.md``, ``roc_<model>.png``: for a multi-class model, each class against the rest and
  against each other class (one-vs-one), as AUCs and as rejection curves;
* ``regression.md``, ``response_<column>.png``: the median and the resolution
  of prediction / truth of every regression target, in all and against
  each binning column.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from jetflow import ReportPart, hookimpl
from jetflow.stats.roc import EFFICIENCIES

from jetflow_accumulators.names import AVERAGE_IMAGE, CORRELATION, HISTS, REGRESSION, ROC

LABELS = {1: "signal", 0: "background"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import mplhep

    mplhep.style.use("CMS")
    return plt


def summary_rows(rocs: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per ROC: name, rejections with errors, AUC, area; sorted by area (best first)."""
    rows = []
    for name, roc in rocs.items():
        try:
            s = roc.summary()
        except ValueError:
            continue  # no signal or no background in this ROC
        kind = roc.direction if getattr(roc, "group", None) is None else f"{roc.direction}, one-vs-rest"
        rows.append({"discriminant": name, "kind": kind, **s})
    return sorted(rows, key=lambda r: -r["area_0.2_0.8"])


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


def plot_rocs(rocs: dict[str, Any], path: Path, title: str = "") -> None:
    plt = _plt()
    rows = summary_rows(rocs)
    # many curves (networks, combinations binned and learned): the legend beside the axes, not over the curves
    fig, ax = plt.subplots(figsize=(9 + (5 if len(rows) > 8 else 0), 8))
    colors = plt.get_cmap("tab10").colors
    for i, r in enumerate(rows):
        name = r["discriminant"]
        curve = rocs[name].curve()
        keep = (curve.eff_b > 0) & (curve.eff_s >= 0.05)
        # networks solid, binned likelihood combinations dash-dotted, learned ones dotted, single observables dashed
        style = "-." if "+" in name else (":" if name.startswith("score_lr_") else
                                          "-" if name.startswith("score_") else "--")
        ax.plot(curve.eff_s[keep], 1 / curve.eff_b[keep], style, color=colors[i % len(colors)], lw=2,
                label=f"{name} (area {r['area_0.2_0.8']:.1f})")
    ax.plot(np.linspace(0.05, 1, 50), 1 / np.linspace(0.05, 1, 50), "k:", lw=1, label="random")
    ax.axvspan(0.2, 0.8, color="0.93", zorder=0)
    ax.set_yscale("log")
    ax.set_xlim(0.05, 1.0)
    ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
    if len(rows) > 8:
        ax.legend(fontsize=12, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize=13, loc="upper right")
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


def plot_classes(group: str, classes: dict[int, tuple[str, Any]], path: Path) -> None:
    """Rejection curves of a multi-class model: each class against the rest (solid) and each pair (dashed)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(13, 8))
    colors = plt.get_cmap("tab10").colors
    curves = [(f"{name} vs rest", roc, (c,), roc.rest((c,)), "-") for c, (name, roc) in classes.items()]
    curves += [(f"{name} vs {other}", roc, (c,), (d,), "--") for c, (name, roc) in classes.items()
               for d, (other, _) in classes.items() if d > c]
    for i, (label, roc, signal, background, style) in enumerate(curves):
        try:
            curve = roc.curve(signal=signal, background=background)
        except ValueError:
            continue
        keep = (curve.eff_b > 0) & (curve.eff_s >= 0.05)
        ax.plot(curve.eff_s[keep], 1 / curve.eff_b[keep], style, color=colors[i % len(colors)], lw=2,
                label=f"{label} (AUC {curve.auc():.3f})")
    ax.set_yscale("log")
    ax.set_xlim(0.05, 1.0)
    ax.set_xlabel(r"Efficiency of the signal class $\varepsilon_S$")
    ax.set_ylabel(r"Rejection of the background class(es) $1/\varepsilon_B$")
    ax.set_title(f"{group}: one-vs-rest and one-vs-one", fontsize=16)
    ax.legend(fontsize=11, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _extent(npix: int, size: float = 0.1) -> list[float]:
    half = npix * size / 2
    return [-half, half, -half, half]


def plot_average_images(avg, path: Path, channel: int = 0) -> None:
    from matplotlib.colors import LogNorm, SymLogNorm

    plt = _plt()
    sig, bkg = avg.mean(1)[..., channel], avg.mean(0)[..., channel]
    diff = avg.difference()[..., channel]
    positive = np.concatenate([sig[sig > 0], bkg[bkg > 0]])
    vmin = max(positive.min(), positive.max() * 1e-5) if positive.size else 1e-3
    vmax = positive.max() if positive.size else 1.0
    ext = _extent(sig.shape[0])
    fig, axes = plt.subplots(1, 3, figsize=(21, 6.5))
    for ax, img, title in ((axes[0], sig, "signal"), (axes[1], bkg, "background")):
        im = ax.imshow(np.where(img > 0, img, np.nan), origin="lower", extent=ext, norm=LogNorm(vmin, vmax), cmap="viridis")
        ax.set_title(f"Average {title} image ({avg.count[1 if title == 'signal' else 0]} jets)", fontsize=15)
        fig.colorbar(im, ax=ax, label=r"$\langle p_T \rangle$ per pixel [GeV]")
    lim = np.abs(diff).max() or 1.0
    norm = SymLogNorm(linthresh=lim * 1e-3, vmin=-lim, vmax=lim, base=10)
    im = axes[2].imshow(diff, origin="lower", extent=ext, cmap="RdBu_r", norm=norm)
    axes[2].set_title("Signal − background (symmetric log)", fontsize=15)
    fig.colorbar(im, ax=axes[2], label=r"$\Delta\langle p_T \rangle$ [GeV]")
    for ax in axes:
        ax.set_xlabel(r"[Translated, rotated] $\phi$")
        ax.set_ylabel(r"[Translated, rotated] $\eta$")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_correlation(corr, name: str, path: Path, channel: int = 0) -> None:
    plt = _plt()
    c = corr.correlation(name)[..., channel]
    fig, ax = plt.subplots(figsize=(8.5, 7))
    lim = max(np.abs(c).max(), 1e-3)
    im = ax.imshow(c, origin="lower", extent=_extent(c.shape[0]), cmap="RdBu_r", vmin=-lim, vmax=lim)
    fig.colorbar(im, ax=ax, label=f"Pearson correlation with {name}")
    ax.set_xlabel(r"[Translated, rotated] $\phi$")
    ax.set_ylabel(r"[Translated, rotated] $\eta$")
    ax.set_title(f"Per-pixel correlation with {name}", fontsize=15)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_distribution(h, column: str, path: Path) -> None:
    import mplhep

    plt = _plt()
    fig, ax = plt.subplots(figsize=(9, 7))
    drawn = False
    axis = list(h.axes["label"])
    labels = [lab for lab in (1, 0) if lab in axis] + sorted(lab for lab in axis if lab not in (1, 0))
    colors = {1: "tab:red", 0: "tab:blue"}
    for i, label in enumerate(labels):
        color = colors.get(label, ("tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:gray")[i % 5])
        index = h.axes["label"].index(label)
        sub = h[{"dataset": sum, "label": index}] if "dataset" in h.axes.name else h[{"label": index}]
        total = sub.values().sum()
        if total <= 0:
            continue
        mplhep.histplot(sub.values() / total / np.diff(sub.axes[0].edges), sub.axes[0].edges, ax=ax,
                        label=LABELS[label] if len(labels) == 2 else f"label {label}", color=color, lw=2)
        drawn = True
    if not drawn:
        plt.close(fig)
        return
    ax.set_xlabel(h.axes[column].label)
    ax.set_ylabel("Weighted jets, unit area")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)



def _pm(value: float, err: float, digits: int = 4) -> str:
    return "-" if not np.isfinite(value) else f"{value:.{digits}f} ± {err:.{digits}f}"


def regression_tables(hists: dict[str, Any]) -> str:
    """Markdown: per target the median and resolution of prediction / truth in all jets, then per binning."""
    lines = ["| target | jets (n_eff) | median | resolution (q84 - q16) / 2 q50 | without truth |", "|---|---|---|---|---|"]
    for key, h in hists.items():
        target, versus = key.split("|", 1)
        if versus != "all":
            continue
        s = h.summary(inclusive=True)
        lines.append(f"| {target} | {s['n_eff'][0]:.0f} | {_pm(s['median'][0], s['median_err'][0])} | "
                     f"{_pm(s['resolution'][0], s['resolution_err'][0])} | {h.unfilled[0]:.0f} |")
    for key, h in hists.items():
        target, versus = key.split("|", 1)
        if versus == "all":
            continue
        s = h.summary()
        lines += ["", f"{target} against {versus}:", "", f"| {versus} | n_eff | median | resolution |", "|---|---|---|---|"]
        labels = [f"< {h.edges[0]:g}", *(f"[{a:g}, {b:g})" for a, b in zip(h.edges[:-1], h.edges[1:])), f">= {h.edges[-1]:g}"]
        for label, n, m, me, r, re in zip(labels, s["n_eff"], s["median"], s["median_err"], s["resolution"],
                                          s["resolution_err"]):
            if n > 0:
                lines.append(f"| {label} | {n:.0f} | {_pm(m, me)} | {_pm(r, re)} |")
    return "\n".join(lines) + "\n"


def plot_response(hists: dict[str, Any], versus: str, path: Path) -> None:
    """Median and resolution of every target against one binning column, with statistical errors.

    Each target has its own colour and marker, and its points are shifted
    within the bin (the bar shows the bin) so that targets do not hide each other.
    """
    plt = _plt()
    selected = {key.split("|", 1)[0]: h for key, h in hists.items() if key.split("|", 1)[1] == versus}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 9), sharex=True)
    colours = plt.get_cmap("tab10" if len(selected) <= 10 else "tab20").colors
    markers = "osD^vP*Xhp"
    for i, (target, h) in enumerate(selected.items()):
        s = h.summary()
        inner = slice(1, len(h.edges))  # the bins, without under- and overflow
        lo, hi = h.edges[:-1].astype(float), h.edges[1:].astype(float)
        width = hi - lo
        x = lo + width * (i + 1) / (len(selected) + 1)
        style = dict(fmt=markers[i % len(markers)], color=colours[i % len(colours)], label=target, capsize=0)
        top.errorbar(x, s["median"][inner], xerr=(x - lo, hi - x), yerr=s["median_err"][inner], elinewidth=0.6, **style)
        bottom.errorbar(x, s["resolution"][inner], xerr=(x - lo, hi - x), yerr=s["resolution_err"][inner],
                        elinewidth=0.6, **style)
    top.axhline(1.0, color="k", lw=1, ls=":")
    top.set_ylabel("median (prediction / truth)", fontsize=16)
    bottom.set_ylabel(r"$(q_{84} - q_{16})\,/\,2 q_{50}$", fontsize=16)
    bottom.set_xlabel(versus)
    top.legend(fontsize=12, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _combined(result, name: str):
    try:
        return result.combined(name)
    except KeyError:
        return None


@hookimpl
def jetflow_report(result, out, columns):
    files: list[Path] = []
    lines: list[str] = []
    rocs = _combined(result, ROC)
    if rocs:
        rows = summary_rows(rocs)
        write_tables(rows, out)
        plot_rocs(rocs, out / "roc.png")
        files += [out / "summary.md", out / "summary.csv", out / "roc.png"]
        lines += ["Rejection 1/eps_B at signal efficiency eps_S:", "", (out / "summary.md").read_text(), "",
                  "![ROC curves](roc.png)", ""]
        for group, classes in class_groups(rocs).items():
            (out / f"classes_{group}.md").write_text(class_table(group, classes))
            plot_classes(group, classes, out / f"roc_{group}.png")
            files += [out / f"classes_{group}.md", out / f"roc_{group}.png"]
            lines += [(out / f"classes_{group}.md").read_text(), "", f"![{group}: classes](roc_{group}.png)", ""]
    avg = _combined(result, AVERAGE_IMAGE)
    if avg is not None:
        plot_average_images(avg, out / "average_images.png")
        files.append(out / "average_images.png")
        lines += ["![Average images](average_images.png)", ""]
    corr = _combined(result, CORRELATION)
    if corr is not None:
        for name in corr.names:
            path = out / f"correlation_{name}.png"
            plot_correlation(corr, name, path)
            files.append(path)
            lines += [f"![Per-pixel correlation with {name}]({path.name})", ""]
    hists = _combined(result, HISTS) or {}
    drawn = []
    for column, h in hists.items():
        if columns is not None and column not in columns:
            continue
        path = out / f"dist_{column}.png"
        plot_distribution(h, column, path)
        if path.exists():
            files.append(path)
            drawn.append(f"[{column}]({path.name})")
    if drawn:
        lines += ["Distributions (weighted, unit area): " + ", ".join(drawn) + ".", ""]
    regression = _combined(result, REGRESSION) or {}
    if regression:
        (out / "regression.md").write_text(regression_tables(regression))
        files.append(out / "regression.md")
        lines += ["Regression: prediction / truth", "", (out / "regression.md").read_text(), ""]
        for versus in sorted({key.split("|", 1)[1] for key in regression} - {"all"}):
            path = out / f"response_{versus}.png"
            plot_response(regression, versus, path)
            files.append(path)
            lines += [f"![Response and resolution against {versus}]({path.name})", ""]
    if not files:
        return None
    return ReportPart("Discriminants, images and distributions", "\n".join(lines), files)
