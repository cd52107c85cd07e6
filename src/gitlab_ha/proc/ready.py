"""Readiness probes: poll until a service answers, with a deadline, and say clearly why not.

Each probe returns once ready and raises `NotReady` (a TimeoutError) naming what it waited for and the
last error seen, or `ExitedEarly` as soon as the `process` it was given has exited: a server that
died at start-up is reported at once, not after the whole deadline.

    redis = Process.spawn([...], stdout=log)
    wait_tcp("127.0.0.1", 6379, deadline=10, process=redis)
    wait_http("http://127.0.0.1:8008/health", deadline=30, process=patroni)
    line = wait_log(log, r"Ready to accept connections", deadline=10, process=redis)
"""

from __future__ import annotations

import http.client
import re
import socket
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, TypeVar

T = TypeVar("T")
STEP = 0.05
DEFAULT_DEADLINE = 30.0


class Watched(Protocol):
    """What a probe needs of the process it watches (`Process` is one)."""

    @property
    def returncode(self) -> int | None: ...


class NotReady(TimeoutError):
    """The deadline passed before the service was ready."""


class ExitedEarly(RuntimeError):
    """The process exited before the service was ready."""


def wait_for(
    probe: Callable[[], T | None],
    what: str,
    deadline: float = DEFAULT_DEADLINE,
    *,
    process: Watched | None = None,
    step: float = STEP,
) -> T:
    """Call `probe` every `step` seconds until it returns something truthy, and return that.

    An OSError from `probe` means "not yet" and is quoted in the `NotReady` raised after `deadline` seconds.
    """
    end = time.monotonic() + deadline
    last = ""
    while True:
        try:
            value = probe()
        except OSError as exc:
            value, last = None, str(exc) or type(exc).__name__
        if value:
            return value
        if process is not None and process.returncode is not None:
            raise ExitedEarly(f"{process} exited with code {process.returncode} before {what}")
        if time.monotonic() >= end:
            raise NotReady(f"timed out after {deadline:g}s waiting for {what}" + (f" (last: {last})" if last else ""))
        time.sleep(step)


def wait_tcp(host: str, port: int, deadline: float = DEFAULT_DEADLINE, *, process: Watched | None = None) -> None:
    """Until a TCP connection to host:port succeeds."""

    def probe() -> bool:
        with socket.create_connection((host, port), timeout=1.0):
            return True

    wait_for(probe, f"TCP {host}:{port} to accept connections", deadline, process=process)


def wait_http(url: str, deadline: float = DEFAULT_DEADLINE, *, process: Watched | None = None) -> int:
    """Until a GET of `url` (http only) answers 2xx; returns that status. Proxies are never used."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"wait_http takes an http:// URL, got {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query

    def probe() -> int | None:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=2.0)
        try:
            conn.request("GET", target)
            status = conn.getresponse().status
        finally:
            conn.close()
        if 200 <= status < 300:
            return status
        raise OSError(f"HTTP {status}")

    return wait_for(probe, f"GET {url} to answer 2xx", deadline, process=process)


def wait_log(
    path: Path, pattern: str | re.Pattern[str], deadline: float = DEFAULT_DEADLINE, *, process: Watched | None = None
) -> re.Match[str]:
    """Until a line of the file at `path` matches `pattern` (searched, as `re.search`); returns the match.

    The file may not exist yet; only complete lines (ending in a newline) are matched.
    """
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    offset = 0
    partial = b""

    def probe() -> re.Match[str] | None:
        nonlocal offset, partial
        try:
            with path.open("rb") as file:
                file.seek(offset)
                chunk = file.read()
        except FileNotFoundError:
            return None
        offset += len(chunk)
        *lines, partial = (partial + chunk).split(b"\n")
        for line in lines:
            found = regex.search(line.decode(errors="replace"))
            if found:
                return found
        return None

    return wait_for(probe, f"a line matching {regex.pattern!r} in {path}", deadline, process=process)
