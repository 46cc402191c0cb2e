"""The accumulators the core itself fills for every dataset: ``events``, ``cutflow``, ``skipped``.

Every accumulator here is Addable: ``a + b`` merges two chunk results, and
the result does not depend on how the data was chunked or in which order the
chunks were merged (sums are commutative; ordered keys are merged as ordered
unions).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Cutflow:
    """A weighted cut-flow: for each step, jets passing it and all steps before.

    Attributes
    ----------
    steps : list[str]
        Step names in order (``"all"`` first, then ``plugin:step``).
    counts : dict[str, int]
        Unweighted jet counts after each step.
    sumw, sumw2 : dict[str, float]
        Sum of weights and of squared weights after each step.
    """

    steps: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    sumw: dict[str, float] = field(default_factory=dict)
    sumw2: dict[str, float] = field(default_factory=dict)

    def record(self, step: str, weights: np.ndarray) -> None:
        """Add the jets (given by their weights) that pass ``step``."""
        w = np.asarray(weights, dtype=np.float64)
        if step not in self.counts:
            self.steps.append(step)
            self.counts[step] = 0
            self.sumw[step] = 0.0
            self.sumw2[step] = 0.0
        self.counts[step] += int(w.size)
        self.sumw[step] += float(w.sum())
        self.sumw2[step] += float(np.square(w).sum())

    def __add__(self, other: Cutflow) -> Cutflow:
        if not isinstance(other, Cutflow):
            return NotImplemented
        out = Cutflow()
        for step in [*self.steps, *(s for s in other.steps if s not in self.counts)]:
            out.steps.append(step)
            out.counts[step] = self.counts.get(step, 0) + other.counts.get(step, 0)
            out.sumw[step] = self.sumw.get(step, 0.0) + other.sumw.get(step, 0.0)
            out.sumw2[step] = self.sumw2.get(step, 0.0) + other.sumw2.get(step, 0.0)
        return out

    def rows(self) -> list[tuple[str, int, float, float]]:
        """``(step, count, sumw, efficiency relative to the first step)``."""
        first = self.sumw[self.steps[0]] if self.steps else 0.0
        return [
            (s, self.counts[s], self.sumw[s], (self.sumw[s] / first) if first else float("nan"))
            for s in self.steps
        ]

    def __str__(self) -> str:
        lines = [f"{'step':<36} {'jets':>10} {'sum w':>14} {'eff':>8}"]
        for step, n, w, eff in self.rows():
            lines.append(f"{step:<36} {n:>10d} {w:>14.6g} {eff:>8.4f}")
        return "\n".join(lines)


@dataclass
class EventCount:
    """Events read and the sum of their generator weights (for normalisation).

    ``sumw_gen`` is the sum of ``genWeight`` where the input has it, else the
    event count.
    """

    events: int = 0
    sumw_gen: float = 0.0
    chunks: int = 0

    def __add__(self, other: EventCount) -> EventCount:
        if not isinstance(other, EventCount):
            return NotImplemented
        return EventCount(
            self.events + other.events, self.sumw_gen + other.sumw_gen, self.chunks + other.chunks
        )


@dataclass
class Skipped:
    """Files or chunks left out under ``--skip-bad-files``, each with the reason.

    ``records``: tuples ``(filename, entrystart, entrystop, reason)``; a whole
    file that could not be opened has entrystart 0 and entrystop -1.
    """

    records: tuple = ()

    def __add__(self, other: Skipped) -> Skipped:
        if not isinstance(other, Skipped):
            return NotImplemented
        return Skipped(tuple(sorted(set(self.records) | set(other.records))))

    def __str__(self) -> str:
        lines = []
        for filename, start, stop, reason in self.records:
            where = "whole file" if stop < 0 else f"entries [{start}, {stop})"
            lines.append(f"  {filename}, {where}: {reason}")
        return "\n".join(lines)
