"""Readiness probes against real listeners and files: ready, not ready by the deadline, exited first."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from gitlab_ha.proc import DEVNULL, ExitedEarly, NotReady, Process, wait_for, wait_http, wait_log, wait_tcp
from tests.discovery.conftest import free_port


def test_wait_tcp_open_and_refused() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        wait_tcp("127.0.0.1", listener.getsockname()[1], deadline=5)
    port = free_port()
    with pytest.raises(NotReady, match=rf"TCP 127.0.0.1:{port}.*last: .*refused"):
        wait_tcp("127.0.0.1", port, deadline=0.2)


def test_wait_http_waits_for_a_2xx(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "index.html").write_text("ok\n")
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    with Process.spawn(argv, stdout=DEVNULL, stderr=DEVNULL) as server:
        assert wait_http(f"http://127.0.0.1:{port}/", deadline=30, process=server) == 200
        with pytest.raises(NotReady, match="last: HTTP 404"):
            wait_http(f"http://127.0.0.1:{port}/missing", deadline=0.2, process=server)


def test_wait_log_matches_a_complete_line(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    script = f"printf 'starting\\n' >> {log}; sleep 0.2; printf 'listening on port 6379\\nmore' >> {log}; sleep 30"
    with Process.spawn(["/bin/sh", "-c", script]) as proc:
        found = wait_log(log, r"listening on port (\d+)", deadline=30, process=proc)
        assert found[1] == "6379"
        with pytest.raises(NotReady, match="more"):
            wait_log(log, "more", deadline=0.3, process=proc)  # no newline yet: not a line


def test_a_process_that_exits_is_reported_at_once(tmp_path: Path) -> None:
    proc = Process.spawn(["/bin/sh", "-c", "exit 3"])
    with pytest.raises(ExitedEarly, match="exited with code 3 before a line matching"):
        wait_log(tmp_path / "never.log", "ready", deadline=60, process=proc)
    assert proc.stop() == 3


def test_wait_for_returns_the_value() -> None:
    calls = iter([None, 0, "", "ready"])
    assert wait_for(lambda: next(calls), "the value", deadline=5, step=0.01) == "ready"
