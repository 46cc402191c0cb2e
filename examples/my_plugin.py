"""A third-party jetflow plugin in a user's own file: no edit to jetflow.

    jetflow run study.yaml --plugin examples/my_plugin.py --out result.coffea

It adds two per-jet observables, declares them (so they are histogrammed,
plotted by ``jetflow report`` and can be used in ROCs and selections), and
declares its own config section.  A plugin's section is named after the
plugin: this file registers as the plugin ``my_plugin`` (its file name), so
its options are the YAML section ``my_plugin:``.  docs/plugins.md walks
through it.
"""

import awkward as ak
import numpy as np
from pydantic import Field

from jetflow import ColumnSpec, Options, hookimpl


class MyOptions(Options):
    min_constituent_pt: float = Field(1.0, ge=0, description="GeV: constituents counted above this")


@hookimpl
def jetflow_options():
    return MyOptions


@hookimpl
def jetflow_columns():
    return {
        "n_hard_constituents": ColumnSpec("Constituents above threshold", "", bins=100, start=0, stop=100),
        "leading_fraction": ColumnSpec("Leading constituent pT / jet pT", "", bins=50, start=0, stop=1),
    }


@hookimpl
def jetflow_observables(jets, ctx):
    opts = ctx.options()
    c = jets.constituents
    n_hard = ak.to_numpy(ak.sum(c.pt > opts.min_constituent_pt, axis=1)).astype(np.float64)
    lead = ak.to_numpy(ak.fill_none(ak.max(c.pt, axis=1), 0.0))
    frac = np.divide(lead, ak.to_numpy(jets.pt), out=np.zeros(len(jets)), where=ak.to_numpy(jets.pt) > 0)
    return {"n_hard_constituents": n_hard, "leading_fraction": frac}
