"""Write rendered artifacts to a folder: all or nothing, and never over the user's own work.

Files go to a fresh hidden folder beside the target first (`.out.XXXX`, 0700; secret files 0600 from
creation); only when every file is written does it replace the target. A failure leaves the previous
render untouched. A render killed midway (SIGKILL, power loss) leaves its hidden folder, holding
secrets: the next render removes such leftovers, under a lock on the parent folder so that two renders
into one place never remove each other's work.

Replacing the target must not lose what the user put there: a file the previous render's manifest does
not list, or one whose content no longer matches its hash there (a hand edit), is named and the render
refused unless `force`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import PUBLIC_MODE, SECRET_MODE, fsync_dir, write_atomic
from gitlab_ha.render.cluster import Artifact

MARKER = "manifest.json"


SHOWN = 5  # files named in a refusal; the rest are counted


def write_artifacts(artifacts: list[Artifact], out: Path, *, force: bool = False) -> None:
    """Replace `out` with the rendered files; an unwritable or wrong output path, or files of the
    user's that replacing would lose (unless `force`), is an `InputError`."""
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", str(out))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with _locked(out.parent, out):
            _remove_leftovers(out)
            if not force:
                _refuse_losing_user_files(out)
            _write(artifacts, out)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", str(out)) from None


@contextlib.contextmanager
def _locked(parent: Path, out: Path) -> Iterator[None]:
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InputError("another render is writing here; try again when it has finished", str(out)) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _remove_leftovers(out: Path) -> None:
    """The hidden folders of renders killed midway (`.out.XXXX`, `.out.old.XXXX`): they may hold secrets."""
    pattern = re.compile(rf"^\.{re.escape(out.name)}\.(old\.)?[A-Za-z0-9_]{{8}}$")
    for entry in out.parent.iterdir():
        if pattern.match(entry.name) and entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)


def _refuse_losing_user_files(out: Path) -> None:
    if not out.exists():
        return
    if not (out / MARKER).is_file():
        if any(out.iterdir()):
            raise InputError(
                "exists and is not a gitlab-ha render (no manifest.json); refusing to replace it", str(out)
            )
        return
    try:
        listed = {f["path"]: f["sha256"] for f in json.loads((out / MARKER).read_text())["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"manifest.json is unreadable ({exc}); use --force to replace the folder", str(out)) from None
    added: list[str] = []
    edited: list[str] = []
    for path in sorted(p for p in out.rglob("*") if not p.is_dir() or p.is_symlink()):
        rel = path.relative_to(out).as_posix()
        if rel == MARKER:
            continue
        if rel not in listed:
            added.append(rel)
        elif path.is_symlink() or not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != listed[rel]:
            edited.append(rel)
    if added or edited:
        parts = []
        for what, files in (("added", added), ("edited since the last render", edited)):
            if files:
                more = f" and {len(files) - SHOWN} more" if len(files) > SHOWN else ""
                parts.append(f"{what}: {', '.join(files[:SHOWN])}{more}")
        raise InputError(
            f"re-rendering would lose files of yours ({'; '.join(parts)}); move them away or use --force", str(out)
        )


def _write(artifacts: list[Artifact], out: Path) -> None:
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
