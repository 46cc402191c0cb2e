"""The metrics of generated jets that the field reports ([jetnet]: Kansal et al., arXiv:2106.11535 and
arXiv:2211.10295), with the `jetnet` package's definitions and conventions (jetnet 0.2.5,
``jetnet/evaluation/gen_metrics.py``), seeded so that every number is reproducible.

Jets are JetNet arrays ``[n, P, >= 3]``: per particle (eta_rel, phi_rel, pT_rel), zero-padded.

* **W1-M**, **W1-P**, **W1-EFP**: the Wasserstein-1 distance between the two samples' jet masses, particle
  features (each feature separately, padded particles left out) and EFPs (the 5 connected ones with 4 vertices
  and 4 edges, :func:`jetflow.stats.efp.prime_efps`), each over ``num_batches`` = 5 draws of
  ``num_eval_samples`` = 50,000 jets *with replacement* from each sample: the mean over the draws and their
  standard deviation (``ddof`` 0).
* **FPD** (Fréchet physics distance): the squared Fréchet distance of Gaussians fitted to the 36 EFPs of
  degree <= 4 (:func:`jetflow.stats.efp.efps`), both samples divided feature by feature by the real sample's
  largest absolute value; at 10 sample sizes N evenly spaced in 1/N from 20,000 to 50,000, the mean over 20
  draws with replacement, fitted by ``a + b / N`` with ``a, b >= 0``: the value is ``a`` (the infinite-sample
  limit), its error the fit's.
* **KPD** (kernel physics distance): the unbiased quadratic MMD^2 with the polynomial kernel
  ``(x . y / k + 1)^4`` (k features) on the same normalised EFPs, over 10 draws of 5,000 jets with replacement
  from each (draw i seeded ``seed + 1000 i``): the median, and half the 16.275-83.725 percentile range.

`jetnet`'s module-level generator is unseeded (W1s); here every function takes ``seed``.  The same metric
between two samples of real jets is the reference each value is read against.

References in brackets: docs/references.md.
"""

from __future__ import annotations

import numpy as np

from jetflow.stats.efp import efps, prime_efps


def jet_mass(jets: np.ndarray) -> np.ndarray:
    """The mass of the sum of a jet's particles, massless, from (eta, phi, pT) (a fourth column: their masses),
    in the units of the pT column (JetNet's relative pT: m / pT_jet)."""
    eta, phi, pt = (np.asarray(jets[..., k], dtype=np.float64) for k in range(3))
    mass = np.asarray(jets[..., 3], dtype=np.float64) if jets.shape[-1] > 3 else 0.0
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + mass**2)
    m2 = e.sum(1) ** 2 - px.sum(1) ** 2 - py.sum(1) ** 2 - pz.sum(1) ** 2
    return np.sqrt(np.maximum(m2, 0.0))


