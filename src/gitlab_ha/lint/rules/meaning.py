"""What reconfigure will do with these files (the `reconfigure/` model), not only what they say:
services that will or will not run, replication and pg_rewind that cannot authenticate, and
addresses that point at a node where the expected service does not listen on that port."""

from __future__ import annotations

from collections.abc import Iterator

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Node
from gitlab_ha.lint.registry import rule
from gitlab_ha.lint.rules.util import address_port
from gitlab_ha.reconfigure.files import patroni as patroni_files
from gitlab_ha.reconfigure.files import postgresql as pg_files
from gitlab_ha.reconfigure.node import NodeModel
from gitlab_ha.reconfigure.services import TITLES
from gitlab_ha.reconfigure.settings import as_int
from gitlab_ha.rubycfg import Loc
from gitlab_ha.rubycfg.nodes import Value
from gitlab_ha.secrets.hashing import pg_md5
from gitlab_ha.topology.features import Features
from gitlab_ha.topology.roles import Role

_S = Severity

# What each role needs running on its node, and services no role of the node asks for.
NEEDS: dict[Role, tuple[str, ...]] = {
    Role.RAILS: ("puma", "gitlab_workhorse", "nginx"),
    Role.SIDEKIQ: ("sidekiq",),
    Role.PATRONI: ("patroni", "postgresql"),
    Role.POSTGRES: ("postgresql",),
    Role.PRAEFECT_POSTGRES: ("postgresql",),
    Role.PGBOUNCER: ("pgbouncer",),
    Role.REDIS: ("redis",),
    Role.REDIS_CACHE: ("redis",),
    Role.SENTINEL: ("sentinel",),
    Role.SENTINEL_CACHE: ("sentinel",),
    Role.CONSUL: ("consul",),
    Role.GITALY: ("gitaly",),
    Role.PRAEFECT: ("praefect",),
    Role.MONITORING: ("prometheus",),
}
# Services that only belong where a role puts them (the rest, exporters and logrotate, go anywhere).
OWNED = frozenset(service for services in NEEDS.values() for service in services) - {"consul"}


def _where(node: Node, service: str) -> Loc | Value | None:
    """Where a service's fate is written: its `x['enable']` line, else the `roles` call."""
    enable = node.get(f"{service}['enable']")
    if enable is not None:
        return enable
    refs = node.doc.roles() if node.doc is not None else []
    return refs[0].loc if refs else None


def _roles(node: Node, roles: set[Role] | None = None) -> set[Role]:
    roles = set(node.roles if roles is None else roles)
    if Role.STANDALONE in roles:
        roles |= {Role.RAILS, Role.SIDEKIQ, Role.POSTGRES, Role.REDIS, Role.GITALY}
    return roles


@rule(
    "GHA090",
    _S.ERROR,
    "a role's service will not run",
    "Enable the service for this release (before 17.4, application_role needs nginx['enable'] = true).",
)
def missing_services(lint: Lint) -> Iterator[Finding]:
    for node, model in lint.modeled_nodes():
        # the roles the file itself asks for: a role the topology adds and the file lacks is GHA015's
        for role in sorted(_roles(node, node.file_roles), key=lambda r: r.value):
            for service in NEEDS.get(role, ()):
                if model.services.runs(service):
                    continue
                if service == "nginx" and lint.version is None and "nginx" not in model.services.disabled:
                    continue  # whether application_role enables NGINX depends on the release
                why = model.services.disabled.get(service, "no role or setting enables it")
                yield lint.finding(
                    node,
                    _where(node, service),
                    f"{TITLES[service]} will not run on this {role.value} node: {why}",
                    f"Set {service}['enable'] = true." if service != "nginx" else None,
                )


@rule(
    "GHA091",
    _S.WARNING,
    "a service runs where no role needs it",
    "Disable it (x['enable'] = false): application_role's rails group includes Sidekiq and Gitaly.",
)
def extra_services(lint: Lint) -> Iterator[Finding]:
    for node, model in lint.modeled_nodes():
        if Role.STANDALONE in node.roles:
            continue
        roles = _roles(node) | _roles(node, node.file_roles)  # a role only the file shows is GHA015's
        wanted = {service for role in roles for service in NEEDS.get(role, ())}
        if node.has(Role.PATRONI):
            wanted.add("pgbouncer")  # a local PgBouncer in front of this node, for Rails' read load balancing
        for service, why in sorted(model.services.enabled.items()):
            if service in OWNED and service not in wanted:
                yield lint.finding(
                    node,
                    _where(node, service),
                    f"{TITLES[service]} runs here ({why}) but no role of this node needs it",
                    f"Set {service}['enable'] = false.",
                    severity=None if lint.declared else _S.NOTE,
                )


