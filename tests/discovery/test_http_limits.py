"""The HTTP API under connection floods: a header/idle timeout, a cap below the descriptor limit that
closes idle connections to make room, and no log flood when descriptors run out."""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.discovery.conftest import RunningAgent

LIMIT = 1024
FLOOD = 1100


@contextlib.contextmanager
def descriptors(count: int) -> Iterator[None]:
    """Let this test process open `count` sockets of its own (the soft limit, within the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < count:
        if hard != resource.RLIM_INFINITY and hard < count:
            pytest.fail(f"the hard descriptor limit {hard} is below the {count} this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_idle_flood_under_a_descriptor_limit_leaves_the_api_up(agents: Callable[..., RunningAgent]) -> None:
    agent = agents("-dev", prefix=("prlimit", f"--nofile={LIMIT}:{LIMIT}", "--"))
    held: list[socket.socket] = []
    with descriptors(FLOOD + 200):
        try:
            for _ in range(FLOOD):
                held.append(socket.create_connection((agent.host, agent.http_port), timeout=10))
            # every one of them is idle: the agent closes the oldest to make room, and a real client gets in
            started = time.monotonic()
            status, body, _ = agent.http("GET", "/v1/agent/self")
            assert status == 200 and body["Config"]["NodeName"] == agent.node
            assert time.monotonic() - started < 5
            assert open_fds(agent.proc.pid) < LIMIT
        finally:
            for sock in held:
                sock.close()
    log = Path(agent.log).read_text()
    assert "Traceback" not in log and "out of system resource" not in log, log[-3000:]
    assert len([line for line in log.splitlines() if "closing the longest idle" in line]) <= 3, log[-3000:]


def test_a_connection_that_never_finishes_its_headers_is_closed(agent: RunningAgent) -> None:
    with socket.create_connection((agent.host, agent.http_port), timeout=60) as slow:
        slow.sendall(b"GET /v1/agent/self HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        started = time.monotonic()
        assert slow.recv(4096) == b""  # blocks until the agent closes it
        assert 5 <= time.monotonic() - started < 30
    status, _, _ = agent.http("GET", "/v1/agent/self")
    assert status == 200
