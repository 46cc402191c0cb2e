"""The per-chunk context handed to every processing hook."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pydantic import BaseModel

    from jetflow.core.cache import PluginCache
    from jetflow.core.columns import ColumnSpec
    from jetflow.core.config import Config
    from jetflow.core.sources import Source


@dataclass(frozen=True)
class ChunkContext:
    """Where a chunk comes from, how the run is configured, and which plugin is being called.

    The engine hands each plugin its own copy (:meth:`for_plugin`), so that
    :meth:`options` and :attr:`cache` are that plugin's.

    Attributes
    ----------
    dataset
        Dataset name, as in the config.
    label
        1 for signal, 0 for background, or the dataset's class number; ``None`` for a dataset with
        ``label: file``, whose jets each carry their own (the jet table's ``label``, always there).
    filename, treename, entrystart, entrystop
        The chunk's coordinates in its input file.
    config
        The validated run configuration (:class:`jetflow.core.config.Config`).
    stage
        For ``jetflow_select`` only: ``"jets"`` (first call, right after jet
        building, on the jet builder's columns) or ``"observables"`` (second
        call, after images and observables are computed).  Other hooks see
        ``"process"``.
    metadata
        The dataset's metadata as coffea passes it (xsec, label, sumw_gen, ...).
    jet_fields
        The jet table's fields at the ``"jets"`` selection stage (what the jet
        builder and the weights wrote), so that a plugin can tell at the
        ``"observables"`` stage which columns it has seen before.
    columns
        Every declared column (``jetflow_columns`` of all plugins, and the
        core's): name -> :class:`jetflow.ColumnSpec`.
    plugin
        The name of the plugin being called.
    prepared
        What this plugin's ``jetflow_prepare`` returned for this run (``None``
        if it has no such hook).
    """

    dataset: str
    label: int | None
    filename: str
    treename: str
    entrystart: int
    entrystop: int
    config: Config
    source: Source | None = None
    stage: str = "process"
    metadata: dict[str, Any] = field(default_factory=dict)
    jet_fields: frozenset[str] = frozenset()
    columns: dict[str, ColumnSpec] = field(default_factory=dict)
    plugin: str = ""
    prepared_by_plugin: dict[str, Any] = field(default_factory=dict, repr=False)

    def options(self) -> BaseModel:
        """The validated options of the calling plugin: the config section named after it."""
        if not self.config.has_section(self.plugin):
            from jetflow.core.errors import ConfigError

            raise ConfigError(
                f"plugin {self.plugin!r} asked for its options, but it declares none "
                "(return an options model from its jetflow_options hook)"
            )
        return self.config.section(self.plugin)

    def entries(self, jets) -> np.ndarray:
        """Each jet's event's entry number in its file (int64): independent of the chunking, so what is
        split by it (ROC halves, cross-fitting folds: :func:`jetflow.stats.crossfit.fold_of`) is too."""
        import awkward as ak

        return self.entrystart + ak.to_numpy(jets.event).astype(np.int64)

    @property
    def prepared(self) -> Any:
        return self.prepared_by_plugin.get(self.plugin)

    @property
    def cache(self) -> PluginCache:
        """The calling plugin's per-process cache (see :mod:`jetflow.core.cache`)."""
        from jetflow.core.cache import plugin_cache

        return plugin_cache(self.plugin)

    def for_plugin(self, plugin: str) -> ChunkContext:
        """This context as plugin ``plugin`` sees it."""
        return replace(self, plugin=plugin)

    def at_stage(self, stage: str, **changes: Any) -> ChunkContext:
        """A copy of this context at another stage."""
        return replace(self, stage=stage, **changes)