def _patroni(lint: Lint) -> list[tuple[Node, NodeModel]]:
    return [
        (node, model)
        for node, model in lint.modeled_nodes(lint.cluster.with_role(Role.PATRONI))
        if model.services.runs("patroni") and node.address
    ]


@rule(
    "GHA092",
    _S.ERROR,
    "Patroni replication or pg_rewind cannot authenticate",
    "Trust the Patroni nodes in postgresql['trust_auth_cidr_addresses'] (pg_rewind connects as the superuser "
    "gitlab-psql, which has no password before 19.1), and set patroni['replication_password'] to the password "
    "whose md5 is postgresql['sql_replication_password'].",
)
def peer_auth(lint: Lint) -> Iterator[Finding]:
    """Each replica streams from whichever member leads, and after a failover the old leader rewinds
    against the new one: every pair must authenticate both ways, for replication and for pg_rewind."""
    yield from _replication_auth(lint)
    yield from _rewind_auth(lint)


def _replication_auth(lint: Lint) -> Iterator[Finding]:
    members = _patroni(lint)
    for primary, primary_model in members:
        lines = pg_files.hba_lines(primary_model.input)
        user = pg_files.replication_user(primary_model.input)
        stored = primary_model.settings.get("postgresql", "sql_replication_password")
        for replica, replica_model in members:
            if replica is primary:
                continue
            line = pg_files.first_match(lines, "replication", user, str(replica.address))
            if line is None:
                yield lint.finding(
                    primary,
                    primary.get("postgresql['md5_auth_cidr_addresses']")
                    or primary.get("postgresql['trust_auth_cidr_addresses']"),
                    f"pg_hba.conf has no replication entry for {user} from {replica.label}: "
                    f"it cannot stream from this node after a failover",
                )
                continue
            if line.method == "trust":
                continue
            password = replica_model.settings.get("patroni", "replication_password")
            if not isinstance(password, str):
                yield lint.finding(
                    replica,
                    replica.get("postgresql['sql_replication_password']"),
                    f"{line.method} replication to {primary.label} needs a password, and patroni['replication_password'] "
                    "is not set: patroni.yaml sends none and pg_basebackup fails ('no password supplied')",
                )
            elif isinstance(stored, str) and pg_md5(password, user) != stored.removeprefix("md5"):
                yield lint.finding(
                    replica,
                    replica.get("patroni['replication_password']"),
                    f"patroni['replication_password'] is not the password of {primary.label}'s "
                    f"postgresql['sql_replication_password'] (md5 with user {user})",
                )


def _rewind_auth(lint: Lint) -> Iterator[Finding]:
    """pg_rewind connects as the superuser into `postgres`."""
    members = _patroni(lint)
    for node, model in members:
        if not patroni_files.dcs(model.input)["postgresql"]["use_pg_rewind"]:
            continue
        superuser_password = model.settings.get("postgresql", "sql_superuser_password")
        has_password = superuser_password is not None and Features(lint.target).patroni_superuser_password
        for other, other_model in members:
            if other is node:
                continue
            line = pg_files.first_match(
                pg_files.hba_lines(other_model.input), "postgres", pg_files.SUPERUSER, str(node.address)
            )
            if line is None or (line.method != "trust" and not has_password):
                why = "no pg_hba.conf entry" if line is None else f"{line.method} and no superuser password"
                yield lint.finding(
                    other,
                    other.get("postgresql['trust_auth_cidr_addresses']"),
                    f"{node.label} cannot pg_rewind against this node ({why} for {pg_files.SUPERUSER} from it): "
                    "after a failover the old leader cannot rejoin",
                )


@rule(
    "GHA093",
    _S.WARNING,
    "pg_rewind is on but wal_log_hints is off",
    "Set patroni['use_pg_rewind'] = true in gitlab.rb: only then does Omnibus turn wal_log_hints on.",
)
def rewind_hints(lint: Lint) -> Iterator[Finding]:
    """auto_detect_wal_log_hint reads the gitlab.rb value of use_pg_rewind, not its attribute default."""
    for node, model in _patroni(lint):
        dcs = patroni_files.dcs(model.input)
        if dcs["postgresql"]["use_pg_rewind"] and dcs["postgresql"]["parameters"].get("wal_log_hints") != "on":
            yield lint.finding(
                node,
                node.get("patroni['use_pg_rewind']") or _where(node, "patroni"),
                "pg_rewind is on (Omnibus' default) but wal_log_hints is off: Omnibus turns it on only when "
                "gitlab.rb sets patroni['use_pg_rewind'] = true itself, and without it (or data checksums, which "
                "Omnibus' initdb does not enable) a failed-over leader cannot rewind: it needs a manual reinit",
            )


