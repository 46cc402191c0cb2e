"""The LAGAN's figures: its training history, and the study's as [lagan] showed them (observables,
average images, confusion matrices, classifier outputs, nearest neighbours)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jetflow_gan.evaluation import CLASSES

LABELS = {"image_pt": r"image $p_T$ [GeV]", "image_mass": "image mass [GeV]", "image_tau21": r"image $\tau_{21}$"}
EXTENT = (-1.25, 1.25, -1.25, 1.25)  # the 25 x 25 frame of 0.1 pixels, (phi, eta)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def observable_distributions(obs: dict[str, tuple[dict, np.ndarray]], path: Path) -> None:
    """Per class (rows) and observable (columns), normalised histograms of every sample's observables
    (name -> (observables, classes))."""
    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    ranges = {"image_pt": (200, 350), "image_mass": (40, 120), "image_tau21": (0, 1)}
    for row, (label, cls) in enumerate(CLASSES.items()):
        for col, key in enumerate(LABELS):
            ax = axes[row, col]
            for name, (values, classes) in obs.items():
                v = values[key][classes == label]
                ax.hist(v, bins=40, range=ranges[key], density=True, histtype="step", lw=1.6, label=f"{name} ({len(v)})")
            ax.set_xlabel(LABELS[key])
            ax.set_title(cls)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def average_images(pythia: tuple[np.ndarray, np.ndarray], gan: tuple[np.ndarray, np.ndarray], path: Path) -> None:
    """Per class: the average Pythia image, the average GAN image (log colour scale) and their difference."""
    import matplotlib.colors as colors

    plt = _plt()
    fig, axes = plt.subplots(2, 3, figsize=(13, 8))
    for row, (label, cls) in enumerate(CLASSES.items()):
        p = pythia[0][pythia[1] == label, ..., 0].mean(axis=0)
        g = gan[0][gan[1] == label, ..., 0].mean(axis=0)
        vmin = max(min(p[p > 0].min(), g[g > 0].min()), 1e-3)
        vmax = max(p.max(), g.max())
        for col, (img, title) in enumerate(((p, f"Pythia {cls}"), (g, f"GAN {cls}"))):
            im = axes[row, col].imshow(img, origin="lower", extent=EXTENT, norm=colors.LogNorm(vmin, vmax), cmap="viridis")
            axes[row, col].set_title(title)
            fig.colorbar(im, ax=axes[row, col], label="mean pixel $p_T$ [GeV]")
        d = g - p
        lim = np.abs(d).max()
        im = axes[row, 2].imshow(d, origin="lower", extent=EXTENT, cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[row, 2].set_title(f"GAN - Pythia, {cls}")
        fig.colorbar(im, ax=axes[row, 2], label="GeV")
    for ax in axes.ravel():
        ax.set_xlabel(r"$\phi'$ (rotated)")
        ax.set_ylabel(r"$\eta'$ (rotated)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def confusion_matrices(matrices: dict[str, list[list[float]]], path: Path) -> None:
    """[lagan]'s Figure 4: the auxiliary classifier's row-normalised confusion matrices."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(matrices), figsize=(5 * len(matrices), 4.3))
    for ax, (name, m) in zip(np.atleast_1d(axes), matrices.items()):
        ax.imshow(np.asarray(m), vmin=0, vmax=1, cmap="Blues")
        for i in range(2):
            for j in range(2):
                ax.text(j, i, f"{100 * m[i][j]:.1f}%", ha="center", va="center",
                        color="white" if m[i][j] > 0.5 else "black", fontsize=13)
        ax.set_xticks([0, 1], ["W", "QCD"])
        ax.set_yticks([0, 1], ["W", "QCD"])
        ax.set_xlabel("auxiliary classifier says")
        ax.set_ylabel("true class")
        ax.set_title(name)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def classifier_outputs(scores: dict[str, np.ndarray], labels: np.ndarray, weights: np.ndarray, aucs: dict[str, float],
                       path: Path) -> None:
    """[lagan]'s Figure 5: the outputs of MaxOut networks trained on different images, on Pythia images."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.8))
    styles = {1: "-", 0: "--"}
    for i, (name, s) in enumerate(scores.items()):
        for label, cls in CLASSES.items():
            sel = labels == label
            ax.hist(s[sel], bins=40, range=(0, 1), weights=weights[sel], density=True, histtype="step", lw=1.6,
                    ls=styles[label], color=f"C{i}", label=f"{name} (AUC {aucs[name]:.3f}), {cls}")
    ax.set_xlabel("MaxOut output on held-out Pythia images")
    ax.set_ylabel("normalised")
    ax.set_yscale("log")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def gallery(queries: np.ndarray, neighbours: np.ndarray, path: Path) -> None:
    """[lagan]'s Figure 6: Pythia images (top) and their nearest generated neighbours (bottom)."""
    import matplotlib.colors as colors

    plt = _plt()
    n = len(queries)
    fig, axes = plt.subplots(2, n, figsize=(2.3 * n, 5))
    for j in range(n):
        for i, (img, name) in enumerate(((queries[j], "Pythia"), (neighbours[j], "nearest GAN"))):
            ax = axes[i, j]
            ax.imshow(img[..., 0] + 1e-3, origin="lower", extent=EXTENT, norm=colors.LogNorm(1e-1, 200), cmap="viridis")
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(name)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def training_history(history: dict[str, list], path: Path, best_epoch: int, title: str = "LAGAN training") -> None:
    """The losses, the auxiliary accuracy (where there is one) and the held-out distances per epoch; the saved
    epoch marked."""
    plt = _plt()
    epochs = np.arange(1, len(history["d_loss"]) + 1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    axes[0].plot(epochs, history["d_loss"], label="discriminator")
    axes[0].plot(epochs, history["g_loss"], label="generator")
    if "aux_accuracy" in history:
        axes[0].plot(epochs, history["aux_accuracy"], label="auxiliary accuracy (held-out real)")
    axes[0].set_xlabel("epoch")
    axes[0].legend()
    if history["distance"]:
        for key in history["distance"][0]:
            axes[1].plot(epochs, [d[key] for d in history["distance"]], label=key)
    if best_epoch >= 0:
        axes[1].axvline(best_epoch + 1, color="grey", ls=":", label="saved generator")
    axes[1].set_xlabel("epoch")
    axes[1].set_ylabel("W1(generated, real) / spread of real")
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
