"""Consul `retry_join` everywhere; Redis master name, master address, Sentinel lists and quorum."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Node
from gitlab_ha.lint.registry import rule
from gitlab_ha.lint.rules.util import child, items, odd_ones, opaque, port_number, py
from gitlab_ha.topology.facts import PORTS, majority
from gitlab_ha.topology.roles import Role

_S = Severity
SENTINEL_PORT = PORTS["sentinel"]


def _runs_consul(node: Node) -> bool:
    if node.doc is None:
        return False
    return (
        node.value("consul['enable']") is True
        or any(ref.name == "consul_role" for ref in node.omnibus_roles)
        or node.get("consul['configuration']['retry_join']") is not None
    )


def _join(node: Node) -> tuple[str, ...] | None:
    value = node.value("consul['configuration']['retry_join']")
    if isinstance(value, list):
        return tuple(sorted(str(v) for v in value))
    return None


@rule(
    "GHA040",
    _S.ERROR,
    "Consul retry_join differs between nodes",
    "Give every node the same consul['configuration'] retry_join: the Consul servers' addresses.",
)
def retry_join_same(lint: Lint) -> Iterator[Finding]:
    nodes = [n for n in lint.cluster.nodes if _runs_consul(n)]
    joins = Counter(j for n in nodes if (j := _join(n)) is not None)
    if not joins:
        return
    common = joins.most_common(1)[0][0]
    for node in nodes:
        join = _join(node)
        if join is None:
            yield lint.finding(node, None, "this node runs Consul but has no retry_join")
        elif join != common:
            yield lint.finding(
                node,
                node.get("consul['configuration']['retry_join']"),
                f"retry_join {' '.join(join)} differs from the other nodes' {' '.join(common)}",
            )


@rule(
    "GHA041",
    _S.ERROR,
    "Consul retry_join is not the Consul servers",
    "retry_join must list exactly the Consul servers (nodes with consul['configuration'] server: true).",
)
def retry_join_servers(lint: Lint) -> Iterator[Finding]:
    servers = tuple(sorted(lint.cluster.addresses(Role.CONSUL)))
    nodes = [n for n in lint.cluster.nodes if _runs_consul(n)]
    joins = Counter(j for n in nodes if (j := _join(n)) is not None)
    if not joins or not servers:
        return
    common = joins.most_common(1)[0][0]
    if common == servers:
        return
    for node in nodes:
        if _join(node) == common:
            yield lint.finding(
                node,
                node.get("consul['configuration']['retry_join']"),
                f"retry_join {' '.join(common)} is not the Consul servers {' '.join(servers)}",
            )


def _groups(lint: Lint) -> list[tuple[Role, Role, str]]:
    return [
        (Role.REDIS, Role.SENTINEL, "redis_sentinels"),
        (Role.REDIS_CACHE, Role.SENTINEL_CACHE, "redis_cache_sentinels"),
    ]


@rule(
    "GHA042",
    _S.ERROR,
    "Rails' Sentinel list is not the Sentinel nodes",
    "List every Sentinel node (host and sentinel['port'], default 26379) in gitlab_rails['redis_sentinels'].",
)
def sentinel_list(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    for _, sentinel_role, key_name in _groups(lint):
        sentinels = cluster.with_role(sentinel_role)
        expected = {(n.address, port_number(n.get("sentinel['port']")) or SENTINEL_PORT) for n in sentinels}
        key = f"gitlab_rails['{key_name}']"
        for rails in [n for n in cluster.nodes if n.has(Role.RAILS) or n.has(Role.SIDEKIQ)]:
            value = rails.get(key)
            if value is None:
                if sentinels and sentinel_role is Role.SENTINEL:
                    yield lint.finding(rails, None, f"{key} is not set; Rails would not find the Redis master")
                continue
            if any(opaque(child(i, "host")) or opaque(child(i, "port")) for i in items(value)) or opaque(value):
                continue  # computed by Ruby: cannot be compared
            listed = {(py(child(i, "host")), port_number(child(i, "port")) or SENTINEL_PORT) for i in items(value)}
            missing = sorted(f"{h}:{p}" for h, p in expected - listed)
            extra = sorted(f"{h}:{p}" for h, p in listed - expected)
            if missing or extra:
                parts = ([f"missing {', '.join(missing)}"] if missing else []) + (
                    [f"not Sentinels: {', '.join(extra)}"] if extra else []
                )
                yield lint.finding(rails, value, f"{key}: {'; '.join(parts)}")


def _redis_groups(lint: Lint) -> dict[str, list[Node]]:
    """Redis and Sentinel nodes by redis['master_name'] (the main and the cache cluster)."""
    groups: dict[str, list[Node]] = {}
    for node in lint.cluster.nodes:
        if not any(node.has(r) for r in (Role.REDIS, Role.SENTINEL, Role.REDIS_CACHE, Role.SENTINEL_CACHE)):
            continue
        name = node.value("redis['master_name']")
        groups.setdefault(str(name) if name is not None else "", []).append(node)
    return groups


def _master(lint: Lint, nodes: list[Node]) -> Node | None:
    topology = lint.cluster.topology
    if topology is not None:
        for cache in (False, True):
            declared = topology.redis_master(cache=cache)
            if declared is not None:
                for node in nodes:
                    if node.address == declared.ip:
                        return node
    for node in nodes:
        if any(ref.name == "redis_master_role" for ref in node.omnibus_roles):
            return node
    return None


@rule(
    "GHA043",
    _S.ERROR,
    "redis['master_ip'] is not the master",
    "Set redis['master_ip'] on every Redis and Sentinel node to the address of the redis_master_role node.",
)
def master_ip(lint: Lint) -> Iterator[Finding]:
    for nodes in _redis_groups(lint).values():
        master = _master(lint, nodes)
        if master is None or master.address is None:
            continue
        for node in nodes:
            ref = next((r for r in node.omnibus_roles if r.name == "redis_master_role"), None)
            if ref is not None and node is not master:
                yield lint.finding(
                    node,
                    ref.loc,
                    f"redis_master_role here too: {master.label} is the master; two would each start as one",
                    "Give this node redis_replica_role.",
                )
        for node in nodes:
            value = node.get("redis['master_ip']")
            if value is None:
                if node.has(Role.SENTINEL) or node.has(Role.SENTINEL_CACHE):
                    yield lint.finding(node, None, f"redis['master_ip'] is not set (the master is {master.label})")
            elif not opaque(value) and py(value) != master.address:
                yield lint.finding(node, value, f"master_ip {py(value)!r} is not the master {master.label}")


@rule(
    "GHA044",
    _S.ERROR,
    "redis['master_name'] differs",
    "Use one redis['master_name'] on every Redis, Sentinel and Rails node (the cache cluster has its own).",
)
def master_name(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    members = [
        n
        for n in cluster.nodes
        if (n.has(Role.REDIS) or n.has(Role.SENTINEL) or n.has(Role.RAILS) or n.has(Role.SIDEKIQ))
        and not (n.has(Role.REDIS_CACHE) or n.has(Role.SENTINEL_CACHE))
        and cluster.with_role(Role.SENTINEL)
    ]
    names = Counter(str(v) for n in members if (v := n.value("redis['master_name']")) is not None)
    if not names:
        return
    common = names.most_common(1)[0][0]
    for node in members:
        value = node.get("redis['master_name']")
        if value is None:
            if node.has(Role.SENTINEL) or node.has(Role.RAILS) or node.has(Role.SIDEKIQ):
                yield lint.finding(node, None, f"redis['master_name'] is not set (others use {common!r})")
        elif str(py(value)) != common:
            yield lint.finding(node, value, f"master_name {py(value)!r} differs from the others' {common!r}")


@rule(
    "GHA045",
    _S.WARNING,
    "Sentinel quorum is not a majority",
    "Set sentinel['quorum'] to a majority of the Sentinels (2 of 3); Omnibus' default is 1.",
)
def quorum(lint: Lint) -> Iterator[Finding]:
    for role in (Role.SENTINEL, Role.SENTINEL_CACHE):
        sentinels = lint.cluster.with_role(role)
        count = len(sentinels)
        needed = majority(count)
        for node in sentinels:
            value = node.get("sentinel['quorum']")
            number = py(value) if value is not None else 1
            if not isinstance(number, int):
                continue
            if number > count:
                yield lint.finding(
                    node,
                    value,
                    f"quorum {number} > {count} Sentinels: no failover can ever happen",
                    severity=_S.ERROR,
                )
            elif number > needed:
                yield lint.finding(
                    node,
                    value,
                    f"quorum {number} is above a majority of {count} Sentinels: once the master's host is down "
                    f"with its Sentinel, {count - 1} are left to agree and failover may never start",
                )
            elif number < needed and count > 1:
                yield lint.finding(
                    node,
                    value,
                    f"quorum {number}{' (Omnibus default)' if value is None else ''} is below a majority of {count} "
                    "Sentinels: a minority may start a failover",
                )


def _odd_ones(lint: Lint, places: list[tuple[Node, str]], what: str) -> Iterator[Finding]:
    """Report every (node, key) whose value differs from the value most of them share."""
    for node, key, value in odd_ones([(node, key, node.get(key)) for node, key in places]):
        yield lint.finding(node, value, f"{key} differs from the {what} the other nodes use")


@rule(
    "GHA046",
    _S.ERROR,
    "Redis passwords differ",
    "Use one password for redis['password'] and redis['master_password'] on every Redis and Sentinel "
    "node, and for Rails' redis['master_password'] (or gitlab_rails['redis_password']).",
)
def redis_passwords(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    for data_role, sentinel_role, with_rails in (
        (Role.REDIS, Role.SENTINEL, True),
        (Role.REDIS_CACHE, Role.SENTINEL_CACHE, False),
    ):
        places: list[tuple[Node, str]] = []
        for node in cluster.nodes:
            if node.has(data_role):
                places += [(node, "redis['password']"), (node, "redis['master_password']")]
            elif node.has(sentinel_role):
                places.append((node, "redis['master_password']"))
            elif with_rails and (node.has(Role.RAILS) or node.has(Role.SIDEKIQ)):
                places += [(node, "redis['master_password']"), (node, "gitlab_rails['redis_password']")]
        yield from _odd_ones(lint, places, "Redis password")


@rule(
    "GHA047",
    _S.ERROR,
    "Consul gossip keys differ",
    "Give every node the same consul['encryption_key'] (`consul keygen`); agents with another key cannot join.",
)
def gossip_keys(lint: Lint) -> Iterator[Finding]:
    places = [(node, "consul['encryption_key']") for node in lint.cluster.nodes if _runs_consul(node)]
    yield from _odd_ones(lint, places, "gossip key")
