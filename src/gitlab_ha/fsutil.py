"""Atomic file writes: write to a temp file in the same folder, fsync, then rename.

Nothing half-written is ever left behind, and a file that holds a secret is created 0600 from
its first byte (the temp file is opened with that mode, so there is no window where it is wider).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from gitlab_ha.errors import InputError

SECRET_MODE = 0o600
PUBLIC_MODE = 0o644


def write_atomic(path: Path, data: str | bytes, *, mode: int = PUBLIC_MODE) -> None:
    """Write `data` to `path` atomically with permission `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_user_text(path: Path, where: str | None = None) -> str:
    """Read a file the user named as UTF-8 text; any failure is an `InputError` naming it."""
    where = where or str(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", where) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", where) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", where) from None


def write_user_file(path: Path, data: str | bytes, *, mode: int = PUBLIC_MODE) -> None:
    """`write_atomic` to a path the user named; a folder in the way or an OS refusal is an `InputError`."""
    if path.is_dir():
        raise InputError("is a folder, not a file", str(path))
    try:
        write_atomic(path, data, mode=mode)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", str(path)) from None