def _resampled_w1(a: np.ndarray, b: np.ndarray, num_eval_samples: int, num_batches: int, seed: int,
                  per_jet=None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over ``num_batches`` of the W1 of each column of per-jet values ``a``, ``b`` ``[n, k]``
    (or of the particles that ``per_jet(indices)`` selects), drawn with replacement."""
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(seed)
    values = []
    for _ in range(num_batches):
        i, j = rng.choice(len(a), size=num_eval_samples), rng.choice(len(b), size=num_eval_samples)
        x, y = (a[i], b[j]) if per_jet is None else per_jet(i, j)
        values.append([wasserstein_distance(x[:, k], y[:, k]) if len(x) and len(y) else np.inf
                       for k in range(x.shape[1])])
    return np.mean(values, axis=0), np.std(values, axis=0)


def w1m(real: np.ndarray, generated: np.ndarray, num_eval_samples: int = 50_000, num_batches: int = 5,
        seed: int = 0) -> tuple[float, float]:
    """W1-M: (mean, std) of the jet masses' Wasserstein-1 distance over the draws."""
    mean, std = _resampled_w1(jet_mass(real)[:, None], jet_mass(generated)[:, None], num_eval_samples,
                              num_batches, seed)
    return float(mean[0]), float(std[0])


def w1p(real: np.ndarray, generated: np.ndarray, num_eval_samples: int = 50_000, num_batches: int = 5,
        seed: int = 0, num_particle_features: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """W1-P: per particle feature (eta_rel, phi_rel, pT_rel), (means, stds) over the draws; the particles of the
    drawn jets, padded ones (all features 0) left out."""
    f = num_particle_features
    a, b = np.asarray(real)[..., :f], np.asarray(generated)[..., :f]
    real_mask, gen_mask = np.linalg.norm(a, axis=2) != 0, np.linalg.norm(b, axis=2) != 0

    def particles(i, j):
        return a[i][real_mask[i]], b[j][gen_mask[j]]

    return _resampled_w1(a, b, num_eval_samples, num_batches, seed, particles)


def w1efp(real: np.ndarray, generated: np.ndarray, num_eval_samples: int = 50_000, num_batches: int = 5,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """W1-EFP: per EFP of :func:`jetflow.stats.efp.prime_efps` (n = d = 4), (means, stds) over the draws."""
    return _resampled_w1(prime_efps(real), prime_efps(generated), num_eval_samples, num_batches, seed)


def normalised(real_features: np.ndarray, generated_features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both divided, feature by feature, by the real sample's largest absolute value (1 where it is 0)."""
    scale = np.max(np.abs(real_features), axis=0)
    scale[scale == 0] = 1.0
    return real_features / scale, generated_features / scale


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """The squared Fréchet distance of two Gaussians: |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))."""
    from scipy import linalg

    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():  # a singular product: both shifted off it
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fpd(real_features: np.ndarray, generated_features: np.ndarray, min_samples: int = 20_000,
        max_samples: int = 50_000, num_batches: int = 20, num_points: int = 10, normalise: bool = True,
        seed: int = 42) -> tuple[float, float]:
    """FPD: (the infinite-sample limit of the Fréchet distance, its error) of two samples' features (the EFPs of
    :func:`physics_features`)."""
    from scipy.optimize import curve_fit

    x, y = normalised(real_features, generated_features) if normalise else (real_features, generated_features)
    sizes = (1 / np.linspace(1.0 / min_samples, 1.0 / max_samples, num_points)).astype("int32")
    rng = np.random.default_rng(seed)
    values = []
    for n in sizes:
        points = []
        for _ in range(num_batches):
            a, b = x[rng.choice(len(x), size=n)], y[rng.choice(len(y), size=n)]
            points.append(frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))
        values.append(np.mean(points))
    params, covariance = curve_fit(lambda u, a, b: a + b * u, 1 / sizes, values, bounds=([0, 0], [np.inf, np.inf]))
    return float(params[0]), float(np.sqrt(np.diag(covariance)[0]))


def mmd_poly_unbiased(x: np.ndarray, y: np.ndarray, degree: int = 4) -> float:
    """The unbiased quadratic MMD^2 with the kernel ``(a . b / k + 1)^degree`` (k features)."""
    gamma = 1.0 / x.shape[-1]
    xx, yy, xy = ((p @ q.T * gamma + 1.0) ** degree for p, q in ((x, x), (y, y), (x, y)))
    m, n = len(x), len(y)
    return float((xx.sum() - np.trace(xx)) / (m * (m - 1)) + (yy.sum() - np.trace(yy)) / (n * (n - 1)) - 2 * xy.mean())


def kpd(real_features: np.ndarray, generated_features: np.ndarray, num_batches: int = 10, batch_size: int = 5_000,
        normalise: bool = True, seed: int = 42) -> tuple[float, float]:
    """KPD: (median, half the 16.275-83.725 percentile range) of the MMD^2 over the draws."""
    from scipy.stats import iqr

    x, y = normalised(real_features, generated_features) if normalise else (real_features, generated_features)
    values = []
    for i in range(num_batches):
        rng = np.random.default_rng(seed + i * 1000)
        values.append(mmd_poly_unbiased(x[rng.choice(len(x), size=batch_size)],
                                        y[rng.choice(len(y), size=batch_size)]))
    return float(np.median(values)), float(iqr(values, rng=(16.275, 83.725)) / 2)


def physics_features(jets: np.ndarray) -> np.ndarray:
    """The features FPD and KPD compare: the 36 EFPs of degree <= 4."""
    return efps(jets, max_degree=4)


def evaluate(real: np.ndarray, generated, reference: np.ndarray | None = None, *,
             num_eval_samples: int = 50_000, num_batches: int = 5, seed: int = 0, fpd_options: dict | None = None,
             kpd_options: dict | None = None) -> dict[str, dict]:
    """Every metric of ``generated`` against ``real``, and of a second real sample against ``real`` beside it:
    ``{metric: {"generated": value, "real": value}}``, each value ``[mean or limit, error]`` (W1-P and W1-EFP:
    per feature, ``[[means], [errors]]``).  ``generated`` may be a mapping of names to samples: one row per name,
    beside one real row.  Without ``reference`` the real jets are split in two halves at random (``seed``): the
    first is ``real`` for every row, the second the reference, so all rows see samples of one size.
    ``fpd_options``, ``kpd_options``: arguments of :func:`fpd` and :func:`kpd` (their sample sizes)."""
    real = np.asarray(real)
    if reference is None:
        order = np.random.default_rng(seed).permutation(len(real))
        real, reference = real[order[: len(real) // 2]], real[order[len(real) // 2:]]
    rows = dict(generated) if isinstance(generated, dict) else {"generated": generated}
    if "real" in rows:
        raise ValueError("evaluate: 'real' names the real-against-real row; name the generated samples otherwise")
    w1 = {"num_eval_samples": num_eval_samples, "num_batches": num_batches, "seed": seed}
    features = physics_features(real)
    out: dict[str, dict] = {}
    for row, other in (*rows.items(), ("real", reference)):
        other = np.asarray(other)
        other_features = physics_features(other)
        for name, value in (("w1m", w1m(real, other, **w1)), ("w1p", w1p(real, other, **w1)),
                            ("w1efp", w1efp(real, other, **w1)), ("fpd", fpd(features, other_features, **(fpd_options or {}))),
                            ("kpd", kpd(features, other_features, **(kpd_options or {})))):
            out.setdefault(name, {})[row] = [np.asarray(v).tolist() for v in value]
    return out


def jetnet_coordinates(four_vectors: np.ndarray, jet_pt: np.ndarray, jet_eta: np.ndarray,
                       jet_phi: np.ndarray) -> np.ndarray:
    """JetNet's particle coordinates ``[n, N, 3]`` (eta - eta_jet, phi - phi_jet wrapped, pT / pT_jet) of
    exported constituents ``[n, N, 4]`` (E, px, py, pz; padded slots E = 0 stay all 0)."""
    e, px, py, pz = (np.asarray(four_vectors[..., k], dtype=np.float64) for k in range(4))
    pt = np.hypot(px, py)
    real = (e > 0) & (pt > 0)
    safe_pt = np.where(real, pt, 1.0)
    eta = np.arcsinh(np.where(real, pz / safe_pt, 0.0))
    phi = np.arctan2(py, px)
    out = np.zeros((*four_vectors.shape[:2], 3))
    out[..., 0] = np.where(real, eta - np.asarray(jet_eta)[:, None], 0.0)
    out[..., 1] = np.where(real, np.angle(np.exp(1j * (phi - np.asarray(jet_phi)[:, None]))), 0.0)
    out[..., 2] = np.where(real, pt / np.asarray(jet_pt, dtype=np.float64)[:, None], 0.0)
    return out
