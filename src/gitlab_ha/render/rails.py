"""Rails (Puma, Workhorse, NGINX) and Sidekiq: database, Redis, Gitaly and object storage clients."""

from __future__ import annotations

from gitlab_ha.render.context import Context
from gitlab_ha.render.gitaly import rails_storages
from gitlab_ha.render.monitoring import nginx_status_allow
from gitlab_ha.render.rb import RbBuilder
from gitlab_ha.render.redis import master_name, sentinel_nodes
from gitlab_ha.rubycfg.emit import Words
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.model import OBJECT_TYPES, Node
from gitlab_ha.topology.roles import Role


def is_app(node: Node) -> bool:
    return node.has(Role.RAILS) or node.has(Role.SIDEKIQ)


def db_endpoint(ctx: Context) -> tuple[str, int]:
    """Where Rails reaches GitLab's database in normal operation."""
    lb = ctx.internal_lb
    if ctx.topo.has_role(Role.PGBOUNCER) and lb is not None:
        return lb.ip, PORTS["pgbouncer"]
    postgres = ctx.one(Role.POSTGRES) or ctx.one(Role.PATRONI)
    return (postgres.ip if postgres else "127.0.0.1"), PORTS["postgres"]


def migration_endpoint(ctx: Context) -> tuple[str, int]:
    """Where the migrating node reaches the database for its first run: PostgreSQL's port on the
    Patroni leader (the internal LB's leader frontend), never PgBouncer's transaction pooling."""
    lb = ctx.internal_lb
    patroni = ctx.nodes(Role.PATRONI)
    if lb is not None and patroni:
        return lb.ip, PORTS["postgres"]
    db = ctx.one(Role.POSTGRES) or (patroni[0] if patroni else None)
    return (db.ip if db else "127.0.0.1"), PORTS["postgres"]


def render(ctx: Context, node: Node, rb: RbBuilder, *, first_run: bool = False) -> None:
    """Rails and Sidekiq settings. No steady-state file migrates: Omnibus' "already migrated" marker
    (upgrade-status/db-migrate-<md5 of db host, port, ...>-<REVISION>) would make a node with
    auto_migrate true behind PgBouncer migrate through it. `first_run` renders the migrating
    node's gitlab.rb.first-run instead: auto_migrate on, straight to the leader."""
    if not is_app(node):
        return
    migrating = ctx.migrating_rails
    rb.section("GitLab Rails")
    if first_run:
        comment = "first run only: this reconfigure migrates, then the steady gitlab.rb goes back"
    elif migrating is not None and migrating.name == node.name:
        comment = "migrations run from gitlab.rb.first-run on this node (RUNBOOK.md), never through PgBouncer"
    else:
        where = migrating.name if migrating is not None else "the migrating node"
        comment = f"migrations run from {where}'s gitlab.rb.first-run (RUNBOOK.md)"
    rb.set("gitlab_rails", "auto_migrate", value=first_run, comment=comment)
    _database(ctx, rb, first_run=first_run)
    _redis(ctx, rb)
    _gitaly(ctx, rb)
    if node.has(Role.RAILS):
        _web(ctx, node, rb)
    if node.has(Role.SIDEKIQ):
        _sidekiq(ctx, node, rb)
    elif node.has(Role.RAILS):
        rb.section("Sidekiq")
        rb.set(
            "sidekiq",
            "enable",
            value=False,
            comment="application_role's rails group includes Sidekiq; it runs on the Sidekiq nodes",
        )
    object_storage(ctx, rb)


def _database(ctx: Context, rb: RbBuilder, *, first_run: bool) -> None:
    host, port = migration_endpoint(ctx) if first_run else db_endpoint(ctx)
    rb.section("Database")
    if first_run:
        via = "PostgreSQL"
        if ctx.nodes(Role.PATRONI) and ctx.internal_lb is not None:
            via = "first run: internal load balancer -> the Patroni leader, not PgBouncer"
    else:
        via = "internal load balancer -> PgBouncer" if port == PORTS["pgbouncer"] else "PostgreSQL"
    rb.set("gitlab_rails", "db_host", value=host, comment=via)
    rb.set("gitlab_rails", "db_port", value=port)
    rb.set("gitlab_rails", "db_database", value=ctx.topo.database.name)
    rb.set("gitlab_rails", "db_password", value=ctx.secrets.get("gitlab_db_password"))
    patroni = ctx.nodes(Role.PATRONI)
    if len(patroni) > 1:
        follows_leader = all(n.has(Role.PGBOUNCER) for n in patroni)
        rb.set(
            "gitlab_rails",
            "db_load_balancing",
            value={"hosts": [n.ip for n in patroni]},
            comment=(
                "the database nodes; their PgBouncer follows the leader, so reads reach the primary "
                "until they get PgBouncers of their own (separate pgbouncer nodes)"
                if follows_leader
                else "read queries spread over the database nodes' local PgBouncers"
            ),
        )


