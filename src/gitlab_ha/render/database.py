"""GitLab's PostgreSQL: Patroni nodes (HA) or one plain PostgreSQL node; the Praefect database."""

from __future__ import annotations

from gitlab_ha.render import consul_tls
from gitlab_ha.render.context import PRAEFECT_DB, PRAEFECT_DB_USER, Context
from gitlab_ha.render.rb import RbBuilder
from gitlab_ha.rubycfg.emit import Words
from gitlab_ha.topology.facts import PORTS, replication_slots, wal_senders
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role

# Nodes that log in to GitLab's PostgreSQL with a password (the Patroni peers are trusted instead).
DB_CLIENTS = (Role.RAILS, Role.SIDEKIQ, Role.PGBOUNCER, Role.INTERNAL_LB)


def render_patroni(ctx: Context, node: Node, rb: RbBuilder) -> None:
    if not node.has(Role.PATRONI):
        return
    db_nodes = ctx.nodes(Role.PATRONI)
    slots = replication_slots(len(db_nodes))
    rb.section("PostgreSQL managed by Patroni")
    rb.set("postgresql", "listen_address", value="0.0.0.0")
    rb.set(
        "patroni",
        "postgresql",
        "max_replication_slots",
        value=slots,
        comment=f"2 x {len(db_nodes)} database nodes",
    )
    rb.set("patroni", "postgresql", "max_wal_senders", value=wal_senders(slots), comment="replication slots + 1")
    rb.set(
        "patroni",
        "use_pg_rewind",
        value=True,
        comment="said here, not left to the default: only then does Omnibus turn wal_log_hints on",
    )
    rb.set("patroni", "username", value=ctx.secrets.get("patroni_api_username"))
    rb.set("patroni", "password", value=ctx.secrets.get("patroni_api_password"))
    rb.set(
        "patroni",
        "allowlist",
        value=Words([*ctx.cidrs(Role.PATRONI, Role.PGBOUNCER, Role.INTERNAL_LB), "127.0.0.1/32"]),
        comment="who may call Patroni's REST API",
    )
    rb.set("postgresql", "pgbouncer_user_password", value=ctx.secrets.md5("pgbouncer_password"))
    rb.set("postgresql", "sql_replication_password", value=ctx.secrets.md5("replication_password"))
    rb.set("postgresql", "sql_user_password", value=ctx.secrets.md5("gitlab_db_password"))
    rb.set(
        "patroni",
        "replication_password",
        value=ctx.secrets.get("replication_password"),
        comment="the plaintext Patroni sends as gitlab_replicator (none by default)",
    )
    peers = ctx.cidrs(Role.PATRONI)
    rb.comment(
        "pg_hba.conf: trust for loopback and the database peers only. Patroni's pg_rewind runs as the\n"
        "superuser gitlab-psql without a password (Omnibus renders no rewind user, and a superuser\n"
        "password only from 19.1 with postgresql['sql_superuser_password']), so md5 would refuse it.\n"
        "Replication as gitlab_replicator has its password above too. Every other client uses md5."
    )
    rb.set("postgresql", "trust_auth_cidr_addresses", value=Words(["127.0.0.1/32", *peers]))
    rb.set(
        "postgresql",
        "md5_auth_cidr_addresses",
        value=Words([cidr for cidr in ctx.cidrs(*DB_CLIENTS) if cidr not in peers]),
        comment="password logins from these nodes only",
    )
    rb.set("consul", "services", value=Words(["postgresql"]), comment="Consul check passes on the leader only")
    _ha(ctx, rb)
    consul_tls.patroni(ctx, node, rb)
    rb.section("Monitoring")
    rb.set("postgres_exporter", "listen_address", value=f"{node.ip}:{PORTS['postgres_exporter']}")


