"""Jet images and N-subjettiness: jetflow's columnar code against the usual alternatives.

    python benchmarks/bench_images_taus.py --events 2000

One core, one run, side by side:

* images (25 x 25, translate + rotate + flip, one channel) from
  ``jetflow_images.build_images`` against a per-jet Python loop that does the
  same preprocessing with numpy on each jet and ``np.histogram2d``;
* tau_1..3 from ``jetflow_substructure.nsubjettiness`` against FastJet contrib's
  ``njettiness`` called directly through fastjet's awkward interface (each jet
  an "event"), for WTA kt axes and one-pass WTA kt axes, on real 100-constituent
  jets (untrimmed particle-level W' and QCD jets, their 100 leading constituents)
  and on the study's trimmed tower jets.
"""

from __future__ import annotations

import argparse
import glob
import tempfile

import awkward as ak
import fastjet
import numpy as np
from _timing import best_time, machine
from coffea.nanoevents import NanoEventsFactory
from jetflow_clustering.clustering import cluster_jets
from jetflow_clustering.towers import build_towers, particles_table
from jetflow_generation.pythia import GenSettings, generate
from jetflow_images.images import build_images
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


def images_columnar(jets):
    c = jets.constituents
    counts = ak.to_numpy(ak.num(c)).astype(np.int64)
    s = ak.pad_none(jets.subjets, 2, clip=True)
    nsub = ak.to_numpy(ak.num(jets.subjets))
    ce = np.where(nsub > 0, ak.to_numpy(ak.fill_none(s.eta[:, 0], 0.0)), ak.to_numpy(jets.eta))
    cp = np.where(nsub > 0, ak.to_numpy(ak.fill_none(s.phi[:, 0], 0.0)), ak.to_numpy(jets.phi))
    return build_images(
        counts,
        ak.to_numpy(ak.flatten(c.eta)),
        ak.to_numpy(ak.flatten(c.phi)),
        ak.to_numpy(ak.flatten(c.pt))[:, None],
        ce,
        cp,
        ak.to_numpy(ak.fill_none(s.eta[:, 1], 0.0)),
        ak.to_numpy(ak.fill_none(s.phi[:, 1], 0.0)),
        nsub >= 2,
    )


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
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(machine("timed on one core"))
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

    print("\n## images, 25 x 25, translate + rotate + flip (trimmed tower jets)")
    n = len(towers)
    loop_n = min(n, 2000)
    t_col = best_time(lambda: images_columnar(towers), args.repeat)
    t_loop = best_time(lambda: images_loop(towers[:loop_n]), 1)
    np.testing.assert_allclose(images_columnar(towers[:200])[..., 0], images_loop(towers[:200]), rtol=1e-4, atol=1e-4)
    print(f"jetflow columnar : {n / t_col:>10.0f} jets/s  ({n} jets)")
    print(f"per-jet loop     : {loop_n / t_loop:>10.0f} jets/s  ({loop_n} jets)")
    print(f"speed-up         : {(n / t_col) / (loop_n / t_loop):>10.1f} x")

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
