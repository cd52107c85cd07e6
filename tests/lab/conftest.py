"""Shared lab machinery for tests: a topology text from a preset (the lab directory fixture, which the
drill tests share, is in tests/conftest.py)."""

from __future__ import annotations

from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.yaml_out import topology_yaml


def preset_text(name: str, version: str | None = None) -> str:
    preset = PRESETS[name]
    text = topology_yaml(preset, expand(preset))
    if version is not None:
        text = text.replace(f"version: {preset.version}", f"version: {version}")
    return text
