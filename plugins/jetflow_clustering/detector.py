"""A calorimeter with a response: energy fractions, non-compensation, resolution, thresholds (columnar).

The model (options: :class:`jetflow_clustering.options.DetectorOptions`; the
values are the Delphes CMS card's, ``delphes_card_CMS.tcl``):

* a particle's energy goes to the ECAL and the HCAL in fixed fractions by
  particle type: e, gamma, pi0 all ECAL; K0S and Lambda 30% ECAL, 70% HCAL;
  muons and neutrinos nothing; every other hadron all HCAL;
* the HCAL share of a hadron of energy E is measured as E * pi/e(E) with
  pi/e = 1 - (1 - h/e) (E / E0)^(m - 1) (PDG review "Calorimetry"): hadrons are
  measured below electrons and photons, less so as their energy rises, so a
  jet's response depends on its photon / hadron content;
* each tower's ECAL and HCAL deposits are smeared independently by a
  log-normal whose mean is the deposit and whose width is the calorimeter's
  resolution sigma(E) = f(|eta|) sqrt((c E)^2 + a^2 E + b^2) at that energy;
* a smeared deposit below ``energy_min`` or below ``significance_min`` sigma is lost, sigma
  evaluated at the *measured* energy, as Delphes does when it finalises a tower
  (``Calorimeter::FinalizeTower``): a fixed cut where E = 2 sigma(E), for the HCAL's
  sqrt((0.05 E)^2 + 1.5^2 E) at |eta| < 3 E >= 9/0.99 = 9.09 GeV, for its forward
  sqrt((0.13 E)^2 + 2.7^2 E) 31 GeV.  (Where significance_min x the constant term reaches 1,
  no deposit passes.)

The random numbers come from a counter-based hash of (seed, run, luminosity
block, event, tower cell, calorimeter): the same event gives the same towers
whatever the chunking, the executor or the number of workers.
"""

from __future__ import annotations

import numpy as np

ECAL_ONLY = (11, 22, 111)
"""|pdgId| measured in the ECAL only: electrons, photons, pi0."""
SPLIT = (310, 3122)
"""|pdgId| split between the calorimeters: K0S, Lambda."""
SPLIT_ECAL_FRACTION = 0.3
UNSEEN = (12, 13, 14, 16)
"""|pdgId| the calorimeters do not see: neutrinos and muons."""

_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective mix of 64-bit integers (uint64 arithmetic wraps)."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
    x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
    x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
    return x ^ (x >> np.uint64(31))


def counter_uniform(*keys) -> np.ndarray:
    """Uniform numbers in (0, 1), a pure function of the integer keys (broadcast arrays or scalars).

    Keys are folded in one after the other through SplitMix64, so that any
    change of any key gives an independent-looking number.
    """
    with np.errstate(over="ignore"):
        h = np.zeros(np.broadcast(*[np.asarray(k) for k in keys]).shape, dtype=np.uint64)
        for key in keys:
            h = _splitmix(h ^ np.asarray(key).astype(np.uint64))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def calorimeter_fractions(pdg_id: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fractions of each particle's energy deposited in the ECAL and in the HCAL."""
    pid = np.abs(np.asarray(pdg_id))
    ecal = np.where(np.isin(pid, ECAL_ONLY), 1.0, np.where(np.isin(pid, SPLIT), SPLIT_ECAL_FRACTION, 0.0))
    hcal = np.where(np.isin(pid, ECAL_ONLY) | np.isin(pid, UNSEEN), 0.0, 1.0 - ecal)
    return ecal, hcal


def pi_over_e(energy: np.ndarray, response) -> np.ndarray:
    """The hadron/electron response ratio at energy E (GeV), in [0, 1]."""
    e = np.maximum(np.asarray(energy, dtype=np.float64), 1e-12)
    ratio = 1.0 - (1.0 - response.h_over_e) * (e / response.e0) ** (response.m - 1.0)
    return np.clip(ratio, 0.0, 1.0)


def resolution(energy: np.ndarray, abs_eta: np.ndarray, calorimeter) -> np.ndarray:
    """sigma(E) in GeV of a calorimeter at energy E and |eta| (0 outside its regions)."""
    e = np.asarray(energy, dtype=np.float64)
    sigma = np.zeros_like(e)
    lower = 0.0
    for region in calorimeter.regions:
        inside = (abs_eta >= lower) & (abs_eta <= region.max_abs_eta) & (sigma == 0)
        factor = region.factor + region.slope * (abs_eta - region.centre) ** 2
        term = np.sqrt((region.constant * e) ** 2 + region.stochastic**2 * e + region.noise**2)
        sigma = np.where(inside, factor * term, sigma)
        lower = region.max_abs_eta
    return sigma


def lognormal(mean: np.ndarray, sigma: np.ndarray, uniform: np.ndarray) -> np.ndarray:
    """Log-normal numbers of the given mean and standard deviation, from uniform numbers (inverse CDF)."""
    from scipy.special import ndtri

    mean = np.asarray(mean, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.log1p(np.where(mean > 0, (sigma / mean) ** 2, 0.0))
        mu = np.log(np.where(mean > 0, mean, 1.0)) - 0.5 * s2
        out = np.exp(mu + np.sqrt(s2) * ndtri(uniform))
    return np.where(mean > 0, out, 0.0)


def measure(deposit: np.ndarray, abs_eta: np.ndarray, calorimeter, uniform: np.ndarray) -> np.ndarray:
    """A calorimeter's measured deposits: smeared, and 0 where below its thresholds.

    The deposit is smeared with sigma at its true energy; the significance is then judged with
    sigma at the measured energy, as Delphes' ``Calorimeter::FinalizeTower`` does.
    """
    measured = lognormal(deposit, resolution(deposit, abs_eta, calorimeter), uniform)
    sigma = resolution(measured, abs_eta, calorimeter)
    significant = measured >= calorimeter.significance_min * sigma
    return np.where((measured >= calorimeter.energy_min) & significant, measured, 0.0)


def deposits(energy: np.ndarray, pdg_id: np.ndarray, response) -> tuple[np.ndarray, np.ndarray]:
    """Each particle's mean ECAL and HCAL deposit (GeV), the hadronic one scaled by pi/e."""
    f_ecal, f_hcal = calorimeter_fractions(pdg_id)
    hadronic = energy * f_hcal
    return energy * f_ecal, hadronic * pi_over_e(hadronic, response)
