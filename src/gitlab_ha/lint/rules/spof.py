"""Single points of failure. Warnings for hand-written sets; notes when a topology file declares the
layout (the topology's own validation already judged it, and GitLab's reference architectures run
one Praefect PostgreSQL by design)."""

from __future__ import annotations

from collections.abc import Iterator

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.registry import rule
from gitlab_ha.topology.roles import Role

_S = Severity


@rule(
    "GHA070",
    _S.WARNING,
    "one Praefect PostgreSQL",
    "Praefect stops when its only PostgreSQL does; use a highly available external PostgreSQL for it.",
)
def praefect_postgres(lint: Lint) -> Iterator[Finding]:
    nodes = lint.cluster.with_role(Role.PRAEFECT_POSTGRES)
    if len(nodes) == 1 and lint.cluster.with_role(Role.PRAEFECT):
        yield lint.finding(
            nodes[0],
            None,
            f"{nodes[0].label} is the only Praefect PostgreSQL: a single point of failure for every repository",
            severity=_S.NOTE if lint.declared else None,
        )


@rule(
    "GHA071",
    _S.WARNING,
    "two Patroni nodes",
    "Run three Patroni nodes so one can fail while a replica is still there to take over the next failure.",
)
def two_patroni(lint: Lint) -> Iterator[Finding]:
    nodes = lint.cluster.with_role(Role.PATRONI)
    if len(nodes) == 2:
        yield lint.finding(
            nodes[0],
            None,
            "only two Patroni nodes: after one failure the database runs with no replica",
            severity=_S.NOTE if lint.declared else None,
        )
