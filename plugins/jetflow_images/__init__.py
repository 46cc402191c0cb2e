"""Built-in plugin ``images``: jet images with the standard preprocessing.

Config section ``images``::

    images:
      column: image           # the column written
      npix: 25                # npix x npix pixels
      pixel_size: 0.1         # in eta and in phi
      channels: [pt]          # pt, pt_charged, pt_neutral_hadron, pt_photon, n_charged
      translate: true         # leading subjet at the centre
      rotate: true            # second subjet (or principal axis) at -pi/2
      rotation: exact         # exact (constituents) | interpolate (bicubic, on the image)
      flip: true              # heavier half on the right (dphi > 0)
      normalize: none         # none | l1 | l2

Reads the jet table's ``constituents`` (``pt, eta, phi`` and, for the
particle-type channels, ``pt_charged``/... or else ``pdgId``/``charge``),
``subjets`` and the jet axis.  Writes one float32 column
``[n_jets, npix, npix, n_channels]``; see :mod:`jetflow_images.images` for the
axis order and the preprocessing.

References in brackets: docs/references.md.
"""

from __future__ import annotations

from typing import Literal

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import ColumnSpec, ConfigError, Options, hookimpl
from jetflow.physics import constituent_channel_values

from jetflow_images.images import CHANNELS, build_images


class ImageOptions(Options):
    column: str = Field("image", description="name of the image column")
    npix: int = Field(25, ge=2, le=256, description="pixels per side")
    pixel_size: float = Field(0.1, gt=0, description="pixel size in eta and phi")
    channels: list[Literal["pt", "pt_charged", "pt_neutral_hadron", "pt_photon", "n_charged"]] = Field(
        default_factory=lambda: ["pt"], min_length=1, description="image channels ([jet-response] uses all five)"
    )
    translate: bool = Field(True, description="leading subjet at the centre")
    rotate: bool = Field(True, description="second subjet (or principal axis) at -pi/2")
    rotation: Literal["exact", "interpolate"] = Field(
        "exact", description="exact: rotate constituents; interpolate: bicubic rotation of the image"
    )
    flip: bool = Field(True, description="heavier half on the right")
    normalize: Literal["none", "l1", "l2"] = Field("none", description="per-channel normalisation")


@hookimpl
def jetflow_options():
    return ImageOptions


@hookimpl
def jetflow_columns(options):
    opts = options if options is not None else ImageOptions()
    return {
        opts.column: ColumnSpec(
            "Jet image", "GeV", 0, kind="image", pixel_size=opts.pixel_size,
            description=f"float32 [n, {opts.npix} (eta), {opts.npix} (phi), {len(opts.channels)}], preprocessed",
        )
    }


def _flat(array, dtype=np.float64) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array, axis=1)).astype(dtype)


def _channel_values(const, channels: list[str]) -> np.ndarray:
    try:
        return constituent_channel_values(const, channels)
    except ValueError as exc:
        raise ConfigError(f"images.channels: {exc}") from exc


@hookimpl
def jetflow_build_images(jets, ctx):
    return {ctx.options().column: images_of(jets, ctx.options())}


def _two_leading_subjets(subjets, n_sub: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """eta, phi of every jet's first and of its second subjet (0 where it has none), read off the
    flattened subjets: no padded awkward arrays."""
    first = np.cumsum(n_sub) - n_sub  # where each jet's subjets start among the flattened ones
    flat_eta, flat_phi = _flat(subjets.eta), _flat(subjets.phi)
    out = []
    for k in (0, 1):
        has = n_sub > k
        eta, phi = np.zeros(len(n_sub)), np.zeros(len(n_sub))
        eta[has] = flat_eta[first[has] + k]
        phi[has] = flat_phi[first[has] + k]
        out += [eta, phi]
    return tuple(out)


def images_of(jets, opts: ImageOptions) -> np.ndarray:
    """The images of a jet table with the given options (float32 ``[n, npix, npix, channels]``)."""
    const = jets.constituents
    counts = ak.to_numpy(ak.num(const, axis=1)).astype(np.int64)
    subjets = jets.subjets
    n_sub = ak.to_numpy(ak.num(subjets, axis=1))
    lead_eta, lead_phi, sec_eta, sec_phi = _two_leading_subjets(subjets, n_sub)
    center_eta = ak.to_numpy(jets.eta).astype(np.float64)
    center_phi = ak.to_numpy(jets.phi).astype(np.float64)
    if opts.translate:
        center_eta = np.where(n_sub >= 1, lead_eta, center_eta)
        center_phi = np.where(n_sub >= 1, lead_phi, center_phi)
    return build_images(
        counts,
        _flat(const.eta),
        _flat(const.phi),
        _channel_values(const, opts.channels),
        center_eta,
        center_phi,
        sec_eta,
        sec_phi,
        n_sub >= 2,
        npix=opts.npix,
        size=opts.pixel_size,
        rotate=opts.rotate,
        rotation=opts.rotation,
        flip=opts.flip,
        normalize=opts.normalize,
    )


__all__ = ["CHANNELS", "ImageOptions", "build_images"]


def jet_images(jets, **options) -> np.ndarray:
    """Images of a jet table (float32 ``[n, npix, npix, channels]``); ``options`` as the ``images`` section."""
    return images_of(jets, ImageOptions(**options))
