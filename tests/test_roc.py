"""Weighted ROC, AUC, rejection, likelihood combinations, correlations, ADO: against references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score, roc_curve

from jetflow.stats.accumulators import AverageImage, DiscriminantOrdering, PixelCorrelation, WeightedROC


def sample(n=40_000, seed=0):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    score = np.where(label == 1, rng.beta(5, 2, n), rng.beta(2, 4, n))
    weight = rng.exponential(1.0, n)
    half = rng.integers(0, 2, n)
    return score, label, weight, half


def test_roc_and_auc_equal_sklearn_weighted():
    score, label, weight, half = sample()
    roc = WeightedROC(["score"], [(10_000, 0.0, 1.0)], direction="higher")
    roc.fill([score], label, weight, half)
    curve = roc.curve()
    fpr, tpr, thresholds = roc_curve(label, score, sample_weight=weight)
    # same curve: at cuts on our bin edges, sklearn's (FPR, TPR) for "score >= c"
    for c in np.linspace(0.05, 0.95, 19):
        k = np.nonzero(thresholds >= c)[0][-1]   # sklearn: the loosest threshold still >= c
        n_above = 10_000 - int(round(c * 10_000))  # our cells above the edge c (after the overflow)
        assert curve.eff_s[n_above + 1] == pytest.approx(tpr[k], abs=1e-3)
        assert curve.eff_b[n_above + 1] == pytest.approx(fpr[k], abs=1e-3)
    assert curve.auc() == pytest.approx(roc_auc_score(label, score, sample_weight=weight), abs=1e-4)
    # rejection at eps_S = 0.5 from sklearn's curve
    rej, err = curve.rejection(0.5)
    assert rej[0] == pytest.approx(1 / np.interp(0.5, tpr, fpr), rel=5e-3)
    assert 0 < err[0] < 0.1 * rej[0]
    # a "lower is signal" discriminant: the ROC of -score
    low = WeightedROC(["x"], [(10_000, -1.0, 0.0)], direction="lower")
    low.fill([-score], label, weight, half)
    assert low.curve().auc() == pytest.approx(curve.auc(), abs=1e-6)


def test_chunked_merge_equals_at_once_any_order():
    score, label, weight, half = sample()
    whole = WeightedROC(["score"], [(500, 0.0, 1.0)], direction="likelihood", lr_bins=10)
    whole.fill([score], label, weight, half)
    parts = []
    for chunk in np.array_split(np.arange(len(score)), 7):
        r = WeightedROC(["score"], [(500, 0.0, 1.0)], direction="likelihood", lr_bins=10)
        r.fill([score[chunk]], label[chunk], weight[chunk], half[chunk])
        parts.append(r)
    a = parts[0]
    for p in parts[1:]:
        a = a + p
    b = parts[-1]
    for p in reversed(parts[:-1]):
        b = p + b
    for merged in (a, b):
        np.testing.assert_allclose(merged.sumw, whole.sumw, rtol=1e-12)
        assert merged.summary() == pytest.approx(whole.summary(), rel=1e-9)


def test_rejection_area_of_a_known_curve():
    # uniform signal on [0, 1], background density 2(1 - x): eps_S(c) = 1 - c, eps_B(c) = (1 - c)^2
    # -> rejection = 1 / eps_S^2 and area over [0.2, 0.8] = 1/0.2 - 1/0.8 = 3.75
    x = (np.arange(200_000) + 0.5) / 200_000
    roc = WeightedROC(["x"], [(2000, 0.0, 1.0)], direction="higher")
    roc.fill([x], np.ones_like(x, dtype=int), np.ones_like(x), np.zeros_like(x, dtype=int))
    roc.fill([x], np.zeros_like(x, dtype=int), 2 * (1 - x), np.zeros_like(x, dtype=int))
    curve = roc.curve()
    assert curve.rejection_area() == pytest.approx(3.75, rel=2e-3)
    assert curve.rejection(0.5)[0][0] == pytest.approx(4.0, rel=2e-3)
    assert curve.auc() == pytest.approx(2 / 3, rel=1e-4)


def test_likelihood_of_two_gaussians_is_neyman_pearson_optimal():
    # 1-D: signal N(1, 1), background N(0, 1): optimal eps_B = 1 - Phi(Phi^-1(1 - eps_S) + 1)
    rng = np.random.default_rng(3)
    n = 200_000
    label = rng.integers(0, 2, n)
    half = rng.integers(0, 2, n)
    eps = np.array([0.3, 0.5, 0.7])
    x = rng.normal(0, 1, n) + label
    one = WeightedROC(["x"], [(1000, -5.0, 6.0)], direction="likelihood", lr_bins=50)
    one.fill([x], label, np.ones(n), half)
    rej, err = one.curve().rejection(eps)
    optimal = 1 - norm.cdf(norm.ppf(1 - eps) + 1)
    pull = (1 / rej - optimal) / (err / rej**2)
    assert (np.abs(pull) < 3).all(), pull  # within the statistics
    # 2-D: signal N((1, 1), 1), background N((0, 0), 1): the ratio is monotone in x + y and
    # eps_B = 1 - Phi(Phi^-1(1 - eps_S) + sqrt 2).  Equal-background grid cells approximate the
    # diagonal contours: measured 3-13% above the optimal eps_B here (stat. error ~1-2%).
    xy = rng.normal(0, 1, (n, 2)) + label[:, None]
    comb = WeightedROC(["x", "y"], [(120, -4.0, 5.0)] * 2, direction="likelihood", lr_bins=30)
    comb.fill([xy[:, 0], xy[:, 1]], label, np.ones(n), half)
    rej2, _ = comb.curve().rejection(eps)
    optimal2 = 1 - norm.cdf(norm.ppf(1 - eps) + np.sqrt(2))
    ratio = (1 / rej2) / optimal2
    assert (ratio > 0.97).all() and (ratio < 1.2).all(), ratio
    single = WeightedROC(["x"], [(120, -4.0, 5.0)], direction="higher")
    single.fill([xy[:, 0]], label, np.ones(n), half)
    assert comb.curve().auc() > single.curve().auc() + 0.03


def test_likelihood_ordering_fixes_a_non_monotone_variable():
    # signal peaks in the middle (like the jet mass): a cut cannot select it, the likelihood can
    rng = np.random.default_rng(5)
    n = 100_000
    label = rng.integers(0, 2, n)
    m = np.where(label == 1, rng.normal(80, 8, n), rng.uniform(0, 200, n))
    half = rng.integers(0, 2, n)
    lr = WeightedROC(["mass"], [(400, 0, 200)], direction="likelihood")
    cut = WeightedROC(["mass"], [(400, 0, 200)], direction="higher")
    for r in (lr, cut):
        r.fill([m], label, np.ones(n), half)
    assert lr.curve().auc() > 0.9 > cut.curve().auc()


def test_pixel_correlation_equals_numpy_corrcoef():
    rng = np.random.default_rng(2)
    n = 3000
    images = rng.random((n, 4, 5, 1))
    y = images[:, 1, 2, 0] * 2 + rng.normal(0, 0.3, n)
    label = rng.integers(0, 2, n)
    corr = PixelCorrelation((4, 5, 1), ["score"])
    for chunk in np.array_split(np.arange(n), 3):
        part = PixelCorrelation((4, 5, 1), ["score"])
        part.fill(images[chunk], y[chunk, None], label[chunk], np.ones(len(chunk)))
        corr = corr + part
    got = corr.correlation("score")
    want = np.array([[np.corrcoef(images[:, i, j, 0], y)[0, 1] for j in range(5)] for i in range(4)])
    np.testing.assert_allclose(got[..., 0], want, atol=1e-10)
    sig = label == 1
    np.testing.assert_allclose(corr.correlation("score", labels=(1,))[1, 2, 0],
                               np.corrcoef(images[sig, 1, 2, 0], y[sig])[0, 1], atol=1e-10)


def test_average_image_and_difference():
    rng = np.random.default_rng(4)
    images = rng.random((100, 3, 3, 1))
    label = np.repeat([0, 1], 50)
    w = rng.random(100)
    avg = AverageImage((3, 3, 1))
    avg.fill(images[:30], label[:30], w[:30])
    rest = AverageImage((3, 3, 1))
    rest.fill(images[30:], label[30:], w[30:])
    avg = avg + rest
    np.testing.assert_allclose(avg.mean(1), np.average(images[50:], axis=0, weights=w[50:]))
    np.testing.assert_allclose(avg.difference(), avg.mean(1) - avg.mean(0))


def test_ado_against_pair_counting():
    rng = np.random.default_rng(6)
    n = 600
    label = rng.integers(0, 2, n)
    a = rng.normal(label, 1.0)
    b = a + rng.normal(0, 0.8, n)
    w = rng.random(n)
    ado = DiscriminantOrdering(["a", "b"], [(4000, -5, 6), (4000, -5, 6)])
    ado.fill(a, b, label, w)
    s, bk = label == 1, label == 0
    da = np.sign(a[s][:, None] - a[bk][None, :])
    db = np.sign(b[s][:, None] - b[bk][None, :])
    ww = w[s][:, None] * w[bk][None, :]
    want = (ww * ((da * db > 0) + 0.5 * ((da == 0) | (db == 0)))).sum() / ww.sum()
    assert ado.value() == pytest.approx(want, abs=2e-3)
    same = DiscriminantOrdering(["a", "a"], [(100, -5, 6)] * 2)
    same.fill(a, a, label, w)
    assert same.value() == pytest.approx(1.0, abs=0.02)  # a discriminant orders like itself (ties within bins)
