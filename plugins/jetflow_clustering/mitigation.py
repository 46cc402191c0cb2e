"""Pile-up mitigation on the clustering inputs: SoftKiller (Cacciari, Salam, Soyez, arXiv:1407.0408), columnar.

Each event's acceptance ``|eta| < max_abs_eta`` is cut into patches of
``grid x grid`` (phi: the nearest whole number of patches around the circle);
the pT cut of the event is the median over all its patches of the hardest
input in each patch (an empty patch counts 0); inputs below the cut are
removed, everywhere.  Half the patches are then empty of inputs above the
cut: the soft, uniform pile-up goes, the hard jets' cores stay.
"""

from __future__ import annotations

import numpy as np


def softkiller_cuts(pt: np.ndarray, eta: np.ndarray, phi: np.ndarray, counts: np.ndarray, grid: float,
                    max_abs_eta: float) -> np.ndarray:
    """The pT cut of every event (GeV): the median over its patches of the patch's largest pT."""
    n_events = len(counts)
    n_eta = max(1, int(round(2 * max_abs_eta / grid)))
    n_phi = max(1, int(round(2 * np.pi / grid)))
    n_patches = n_eta * n_phi
    event = np.repeat(np.arange(n_events), counts)
    inside = np.abs(eta) < max_abs_eta
    ieta = np.clip(((eta[inside] + max_abs_eta) / (2 * max_abs_eta) * n_eta).astype(np.int64), 0, n_eta - 1)
    iphi = np.clip((np.mod(phi[inside] + np.pi, 2 * np.pi) / (2 * np.pi) * n_phi).astype(np.int64), 0, n_phi - 1)
    hardest = np.zeros(n_events * n_patches)
    np.maximum.at(hardest, event[inside] * n_patches + ieta * n_phi + iphi, pt[inside])
    return np.median(hardest.reshape(n_events, n_patches), axis=1)


def softkiller(fields: dict[str, np.ndarray], counts: np.ndarray, grid: float = 0.4,
               max_abs_eta: float = 4.0) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The inputs that survive SoftKiller, their counts per event, and each event's pT cut."""
    cuts = softkiller_cuts(fields["pt"], fields["eta"], fields["phi"], counts, grid, max_abs_eta)
    event = np.repeat(np.arange(len(counts)), counts)
    keep = fields["pt"] >= cuts[event]
    return ({f: v[keep] for f, v in fields.items()}, np.bincount(event[keep], minlength=len(counts)).astype(np.int64),
            cuts)
