"""Shared lab machinery for tests: a lab directory the service accounts can traverse, and a clean
teardown (supervisor, stragglers in the node cgroups, the nftables table) whatever happened."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.yaml_out import topology_yaml

pytestmark = pytest.mark.slow


def preset_text(name: str, version: str | None = None) -> str:
    preset = PRESETS[name]
    text = topology_yaml(preset, expand(preset))
    if version is not None:
        text = text.replace(f"version: {preset.version}", f"version: {version}")
    return text


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
        shutil.rmtree(path, ignore_errors=True)
