"""Which ports each lab node will listen on, and who already holds one (so `lab up` can say it)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import psutil

from gitlab_ha.lab.plan import LabPlan
from gitlab_ha.topology.facts import PORTS

CONSUL_PORTS = (PORTS["consul_rpc"], PORTS["consul_serf_lan"], PORTS["consul_http"], PORTS["consul_dns"])


@dataclass(frozen=True)
class Busy:
    address: str
    port: int
    holder: str

    def __str__(self) -> str:
        return f"{self.address}:{self.port} is held by {self.holder}"


def wanted(plan: LabPlan) -> list[tuple[str, int, str]]:
    """(address, port, program) for every listener the lab will open."""
    out: list[tuple[str, int, str]] = []
    for node in plan.nodes:
        model = node.model
        for service in node.runs:
            ports: set[int] = set()
            if service == "consul":
                ports = set(CONSUL_PORTS)
            elif service == "haproxy":
                ports = {
                    PORTS["pgbouncer"],
                    PORTS["postgres"],
                    PORTS["praefect"],
                    PORTS["rails_http"],
                    PORTS["haproxy_stats"],
                }
            elif model is not None:
                ports = model.ports("postgresql" if service == "patroni" else service)
                if service == "patroni":
                    ports |= model.ports("patroni")
            out += [(node.address, port, f"{service}@{node.name}") for port in sorted(ports)]
    return out


def _holder(pid: int | None) -> str:
    if pid is None:
        return "another process (not visible to us)"
    try:
        if "/gitlab-ha/" in Path(f"/proc/{pid}/cgroup").read_text():
            # a program of another lab: it runs in the lab's directory or below (Redis moves to its dir)
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
            lab = next((d for d in (cwd, *cwd.parents) if (d / "lab.json").exists()), cwd)
            return f"the gitlab-ha lab in {lab} (gitlab-ha lab down --dir {lab})"
    except OSError:
        pass
    try:
        process = psutil.Process(pid)
        return f"{process.name()} (pid {pid}, {' '.join(process.cmdline())[:80]})"
    except psutil.Error:
        return f"pid {pid}"


def busy(plan: LabPlan, ours: frozenset[int] = frozenset()) -> list[Busy]:
    """Listeners on a port the lab needs, at that node's address or on every address, not ours."""
    listening: dict[tuple[str, int], int | None] = {}
    for conn in psutil.net_connections(kind="inet"):
        bound = conn.status == psutil.CONN_LISTEN or (conn.type == socket.SOCK_DGRAM and not conn.raddr)
        if bound and conn.laddr and conn.pid not in ours:
            listening[(conn.laddr.ip, conn.laddr.port)] = conn.pid
    found: list[Busy] = []
    for address, port, _program in wanted(plan):
        for host in (address, "0.0.0.0", "::"):
            if (host, port) in listening:
                found.append(Busy(address, port, _holder(listening[(host, port)])))
                break
    return found


def busy_message(held: list[Busy]) -> str:
    """One line: how many of the lab's ports are taken, the first few, and by whom."""
    holders: dict[str, list[str]] = {}
    for item in held:
        holders.setdefault(item.holder, []).append(f"{item.address}:{item.port}")
    parts = []
    for holder, ports in sorted(holders.items(), key=lambda kv: -len(kv[1]))[:3]:
        shown = ", ".join(ports[:3]) + (f" and {len(ports) - 3} more" if len(ports) > 3 else "")
        parts.append(f"{shown} held by {holder}")
    more = len(holders) - 3
    return (
        f"{len(held)} of the lab's ports are taken: "
        + "; ".join(parts)
        + (f"; and {more} other holders" if more > 0 else "")
    )
