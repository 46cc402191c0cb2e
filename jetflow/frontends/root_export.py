"""Fit-ready ROOT files: every histogram and cut-flow of a jetflow result, written with uproot.

``jetflow export-root RESULT.coffea OUT.root`` (or :func:`export_root`) writes
what combine, pyhf / cabinetry or ROOT itself read directly.  The rules (the
ROOT path of each object and its naming, what becomes a TH1D/TH2D/TH3D, how
category axes and cut-flows are written, what is refused or left out, the
atomic write) are stated once, for users: docs/design.md, "Fit-ready ROOT
files".
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jetflow.core.atomic import atomic_write
from jetflow.core.errors import InputError, OutputError

JETS_SUFFIX = "_jets"
"""The suffix of a cut-flow's unweighted twin (jet counts per step)."""

_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9_]")


def root_name(part: Any) -> str:
    """One part of a ROOT path: every character but ``[A-Za-z0-9_]`` becomes ``_``; empty becomes ``_``."""
    return _NOT_IN_NAMES.sub("_", str(part)) or "_"


class _Refused(Exception):
    """An object that cannot be written, with the reason."""


@dataclass
class RootExport:
    """What :func:`export_root` did.

    Attributes
    ----------
    path : Path
        The ROOT file.
    written : list of (root_path, source, what)
        Each object written: its path in the file, its path in the result, its ROOT class and shape.
    refused : list of (source, reason)
        Histograms and cut-flows that could not be written, and why.
    left_out : list of (source, type name)
        Objects of the result that are neither histograms nor cut-flows.
    """

    path: Path
    written: list[tuple[str, str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"wrote {self.path}: {len(self.written)} object(s)"]
        for root_path, source, what in self.written:
            renamed = "" if root_path in (source, source + JETS_SUFFIX) else f"  (from {source})"
            lines.append(f"  {root_path}  {what}{renamed}")
        if self.refused:
            lines.append(f"not written ({len(self.refused)}):")
            lines += [f"  {source}: {reason}" for source, reason in self.refused]
        if self.left_out:
            kinds: dict[str, int] = {}
            for _, kind in self.left_out:
                kinds[kind] = kinds.get(kind, 0) + 1
            counted = ", ".join(f"{kind} x{n}" for kind, n in sorted(kinds.items()))
            lines.append(f"left out, not histograms or cut-flows: {counted}")
        return "\n".join(lines)


def _is_cutflow(obj: Any) -> bool:
    return all(hasattr(obj, attr) for attr in ("steps", "counts", "sumw", "sumw2")) and not isinstance(obj, dict)


def _is_histogram(obj: Any) -> bool:
    import boost_histogram as bh

    return isinstance(obj, bh.Histogram)


def _walk(node: Any, source: tuple[str, ...]):
    """``(source path, object)`` of every leaf of a result's nested dicts, in sorted key order."""
    if isinstance(node, dict):
        for key in sorted(node, key=str):
            yield from _walk(node[key], (*source, str(key)))
    else:
        yield source, node


def _filled_categories(h, index: int) -> list[str]:
    """The categories (overflow included) of category axis ``index`` that hold anything."""
    import numpy as np

    view = h.view(flow=True)
    parts = [np.asarray(view[name]) for name in view.dtype.names] if view.dtype.names else [np.asarray(view)]
    nonzero = np.zeros(parts[0].shape, dtype=bool)
    for part in parts:
        nonzero |= part != 0
    others = tuple(i for i in range(nonzero.ndim) if i != index)
    per_category = nonzero.any(axis=others) if others else nonzero
    axis = h.axes[index]
    names = [str(c) for c in axis] + ["(other)"] * (len(per_category) - len(axis))
    return [name for name, filled in zip(names, per_category) if filled]


def _histogram(h, title: str):
    """A copy of ``h`` that ROOT can hold: category axes summed over (refused if that would mix entries)."""
    import boost_histogram as bh

    categories = [i for i, ax in enumerate(h.axes) if isinstance(ax, (bh.axis.StrCategory, bh.axis.IntCategory))]
    numeric = len(h.axes) - len(categories)
    if not 1 <= numeric <= 3:
        raise _Refused(f"{numeric} numeric axes (besides {len(categories)} category axes); "
                       "a ROOT histogram (TH1, TH2, TH3) has 1 to 3")
    for i in categories:
        filled = _filled_categories(h, i)
        if len(filled) > 1:
            name = h.axes[i].name or f"#{i}"
            raise _Refused(f"category axis {name!r} has entries in {len(filled)} categories ({', '.join(filled)}); "
                           "ROOT histograms have no category axes and summing would mix them")
    out = h[{i: sum for i in categories}] if categories else h.copy()
    if hasattr(out, "name"):
        out.name = title  # uproot writes it as the histogram's title
    return out


def _cutflow(cf, title: str):
    """A cut-flow as two histograms with one labelled bin per step: sums of weights, jet counts."""
    import hist

    steps = [str(s) for s in cf.steps]
    if not steps:
        raise _Refused("a cut-flow without steps")
    axis = hist.axis.StrCategory(steps, overflow=False, name="step", label="step")
    weighted = hist.Hist(axis, storage=hist.storage.Weight(), name=f"{title} (sum of weights)")
    view = weighted.view()
    view.value = [float(cf.sumw[s]) for s in cf.steps]
    view.variance = [float(cf.sumw2[s]) for s in cf.steps]
    jets = hist.Hist(axis, storage=hist.storage.Double(), name=f"{title} (jets)")
    jets.view()[:] = [float(cf.counts[s]) for s in cf.steps]
    return weighted, jets


def _describe(writable) -> str:
    """``TH1D 40 bins, with sumw2``: a written histogram's class and shape."""
    cls = writable.classname
    dims = int(cls[2]) if cls[:2] == "TH" and cls[2].isdigit() else 1
    bins = " x ".join(str(writable.member(f"f{x}axis").member("fNbins")) for x in "XYZ"[:dims])
    sumw2 = ", with sumw2" if len(writable.member("fSumw2")) else ""
    return f"{cls} {bins} bins{sumw2}"


def plan(result: Any) -> tuple[dict[str, Any], RootExport]:
    """What :func:`export_root` would write: ``{root path: uproot object}`` and the account (no file yet)."""
    import uproot

    account = RootExport(Path())
    objects: dict[str, Any] = {}
    taken: dict[str, str] = {}

    def add(source: str, root_path: str, writable) -> None:
        if root_path in taken:
            raise _Refused(f"its ROOT name {root_path} is taken by {taken[root_path]} "
                           "(names keep only letters, digits and _)")
        taken[root_path] = source
        objects[root_path] = writable

    output = getattr(result, "output", None)
    if not isinstance(output, dict):
        raise InputError(f"not a jetflow result: {type(result).__name__} (expected jetflow.Result)")
    for dataset in sorted(output, key=str):
        for parts, obj in _walk(output[dataset], (str(dataset),)):
            source = "/".join(parts)
            root_path = "/".join(root_name(p) for p in parts)
            try:
                if _is_histogram(obj):
                    h = _histogram(obj, source)
                    try:
                        writable = uproot.to_writable(h)
                    except (ValueError, TypeError, NotImplementedError) as exc:  # uproot refuses (e.g. a 2-D profile)
                        raise _Refused(f"uproot cannot write it ({type(exc).__name__}: {exc})") from None
                    add(source, root_path, writable)
                    account.written.append((root_path, source, _describe(writable)))
                elif _is_cutflow(obj):
                    weighted, jets = (uproot.to_writable(h) for h in _cutflow(obj, source))
                    jets_path = root_path + JETS_SUFFIX
                    if jets_path in taken:
                        raise _Refused(f"its ROOT name {jets_path} is taken by {taken[jets_path]}")
                    add(source, root_path, weighted)
                    add(source, jets_path, jets)
                    n = len(obj.steps)
                    account.written.append((root_path, source, f"TH1D {n} labelled bins (sum of weights, with sumw2)"))
                    account.written.append((jets_path, source, f"TH1D {n} labelled bins (jets)"))
                else:
                    account.left_out.append((source, type(obj).__name__))
            except _Refused as why:
                account.refused.append((source, str(why)))
    return objects, account


def export_root(result: Any, out: str | os.PathLike) -> RootExport:
    """Write every histogram and cut-flow of ``result`` into the ROOT file ``out`` (see the module's rules).

    Parameters
    ----------
    result
        A :class:`jetflow.Result` (``jetflow.load``).
    out
        The ROOT file; its folder must exist.  Written as ``<out>.part`` in
        the same folder, then renamed over ``out``.

    Returns
    -------
    RootExport
        What was written, what could not be and why, and what was left out.

    Raises
    ------
    InputError
        The result holds no histogram or cut-flow that can be written.
    OutputError
        ``out`` is a folder, its folder does not exist, or it cannot be written.
    """
    import uproot

    out = Path(out)
    if out.is_dir():
        raise OutputError(f"output {out} is a folder; give a file name such as {out / 'result.root'}")
    if not out.parent.is_dir():
        raise OutputError(f"output {out}: the folder {out.parent} does not exist; create it first")
    objects, account = plan(result)
    account.path = out
    if not objects:
        refused = "; ".join(f"{s}: {r}" for s, r in account.refused) or "none"
        raise InputError(f"the result holds no histogram or cut-flow that ROOT can hold (not written: {refused})")
    with atomic_write(out, "output") as part, uproot.recreate(part) as f:
        for root_path, writable in objects.items():
            f[root_path] = writable
    return account