def _ha(ctx: Context, rb: RbBuilder) -> None:
    """The topology's failover timing (`ha:`); unset values keep Omnibus' defaults (nothing written)."""
    ha = ctx.topo.ha
    timing = {
        "ttl": ha.patroni.ttl,
        "loop_wait": ha.patroni.loop_wait,
        "retry_timeout": ha.patroni.retry_timeout,
        "maximum_lag_on_failover": ha.patroni.maximum_lag_on_failover,
    }
    if any(v is not None for v in timing.values()) or ha.patroni.session_checks or ha.consul.check_interval:
        rb.section("Failover timing (topology ha:)")
    for key, value in timing.items():
        if value is not None:
            rb.set("patroni", key, value=value)
    if ha.patroni.service_check_interval is not None:
        rb.set("patroni", "consul", "service_check_interval", value=ha.patroni.service_check_interval)
    if ha.patroni.session_checks is not None:
        rb.set(
            "patroni",
            "consul",
            "checks",
            value=list(ha.patroni.session_checks),
            comment="the leader session ends when these checks fail (serfHealth: the node is seen dead)",
        )
    if ha.consul.check_interval is not None:
        rb.set("consul", "internal", "postgresql_service_check_interval", value=ha.consul.check_interval)


def render_postgres(ctx: Context, node: Node, rb: RbBuilder) -> None:
    """A plain PostgreSQL for GitLab (no Patroni), as in the 2k reference architecture."""
    if not node.has(Role.POSTGRES):
        return
    rb.section("PostgreSQL (single node, no failover)")
    rb.set("postgresql", "sql_user_password", value=ctx.secrets.md5("gitlab_db_password"))
    _plain_server(ctx, node, rb, (Role.RAILS, Role.SIDEKIQ), "password logins from Rails and Sidekiq only")


def render_praefect_postgres(ctx: Context, node: Node, rb: RbBuilder) -> None:
    if not node.has(Role.PRAEFECT_POSTGRES):
        return
    rb.section("Praefect's PostgreSQL")
    rb.comment(
        f"The {PRAEFECT_DB_USER!r} role and the {PRAEFECT_DB!r} database are created by praefect-db.sql\n"
        "(RUNBOOK.md); Omnibus only runs the server here."
    )
    _plain_server(ctx, node, rb, (Role.PRAEFECT,), "only the Praefect nodes log in here")


def _plain_server(ctx: Context, node: Node, rb: RbBuilder, clients: tuple[Role, ...], why: str) -> None:
    """A PostgreSQL Omnibus runs without Patroni: trust only loopback, passwords only from `clients`."""
    rb.set("postgresql", "listen_address", value="0.0.0.0")
    rb.set("postgresql", "port", value=PORTS["postgres"])
    rb.set("postgresql", "trust_auth_cidr_addresses", value=Words(["127.0.0.1/32"]))
    rb.set("postgresql", "md5_auth_cidr_addresses", value=Words(ctx.cidrs(*clients)), comment=why)
    rb.section("Monitoring")
    rb.set("postgres_exporter", "listen_address", value=f"{node.ip}:{PORTS['postgres_exporter']}")


def praefect_db_sql(ctx: Context) -> str:
    """SQL that creates Praefect's role and database with the md5 hash, never the plaintext."""
    hashed = "md5" + ctx.secrets.md5("praefect_db_password")
    return (
        "-- Run on the Praefect PostgreSQL node with psql, as the database superuser (RUNBOOK.md).\n"
        "-- Safe to run again: it creates what is missing and sets the password (after a rotation too).\n"
        "DO $$\n"
        "BEGIN\n"
        f"  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PRAEFECT_DB_USER}') THEN\n"
        f"    CREATE ROLE {PRAEFECT_DB_USER} WITH LOGIN CREATEDB PASSWORD '{hashed}';\n"
        "  ELSE\n"
        f"    ALTER ROLE {PRAEFECT_DB_USER} WITH LOGIN CREATEDB PASSWORD '{hashed}';\n"
        "  END IF;\n"
        "END\n"
        "$$;\n"
        f"SELECT 'CREATE DATABASE {PRAEFECT_DB} WITH OWNER {PRAEFECT_DB_USER} ENCODING ''UTF8'''\n"
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{PRAEFECT_DB}') \\gexec\n"
    )


