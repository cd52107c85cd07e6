"""Shared fixtures: paths to the shared reference data and the seeds; a lab directory."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitlab_ha.lab.lab import Lab

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
REFERENCE = SHARED / "reference" / "omnibus"
SEEDS = SHARED / "seeds"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.is_dir():
        pytest.fail(f"{REFERENCE} is missing: clone the project with ../shared beside it")
    return REFERENCE


@pytest.fixture(scope="module")
def lab_dir() -> Iterator[Path]:
    """A fresh directory under /tmp (0755: postgres and redis must reach their node folders)."""
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (cgroups, nftables, service accounts)")
    path = Path(tempfile.mkdtemp(prefix="gitlab-ha-lab-"))
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        Lab(path).down()  # whatever a failed test left running (a no-op after the test's own down)
        shutil.rmtree(path, ignore_errors=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under xdist (`make test`: -n 2 --dist loadgroup) a module's tests stay on one worker, so a module's
    shared fixture (a cluster, a lab) is made once; the lab modules name one group of their own."""
    for item in items:
        if not any(mark.name == "xdist_group" for mark in item.iter_markers()):
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
