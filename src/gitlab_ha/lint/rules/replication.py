"""Patroni replication settings against the node count and each other; one migrating Rails and Praefect node."""

from __future__ import annotations

from collections.abc import Iterator

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Node
from gitlab_ha.lint.registry import rule
from gitlab_ha.lint.rules.database import rails_nodes
from gitlab_ha.lint.rules.util import odd_ones
from gitlab_ha.topology.facts import replication_slots, wal_senders
from gitlab_ha.topology.roles import Role

_S = Severity


@rule(
    "GHA050",
    _S.ERROR,
    "Patroni replication slots or WAL senders too few",
    "Set patroni['postgresql']['max_replication_slots'] = 2 × database nodes and max_wal_senders = slots + 1.",
)
def slots(lint: Lint) -> Iterator[Finding]:
    patroni = lint.cluster.with_role(Role.PATRONI)
    needed = replication_slots(len(patroni))
    for node in patroni:
        slots_node = node.get("patroni['postgresql']['max_replication_slots']")
        senders_node = node.get("patroni['postgresql']['max_wal_senders']")
        slots_value = slots_node.to_python() if slots_node is not None else None
        senders = senders_node.to_python() if senders_node is not None else None
        if isinstance(slots_value, int) and slots_value < needed:
            yield lint.finding(
                node,
                slots_node,
                f"max_replication_slots {slots_value} < {needed} (2 × {len(patroni)} database nodes)",
            )
        if isinstance(senders, int):
            floor = wal_senders(slots_value if isinstance(slots_value, int) else needed)
            if senders < floor:
                yield lint.finding(node, senders_node, f"max_wal_senders {senders} < {floor} (replication slots + 1)")


def _migrators(lint: Lint, nodes: list[Node], key: str, what: str) -> Iterator[Finding]:
    if not nodes:
        return
    on = [n for n in nodes if n.value(key) is not False]
    if not on:
        first = nodes[0]
        yield lint.finding(
            first, first.get(key), f"no {what} node runs migrations ({key} is false on all {len(nodes)})"
        )
    for extra in on[1:]:
        yield lint.finding(
            extra,
            extra.get(key),
            f"{key} is {'not set (Omnibus default: true)' if extra.get(key) is None else 'true'} here and on "
            f"{on[0].label}: two {what} nodes would migrate at once",
        )


@rule(
    "GHA051",
    _S.ERROR,
    "auto_migrate not on exactly one Rails node",
    "Set gitlab_rails['auto_migrate'] = true on one Rails node and false on every other one.",
)
def rails_migrate(lint: Lint) -> Iterator[Finding]:
    nodes = [n for n in rails_nodes(lint) if n.has(Role.RAILS) or n.has(Role.SIDEKIQ)]
    yield from _migrators(lint, nodes, "gitlab_rails['auto_migrate']", "Rails")


@rule(
    "GHA052",
    _S.ERROR,
    "auto_migrate not on exactly one Praefect node",
    "Set praefect['auto_migrate'] = true on one Praefect node and false on the others.",
)
def praefect_migrate(lint: Lint) -> Iterator[Finding]:
    nodes = [n for n in lint.cluster.with_role(Role.PRAEFECT) if n.doc is not None]
    yield from _migrators(lint, nodes, "praefect['auto_migrate']", "Praefect")


_PATRONI_SHARED = (
    ("postgresql['sql_replication_password']", "replication password hash (user gitlab_replicator)"),
    ("patroni['username']", "Patroni REST API user"),
    ("patroni['password']", "Patroni REST API password"),
)


@rule(
    "GHA053",
    _S.ERROR,
    "Patroni nodes disagree",
    "Give every Patroni node the same replication password hash and the same Patroni API user and password.",
)
def patroni_agree(lint: Lint) -> Iterator[Finding]:
    """A replica with another replication hash cannot stream after a failover; another API password
    breaks Patroni's calls to its peers and the internal load balancer's leader check."""
    nodes = [n for n in lint.cluster.with_role(Role.PATRONI) if n.doc is not None]
    for key, what in _PATRONI_SHARED:
        for node, _, value in odd_ones([(n, key, n.get(key)) for n in nodes]):
            yield lint.finding(node, value, f"{key} differs from the {what} the other Patroni nodes use")
