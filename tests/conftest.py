"""Shared fixtures: paths to the shared reference data and the seeds; a lab directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitlab_ha.lab.lab import Lab
from tests.helpers import service_tmpdir

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
    with service_tmpdir("gitlab-ha-lab-") as path:
        try:
            yield path
        finally:
            Lab(path).down()  # whatever a failed test left running (a no-op after the test's own down)


UMASK = os.umask(0o022)
os.umask(UMASK)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Each test, and the module fixtures it sets up first, start with the session's umask: Patroni's code,
    imported in-process (tests/render/test_consul_tls.py at collection), sets 077 for good. A lab test
    that wants a hardened umask asks for it (tests/lab/test_lab.py runs `lab up` under 077)."""
    os.umask(UMASK)
