"""The jet-images W-vs-QCD study (seed 000) end to end: ``jetflow demo`` and ``jetflow reproduce``.

1. Pythia 8: a training and an independent evaluation sample of W' -> W Z
   (W -> q q', Z -> nu nu) and QCD dijets at 14 TeV;
2. pass 1 on the training sample: towers, anti-kt R = 1.0, trimming, the
   study's selection (250 < pT < 300 GeV, 65 < m < 95 GeV), the pT spectra;
3. pass 2 on the training sample: signal reweighted to the QCD pT spectrum,
   images, tau21, Delta R, and the training export;
4. training of the networks on the export (through the ``jetflow_train_model``
   hook: the inference plugin trains them);
5. pass 3 on the evaluation sample, reweighted the same way: every
   discriminant, the likelihood combinations, the networks' scores, average
   images and the per-pixel correlation of the ConvNet;
6. the report: ROC curves, the rejection table, images, distributions.

The networks are never evaluated on the jets they were trained on.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass
class StudyPlan:
    """Sizes and settings of a study run."""

    out: str
    events: dict[str, int]  # per sample (training and evaluation each): process -> events
    models: list[str]
    epochs: int = 30
    patience: int = 5  # early stopping on the validation loss
    model_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    workers: int = 2
    events_per_file: int = 2500
    chunksize: int = 2500
    wprime_mass: float = 600.0
    pthat_min: float = 200.0
    pthat_max: float = 400.0
    n_particles: int = 30
    seed: int = 1
    progress: bool = True


DEMO = dict(
    events={"wprime": 1500, "qcd": 5000},
    models=["convnet"],
    epochs=15,
    model_args={"convnet": {"filters": 16, "dense": 32}},
    events_per_file=1250,
    chunksize=1250,
)


def reproduce_plan(out: str, scale: float, workers: int = 2, progress: bool = True) -> StudyPlan:
    """The full study at ``scale`` (1: 4,000 W' and 16,000 QCD events per sample)."""
    return StudyPlan(
        out=out,
        events={"wprime": int(4000 * scale), "qcd": int(16000 * scale)},
        models=["fisher", "maxout", "convnet", "lbn"],
        epochs=40,
        patience=10,
        workers=workers,
        progress=progress,
    )


def base_config(plan: StudyPlan, sample: str) -> dict[str, Any]:
    root = Path(plan.out).resolve()
    return {
        "datasets": {
            "wprime": {"files": [str(root / "samples" / sample / "wprime_s*.root")], "label": "signal", "xsec": 1.0},
            "qcd": {"files": [str(root / "samples" / sample / "qcd_s*.root")], "label": "background", "xsec": 1.0},
        },
        "jets": {"source": "towers", "radius": 1.0, "min_pt": 200.0, "max_jets": 2},
        "selection": {"windows": {"pt": [250.0, 300.0], "mass": [65.0, 95.0]}},
        "weights": {"normalize": True, "pt_reweight": {"bins": 10, "start": 250.0, "stop": 300.0}},
        "images": {"npix": 25, "pixel_size": 0.1},
        "observables": {"axes": "wta_kt", "beta": 1.0, "r0": 1.0},
        "run": {"executor": "futures" if plan.workers > 1 else "iterative", "workers": plan.workers,
                "chunksize": plan.chunksize, "progress": plan.progress},
    }


def _say(plan: StudyPlan, text: str) -> None:
    if plan.progress:
        print(f"[jetflow study] {text}", flush=True)


def run_study(plan: StudyPlan) -> dict[str, Any]:
    """Run every step; returns a record of the files, the timings and the summary table."""
    import jetflow
    from jetflow.generate import GenSettings, generate
    from jetflow.plugins import get_plugin_manager
    from jetflow.report import make_report, summary_rows

    root = Path(plan.out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    t_all = time.time()

    t0 = time.time()
    generated: dict[str, dict[str, int]] = {}
    for sample, seed in (("train", plan.seed), ("eval", plan.seed + 1000)):
        for process, n in plan.events.items():
            settings = GenSettings(process, wprime_mass=plan.wprime_mass, pthat_min=plan.pthat_min, pthat_max=plan.pthat_max)
            _say(plan, f"generating {n} {process} events ({sample} sample)")
            files = generate(settings, n, root / "samples" / sample, seed=seed, workers=plan.workers,
                             events_per_file=plan.events_per_file, progress=plan.progress, reuse=True)
            reused = sum(rec["events"] for rec in files if rec.get("reused"))
            generated[f"{sample}_{process}"] = {"events": n, "reused": reused}
            if reused:
                _say(plan, f"  {reused} of them reused from an earlier run into {plan.out}")
    timings["generate"] = time.time() - t0

    t0 = time.time()
    _say(plan, "pass 1 (training sample): jets, selection, pT spectra")
    cfg1 = base_config(plan, "train")
    cfg1["outputs"] = {"histograms": False}
    pass1 = root / "pass1_train.coffea"
    jetflow.run(cfg1, out=pass1)
    timings["pass1"] = time.time() - t0

    t0 = time.time()
    _say(plan, "pass 2 (training sample): signal reweighted to QCD's pT spectrum, images, export")
    cfg2 = base_config(plan, "train")
    cfg2["weights"]["pt_reweight"]["from_result"] = str(pass1)
    cfg2["outputs"] = {"histograms": False, "export": {"dir": str(root / "export_train"), "constituents": plan.n_particles}}
    jetflow.run(cfg2, out=root / "pass2_train.coffea")
    timings["pass2"] = time.time() - t0

    pm = get_plugin_manager()
    models: dict[str, str] = {}
    records: dict[str, Any] = {}
    for name in plan.models:
        t0 = time.time()
        _say(plan, f"training {name}")
        path = root / "models" / f"{name}.keras"
        options = {"epochs": plan.epochs, "patience": plan.patience, "seed": plan.seed, "progress": plan.progress,
                   "model_args": plan.model_args.get(name, {}), "n_particles": plan.n_particles}
        record = pm.hook.jetflow_train_model(model=name, data=str(root / "export_train"), out=str(path), options=options)
        if record is None:
            raise RuntimeError(f"no plugin trains the model {name!r} (is the inference plugin enabled?)")
        models[name] = str(path)
        records[name] = record["validation"]
        timings[f"train_{name}"] = time.time() - t0

    t0 = time.time()
    _say(plan, "pass 3 (evaluation sample): every discriminant, the networks, the combinations")
    cfg3 = base_config(plan, "eval")
    cfg3["weights"]["pt_reweight"]["from_result"] = str(pass1)
    cfg3["models"] = {"models": {
        name: {"path": path, "input": "constituents" if name == "lbn" else "image"} for name, path in models.items()
    }}
    combos = [["mass", "tau21"], ["tau21", "delta_r"], ["mass", "delta_r"]]
    for name in models:
        combos.append(["mass", f"score_{name}"])
    outputs: dict[str, Any] = {
        "roc": {"discriminants": {"mass": "likelihood", "tau21": "lower", "delta_r": "likelihood"}, "combinations": combos},
        "average_image": "image",
    }
    if "convnet" in models:
        outputs["correlations"] = ["score_convnet", "mass", "tau21"]
        outputs["ado"] = [["tau21", "score_convnet"]]
        outputs["roc"]["discriminants"]["score_convnet"] = "higher"
    cfg3["outputs"] = outputs
    (root / "study_eval.yaml").write_text(yaml.safe_dump(cfg3, sort_keys=False))
    result = jetflow.run(cfg3, out=root / "result.coffea")
    timings["pass3"] = time.time() - t0

    t0 = time.time()
    _say(plan, "report")
    make_report(result, root / "report", columns=["mass", "pt", "tau21", "delta_r", "mass_softdrop", "image_mass"])
    timings["report"] = time.time() - t0
    timings["total"] = time.time() - t_all

    rows = summary_rows(result.combined("roc"))
    jets = {ds: result[ds]["cutflow"].counts[result[ds]["cutflow"].steps[-1]] for ds in result.datasets}
    record = {"plan": asdict(plan), "timings_s": timings, "generated": generated, "validation": records, "evaluation_jets": jets,
              "summary": rows, "report": str(root / "report")}
    (root / "study.json").write_text(json.dumps(record, indent=2, default=str))
    write_markdown(record, root / "study.md")
    return record


def write_markdown(record: dict[str, Any], path: Path, plots: str = "report") -> None:
    """A Markdown account of a study run: sizes, timings, validation, the rejection table."""
    plan = record["plan"]
    t = record["timings_s"]
    lines = [
        "# jetflow study run",
        "",
        f"Samples (training and evaluation each): {plan['events']['wprime']} W' (m = {plan['wprime_mass']:.0f} GeV) "
        f"and {plan['events']['qcd']} QCD ({plan['pthat_min']:.0f} < pTHat < {plan['pthat_max']:.0f} GeV) events, "
        f"seeds {plan['seed']} and {plan['seed'] + 1000}.",
        f"Selected evaluation jets (250 < pT < 300 GeV, 65 < m < 95 GeV): {record['evaluation_jets']}.",
        f"Networks: {', '.join(plan['models'])}; at most {plan['epochs']} epochs, "
        f"early stopping (patience {plan.get('patience', 5)}).",
        "",
        "Wall time on this run's machine: " + ", ".join(f"{k} {v:.0f} s" for k, v in t.items()) + ".",
    ]
    reused = {k: v["reused"] for k, v in record.get("generated", {}).items() if v["reused"]}
    if reused:
        lines.append("Events reused from an earlier run (not generated in this one): "
                     + ", ".join(f"{k} {v}" for k, v in reused.items()) + ".")
    lines += [
        "",
        "Validation (training sample's held-out quarter): "
        + ", ".join(f"{m} AUC {v['auc']:.3f}" for m, v in record["validation"].items()) + ".",
        "",
        "## Rejection 1/eps_B at signal efficiency eps_S (evaluation sample)",
        "",
    ]
    lines += (Path(record["report"]) / "summary.md").read_text().splitlines()
    lines += ["", f"![ROC curves]({plots}/roc.png)", "", f"![Average images]({plots}/average_images.png)", ""]
    if (Path(record["report"]) / "correlation_score_convnet.png").exists():
        lines += [f"![Per-pixel correlation with the ConvNet]({plots}/correlation_score_convnet.png)", ""]
    path.write_text("\n".join(lines) + "\n")
