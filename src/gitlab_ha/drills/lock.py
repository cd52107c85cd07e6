"""One drill session per lab at a time, and no `lab down` under one.

A second session's sweep before its first run heals the first one's held fault (a partition flushed two
seconds in, its leader never replaced), which the first one then reports as a passed run; its
`ensure_lab` may bring the lab down under the first one; and a `lab down` during a drill ended it in a
traceback with no report. `drill run` holds the lock for its session, `lab down` while it stops the lab.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from gitlab_ha.errors import InputError

# Outside the lab's folder, which a session that switches profile purges (and a new lock file there
# would let a second session in). The file is removed on release.
LOCK_DIR = Path("/run/lock")


@contextlib.contextmanager
def drill_lock(lab_dir: Path, holder: str = "`drill run`") -> Iterator[None]:
    """Hold the lab's drill lock for the block as `holder`; InputError at once, naming the one that
    holds it (its command and pid). The kernel drops the lock with its holder, SIGKILL included."""
    name = hashlib.sha256(str(lab_dir.resolve()).encode()).hexdigest()[:16]
    path = LOCK_DIR / f"gitlab-ha-drill-{name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held_by = os.pread(fd, 200, 0).decode(errors="replace").strip() or "a drill"
            os.close(fd)
            raise InputError(
                f"{held_by} is running on this lab: wait for it, or Ctrl-C it (a drill heals its fault first)",
                str(lab_dir),
            ) from None
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
