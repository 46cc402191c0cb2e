"""Pythia's events as HepMC3 ASCII files (``jetflow generate --hepmc``): the input of Delphes or any HepMC3 reader.

Each generated ``<name>.root`` gets a ``<name>.hepmc3`` beside it, written through pyhepmc's ``WriterAscii``
under a temporary name and renamed when the ROOT file is written (:func:`jetflow.core.atomic.atomic_write`).
It holds the hard events only (with pile-up, the overlaid minimum-bias events are not in it), with the same
event numbers as the ROOT file's ``event``, in GeV and mm, with Pythia's event weights (named as Pythia names
them).

Every entry of Pythia's event record but the first (the system line, id 90) is a particle, with its HepMC
status as Pythia's ``Particle::statusHepMC`` gives it: 1 final state, 4 the beams, 2 decayed hadrons, muons and
taus, otherwise Pythia's status without its sign.  The history follows Pythia's ``motherList``: particles that
share their mothers share a production vertex, whose incoming particles are those mothers (one mother; a range
of mothers from string fragmentation; two mothers).  HepMC gives a particle one end vertex only: a particle
that Pythia lists as the mother of two different sets of daughters (which it does not do in a standard
record) goes into the first of them.  The record is turned into HepMC's HEPEVT form (:func:`hepevt_links`)
and read by ``GenEvent.from_hepevt`` in C++: a few numpy passes per event, no Python loop over particles.
Writing costs about as much time as Pythia takes to generate the events (the ASCII text, 16 digits a number).
Vertex positions are zero (jetflow does not switch on Pythia's vertex information).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import awkward as ak
import numpy as np

from jetflow.core.atomic import atomic_write
from jetflow.core.errors import OutputError

NO_VERTEX = np.iinfo(np.int64).max


def hepmc_path(root_path: str | Path) -> Path:
    """The HepMC3 file written beside a generated ROOT file: ``x.root`` -> ``x.hepmc3``."""
    return Path(root_path).with_suffix(".hepmc3")


def hepmc_status(status: np.ndarray, is_hadron: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Pythia's ``Particle::statusHepMC`` of every entry, columnar: 1 for final-state particles (status > 0),
    4 for the beams (-12), 2 for decayed hadrons, muons and taus, ``-status`` for other codes in -11..-200,
    else 0.  (Pythia also asks that a decayed hadron has decay channels; every decayed one has.)"""
    absid = np.abs(ids)
    decayed = (status < 0) & (is_hadron | (absid == 13) | (absid == 15))
    out = np.where((status <= -11) & (status >= -200), -status, 0)
    out = np.where(decayed, 2, out)
    out = np.where(status == -12, 4, out)
    return np.where(status > 0, 1, out).astype(np.int32)


