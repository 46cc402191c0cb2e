"""JetNet's generative metrics: the EFP graphs against their known counts, the EFPs against a direct sum over
particle tuples, the jet mass against the vector library, and W1, FPD and KPD against distributions whose
distances are known in closed form."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import vector

from jetflow.stats.efp import angles, connected_graphs, efps, graphs, prime_efps
from jetflow.stats.jetnet_metrics import (evaluate, fpd, frechet_distance, jet_mass, kpd, mmd_poly_unbiased, normalised,
                                          physics_features, w1efp, w1m, w1p)


def jets(rng, n=400, p=6, eta_shift=0.0):
    """JetNet-like jets: (eta_rel, phi_rel, pT_rel), the last particles of some jets padded with zeros."""
    x = np.zeros((n, p, 3))
    x[..., 0] = rng.normal(eta_shift, 0.1, (n, p))
    x[..., 1] = rng.normal(0, 0.1, (n, p))
    pt = rng.exponential(1.0, (n, p))
    x[..., 2] = pt / pt.sum(1, keepdims=True)
    counts = rng.integers(2, p + 1, n)
    x[np.arange(p)[None, :] >= counts[:, None]] = 0.0
    return x


def test_the_graphs_are_the_connected_multigraphs_and_their_products():
    # connected multigraphs without loops by number of edges: OEIS A076864 (1, 1, 2, 5, 12, 33)
    assert [len(connected_graphs(d)) for d in range(6)] == [1, 1, 2, 5, 12, 33]
    catalogue = graphs(4)
    assert len(catalogue) == 36  # energyflow's EFPSet(("d<=", 4)), jetnet's FPD / KPD features
    degrees = [sum(g.degree for g in factors) for factors in catalogue]
    assert [degrees.count(d) for d in range(5)] == [1, 1, 3, 8, 23]
    assert sum(len(f) == 1 for f in catalogue) == 21 and sum(len(f) > 1 for f in catalogue) == 15
    assert len({tuple((g.n, g.edges) for g in f) for f in catalogue}) == 36
    assert sum(g.n == 4 for g in connected_graphs(4)) == 5  # jetnet's W1-EFP set: n = 4, d = 4, prime


def test_efps_equal_the_direct_sum_over_particle_tuples():
    rng = np.random.default_rng(1)
    x = jets(rng, n=4, p=5)
    x[0, :, 1] = [3.1, -3.1, 3.0, 0.0, 0.0]  # across the phi wrap
    x[0, 3:, 2] = 0.0
    got = efps(x)
    for j in range(len(x)):
        z = x[j, :, 2]
        dphi = np.abs(x[j, :, None, 1] - x[j, None, :, 1])
        dphi = np.minimum(dphi, 2 * np.pi - dphi)
        theta = np.hypot(x[j, :, None, 0] - x[j, None, :, 0], dphi)
        for k, factors in enumerate(graphs(4)):
            value = 1.0
            for g in factors:
                value *= sum(np.prod([z[i] for i in t]) * np.prod([theta[t[a], t[b]] for a, b in g.edges])
                             for t in itertools.product(range(5), repeat=g.n))
            assert got[j, k] == pytest.approx(value, rel=1e-10, abs=1e-14), (j, factors)
    np.testing.assert_allclose(prime_efps(x), got[:, [k for k, f in enumerate(graphs(4))
                                                     if len(f) == 1 and f[0].n == 4 and f[0].degree == 4]])
    z, _ = angles(x)
    np.testing.assert_allclose(got[:, 0], z.sum(1))  # the single vertex: sum of z


def test_jet_mass_against_the_vector_library():
    x = jets(np.random.default_rng(2), n=50)
    p = vector.array({"eta": x[..., 0].ravel(), "phi": x[..., 1].ravel(), "pt": x[..., 2].ravel(),
                      "mass": np.zeros(x[..., 0].size)})
    px, py, pz, e = (getattr(p, c).reshape(x.shape[:2]).sum(1) for c in ("px", "py", "pz", "E"))
    np.testing.assert_allclose(jet_mass(x), np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0)), rtol=1e-9)


def test_w1_metrics_see_a_known_shift_and_not_its_absence():
    rng = np.random.default_rng(3)
    real, other, shifted = jets(rng, 3000), jets(rng, 3000), jets(rng, 3000, eta_shift=0.05)
    means, stds = w1p(real, shifted, num_eval_samples=3000, num_batches=3)
    assert means[0] == pytest.approx(0.05, abs=0.006) and (means[1:] < 0.01).all() and stds.shape == (3,)
    same, _ = w1p(real, other, num_eval_samples=3000, num_batches=3)
    assert (same < 0.01).all()
    # a sample of one jet repeated: every draw is that jet, the distance exactly 0
    one = np.repeat(real[:1], 50, axis=0)
    assert w1m(one, one, num_eval_samples=50, num_batches=2) == (0.0, 0.0)
    assert w1m(real, other, num_eval_samples=3000, num_batches=3, seed=1) == w1m(
        real, other, num_eval_samples=3000, num_batches=3, seed=1)  # seeded: the same number twice
    wide = real.copy()
    wide[..., :2] *= 2.0  # twice the angles: twice the (small-angle) mass
    assert w1m(real, wide, 3000, 3)[0] > 5 * w1m(real, other, 3000, 3)[0]
    efp_means, _ = w1efp(real, other, 3000, 3)
    assert efp_means.shape == (5,)


def test_frechet_distance_of_diagonal_gaussians():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.0, 1.0])
    s1, s2 = np.diag([1.0, 4.0, 0.25]), np.diag([4.0, 1.0, 0.25])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(np.diag(s1)) - np.sqrt(np.diag(s2))) ** 2).sum()
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-10)


def test_fpd_extrapolates_to_the_gaussians_distance():
    rng = np.random.default_rng(4)
    x, y, same = rng.normal(0, 1, (20000, 3)), rng.normal([0.3, 0, 0], 1, (20000, 3)), rng.normal(0, 1, (20000, 3))
    value, error = fpd(x, y, min_samples=2000, max_samples=5000, num_batches=5, normalise=False)
    assert value == pytest.approx(0.09, abs=max(3 * error, 0.01))
    zero, error0 = fpd(x, same, min_samples=2000, max_samples=5000, num_batches=5, normalise=False)
    assert zero < max(3 * error0, 0.005)


def test_kpd_against_pair_sums_and_known_samples():
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, (7, 3)), rng.normal(0.5, 1, (6, 3))
    k = lambda p, q: (p @ q / 3 + 1.0) ** 4  # noqa: E731
    pairs = (sum(k(a[i], a[j]) for i in range(7) for j in range(7) if i != j) / 42
             + sum(k(b[i], b[j]) for i in range(6) for j in range(6) if i != j) / 30
             - 2 * sum(k(a[i], b[j]) for i in range(7) for j in range(6)) / 42)
    assert mmd_poly_unbiased(a, b) == pytest.approx(pairs, rel=1e-10)
    x, y, same = rng.normal(0, 1, (5000, 4)), rng.normal(0.3, 1, (5000, 4)), rng.normal(0, 1, (5000, 4))
    null, spread = kpd(x, same, num_batches=6, batch_size=1000)
    shifted, _ = kpd(x, y, num_batches=6, batch_size=1000)
    assert abs(null) < 3 * spread + 1e-3 < shifted


def test_physics_features_are_normalised_by_the_real_sample():
    rng = np.random.default_rng(6)
    real, gen = physics_features(jets(rng, 200)), physics_features(jets(rng, 200))
    assert real.shape == (200, 36)
    a, b = normalised(real, gen)
    np.testing.assert_allclose(np.abs(a).max(0), 1.0)
    np.testing.assert_allclose(b * np.abs(real).max(0), gen)


def test_evaluate_puts_real_against_real_beside_every_metric():
    rng = np.random.default_rng(7)
    real, same, shifted = jets(rng, 1200), jets(rng, 600), jets(rng, 600, eta_shift=0.05)
    small = {"num_eval_samples": 600, "num_batches": 2}
    sizes = {"fpd_options": {"min_samples": 300, "max_samples": 600, "num_batches": 3},
             "kpd_options": {"num_batches": 3, "batch_size": 300}}
    table = evaluate(real, shifted, same, **small, **sizes)
    assert set(table) == {"w1m", "w1p", "w1efp", "fpd", "kpd"}
    assert all(set(row) == {"generated", "real"} for row in table.values())
    assert table["w1p"]["generated"][0][0] > 3 * table["w1p"]["real"][0][0]  # eta_rel: shifted, not the real one
    assert table["w1m"]["real"] == [pytest.approx(v) for v in w1m(real, same, **small)]
    halves = evaluate(real, shifted, **small, **sizes)  # no reference: the real jets split in two of 600
    assert halves["w1p"]["generated"][0][0] > 3 * halves["w1p"]["real"][0][0]



def test_every_metric_equals_the_jetnet_package():
    """Against jetnet 0.2.5 itself (and energyflow for the EFPs), run on the same jets in a scratch environment
    (tests/data/make_jetnet_reference.py: jetnet cannot be installed beside jetflow)."""
    import importlib.util

    data = Path(__file__).parent / "data"
    spec = importlib.util.spec_from_file_location("jetnet_reference_jets", data / "jetnet_reference_jets.py")
    jets_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(jets_module)
    reference = json.loads((data / "jetnet_reference.json").read_text())
    real, generated = jets_module.reference_jets()
    s = jets_module.SIZES
    w1 = {"num_eval_samples": s["w1_samples"], "num_batches": s["w1_batches"], "seed": 0}
    np.testing.assert_allclose(w1m(real, generated, **w1), reference["w1m"], rtol=1e-10)
    np.testing.assert_allclose(np.array(w1p(real, generated, **w1)), reference["w1p"], rtol=1e-10)
    ours = np.array(w1efp(real, generated, **w1))  # the same 5 EFPs, in an order of their own
    theirs = np.array(reference["w1efp"])
    np.testing.assert_allclose(np.sort(ours[0]), np.sort(theirs[0]), rtol=1e-8)
    features_real, features_generated = physics_features(real), physics_features(generated)
    np.testing.assert_allclose(fpd(features_real, features_generated, min_samples=s["fpd_min"],
                                   max_samples=s["fpd_max"], num_batches=s["fpd_batches"]), reference["fpd"], rtol=1e-4)
    np.testing.assert_allclose(kpd(features_real, features_generated, num_batches=s["kpd_batches"],
                                   batch_size=s["kpd_batch"]), reference["kpd"], rtol=1e-6)
    theirs = np.array(reference["efps_of_the_first_jets"])  # energyflow's EFPSet(("d<=", 4)), its own order
    ours = features_real[: s["efp_jets"]]
    for column in theirs.T:
        assert np.abs(ours - column[:, None]).max(axis=0).min() <= 1e-12 * np.abs(column).max()


def _export(folder, x, jet_pt=1000.0, jet_eta=0.5, jet_phi=3.0, label=None):
    """JetNet jets as a jetflow export: constituents (E, px, py, pz) about a jet axis near the phi wrap."""
    from jetflow.formats.export import write_shard

    real = x[..., 2] > 0
    pt, eta, phi = x[..., 2] * jet_pt, x[..., 0] + jet_eta, x[..., 1] + jet_phi
    vectors = np.stack([pt * np.cosh(eta), pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)], -1) * real[..., None]
    n = len(x)
    write_shard(folder / "shard.parquet", {"constituents": vectors, "pt": np.full(n, jet_pt), "eta": np.full(n, jet_eta),
                                           "phi": np.full(n, jet_phi), "weight": np.ones(n),
                                           "label": np.ones(n, np.int8) if label is None else label})
    return folder


def test_the_workflow_step_reads_exports_in_jetnet_coordinates(tmp_path):
    from jetflow.core.steps import StepContext
    from jetflow.formats.export import read
    from jetflow.stats.jetnet_metrics import jetnet_coordinates
    from jetflow_gan.jetnet_step import JetNetMetricsOptions, jetnet_metrics_step

    rng = np.random.default_rng(8)
    real, generated = jets(rng, 600, p=8), jets(rng, 600, p=8, eta_shift=0.05)
    _export(tmp_path / "real", real), _export(tmp_path / "generated", generated)
    table = read(tmp_path / "real")
    back = jetnet_coordinates(table["constituents"], table["pt"], table["eta"], table["phi"])
    np.testing.assert_allclose(back, real, atol=2e-5)  # float32 four-vectors; phi_rel across the wrap
    options = JetNetMetricsOptions(real="real", generated="generated", n_particles=8, num_eval_samples=300,
                                   num_batches=2, fpd_samples=(200, 300), kpd_batch_size=200)
    result = jetnet_metrics_step(options, StepContext("metrics", tmp_path))
    expected = evaluate(back, jetnet_coordinates(*(read(tmp_path / "generated")[k] for k in
                                                   ("constituents", "pt", "eta", "phi"))),
                        num_eval_samples=300, num_batches=2, fpd_options={"min_samples": 200, "max_samples": 300},
                        kpd_options={"batch_size": 200})
    assert result.record["metrics"] == expected
    assert "| W1-P x 1e3 (mean of 3 features) |" in result.markdown
    assert json.loads((tmp_path / "jetnet_metrics.json").read_text()) == expected
    with pytest.raises(ValueError, match="holds 8 constituents per jet, the metrics compare 30"):
        jetnet_metrics_step(JetNetMetricsOptions(real="real", generated="generated"), StepContext("m", tmp_path))


def test_the_workflow_step_judges_several_generators_class_by_class(tmp_path):
    from jetflow.core.steps import StepContext
    from jetflow_gan.jetnet_step import JetNetMetricsOptions, jetnet_metrics_step

    rng = np.random.default_rng(9)
    label = (np.arange(800) % 2).astype(np.int8)
    _export(tmp_path / "real", jets(rng, 800, p=8), label=label)
    _export(tmp_path / "near", jets(rng, 800, p=8), label=label)
    _export(tmp_path / "far", jets(rng, 800, p=8, eta_shift=0.05), label=label)
    sizes = {"n_particles": 8, "num_eval_samples": 300, "num_batches": 2, "fpd_samples": (100, 200),
             "kpd_batch_size": 100}
    options = JetNetMetricsOptions(real="real", generated={"near": "near", "far": "far"}, classes=True, **sizes)
    result = jetnet_metrics_step(options, StepContext("metrics", tmp_path))
    metrics = result.record["metrics"]
    assert set(metrics) == {"signal", "background"} and result.record["jets"]["signal"] == {
        "real": 400, "near": 400, "far": 400}
    for table in metrics.values():
        assert set(table["w1p"]) == {"near", "far", "real"}
        assert table["w1p"]["far"][0][0] > 3 * table["w1p"]["near"][0][0]  # eta_rel shifted in "far" only
    assert "| metric | near | far | real |" in result.markdown and "generated background jets" in result.markdown
    _export(tmp_path / "signal_only", jets(rng, 50, p=8))
    with pytest.raises(ValueError, match="fewer than 2 background jets in the export.s. near"):
        jetnet_metrics_step(JetNetMetricsOptions(real="real", generated={"near": "signal_only"}, classes=True, **sizes),
                            StepContext("m", tmp_path))
