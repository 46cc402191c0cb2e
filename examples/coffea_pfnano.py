"""jetflow's steps inside your own coffea processor, on CMS PFNano.

    python examples/coffea_pfnano.py ../shared/data/pfnano.root [--model convnet.keras]

FatJets with their PUPPI-weighted PF candidates -> jet images -> tau21 -> a
ConvNet score, filled into the analysis' own histogram.  Every step is a plain
function on awkward arrays; nothing here goes through jetflow's processor or
its configuration.  Without ``--model`` a fresh (untrained) ConvNet is saved
and used, to show the plumbing: its scores mean nothing.

Runs with coffea's Runner on NanoEvents (virtual arrays); for the dask
executors the processor is picklable as it is.  coffea's dask-awkward mode
(``apply_to_fileset``) is not supported: FastJet, numba and TensorFlow need
concrete arrays, and the steps do not declare typetracer outputs.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import awkward as ak
import hist
from coffea import processor

from jetflow.formats.schema import QuietPFNanoAODSchema
from jetflow_clustering import pfnano_jets
from jetflow_images import jet_images
from jetflow_inference import score
from jetflow_substructure import substructure


class FatJetTagger(processor.ProcessorABC):
    """A user's processor: W-tagging observables of AK8 jets into a (tau21, score, mass) histogram."""

    def __init__(self, model_path: str):
        self.model_path = model_path  # a path: plain data, picklable for dask and futures

    def process(self, events):
        jets = pfnano_jets(events, min_pt=200.0, puppi=True)  # flat per-jet table
        images = jet_images(jets, npix=25, pixel_size=0.1)  # [n, 25, 25, 1] float32
        obs = substructure(jets, axes="onepass_kt", r0=0.8)  # CMS AK8 convention
        scores = score(self.model_path, images)  # batched, model cached per worker
        h = hist.Hist(
            hist.axis.Regular(20, 0, 1, name="tau21", label=r"$\tau_{21}$"),
            hist.axis.Regular(10, 0, 1, name="score", label="ConvNet score"),
            hist.axis.Regular(30, 0, 300, name="msd", label="Soft-drop mass [GeV]"),
            storage=hist.storage.Weight(),
        )
        h.fill(tau21=obs["tau21"], score=scores, msd=ak.to_numpy(jets.mass_softdrop))
        return {
            "hist": h,
            # lists concatenate when coffea merges chunks
            "cms_tau21": (ak.to_numpy(jets.cms_tau2) / ak.to_numpy(jets.cms_tau1)).tolist(),
            "our_tau21": obs["tau21"].tolist(),
        }

    def postprocess(self, accumulator):
        return accumulator


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", help="a (PF)NanoAOD file")
    ap.add_argument("--model", default=None, help="a .keras ConvNet on 25 x 25 x 1 images")
    args = ap.parse_args(argv)
    model = args.model
    if model is None:
        from jetflow_inference.models import convnet

        model = str(Path(tempfile.mkdtemp()) / "untrained_convnet.keras")
        convnet().save(model)
        print(f"no --model given: using an untrained ConvNet ({model}); its scores mean nothing")
    runner = processor.Runner(executor=processor.IterativeExecutor(status=False), schema=QuietPFNanoAODSchema, chunksize=5)
    out = runner({"pfnano": [args.file]}, processor_instance=FatJetTagger(model), treename="Events")
    h = out["hist"]
    print(f"{h.sum(flow=True).value:.0f} jets filled; tau21 (ours, one-pass kt axes, R0 = 0.8) vs CMS's stored:")
    for ours, cms in zip(out["our_tau21"][:8], out["cms_tau21"][:8]):
        print(f"  {ours:.4f}  {cms:.4f}")
    return out


if __name__ == "__main__":
    main()
