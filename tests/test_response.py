"""Regression performance: the response histogram's quantiles against numpy's, mergeability, errors;
the accumulators plugin's regression targets on a run, against the exported jets."""

from __future__ import annotations

import numpy as np
import pytest

import jetflow
from jetflow.formats.export import read
from jetflow.stats.response import ResponseHistogram

BIN = 3.0 / 3000  # the default fine bin of the ratio


def weighted_quantile(x, w, q):
    """Reference: the weighted quantile, linear in the cumulative weight between sorted values."""
    order = np.argsort(x)
    x, w = x[order], w[order]
    cum = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(q, cum, x)


@pytest.fixture(scope="module")
def sample():
    rng = np.random.default_rng(5)
    n = 60000
    ratio = rng.lognormal(np.log(0.92), 0.1, n)
    pt = rng.uniform(200, 600, n)
    weight = rng.uniform(0.2, 2.0, n)
    return ratio, pt, weight


def test_quantiles_equal_numpys_to_the_bin_width(sample):
    ratio, pt, weight = sample
    h = ResponseHistogram("pt", [200, 300, 400, 600])
    h.fill(ratio, pt)
    q = h.quantiles([0.16, 0.5, 0.84])
    for row, (lo, hi) in enumerate([(200, 300), (300, 400), (400, 600)], start=1):
        sel = (pt >= lo) & (pt < hi)
        np.testing.assert_allclose(q[row], np.quantile(ratio[sel], [0.16, 0.5, 0.84]), atol=BIN)
    assert np.isnan(q[0]).all() and np.isnan(q[-1]).all()  # nothing below 200 or above 600
    np.testing.assert_allclose(h.quantiles([0.5], inclusive=True)[0], np.median(ratio), atol=BIN)
    # weighted
    hw = ResponseHistogram("pt", [200, 600])
    hw.fill(ratio, pt, weight)
    np.testing.assert_allclose(hw.quantiles([0.16, 0.5, 0.84])[1], weighted_quantile(ratio, weight, [0.16, 0.5, 0.84]),
                               atol=BIN)
    s = hw.summary()
    assert s["n_eff"][1] == pytest.approx(weight.sum() ** 2 / (weight**2).sum())
    q16, q50, q84 = weighted_quantile(ratio, weight, [0.16, 0.5, 0.84])
    assert s["resolution"][1] == pytest.approx((q84 - q16) / (2 * q50), abs=2 * BIN)


def test_merging_does_not_depend_on_chunks_or_order(sample):
    ratio, pt, weight = sample
    whole = ResponseHistogram("pt", [200, 400, 600])
    whole.fill(ratio, pt, weight)
    parts = []
    for lo, hi in ((0, 10000), (10000, 35000), (35000, 60000)):
        h = ResponseHistogram("pt", [200, 400, 600])
        h.fill(ratio[lo:hi], pt[lo:hi], weight[lo:hi])
        parts.append(h)
    for merged in (parts[0] + parts[1] + parts[2], parts[2] + (parts[0] + parts[1])):
        np.testing.assert_allclose(merged.sumw, whole.sumw, rtol=1e-12)
        np.testing.assert_allclose(merged.quantiles([0.5]), whole.quantiles([0.5]), rtol=1e-12)
    with pytest.raises(ValueError, match="different binnings"):
        parts[0] + ResponseHistogram("pt", [200, 600])


def test_errors_match_the_spread_of_independent_samples():
    rng = np.random.default_rng(11)
    medians, resolutions, errors = [], [], []
    for _ in range(60):
        h = ResponseHistogram("x", [0, 1])
        h.fill(rng.normal(1.0, 0.1, 4000), np.full(4000, 0.5))
        s = h.summary(inclusive=True)
        medians.append(s["median"][0])
        resolutions.append(s["resolution"][0])
        errors.append((s["median_err"][0], s["resolution_err"][0]))
    errors = np.mean(errors, axis=0)
    assert errors[0] == pytest.approx(np.std(medians), rel=0.3)
    assert errors[1] == pytest.approx(np.std(resolutions), rel=0.3)


def test_jets_without_truth_are_counted_not_filled():
    h = ResponseHistogram("x", [0, 1])
    h.fill([1.0, np.nan, 0.9, np.nan], [0.5] * 4, [1.0, 2.0, 1.0, 3.0])
    assert h.unfilled.tolist() == [2, 5.0] and h.sumw.sum() == 2.0


def test_regression_targets_in_a_run(generated, tmp_path):
    cfg = {
        "datasets": {"qcd": {"files": [str(generated["qcd"])], "label": "background"}},
        "clustering": {"source": "towers", "min_pt": 150, "towers": {"detector": {}}, "truth": {"enabled": True},
                       "trimming": {"enabled": False}},
        "selection": {"windows": {"pt": [150, None]}},
        "weights": {"normalize": False},
        "accumulators": {
            "histograms": False,
            "regression": {"targets": {"jet_pt": {"prediction": "pt", "truth": "gen_pt"},
                                       "jet_mass": {"prediction": "mass", "truth": "gen_mass"}},
                           "versus": {"gen_pt": [100, 200, 300, 500]}},
            "export": {"dir": str(tmp_path / "export"), "images": [], "columns": ["pt", "gen_pt", "gen_matched"]},
        },
        "run": {"progress": False, "chunksize": 150},
    }
    result = jetflow.run(cfg)
    regression = result.combined("regression")
    assert set(regression) == {"jet_pt|all", "jet_pt|gen_pt", "jet_mass|all", "jet_mass|gen_pt"}
    jets = read(tmp_path / "export")
    matched = jets["gen_matched"] == 1
    ratio = jets["pt"][matched] / jets["gen_pt"][matched]
    s = regression["jet_pt|all"].summary(inclusive=True)
    assert s["median"][0] == pytest.approx(np.median(ratio), abs=BIN)
    q16, q84 = np.quantile(ratio, [0.16, 0.84])
    assert s["resolution"][0] == pytest.approx((q84 - q16) / (2 * np.median(ratio)), abs=2 * BIN)
    assert regression["jet_pt|all"].unfilled[0] == (~matched).sum()
    # the report: a table and a plot against gen_pt
    from jetflow.frontends.report import make_report

    files, _ = make_report(result, tmp_path / "report")
    names = {f.name for f in files}
    assert {"regression.md", "response_gen_pt.png"} <= names
    table = (tmp_path / "report" / "regression.md").read_text()
    assert "| jet_pt |" in table and "jet_mass against gen_pt:" in table
