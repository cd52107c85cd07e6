"""Fixtures: real `gitlab-ha consul agent` processes on free loopback ports, stopped by pid at teardown."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import cli

STARTUP_DEADLINE = 30.0


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything here talks to loopback: a proxy from the environment must not get in between."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")


def wait_until(predicate: Callable[[], Any], what: str, deadline: float = 30.0, step: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy; fail naming `what` after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(step)


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class RunningAgent:
    proc: subprocess.Popen[bytes]
    host: str
    http_port: int
    dns_port: int
    node: str
    log: Path
    args: list[str] = field(default_factory=list)
    words: dict[str, str] = field(default_factory=dict)  # the key=value words of the start-up line

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "CONSUL_HTTP_ADDR": f"{self.host}:{self.http_port}"}

    def http(self, method: str, path: str, body: bytes | str | None = None) -> tuple[int, Any, dict[str, str]]:
        data = body.encode() if isinstance(body, str) else body
        req = urllib.request.Request(self.url + path, data=data, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                headers = dict(resp.headers)
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            headers = dict(exc.headers)
            status = exc.code
        ctype = headers.get("Content-Type", "")
        return status, (json.loads(raw) if "json" in ctype else raw.decode()), headers

    def get(self, path: str) -> Any:
        status, body, _ = self.http("GET", path)
        assert status == 200, (path, status, body)
        return body

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def start_agent(workdir: Path, *args: str, node: str = "node1", host: str = "127.0.0.1") -> RunningAgent:
    log = workdir / f"agent-{node}-{time.monotonic_ns()}.log"
    argv = [
        sys.executable, "-m", "gitlab_ha", "consul", "agent", "-node", node, "-client", host, "-bind", host,
        "-http-port", "0", "-dns-port", "0", *args,
    ]  # fmt: skip
    with open(log, "wb") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    end = time.monotonic() + STARTUP_DEADLINE
    line = b""
    try:
        while not line.endswith(b"\n"):
            if time.monotonic() > end or proc.poll() is not None:
                raise RuntimeError(f"agent did not start: {log.read_text()[-2000:]}")
            if sel.select(timeout=0.2):
                chunk = os.read(proc.stdout.fileno(), 1)
                if not chunk:
                    continue
                line += chunk
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        sel.close()
    words = dict(w.split("=", 1) for w in line.decode().split() if "=" in w)
    http_port = int(words["http"].rsplit(":", 1)[1])
    dns_port = int(words["dns"].rsplit(":", 1)[1])
    return RunningAgent(proc, host, http_port, dns_port, words["node"], log, list(args), words)


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., RunningAgent]]:
    """Start agents with `agents(*args, node=...)`; every one is stopped by its pid at teardown."""
    started: list[RunningAgent] = []

    def start(*args: str, node: str = "node1", host: str = "127.0.0.1") -> RunningAgent:
        agent = start_agent(tmp_path, *args, node=node, host=host)
        started.append(agent)
        return agent

    try:
        yield start
    finally:
        for agent in started:
            agent.stop()


@pytest.fixture
def agent(agents: Callable[..., RunningAgent]) -> RunningAgent:
    return agents("-dev")


run_cli = cli  # the project's one CLI runner (tests/helpers.py)


def dig(agent: RunningAgent, *query: str) -> list[str]:
    """Answer lines of real `dig` against the agent, `+short` style fields split."""
    out = subprocess.run(
        ["dig", f"@{agent.host}", "-p", str(agent.dns_port), "+time=5", "+tries=1", "+noall", "+answer", *query],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [line for line in out.stdout.splitlines() if line and not line.startswith(";")]


@dataclass
class WebServer:
    proc: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[WebServer]:
    """A small real HTTP server (python -m http.server) on a free loopback port."""
    port = free_port()
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("ok\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = WebServer(proc, port)
    try:

        def up() -> bool:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return True
            except OSError:
                return False

        wait_until(up, "the web server to listen")
        yield server
    finally:
        server.stop()
