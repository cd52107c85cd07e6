"""HA facts every package reads: the ports each service listens on (Omnibus' defaults), majorities,
replication slots and WAL senders. Render, lint, the reconfigure model, the lab, the probes and the
drills take them from here so that no two of them can disagree."""

from __future__ import annotations

import re
from typing import Final

# Patroni's timing when gitlab.rb sets none (patroni/attributes/default.rb, unchanged 16.6 → 19.3).
OMNIBUS_PATRONI_TIMING: Final[dict[str, int]] = {"loop_wait": 10, "ttl": 30, "retry_timeout": 10}

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
    "consul_https": 8501,  # Omnibus: consul['https_port'], 8501 when use_tls
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


# Memory (GB) of the AWS instance types GitLab's reference architectures name, as their tables state
# it ("m5.xlarge: 4 vCPU, 15 GB memory", the GCP n1 equivalent), for sizes given as instance types.
REFERENCE_MEMORY_GB: Final[dict[str, float]] = {
    "m5.large": 7.5,
    "m5.xlarge": 15,
    "m5.2xlarge": 30,
    "m5.4xlarge": 60,
    "m5.8xlarge": 120,
    "m5.16xlarge": 240,
    "c5.large": 1.8,
    "c5.xlarge": 3.6,
    "c5.2xlarge": 7.2,
    "c5.4xlarge": 14.4,
    "c5.9xlarge": 28.8,
}
REDIS_CACHE_MAXMEMORY_DEFAULT: Final = "13500mb"
_GB = re.compile(r"(\d+(?:\.\d+)?)\s*(?:GB|GiB|G)\b", re.IGNORECASE)


def redis_cache_maxmemory(size: str | None) -> str:
    """`redis['maxmemory']` of a Redis cache node: 90% of its RAM in MB, the rule of GitLab's 10k, 25k
    and 50k reference architectures ("Set the Redis Cache instance as an LRU, 90% of available RAM in
    MB": `'13500mb'` for their 15 GB m5.xlarge cache nodes). The RAM comes from the node's size (an
    instance type above, or a text like "4 vCPU, 15 GB"); the docs' '13500mb' when it says nothing."""
    memory = REFERENCE_MEMORY_GB.get((size or "").strip().lower())
    if memory is None and size and (match := _GB.search(size)):
        memory = float(match.group(1))
    if memory is None:
        return REDIS_CACHE_MAXMEMORY_DEFAULT
    return f"{round(memory * 900)}mb"
