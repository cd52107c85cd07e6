"""Helpers for tests: run the real CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def cli(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `gitlab-ha ARGS` as users do; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "gitlab_ha", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        input=stdin,
        timeout=timeout,
        check=False,
    )
