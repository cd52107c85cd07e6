"""Fixtures: real `gitlab-ha consul agent` processes on free loopback ports, stopped by pid at teardown."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitlab_ha.discovery.client import ConsulClient
from gitlab_ha.proc import DEVNULL, ExitedEarly, NotReady, Process, wait_for, wait_log, wait_tcp
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
    try:
        return wait_for(predicate, what, deadline, step=step)
    except NotReady as exc:
        pytest.fail(str(exc))


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
    proc: Process
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

    @functools.cached_property
    def client(self) -> ConsulClient:
        """The project's one Consul client, on this agent."""
        return ConsulClient(self.url)

    def http(self, method: str, path: str, body: bytes | str | None = None) -> tuple[int, Any, Mapping[str, str]]:
        """A raw request (the path may carry its query): status, body (JSON decoded or text), headers."""
        reply = self.client.call(method, path, body=body)
        return reply.status, reply.data, reply.headers

    def get(self, path: str) -> Any:
        status, body, _ = self.http("GET", path)
        assert status == 200, (path, status, body)
        return body

    def stop(self) -> None:
        self.proc.stop(grace=15)
        if "client" in self.__dict__:
            self.client.close()


READY_LINE = r"==> gitlab-ha consul agent running: (?P<words>.*)"


def start_agent(
    workdir: Path, *args: str, node: str = "node1", host: str = "127.0.0.1", prefix: tuple[str, ...] = ()
) -> RunningAgent:
    """`prefix` runs the agent under another command (`prlimit --nofile=…`)."""
    stem = workdir / f"agent-{node}-{time.monotonic_ns()}"
    log, out = stem.with_suffix(".log"), stem.with_suffix(".out")
    argv = [
        *prefix, sys.executable, "-m", "gitlab_ha", "consul", "agent", "-node", node, "-client", host, "-bind", host,
        "-http-port", "0", "-dns-port", "0", "-serf-lan-port", "0", "-server-port", "0", *args,
    ]  # fmt: skip
    proc = Process.spawn(argv, stdout=out, stderr=log)
    try:
        line = wait_log(out, READY_LINE, STARTUP_DEADLINE, process=proc)
    except (NotReady, ExitedEarly) as exc:
        proc.kill()
        raise RuntimeError(f"agent did not start ({exc}): {log.read_text()[-2000:]}") from None
    words = dict(w.split("=", 1) for w in line["words"].split() if "=" in w)
    http_port = int(words["http"].rsplit(":", 1)[1])
    dns_port = int(words["dns"].rsplit(":", 1)[1])
    return RunningAgent(proc, host, http_port, dns_port, words["node"], log, list(args), words)


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Callable[..., RunningAgent]]:
    """Start agents with `agents(*args, node=...)`; every one is stopped by its pid at teardown."""
    started: list[RunningAgent] = []

    def start(*args: str, node: str = "node1", host: str = "127.0.0.1", prefix: tuple[str, ...] = ()) -> RunningAgent:
        agent = start_agent(tmp_path, *args, node=node, host=host, prefix=prefix)
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
    proc: Process
    port: int

    def stop(self) -> None:
        self.proc.stop(grace=10)


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[WebServer]:
    """A small real HTTP server (python -m http.server) on a free loopback port."""
    port = free_port()
    root = tmp_path / "www"
    root.mkdir()
    (root / "index.html").write_text("ok\n")
    proc = Process.spawn(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=DEVNULL,
        stderr=DEVNULL,
    )
    server = WebServer(proc, port)
    try:
        wait_tcp("127.0.0.1", port, process=proc)
        yield server
    finally:
        server.stop()
