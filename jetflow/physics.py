"""Small columnar physics helpers shared by plugins (numpy in, numpy out).

Plugins never import each other; what two of them both need lives here.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import numpy as np


def wrap_phi(dphi: np.ndarray) -> np.ndarray:
    """Map angles to (-pi, pi]."""
    out = np.mod(dphi + np.pi, 2 * np.pi) - np.pi
    return np.where(out == -np.pi, np.pi, out)


def pxpypze(pt, eta, phi, mass):
    """Cartesian four-momenta (GeV) from (pT, eta, phi, m)."""
    px = pt * np.cos(phi)
    py = pt * np.sin(phi)
    pz = pt * np.sinh(eta)
    e = np.sqrt((pt * np.cosh(eta)) ** 2 + mass**2)
    return px, py, pz, e


def ptetaphim(px, py, pz, e):
    """(pT, eta, phi, m) from Cartesian four-momenta.

    ``eta`` of a zero-pT vector is 0; ``m = sqrt(max(E^2 - p^2, 0))``.
    """
    pt = np.hypot(px, py)
    eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt, dtype=np.float64), where=pt > 0))
    phi = np.arctan2(py, px)
    mass = np.sqrt(np.clip(e**2 - (px**2 + py**2 + pz**2), 0.0, None))
    return pt, eta, phi, mass


def particle_channels(pt: np.ndarray, pdg_id: np.ndarray, charge: np.ndarray) -> dict[str, np.ndarray]:
    """Image channels of single particles ([jet-response]): all of a particle's pT goes to one channel.

    Charged: ``charge != 0`` (hadrons and leptons); photon: ``pdgId == 22``;
    neutral hadron: every other neutral visible particle.  ``n_charged`` is 1
    for a charged particle (for the charged-multiplicity channel).
    """
    charged = charge != 0
    photon = (np.abs(pdg_id) == 22) & ~charged
    neutral_hadron = ~charged & ~photon
    return {
        "pt_charged": np.where(charged, pt, 0.0),
        "pt_neutral_hadron": np.where(neutral_hadron, pt, 0.0),
        "pt_photon": np.where(photon, pt, 0.0),
        "n_charged": charged.astype(np.float64),
    }


def constituent_channel_values(constituents, channels) -> np.ndarray:
    """Per-constituent channel values of jagged constituents, flattened: float64 ``[n_constituents, n_channels]``.

    A channel is ``pt`` or one of :func:`particle_channels`' names; it is read
    from the constituent field of that name when there is one (towers carry
    them), else derived from ``pdgId`` and ``charge`` (particles).  Raises
    ``ValueError`` naming the missing fields.
    """
    import awkward as ak

    def flat(field, dtype=np.float64):
        return ak.to_numpy(ak.flatten(constituents[field], axis=1)).astype(dtype)

    pt = flat("pt")
    fields = set(constituents.fields)
    derived = None
    columns = []
    for name in channels:
        if name == "pt":
            columns.append(pt)
        elif name in fields:
            columns.append(flat(name))
        else:
            if derived is None:
                if not {"pdgId", "charge"} <= fields:
                    raise ValueError(
                        f"channel {name!r} needs constituent fields {name!r} or "
                        f"pdgId and charge; the constituents have {', '.join(sorted(fields))}"
                    )
                derived = particle_channels(pt, flat("pdgId", np.int64), flat("charge"))
            columns.append(derived[name])
    return np.stack(columns, axis=1) if columns else np.zeros((len(pt), 0))


PARTICLE_TYPES = ("is_electron", "is_muon", "is_photon", "is_charged_hadron", "is_neutral_hadron")
"""[part]'s particle-type flags (1 or 0), from ``pdgId`` and ``charge``; a constituent of unknown type (a
calorimeter tower: ``pdgId`` 0) has none set."""


def particle_types(pdg_id: np.ndarray, charge: np.ndarray) -> dict[str, np.ndarray]:
    """The :data:`PARTICLE_TYPES` flags of flat ``pdg_id`` and ``charge``, float64."""
    pdg = np.abs(pdg_id)
    lepton_or_photon = np.isin(pdg, (11, 13, 22))
    charged = charge != 0
    return {"is_electron": pdg == 11, "is_muon": pdg == 13, "is_photon": pdg == 22,
            "is_charged_hadron": charged & ~lepton_or_photon,
            "is_neutral_hadron": ~charged & ~lepton_or_photon & (pdg != 0)}


def constituent_features(constituents, n: int, names) -> np.ndarray:
    """Per-particle features of the ``n`` leading (by pT) constituents of every jet, in the order of
    :func:`constituent_four_vectors`: float32 ``[n_jets, n, len(names)]``, zero-padded.

    A name is a numeric constituent field (``charge``, ``pdgId``, ``d0``, ``dz``, ... where the input format
    carries it) or one of :data:`PARTICLE_TYPES`.  Raises ``ValueError`` naming a name the constituents cannot
    give and the fields they have.
    """
    import awkward as ak

    names = list(names)
    fields = set(constituents.fields)
    for name in names:
        if name not in fields and not (name in PARTICLE_TYPES and {"pdgId", "charge"} <= fields):
            need = "constituent fields pdgId and charge" if name in PARTICLE_TYPES else "a constituent field of that name"
            raise ValueError(f"constituent feature {name!r} needs {need}; the constituents have "
                             f"{', '.join(sorted(fields))} (and the particle types {', '.join(PARTICLE_TYPES)})")
    lead, jet, slot = _leading(constituents, n)

    def flat(field):
        return ak.to_numpy(ak.flatten(lead[field])).astype(np.float64)

    types = (particle_types(flat("pdgId"), flat("charge"))
             if any(name in PARTICLE_TYPES and name not in fields for name in names) else {})
    out = np.zeros((len(lead), n, len(names)), dtype=np.float32)
    for k, name in enumerate(names):
        out[jet, slot, k] = flat(name) if name in fields else types[name]
    return out


def _leading(constituents, n: int):
    """The ``n`` leading (by pT) constituents of every jet, and each one's jet and slot in an ``[n_jets, n]``
    array (flat, in the order of ``ak.flatten``): the layout of every per-particle model input."""
    import awkward as ak

    order = ak.argsort(constituents.pt, axis=1, ascending=False)
    lead = constituents[order][:, :n]
    counts = ak.to_numpy(ak.num(lead, axis=1)).astype(np.int64)
    jet = np.repeat(np.arange(len(counts)), counts)
    slot = np.arange(len(jet)) - np.repeat(np.concatenate([[0], np.cumsum(counts)])[:-1], counts)
    return lead, jet, slot


def constituent_four_vectors(constituents, n: int) -> np.ndarray:
    """The ``n`` leading (by pT) constituents of every jet as float32 ``[n_jets, n, 4]`` (E, px, py, pz) in GeV.

    Zero-padded; the input of the Lorentz Boost Network.  Used both by the
    training export and by inference, so that both see the same numbers.
    """
    import awkward as ak

    lead, jet, slot = _leading(constituents, n)
    flat = {f: ak.to_numpy(ak.flatten(lead[f])).astype(np.float64) for f in ("pt", "eta", "phi")}
    mass = ak.to_numpy(ak.flatten(lead["mass"])).astype(np.float64) if "mass" in constituents.fields else 0.0
    px, py, pz, e = pxpypze(flat["pt"], flat["eta"], flat["phi"], mass)
    out = np.zeros((len(lead), n, 4), dtype=np.float32)
    out[jet, slot] = np.stack([e, px, py, pz], axis=1)
    return out
