"""Consul: members (alive, failed, left) and the Raft leader, read from the first agent that answers."""

from __future__ import annotations

from typing import Any

from gitlab_ha.discovery.client import ConsulClient, UnexpectedResponse
from gitlab_ha.probe.model import Component, Row, Verdict
from gitlab_ha.probe.target import Target
from gitlab_ha.topology.facts import PORTS

STATUS = {1: "alive", 2: "leaving", 3: "left", 4: "failed"}


def parse(members: list[dict[str, Any]], leader: str, expected: dict[str, str]) -> Component:
    """`expected`: node name → address of every node that should run an agent."""
    rows: list[Row] = []
    seen: dict[str, dict[str, Any]] = {str(m.get("Name")): m for m in members}
    for name, address in sorted(expected.items()):
        member = seen.get(name)
        if member is None:
            rows.append(Row(name, "agent", "missing", f"{address}: not a member", ok=False))
            continue
        status = STATUS.get(int(member.get("Status", 0)), str(member.get("Status")))
        kind = "server" if member.get("Tags", {}).get("role") == "consul" else "client"
        rows.append(
            Row(name, f"agent ({kind})", status, f"{member.get('Addr')}:{member.get('Port')}", status == "alive")
        )
    if not leader:
        return Component("Consul", Verdict.DOWN, "no Raft leader", rows)
    alive = sum(r.ok for r in rows)
    verdict = Verdict.OK if alive == len(rows) else Verdict.DEGRADED
    return Component("Consul", verdict, f"leader {leader}; {alive}/{len(rows)} agents alive", rows)


def collect(target: Target) -> Component:
    agents = target.running("consul")
    expected = {n.name: n.address for n in agents}
    errors = []
    for node in agents:
        try:
            with ConsulClient(f"http://{node.address}:{PORTS['consul_http']}", timeout=2) as client:
                members = client.ok("GET", "/v1/agent/members", "members")
                leader = client.ok("GET", "/v1/status/leader", "leader")
            return parse(members, str(leader or ""), expected)
        except (OSError, UnexpectedResponse, ValueError) as err:
            errors.append(f"{node.name}: {err}")
    rows = [Row(n.name, "agent", "unreachable", "", ok=False) for n in agents]
    return Component("Consul", Verdict.DOWN, "no agent answers" + (f" ({errors[0]})" if errors else ""), rows)
