"""The jets and sample sizes of the comparison with the `jetnet` package (numpy only: the scratch environment
that runs jetnet, tests/data/make_jetnet_reference.py, and tests/test_jetnet_metrics.py both import it)."""

import numpy as np

SIZES = {"w1_samples": 2000, "w1_batches": 3, "fpd_min": 1000, "fpd_max": 3000, "fpd_batches": 5,
         "kpd_batches": 4, "kpd_batch": 1000, "efp_jets": 20}


def reference_jets():
    """3,000 real and 3,000 generated jets (eta_rel shifted by 0.02) of 5-30 particles, from a fixed seed."""
    rng = np.random.default_rng(11)

    def sample(shift):
        x = np.zeros((3000, 30, 3))
        x[..., 0] = rng.normal(shift, 0.1, (3000, 30))
        x[..., 1] = rng.normal(0, 0.1, (3000, 30))
        pt = rng.exponential(1, (3000, 30))
        x[..., 2] = pt / pt.sum(1, keepdims=True)
        x[np.arange(30)[None, :] >= rng.integers(5, 31, 3000)[:, None]] = 0
        return x

    return sample(0.0), sample(0.02)
