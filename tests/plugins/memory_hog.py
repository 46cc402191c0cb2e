"""Holds 400 MB from its first chunk on, as importing TensorFlow and loading models does, and logs each chunk's
process (``HOG_LOG``): a pool that took the growth for a leak would restart the worker."""

import os

import numpy as np

from jetflow import hookimpl

_held = []


@hookimpl
def jetflow_observables(jets, ctx):
    if not _held:
        _held.append(np.ones(400 * 2**20 // 8))
    with open(os.environ["HOG_LOG"], "a") as f:
        f.write(f"{os.getpid()}\n")
    return None
