"""A network's training inputs in a few numbers per slot, and inputs drawn from them.

The training record (``MODEL.keras.json``) keeps :func:`summarise`'s numbers
under ``input_statistics``; ``jetflow onnx`` given no export checks its ONNX
file on jets drawn from them (:func:`draw`), inputs shaped like the training
data where uniform noise may leave a trained network's output constant.

Per model input:

* ``image``, ``features`` and any other array (kind ``slots``): per slot (a
  pixel of a channel, a feature) the fraction of jets where it is not zero
  and the quantiles of its non-zero values at :data:`LEVELS`.  A slot is drawn
  on its own: non-zero with that probability, its value by the quantiles'
  piecewise-linear inverse distribution.
* ``constituents`` (kind ``particles``; the zero-padded (E, px, py, pz) of the
  leading particles): per slot the fraction of jets with a particle there and
  the quantiles of its log pT and of its Delta eta and Delta phi from the
  jet's axis (the sum of its four-vectors), and the quantiles of the axis's
  eta.  A jet is drawn as massless particles around an axis of random phi,
  as many as one uniform number per jet allows (the slots filled first to
  last, as in an export), ordered by pT.
"""

from __future__ import annotations

import numpy as np

from jetflow.physics import ptetaphim, pxpypze, wrap_phi

LEVELS = (0.0, 0.25, 0.5, 0.75, 1.0)
"""The quantile levels kept per slot: its range and quartiles."""

MAX_JETS = 4096
"""The statistics are taken on at most this many jets (the first: training inputs are shuffled)."""


def summarise(inputs: dict[str, np.ndarray]) -> dict:
    """``{input name: statistics}`` of a model's training inputs (arrays ``[n, ...]``), rounded to 4 digits."""
    out = {}
    for name, x in inputs.items():
        x = np.asarray(x[:MAX_JETS], dtype=np.float64)
        out[name] = _particles(x) if name == "constituents" else _slots(x)
        out[name]["jets"] = len(x)
    return {"levels": list(LEVELS), "inputs": out}


def training_statistics(spec: dict, inputs: list[np.ndarray]) -> dict | None:
    """:func:`summarise` of a network's training ``inputs`` (in its order: ``spec["column"]``, then the
    ``features``) for its training record; ``None``, with a warning, if they cannot be summarised: the model is
    saved already, and a failure here must not lose its record."""
    import warnings

    try:
        names = [spec["column"], *(["constituent_features"] if spec.get("constituent_features") else []),
                 *(["features"] if spec["features"] else [])]
        return summarise(dict(zip(names, inputs)))
    except Exception as exc:  # noqa: BLE001
        warnings.warn(f"the training record keeps no input statistics ({type(exc).__name__}: {exc}): "
                      "check the model's ONNX export with jetflow onnx --data EXPORT", stacklevel=2)
        return None


