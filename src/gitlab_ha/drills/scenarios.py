"""The scenarios `gitlab-ha drill run` knows: what each breaks, and where.

`kind` says which part of the cluster is expected to notice and heal (which detect and promote
times the checker reports): database (Patroni, PgBouncer), redis (Sentinel), consul (Raft) or
haproxy. A `held` fault lasts the drill's duration before it is healed; the others are instant
(a kill, a restart) and the supervisor brings the program back as runit would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitlab_ha.drills.faults import Fault, Hang, Kill, Lose, Partition, Restart, Stop
from gitlab_ha.errors import InputError

if TYPE_CHECKING:  # `drill list` and the CLI's help read the scenarios without loading the lab
    from gitlab_ha.drills.cluster import DrillLab
    from gitlab_ha.lab.plan import LabNode

# How long a held fault lasts unless --duration says otherwise: past the profile's failover time.
DEFAULT_DURATION = {"fast": 20.0, "omnibus": 60.0}
# A hung leader keeps its node (and its node's serfHealth) alive: only the leader key's TTL frees the key
# (Patroni asks Consul for a session TTL of ttl / 2 and Consul waits up to twice that), so a fault held for
# `ttl` seconds or less never sees a failover. Such faults last at least ttl + this.
PAST_TTL = 10.0


@dataclass(frozen=True)
class Leaders:
    """Who led just before the fault."""

    primary: LabNode
    redis_master: LabNode
    consul_leader: LabNode


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str
    summary: str
    fault: Callable[[DrillLab, Leaders], Fault]
    held: bool = False
    outlasts_ttl: bool = False  # held at least the Patroni ttl + PAST_TTL by default (only the TTL heals it)

    def hold(self, profile: str, patroni_ttl: int) -> float:
        """How long the fault is held when --duration does not say."""
        default = DEFAULT_DURATION[profile]
        return max(default, patroni_ttl + PAST_TTL) if self.outlasts_ttl else default


def _sentinel_minority(drill: DrillLab, leaders: Leaders) -> Fault:
    nodes = [n for n in drill.running("sentinel") if n.name != leaders.redis_master.name]
    count = (len(drill.running("sentinel")) - 1) // 2
    if count < 1 or len(nodes) < count:
        raise InputError("this lab has too few Sentinels for a minority to be lost", "sentinel-minority-lost")
    programs = tuple(f"sentinel@{n.name}" for n in nodes[:count])
    return Stop(drill, ", ".join(programs), programs)


def _consul_minority(drill: DrillLab, leaders: Leaders) -> Fault:
    servers = drill.consul_servers
    followers = [n for n in servers if n.name != leaders.consul_leader.name]
    count = (len(servers) - 1) // 2
    if count < 1 or len(followers) < count:
        raise InputError("this lab has too few Consul servers for a minority to be lost", "consul-minority-lost")
    programs = tuple(f"consul@{n.name}" for n in followers[:count])
    return Stop(drill, ", ".join(programs), programs)


def _internal_lb(drill: DrillLab) -> str:
    lbs = drill.running("haproxy")
    if not lbs:
        raise InputError("this lab has no internal load balancer", "internal-haproxy-restarted")
    return f"haproxy@{lbs[0].name}"


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "patroni-leader-killed",
            "database",
            "SIGKILL of the Patroni leader's Patroni and PostgreSQL (the supervisor restarts Patroni)",
            lambda d, lead: Kill(d, f"patroni@{lead.primary.name}"),
        ),
        Scenario(
            "leader-node-lost",
            "database",
            "every process of the Patroni leader's node stops at once, its Consul agent included",
            lambda d, lead: Lose(d, lead.primary.name),
            held=True,
        ),
        Scenario(
            "leader-stopped-gracefully",
            "database",
            "Patroni on the leader stopped as `gitlab-ctl stop patroni` does (it hands the leader key over)",
            lambda d, lead: Stop(d, f"patroni@{lead.primary.name}"),
            held=True,
        ),
        Scenario(
            "leader-hung",
            "database",
            "the Patroni leader's Patroni and PostgreSQL stopped with SIGSTOP, continued later (SIGCONT)",
            lambda d, lead: Hang(d, f"patroni@{lead.primary.name}"),
            held=True,
            outlasts_ttl=True,
        ),
        Scenario(
            "pgbouncer-killed",
            "database",
            "SIGKILL of the PgBouncer on the leader's node",
            lambda d, lead: Kill(d, f"pgbouncer@{lead.primary.name}"),
        ),
        Scenario(
            "redis-master-killed",
            "redis",
            "SIGKILL of the Redis master (the supervisor restarts it)",
            lambda d, lead: Kill(d, f"redis@{lead.redis_master.name}"),
        ),
        Scenario(
            "redis-master-hung",
            "redis",
            "the Redis master stopped with SIGSTOP, continued later",
            lambda d, lead: Hang(d, f"redis@{lead.redis_master.name}"),
            held=True,
        ),
        Scenario(
            "sentinel-minority-lost",
            "redis",
            "a minority of the Sentinels stopped (not the master's own)",
            _sentinel_minority,
            held=True,
        ),
        Scenario(
            "consul-leader-killed",
            "consul",
            "SIGKILL of the Consul server that leads Raft (/v1/status/leader)",
            lambda d, lead: Kill(d, f"consul@{lead.consul_leader.name}"),
        ),
        Scenario(
            "consul-minority-lost",
            "consul",
            "a minority of the Consul servers stopped (followers, not the Raft leader)",
            _consul_minority,
            held=True,
        ),
        Scenario(
            "internal-haproxy-restarted",
            "haproxy",
            "the internal HAProxy restarted (`gitlab-ctl restart haproxy`)",
            lambda d, lead: Restart(d, _internal_lb(d)),
        ),
        Scenario(
            "leader-partitioned",
            "database",
            "the Patroni leader's node cut off by nftables from every other node and from the clients, "
            "both ways (its node-local traffic kept)",
            lambda d, lead: Partition(d, lead.primary.name),
            held=True,
        ),
    )
}


def resolve(names: list[str]) -> list[Scenario]:
    """Scenario names as given (`all` for every one); InputError naming an unknown one."""
    out: list[Scenario] = []
    for name in names:
        if name == "all":
            out += [s for s in SCENARIOS.values() if s not in out]
        elif name in SCENARIOS:
            out.append(SCENARIOS[name])
        else:
            raise InputError(f"unknown scenario {name!r} (gitlab-ha drill list)", "SCENARIO")
    if not out:
        raise InputError("name at least one scenario (or all)", "SCENARIO")
    return out
