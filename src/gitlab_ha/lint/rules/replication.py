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


def _migrators(lint: Lint, nodes: list[Node], key: str, what: str, *, none: Finding | None) -> Iterator[Finding]:
    """Two or more migrating nodes are always an error; `none` is what to report when no node migrates."""
    if not nodes:
        return
    on = [n for n in nodes if n.value(key) is not False]
    if not on and none is not None:
        yield none
    for extra in on[1:]:
        yield lint.finding(
            extra,
            extra.get(key),
            f"{key} is {'not set (Omnibus default: true)' if extra.get(key) is None else 'true'} here and on "
            f"{on[0].label}: two {what} nodes would migrate at once",
        )


def _none_migrate(nodes: list[Node], key: str, what: str) -> str:
    return f"no {what} node runs migrations ({key} is false on all {len(nodes)})"


@rule(
    "GHA051",
    _S.ERROR,
    "auto_migrate on more than one Rails node",
    "Set gitlab_rails['auto_migrate'] = true on at most one Rails node and false on every other one.",
)
def rails_migrate(lint: Lint) -> Iterator[Finding]:
    """GitLab's docs set auto_migrate false on every Rails node and run migrations on one node on
    purpose, straight to the database leader (Omnibus' "already migrated" marker is keyed on the db
    host and port, so a migrating node behind PgBouncer migrates again): that layout is a note."""
    key = "gitlab_rails['auto_migrate']"
    nodes = [n for n in rails_nodes(lint) if n.has(Role.RAILS) or n.has(Role.SIDEKIQ)]
    none = None
    if nodes:
        first = nodes[0]
        none = lint.finding(
            first,
            first.get(key),
            f"{_none_migrate(nodes, key, 'Rails')}: migrations must then be run deliberately, "
            "e.g. from a first-run gitlab.rb on one node",
            "Migrate from one node on purpose: reconfigure it once with auto_migrate = true and the database "
            "leader (not PgBouncer) as db_host, then put the steady gitlab.rb back; again at every upgrade.",
            severity=Severity.NOTE,
        )
    yield from _migrators(lint, nodes, key, "Rails", none=none)


@rule(
    "GHA052",
    _S.ERROR,
    "auto_migrate not on exactly one Praefect node",
    "Set praefect['auto_migrate'] = true on one Praefect node and false on the others.",
)
def praefect_migrate(lint: Lint) -> Iterator[Finding]:
    """Praefect has no "already migrated" marker (sql-migrate runs on every reconfigure of a node with
    auto_migrate true), so exactly one node keeps it on: none is an error, as two are."""
    key = "praefect['auto_migrate']"
    nodes = [n for n in lint.cluster.with_role(Role.PRAEFECT) if n.doc is not None]
    none = None
    if nodes:
        first = nodes[0]
        none = lint.finding(first, first.get(key), _none_migrate(nodes, key, "Praefect"))
    yield from _migrators(lint, nodes, key, "Praefect", none=none)


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
