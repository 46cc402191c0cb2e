"""Input formats as plugins: a :class:`Source` says how to recognise a file, how to read it chunk by chunk,
and what it yields (docs/design.md, "Sources"; every built-in source in docs/formats.md).

A plugin provides sources through the hook ``jetflow_sources``.  A run's ``run.schema`` names one (or is
``auto``: every input file is shown to each source's :attr:`Source.recognise` and exactly one must claim it).

Two ways to read a file:

* a ROOT tree through coffea's Runner and NanoEvents (:attr:`Source.schema`, a NanoEvents schema class):
  chunks, URLs, the ROOT UUID of every file come from coffea and uproot; :attr:`Source.convert` may turn
  the NanoEvents into the layout the source yields;
* any other file through a :class:`ChunkReader` (:attr:`Source.reader`): the number of entries of a file,
  and one chunk of entries as an awkward array, never the whole file.  The file's identity (what a ROOT
  UUID is for a ROOT file: checkpoints, one file listed twice) is the reader's ``identity`` or else a
  digest of its size and of its first and last MiB (:func:`content_identity`).

What a source yields (:attr:`Source.provides`), one record per entry:

``"particles"``
    events whose ``Particle`` collection (jagged records ``pt, eta, phi, mass, pdgId, charge``; optional
    ``pileup``: 0 for the hard event) is what jets are clustered from, with the event fields ``run``,
    ``luminosityBlock``, ``event`` and ``genWeight``.  Optional: ``GenParticle`` (the visible final-state
    generator particles of the hard event, same fields: generator-level jets for the truth columns, when
    ``Particle`` holds reconstructed objects), ``TruthW``, ``TruthTop`` (jagged ``pt, eta, phi, mass``).
``"jets"``
    one record per jet, jets already built: ``pt, eta, phi, mass`` and ``constituents`` (jagged records
    ``pt, eta, phi, mass``, and ``pdgId, charge`` where known), any other flat field kept as a column;
    a multi-class ``label`` (int8) where the file carries one (a dataset with ``label: file`` takes it).
``"events"``
    events in the source's own layout, for a jet builder that knows it (CMS (PF)NanoAOD's FatJets).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol

from jetflow.core.errors import InputError

if TYPE_CHECKING:
    import awkward as ak

PROVIDES = ("particles", "jets", "events")
"""What a source's chunks are (:attr:`Source.provides`)."""


class ChunkReader(Protocol):
    """Reads a file that is not a ROOT tree, chunk by chunk.

    ``tree`` is the dataset's ``tree`` (the source's :attr:`Source.tree` unless the configuration says
    otherwise): an HDF5 key, a ROOT tree name, or ignored.  ``options`` are the source's validated options
    (:attr:`Source.section` of its plugin's section; ``None`` if it has none).  Errors are :class:`jetflow.InputError` naming the
    file, and where it applies the entry and the field.
    """

    def entries(self, path: str, tree: str) -> int:
        """The number of entries (events or jets) of the file; called once per file, on the client."""

    def read(self, path: str, tree: str, start: int, stop: int, options: Any) -> ak.Array:
        """Entries ``[start, stop)`` of the file in the layout of :attr:`Source.provides`."""

    # optional:
    #   event_weights(path, tree, options) -> array   every entry's generator weight (float64), read once on
    #                                       the client for the sum of generator weights; without it, each weighs 1
    #   identity(path) -> bytes             16 bytes standing for the file's content (a ROOT file's UUID);
    #                                       without it, content_identity(path)


@dataclass(frozen=True)
class Source:
    """One input format.

    Attributes
    ----------
    name
        What ``run.schema`` takes and ``jetflow plugins`` lists (``delphes``, ``toptagging``, ...).
    description
        One line: what the format is and who writes it.
    provides
        ``"particles"``, ``"jets"`` or ``"events"`` (module docstring).
    recognise
        ``recognise(view) -> bool``: does this file (a :class:`FileView`) look like this format?  Cheap and
        never raising: it only looks at the name, the first bytes, the trees or keys.
    tree
        The ROOT tree or HDF5 key a dataset reads unless its ``tree`` says otherwise.
    schema
        For ROOT trees: the coffea NanoEvents schema class the tree is read with.
    convert
        For ROOT trees, optional: ``convert(events, ctx) -> ak.Array``, the NanoEvents of a chunk in the
        layout of :attr:`provides` (``ctx`` bound to the source's plugin: ``ctx.options()`` is its section).
    reader
        For any other file: a :class:`ChunkReader`.
    detector_level
        For ``"particles"``: the particles are reconstructed objects (towers, energy-flow objects), so a
        detector model must not be applied to them again.
    section
        The field of the providing plugin's options that holds this source's options (the built-in
        formats': ``formats.delphes``, ...); ``None``: the plugin's whole section.
    fields
        For the documentation and ``jetflow plugins``: ``{what the file has: where it goes}``.
    """

    name: str
    description: str
    provides: Literal["particles", "jets", "events"]
    recognise: Callable[[FileView], bool]
    tree: str = "Events"
    schema: type | None = None
    convert: Callable[[Any, Any], Any] | None = None
    reader: ChunkReader | None = None
    detector_level: bool = False
    section: str | None = None
    fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.provides not in PROVIDES:
            raise ValueError(f"source {self.name!r}: provides must be one of {', '.join(PROVIDES)}, got {self.provides!r}")
        if (self.schema is None) == (self.reader is None):
            raise ValueError(f"source {self.name!r}: give exactly one of schema (a ROOT tree through coffea) "
                             "or reader (a ChunkReader)")
        if self.convert is not None and self.schema is None:
            raise ValueError(f"source {self.name!r}: convert applies to ROOT trees read with a schema; "
                             "a reader yields the source's layout itself")

    @property
    def is_root(self) -> bool:
        """Read through coffea's Runner (a ROOT tree)."""
        return self.schema is not None


