"""The accumulators plugin's part of a report (hook ``jetflow_report``).

Writes into the report folder the ROCs' tables and plots (:mod:`jetflow_accumulators.roc_report`:
``summary.md``, ``summary.csv``, ``roc.png``, ``roc_all.png``, and per multi-class model
``classes_<model>.md``, ``roc_<model>.png``, ``roc_<model>_all.png``), and:

* ``average_images.png``: average signal and background images (log colour)
  and their difference;
* ``correlation_<name>.png``: per-pixel correlation of the image with a discriminant;
* ``dist_<column>.png``: weighted distributions per label (unit area);
* ``regression.md``, ``response_<column>.png``: the median and the resolution
  of prediction / truth of every regression target, in all and against
  each binning column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from jetflow import ReportPart, hookimpl

from jetflow_accumulators.names import AVERAGE_IMAGE, CORRELATION, HISTS, REGRESSION, ROC
from jetflow_accumulators.plotting import pyplot
from jetflow_accumulators.roc_report import roc_part

LABELS = {1: "signal", 0: "background"}


def _extent(npix: int, size: float = 0.1) -> list[float]:
    half = npix * size / 2
    return [-half, half, -half, half]


def plot_average_images(avg, path: Path, channel: int = 0) -> None:
    from matplotlib.colors import LogNorm, SymLogNorm

    plt = pyplot()
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
    plt = pyplot()
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

    plt = pyplot()
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
    plt = pyplot()
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
        files, lines = roc_part(rocs, result, out)
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
