"""How every child is started, for the blocking and the asyncio API alike.

A child always leads a new session (so a new process group whose id is its pid): a signal to the group
reaches the helpers it starts, and a terminal's Ctrl-C reaches only us, who forward it as we choose.
Streams are given as a path (appended to, opened here and closed in the parent once the child holds
it), `PIPE`, `DEVNULL`, `STDOUT` (stderr only) or None (inherit). `user` drops to that account
(uid, its primary group, no supplementary groups), which needs root.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypedDict, Unpack

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL
STDOUT = subprocess.STDOUT

Stream = Path | int | None
Argv = Sequence[str | os.PathLike[str]]


def argv_list(argv: Argv) -> list[str]:
    if not argv:
        raise ValueError("an empty command line")
    return [os.fspath(a) for a in argv]


class How(TypedDict, total=False):
    """How to start a child, as keyword arguments of `Process.spawn` and `AsyncProcess.spawn`."""

    cwd: Path | str | None  # default: ours
    env: Mapping[str, str] | None  # default: ours
    stdin: Stream  # default: DEVNULL
    stdout: Stream  # default: inherited
    stderr: Stream  # default: inherited
    user: str | None  # default: ours


@contextlib.contextmanager
def options(**how: Unpack[How]) -> Iterator[dict[str, Any]]:
    """The keyword arguments of `subprocess.Popen` / `asyncio.create_subprocess_exec` for one child.

    Files named by path are open while the block runs (start the child inside it) and closed after.
    """
    env = how.get("env")
    user = how.get("user")
    with contextlib.ExitStack() as files:

        def stream(value: Stream, mode: str) -> IO[bytes] | int | None:
            if isinstance(value, Path):
                return files.enter_context(value.open(mode))
            return value

        kwargs: dict[str, Any] = {
            "stdin": stream(how.get("stdin", DEVNULL), "rb"),
            "stdout": stream(how.get("stdout"), "ab"),
            "stderr": stream(how.get("stderr"), "ab"),
            "cwd": how.get("cwd"),
            "env": dict(env) if env is not None else None,
            "start_new_session": True,
        }
        if user is not None:
            account = pwd.getpwnam(user)
            kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
        yield kwargs
