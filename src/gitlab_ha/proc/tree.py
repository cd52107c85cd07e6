"""Stop a process tree: the leader, every descendant, and what is left of its process group.

As Patroni's `CancellableExecutor` and `PostmasterProcess.signal_kill` do it: suspend the leader so it
cannot start another child while we look, collect its descendants recursively, then SIGKILL them all.
Our children lead their own process group (see `launch`), so the group gets SIGKILL too: that also
reaches a grandchild whose parent already exited (re-parented away from the tree, still in the group).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import psutil

REAP_STEP = 0.01


def kill_tree(pid: int) -> list[psutil.Process]:
    """SIGKILL `pid` (a group leader we started), its descendants and its group; returns the descendants.

    The caller reaps `pid` itself (it is our child); `reap()` waits for the descendants returned.
    """
    descendants: list[psutil.Process] = []
    leader: psutil.Process | None = None
    with contextlib.suppress(psutil.NoSuchProcess):
        leader = psutil.Process(pid)
    if leader is not None:
        with contextlib.suppress(psutil.Error):
            leader.suspend()
        with contextlib.suppress(psutil.Error):
            descendants = leader.children(recursive=True)
    # The group too: a grandchild whose parent already exited was re-parented away from the tree.
    known = {p.pid for p in descendants}
    descendants += [p for p in _group(pid) if p.pid not in known and p.pid != pid]
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    if leader is not None:
        with contextlib.suppress(psutil.Error):
            leader.kill()
    for child in descendants:
        with contextlib.suppress(psutil.Error):
            child.kill()
    return descendants


def _group(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == pgid:
                members.append(process)
    return members


def gone(process: psutil.Process) -> bool:
    """Whether it has exited (a zombie that nobody reaps yet counts as exited)."""
    try:
        return process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return True


def reap(processes: list[psutil.Process], timeout: float = 10.0) -> list[psutil.Process]:
    """Wait until each of `processes` has exited; returns those still running after `timeout` seconds.

    They are not our children (their parent was the leader), so this waits for them to disappear
    rather than calling waitpid; a zombie left for an init that does not reap counts as gone.
    """
    end = time.monotonic() + timeout
    left = [p for p in processes if not gone(p)]
    while left and time.monotonic() < end:
        time.sleep(REAP_STEP)
        left = [p for p in left if not gone(p)]
    return left