def _sentinel_list(ctx: Context, cache: bool) -> list[dict[str, object]]:
    return [{"host": n.ip, "port": PORTS["sentinel"]} for n in sentinel_nodes(ctx, cache)]


def _redis(ctx: Context, rb: RbBuilder) -> None:
    rb.section("Redis")
    password = ctx.secrets.get("redis_password")
    if ctx.topo.has_role(Role.SENTINEL):
        rb.set("redis", "master_name", value=master_name(ctx, cache=False))
        rb.set("redis", "master_password", value=password)
        rb.set("gitlab_rails", "redis_sentinels", value=_sentinel_list(ctx, cache=False))
    else:
        master = ctx.topo.redis_master()
        rb.set("gitlab_rails", "redis_host", value=master.ip if master else "127.0.0.1")
        rb.set("gitlab_rails", "redis_port", value=PORTS["redis"])
        rb.set("gitlab_rails", "redis_password", value=password)
    if ctx.topo.has_role(Role.REDIS_CACHE):
        rb.set(
            "gitlab_rails",
            "redis_cache_instance",
            value=f"redis://:{password}@{master_name(ctx, cache=True)}",
        )
        rb.set("gitlab_rails", "redis_cache_sentinels", value=_sentinel_list(ctx, cache=True))


def _gitaly(ctx: Context, rb: RbBuilder) -> None:
    rb.section("Repositories (Gitaly)")
    storages = rails_storages(ctx)
    if ctx.features.repositories_storages:
        rb.set("gitlab_rails", "repositories_storages", value=storages)
    else:
        rb.call("git_data_dirs", storages)
    rb.set("gitaly", "enable", value=False, comment="application_role's rails group includes Gitaly; not here")


def _web(ctx: Context, node: Node, rb: RbBuilder) -> None:
    rb.section("Web: TLS ends at the external load balancer, NGINX serves HTTP")
    since = ctx.features.application_role_enables_nginx
    rb.set(
        "nginx",
        "enable",
        value=True,
        comment=(
            "application_role enables NGINX from 17.4 only; said explicitly at every release"
            if since
            else "application_role does not start NGINX before 17.4: without this nothing listens on :80"
        ),
    )
    # From 19.2 NGINX's Rails-facing keys live under gitlab_rails['nginx']; the old nginx[...] forms
    # still work but warn at every reconfigure. nginx['enable'] and nginx['status'] stay top-level.
    web: tuple[str, ...] = ("gitlab_rails", "nginx") if ctx.features.rails_nginx_keys else ("nginx",)
    rb.set(*web, "listen_port", value=PORTS["rails_http"])
    rb.set(*web, "listen_https", value=False)
    lbs = ctx.cidrs(Role.INTERNAL_LB, Role.EXTERNAL_LB)
    if lbs:
        rb.set(*web, "real_ip_trusted_addresses", value=Words(lbs))
        rb.set("gitlab_rails", "trusted_proxies", value=Words(lbs))
    rb.set(
        "gitlab_rails",
        "monitoring_whitelist",
        value=Words(["127.0.0.0/8", *lbs, *ctx.cidrs(Role.MONITORING)]),
        comment="load balancer health checks reach /-/readiness",
    )
    nginx_status_allow(ctx, rb)
    rb.set("gitlab_workhorse", "prometheus_listen_addr", value=f"{node.ip}:{PORTS['workhorse_metrics']}")
    rb.set("puma", "listen", value="0.0.0.0")


def _sidekiq(ctx: Context, node: Node, rb: RbBuilder) -> None:
    rb.section("Sidekiq")
    processes = 2 if node.has(Role.RAILS) else 4
    rb.set("sidekiq", "listen_address", value="0.0.0.0")
    rb.set(
        "sidekiq",
        "queue_groups",
        value=["*"] * processes,
        comment="one process per group; at most one per core",
    )
    rb.set("sidekiq", ctx.features.sidekiq_concurrency_key, value=20)


def object_storage(ctx: Context, rb: RbBuilder) -> None:
    store = ctx.topo.object_storage
    if store is None:
        return
    rb.section("Object storage")
    connection: dict[str, object] = {"provider": store.provider}
    if store.provider == "AWS":
        connection["region"] = store.region
    if store.credentials.use_iam_profile:
        connection["use_iam_profile"] = True
    elif store.provider == "Google" and store.credentials.file:
        connection["google_json_key_location"] = store.credentials.file
    connection.update(ctx.object_credentials)
    rb.set("gitlab_rails", "object_store", "enabled", value=True)
    rb.set("gitlab_rails", "object_store", "proxy_download", value=False)
    rb.set("gitlab_rails", "object_store", "connection", value=connection)
    for kind in OBJECT_TYPES:
        if kind in store.buckets:
            rb.set("gitlab_rails", "object_store", "objects", kind, "bucket", value=store.buckets[kind])
