"""Write rendered artifacts to a folder: all or nothing.

Files go to a fresh temp folder beside the target first (secret ones 0600 from creation); only
when every file is written does the temp folder replace the target. A failure leaves the
previous render untouched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import PUBLIC_MODE, SECRET_MODE, fsync_dir, write_atomic
from gitlab_ha.render.cluster import Artifact

MARKER = "manifest.json"


def write_artifacts(artifacts: list[Artifact], out: Path) -> None:
    """Replace `out` with the rendered files; an unwritable or wrong output path is an `InputError`."""
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", str(out))
    try:
        _write(artifacts, out)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", str(out)) from None


def _write(artifacts: list[Artifact], out: Path) -> None:
    if out.exists() and not (out / MARKER).is_file() and any(out.iterdir()):
        raise InputError("exists and is not a gitlab-ha render (no manifest.json); refusing to replace it", str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        os.chmod(staging, 0o700)
        for artifact in artifacts:
            write_atomic(
                staging / artifact.path,
                artifact.content,
                mode=SECRET_MODE if artifact.secret else PUBLIC_MODE,
            )
            os.chmod((staging / artifact.path).parent, 0o700)
        os.chmod(staging, 0o755)
        old: Path | None = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.rename(out, old / "prev")
        os.rename(staging, out)
        fsync_dir(out.parent)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(staging)
        raise
