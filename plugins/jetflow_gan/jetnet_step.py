"""The workflow step ``jetnet_metrics``: generated jets judged with [jetnet]'s metrics against real ones, the
same metrics between two samples of real jets beside them (:func:`jetflow.stats.jetnet_metrics.evaluate`)."""

from __future__ import annotations

import json

import numpy as np
from pydantic import Field

from jetflow import Options, StepContext, StepResult
from jetflow.core.atomic import write_text


class JetNetMetricsOptions(Options):
    """Options of ``jetnet_metrics``."""

    real: str = Field(description="export of real jets with constituents (accumulators.export.constituents)")
    generated: str | dict[str, str] = Field(description=(
        "export of the generated jets, with constituents, or a mapping of names to such exports (one column each)"))
    reference: str | None = Field(None, description=(
        "a second export of real jets for the real-against-real row (default: the real jets split in two halves)"))
    n_particles: int = Field(30, ge=1, description="the leading constituents compared (JetNet: 30)")
    num_eval_samples: int = Field(50_000, ge=10, description="W1s: jets drawn (with replacement) per draw")
    num_batches: int = Field(5, ge=1, description="W1s: draws")
    fpd_samples: tuple[int, int] = Field((20_000, 50_000), description="FPD: the smallest and largest sample size")
    kpd_batch_size: int = Field(5_000, ge=2, description="KPD: jets per draw")
    classes: bool = Field(False, description=(
        "judge signal (label 1) and background (label 0) jets apart: one table per class"))
    seed: int = 0
    out: str = Field("jetnet_metrics.json", description="the metrics, as JSON")


CLASSES = {"signal": 1, "background": 0}


def _particles(folder, n_particles: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """The jets of an export in JetNet coordinates, and their labels."""
    from jetflow.formats.export import read
    from jetflow.stats.jetnet_metrics import jetnet_coordinates

    table = read(folder, columns=["constituents", "pt", "eta", "phi", "label"])
    if table["constituents"].shape[1] < n_particles:
        raise ValueError(f"jetnet_metrics: {what} export {folder} holds {table['constituents'].shape[1]} constituents "
                         f"per jet, the metrics compare {n_particles}")
    jets = jetnet_coordinates(table["constituents"][:, :n_particles], table["pt"], table["eta"], table["phi"])
    return jets, np.asarray(table["label"]).astype(int)


def jetnet_metrics_step(options: JetNetMetricsOptions, ctx: StepContext) -> StepResult:
    from jetflow.stats.jetnet_metrics import evaluate

    names = options.generated if isinstance(options.generated, dict) else {"generated": options.generated}
    samples = {"real": _particles(ctx.resolve(options.real), options.n_particles, "real")}
    samples |= {name: _particles(ctx.resolve(path), options.n_particles, f"generated ({name})")
                for name, path in names.items()}
    if options.reference is not None:
        samples["reference"] = _particles(ctx.resolve(options.reference), options.n_particles, "reference")
    low, high = options.fpd_samples
    tables, jets = {}, {}
    for cls, value in (CLASSES.items() if options.classes else [(None, None)]):
        picked = {k: x if value is None else x[labels == value] for k, (x, labels) in samples.items()}
        empty = [k for k, x in picked.items() if len(x) < 2]
        if empty:
            raise ValueError(f"jetnet_metrics: fewer than 2 {cls or ''} jets in the export(s) {', '.join(empty)}")
        generated = {k: picked[k] for k in names} if isinstance(options.generated, dict) else picked["generated"]
        tables[cls] = evaluate(picked["real"], generated, picked.get("reference"),
                               num_eval_samples=options.num_eval_samples, num_batches=options.num_batches,
                               seed=options.seed, fpd_options={"min_samples": low, "max_samples": high},
                               kpd_options={"batch_size": options.kpd_batch_size})
        jets[cls] = {k: len(x) for k, x in picked.items()}
    table, jets = (tables, jets) if options.classes else (tables[None], jets[None])
    write_text(ctx.resolve(options.out), json.dumps(table, indent=1), "metrics")
    text = "\n\n".join(_markdown(t, options, cls) for cls, t in tables.items())
    return StepResult({"metrics": table, "jets": jets}, text)


def _markdown(table, options, cls: str | None) -> str:
    def cell(value, scale=1.0):
        v, e = value
        if isinstance(v, list):  # per feature: their mean, and the errors added in quadrature
            v, e = float(np.mean(v)), float(np.linalg.norm(e))
        return f"{v * scale:.3g} ± {e * scale:.2g}"

    rows = [("W1-M x 1e3", "w1m", 1e3), ("W1-P x 1e3 (mean of 3 features)", "w1p", 1e3),
            ("W1-EFP x 1e5 (mean of 5 EFPs)", "w1efp", 1e5), ("FPD x 1e4", "fpd", 1e4), ("KPD x 1e4", "kpd", 1e4)]
    columns = list(table["w1m"])
    which = f"{cls} jets" if cls else "jets"
    lines = [f"[jetnet]'s metrics of generated {which} against `{options.real}` ({options.n_particles} particles per "
             "jet), and of real jets against real beside them:", "",
             "| metric | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {label} | " + " | ".join(cell(table[key][c], scale) for c in columns) + " |"
              for label, key, scale in rows]
    return "\n".join(lines)
