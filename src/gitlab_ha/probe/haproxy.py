"""HAProxy: backend and server states from the stats socket (lab) or the stats page (a host)."""

from __future__ import annotations

import csv
import io
import socket

import requests

from gitlab_ha.probe.model import Component, Row, Verdict
from gitlab_ha.probe.target import Target
from gitlab_ha.topology.facts import PORTS

# Backends the lab runs something behind; Praefect and Rails need GitLab itself.
LAB_BACKENDS = ("pgbouncer", "postgresql-leader")


def parse(text: str) -> dict[str, dict[str, str]]:
    """`show stat` CSV → backend → server → status (UP, DOWN, MAINT …)."""
    out: dict[str, dict[str, str]] = {}
    reader = csv.DictReader(io.StringIO(text.lstrip("# ")))
    for row in reader:
        name, server = row.get("pxname", ""), row.get("svname", "")
        if server in ("FRONTEND", "BACKEND") or not name:
            continue
        out.setdefault(name, {})[server] = row.get("status", "")
    return out


def _show_stat(path: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        sock.connect(path)
        sock.sendall(b"show stat\n")
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def judge(node: str, backends: dict[str, dict[str, str]], lab: bool) -> list[Row]:
    rows = []
    for backend, servers in sorted(backends.items()):
        up = [s for s, status in servers.items() if status.startswith("UP")]
        if lab and backend not in LAB_BACKENDS:
            rows.append(Row(node, f"backend {backend}", "not runnable here", "needs GitLab Omnibus"))
            continue
        ok = len(up) == 1 if backend == "postgresql-leader" else bool(up)
        rows.append(Row(node, f"backend {backend}", f"{len(up)}/{len(servers)} up", ", ".join(up) or "none", ok))
    return rows


def collect(target: Target) -> Component:
    rows: list[Row] = []
    for node in target.nodes:
        if not node.runs("haproxy"):
            continue
        try:
            path = target.haproxy_sockets.get(node.name)
            if path is not None:
                text = _show_stat(path)
            else:
                text = requests.get(f"http://{node.address}:{PORTS['haproxy_stats']}/;csv", timeout=2).text
            rows += judge(node.name, parse(text), target.lab)
        except (OSError, requests.RequestException) as err:
            rows.append(Row(node.name, "haproxy", "unreachable", str(err)[:120], ok=False))
    if not rows:
        return Component("HAProxy", Verdict.NOT_RUNNABLE, "no internal load balancer", rows)
    verdict = Verdict.OK if all(r.ok for r in rows) else Verdict.DEGRADED
    return Component("HAProxy", verdict, f"{sum(r.ok for r in rows)}/{len(rows)} backends healthy", rows)
