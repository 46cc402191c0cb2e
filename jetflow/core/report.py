"""What a plugin adds to a report: :class:`ReportPart` (returned by the ``jetflow_report`` hook)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ReportPart:
    """A plugin's share of a report.

    Attributes
    ----------
    title
        The section heading in ``report.md``.
    markdown
        The section's body: tables, and images linked relative to the report folder.
    files
        The files the plugin wrote into the report folder.
    """

    title: str
    markdown: str = ""
    files: list[Path] = field(default_factory=list)
