"""A real discovery cluster on loopback: servers and clients, each on its own 127.x.y.z address with the
real ports (8300 RPC, 8301 gossip, 8500 HTTP, 8600 DNS), started from Omnibus-shaped config.json files
with the arguments Omnibus' run script passes (`-config-file X -config-dir D -data-dir DD`).

Used by the cluster tests and by bench/discovery_cluster.py. Every agent is a `gitlab_ha.proc.Process`,
stopped (or SIGKILLed) by its own pid.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitlab_ha.discovery.client import ConsulClient
from gitlab_ha.proc import NotReady, Process, wait_for, wait_log

READY = r"==> gitlab-ha consul agent running: (?P<words>.*)"
PORTS = (8300, 8301, 8500, 8600)
DATACENTER = "gitlab_consul"


def free_subnet() -> str:
    """A `127.a.b` prefix whose .1-.9 addresses have the well-known ports free (other suites run beside us)."""
    for _ in range(50):
        prefix = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
        if all(_free(f"{prefix}.{i}", port) for i in range(1, 10) for port in PORTS):
            return prefix
    raise RuntimeError("no free 127.x.y.0/24 with ports 8300-8600 free")


def _free(host: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def keygen() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@dataclass
class Node:
    name: str
    address: str
    server: bool
    root: Path
    config: dict[str, Any]
    definitions: dict[str, Any] = field(default_factory=dict)  # config.d files: name -> document
    proc: Process | None = None
    words: dict[str, str] = field(default_factory=dict)
    _client: ConsulClient | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:8500"

    @property
    def client(self) -> ConsulClient:
        if self._client is None:
            self._client = ConsulClient(self.url, timeout=15)
        return self._client

    @property
    def log(self) -> Path:
        return self.root / "agent.log"

    def http(self, method: str, path: str, body: bytes | str | None = None) -> tuple[int, Any, Any]:
        reply = self.client.call(method, path, body=body)
        return reply.status, reply.data, reply.headers

    def get(self, path: str) -> Any:
        status, body, _ = self.http("GET", path)
        assert status == 200, (self.name, path, status, body)
        return body

    def write_files(self) -> None:
        (self.root / "config.d").mkdir(parents=True, exist_ok=True)
        (self.root / "config.json").write_text(json.dumps(self.config, indent=2))
        for name, doc in self.definitions.items():
            (self.root / "config.d" / name).write_text(json.dumps(doc, indent=2))

    def start(self, *, wait: bool = True) -> None:
        assert self.proc is None or not self.proc.running, f"{self.name} is running"
        self.write_files()
        argv = [
            sys.executable, "-m", "gitlab_ha", "consul", "agent",
            "-config-file", str(self.root / "config.json"), "-config-dir", str(self.root / "config.d"),
            "-data-dir", str(self.root / "data"),
        ]  # fmt: skip
        out = self.root / "agent.out"
        out.write_text("")
        self.proc = Process.spawn(argv, stdout=out, stderr=self.log)
        if wait:
            self.wait_ready()

    def wait_ready(self, deadline: float = 30.0) -> None:
        assert self.proc is not None
        try:
            line = wait_log(self.root / "agent.out", READY, deadline, process=self.proc)
        except Exception as exc:
            raise RuntimeError(f"{self.name} did not start ({exc}): {self.log.read_text()[-3000:]}") from None
        self.words = dict(w.split("=", 1) for w in line["words"].split() if "=" in w)

    def kill(self) -> None:
        """SIGKILL, as a crash or power cut of the node's agent."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close_client()

    def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.stop(grace=10)
        elif self.proc is not None:
            self.proc.stop(grace=0)
        self._close_client()

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@dataclass
class Cluster:
    prefix: str
    key: str
    nodes: list[Node]

    @property
    def servers(self) -> list[Node]:
        return [n for n in self.nodes if n.server]

    @property
    def clients(self) -> list[Node]:
        return [n for n in self.nodes if not n.server]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def running(self) -> list[Node]:
        return [n for n in self.nodes if n.proc is not None and n.proc.returncode is None]

    def start(self) -> None:
        for node in self.nodes:
            node.start(wait=False)
        for node in self.nodes:
            node.wait_ready()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def leader(self, deadline: float = 30.0, among: list[Node] | None = None) -> Node:
        """The server that the running servers agree is the leader."""

        candidates = among or [s for s in self.servers if s in self.running()]

        def probe() -> Node | None:
            seen = set()
            for node in candidates:
                status, leader, _ = node.http("GET", "/v1/status/leader")
                if status != 200 or not leader:
                    return None
                seen.add(leader)
            if len(seen) != 1:
                return None
            address = seen.pop().rsplit(":", 1)[0]
            return next((s for s in candidates if s.address == address), None)  # a dead leader is no answer

        return wait_for(probe, "the servers to agree on a leader", deadline, step=0.05)

    def members_alive(self, node: Node) -> set[str]:
        return {m["Name"] for m in node.get("/v1/agent/members") if m["Status"] == 1}


