"""Presets: the seed blog's 15-node layout and GitLab's reference architectures (Linux package).

Node counts and AWS instance types follow GitLab's reference architecture docs
(doc/administration/reference_architectures/{1k..50k}_users.md, 2025 revision).

A preset is a list of node groups; `expand` gives each node a name and an address, either the
preset's own (seed-15), or the next free host of a subnet in group order, or from a hosts file.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import read_user_text
from gitlab_ha.topology.addresses import address_problem, parse_node_address
from gitlab_ha.topology.roles import Role

R = Role

# The seed (and cloud providers) reserve the first addresses of a subnet: start at the 10th host.
FIRST_HOST = 10


@dataclass(frozen=True)
class Group:
    prefix: str
    count: int
    roles: tuple[Role, ...]
    size: str | None = None
    comment: str = ""
    addresses: tuple[str, ...] = ()  # fixed addresses (seed-15 only)
    names: tuple[str, ...] = ()  # fixed names (seed-15 only)

    def node_names(self) -> list[str]:
        if self.names:
            return list(self.names)
        if self.count == 1:
            return [self.prefix]
        return [f"{self.prefix}-{i}" for i in range(1, self.count + 1)]


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    version: str
    groups: tuple[Group, ...]
    default_subnet: str = "10.0.0.0/24"

    @property
    def node_count(self) -> int:
        return sum(group.count for group in self.groups)


@dataclass(frozen=True)
class PresetNode:
    name: str
    address: str
    roles: tuple[Role, ...]
    size: str | None
    comment: str


SEED_15 = Preset(
    name="seed-15",
    description="The seed blog's 15 EC2 nodes (GitLab 16.6.0-ee, 3,000 users, AWS NLB outside the topology)",
    version="16.6.0",
    default_subnet="10.10.1.0/24",
    groups=(
        Group(
            "consul-redis",
            3,
            (R.REDIS, R.SENTINEL, R.CONSUL),
            "c5.large",
            "Redis (first is the initial master) + Sentinel + Consul server",
            ("10.10.1.139", "10.10.1.137", "10.10.1.244"),
        ),
        Group(
            "postgres",
            2,
            (R.PATRONI, R.PGBOUNCER),
            "c5.large",
            "PostgreSQL with Patroni + PgBouncer",
            ("10.10.1.120", "10.10.1.167"),
        ),
        Group(
            "praefect-postgres",
            1,
            (R.PRAEFECT_POSTGRES,),
            "c5.large",
            "Praefect's PostgreSQL",
            ("10.10.1.84",),
        ),
        Group(
            "praefect",
            3,
            (R.PRAEFECT,),
            "c5.large",
            "Praefect",
            ("10.10.1.242", "10.10.1.130", "10.10.1.188"),
        ),
        Group("gitaly", 3, (R.GITALY,), "c5.large", "Gitaly", ("10.10.1.183", "10.10.1.21", "10.10.1.169")),
        Group("internal-lb", 1, (R.INTERNAL_LB,), "c5.large", "internal HAProxy", ("10.10.1.233",)),
        Group(
            "rails",
            2,
            (R.RAILS, R.SIDEKIQ),
            "c5.xlarge",
            "Rails (Puma, Workhorse) + Sidekiq",
            ("10.10.1.127", "10.10.1.38"),
        ),
    ),
)


def _ref(
    name: str,
    users: str,
    *,
    consul: int = 3,
    postgres: int = 3,
    pgbouncer: int = 3,
    redis: int = 3,
    redis_split: bool = False,
    gitaly: int = 3,
    praefect: int = 3,
    sidekiq: int,
    rails: int,
    sizes: dict[str, str],
) -> Preset:
    groups: list[Group] = [
        Group("external-lb", 1, (R.EXTERNAL_LB,), sizes.get("external_lb"), "external load balancer (HAProxy)"),
        Group("consul", consul, (R.CONSUL,), sizes.get("consul"), "Consul servers"),
        Group("postgres", postgres, (R.PATRONI,), sizes.get("postgres"), "PostgreSQL with Patroni"),
        Group("pgbouncer", pgbouncer, (R.PGBOUNCER,), sizes.get("pgbouncer"), "PgBouncer"),
        Group("internal-lb", 1, (R.INTERNAL_LB,), sizes.get("internal_lb"), "internal load balancer (HAProxy)"),
    ]
    if redis_split:
        groups += [
            Group(
                "redis-cache",
                redis,
                (R.REDIS_CACHE, R.SENTINEL_CACHE),
                sizes.get("redis_cache"),
                "Redis cache + Sentinel",
            ),
            Group("redis", redis, (R.REDIS, R.SENTINEL), sizes.get("redis"), "Redis persistent + Sentinel"),
        ]
    else:
        groups.append(Group("redis", redis, (R.REDIS, R.SENTINEL), sizes.get("redis"), "Redis + Sentinel"))
    groups += [
        Group("gitaly", gitaly, (R.GITALY,), sizes.get("gitaly"), "Gitaly"),
        Group("praefect", praefect, (R.PRAEFECT,), sizes.get("praefect"), "Praefect"),
        Group(
            "praefect-postgres",
            1,
            (R.PRAEFECT_POSTGRES,),
            sizes.get("praefect_postgres"),
            "Praefect PostgreSQL",
        ),
        Group("sidekiq", sidekiq, (R.SIDEKIQ,), sizes.get("sidekiq"), "Sidekiq"),
        Group("rails", rails, (R.RAILS,), sizes.get("rails"), "GitLab Rails (Puma, Workhorse)"),
        Group("monitoring", 1, (R.MONITORING,), sizes.get("monitoring"), "Prometheus"),
    ]
    return Preset(
        name=name,
        description=f"GitLab reference architecture for up to {users} users (Linux package)",
        version="19.3.0",
        groups=tuple(groups),
    )


REF_1K = Preset(
    name="ref-1k",
    description="GitLab reference architecture for up to 1,000 users: one node, no HA",
    version="19.3.0",
    groups=(Group("gitlab", 1, (R.STANDALONE,), "c5.2xlarge", "everything on one node"),),
)

REF_2K = Preset(
    name="ref-2k",
    description="GitLab reference architecture for up to 2,000 users: scaled out, no HA",
    version="19.3.0",
    groups=(
        Group("external-lb", 1, (R.EXTERNAL_LB,), "c5n.xlarge", "external load balancer (HAProxy)"),
        Group("postgres", 1, (R.POSTGRES,), "m5.large", "PostgreSQL (single, no failover)"),
        Group("redis", 1, (R.REDIS,), "m5.large", "Redis (single, no failover)"),
        Group("gitaly", 1, (R.GITALY,), "m5.xlarge", "Gitaly"),
        Group("sidekiq", 1, (R.SIDEKIQ,), "m5.xlarge", "Sidekiq"),
        Group("rails", 2, (R.RAILS,), "c5.2xlarge", "GitLab Rails"),
        Group("monitoring", 1, (R.MONITORING,), "c5.large", "Prometheus"),
    ),
)

REF_3K = _ref(
    "ref-3k",
    "3,000",
    sidekiq=2,
    rails=3,
    sizes={
        "external_lb": "c5n.xlarge",
        "consul": "c5.large",
        "postgres": "m5.large",
        "pgbouncer": "c5.large",
        "internal_lb": "c5n.xlarge",
        "redis": "m5.large",
        "gitaly": "m5.xlarge",
        "praefect": "c5.large",
        "praefect_postgres": "c5.large",
        "sidekiq": "m5.xlarge",
        "rails": "c5.2xlarge",
        "monitoring": "c5.large",
    },
)

REF_5K = _ref(
    "ref-5k",
    "5,000",
    sidekiq=2,
    rails=3,
    sizes={
        "external_lb": "c5n.xlarge",
        "consul": "c5.large",
        "postgres": "m5.xlarge",
        "pgbouncer": "c5.large",
        "internal_lb": "c5n.xlarge",
        "redis": "m5.large",
        "gitaly": "m5.2xlarge",
        "praefect": "c5.large",
        "praefect_postgres": "c5.large",
        "sidekiq": "m5.xlarge",
        "rails": "c5.4xlarge",
        "monitoring": "c5.large",
    },
)

REF_10K = _ref(
    "ref-10k",
    "10,000",
    redis_split=True,
    sidekiq=4,
    rails=3,
    sizes={
        "external_lb": "c5n.xlarge",
        "consul": "c5.large",
        "postgres": "m5.2xlarge",
        "pgbouncer": "c5.large",
        "internal_lb": "c5n.xlarge",
        "redis_cache": "m5.xlarge",
        "redis": "m5.xlarge",
        "gitaly": "m5.4xlarge",
        "praefect": "c5.large",
        "praefect_postgres": "c5.large",
        "sidekiq": "m5.xlarge",
        "rails": "c5.9xlarge",
        "monitoring": "c5.xlarge",
    },
)

REF_25K = _ref(
    "ref-25k",
    "25,000",
    redis_split=True,
    sidekiq=4,
    rails=5,
    sizes={
        "external_lb": "c5n.2xlarge",
        "consul": "c5.large",
        "postgres": "m5.4xlarge",
        "pgbouncer": "c5.large",
        "internal_lb": "c5n.2xlarge",
        "redis_cache": "m5.xlarge",
        "redis": "m5.xlarge",
        "gitaly": "m5.8xlarge",
        "praefect": "c5.xlarge",
        "praefect_postgres": "c5.large",
        "sidekiq": "m5.xlarge",
        "rails": "c5.9xlarge",
        "monitoring": "c5.xlarge",
    },
)

REF_50K = _ref(
    "ref-50k",
    "50,000",
    redis_split=True,
    sidekiq=4,
    rails=12,
    sizes={
        "external_lb": "c5.4xlarge",
        "consul": "c5.large",
        "postgres": "m5.8xlarge",
        "pgbouncer": "c5.large",
        "internal_lb": "c5.4xlarge",
        "redis_cache": "m5.2xlarge",
        "redis": "m5.2xlarge",
        "gitaly": "m5.16xlarge",
        "praefect": "c5.xlarge",
        "praefect_postgres": "c5.large",
        "sidekiq": "m5.xlarge",
        "rails": "c5.9xlarge",
        "monitoring": "c5.xlarge",
    },
)

PRESETS: dict[str, Preset] = {p.name: p for p in (SEED_15, REF_1K, REF_2K, REF_3K, REF_5K, REF_10K, REF_25K, REF_50K)}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}", "--preset") from None


def expand(preset: Preset, *, subnet: str | None = None, hosts: dict[str, str] | None = None) -> list[PresetNode]:
    """Name every node of `preset` and give it an address.

    Order of precedence: `hosts` (name → address), then `subnet` (hosts from the 10th on, in group
    order), then the preset's own addresses (seed-15) or its default subnet.
    """
    names = [(group, name) for group in preset.groups for name in group.node_names()]
    if hosts is not None:
        missing = [name for _, name in names if name not in hosts]
        if missing:
            raise InputError(f"no address for node(s) {', '.join(missing)}", "--hosts")
        addresses = [hosts[name] for _, name in names]
    elif subnet is None and all(group.addresses for group in preset.groups):
        addresses = [addr for group in preset.groups for addr in group.addresses]
    else:
        addresses = _subnet_addresses(subnet or preset.default_subnet, len(names))
    return [
        PresetNode(name, address, group.roles, group.size, group.comment)
        for (group, name), address in zip(names, addresses, strict=True)
    ]


def _subnet_addresses(cidr: str, count: int) -> list[str]:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise InputError(f"{cidr!r} is not a subnet: {exc}", "--subnet") from None
    if problem := address_problem(network.network_address):
        raise InputError(problem, "--subnet")
    out: list[str] = []
    for i, host in enumerate(network.hosts()):
        if i + 1 < FIRST_HOST:
            continue
        out.append(str(host))
        if len(out) == count:
            return out
    raise InputError(f"{cidr} has room for {len(out)} nodes from host .{FIRST_HOST} on; {count} are needed", "--subnet")


def read_hosts_file(path: Path) -> dict[str, str]:
    """Parse an /etc/hosts-style file: `ADDRESS NAME [ALIAS …]`, `#` comments."""
    text = read_user_text(path)
    hosts: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        where = f"{path}:{number}"
        if len(fields) < 2:
            raise InputError("expected 'ADDRESS NAME'", where)
        try:
            address = str(parse_node_address(fields[0]))
        except ValueError as exc:
            raise InputError(str(exc), where) from None
        for name in fields[1:]:
            if name in hosts and hosts[name] != address:
                raise InputError(f"{name!r} already has address {hosts[name]}", where)
            hosts[name] = address
    return hosts
