"""Shared fixtures: paths to the shared reference data and the seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference" / "omnibus"
SEEDS = SHARED / "seeds"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"{REFERENCE} is missing: clone the project with ../shared beside it")
    return REFERENCE
