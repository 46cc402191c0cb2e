"""The per-chunk context handed to every processing hook."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from jetflow.columns import ColumnSpec
    from jetflow.config import Config


@dataclass(frozen=True)
class ChunkContext:
    """Where a chunk comes from and how the run is configured.

    Attributes
    ----------
    dataset
        Dataset name, as in the config.
    label
        1 for signal, 0 for background.
    filename, treename, entrystart, entrystop
        The chunk's coordinates in its input file.
    config
        The validated run configuration (:class:`jetflow.config.Config`).
    stage
        For ``jetflow_select`` only: ``"jets"`` (first call, right after jet
        building, on the jet builder's columns) or ``"observables"`` (second
        call, after images and observables are computed).  Other hooks see
        ``"process"``.
    metadata
        The dataset's metadata as coffea passes it (xsec, label, ...).
    jet_fields
        The jet table's fields at the ``"jets"`` selection stage (what the jet
        builder and the weights wrote), so that a plugin can tell at the
        ``"observables"`` stage which columns it has seen before.
    columns
        Every declared column (``jetflow_columns`` of all plugins, and the
        core's): name -> :class:`jetflow.columns.ColumnSpec`.
    """

    dataset: str
    label: int
    filename: str
    treename: str
    entrystart: int
    entrystop: int
    config: Config
    stage: str = "process"
    metadata: dict[str, Any] = field(default_factory=dict)
    jet_fields: frozenset[str] = frozenset()
    columns: dict[str, ColumnSpec] = field(default_factory=dict)

    def options(self, section: str) -> BaseModel:
        """The validated options of a plugin-declared config section."""
        return self.config.section(section)

    def at_stage(self, stage: str, **changes: Any) -> ChunkContext:
        """A copy of this context at another stage."""
        from dataclasses import replace

        return replace(self, stage=stage, **changes)
