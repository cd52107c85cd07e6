"""One drill session per lab at a time, and no `lab down` under one.

A second session's sweep before its first run heals the first one's held fault (a partition flushed two
seconds in, its leader never replaced), which the first one then reports as a passed run; its
`ensure_lab` may bring the lab down under the first one; and a `lab down` during a drill ended it in a
traceback with no report. `drill run` holds the lock for its session, `lab down` while it stops the lab.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path

from gitlab_ha.fsutil import exclusive_lock

# Outside the lab's folder, which a session that switches profile purges (and a new lock file there
# would let a second session in). The file is removed on release.
LOCK_DIR = Path("/run/lock")


@contextlib.contextmanager
def drill_lock(lab_dir: Path, holder: str = "`drill run`") -> Iterator[None]:
    """Hold the lab's drill lock for the block as `holder`; InputError at once naming the one that holds it."""
    name = hashlib.sha256(str(lab_dir.resolve()).encode()).hexdigest()[:16]
    with exclusive_lock(
        LOCK_DIR / f"gitlab-ha-drill-{name}.lock",
        holder,
        lab_dir,
        "wait for it, or Ctrl-C it (a drill heals its fault first)",
    ):
        yield