def hepevt_links(status: np.ndarray, mother1: np.ndarray, mother2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The history of one Pythia event record as HEPEVT parent ranges.

    ``status, mother1, mother2`` are the columns of the whole record (entry 0, the system line, included);
    the particles are entries 1..n-1.  Returns ``(order, parents)``: the particles in the order they are
    written (``order``: indices into entries 1..n-1, i.e. record index - 1) and for each, in that order, the
    inclusive 0-based range of its mothers in that order, ``(-1, -1)`` for none.  Particles are grouped by
    the vertex they go into (a vertex's incoming particles are then contiguous, which HEPEVT ranges need), the
    vertices ordered by their generation (:func:`_vertex_depth`: HepMC3's reader needs a vertex's incoming
    particles written before it, and Pythia's record lists the initial-state shower backwards), and the
    particles that go into no vertex (the final state) last, in record order.
    """
    st = np.abs(status[1:])
    a, b = mother1[1:].astype(np.int64) - 1, mother2[1:].astype(np.int64) - 1  # rows of entries 1..; -1: none
    n = len(st)
    none = (st == 11) | (st == 12) | (a < 0)
    one = ~none & ((b < 0) | (a == b))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    frag = ~none & ~one & (((st > 80) & (st < 90)) | ((st > 100) & (st < 107)))
    ranged = frag | (~none & ~one & (hi == lo + 1))
    two = ~none & ~one & ~ranged  # two separate mothers, lo and hi
    seg1_lo = np.where(one, a, lo)
    seg1_hi = np.where(one, a, np.where(ranged, hi, lo))
    seg2 = np.where(two, hi, -1)
    has = ~none & (seg1_lo >= 0)
    # the vertex of each particle with mothers: one per distinct set of mothers
    key = (seg1_lo * (n + 1) + seg1_hi) * (n + 2) + seg2 + 1
    _, vid_has = np.unique(key[has], return_inverse=True)
    vid = np.full(n, -1, dtype=np.int64)
    vid[has] = vid_has.reshape(-1)
    n_vertices = int(vid.max()) + 1 if has.any() else 0
    # edges mother -> vertex, from the segments [lo, hi] of mothers of every particle
    child = np.flatnonzero(has)
    second = child[two[child]]
    seg_lo = np.concatenate([seg1_lo[child], seg2[second]])
    seg_hi = np.concatenate([seg1_hi[child], seg2[second]])
    counts = seg_hi - seg_lo + 1
    starts = np.cumsum(counts) - counts
    mothers = np.repeat(seg_lo, counts) + (np.arange(counts.sum()) - np.repeat(starts, counts))
    edge_v = np.repeat(np.concatenate([vid[child], vid[second]]), counts)
    end = np.full(n, NO_VERTEX, dtype=np.int64)
    np.minimum.at(end, mothers, edge_v)  # a mother of two vertices goes into the first
    kept = end[mothers] == edge_v
    rank = _vertex_depth(n_vertices, mothers[kept], edge_v[kept], vid)
    # particles by the depth of the vertex they go into (HepMC's files list a vertex after its mothers' own)
    into = end < NO_VERTEX
    sort_key = np.full(n, NO_VERTEX, dtype=np.int64)
    sort_key[into] = rank[end[into]] * (n_vertices + 1) + end[into]
    order = np.argsort(sort_key, kind="stable")
    ends = sort_key[order]
    vkeys = rank * (n_vertices + 1) + np.arange(n_vertices)
    first = np.searchsorted(ends, vkeys, side="left")
    last = np.searchsorted(ends, vkeys, side="right") - 1
    parents = np.full((n, 2), -1, dtype=np.int32)
    ok = has.copy()
    ok[ok] = last[vid[ok]] >= first[vid[ok]]  # a vertex all of whose mothers went elsewhere: no parents
    parents[ok, 0], parents[ok, 1] = first[vid[ok]], last[vid[ok]]
    return order, np.ascontiguousarray(parents[order])


def _vertex_depth(n_vertices: int, mothers: np.ndarray, vertex: np.ndarray, vid: np.ndarray) -> np.ndarray:
    """The generation of every vertex: 0 when none of its incoming particles has a production vertex, else one
    more than the deepest of theirs (relaxed columnar, one numpy pass per generation)."""
    depth = np.zeros(n_vertices, dtype=np.int64)
    source = vid[mothers]
    inner = source >= 0
    source, target = source[inner], vertex[inner]
    for _ in range(n_vertices + 1):
        new = np.zeros(n_vertices, dtype=np.int64)
        np.maximum.at(new, target, depth[source] + 1)
        if np.array_equal(new, depth):
            return depth
        depth = new
    raise ValueError("the event record's history has a cycle")


class _NoWriter:
    """What :func:`hepmc_writer` gives when no HepMC3 file is asked for: writes nothing."""

    def write(self, batch: ak.Array, pythia) -> None:
        """Nothing."""


class HepMCWriter:
    """Writes ``nextBatch`` arrays of a Pythia instance as HepMC3 events, numbered from ``first_event``."""

    def __init__(self, writer, first_event: int) -> None:
        self.writer, self.number = writer, first_event
        self.run = None
        self._hadron: dict[int, bool] = {}

    def _is_hadron(self, pythia, ids: np.ndarray) -> np.ndarray:
        """Pythia's ``isHadron`` of each id, one call per distinct id."""
        unique, inverse = np.unique(ids, return_inverse=True)
        table = np.array([self._hadron.setdefault(int(i), bool(pythia.particleData.isHadron(int(i))))
                          for i in unique], dtype=bool)
        return table[inverse.reshape(-1)]

    def write(self, batch: ak.Array, pythia) -> None:
        """Write every event of a batch of ``pythia``'s (one numpy pass per event; the graph is built in C++)."""
        import pyhepmc

        if self.run is None:  # the weight names, as Pythia names them (the first is the nominal weight)
            self.run = pyhepmc.GenRunInfo()
            self.run.weight_names = [str(w) for w in pythia.infoPython().weightNameVector()] or ["Weight"]
        prt = batch.prt
        counts = ak.to_numpy(ak.num(prt, axis=1))
        offsets = np.concatenate([[0], np.cumsum(counts)])
        cols = {name: ak.to_numpy(ak.flatten(prt[name])) for name in ("id", "status", "mother1", "mother2", "m")}
        mom = {c: ak.to_numpy(ak.flatten(prt.p[c])).astype(np.float64) for c in ("px", "py", "pz", "e")}
        hstatus = hepmc_status(cols["status"], self._is_hadron(pythia, cols["id"]), cols["id"])
        mass, ids = cols["m"].astype(np.float64), cols["id"].astype(np.int32)
        weights = ak.to_list(batch.info.weights)
        names = self.run.weight_names
        for k in range(len(counts)):
            s = slice(offsets[k], offsets[k + 1])
            order, parents = hepevt_links(cols["status"][s], cols["mother1"][s], cols["mother2"][s])
            rows = order + offsets[k] + 1
            event = pyhepmc.GenEvent(pyhepmc.Units.GEV, pyhepmc.Units.MM)
            event.from_hepevt(self.number, mom["px"][rows], mom["py"][rows], mom["pz"][rows], mom["e"][rows],
                              mass[rows], ids[rows], hstatus[rows], parents=parents, fortran=False)
            event.run_info = self.run
            w = list(weights[k]) or [1.0]
            event.weights = (w + [0.0] * len(names))[: len(names)]
            self.writer.write_event(event)
            self.number += 1


@contextlib.contextmanager
def hepmc_writer(root_path: str | Path | None, first_event: int) -> Iterator[HepMCWriter | _NoWriter]:
    """A writer of the HepMC3 file beside ``root_path`` (:func:`hepmc_path`) while the block runs, renamed into
    place when it ends without error; with ``root_path`` ``None``, a writer that writes nothing."""
    if root_path is None:
        yield _NoWriter()
        return
    import pyhepmc

    path = hepmc_path(root_path)
    with atomic_write(path, "HepMC3 file") as tmp:
        writer = pyhepmc.io.WriterAscii(str(tmp))
        try:
            yield HepMCWriter(writer, first_event)
        finally:
            failed = writer.failed()
            writer.close()
        if failed:
            raise OutputError(f"HepMC3 file {path}: cannot be written (pyhepmc's writer failed)")
