"""A third-party plugin, as a user would write it in their own file.

It adds the observable ``n_constituents`` (number of constituents per jet),
declares it so that it is histogrammed, and nothing in jetflow is edited.
"""

import awkward as ak
import numpy as np

from jetflow import ColumnSpec, hookimpl


@hookimpl
def jetflow_columns():
    return {
        "n_constituents": ColumnSpec(
            "Number of constituents", "", bins=200, start=0, stop=200, description="constituent multiplicity"
        )
    }


@hookimpl
def jetflow_observables(jets):
    return {"n_constituents": ak.to_numpy(ak.num(jets.constituents, axis=1)).astype(np.float64)}
