"""Every hook of jetflow, in one file.

A plugin implements any subset of these with ``@jetflow.hookimpl``; an
implementation may accept only the arguments it needs (pluggy's rule).  The
processor calls the processing hooks once per chunk, in this order (see
DESIGN.md, "Data flow")::

    jets     = jetflow_build_jets(events, ctx)             firstresult
    weight   = product of jetflow_weights(jets, events, ctx)
    jets     = jets[AND of jetflow_select(jets, ctx)]      ctx.stage == "jets"
    columns += jetflow_build_images(jets, ctx)
    columns += jetflow_observables(jets, ctx)
    jets     = jets[AND of jetflow_select(jets, ctx)]      ctx.stage == "observables"
    columns += jetflow_infer(jets, ctx)
    output  += jetflow_accumulate(jets, ctx)

The per-jet table ``jets`` is a flat awkward record array, one record per
jet.  Every jet builder provides ``pt``, ``eta``, ``phi``, ``mass`` (GeV,
the jet as the study defines it: trimmed by default), ``constituents`` and
``subjets`` (jagged records with ``pt``, ``eta``, ``phi``, ``mass``;
constituents also ``pdgId`` and ``charge``).  The processor adds ``event``
(index of the event in the chunk), ``weight``, ``label`` (1 signal, 0
background) and ``dataset``.  Columns returned by the other hooks are added as
new fields; a plugin may not overwrite a field that exists already.

``ctx`` is a :class:`jetflow.context.ChunkContext`: dataset, label, file,
entry range, the validated config (``ctx.options("jets")`` gives a plugin's
own section) and, for ``jetflow_select``, the stage.

Each plugin's implementation is called separately, so that an exception or
a bad return value is reported with the plugin's name, the hook, the dataset,
the file and the entry range.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jetflow._markers import hookspec

if TYPE_CHECKING:
    import awkward as ak
    import click
    import numpy as np
    from pydantic import BaseModel

    from jetflow.columns import ColumnSpec
    from jetflow.config import Config
    from jetflow.context import ChunkContext


# --------------------------------------------------------------------------
# declarations: called once when the plugin manager is built
# --------------------------------------------------------------------------


@hookspec
def jetflow_options() -> dict[str, type[BaseModel]] | None:
    """Declare the configuration sections this plugin owns.

    Returns
    -------
    dict or None
        ``{section_name: PydanticModel}``.  Each model's fields, with their
        defaults and types, are the options of that top-level section of the
        YAML config (``jets:``, ``images:``, ...).  Models should set
        ``model_config = ConfigDict(extra="forbid")`` so that a misspelt key is
        rejected with its path.  Two plugins may not declare the same section.
        ``None``: the plugin has no options.

    Not firstresult: every plugin's sections are collected.
    """


@hookspec
def jetflow_columns(config: Config | None) -> dict[str, ColumnSpec] | None:
    """Declare the per-jet columns this plugin writes.

    Parameters
    ----------
    config
        The run's validated configuration, for columns named by it (one
        ``score_<model>`` per configured model); ``None`` when listing plugins
        without a configuration.

    Returns
    -------
    dict or None
        ``{column_name: ColumnSpec}`` with label, unit and default histogram
        binning.  The histogram accumulators histogram every declared flat
        column present in the table, so a new observable appears in the output
        without any edit to jetflow.  ``None``: the plugin writes no columns.

    Not firstresult.
    """


@hookspec
def jetflow_cli_commands() -> list[click.Command] | None:
    """Add sub-commands to the ``jetflow`` command line.

    Returns
    -------
    list of click.Command or None
        Commands to attach to the ``jetflow`` group (e.g. ``generate``,
        ``train``, ``report``).  ``None``: no commands.

    Not firstresult.
    """


@hookspec(firstresult=True)
def jetflow_train_model(model: str, data: str, out: str, options: dict[str, Any]) -> dict[str, Any] | None:
    """Train a model on a training export (what ``jetflow train`` does), for workflows such as ``jetflow demo``.

    Parameters
    ----------
    model
        Model name (``convnet``, ``maxout``, ``lbn``, ``fisher``, ...).
    data
        The export folder.
    out
        The ``.keras`` file to write.
    options
        Training options (epochs, batch_size, seed, model_args, ...).

    Returns
    -------
    dict or None
        The training record (configuration, history, validation metrics);
        ``None``: this plugin does not train that model.

    firstresult: the first plugin that trains it answers.
    """


# --------------------------------------------------------------------------
# processing: called once per chunk on the worker
# --------------------------------------------------------------------------


@hookspec(firstresult=True)
def jetflow_build_jets(events: ak.Array, ctx: ChunkContext) -> ak.Array | None:
    """Build the per-jet table of a chunk: where jets and their constituents come from.

    Parameters
    ----------
    events
        The chunk's NanoEvents (one record per event).
    ctx
        The chunk context; ``ctx.options("jets")`` holds the jet options,
        including ``source`` which says which builder should answer.

    Returns
    -------
    ak.Array or None
        A flat record array, one record per jet, with at least ``pt``,
        ``eta``, ``phi``, ``mass``, ``constituents``, ``subjets`` and
        ``event`` (int64 index of the jet's event inside the chunk).
        ``None``: this plugin does not build jets for the configured source;
        the next plugin is asked.

    firstresult: the first non-None answer wins.  If every plugin answers
    None the processor raises an error naming the configured source.
    """


@hookspec
def jetflow_weights(
    jets: ak.Array, events: ak.Array, ctx: ChunkContext
) -> dict[str, np.ndarray | float] | None:
    """Per-jet weight factors.

    Returns
    -------
    dict or None
        ``{factor_name: per-jet array or scalar}``.  The processor multiplies
        every factor of every plugin into the ``weight`` column and keeps each
        factor as a column ``weight_<factor_name>``.  ``None``: no factor (the
        weight stays 1).

    Not firstresult: factors of all plugins multiply.
    """


@hookspec
def jetflow_select(jets: ak.Array, ctx: ChunkContext) -> dict[str, np.ndarray] | None:
    """Selection masks.

    Called twice per chunk: with ``ctx.stage == "jets"`` right after jet
    building and weighting (cut on the builder's columns here, before the
    expensive images), and with ``ctx.stage == "observables"`` after images
    and observables (cut on those here).

    Returns
    -------
    dict or None
        ``{step_name: boolean per-jet mask}``, in the order the steps should
        appear in the cut-flow.  All masks of all plugins are ANDed; jets that
        fail are removed from the table.  The processor records a weighted
        cut-flow step per mask.  ``None``: no cut at this stage.

    Not firstresult.
    """


@hookspec
def jetflow_build_images(jets: ak.Array, ctx: ChunkContext) -> dict[str, np.ndarray] | None:
    """Jet images.

    Returns
    -------
    dict or None
        ``{column_name: float32 array [n_jets, height, width, channels]}``,
        channels last (Keras' default), height along eta, width along phi.
        ``None``: no images.

    Not firstresult.
    """


@hookspec
def jetflow_observables(jets: ak.Array, ctx: ChunkContext) -> dict[str, Any] | None:
    """Per-jet observables (mass, tau21, Delta R, ...).

    Returns
    -------
    dict or None
        ``{column_name: per-jet array of length n_jets}``, snake_case names.
        A jet where an observable is undefined gets a documented value, never
        a NaN that leaks into histograms.  ``None``: nothing to add.

    Not firstresult.
    """


@hookspec
def jetflow_infer(jets: ak.Array, ctx: ChunkContext) -> dict[str, np.ndarray] | None:
    """Model scores.

    Returns
    -------
    dict or None
        ``{column_name: per-jet float array}``, named ``score_<model>``;
        declare them with kind ``"score"`` so that ROC accumulators read them.
        ``None``: no model configured.

    Not firstresult.
    """


@hookspec
def jetflow_accumulate(jets: ak.Array, ctx: ChunkContext) -> dict[str, Any] | None:
    """Fill mergeable accumulators from the selected jets.

    Returns
    -------
    dict or None
        ``{name: Addable}`` (``hist.Hist``, ``WeightedROC``, ``Cutflow``, any
        object with an associative ``__add__``), merged into the chunk output of
        the dataset.  Two plugins may not use the same name.  Accumulators
        must give the same result whatever the chunking and the merge order.
        ``None``: nothing to accumulate.

    Not firstresult.
    """
