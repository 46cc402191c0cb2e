"""Irregular per-jet weights, and the first chunk of every file finishing last (it waits LATE_FIRST_CHUNK_S):
merged in the order chunks finish, the floating-point sums would differ in their last bits from a run in order."""

import os
import time

import awkward as ak
import numpy as np

from jetflow import hookimpl


@hookimpl
def jetflow_weights(jets, ctx):
    return {"wiggle": 1.0 + 0.37 * np.sin(ak.to_numpy(jets.pt) * 1.3)}


@hookimpl
def jetflow_observables(jets, ctx):
    if ctx.entrystart == 0:
        time.sleep(float(os.environ.get("LATE_FIRST_CHUNK_S", "0")))
    return None
