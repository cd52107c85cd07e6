"""Checks across nodes: names, addresses, quorums, roles that need or exclude other roles.

Each problem carries a path into the topology document (`("nodes", 3, "roles")`) so the loader can
point at the file and line; the message names the node.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Literal

from gitlab_ha.topology.features import CONSUL_TLS_SINCE, Features
from gitlab_ha.topology.model import Topology
from gitlab_ha.topology.roles import CONFLICTS, QUORUM_ROLES, REQUIRES, Role

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    severity: Literal["error", "warning"]
    path: Path
    message: str


def validate(topo: Topology) -> list[Problem]:
    """Every cross-node problem of `topo`, errors and warnings, in document order."""
    problems: list[Problem] = []
    problems += _unique(topo)
    problems += _standalone(topo)
    problems += _conflicts(topo)
    problems += _requirements(topo)
    problems += _quorums(topo)
    problems += _single_instances(topo)
    problems += _redis(topo)
    problems += _storage(topo)
    problems += _edition(topo)
    problems += _consul_tls(topo)
    return problems


def _at_node(
    topo: Topology,
    index: int,
    message: str,
    *,
    field: str = "roles",
    severity: Literal["error", "warning"] = "error",
    named: bool = True,
) -> Problem:
    """A problem at `nodes[index].field`; `named`: the message starts with the node's name."""
    prefix = f"node {topo.nodes[index].name!r}: " if named else ""
    return Problem(severity, ("nodes", index, field), prefix + message)


def _first_with(topo: Topology, role: Role) -> int:
    return next(i for i, node in enumerate(topo.nodes) if role in node.roles)


def _unique(topo: Topology) -> list[Problem]:
    out: list[Problem] = []
    names: dict[str, int] = {}
    addresses: dict[str, int] = {}
    for i, node in enumerate(topo.nodes):
        if node.name in names:
            message = f"duplicate node name {node.name!r} (also nodes[{names[node.name]}])"
            out.append(_at_node(topo, i, message, field="name", named=False))
        names.setdefault(node.name, i)
        if node.ip in addresses:
            other = topo.nodes[addresses[node.ip]].name
            out.append(_at_node(topo, i, f"address {node.ip} is also node {other!r}", field="address"))
        addresses.setdefault(node.ip, i)
    return out


def _standalone(topo: Topology) -> list[Problem]:
    out: list[Problem] = []
    for i, node in enumerate(topo.nodes):
        if Role.STANDALONE in node.roles and len(node.roles) > 1:
            out.append(_at_node(topo, i, "'standalone' already runs everything; drop the other roles"))
    if topo.has_role(Role.STANDALONE):
        others = [i for i, n in enumerate(topo.nodes) if n.omnibus and Role.STANDALONE not in n.roles]
        if others:
            out.append(_at_node(topo, others[0], "a 'standalone' cluster has no other GitLab nodes"))
    return out


def _conflicts(topo: Topology) -> list[Problem]:
    return [
        _at_node(topo, i, f"roles {first.value!r} and {second.value!r} cannot share a node: {why}")
        for i, node in enumerate(topo.nodes)
        for first, second, why in CONFLICTS
        if first in node.roles and second in node.roles
    ]


def _requirements(topo: Topology) -> list[Problem]:
    out: list[Problem] = []
    present = {role for node in topo.nodes for role in node.roles}
    for role, needs, why in REQUIRES:
        if role in present and not present.intersection(needs):
            wanted = " or ".join(repr(n.value) for n in needs)
            message = f"role {role.value!r} needs a node with role {wanted}: {why}"
            out.append(_at_node(topo, _first_with(topo, role), message))
    return out


