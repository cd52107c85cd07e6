"""HAProxy backends against the nodes that hold the matching role and port."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gitlab_ha.lint.engine import Lint, rule
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Node
from gitlab_ha.lint.rules.util import listen_port
from gitlab_ha.topology.roles import Role

_S = Severity


def _int(node: Node, key: str, default: int) -> int:
    value = node.value(key)
    return value if isinstance(value, int) else default


# frontend port → (role, what, the port that role's nodes listen on)
_INTERNAL: dict[int, tuple[Role, str, Callable[[Node], int]]] = {
    6432: (Role.PGBOUNCER, "PgBouncer", lambda n: _int(n, "pgbouncer['listen_port']", 6432)),
    5432: (Role.PATRONI, "Patroni PostgreSQL", lambda n: _int(n, "postgresql['port']", 5432)),
    2305: (Role.PRAEFECT, "Praefect", lambda n: listen_port(n, "praefect['configuration']['listen_addr']", 2305)),
    80: (Role.RAILS, "Rails", lambda n: _int(n, "nginx['listen_port']", 80)),
}
_EXTERNAL: dict[int, tuple[Role, str, Callable[[Node], int]]] = {
    443: (Role.RAILS, "Rails", lambda n: _int(n, "nginx['listen_port']", 80)),
    22: (Role.RAILS, "Rails sshd", lambda n: 22),
}


@rule(
    "GHA080",
    _S.ERROR,
    "HAProxy backend does not match the nodes",
    "Each backend needs one server per node of the matching role, at that node's address and port.",
)
def backends(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    for lb in cluster.nodes:
        if lb.haproxy is None:
            continue
        table = _EXTERNAL if lb.has(Role.EXTERNAL_LB) else _INTERNAL
        for port, (role, what, node_port) in table.items():
            front, servers = lb.haproxy.servers_for_port(port)
            members = [n for n in cluster.with_role(role) if n.address]
            if front is None or not members:
                continue
            expected = {(n.address, node_port(n)): n for n in members}
            for server in servers:
                if (server.host, server.port) in expected:
                    continue
                target = cluster.by_address(server.host)
                why = (
                    f"{target.label} listens on {node_port(target)}, not {server.port}"
                    if target is not None and target in members
                    else f"{server.host} is not a {what} node"
                )
                yield lint.finding(
                    "GHA080", lb, (lb.haproxy.file, server.line, server.column), f"server {server.name}: {why}"
                )
            listed = {(s.host, s.port) for s in servers}
            for (address, node_port_value), member in expected.items():
                if (address, node_port_value) not in listed and not any(s.host == address for s in servers):
                    yield lint.finding(
                        "GHA080",
                        lb,
                        (lb.haproxy.file, front.line, 1),
                        f"frontend {front.name} (port {port}) has no server for {what} node {member.label}",
                    )
