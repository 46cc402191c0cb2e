"""Source ``hepmc3``: HepMC3 ASCII event files (any generator's, ``jetflow generate --hepmc``'s) as particles.

A HepMC3 ASCII file (``HepMC::Asciiv3``; plain or compressed, ``.gz``, ``.bz2``, ``.xz``) holds a header (the
run's weight names on its ``W`` line, tools, attributes) and one block per event: ``E <number> <vertices>
<particles>``, ``U <momentum unit> <length unit>``, ``W <weights>``, then ``P`` and ``V`` lines.  It is read
with pyhepmc's ``ReaderAscii`` (HepMC3's own parser), chunk by chunk:

* :meth:`HepMC3Reader.entries` and :meth:`HepMC3Reader.event_weights` share one fast pass over the text, no
  event parsed (:mod:`jetflow_formats.hepmc3_scan`): the number of ``E`` lines, the chosen weight of every
  event from its ``W`` line, and a check that every event has the particles its ``E`` line announces and
  that the file ends with its ``HepMC::Asciiv3-END_EVENT_LISTING`` line (a truncated file is an
  :class:`jetflow.InputError` naming the entry where it breaks).
* :meth:`HepMC3Reader.read` finds the ``start``-th ``E`` line (seeking to it in an uncompressed file where the
  process knows where it begins, else counting ``E`` lines in the bytes from the nearest known event), hands
  HepMC3 the header followed by the text from there (so the events before are never parsed), and reads
  ``stop - start`` events, an InputError naming the entry where one cannot be; each event's particles are
  taken through pyhepmc's numpy views (no Python loop over particles).

What a chunk yields (the ``"particles"`` layout of :mod:`jetflow.core.sources`):

* ``run = 1``, ``luminosityBlock = 0`` (uint32), ``event`` = the HepMC event number (uint64), ``genWeight``
  (float32) = the weight ``formats.hepmc3.weight`` chooses (its index, 0 the first (nominal) weight, or its
  name in the header's ``W`` line; 1 for an event without weights).
* ``Particle``: the final-state (status 1) visible particles, float32 ``pt, eta, phi, mass`` in GeV (a file in
  MeV is converted), ``phi`` in (-pi, pi], ``mass`` the generated mass of the ``P`` line (from the
  four-momentum, with a negative m^2 taken as 0, where a particle has none; never negative), int32
  ``pdgId``, ``charge``.

Visibility and charge follow the rule of jetflow's generator, which is Pythia 8's particle table: a particle
is dropped when Pythia's ``isVisible`` is false (neutrinos 12, 14, 16, the lightest neutralino 1000022, the
gravitino 1000039, ...), and its charge is Pythia's ``charge``, rounded to an integer.  The table is
``pythia8mc``'s (one ``Pythia`` built without generating, once per process), asked once per distinct id.  An
id Pythia does not know is kept, with the charge of a nucleus code ``10LZZZAAAI`` (``ZZZ``) or else 0.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import FileView, InputError, Options, Source

from jetflow_formats.hepmc3_scan import (cached_scan, from_event, open_bytes, too_few_weights, uncompressed,
                                         weight_column)


class HepMC3Options(Options):
    """Section ``formats.hepmc3``."""

    weight: int | str = Field(0, description="which of an event's weights is genWeight: its index (0: the first, "
                              "the nominal weight) or its name (as the file's header names it)")


@contextlib.contextmanager
def _quiet_hepmc() -> Iterator[None]:
    """HepMC3's own error and warning lines off while a file is read (jetflow raises its own error)."""
    import pyhepmc

    errors, warnings = pyhepmc.Setup.print_errors, pyhepmc.Setup.print_warnings
    pyhepmc.Setup.print_errors = pyhepmc.Setup.print_warnings = False
    try:
        yield
    finally:
        pyhepmc.Setup.print_errors, pyhepmc.Setup.print_warnings = errors, warnings


_TABLE: dict[int, tuple[int, bool]] = {}


def _pythia_table():
    """Pythia 8's particle table (``pythia8mc``; one ``Pythia`` made once per process, never initialised)."""
    table = getattr(_pythia_table, "table", None)
    if table is None:
        import pythia8mc

        table = _pythia_table.table = pythia8mc.Pythia("", False).particleData
    return table