def _quorums(topo: Topology) -> list[Problem]:
    out: list[Problem] = []
    for role in QUORUM_ROLES:
        count = len(topo.with_role(role))
        if count == 0:
            continue
        i = _first_with(topo, role)
        if count == 1:
            message = f"only one {role.value!r} node ({topo.nodes[i].name}): no majority survives its loss; use 3"
            out.append(_at_node(topo, i, message, severity="warning", named=False))
        elif count % 2 == 0:
            message = (
                f"{count} {role.value!r} nodes: an even count has no majority after a split; "
                f"use {count + 1} or {count - 1}"
            )
            out.append(_at_node(topo, i, message, named=False))
    if len(topo.with_role(Role.PATRONI)) == 1:
        i = _first_with(topo, Role.PATRONI)
        out.append(_at_node(topo, i, "one 'patroni' node: no database failover", severity="warning", named=False))
    return out


def _single_instances(topo: Topology) -> list[Problem]:
    out: list[Problem] = []
    singles = {
        Role.PRAEFECT_POSTGRES: "Omnibus runs Praefect's database on one node; use an external HA PostgreSQL for more",
        Role.POSTGRES: "a PostgreSQL without Patroni cannot have replicas; use 'patroni' for HA",
        Role.INTERNAL_LB: "Rails, Gitaly and Praefect point at one internal address; put a virtual IP in front of several",
    }
    for role, why in singles.items():
        nodes = [i for i, n in enumerate(topo.nodes) if role in n.roles]
        if len(nodes) > 1:
            out.append(_at_node(topo, nodes[1], f"more than one {role.value!r} node: {why}"))
    return out


def _redis(topo: Topology) -> list[Problem]:
    out: list[Problem] = []
    for data_role, sentinel_role in ((Role.REDIS, Role.SENTINEL), (Role.REDIS_CACHE, Role.SENTINEL_CACHE)):
        data = topo.with_role(data_role)
        if len(data) > 1 and not topo.has_role(sentinel_role):
            message = (
                f"{len(data)} {data_role.value!r} nodes but no {sentinel_role.value!r}: nothing would promote a replica"
            )
            out.append(_at_node(topo, _first_with(topo, data_role), message, named=False))
    if topo.redis_primary is not None:
        names = [n.name for n in topo.with_role(Role.REDIS)]
        if topo.redis_primary not in names:
            out.append(
                Problem(
                    "error",
                    ("redis_primary",),
                    f"redis_primary {topo.redis_primary!r} is not a node with role 'redis' ({', '.join(names) or 'none'})",
                )
            )
    return out


def _storage(topo: Topology) -> list[Problem]:
    if topo.object_storage is None and (topo.has_role(Role.RAILS) and len(topo.with_role(Role.RAILS)) > 1):
        return [
            Problem(
                "warning",
                ("object_storage",),
                "no object_storage: uploads, artifacts and LFS stay on each Rails node's disk and are not shared",
            )
        ]
    return []


# Omnibus bundles these only in gitlab-ee (Premium): Consul, Sentinel, Patroni and PgBouncer.
EE_ONLY = (Role.CONSUL, Role.SENTINEL, Role.SENTINEL_CACHE, Role.PATRONI, Role.PGBOUNCER)


def _edition(topo: Topology) -> list[Problem]:
    if topo.gitlab.edition != "ce":
        return []
    used = [role.value for role in EE_ONLY if topo.has_role(role)]
    if not used:
        return []
    return [
        Problem(
            "error",
            ("gitlab", "edition"),
            f"roles {', '.join(used)} need gitlab-ee: the ce package has no Consul, Sentinel, Patroni or PgBouncer",
        )
    ]


def _consul_tls(topo: Topology) -> list[Problem]:
    mode = topo.consul.tls
    if mode == "off":
        return []
    if not Features(topo.gitlab.version).consul_tls:
        return [Problem("error", ("consul", "tls"), f"consul['use_tls'] exists from GitLab {CONSUL_TLS_SINCE}")]
    if not topo.has_role(Role.CONSUL):
        return [Problem("error", ("consul", "tls"), f"tls {mode} needs Consul servers (a node with role consul)")]
    if mode == "mutual_patroni" and not topo.has_role(Role.PATRONI):
        return [Problem("warning", ("consul", "tls"), "mutual_patroni without Patroni nodes is the same as mutual")]
    return []


def role_counts(topo: Topology) -> Counter[Role]:
    return Counter(role for node in topo.nodes for role in node.roles)
