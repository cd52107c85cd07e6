"""Helpers for tests: run the real CLI in a subprocess, a folder the service accounts can reach, a preset's
topology text."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.yaml_out import topology_yaml


def cli(
    *args: str | Path,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 120,
    umask: int = -1,
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
        umask=umask,
        check=False,
    )


@contextlib.contextmanager
def service_tmpdir(prefix: str, owner: str | None = None) -> Iterator[Path]:
    """A fresh folder under /tmp that the service accounts (postgres, redis) can reach, 0755 or owned by
    `owner` (pytest's tmp_path sits below a 0700 folder); removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(path, 0o755)
    if owner is not None:
        entry = pwd.getpwnam(owner)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def preset_text(name: str, version: str | None = None) -> str:
    """A preset's topology file as `gitlab-ha init` writes it (at another release when `version` says)."""
    preset = PRESETS[name]
    text = topology_yaml(preset, expand(preset))
    if version is not None:
        text = text.replace(f"version: {preset.version}", f"version: {version}")
    return text
