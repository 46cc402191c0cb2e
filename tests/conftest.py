"""Shared fixtures.  ``../shared/data`` (beside the repository) holds real CMS files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JETFLOW_SHARED", REPO.parent / "shared"))
PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(scope="session")
def pfnano_file() -> Path:
    path = SHARED / "data" / "pfnano.root"
    if not path.is_file():
        pytest.fail(f"shared test data missing: {path} (set JETFLOW_SHARED to the shared/ folder)")
    return path


@pytest.fixture
def pfnano_config(pfnano_file, tmp_path) -> dict:
    """A config on the real PFNano file: FatJets above 200 GeV, a pT cut, 4 chunks."""
    return {
        "datasets": {
            "cms_a": {"files": [str(pfnano_file)], "label": "signal"},
        },
        "jets": {"source": "pfnano", "min_pt": 150, "max_jets": None},
        "selection": {"windows": {"pt": [200, None]}},
        "run": {"chunksize": 3, "progress": False},
    }