def draw(statistics: dict, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """``{input name: float32 array [n, ...]}`` drawn from :func:`summarise`'s ``statistics``."""
    levels = np.asarray(statistics["levels"])
    out = {}
    for name, s in statistics["inputs"].items():
        out[name] = (_draw_particles if s["kind"] == "particles" else _draw_slots)(s, levels, n, rng)
    return out


def spread_shards(paths: list[str], k: int = 8) -> list[str]:
    """At most ``k`` of an export's shard ``paths``, evenly spread (the first and the last among them): jets of
    several chunks and datasets, read without reading the whole export."""
    if len(paths) <= k:
        return list(paths)
    return [paths[i] for i in np.unique(np.linspace(0, len(paths) - 1, k).round().astype(int))]


def _rounded(a) -> list:
    return np.vectorize(lambda v: float(f"{v:.4g}"), otypes=[float])(np.asarray(a, dtype=np.float64)).tolist()


def _quantiles(values: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """``[slots, levels]`` quantiles of each column of ``values`` ``[n, slots]`` over its ``filled`` entries
    (linear interpolation between order statistics); 0 for a column with none."""
    count = filled.sum(axis=0)
    ordered = np.sort(np.where(filled, values, np.inf), axis=0)  # the filled entries first, in order
    position = np.asarray(LEVELS)[:, None] * np.maximum(count - 1, 0)
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, np.maximum(count - 1, 0))
    a, b = np.take_along_axis(ordered, lo, axis=0), np.take_along_axis(ordered, hi, axis=0)
    with np.errstate(invalid="ignore"):
        q = a + (position - lo) * (b - a)
    return np.where(count > 0, q, 0.0).T


def _inverse(quantiles: np.ndarray, levels: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Values at probabilities ``u`` ``[n, slots]`` of the piecewise-linear distributions ``quantiles``
    ``[slots, levels]``."""
    k = np.clip(np.searchsorted(levels, u, side="right") - 1, 0, len(levels) - 2)
    t = (u - levels[k]) / (levels[k + 1] - levels[k])
    q = np.broadcast_to(quantiles, u.shape + quantiles.shape[-1:])
    a = np.take_along_axis(q, k[..., None], axis=-1)[..., 0]
    b = np.take_along_axis(q, k[..., None] + 1, axis=-1)[..., 0]
    return a + t * (b - a)


def _slots(x: np.ndarray) -> dict:
    flat = x.reshape(len(x), -1)
    filled = flat != 0
    return {"kind": "slots", "shape": list(x.shape[1:]), "filled": _rounded(filled.mean(axis=0)),
            "quantiles": _rounded(_quantiles(flat, filled))}


def _draw_slots(s: dict, levels: np.ndarray, n: int, rng) -> np.ndarray:
    filled = rng.random((n, len(s["filled"]))) < np.asarray(s["filled"])
    values = _inverse(np.asarray(s["quantiles"]), levels, rng.random(filled.shape))
    return np.where(filled, values, 0.0).reshape(n, *s["shape"]).astype(np.float32)


def _particles(x: np.ndarray) -> dict:
    e, px, py, pz = np.moveaxis(x, -1, 0)
    pt, eta, phi, _ = ptetaphim(px, py, pz, e)
    jet_e, jet_px, jet_py, jet_pz = np.moveaxis(x.sum(axis=1), -1, 0)  # the jet's axis: the sum of its particles
    _, jet_eta, jet_phi, _ = ptetaphim(jet_px, jet_py, jet_pz, jet_e)
    with np.errstate(divide="ignore"):
        log_pt = np.log(pt)
    delta_eta = eta - jet_eta[:, None]
    delta_phi = wrap_phi(phi - jet_phi[:, None])
    filled = (e > 0) & (pt > 0)
    has_jet = filled.any(axis=1, keepdims=True)
    return {"kind": "particles", "shape": list(x.shape[1:]), "filled": _rounded(filled.mean(axis=0)),
            **{key: _rounded(_quantiles(v, filled)) for key, v in
               (("log_pt", log_pt), ("delta_eta", delta_eta), ("delta_phi", delta_phi))},
            "jet_eta": _rounded(_quantiles(jet_eta[:, None], has_jet)[0])}


def _draw_particles(s: dict, levels: np.ndarray, n: int, rng) -> np.ndarray:
    slots = len(s["filled"])
    filled = rng.random((n, 1)) < np.asarray(s["filled"])  # one number per jet: the slots fill in order
    u = rng.random((3, n, slots))
    pt = np.where(filled, np.exp(_inverse(np.asarray(s["log_pt"]), levels, u[0])), 0.0)
    eta = _inverse(np.asarray(s["jet_eta"])[None], levels, rng.random((n, 1))) \
        + _inverse(np.asarray(s["delta_eta"]), levels, u[1])
    phi = rng.uniform(-np.pi, np.pi, (n, 1)) + _inverse(np.asarray(s["delta_phi"]), levels, u[2])
    order = np.argsort(-pt, axis=1)  # by pT, the empty slots last
    pt, eta, phi = (np.take_along_axis(v, order, axis=1) for v in (pt, eta, phi))
    px, py, pz, e = pxpypze(pt, eta, phi, 0.0)
    x = np.stack([e, px, py, pz], axis=-1)
    return x.reshape(n, *s["shape"]).astype(np.float32)
