"""`Process`: a child started in its own session, waited for, and stopped with a grace period.

    server = Process.spawn(["redis-server", conf], cwd=workdir, stdout=workdir / "redis.log")
    wait_tcp("127.0.0.1", 6379, deadline=10, process=server)
    ...
    server.stop(grace=10)   # SIGTERM, then after 10 s SIGKILL to the tree and its group; reaped

`stop()` never signals a pid we did not start: until it reaps the leader, the leader's pid (which is
also its process group id) cannot be taken by another process, so the group kill cannot miss.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Unpack

from gitlab_ha.proc.launch import PIPE, Argv, How, argv_list, options
from gitlab_ha.proc.tree import kill_tree, reap

DEFAULT_GRACE = 10.0


class Process:
    """A running child of ours (see `spawn`)."""

    def __init__(self, popen: subprocess.Popen[bytes], argv: list[str]) -> None:
        self._popen = popen
        self.argv = argv
        self.pid = popen.pid
        self._pidfd = os.pidfd_open(popen.pid)

    @classmethod
    def spawn(cls, argv: Argv, **how: Unpack[How]) -> Process:
        """Start `argv` in a new session (`how`: cwd, env, stdin, stdout, stderr, user; see `launch`).

        OSError if it cannot start.
        """
        args = argv_list(argv)
        with options(**how) as kwargs:
            popen = subprocess.Popen(args, **kwargs)
        return cls(popen, args)

    def __repr__(self) -> str:
        return f"{Path(self.argv[0]).name} (pid {self.pid})"

    @property
    def stdin(self) -> IO[bytes] | None:
        return self._popen.stdin

    @property
    def stdout(self) -> IO[bytes] | None:
        return self._popen.stdout

    @property
    def stderr(self) -> IO[bytes] | None:
        return self._popen.stderr

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited (negative: killed by that signal), else None. Does not reap."""
        if self._popen.returncode is not None:
            return self._popen.returncode
        info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    @property
    def running(self) -> bool:
        return self.returncode is None

    def _exited_within(self, timeout: float | None) -> bool:
        """Wait up to `timeout` seconds for the exit without reaping (the pid stays ours)."""
        if self._popen.returncode is not None:
            return True
        readable, _, _ = select.select([self._pidfd], [], [], timeout)
        return bool(readable)

    def wait(self, timeout: float | None = None) -> int:
        """Its exit code, once it exits; TimeoutError after `timeout` seconds. Reaps it."""
        if not self._exited_within(timeout):
            raise TimeoutError(f"{self} still running after {timeout:g}s")
        code = self._popen.wait()
        self._close_pidfd()
        return code

    def send_signal(self, sig: int) -> None:
        """Signal the leader only (a no-op once it has exited)."""
        if self.running:
            os.kill(self.pid, sig)

    def stop(self, grace: float = DEFAULT_GRACE, *, sig: int = signal.SIGTERM) -> int:
        """Send `sig`, wait up to `grace` seconds, then SIGKILL the whole tree and group; reap; the exit code.

        Whatever the leader leaves behind in its group is killed even when it exits in time.
        """
        if self._popen.returncode is None:
            if self.running and grace > 0:
                os.kill(self.pid, sig)
                self._exited_within(grace)
            leftovers = kill_tree(self.pid)
            self._popen.wait()
            reap(leftovers)
        self._close()
        code = self._popen.returncode
        assert code is not None
        return code

    def kill(self) -> int:
        """SIGKILL the whole tree and group now, reap; the exit code."""
        return self.stop(grace=0)

    def _close(self) -> None:
        for stream in (self._popen.stdin, self._popen.stdout, self._popen.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._close_pidfd()

    def _close_pidfd(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1

    def __del__(self) -> None:
        self._close_pidfd()

    def __enter__(self) -> Process:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class Completed:
    """A command run to its end: its exit code and what it wrote."""

    returncode: int
    stdout: str
    stderr: str


def call(argv: Argv, *, input: str | None = None, timeout: float = 60.0, **how: Unpack[How]) -> Completed:
    """Run `argv` to its end in a new session, feeding `input`, capturing its output (as text).

    After `timeout` seconds the whole tree is stopped and TimeoutError raised. OSError if it cannot start.
    """
    how["stdin"] = how["stdout"] = how["stderr"] = PIPE
    process = Process.spawn(argv, **how)
    try:
        out, err = process._popen.communicate(input.encode() if input is not None else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.stop(grace=1)
        raise TimeoutError(f"{process} did not finish within {timeout:g}s") from None
    code = process.wait()
    return Completed(code, out.decode(errors="replace"), err.decode(errors="replace"))
