"""A test plugin that makes every chunk take a while, so that chunks are in flight when a worker dies."""

import time

from jetflow import hookimpl


@hookimpl
def jetflow_observables(jets):
    time.sleep(0.25)
    return None
