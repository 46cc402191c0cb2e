"""Built-in plugin ``substructure``: N-subjettiness, Delta R of subjets, image observables.

Config section ``substructure`` (called ``observables`` before jetflow 0.2)::

    substructure:
      axes: wta_kt        # kt | wta_kt | onepass_kt | onepass_wta_kt
      beta: 1.0
      r0: 1.0             # 1.0 for the study; 0.8 with onepass_kt for CMS AK8
      image_column: image # image observables from this column, when present
      composition: false  # the jet's charged / neutral-hadron / photon content (below)

Columns (per jet, computed on the jet's ``constituents``: the trimmed jet for
jets built by the clustering plugin):

``tau1, tau2, tau3``
    N-subjettiness, normalised measure (see :mod:`.nsubjettiness`); 0 for a jet
    with no more constituents than axes.
``tau21, tau32``
    ratios; 0 where the denominator is 0 (jets with 0 or 1 constituent).
``delta_r``
    Delta R(eta, phi) of the two leading subjets; 0 with fewer than 2 subjets.
``image_pt, image_mass, image_tau21``
    from the first channel of the image column ([lagan]; see
    :func:`image_observables`), when a plugin wrote it; its pixel size is the
    one the image column is declared with.

``charged_fraction, neutral_hadron_fraction, photon_fraction, n_charged, n_constituents``
    with ``composition: true``: the shares of the jet's constituent pT carried by
    charged particles, neutral hadrons and photons, the charged-particle
    multiplicity and the number of constituents (towers carry these channels,
    particles get them from ``pdgId`` and ``charge``): the jet-level features of
    [jet-response]'s random forest, and the variables its "what is the model
    learning" plots bin the response in.

Mass, pT, eta, phi (trimmed and untrimmed) and the soft-drop mass come from
the jet builder.  References in brackets: docs/references.md.
"""

from __future__ import annotations

from typing import Literal

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import ColumnSpec, Options, hookimpl
from jetflow.physics import wrap_phi

from jetflow_substructure.axes import AXES_NAMES


class ObservableOptions(Options):
    former_names = ("observables",)

    axes: Literal[AXES_NAMES] = Field("wta_kt", description="N-subjettiness axes")  # type: ignore[valid-type]
    beta: float = Field(1.0, gt=0, description="angular exponent of the measure")
    r0: float = Field(1.0, gt=0, description="characteristic radius of the normalised measure")
    image_column: str = Field("image", description="image observables from this column, when present")
    composition: bool = Field(False, description="charged / neutral-hadron / photon pT fractions and multiplicities")


COLUMNS = {
    "tau1": ColumnSpec(r"$\tau_1$", "", 50, 0.0, 1.0, description="1-subjettiness"),
    "tau2": ColumnSpec(r"$\tau_2$", "", 50, 0.0, 0.6, description="2-subjettiness"),
    "tau3": ColumnSpec(r"$\tau_3$", "", 50, 0.0, 0.4, description="3-subjettiness"),
    "tau21": ColumnSpec(r"$\tau_{21}$", "", 50, 0.0, 1.0, description="tau2 / tau1 (0 if tau1 = 0)"),
    "tau32": ColumnSpec(r"$\tau_{32}$", "", 50, 0.0, 1.0, description="tau3 / tau2 (0 if tau2 = 0)"),
    "delta_r": ColumnSpec(r"$\Delta R$(subjets)", "", 50, 0.0, 1.5, description="leading two subjets (0 if < 2)"),
    "image_pt": ColumnSpec(r"Image $p_T$", "GeV", 100, 0.0, 1000.0, description="[lagan], from the image"),
    "image_mass": ColumnSpec("Image mass", "GeV", 100, 0.0, 250.0, description="[lagan], massless pixels"),
    "image_tau21": ColumnSpec(r"Image $\tau_{21}$", "", 50, 0.0, 1.0, description="[lagan], pixels as particles"),
}

