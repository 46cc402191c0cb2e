"""Calorimeter towers ([jet-images], eq. 2.1) and constituent channel fields, columnar.

A tower grid of ``size x size`` cells in (eta, phi) covers ``|eta| < max_abs_eta``.
Along phi, ``round(2 pi / size)`` cells (63 for size 0.1, each 2 pi / 63 = 0.0997
wide) tile the circle exactly.  The energies of the visible particles that fall
in a cell are summed as scalars, and the tower is the massless four-vector

    p_j = E_j (cos phi_j / cosh eta_j, sin phi_j / cosh eta_j, tanh eta_j, 1)

at the cell centre (eta_j, phi_j), so ``pT_j = E_j / cosh eta_j``.  Particles
outside the acceptance (``|eta| >= max_abs_eta``) hit no tower, and
:func:`build_towers` reports how much energy that was.  Without a detector
model the tower energies are exact ([jet-images]); with one
(:mod:`jetflow_clustering.detector`) each tower's ECAL and HCAL deposits are
measured: a response, a resolution and thresholds.

Every constituent (particle or tower) carries the channel fields the
multi-channel jet images of [jet-response] need: ``pt_charged``, ``pt_neutral_hadron``,
``pt_photon`` (pT carried by charged particles, neutral hadrons, photons) and
``n_charged`` (charged-particle multiplicity).  A particle puts all its pT in one
channel; a tower sums them, scaled to the tower's pT.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from jetflow.physics import particle_channels

CONSTITUENT_FIELDS = (
    "pt",
    "eta",
    "phi",
    "mass",
    "pdgId",
    "charge",
    "pt_charged",
    "pt_neutral_hadron",
    "pt_photon",
    "n_charged",
)


def _flat(array, dtype=np.float64) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array, axis=1)).astype(dtype)


def particles_table(particles: ak.Array) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Flat constituent fields of jetflow's ``Particle`` collection and the per-event counts."""
    counts = ak.to_numpy(ak.num(particles, axis=1)).astype(np.int64)
    pt = _flat(particles.pt)
    eta = _flat(particles.eta)
    phi = _flat(particles.phi)
    mass = _flat(particles.mass)
    pdg = _flat(particles.pdgId, np.int64)
    charge = _flat(particles.charge, np.float64)
    fields = {"pt": pt, "eta": eta, "phi": phi, "mass": mass, "pdgId": pdg, "charge": charge}
    fields.update(particle_channels(pt, pdg, charge))
    return fields, counts


