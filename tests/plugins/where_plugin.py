"""A test plugin that records which dask worker processed each chunk."""

from jetflow import hookimpl


@hookimpl
def jetflow_accumulate(jets):
    try:
        from distributed import get_worker

        where = get_worker().address
    except ValueError:
        where = "not a dask worker"
    return {"processed_on": {where: 1}}
