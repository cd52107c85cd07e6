"""The asyncio side of the toolkit: the agent's script checks and watch handlers run through it.

Same launch (`launch.options`: a new session) and the same stop (`tree.kill_tree`) as `Process`. A
script's children (`sh -c 'pg_isready …; sleep 5'`) inherit its stdout; killing only the script would
leave them holding the pipe, so the check would wait for them past its timeout and they would outlive
the agent. On a timeout, a removed check or the agent's shutdown the whole tree and group get SIGKILL,
which also closes the pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, Unpack

from gitlab_ha.proc.launch import DEVNULL, PIPE, STDOUT, Argv, How, argv_list, options
from gitlab_ha.proc.tree import kill_tree


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: killed after the timeout
    output: bytes
    written: int = -1  # bytes the child wrote in all, when only the last `keep` were kept (else -1)


class AsyncProcess:
    """A child of ours under asyncio (see `spawn`)."""

    def __init__(self, proc: asyncio.subprocess.Process, argv: list[str]) -> None:
        self.proc = proc
        self.argv = argv
        self.pid = proc.pid

    @classmethod
    async def spawn(cls, argv: Argv, **how: Unpack[How]) -> AsyncProcess:
        """Start `argv` in a new session (`how` as for `Process.spawn`); OSError if it cannot start."""
        args = argv_list(argv)
        with options(**how) as kwargs:
            # The child runs before asyncio has finished wiring its pipes: a cancellation landing in
            # between must not lose it. Let the creation finish, stop the child, then re-raise.
            creating = asyncio.ensure_future(asyncio.create_subprocess_exec(*args, **kwargs))
            try:
                proc = await asyncio.shield(creating)
            except asyncio.CancelledError:
                proc = await creating
                kill_tree(proc.pid)
                await proc.wait()
                raise
        return cls(proc, args)

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode

    async def wait(self, timeout: float | None = None) -> int:
        """Its exit code; TimeoutError after `timeout` seconds."""
        async with asyncio.timeout(timeout):  # not wait_for: on 3.11 it can swallow a cancellation
            return await self.proc.wait()

    def kill(self) -> None:
        """SIGKILL the tree and group now (asyncio reaps the leader; `wait()` for its code)."""
        kill_tree(self.pid)

    async def stop(self, grace: float, *, sig: int = signal.SIGTERM) -> int:
        """Send `sig`, wait up to `grace` seconds, then SIGKILL the tree and group; the exit code."""
        if self.proc.returncode is None and grace > 0:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await asyncio.shield(self.proc.wait())
        self.kill()
        return await self.proc.wait()


async def run(
    argv: Argv,
    *,
    timeout: float,
    stdin: bytes | None = None,
    capture: bool = True,
    env: Mapping[str, str] | None = None,
    keep: int | None = None,
) -> Outcome:
    """Run `argv` to its end with `stdin` fed in; after `timeout` seconds kill its tree. OSError if it cannot start.

    With `capture`, stdout and stderr come back together in `Outcome.output`; else they are inherited.
    With `keep` (no `stdin` then), only the last `keep` bytes are held (a circular buffer, as Consul
    keeps a check's output), however much the child writes, and `Outcome.written` says how much that was.
    """
    if keep is not None and stdin is not None:
        raise ValueError("keep is for a child without stdin")
    child = await AsyncProcess.spawn(
        argv,
        stdin=PIPE if stdin is not None else DEVNULL,
        stdout=PIPE if capture else None,
        stderr=STDOUT if capture else None,
        env=env,
    )
    written = -1
    try:
        # asyncio.timeout, not wait_for: on 3.11 wait_for returns the result of a child that ended just as
        # the caller was cancelled and drops the cancellation (an agent's stop could then wait on that watch)
        async with asyncio.timeout(timeout):
            if keep is not None and capture:
                assert child.proc.stdout is not None
                out, written = await read_tail(child.proc.stdout, keep)
                await child.proc.wait()
            else:
                out, _ = await child.proc.communicate(stdin)
    except TimeoutError:
        child.kill()
        await child.proc.wait()
        return Outcome(None, b"")
    except asyncio.CancelledError:
        child.kill()
        await child.proc.wait()  # SIGKILL is prompt; reaping here leaves no transport to a closed loop
        raise
    # Like Consul, a result counts once the script exited and every holder of its output closed it;
    # a child that let go of the output (`nohup x >/dev/null &`) is the script's business and stays.
    return Outcome(child.proc.returncode, out or b"", written)


class ByteStream(Protocol):
    """What `read_tail` reads: asyncio's and aiohttp's StreamReader alike."""

    async def read(self, n: int = -1) -> bytes: ...


async def read_tail(stream: ByteStream, keep: int) -> tuple[bytes, int]:
    """Read `stream` to its end holding only its last `keep` bytes (a circular buffer, as Consul keeps a
    check's output): (them, bytes read in all). Hand-written because asyncio's `communicate` and aiohttp's
    `read()` hold everything (a chatty script or a huge page would grow the agent without bound)."""
    kept = bytearray()
    written = 0
    while chunk := await stream.read(65536):
        written += len(chunk)
        kept += chunk
        del kept[: max(0, len(kept) - keep)]
    return bytes(kept), written
