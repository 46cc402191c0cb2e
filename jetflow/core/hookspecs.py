"""Every hook of jetflow, in one file: the reference ``docs/hooks.md`` is generated from it.

A plugin implements any subset of these with ``@jetflow.hookimpl``, taking only the arguments it
needs (pluggy's rule).  Each implementation is called separately, so that an exception or a bad
return value is reported with the plugin, the hook, and for processing the chunk's coordinates.

The hooks fall into four groups:

* declarations, when a run's engine is built (client, each worker): ``jetflow_sources``,
  ``jetflow_options``, ``jetflow_columns``, ``jetflow_resources``, ``jetflow_prepare``, ``jetflow_worker_files``;
  and what can be trained: ``jetflow_model_kinds``;
* processing, called once per chunk on the worker in the order of docs/design.md, "Data flow":
  ``jetflow_build_jets`` (firstresult), ``jetflow_weights``, ``jetflow_select`` (stage "jets"),
  ``jetflow_build_images``, ``jetflow_observables``, ``jetflow_select`` (stage "observables"),
  ``jetflow_infer``, ``jetflow_accumulate``;
* results: ``jetflow_report``; front ends: ``jetflow_cli_commands``, ``jetflow_workflow_steps``,
  ``jetflow_workflows``.

``ctx`` is a :class:`jetflow.ChunkContext` bound to the plugin being called: ``ctx.options()`` is
the plugin's own config section, ``ctx.cache`` its per-process cache, ``ctx.prepared`` what its
``jetflow_prepare`` returned.  The per-jet table ``jets`` is a flat awkward record array, one
record per jet (fields: ``docs/hooks.md``, "The per-jet table"); columns the hooks return are
added as new fields, and a plugin may not overwrite a field that exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jetflow.core.markers import hookspec

if TYPE_CHECKING:
    from pathlib import Path

    import awkward as ak
    import click
    import numpy as np
    from pydantic import BaseModel

    from jetflow.core.columns import ColumnSpec
    from jetflow.core.config import Config
    from jetflow.core.context import ChunkContext
    from jetflow.core.model_kinds import ModelKind
    from jetflow.core.report import ReportPart
    from jetflow.core.sources import Source
    from jetflow.core.steps import WorkflowStep


# ---- declarations: called when the engine of a run is built ----


@hookspec
def jetflow_sources() -> list[Source] | None:
    """Provide input formats (:mod:`jetflow.core.sources`): how to recognise a file, read it, what it yields.

    Called when a run's engine is built and by ``jetflow plugins``.

    Returns
    -------
    list or None
        :class:`jetflow.Source` objects.  A source's name is what ``run.schema`` takes (``auto``: each file is
        shown to every ``recognise``; exactly one must claim it); its options are the providing plugin's
        section.  Two plugins may not provide one name.  ``None``: no source.
    """


@hookspec
def jetflow_model_kinds() -> list[ModelKind] | None:
    """Provide model kinds (:mod:`jetflow.core.model_kinds`) that ``jetflow train --model NAME`` can fit.

    Called when a training looks for its model kind and by ``jetflow plugins``.

    Returns
    -------
    list or None
        :class:`jetflow.ModelKind` objects (what each reads and can learn, its file, how it is built or
        fitted).  Two plugins may not provide one name.  ``None``: no model kind.
    """


@hookspec
def jetflow_options() -> type[BaseModel] | None:
    """Declare this plugin's configuration section.

    Called when a configuration is validated (once on the client, once per worker process) and by ``jetflow plugins``.

    Returns
    -------
    type or None
        A pydantic model class (best a subclass of :class:`jetflow.Options`: unknown keys refused, values
        frozen).  Its fields, with their defaults and types, are the options of the top-level YAML section named
        after the plugin (``selection:`` for the plugin ``selection``); inside a hook the plugin reads them as
        ``ctx.options()``.  A model may list ``former_names`` (a ``ClassVar``): a config still using one is told
        the new name.  ``None``: the plugin has no options.
    """


@hookspec
def jetflow_columns(options: BaseModel | None) -> dict[str, ColumnSpec] | None:
    """Declare the per-jet columns this plugin writes.

    Called when a run's engine is built (after the configuration is validated) and by ``jetflow plugins``.

    Parameters
    ----------
    options
        This plugin's validated section, for columns that depend on it (one ``score_<model>`` per configured
        model, the image column's name and pixel size); ``None`` when plugins are listed without a configuration
        or the plugin declares no options.

    Returns
    -------
    dict or None
        ``{column_name: ColumnSpec}`` with label, unit and default histogram binning.  Histogram accumulators
        histogram every declared flat column present in the table, so a new observable appears in the output
        without any edit to jetflow.  ``None``: the plugin writes no columns.
    """


@hookspec
def jetflow_resources(options: BaseModel | None) -> dict[str, float] | None:
    """Say which dask worker resources a chunk of this run needs.

    Called once per run on the client, before the chunks are submitted, when the run goes to a dask cluster.

    Parameters
    ----------
    options
        This plugin's validated section (``None`` if it declares no options).

    Returns
    -------
    dict or None
        ``{resource: amount}``, e.g. ``{"GPU": 1}`` when models are configured. The requests of all plugins are
        merged (the largest amount of each resource wins); if some worker of the cluster declares them all,
        every chunk is processed on such a worker, else anywhere.  ``None``: no need.
    """


@hookspec
def jetflow_prepare(options: BaseModel | None, config: Config) -> Any:
    """Compute, once per run on the client, what every chunk of the run needs.

    Called when the engine of a run is built on the client (``jetflow.run``, ``JetflowProcessor(...)``), never
    on a worker: a worker receives the value with the run's configuration.  Use it to read a file the workers
    may not see, or to fail before any chunk is processed.

    Parameters
    ----------
    options
        This plugin's validated section (``None`` if it declares no options).
    config
        The run's validated configuration (``config.resolve(path)`` makes a path from it absolute).

    Returns
    -------
    Any
        Picklable plain data (arrays, numbers, dicts), available in the processing hooks as ``ctx.prepared``.
        ``None``: nothing to prepare.
    """


@hookspec
def jetflow_worker_files(options: BaseModel | None, config: Config) -> list[str] | None:
    """Name the files this plugin's processing hooks open on the workers (models, tables).

    Called once per run on the client.  Its SHA-256 joins the checkpoint description; on a
    dask cluster the file travels with the run (a worker's ``config.resolve`` gives the copy).

    Parameters
    ----------
    options
        This plugin's validated section (``None`` if it declares no options).
    config
        The run's validated configuration.

    Returns
    -------
    list or None
        Paths as written in the configuration.  ``None``: no file.
    """


# ---- processing: called once per chunk on the worker ----


@hookspec(firstresult=True)
def jetflow_build_jets(events: ak.Array, ctx: ChunkContext) -> ak.Array | None:
    """Build the per-jet table of a chunk: where jets and their constituents come from.

    Called first for every chunk; plugins are asked in turn until one answers.

    Parameters
    ----------
    events
        The chunk's events, one record per event (per jet for a jet-level source): coffea's NanoEvents for
        a ROOT tree read through coffea, the awkward array of the source's reader for any other file.
    ctx
        The chunk context, bound to this plugin.

    Returns
    -------
    ak.Array or None
        A flat record array, one record per jet, with at least the fields "written by the jet builder" in the
        per-jet table (docs/hooks.md). ``None``: this plugin does not build jets for this input; the next plugin
        is asked.  If every plugin answers None the processor raises an error naming them.
    """


@hookspec
def jetflow_weights(
    jets: ak.Array, events: ak.Array, ctx: ChunkContext
) -> dict[str, np.ndarray | float] | None:
    """Per-jet weight factors.

    Called for every chunk right after jet building.

    Parameters
    ----------
    jets
        The chunk's jet table (builder fields, ``label``, ``dataset``).
    events
        The chunk's events as given to :func:`jetflow_build_jets` (``events.genWeight`` and the like);
        ``jets.event`` indexes them.
    ctx
        The chunk context, bound to this plugin.

    Returns
    -------
    dict or None
        ``{factor_name: per-jet array or scalar}``.  The processor multiplies every factor of every plugin into
        the ``weight`` column and keeps each factor as a column ``weight_<factor_name>``.  ``None``: no factor.
    """


@hookspec
def jetflow_select(jets: ak.Array, ctx: ChunkContext) -> dict[str, np.ndarray] | None:
    """Selection masks.

    Called twice per chunk: with ``ctx.stage == "jets"`` right after jet building and weighting (cut on the
    builder's columns here, before the expensive images), and with ``ctx.stage == "observables"`` after images
    and observables (cut on those here).

    Parameters
    ----------
    jets
        The jet table as it stands at that stage.
    ctx
        The chunk context, bound to this plugin; ``ctx.stage`` says which call this is and ``ctx.jet_fields``
        which fields the first call saw.

    Returns
    -------
    dict or None
        ``{step_name: boolean per-jet mask}``, in the order the steps should appear in the cut-flow.  All masks
        of all plugins are ANDed; jets that fail are removed from the table.  The processor records a weighted
        cut-flow step ``<plugin>:<step_name>`` per mask.  ``None``: no cut.
    """


@hookspec
def jetflow_build_images(jets: ak.Array, ctx: ChunkContext) -> dict[str, np.ndarray] | None:
    """Jet images.

    Called for every chunk after the ``"jets"`` selection stage.

    Parameters
    ----------
    jets
        The selected jets.
    ctx
        The chunk context, bound to this plugin.

    Returns
    -------
    dict or None
        ``{column_name: float32 array [n_jets, height, width, channels]}``, channels last (Keras' default),
        height along eta, width along phi; declare the column with kind ``"image"`` and its ``pixel_size``.
        ``None``: no images.
    """


@hookspec
def jetflow_observables(jets: ak.Array, ctx: ChunkContext) -> dict[str, Any] | None:
    """Per-jet observables (tau21, Delta R, ...).

    Called for every chunk after the images are added.

    Parameters
    ----------
    jets
        The selected jets, with their images.
    ctx
        The chunk context, bound to this plugin; ``ctx.columns`` describes the columns present (an image's
        ``pixel_size``).

    Returns
    -------
    dict or None
        ``{column_name: per-jet array of length n_jets}``, snake_case names. A jet where an observable is
        undefined gets a documented finite value: a NaN or infinity is refused with the plugin's name.
        ``None``: nothing.
    """


@hookspec
def jetflow_infer(jets: ak.Array, ctx: ChunkContext) -> dict[str, np.ndarray] | None:
    """Model scores.

    Called for every chunk after the ``"observables"`` selection stage, on the jets that passed it.

    Parameters
    ----------
    jets
        The selected jets with images and observables.
    ctx
        The chunk context, bound to this plugin.

    Returns
    -------
    dict or None
        ``{column_name: per-jet float array}``, named ``score_<model>``; declare them with kind ``"score"`` so
        that ROC accumulators read them. ``None``: no model configured.
    """


@hookspec
def jetflow_accumulate(jets: ak.Array, ctx: ChunkContext) -> dict[str, Any] | None:
    """Fill mergeable accumulators from the selected jets.

    Called last for every chunk.

    Parameters
    ----------
    jets
        The final jet table of the chunk (every column).
    ctx
        The chunk context, bound to this plugin.

    Returns
    -------
    dict or None
        ``{name: Addable}`` (``hist.Hist``, any object with an associative ``__add__``), merged into the chunk
        output of the dataset.  Two plugins may not use the same name.  Accumulators must give the same result
        whatever the chunking and the merge order.  ``None``: nothing.
    """


# ---- results ----


@hookspec
def jetflow_report(result: Any, out: Path, columns: list[str] | None) -> ReportPart | None:
    """Add this plugin's plots and tables to a report (``jetflow report``, the workflow step ``report``).

    Called once per report, after the core has written the cut-flows.

    Parameters
    ----------
    result
        The :class:`jetflow.Result` (``result[dataset][name]`` is an accumulator; ``result.combined(name)``
        merges it over the datasets).
    out
        The report folder (it exists); write files into it.
    columns
        Only these per-jet columns are wanted in distribution plots (``jetflow report --column``); ``None``:
        all.

    Returns
    -------
    ReportPart or None
        A :class:`jetflow.ReportPart`: a title, a Markdown fragment (links relative to ``out``) that goes into
        ``report.md``, the files written. ``None``: this plugin has nothing in this result.
    """


# ---- front ends ----


@hookspec
def jetflow_cli_commands() -> list[click.Command] | None:
    """Add sub-commands to the ``jetflow`` command line.

    Called when the ``jetflow`` command starts.

    Returns
    -------
    list of click.Command or None
        Commands to attach to the ``jetflow`` group.  A name that exists is refused with a warning.  ``None``:
        no commands.
    """


@hookspec
def jetflow_workflow_steps() -> dict[str, WorkflowStep] | None:
    """Declare the kinds of workflow step this plugin provides (``generate``, ``train``, ...).

    Called when a workflow is loaded (``jetflow workflow``, ``jetflow reproduce``).

    Returns
    -------
    dict or None
        ``{kind: WorkflowStep}``: a :class:`jetflow.WorkflowStep` gives the step's options model and the
        function that runs it.  A workflow file names the kind in a step's ``step:`` key.  Two plugins may not
        declare the same kind.  ``None``: no steps.
    """


@hookspec
def jetflow_workflows() -> dict[str, Path] | None:
    """Offer packaged workflow files (studies) by name.

    Called when a workflow is asked for by name (``jetflow workflow NAME``,
    ``jetflow reproduce --study NAME``) and when they are listed.

    Returns
    -------
    dict or None
        ``{name: path of a workflow YAML file}``.  ``None``: none.
    """