def local_pgbouncer(ctx: Context, node: Node) -> bool:
    """Whether this Patroni node gets its own PgBouncer for Rails' read load balancing.

    GitLab's database load balancing connects to every database node on `db_port` (6432), so each
    needs a PgBouncer in front of its local PostgreSQL (no watcher: it never follows the leader).
    A node that already runs the leader-following PgBouncer (the seed's layout) cannot hold two.
    """
    return node.has(Role.PATRONI) and not node.has(Role.PGBOUNCER) and len(ctx.nodes(Role.PATRONI)) > 1


def runs_pgbouncer(ctx: Context, node: Node) -> bool:
    """A PgBouncer behind the internal LB, or a database node's local one for read load balancing."""
    return node.has(Role.PGBOUNCER) or local_pgbouncer(ctx, node)


def pgbouncer_exporter_address(node: Node) -> str:
    """The PgBouncer exporter, on the node's own address: Omnibus never registers it in Consul, so the
    monitoring node scrapes it there (monitoring.py)."""
    return f"{node.ip}:{PORTS['pgbouncer_exporter']}"


def render_local_pgbouncer(ctx: Context, node: Node, rb: RbBuilder) -> None:
    if not local_pgbouncer(ctx, node):
        return
    pgbouncer_md5 = ctx.secrets.md5("pgbouncer_password")
    rb.section("PgBouncer for read load balancing: this node's PostgreSQL only, no Consul watch")
    rb.set("pgbouncer", "listen_addr", value="0.0.0.0")
    rb.set("pgbouncer", "listen_port", value=PORTS["pgbouncer"])
    rb.set("pgbouncer", "admin_users", value=Words(["pgbouncer"]))
    rb.set("pgbouncer", "users", value={"pgbouncer": {"password": pgbouncer_md5}})
    rb.set(
        "pgbouncer",
        "databases",
        value={ctx.topo.database.name: {"host": "127.0.0.1", "user": "pgbouncer", "password": pgbouncer_md5}},
    )
    rb.set("pgbouncer_exporter", "listen_address", value=pgbouncer_exporter_address(node))


def render_pgbouncer(ctx: Context, node: Node, rb: RbBuilder) -> None:
    if not node.has(Role.PGBOUNCER):
        return
    pgbouncer_md5 = ctx.secrets.md5("pgbouncer_password")
    rb.section("PgBouncer, retargeted to the Patroni leader by a Consul watch")
    rb.set("pgbouncer", "listen_addr", value="0.0.0.0")
    rb.set("pgbouncer", "listen_port", value=PORTS["pgbouncer"])
    rb.set("pgbouncer", "admin_users", value=Words(["pgbouncer", "gitlab-consul"]))
    rb.set(
        "pgbouncer",
        "users",
        value={
            "gitlab-consul": {"password": ctx.secrets.md5("consul_db_password")},
            "pgbouncer": {"password": pgbouncer_md5},
        },
    )
    rb.set(
        "pgbouncer",
        "databases",
        value={
            ctx.topo.database.name: {
                "host": "127.0.0.1",
                "user": "pgbouncer",
                "password": pgbouncer_md5,
            }
        },
        comment="host is rewritten to the leader by the watcher",
    )
    rb.set("consul", "watchers", value=Words(["postgresql"]))
    retry = ctx.topo.ha.pgbouncer.server_login_retry
    if retry is not None:
        rb.set(
            "pgbouncer",
            "server_login_retry",
            value=retry,
            comment="topology ha: after a failed connection to the leader, try again this soon (Omnibus 15)",
        )
    rb.section("Monitoring")
    rb.set("pgbouncer_exporter", "listen_address", value=pgbouncer_exporter_address(node))


def pgpass(ctx: Context) -> str:
    """The .pgpass `gitlab-ctl write-pgpass` would write for the gitlab-consul user."""
    return f"127.0.0.1:{PORTS['pgbouncer']}:pgbouncer:pgbouncer:{ctx.secrets.get('pgbouncer_password')}\n"
