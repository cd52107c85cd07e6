"""HA facts every package reads: the ports each service listens on (Omnibus' defaults), majorities,
replication slots and WAL senders. Render, lint, the reconfigure model, the lab, the probes and the
drills take them from here so that no two of them can disagree."""

from __future__ import annotations

from typing import Final

# Ports every component agrees on (Omnibus defaults).
PORTS: Final[dict[str, int]] = {
    "redis": 6379,
    "sentinel": 26379,
    "postgres": 5432,
    "pgbouncer": 6432,
    "patroni_api": 8008,
    "praefect": 2305,
    "gitaly": 8075,
    "rails_http": 80,
    "ssh": 22,
    "consul_http": 8500,
    "consul_dns": 8600,
    "consul_serf_lan": 8301,
    "consul_rpc": 8300,
    "haproxy_stats": 8404,
    "node_exporter": 9100,
    "redis_exporter": 9121,
    "postgres_exporter": 9187,
    "pgbouncer_exporter": 9188,
    "praefect_metrics": 9652,
    "gitaly_metrics": 9236,
    "workhorse_metrics": 9229,
    "nginx_status": 8060,
    "puma": 8080,
    "prometheus": 9090,
}


def majority(count: int) -> int:
    """The smallest number of members that agree: 2 of 3, 3 of 5."""
    return count // 2 + 1


def replication_slots(database_nodes: int) -> int:
    """`max_replication_slots` = 2 × database nodes (GitLab's rule)."""
    return 2 * database_nodes


def wal_senders(slots: int) -> int:
    """`max_wal_senders` = replication slots + 1."""
    return slots + 1