def omnibus_config(name: str, address: str, *, server: bool, join: list[str], key: str, expect: int) -> dict[str, Any]:
    """config.json as Omnibus' ConsulHelper writes it (gitlab.rb: consul['configuration'] with retry_join,
    server, bootstrap_expect; consul['encryption_key'] and the verify switches), for the lab's addresses."""
    config: dict[str, Any] = {
        "client_addr": address,
        "datacenter": DATACENTER,
        "disable_update_check": True,
        "enable_script_checks": False,
        "enable_local_script_checks": True,
        "node_name": name,
        "rejoin_after_leave": True,
        "server": server,
        "encrypt": key,
        "encrypt_verify_incoming": True,
        "encrypt_verify_outgoing": True,
        "ports": {},
        "retry_join": join,
        "bind_addr": address,
    }
    if server:
        config["bootstrap_expect"] = expect
    return config


def make_cluster(root: Path, *, servers: int = 3, clients: int = 2, key: str | None = None) -> Cluster:
    prefix = free_subnet()
    key = key or keygen()
    addresses = [f"{prefix}.{i + 1}" for i in range(servers + clients)]
    join = addresses[:servers]
    tag = prefix.replace(".", "-")
    nodes = []
    for i, address in enumerate(addresses):
        server = i < servers
        name = f"{'srv' if server else 'cli'}{i + 1 if server else i - servers + 1}-{tag}"
        config = omnibus_config(name, address, server=server, join=join, key=key, expect=servers)
        nodes.append(Node(name, address, server, root / name, config))
    return Cluster(prefix, key, nodes)


def wait_until(predicate: Callable[[], Any], what: str, deadline: float = 30.0, step: float = 0.05) -> Any:
    return wait_for(predicate, what, deadline, step=step)


def timed(predicate: Callable[[], Any], what: str, deadline: float = 30.0, step: float = 0.01) -> float:
    """Seconds until `predicate` holds."""
    start = time.monotonic()
    wait_for(predicate, what, deadline, step=step)
    return time.monotonic() - start


def capture_udp(port: int, addresses: set[str], seconds: float) -> Iterator[bytes]:
    """The payloads of UDP packets to or from `port` on `addresses`, read off the loopback interface
    with a raw socket for `seconds` (root only): what a packet capture of gossip sees."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    sock.bind(("lo", 0))
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            try:
                frame = sock.recv(70000)
            except TimeoutError:
                continue
            ip = frame[14:]
            if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
                continue
            ihl = (ip[0] & 0x0F) * 4
            src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
            sport, dport = int.from_bytes(ip[ihl : ihl + 2], "big"), int.from_bytes(ip[ihl + 2 : ihl + 4], "big")
            if port in (sport, dport) and (src in addresses or dst in addresses):
                yield ip[ihl + 8 :]
    finally:
        sock.close()


__all__ = ["Cluster", "Node", "NotReady", "capture_udp", "keygen", "make_cluster", "timed", "wait_until"]
