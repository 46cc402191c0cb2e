"""The same study on a dask cluster: a LocalCluster started here, then used by address.

    jetflow generate --process wprime --events 2000 --out samples
    jetflow generate --process qcd --events 4000 --out samples
    python examples/dask_cluster.py samples

On a real cluster, replace the LocalCluster by dask-jobqueue / dask-gateway
(docs/distributed.md); jetflow only sees the Client or the scheduler address.
"""

from __future__ import annotations

import sys
from pathlib import Path

from distributed import Client, LocalCluster

import jetflow


def main(samples: str) -> None:
    samples = Path(samples).resolve()
    config = {
        "datasets": {
            "wprime": {"files": [str(samples / "wprime_s1_*.root")], "label": "signal"},
            "qcd": {"files": [str(samples / "qcd_s1_*.root")], "label": "background"},
        },
        "clustering": {"source": "towers"},
        "accumulators": {"roc": {"discriminants": {"tau21": "lower", "mass": "likelihood"}}},
        "run": {"chunksize": 500},
    }
    with LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=None) as cluster, Client(cluster) as client:
        # 1. hand jetflow the client (what a dask-jobqueue or dask-gateway recipe does)
        result = jetflow.run(config, client=client)
        print(result.summary())
        # 2. or name the scheduler, as `jetflow run --scheduler ADDRESS` does
        again = jetflow.run(config, executor="dask", scheduler=cluster.scheduler_address)
        roc = again.combined("roc")["tau21"].summary()
        print(f"tau21: AUC {roc['auc']:.3f}, rejection at eps_S = 0.5: {roc['rej@0.5']:.1f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "samples")
