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
    generated: str = Field(description="export of the generated jets, with constituents")
    reference: str | None = Field(None, description=(
        "a second export of real jets for the real-against-real row (default: the real jets split in two halves)"))
    n_particles: int = Field(30, ge=1, description="the leading constituents compared (JetNet: 30)")
    num_eval_samples: int = Field(50_000, ge=10, description="W1s: jets drawn (with replacement) per draw")
    num_batches: int = Field(5, ge=1, description="W1s: draws")
    fpd_samples: tuple[int, int] = Field((20_000, 50_000), description="FPD: the smallest and largest sample size")
    kpd_batch_size: int = Field(5_000, ge=2, description="KPD: jets per draw")
    seed: int = 0
    out: str = Field("jetnet_metrics.json", description="the metrics, as JSON")


def _particles(folder, n_particles: int, what: str) -> np.ndarray:
    from jetflow.formats.export import read
    from jetflow.stats.jetnet_metrics import jetnet_coordinates

    table = read(folder, columns=["constituents", "pt", "eta", "phi"])
    if table["constituents"].shape[1] < n_particles:
        raise ValueError(f"jetnet_metrics: {what} export {folder} holds {table['constituents'].shape[1]} constituents "
                         f"per jet, the metrics compare {n_particles}")
    return jetnet_coordinates(table["constituents"][:, :n_particles], table["pt"], table["eta"], table["phi"])


def jetnet_metrics_step(options: JetNetMetricsOptions, ctx: StepContext) -> StepResult:
    from jetflow.stats.jetnet_metrics import evaluate

    real = _particles(ctx.resolve(options.real), options.n_particles, "real")
    generated = _particles(ctx.resolve(options.generated), options.n_particles, "generated")
    reference = None if options.reference is None else _particles(ctx.resolve(options.reference),
                                                                   options.n_particles, "reference")
    low, high = options.fpd_samples
    table = evaluate(real, generated, reference, num_eval_samples=options.num_eval_samples,
                     num_batches=options.num_batches, seed=options.seed,
                     fpd_options={"min_samples": low, "max_samples": high},
                     kpd_options={"batch_size": options.kpd_batch_size})
    path = ctx.resolve(options.out)
    write_text(path, json.dumps(table, indent=1), "metrics")
    return StepResult({"metrics": table, "jets": {"real": len(real), "generated": len(generated)}},
                      _markdown(table, options))


def _markdown(table, options) -> str:
    def cell(value, scale=1.0):
        v, e = value
        if isinstance(v, list):  # per feature: their mean, and the errors added in quadrature
            v, e = float(np.mean(v)), float(np.linalg.norm(e))
        return f"{v * scale:.3g} ± {e * scale:.2g}"

    rows = [("W1-M x 1e3", "w1m", 1e3), ("W1-P x 1e3 (mean of 3 features)", "w1p", 1e3),
            ("W1-EFP x 1e5 (mean of 5 EFPs)", "w1efp", 1e5), ("FPD x 1e4", "fpd", 1e4), ("KPD x 1e4", "kpd", 1e4)]
    lines = [f"[jetnet]'s metrics of `{options.generated}` against `{options.real}` ({options.n_particles} "
             "particles per jet), and of real jets against real beside them:", "",
             "| metric | generated | real |", "|---|---|---|"]
    lines += [f"| {label} | {cell(table[key]['generated'], scale)} | {cell(table[key]['real'], scale)} |"
              for label, key, scale in rows]
    return "\n".join(lines)
