"""Jet images and N-subjettiness: jetflow's columnar code against the usual alternatives.

    python benchmarks/bench_images_taus.py --events 6000

One core (no thread pool: the kernels are serial numba, ``NUMBA_NUM_THREADS=1``), one run,
side by side on the same jets:

* images (25 x 25, translate + rotate + flip; one channel, five channels, bicubic
  rotation) through the plugin (``jetflow_images.jet_images``: the jet table read
  into flat arrays, one fused numba pass per jet) against the numpy implementation
  it replaced (``_images_before.py``, before / after repetitions interleaved, min and
  median), the images asserted equal; the default also against a per-jet Python
  loop that does the same preprocessing with numpy on each jet and
  ``np.histogram2d``; the first call's compile time (and cache load) measured apart,
  in fresh processes; where the time goes, from the kernel run with steps left out;
* tau_1..3 from ``jetflow_substructure.nsubjettiness`` against FastJet contrib's
  ``njettiness`` called directly through fastjet's awkward interface (each jet
  an "event"), for WTA kt axes and one-pass WTA kt axes, on real 100-constituent
  jets (untrimmed particle-level W' and QCD jets, their 100 leading constituents)
  and on the study's trimmed tower jets.
"""

from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # before numba is imported: one core, no pool

import _images_before
import awkward as ak
import fastjet
import jetflow_images
import numpy as np
from _timing import best_time, machine
from coffea.nanoevents import NanoEventsFactory
from jetflow_clustering.clustering import cluster_jets
from jetflow_clustering.towers import build_towers, particles_table
from jetflow_generation.pythia import GenSettings, generate
from jetflow_images.images import build_images
from jetflow.physics import constituent_channel_values
from jetflow_substructure.nsubjettiness import nsubjettiness

from jetflow.formats.schema import JetflowSchema