class FileView:
    """What :attr:`Source.recognise` looks at: one input file, opened at most once per kind and only when asked.

    Every property is ``None`` (or empty) when the file is not of that kind; nothing here raises.
    ``tree`` is the dataset's ``tree`` when its configuration names one (else ``None``): a source whose files
    hold a named tree or key looks there (:meth:`branches`).  ``read_error`` and ``root_error`` say why the
    file or its ROOT structure could not be read (``None``: it could, or was not tried).
    """

    def __init__(self, path: str, tree: str | None = None) -> None:
        self.path = path
        self.tree = tree
        self.read_error: str | None = None
        self.root_error: str | None = None

    def branches(self, default_tree: str) -> frozenset[str]:
        """The branch names of the ROOT tree a source reads: the dataset's ``tree``, else ``default_tree``."""
        return self.root_trees.get(self.tree or default_tree, frozenset())

    @cached_property
    def suffix(self) -> str:
        """The file name's last suffix, lower case, without a compression suffix (``.hepmc`` for ``x.hepmc.gz``)."""
        name = self.path.rsplit("/", 1)[-1].lower()
        for compressed in (".gz", ".bz2", ".xz", ".lz4", ".zst"):
            if name.endswith(compressed):
                name = name[: -len(compressed)]
        return "." + name.rsplit(".", 1)[-1] if "." in name else ""

    @cached_property
    def head(self) -> bytes:
        """The first 4 KiB of the file (decompressed where the name says so), or b'' if it cannot be read."""
        try:
            import fsspec

            with fsspec.open(self.path, "rb", compression="infer") as f:
                return f.read(4096)
        except Exception as exc:
            self.read_error = f"{type(exc).__name__}: {exc}"
            return b""

    @cached_property
    def root_trees(self) -> dict[str, frozenset[str]]:
        """``{tree name: its branch names}`` of a ROOT file (empty if the file is not ROOT, or is damaged:
        :attr:`root_error` says why).  A URL whose bytes fsspec cannot fetch (``root://`` without
        fsspec-xrootd) is tried with uproot, which reads it as coffea will."""
        url_unread = not self.head and "://" in self.path
        if not (self.head.startswith(b"root") or url_unread):
            return {}
        try:
            import uproot

            with uproot.open(self.path) as f:
                return {name: frozenset(f[name].keys()) for name, cls in f.classnames(cycle=False).items()
                        if cls in ("TTree", "TNtuple")}
        except Exception as exc:
            self.root_error = f"{type(exc).__name__}: {exc}"
            return {}

    @cached_property
    def hdf5_keys(self) -> frozenset[str]:
        """The top-level keys of an HDF5 file (empty if the file is not HDF5)."""
        if not self.head.startswith(b"\x89HDF\r\n\x1a\n"):
            return frozenset()
        try:
            import h5py

            with h5py.File(self.path, "r") as f:
                return frozenset(f.keys())
        except Exception:
            return frozenset()

    @cached_property
    def parquet_columns(self) -> frozenset[str]:
        """The column names of a Parquet file (empty if the file is not Parquet)."""
        if not self.head.startswith(b"PAR1"):
            return frozenset()
        try:
            import fsspec
            import pyarrow.parquet as pq

            with fsspec.open(self.path, "rb") as f:
                return frozenset(pq.read_schema(f).names)
        except Exception:
            return frozenset()


def content_identity(path: str) -> bytes:
    """16 bytes that stand for a non-ROOT file's content, as a ROOT UUID does: a SHA-256 of its size and of
    its first and last MiB.  Two copies of one file have the same identity; a file rewritten, another."""
    import fsspec

    try:
        with fsspec.open(path, "rb") as f:
            size = f.size if getattr(f, "size", None) is not None else f.seek(0, 2)
            f.seek(0)
            digest = hashlib.sha256(str(size).encode())
            digest.update(f.read(1 << 20))
            if size > 2 << 20:
                f.seek(size - (1 << 20))
            digest.update(f.read(1 << 20))
    except Exception as exc:
        raise InputError(f"file {path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    return digest.digest()[:16]
