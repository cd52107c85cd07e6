"""Atomic file writes (a temp file in the same folder, fsync, then rename), bounded reads of a user's
files, and the one exclusive lock file.

Nothing half-written is ever left behind, and a file that holds a secret is created 0600 from
its first byte (the temp file is opened with that mode, so there is no window where it is wider).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
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


MAX_INPUT = 4 * 1024 * 1024  # no topology, credentials file or config a user hands us is near this
_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def read_user_bytes(path: Path, where: str | None = None, *, limit: int = MAX_INPUT) -> bytes:
    """Read a regular file the user named, at most `limit` bytes; anything else is an `InputError`
    naming it: missing, a symlink loop, a folder, a FIFO or a device (`/dev/zero` would never end, a
    FIFO never open), or larger than `limit`."""
    where = where or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # O_NONBLOCK: a FIFO opens at once
    except FileNotFoundError:
        raise InputError("no such file", where) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", where) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
            raise InputError(f"is {kind}, not a regular file", where)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}", where) from None
    finally:
        os.close(fd)
    if size > limit:
        raise InputError(f"larger than {_size(limit)}: not a file this tool reads", where)
    return b"".join(chunks)


def _size(count: int) -> str:
    return f"{count // (1024 * 1024)} MiB" if count % (1024 * 1024) == 0 else f"{count // 1024} KiB"


def read_user_text(path: Path, where: str | None = None, *, limit: int = MAX_INPUT) -> str:
    """Read a file the user named as UTF-8 text (see `read_user_bytes`); any failure is an `InputError`."""
    where = where or str(path)
    raw = read_user_bytes(path, where, limit=limit)
    try:
        return raw.decode("utf-8")
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


@contextlib.contextmanager
def exclusive_lock(path: Path, holder: str, subject: Path, advice: str = "") -> Iterator[None]:
    """Hold an exclusive lock on the file `path` for the block, as `holder` (a command) working on `subject`
    (a lab's folder): InputError at once when another process holds it, naming that one (its command and
    pid) and `subject`, then `advice`. The kernel drops the lock with its holder, SIGKILL included; the file is removed on release."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held_by = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise InputError(f"{held_by} is running here" + (f": {advice}" if advice else ""), str(subject)) from None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        os.close(fd)  # locked a file its holder had just removed on release: lock the one there now
    try:
        os.pwrite(fd, f"{holder} (pid {os.getpid()})\n".encode(), 0)
        yield
    finally:
        os.unlink(path)  # nothing left behind; whoever opened it meanwhile sees it gone and opens anew
        os.close(fd)