def particle_table(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(charge, visible)`` of every PDG id: Pythia's ``charge`` (rounded, int32) and ``isVisible``, asked once
    per distinct id; an id Pythia does not know is visible, with a nucleus code's charge or else 0."""
    unique, inverse = np.unique(np.asarray(ids, dtype=np.int64), return_inverse=True)
    missing = [int(i) for i in unique if int(i) not in _TABLE]
    if missing:
        data = _pythia_table()
        for i in missing:
            if data.isParticle(i):
                _TABLE[i] = (int(round(data.charge(i))), bool(data.isVisible(i)))
            else:
                z = (abs(i) // 10000) % 1000 if abs(i) >= 1_000_000_000 else 0
                _TABLE[i] = (int(np.sign(i)) * z, True)
    charge = np.array([_TABLE[int(i)][0] for i in unique], dtype=np.int32)
    visible = np.array([_TABLE[int(i)][1] for i in unique], dtype=bool)
    inverse = inverse.reshape(-1)
    return charge[inverse], visible[inverse]


def _weight_of(event, choice: int | str, column: int, path: str, entry: int) -> float:
    """The chosen weight of a parsed event (1 when it has none)."""
    values = event.weights
    if len(values) == 0:
        return 1.0
    if column >= len(values):
        raise InputError(too_few_weights(path, entry, choice, column, len(values)))
    return float(values[column])


def _names(event) -> list[str] | None:
    """The run's weight names of a parsed event, or None."""
    try:
        return list(event.weight_names)
    except Exception:
        return None


class HepMC3Reader:
    """:class:`jetflow.core.sources.ChunkReader` of HepMC3 ASCII files (module docstring), through pyhepmc."""

    def entries(self, path: str, tree: str = "") -> int:
        """The number of events (``E`` lines), from one pass over the bytes that also checks the file is whole."""
        return cached_scan(path, 0).events

    def event_weights(self, path: str, tree: str = "", options: Any = None) -> np.ndarray:
        """The chosen weight of every event (float64), from the same pass as :meth:`entries` (``options``: the
        ``formats.hepmc3`` section that chooses it; the first weight without them)."""
        return cached_scan(path, (options if options is not None else HepMC3Options()).weight).weights

    def read(self, path: str, tree: str, start: int, stop: int, options: Any) -> ak.Array:
        """Events ``[start, stop)`` in the ``"particles"`` layout (module docstring)."""
        import pyhepmc

        choice = (options if options is not None else HepMC3Options()).weight
        numbers, weights, counts, parts = [], [], [], {k: [] for k in ("pid", "px", "py", "pz", "e", "m", "set")}
        column = None
        if stop <= start:
            return _events(numbers, weights, counts, parts)
        with open_bytes(path) as f, _quiet_hepmc():
            stream = from_event(f, start, path, seekable=uncompressed(path))
            reader = pyhepmc.io.ReaderAscii(pyhepmc.io.pyiostream(stream))
            try:
                for entry in range(start, stop):
                    event = pyhepmc.GenEvent()
                    ok = reader.read_event(event)
                    if not ok or (reader.failed() and len(event.particles) == 0):
                        where = "the file ends" if ok else "HepMC3 cannot parse it (truncated or damaged)"
                        raise InputError(f"file {path}, event entry {entry}: {where}; {entry - start} of the "
                                         f"{stop - start} events of entries [{start}, {stop}) were read")
                    if column is None:
                        column = weight_column(choice, _names(event), path)
                    numbers.append(event.event_number)
                    weights.append(_weight_of(event, choice, column, path, entry))
                    view = event.numpy.particles
                    final = view.status == 1
                    scale = 1e-3 if event.momentum_unit == pyhepmc.Units.MEV else 1.0
                    for name, values in (("px", view.px), ("py", view.py), ("pz", view.pz), ("e", view.e),
                                         ("m", view.generated_mass)):
                        parts[name].append(values[final] * scale)
                    parts["pid"].append(view.pid[final])
                    parts["set"].append(view.is_generated_mass_set[final])
                    counts.append(int(final.sum()))
            finally:
                reader.close()
        return _events(numbers, weights, counts, parts)


def _events(numbers: list[int], weights: list[float], counts: list[int], parts: dict[str, list]) -> ak.Array:
    """The chunk's record array from the final-state particles of its events (columnar on the whole chunk)."""
    n = len(numbers)
    flat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    pid = flat["pid"].astype(np.int32)
    charge, visible = particle_table(pid)
    owner = np.repeat(np.arange(n), np.asarray(counts, dtype=np.int64))[visible]
    px, py, pz, e = (flat[k].astype(np.float64)[visible] for k in ("px", "py", "pz", "e"))
    pt = np.hypot(px, py)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.arcsinh(np.divide(pz, pt, out=np.zeros_like(pt), where=pt > 0))
    phi = np.arctan2(py, px)
    phi = np.where(phi <= -np.pi, np.pi, phi)
    from_p4 = np.sqrt(np.maximum(e * e - px * px - py * py - pz * pz, 0.0))
    mass = np.maximum(np.where(flat["set"].astype(bool)[visible], flat["m"][visible], from_p4), 0.0)
    n_visible = np.bincount(owner, minlength=n)
    columns = {"pt": pt, "eta": eta, "phi": phi, "mass": mass}
    particle = ak.zip({**{k: ak.unflatten(v.astype(np.float32), n_visible) for k, v in columns.items()},
                       "pdgId": ak.unflatten(pid[visible], n_visible),
                       "charge": ak.unflatten(charge[visible], n_visible)})
    return ak.zip({
        "run": np.ones(n, np.uint32),
        "luminosityBlock": np.zeros(n, np.uint32),
        "event": np.asarray(numbers, dtype=np.int64).astype(np.uint64),
        "genWeight": np.asarray(weights, dtype=np.float32),
        "Particle": particle,
    }, depth_limit=1)


def recognise(view: FileView) -> bool:
    """A name ending ``.hepmc`` / ``.hepmc3`` (compressed or not), or a head that is HepMC3 ASCII's
    (``HepMC::Version`` and not HepMC2's ``IO_GenEvent``, or ``HepMC::Asciiv3-START_EVENT_LISTING``)."""
    try:
        if view.suffix in (".hepmc", ".hepmc3"):
            return True
        head = view.head
        return ((head.startswith(b"HepMC::Version") and b"HepMC::IO_GenEvent" not in head)
                or b"HepMC::Asciiv3-START_EVENT_LISTING" in head)
    except Exception:
        return False


SOURCE = Source(
    name="hepmc3",
    description="HepMC3 ASCII event files (any generator; jetflow generate --hepmc): final-state visible particles",
    provides="particles",
    recognise=recognise,
    tree="",
    reader=HepMC3Reader(),
    section="hepmc3",
    fields={
        "E line: event number": "event",
        "W line: the weight formats.hepmc3.weight chooses": "genWeight (1 where absent)",
        "P lines of status 1, visible (Pythia's table)": "Particle pt/eta/phi/mass (GeV), pdgId, charge",
        "U line: MEV or GEV": "momenta converted to GeV",
    },
)