COMPOSITION = {
    "charged_fraction": ColumnSpec("Charged pT fraction", "", 50, 0.0, 1.0, description="[jet-response]"),
    "neutral_hadron_fraction": ColumnSpec("Neutral-hadron pT fraction", "", 50, 0.0, 1.0, description="[jet-response]"),
    "photon_fraction": ColumnSpec("Photon pT fraction", "", 50, 0.0, 1.0, description="[jet-response]"),
    "n_charged": ColumnSpec("Charged multiplicity", "", 80, 0.0, 80.0, description="charged particles in the jet"),
    "n_constituents": ColumnSpec("Constituents", "", 100, 0.0, 200.0, description="particles or towers in the jet"),
}


@hookimpl
def jetflow_options():
    return ObservableOptions


@hookimpl
def jetflow_columns(options):
    columns = dict(COLUMNS)
    if options is not None and options.composition:
        columns.update(COMPOSITION)
    return columns


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def taus(constituents, axes="wta_kt", beta=1.0, r0=1.0) -> np.ndarray:
    """tau_1..3 of jets given their jagged constituents (pt, eta, phi[, mass]): float64 [n, 3]."""
    from jetflow_substructure.nsubjettiness import nsubjettiness

    counts = ak.to_numpy(ak.num(constituents, axis=1)).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    flat = {f: ak.to_numpy(ak.flatten(constituents[f], axis=1)).astype(np.float64) for f in ("pt", "eta", "phi")}
    mass = (
        ak.to_numpy(ak.flatten(constituents["mass"], axis=1)).astype(np.float64)
        if "mass" in constituents.fields
        else None
    )
    return nsubjettiness(offsets, flat["pt"], flat["eta"], flat["phi"], mass, axes=axes, beta=beta, r0=r0)


def subjet_delta_r(subjets) -> np.ndarray:
    """Delta R in (eta, phi) between the two leading subjets; 0 for jets with fewer than two."""
    padded = ak.pad_none(subjets, 2, axis=1, clip=True)
    has2 = ak.to_numpy(ak.num(subjets, axis=1)) >= 2
    e1 = ak.to_numpy(ak.fill_none(padded.eta[:, 0], 0.0))
    e2 = ak.to_numpy(ak.fill_none(padded.eta[:, 1], 0.0))
    p1 = ak.to_numpy(ak.fill_none(padded.phi[:, 0], 0.0))
    p2 = ak.to_numpy(ak.fill_none(padded.phi[:, 1], 0.0))
    dr = np.hypot(e1 - e2, wrap_phi(p1 - p2))
    return np.where(has2, dr, 0.0)


