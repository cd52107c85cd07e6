"""Patroni: members, role, state, timeline and lag, from the REST API's /cluster of any member, and
whether synchronous mode has the synchronous standby it needs (its /config)."""

from __future__ import annotations

from typing import Any

import requests
from patroni.utils import parse_bool

from gitlab_ha.probe.model import Component, Row, Verdict
from gitlab_ha.probe.target import Target
from gitlab_ha.topology.facts import PORTS

LAG_OK_MB = 1.0  # Omnibus' maximum_lag_on_failover: 1 MiB


SYNC_ROLES = ("sync_standby", "quorum_standby")  # what /cluster calls the standbys listed in /sync


def answer_of(addresses: list[str], path: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """A REST API endpoint's JSON object from the first member that answers (None when none does)."""
    for address in addresses:
        try:
            reply = requests.get(f"http://{address}:{PORTS['patroni_api']}{path}", timeout=timeout)
            answer = reply.json()
        except (requests.RequestException, ValueError):
            continue
        if isinstance(answer, dict):
            return answer
    return None


def cluster_of(addresses: list[str], timeout: float = 2.0) -> dict[str, Any] | None:
    """Patroni's /cluster from the first member that answers (None when none does)."""
    return answer_of(addresses, "/cluster", timeout)


def synchronous(config: dict[str, Any] | None) -> bool:
    """Whether the dynamic configuration (/config) turns synchronous replication on, read as Patroni
    reads `synchronous_mode` (its own boolean parser, or "quorum"). A /config that did not answer
    counts as off: the gate is then the asynchronous one, as before synchronous mode existed."""
    mode = (config or {}).get("synchronous_mode")
    return parse_bool(mode) is True or str(mode).lower() == "quorum"


def running_leader(cluster: dict[str, Any]) -> dict[str, Any] | None:
    """The member that leads and runs (None while there is none)."""
    for member in cluster.get("members", []):
        if member.get("role") == "leader" and member.get("state") == "running":
            return dict(member)
    return None


def parse(cluster: dict[str, Any], expected: list[str], sync: bool = False) -> tuple[Component, str | None]:
    """(the component, the leader's host or None). With `sync` (synchronous mode on), a cluster with
    replicas is healthy only once one of them streams as the synchronous standby: until the leader
    has written it to /sync, no replica may promote (Patroni cannot know it holds every commit), so a
    leader lost then is a cluster without a primary until it returns."""
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
    summary = f"leader {leader.get('name')} ({leader.get('host')}), {len(rows) - 1} replicas"
    standbys = [m for m in members.values() if m.get("role") in SYNC_ROLES and m.get("state") == "streaming"]
    no_standby = sync and len(expected) > 1 and not standbys
    if sync:
        summary += ", no synchronous standby yet" if no_standby else f", synchronous: {len(standbys)}"
    verdict = Verdict.OK if all(r.ok for r in rows) and not no_standby else Verdict.DEGRADED
    return Component("Patroni", verdict, summary, rows), str(leader.get("host"))


def collect(target: Target) -> tuple[Component, str | None]:
    nodes = target.running("patroni")
    addresses = [n.address for n in nodes]
    cluster = cluster_of(addresses)
    if cluster is not None:
        return parse(cluster, [n.name for n in nodes], synchronous(answer_of(addresses, "/config")))
    rows = [Row(n.name, "member", "unreachable", "", ok=False) for n in nodes]
    return Component("Patroni", Verdict.DOWN, "no Patroni REST API answers", rows), None