def build_towers(
    particles: ak.Array,
    size: float = 0.1,
    max_abs_eta: float = 5.0,
    detector=None,
    event_ids: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, float]:
    """Sum visible particles into calorimeter towers.

    Parameters
    ----------
    particles
        Jagged ``[event][particle]`` records with ``pt, eta, phi, mass, pdgId, charge``.
    size
        Cell size in eta and (approximately, see module doc) phi.
    max_abs_eta
        Calorimeter acceptance.
    detector
        ``None``: exact tower energies.  A
        :class:`jetflow_clustering.options.DetectorOptions`: measured ones
        (towers whose deposits all fall below the thresholds disappear).
    event_ids
        With a detector: ``(run, luminosityBlock, event)`` of every event,
        which seed its random numbers.

    Returns
    -------
    fields, counts, lost_energy
        Flat tower fields (:data:`CONSTITUENT_FIELDS`; ``pdgId = charge = 0``,
        ``mass = 0``), towers per event (towers are grouped by event, ordered by
        cell), and the summed energy of the particles outside the acceptance.
    """
    fields, counts = particles_table(particles)
    n_events = len(counts)
    event = np.repeat(np.arange(n_events, dtype=np.int64), counts)
    pt, eta, phi, mass = fields["pt"], fields["eta"], fields["phi"], fields["mass"]
    energy = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)

    n_eta = int(round(2 * max_abs_eta / size))
    n_phi = int(round(2 * np.pi / size))
    inside = np.abs(eta) < max_abs_eta
    lost = float(energy[~inside].sum())
    ieta = np.clip(np.floor((eta[inside] + max_abs_eta) / (2 * max_abs_eta) * n_eta), 0, n_eta - 1).astype(np.int64)
    # phi in (-pi, pi]; wrap to [0, 2 pi) so that every particle has one cell
    phi_wrapped = np.mod(phi[inside] + np.pi, 2 * np.pi)
    iphi = np.clip(np.floor(phi_wrapped / (2 * np.pi) * n_phi), 0, n_phi - 1).astype(np.int64)
    key = (event[inside] * n_eta + ieta) * n_phi + iphi
    cells, inverse = np.unique(key, return_inverse=True)

    cell_eta = ((cells // n_phi) % n_eta + 0.5) * (2 * max_abs_eta / n_eta) - max_abs_eta
    tower_event = cells // (n_eta * n_phi)
    if detector is None:
        e_sum = np.bincount(inverse, weights=energy[inside], minlength=len(cells))
    else:
        e_sum = _measured(cells % (n_eta * n_phi), tower_event, cell_eta, inverse, energy[inside],
                          fields["pdgId"][inside], detector, event_ids)
        # towers whose deposits were all lost disappear, and their particles with them
        seen = e_sum > 0
        in_seen = seen[inverse]
        inside = inside.copy()
        inside[inside] = in_seen
        inverse = (np.cumsum(seen) - 1)[inverse[in_seen]]
        cells, cell_eta, tower_event, e_sum = cells[seen], cell_eta[seen], tower_event[seen], e_sum[seen]
    cell_phi = (cells % n_phi + 0.5) * (2 * np.pi / n_phi) - np.pi
    tower_pt = e_sum / np.cosh(cell_eta)

    # channels: sum the particles' channel pT, rescale to the tower's pT
    particle_sum_pt = np.bincount(inverse, weights=pt[inside], minlength=len(cells))
    scale = np.divide(tower_pt, particle_sum_pt, out=np.zeros_like(tower_pt), where=particle_sum_pt > 0)
    towers = {
        "pt": tower_pt,
        "eta": cell_eta,
        "phi": cell_phi,
        "mass": np.zeros(len(cells)),
        "pdgId": np.zeros(len(cells), dtype=np.int64),
        "charge": np.zeros(len(cells)),
    }
    for channel in ("pt_charged", "pt_neutral_hadron", "pt_photon"):
        towers[channel] = np.bincount(inverse, weights=fields[channel][inside], minlength=len(cells)) * scale
    towers["n_charged"] = np.bincount(inverse, weights=fields["n_charged"][inside], minlength=len(cells))
    tower_counts = np.bincount(tower_event, minlength=n_events).astype(np.int64)
    return towers, tower_counts, lost


def _measured(cell, tower_event, cell_eta, inverse, energy, pdg_id, detector, event_ids) -> np.ndarray:
    """Each tower's measured energy: its ECAL and HCAL deposits, each smeared and thresholded."""
    from jetflow_clustering.detector import counter_uniform, deposits, measure

    if event_ids is None:
        raise ValueError("a detector needs the events' (run, luminosityBlock, event) numbers to seed its randomness")
    run, lumi, event = (np.asarray(ids)[tower_event] for ids in event_ids)
    ecal, hcal = deposits(energy, pdg_id, detector.hadron_response)
    n = len(cell)
    ecal = np.bincount(inverse, weights=ecal, minlength=n)
    hcal = np.bincount(inverse, weights=hcal, minlength=n)
    abs_eta = np.abs(cell_eta)
    u_ecal = counter_uniform(detector.seed, run, lumi, event, 2 * cell)
    u_hcal = counter_uniform(detector.seed, run, lumi, event, 2 * cell + 1)
    return measure(ecal, abs_eta, detector.ecal, u_ecal) + measure(hcal, abs_eta, detector.hcal, u_hcal)
