"""Fixtures for the secrets tests: a clean environment and a runner of the real `gitlab-ha` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).parent / "gitlab-ha"


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without any GITLAB_HA_SECRET* variable, plus `extra` and a wide terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITLAB_HA_SECRET")}
    env["COLUMNS"] = "250"
    env.update(extra or {})
    return env


def file_values(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: entry["value"] for name, entry in data["secrets"].items()}


class Runner:
    """Runs the installed console script and keeps every output, to check later that none leaks a secret."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.outputs: list[str] = []

    def __call__(self, *args: str | Path, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "gitlab_ha"]
        result = subprocess.run(
            [*command, *map(str, args)],
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env=clean_env(env),
            timeout=120,
            check=False,
        )
        self.outputs.append(result.stdout + result.stderr)
        return result

    def assert_no_leak(self, secrets: list[str]) -> None:
        assert secrets
        for output in self.outputs:
            for secret in secrets:
                assert secret not in output


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Runner]:
    """A runner in tmp_path; at the end, no output may contain any value ever stored in tmp_path."""
    runner = Runner(tmp_path)
    yield runner
    seen: list[str] = []
    for store in tmp_path.rglob("*.json"):
        try:
            values = file_values(store)
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        seen.extend(values.values())
    if seen:
        runner.assert_no_leak(seen)


@pytest.fixture
def no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Library tests: no GITLAB_HA_SECRET_* from the developer's shell."""
    for key in list(os.environ):
        if key.startswith("GITLAB_HA_SECRET"):
            monkeypatch.delenv(key)