def image_observables(images: np.ndarray, pixel_size: float, axes="wta_kt", beta=1.0, r0=1.0,
                      tau21: bool = True) -> dict[str, np.ndarray]:
    """pT, mass and tau21 of images ([lagan]), from channel 0.

    Each pixel is a massless particle with pT = intensity at the pixel centre
    (deta, dphi) of the image frame::

        pT^2(I) = (sum I cos phi)^2 + (sum I sin phi)^2
        m^2(I)  = (sum I cosh eta)^2 - pT^2(I) - (sum I sinh eta)^2
        tau_N(I) = sum I min_a Delta R(pixel, axis a) / (R0 sum I)

    [lagan] writes the energy term as (sum I)^2, its small-eta limit; the
    exact massless form is used here.  Masses are boost invariant, so the
    translation to the leading subjet changes nothing; the rotation in the
    (eta, phi) plane and the pixel grid cause the small differences from the
    jet mass that the tests measure.  ``tau21=False``: pT and mass only.
    """
    from jetflow_substructure.nsubjettiness import nsubjettiness

    n, h, w = images.shape[:3]
    inten = images[..., 0].astype(np.float64)
    eta = (np.arange(h) - (h - 1) / 2) * pixel_size
    phi = (np.arange(w) - (w - 1) / 2) * pixel_size
    ceta, seta = np.cosh(eta), np.sinh(eta)
    cphi, sphi = np.cos(phi), np.sin(phi)
    # sums over pixels factorise over rows (eta) and columns (phi)
    e = np.einsum("nij,i->n", inten, ceta)
    pz = np.einsum("nij,i->n", inten, seta)
    px = np.einsum("nij,j->n", inten, cphi)
    py = np.einsum("nij,j->n", inten, sphi)
    pt = np.hypot(px, py)
    mass = np.sqrt(np.clip(e**2 - pt**2 - pz**2, 0.0, None))
    if not tau21:  # pT and mass alone: sums over pixels, cheap
        return {"image_pt": pt, "image_mass": mass}
    # N-subjettiness of the lit pixels
    lit = inten > 0
    counts = lit.sum(axis=(1, 2))
    offsets = np.concatenate([[0], np.cumsum(counts)])
    ii, jj = np.nonzero(lit.reshape(n * h, w))
    t = nsubjettiness(offsets, inten[lit], eta[ii % h], phi[jj], None, axes=axes, beta=beta, r0=r0)
    return {"image_pt": pt, "image_mass": mass, "image_tau21": _ratio(t[:, 1], t[:, 0])}


@hookimpl
def jetflow_observables(jets, ctx):
    from jetflow import ConfigError

    opts = ctx.options()
    out = substructure(jets, **opts.model_dump(exclude={"image_column", "composition"}))
    if opts.composition:
        try:
            out.update(composition(jets.constituents))
        except ValueError as exc:
            raise ConfigError(f"{ctx.plugin}.composition: {exc}") from exc
    if opts.image_column in jets.fields:
        spec = ctx.columns.get(opts.image_column)
        if spec is None or spec.pixel_size is None:
            raise ConfigError(
                f"{ctx.plugin}.image_column: the image column {opts.image_column!r} is not declared with a "
                "pixel_size (jetflow.ColumnSpec(kind='image', pixel_size=...)), so its geometry is unknown"
            )
        images = ak.to_numpy(jets[opts.image_column])
        out.update(image_observables(images, spec.pixel_size, opts.axes, opts.beta, opts.r0))
    return out


def composition(constituents) -> dict[str, np.ndarray]:
    """The pT shares of charged particles, neutral hadrons and photons, and the multiplicities, of jagged constituents."""
    from jetflow.physics import constituent_channel_values

    names = ("pt", "pt_charged", "pt_neutral_hadron", "pt_photon", "n_charged")
    counts = ak.to_numpy(ak.num(constituents, axis=1)).astype(np.int64)
    values = constituent_channel_values(constituents, names)
    jet = np.repeat(np.arange(len(counts)), counts)
    sums = np.stack([np.bincount(jet, weights=values[:, k], minlength=len(counts)) for k in range(len(names))], axis=1)
    pt = sums[:, 0]
    return {
        "charged_fraction": _ratio(sums[:, 1], pt),
        "neutral_hadron_fraction": _ratio(sums[:, 2], pt),
        "photon_fraction": _ratio(sums[:, 3], pt),
        "n_charged": sums[:, 4],
        "n_constituents": counts.astype(np.float64),
    }


def substructure(jets, **options) -> dict[str, np.ndarray]:
    """tau1..3, tau21, tau32 and delta_r of a jet table; ``options`` as the ``substructure`` section."""
    opts = ObservableOptions(**options)
    t = taus(jets.constituents, opts.axes, opts.beta, opts.r0)
    return {
        "tau1": t[:, 0], "tau2": t[:, 1], "tau3": t[:, 2],
        "tau21": _ratio(t[:, 1], t[:, 0]), "tau32": _ratio(t[:, 2], t[:, 1]),
        "delta_r": subjet_delta_r(jets.subjets),
    }
