"""The pluggy markers.  Kept in a tiny module so that ``from jetflow import
hookimpl`` costs nothing."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "jetflow"
"""The pluggy project name and the entry-point group plugins register in."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
