"""Patroni: members, role, state, timeline and lag, from the REST API's /cluster of any member."""

from __future__ import annotations

from typing import Any

import requests

from gitlab_ha.probe.model import Component, Row, Verdict
from gitlab_ha.probe.target import Target
from gitlab_ha.topology.facts import PORTS

LAG_OK_MB = 1.0  # Omnibus' maximum_lag_on_failover: 1 MiB


def cluster_of(addresses: list[str], timeout: float = 2.0) -> dict[str, Any] | None:
    """Patroni's /cluster from the first member that answers (None when none does)."""
    for address in addresses:
        try:
            reply = requests.get(f"http://{address}:{PORTS['patroni_api']}/cluster", timeout=timeout)
            cluster = reply.json()
        except (requests.RequestException, ValueError):
            continue
        if isinstance(cluster, dict):
            return cluster
    return None


def running_leader(cluster: dict[str, Any]) -> dict[str, Any] | None:
    """The member that leads and runs (None while there is none)."""
    for member in cluster.get("members", []):
        if member.get("role") == "leader" and member.get("state") == "running":
            return dict(member)
    return None


def parse(cluster: dict[str, Any], expected: list[str]) -> tuple[Component, str | None]:
    """(the component, the leader's host or None)."""
    members = {str(m.get("name")): m for m in cluster.get("members", [])}
    rows: list[Row] = []
    leaders = [m for m in members.values() if m.get("role") in ("leader", "standby_leader")]
    for name in sorted(set(expected) | set(members)):
        m = members.get(name)
        if m is None:
            rows.append(Row(name, "member", "missing", "not in the cluster", ok=False))
            continue
        role, state = str(m.get("role")), str(m.get("state"))
        lag = m.get("lag")
        lag_mb = lag / 1048576 if isinstance(lag, int) else None
        detail = f"timeline {m.get('timeline', '?')}"
        if role == "leader":
            ok = state == "running"
        else:
            # a replica is healthy when it streams from the leader: "running" is also what a demoted
            # leader reports while it waits to rewind, and a drill begun then interrupted its pg_rewind
            # (its data directory was left unusable)
            ok = state == "streaming" and (lag_mb is None or lag_mb <= LAG_OK_MB)
            detail += f", lag {'?' if lag_mb is None else f'{lag_mb:.2f}'} MB"
        rows.append(Row(name, role, state, detail, ok))
    if len(leaders) != 1:
        verdict = Verdict.DOWN if not leaders else Verdict.DEGRADED
        return Component("Patroni", verdict, f"{len(leaders)} leaders", rows), None
    leader = leaders[0]
    verdict = Verdict.OK if all(r.ok for r in rows) else Verdict.DEGRADED
    summary = f"leader {leader.get('name')} ({leader.get('host')}), {len(rows) - 1} replicas"
    return Component("Patroni", verdict, summary, rows), str(leader.get("host"))


def collect(target: Target) -> tuple[Component, str | None]:
    nodes = target.running("patroni")
    cluster = cluster_of([n.address for n in nodes])
    if cluster is not None:
        return parse(cluster, [n.name for n in nodes])
    rows = [Row(n.name, "member", "unreachable", "", ok=False) for n in nodes]
    return Component("Patroni", Verdict.DOWN, "no Patroni REST API answers", rows), None
