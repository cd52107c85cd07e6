"""Script checks and watch handlers run in a process group of their own, as Consul runs them.

A script's children (`sh -c 'pg_isready …; sleep 5'`) inherit its stdout. Killing only the script
would leave them holding the pipe, so the check would wait for them past its timeout, and they
would outlive the agent. Each script therefore starts a new session; on a timeout, a removed check
or the agent's shutdown, the whole group gets SIGKILL, which also closes the pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: killed after the timeout
    output: bytes


def kill_group(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL every process of `proc`'s group (its pgid is its pid: it leads a new session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def run_group(
    argv: list[str],
    *,
    timeout: float,
    stdin: bytes | None = None,
    capture: bool = True,
    env: Mapping[str, str] | None = None,
) -> Outcome:
    """Run `argv` in a new session; after `timeout` seconds kill its group. OSError if it cannot start."""
    pipe = asyncio.subprocess.PIPE
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=pipe if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=pipe if capture else None,
        stderr=asyncio.subprocess.STDOUT if capture else None,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        kill_group(proc)
        await proc.wait()
        return Outcome(None, b"")
    except asyncio.CancelledError:
        kill_group(proc)
        raise
    # Like Consul, a result counts once the script exited and every holder of its output closed it;
    # a child that let go of the output (`nohup x >/dev/null &`) is the script's business and stays.
    return Outcome(proc.returncode, out or b"")