def images_loop(jets, npix=25, size=0.1):
    """The per-jet way: numpy on one jet at a time."""
    out = np.zeros((len(jets), npix, npix), np.float32)
    edges = (np.arange(npix + 1) - npix / 2) * size
    for k, jet in enumerate(jets):
        pt = np.asarray(jet.constituents.pt)
        eta = np.asarray(jet.constituents.eta)
        phi = np.asarray(jet.constituents.phi)
        s = jet.subjets
        e0, p0 = (s[0].eta, s[0].phi) if len(s) else (jet.eta, jet.phi)
        y = eta - e0
        x = np.mod(phi - p0 + np.pi, 2 * np.pi) - np.pi
        if len(s) >= 2:
            theta = np.arctan2(s[1].eta - e0, np.mod(s[1].phi - p0 + np.pi, 2 * np.pi) - np.pi)
        else:
            cov = np.cov(np.stack([x, y]), aweights=pt) if len(pt) > 1 else np.eye(2)
            w, v = np.linalg.eigh(cov)
            axis = v[:, -1]
            if axis @ np.array([np.average(x, weights=pt), np.average(y, weights=pt)]) < 0:
                axis = -axis  # towards the pT centroid, as jetflow orients it
            theta = np.arctan2(axis[1], axis[0])
        a = -0.5 * np.pi - theta
        x, y = np.cos(a) * x - np.sin(a) * y, np.sin(a) * x + np.cos(a) * y
        img, _, _ = np.histogram2d(y, x, bins=(edges, edges), weights=pt)
        if img[:, : npix // 2].sum() > img[:, npix - npix // 2 :].sum():
            img = img[:, ::-1]
        out[k] = img
    return out


def interleaved(fns: dict, repeat: int) -> dict[str, tuple[float, float]]:
    """(min, median) seconds of each function, their repetitions interleaved (after one untimed call each)."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: (min(t), float(np.median(t))) for name, t in times.items()}


def worst_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max over jets of max |a - b| / sum |b| (0 for images both empty)."""
    scale = np.abs(b.astype(np.float64)).sum(axis=(1, 2, 3))
    diff = np.abs(a.astype(np.float64) - b).max(axis=(1, 2, 3))
    assert (diff[scale == 0] == 0).all()
    return float((diff / np.where(scale > 0, scale, 1.0)).max())


FIRST_CALL = """
import time, numpy as np
t0 = time.perf_counter()
from jetflow_images.images import _images_kernel, build_images
t1 = time.perf_counter()
z = np.zeros(1)
build_images(np.array([1]), z, z, np.ones((1, 1)), z, z, z, z, z > 0)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, sum(_images_kernel.stats.cache_hits.values()))
"""


def first_call_seconds() -> tuple[float, float]:
    """Seconds of the first image call in a fresh process: compiling (an empty numba cache), then loading the cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = [subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True)
                for _ in range(2)]
    (_, compile_s, hits0), (_, load_s, hits1) = (map(float, r.stdout.split()) for r in runs)
    assert hits0 == 0 and hits1 > 0, "the first run should compile, the second load the cache"
    return compile_s, load_s


def image_steps(jets) -> dict[str, float]:
    """Seconds of the kernel with steps left out (on the plugin's own inputs), of first touching the images'
    memory, and of the whole plugin: where the time of the default images goes."""
    c = jets.constituents
    n_sub = ak.to_numpy(ak.num(jets.subjets))
    padded = ak.pad_none(jets.subjets, 2, clip=True)
    lead = [np.where(n_sub > 0, ak.to_numpy(ak.fill_none(padded[f][:, 0], 0.0)), ak.to_numpy(jets[f])) for f in ("eta", "phi")]
    args = (ak.to_numpy(ak.num(c)), ak.to_numpy(ak.flatten(c.eta)), ak.to_numpy(ak.flatten(c.phi)),
            constituent_channel_values(c, ["pt"]), *lead, ak.to_numpy(ak.fill_none(padded.eta[:, 1], 0.0)),
            ak.to_numpy(ak.fill_none(padded.phi[:, 1], 0.0)), n_sub >= 2)
    n = len(jets)
    runs = interleaved({
        "translate + pixel sums, 2 x 2 images": lambda: build_images(*args, npix=2, rotate=False, flip=False),
        "translate + pixel sums, 25 x 25 images": lambda: build_images(*args, rotate=False, flip=False),
        "+ rotation (exact)": lambda: build_images(*args, flip=False),
        "+ flip (the default, from flat arrays)": lambda: build_images(*args),
        "memory of the images: np.empty + fill": lambda: np.empty((n, 25, 25, 1), np.float32).fill(0),
        "the plugin (jet table -> images)": lambda: jetflow_images.jet_images(jets),
    }, 15)
    return {name: t[0] for name, t in runs.items()}


def images_section(towers, repeat: int) -> None:
    n = len(towers)
    mean_n = float(ak.mean(ak.num(towers.constituents)))
    print(f"\n## images, 25 x 25 (trimmed tower jets, {n} jets, {mean_n:.1f} constituents on average)")
    compile_s, load_s = first_call_seconds()
    print(f"first call, not in the rates below: {compile_s:.1f} s compiling the kernel, {load_s:.2f} s loading it from numba's cache")
    rows = (
        ("translate + rotate + flip, pt", {}),
        ("the same, 5 channels", {"channels": list(jetflow_images.CHANNELS)}),
        ("bicubic rotation, pt", {"rotation": "interpolate"}),
    )
    print(f"{'preprocessing':<32} {'after (min / median)':>26} {'before (min / median)':>26} {'speed-up':>9} {'max |diff| / sum':>17}")
    for label, options in rows:
        after = lambda: jetflow_images.jet_images(towers, **options)  # noqa: E731
        before = lambda: _images_before.images_of(towers, **options)  # noqa: E731
        diff = worst_difference(after(), before())
        assert diff < 1e-6, (label, diff)
        reps = repeat if "rotation" not in options else max(1, repeat // 3)
        t = interleaved({"after": after, "before": before}, reps)
        print(f"{label:<32} {n / t['after'][0]:>12,.0f} / {n / t['after'][1]:>9,.0f} jets/s "
              f"{n / t['before'][0]:>10,.0f} / {n / t['before'][1]:>9,.0f} jets/s {t['before'][0] / t['after'][0]:>8.1f}x "
              f"{diff:>17.1e}")
    loop_n = min(n, 2000)
    t_loop = best_time(lambda: images_loop(towers[:loop_n]), 1)
    np.testing.assert_allclose(jetflow_images.jet_images(towers[:200])[..., 0], images_loop(towers[:200]), rtol=1e-4, atol=1e-4)
    print(f"per-jet numpy loop with histogram2d: {loop_n / t_loop:,.0f} jets/s ({loop_n} jets)")
    steps = image_steps(towers)
    print("where the time of the default goes (kernel runs with steps left out, min of 15; ns per jet):")
    previous = 0.0
    for name, seconds in steps.items():
        first = name.endswith("2 x 2 images") or name.startswith(("memory", "the plugin"))
        step = "" if first else f"  (step {1e9 * (seconds - previous) / n:+.0f})"
        print(f"  {name:<42} {1e9 * seconds / n:>6.0f}{step}")
        previous = seconds


def taus_fastjet(c, axes):
    e = np.sqrt((c.pt * np.cosh(c.eta)) ** 2 + c.mass**2)
    vecs = ak.zip({"px": c.pt * np.cos(c.phi), "py": c.pt * np.sin(c.phi), "pz": c.pt * np.sinh(c.eta), "E": e})
    cs = fastjet.ClusterSequence(vecs, fastjet.JetDefinition(fastjet.antikt_algorithm, 100.0))
    return cs.njettiness(measure_definition="NormalizedMeasure", axes_definition=axes, njets=[1, 2, 3], beta=1.0, R0=1.0)


def taus_jetflow(c, axes):
    counts = ak.to_numpy(ak.num(c)).astype(np.int64)
    off = np.concatenate([[0], np.cumsum(counts)])
    f = {k: ak.to_numpy(ak.flatten(c[k])) for k in ("pt", "eta", "phi", "mass")}
    return nsubjettiness(off, f["pt"], f["eta"], f["phi"], f["mass"], axes=axes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3, help="timed calls of each tau_N measurement (the best counts)")
    ap.add_argument("--image-repeat", type=int, default=9, help="interleaved before / after repetitions of each image timing")
    args = ap.parse_args()
    print(machine("timed on one core (serial numba, NUMBA_NUM_THREADS=1)"))
    towers, untrimmed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for process in ("wprime", "qcd"):
            generate(GenSettings(process), args.events, tmp, seed=5, workers=2, events_per_file=args.events // 2 + 1, progress=False)
            for f in sorted(glob.glob(f"{tmp}/{process}_s5_*.root")):
                p = NanoEventsFactory.from_root({f: "Events"}, schemaclass=JetflowSchema, mode="eager").events().Particle
                fields, counts, _ = build_towers(p)
                towers.append(cluster_jets(fields, counts, min_pt=150.0, max_jets=2, softdrop=False))
                fields, counts = particles_table(p)
                untrimmed.append(cluster_jets(fields, counts, min_pt=150.0, max_jets=2, trimming=False, softdrop=False))
    towers = ak.concatenate(towers)
    untrimmed = ak.concatenate(untrimmed)
    big = untrimmed[ak.num(untrimmed.constituents) >= 100]
    c100 = big.constituents[:, :100]

    images_section(towers, args.image_repeat)

    for label, c in (("100-constituent particle jets", c100), ("trimmed tower jets", towers.constituents)):
        mean_n = float(ak.mean(ak.num(c)))
        print(f"\n## tau_1..3, {label} ({len(c)} jets, {mean_n:.0f} constituents on average)")
        for axes, ref in (("wta_kt", "WTA_KT_Axes"), ("onepass_wta_kt", "OnePass_WTA_KT_Axes")):
            taus_jetflow(c[:2], axes)  # compile
            t_j = best_time(lambda: taus_jetflow(c, axes), args.repeat)
            t_f = best_time(lambda: taus_fastjet(c, ref), args.repeat)
            diff = np.max(np.abs(taus_jetflow(c, axes) - ak.to_numpy(taus_fastjet(c, ref))))
            print(f"{axes:<15} jetflow {len(c) / t_j:>9.0f} jets/s   fastjet {len(c) / t_f:>8.0f} jets/s   "
                  f"x{t_f / t_j:>5.1f}   max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
