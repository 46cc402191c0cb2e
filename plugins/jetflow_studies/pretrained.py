"""The networks shipped with jetflow, trained by its own ``jetflow reproduce``, and the workflow step ``pretrained``.

``pretrained/`` holds, per network, the model file (``<name>.keras``), its
training record (``<name>.keras.json``: data sizes, epochs, validation
figures, versions) and ``provenance.json``: the command and jetflow commit
that trained them, the study's parameters (seeds, sample sizes) and where the
files came from.  ``jetflow demo`` scores its freshly generated evaluation
jets with them, beside the network it trains on the spot: a network trained
on tens of thousands of jets shows in four minutes what the study shows in an
hour.  ``python -m jetflow_studies.pretrained STUDY_FOLDER COMMIT`` refreshes
them from a finished run of the jet-images workflow.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from pydantic import Field

from jetflow import Options, StepContext, StepResult

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
SHIPPED = ("convnet", "lbn")
"""The networks shipped (of the jet-images study's models)."""


def provenance() -> dict:
    path = PRETRAINED / "provenance.json"
    if not path.is_file():
        raise FileNotFoundError(f"no pretrained models in this installation ({path} is missing)")
    return json.loads(path.read_text())


class PretrainedOptions(Options):
    """Options of the workflow step ``pretrained``."""

    models: list[str] = Field(default_factory=list, description=f"shipped networks to score with ({', '.join(SHIPPED)})")


def pretrained_step(options: PretrainedOptions, ctx: StepContext) -> StepResult:
    """The shipped networks as a ready ``inference.models`` mapping (``pretrained_<name>``); none: empty.
    What each reads (image or constituents) comes from its training record."""
    unknown = sorted(set(options.models) - set(SHIPPED))
    if unknown:
        raise ValueError(f"no pretrained network {unknown}; jetflow ships {', '.join(SHIPPED)}")
    if not options.models:
        return StepResult({"models": {}}, "No pretrained network asked for.")
    origin = provenance()
    models, rows = {}, []
    for name in options.models:
        path = PRETRAINED / f"{name}.keras"
        record = json.loads((PRETRAINED / f"{name}.keras.json").read_text())
        models[f"pretrained_{name}"] = {"path": str(path), "input": record["input"]["column"]}
        rows.append(f"| pretrained_{name} | {record['jets']['train']} | {record['training']['epochs_run']} | "
                    f"{record['validation']['auc']:.3f} |")
    text = "\n".join([
        f"Networks shipped with jetflow, trained by `{origin['command']}` (jetflow {origin['commit']}) on the "
        f"training sample of seed {origin['params']['seed']}; the evaluation samples (seed "
        f"{origin['params']['seed'] + 1000}) were never trained on:",
        "", "| model | jets trained on | epochs | validation AUC |", "|---|---|---|---|", *rows])
    return StepResult({"models": models, "provenance": origin}, text)


def refresh(study: Path, commit: str) -> None:
    """Copy the shipped networks from a finished jet-images run in ``study`` (made by jetflow at ``commit``) and
    write their provenance."""
    record = json.loads((study / "study.json").read_text())
    if record["workflow"] != "jet-images" or not record["finished"]:
        raise ValueError(f"{study} holds no finished jet-images run")
    steps = {s["name"]: s for s in record["steps"]}
    PRETRAINED.mkdir(exist_ok=True)
    for name in SHIPPED:
        source = Path(steps["train"]["record"]["models"][name]["path"])
        shutil.copyfile(source, PRETRAINED / source.name)
        shutil.copyfile(f"{source}.json", PRETRAINED / f"{source.name}.json")
    origin = {
        "command": f"jetflow reproduce --scale {record['params']['scale']:g}",
        "commit": commit,
        "workflow": record["workflow"],
        "params": {k: record["params"][k] for k in ("scale", "seed", "wprime_events", "qcd_events", "epochs",
                                                    "patience", "n_particles")},
        "events": {s["name"]: s["record"]["events"] for s in record["steps"]
                   if s["step"] == "generate" and not s.get("skipped")},
        "selected_training_jets": steps["pass2"]["record"]["jets"],
    }
    (PRETRAINED / "provenance.json").write_text(json.dumps(origin, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m jetflow_studies.pretrained STUDY_FOLDER JETFLOW_COMMIT")
    refresh(Path(sys.argv[1]), sys.argv[2])
