"""Writes jetnet_reference.json: the `jetnet` package's own metrics on the jets of
tests/data/jetnet_reference_jets.py, the reference that tests/test_jetnet_metrics.py compares jetflow's with.

jetnet cannot be a dependency (it pulls torch and energyflow, which pins numpy < 2), so it runs in a
scratch environment, by hand:

    python -m venv /tmp/jn && /tmp/jn/bin/pip install "numpy<2" "pyarrow<16" jetnet==0.2.5 energyflow
    /tmp/jn/bin/python tests/data/make_jetnet_reference.py      # from the repository root

jetnet's W1s draw from its module-level generator, set here to default_rng(0) before each metric (jetflow's
seed 0); FPD and KPD take their own seeds (jetnet's defaults, 42, as jetflow's).
"""

import json
import sys
from pathlib import Path

import energyflow
import jetnet
import numpy as np
from jetnet.evaluation import gen_metrics as gm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jetnet_reference_jets import SIZES, reference_jets  # noqa: E402

real, generated = reference_jets()
s = SIZES
out = {"jetnet": jetnet.__version__, "energyflow": energyflow.__version__}
for name, metric in (("w1m", gm.w1m), ("w1p", gm.w1p), ("w1efp", gm.w1efp)):
    gm.rng = np.random.default_rng(0)
    out[name] = [np.asarray(v).tolist() for v in metric(real, generated, num_eval_samples=s["w1_samples"],
                                                        num_batches=s["w1_batches"])]
features_real, features_generated = gm.get_fpd_kpd_jet_features(real), gm.get_fpd_kpd_jet_features(generated)
out["fpd"] = list(gm.fpd(features_real, features_generated, min_samples=s["fpd_min"], max_samples=s["fpd_max"],
                         num_batches=s["fpd_batches"]))
out["kpd"] = list(gm.kpd(features_real, features_generated, num_batches=s["kpd_batches"], batch_size=s["kpd_batch"]))
out["efps_of_the_first_jets"] = features_real[: s["efp_jets"]].tolist()
(Path(__file__).parent / "jetnet_reference.json").write_text(json.dumps(out, indent=1) + "\n")
