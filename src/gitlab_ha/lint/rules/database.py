"""The database path: Rails → internal LB:6432 → PgBouncer → Patroni, load balancing hosts, PgBouncer's
databases and users."""

from __future__ import annotations

from collections.abc import Iterator

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Node
from gitlab_ha.lint.registry import rule
from gitlab_ha.lint.rules.util import child, items, majority_value, odd_ones, opaque, port_number, py
from gitlab_ha.rubycfg.nodes import Hash
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.roles import Role

_S = Severity
PGBOUNCER_PORT = PORTS["pgbouncer"]
POSTGRES_PORT = PORTS["postgres"]
DEFAULT_DB = "gitlabhq_production"


def rails_nodes(lint: Lint) -> list[Node]:
    return [n for n in lint.cluster.nodes if (n.has(Role.RAILS) or n.has(Role.SIDEKIQ)) and n.doc is not None]


def database_addresses(lint: Lint) -> set[str]:
    return lint.cluster.addresses(Role.PATRONI) | lint.cluster.addresses(Role.POSTGRES)


def _pgbouncer_port(node: Node) -> int:
    return port_number(node.get("pgbouncer['listen_port']")) or PGBOUNCER_PORT


@rule(
    "GHA030",
    _S.ERROR,
    "Rails does not reach the database through PgBouncer",
    "Set gitlab_rails['db_host'] to the internal load balancer and db_port to 6432 (its PgBouncer frontend).",
)
def database_path(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    pgbouncers = cluster.with_role(Role.PGBOUNCER)
    databases = database_addresses(lint)
    for rails in rails_nodes(lint):
        host_node = rails.get("gitlab_rails['db_host']")
        port_node = rails.get("gitlab_rails['db_port']")
        if opaque(host_node) or opaque(port_node):
            continue  # computed by Ruby: the linter cannot know where it points
        host, port = py(host_node), port_number(port_node) if port_node is not None else None
        if not pgbouncers:
            if databases and host not in databases:
                yield lint.finding(rails, host_node, f"db_host {host!r} is not a database node", severity=_S.ERROR)
            continue
        if host is None:
            yield lint.finding(rails, None, "gitlab_rails['db_host'] is not set")
            continue
        target = cluster.by_address(str(host))
        if target is None:
            yield lint.finding(rails, host_node, f"db_host {host!r} is no node of this cluster")
            continue
        if target.has(Role.PGBOUNCER):
            expected = _pgbouncer_port(target)
        elif target.haproxy is not None:
            _, servers = target.haproxy.servers_for_port(port if isinstance(port, int) else POSTGRES_PORT)
            bouncers = {(n.address, _pgbouncer_port(n)) for n in pgbouncers}
            if not any((s.host, s.port) in bouncers for s in servers):  # the backend's members: GHA080
                yield lint.finding(
                    rails,
                    port_node or host_node,
                    f"load balancer {target.label} sends port {port or POSTGRES_PORT} to no PgBouncer node "
                    f"(its PgBouncer frontend is {PGBOUNCER_PORT})",
                )
            continue
        else:
            yield lint.finding(
                rails,
                host_node,
                f"db_host {target.label} is not the internal load balancer nor a PgBouncer node"
                + ("; going straight to PostgreSQL breaks on failover" if target.address in databases else ""),
            )
            continue
        if port != expected:
            yield lint.finding(
                rails,
                port_node or host_node,
                f"PgBouncer on {target.label} listens on {expected}, not {port}",
            )


@rule(
    "GHA031",
    _S.ERROR,
    "db_load_balancing host is not a database node",
    "List the addresses of the Patroni (PostgreSQL) nodes in gitlab_rails['db_load_balancing']['hosts'].",
)
def load_balancing(lint: Lint) -> Iterator[Finding]:
    databases = database_addresses(lint)
    for rails in rails_nodes(lint):
        hosts = rails.get("gitlab_rails['db_load_balancing']['hosts']")
        port = port_number(rails.get("gitlab_rails['db_load_balancing']['port']")) or port_number(
            rails.get("gitlab_rails['db_port']")
        )
        port = port or POSTGRES_PORT
        for item in items(hosts):
            host = py(item)
            if opaque(item):
                continue
            if host not in databases:
                yield lint.finding(
                    rails,
                    item,
                    f"load balancing host {host!r} is not a database node ({', '.join(sorted(databases)) or 'none'})",
                )
                continue
            target = lint.cluster.by_address(str(host))
            if target is not None and port not in _listening_ports(target):
                yield lint.finding(
                    rails,
                    item,
                    f"load balancing reads go to {host}:{port} (db_port), where neither PostgreSQL nor a PgBouncer "
                    f"listens ({', '.join(map(str, sorted(_listening_ports(target))))})",
                    "Give each database node a PgBouncer on db_port (pgbouncer_role), or set "
                    "gitlab_rails['db_load_balancing']['port'] to PostgreSQL's port.",
                )


def _listening_ports(node: Node) -> set[int]:
    """The ports a database node serves SQL on: PostgreSQL's, and its PgBouncer's when it runs one."""
    ports = {port_number(node.get("postgresql['port']")) or POSTGRES_PORT}
    if node.has(Role.PGBOUNCER) or any(ref.name == "pgbouncer_role" for ref in node.omnibus_roles):
        ports.add(_pgbouncer_port(node))
    return ports


@rule(
    "GHA032",
    _S.ERROR,
    "PgBouncer databases and users do not fit",
    "pgbouncer['databases'] needs Rails' db_database; its user must be in pgbouncer['users'] with the same "
    "password hash as postgresql['pgbouncer_user_password'].",
)
def pgbouncer_config(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    wanted = {str(n.value("gitlab_rails['db_database']") or DEFAULT_DB) for n in rails_nodes(lint)}
    key = "postgresql['pgbouncer_user_password']"
    places = [(n, key, n.get(key)) for n in cluster.with_role(Role.PATRONI)]
    for node, _, value in odd_ones(places):
        yield lint.finding(node, value, f"{key} differs from the other Patroni nodes' (one role, one hash)")
    patroni_hash = majority_value([value for _, _, value in places])
    bouncers = cluster.with_role(Role.PGBOUNCER)
    # every PgBouncer knows each user by the same hash (the watcher's gitlab-consul, the pgbouncer user)
    user_lists = [u for n in bouncers if isinstance(u := n.get("pgbouncer['users']"), Hash)]
    names = sorted(set[str]().union(*(u.keys() for u in user_lists)))
    for name in names:
        hashes = [(n, name, child(n.get("pgbouncer['users']"), name, "password")) for n in bouncers]
        for node, _, value in odd_ones(hashes):
            yield lint.finding(
                node, value, f"pgbouncer['users'] {name!r}: the hash differs from the other PgBouncer nodes'"
            )
    for node in bouncers:
        own = child(node.get("pgbouncer['users']"), "pgbouncer", "password")
        if patroni_hash is not None and py(own) not in (None, patroni_hash):
            yield lint.finding(node, own, f"pgbouncer['users'] 'pgbouncer': the hash differs from Patroni's {key}")
    for node in bouncers:
        databases = node.get("pgbouncer['databases']")
        if not isinstance(databases, Hash):
            yield lint.finding(node, databases, "pgbouncer['databases'] is not set")
            continue
        for name in sorted(wanted - set(databases.keys())):
            yield lint.finding(node, databases, f"pgbouncer['databases'] lacks {name!r}, Rails' database")
        users = node.get("pgbouncer['users']")
        user_names = set(users.keys()) if isinstance(users, Hash) else set()
        admins = node.value("pgbouncer['admin_users']")
        for admin in admins if isinstance(admins, list) else []:
            if admin not in user_names:
                yield lint.finding(
                    node,
                    node.get("pgbouncer['admin_users']"),
                    f"admin user {admin!r} is not in pgbouncer['users']",
                )
        for pair in databases.pairs:
            user = py(child(pair.value, "user"))
            password = child(pair.value, "password")
            if user is not None and user_names and user not in user_names:
                yield lint.finding(
                    node, child(pair.value, "user"), f"database user {user!r} is not in pgbouncer['users']"
                )
            if user == "pgbouncer" and patroni_hash is not None and py(password) not in (None, patroni_hash):
                yield lint.finding(
                    node,
                    password,
                    "the pgbouncer password hash differs from the Patroni nodes' postgresql['pgbouncer_user_password']",
                )