# (key on the pointing node, the services that may answer, the port when none is written, what it is)
def _pointers(node: Node) -> Iterator[tuple[str, str, int | None, tuple[str, ...], str]]:
    """Every address a node's gitlab.rb points at: (key, host, port, services that may answer, what)."""
    db_host = node.value("gitlab_rails['db_host']")
    if isinstance(db_host, str):
        port = node.value("gitlab_rails['db_port']")
        yield (
            "gitlab_rails['db_host']",
            db_host,
            as_int(port, 5432),
            ("postgresql", "pgbouncer"),
            "Rails' database",
        )
    databases = node.value("pgbouncer['databases']")
    for name, settings in (databases or {}).items() if isinstance(databases, dict) else []:
        if isinstance(settings, dict) and isinstance(settings.get("host"), str):
            port = settings.get("port")
            yield (
                f"pgbouncer['databases']['{name}']['host']",
                settings["host"],
                as_int(port, 5432),
                ("postgresql",),
                f"PgBouncer's database {name}",
            )
    if node.has(Role.REDIS) or node.has(Role.SENTINEL) or node.has(Role.REDIS_CACHE) or node.has(Role.SENTINEL_CACHE):
        master = node.value("redis['master_ip']")
        if isinstance(master, str):
            port = node.value("redis['master_port']")
            yield (
                "redis['master_ip']",
                master,
                as_int(port, 6379),
                ("redis",),
                "the Redis master",
            )
    for key in ("gitlab_rails['redis_sentinels']", "gitlab_rails['redis_cache_sentinels']"):
        sentinels = node.value(key)
        for item in sentinels if isinstance(sentinels, list) else []:
            if isinstance(item, dict) and isinstance(item.get("host"), str):
                port = item.get("port")
                yield (key, item["host"], as_int(port, 26379), ("sentinel",), "a Sentinel")
    praefect_db = node.value("praefect['configuration']")
    if isinstance(praefect_db, dict) and isinstance(praefect_db.get("database"), dict):
        db = praefect_db["database"]
        if isinstance(db.get("host"), str):
            port = db.get("port")
            yield (
                "praefect['configuration'][:database][:host]",
                db["host"],
                as_int(port, 5432),
                ("postgresql", "pgbouncer"),
                "Praefect's database",
            )
    url = node.value("gitlab_rails['internal_api_url']")
    if isinstance(url, str) and "://" in url:
        host, port = address_port(url)
        if host:
            yield (
                "gitlab_rails['internal_api_url']",
                host,
                port or (443 if url.startswith("https") else 80),
                ("nginx",),
                "the Rails internal API",
            )


@rule(
    "GHA094",
    _S.ERROR,
    "an address points at a node where that service does not listen",
    "Point it at a node that runs the service, on the port that service listens on there.",
)
def pointers(lint: Lint) -> Iterator[Finding]:
    for node, _ in lint.parsed_nodes():
        for key, host, port, services, what in _pointers(node):
            target = lint.cluster.by_address(host)
            if target is None or (target is node and host in ("127.0.0.1", "localhost")):
                continue  # not a node of this cluster: other rules judge the address itself
            if target.haproxy is not None:
                ports = {p for section in target.haproxy.frontends() for _, p, _ in section.binds}
                if port in ports:
                    continue
                yield lint.finding(
                    node,
                    node.get(key),
                    f"{key}: {what} at {target.label}:{port}, but its HAProxy has no frontend there",
                )
                continue
            model = lint.modeled(target)
            if model is None:
                continue
            listening = {service: model.ports(service) for service in services}
            if any(port in ports for ports in listening.values()):
                continue
            running = [f"{TITLES[s]} on {', '.join(map(str, sorted(p)))}" for s, p in listening.items() if p]
            found = (
                "; it runs " + "; ".join(running)
                if running
                else f"; no {'/'.join(TITLES[s] for s in services)} runs there"
            )
            yield lint.finding(node, node.get(key), f"{key}: {what} at {target.label}:{port}{found}")
