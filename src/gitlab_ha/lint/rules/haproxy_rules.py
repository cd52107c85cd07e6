"""HAProxy backends against the nodes that hold the matching role and port."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Node
from gitlab_ha.lint.registry import rule
from gitlab_ha.lint.rules.util import listen_port
from gitlab_ha.topology.facts import PORTS as _P
from gitlab_ha.topology.roles import Role

_S = Severity


def _int(node: Node, key: str, default: int) -> int:
    value = node.value(key)
    return value if isinstance(value, int) else default


def _rails_port(node: Node) -> int:
    """NGINX's port for Rails: `gitlab_rails['nginx']['listen_port']` (19.2+) wins over the older
    `nginx['listen_port']`, which Omnibus copies over only when the new key is unset."""
    return _int(node, "gitlab_rails['nginx']['listen_port']", _int(node, "nginx['listen_port']", _P["rails_http"]))


# frontend port → (role, what, the port that role's nodes listen on)
_INTERNAL: dict[int, tuple[Role, str, Callable[[Node], int]]] = {
    _P["pgbouncer"]: (Role.PGBOUNCER, "PgBouncer", lambda n: _int(n, "pgbouncer['listen_port']", _P["pgbouncer"])),
    _P["postgres"]: (Role.PATRONI, "Patroni PostgreSQL", lambda n: _int(n, "postgresql['port']", _P["postgres"])),
    _P["praefect"]: (
        Role.PRAEFECT,
        "Praefect",
        lambda n: listen_port(n, "praefect['configuration']['listen_addr']", _P["praefect"]),
    ),
    _P["rails_http"]: (Role.RAILS, "Rails", _rails_port),
}
_EXTERNAL: dict[int, tuple[Role, str, Callable[[Node], int]]] = {
    443: (Role.RAILS, "Rails", _rails_port),
    _P["ssh"]: (Role.RAILS, "Rails sshd", lambda n: _P["ssh"]),
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
                yield lint.finding(lb, (lb.haproxy.file, server.line, server.column), f"server {server.name}: {why}")
            listed = {(s.host, s.port) for s in servers}
            for (address, node_port_value), member in expected.items():
                if (address, node_port_value) not in listed and not any(s.host == address for s in servers):
                    yield lint.finding(
                        lb,
                        (lb.haproxy.file, front.line, 1),
                        f"frontend {front.name} (port {port}) has no server for {what} node {member.label}",
                    )


# Frontends whose connections idle for long: PostgreSQL through PgBouncer, the Patroni leader, Praefect.
_LONG_LIVED = {6432: "PgBouncer", 5432: "PostgreSQL", 2305: "Praefect"}
MINUTE_MS = 60_000


@rule(
    "GHA081",
    _S.WARNING,
    "HAProxy cuts idle database or Gitaly connections",
    "Raise `timeout client` and `timeout server` for the 6432, 5432 and 2305 frontends and backends "
    "(30m, say): Rails and Praefect keep pooled connections idle far longer than a few seconds.",
)
def short_timeouts(lint: Lint) -> Iterator[Finding]:
    for lb in lint.cluster.nodes:
        config = lb.haproxy
        if config is None or not lb.has(Role.INTERNAL_LB):
            continue
        reported: set[int] = set()
        for port, what in _LONG_LIVED.items():
            front = config.frontend_for_port(port)
            if front is None:
                continue
            sections = [(front, "client")] + [
                (backend, "server") for name in front.backends if (backend := config.backend(name)) is not None
            ]
            for section, kind in sections:
                found = config.timeout(section, kind)
                if found is None:
                    continue
                value, line, _ = found
                if value is not None and value < MINUTE_MS and line not in reported:
                    reported.add(line)
                    yield lint.finding(
                        lb,
                        (config.file, line, 5),
                        f"timeout {kind} {value // 1000}s closes idle {what} connections (port {port})",
                    )
