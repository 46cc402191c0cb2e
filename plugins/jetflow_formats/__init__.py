"""Built-in plugin ``formats``: the input formats jetflow reads (hook ``jetflow_sources``; docs/formats.md).

Particle-level events, clustered by the ``clustering`` plugin: jetflow's own files (``jetflow``), Delphes'
ROOT output (``delphes``: its towers or energy-flow objects), HepMC3 event records (``hepmc3``: Herwig,
Sherpa, Pythia).
Events of a layout their own jet builder knows: CMS PFNanoAOD (``pfnano``) and NanoAOD (``nanoaod``).
Jets already built, one entry a jet: the top-tagging reference dataset (``toptagging``, and its Parquet
conversion ``toptagging_parquet``), JetNet (``jetnet``), JetClass (``jetclass``).
Every source is in :mod:`jetflow.core.sources`' terms; the options of the formats that have any are
sub-sections of this plugin's section ``formats:``, named after the format.
The workflow step ``toptagging_write`` writes a run's export in the top-tagging dataset's layout
(:mod:`jetflow_formats.toptagging_sample`; workflow ``toptagging-sample``).
"""

from __future__ import annotations

from pydantic import Field

from jetflow import Options, hookimpl

from jetflow_formats.delphes import SOURCE as DELPHES, DelphesOptions
from jetflow_formats.hepmc3 import SOURCE as HEPMC3, HepMC3Options
from jetflow_formats.jetclass import COLUMNS as JETCLASS_COLUMNS, JETCLASS, JetClassOptions
from jetflow_formats.jetnet import COLUMNS as JETNET_COLUMNS, JETNET, JetNetOptions
from jetflow_formats.native import JETFLOW, NANOAOD, PFNANO
from jetflow_formats.toptagging import (COLUMNS as TOPTAGGING_COLUMNS, TOPTAGGING, TOPTAGGING_PARQUET,
                                        TopTaggingOptions)
from jetflow_formats.toptagging_sample import STEPS


class FormatsOptions(Options):
    """Options of the input formats, one sub-section per format that has any."""

    delphes: DelphesOptions = Field(default_factory=DelphesOptions)
    hepmc3: HepMC3Options = Field(default_factory=HepMC3Options)
    toptagging: TopTaggingOptions = Field(default_factory=TopTaggingOptions,
                                          description="the top-tagging dataset (HDF5 and Parquet)")
    jetnet: JetNetOptions = Field(default_factory=JetNetOptions)
    jetclass: JetClassOptions = Field(default_factory=JetClassOptions)


@hookimpl
def jetflow_options():
    return FormatsOptions


@hookimpl
def jetflow_columns():
    return {**TOPTAGGING_COLUMNS, **JETNET_COLUMNS, **JETCLASS_COLUMNS}


@hookimpl
def jetflow_sources():
    return [JETFLOW, PFNANO, NANOAOD, DELPHES, HEPMC3, TOPTAGGING, TOPTAGGING_PARQUET, JETNET, JETCLASS]


@hookimpl
def jetflow_workflow_steps():
    return STEPS
