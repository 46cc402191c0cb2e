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
* ``dist_<column>.png``: weighted distributions per label (unit area).

References in brackets: docs/references.md.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from jetflow import ReportPart, hookimpl
from jetflow.stats.roc import EFFICIENCIES

from jetflow_accumulators.names import AVERAGE_IMAGE, CORRELATION, HISTS, ROC

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
        rows.append({"discriminant": name, "kind": roc.direction, **s})
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
    fig, ax = plt.subplots(figsize=(9, 8))
    rows = summary_rows(rocs)
    colors = plt.get_cmap("tab10").colors
    for i, r in enumerate(rows):
        name = r["discriminant"]
        curve = rocs[name].curve()
        keep = (curve.eff_b > 0) & (curve.eff_s >= 0.05)
        # networks solid, likelihood combinations dash-dotted, single observables dashed
        style = "-." if "+" in name else ("-" if name.startswith("score_") else "--")
        ax.plot(curve.eff_s[keep], 1 / curve.eff_b[keep], style, color=colors[i % len(colors)], lw=2,
                label=f"{name} (area {r['area_0.2_0.8']:.1f})")
    ax.plot(np.linspace(0.05, 1, 50), 1 / np.linspace(0.05, 1, 50), "k:", lw=1, label="random")
    ax.axvspan(0.2, 0.8, color="0.93", zorder=0)
    ax.set_yscale("log")
    ax.set_xlim(0.05, 1.0)
    ax.set_xlabel(r"Signal efficiency $\varepsilon_S$")
    ax.set_ylabel(r"Background rejection $1/\varepsilon_B$")
    ax.legend(fontsize=13, loc="upper right")
    if title:
        ax.set_title(title, fontsize=16)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
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
    for label, color in ((1, "tab:red"), (0, "tab:blue")):
        sub = h[{"dataset": sum, "label": label}] if "dataset" in h.axes.name else h[{"label": label}]
        total = sub.values().sum()
        if total <= 0:
            continue
        mplhep.histplot(sub.values() / total / np.diff(sub.axes[0].edges), sub.axes[0].edges, ax=ax,
                        label=LABELS[label], color=color, lw=2)
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
    if not files:
        return None
    return ReportPart("Discriminants, images and distributions", "\n".join(lines), files)
