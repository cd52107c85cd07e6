"""Praefect (the Gitaly Cluster router) and Gitaly storage nodes."""

from __future__ import annotations

from gitlab_ha.render.common import disable_bundled
from gitlab_ha.render.context import PRAEFECT_DB, PRAEFECT_DB_USER, Context
from gitlab_ha.render.rb import RbBuilder
from gitlab_ha.rubycfg.emit import Sym
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role

GIT_DATA = "/var/opt/gitlab/git-data/repositories"
VIRTUAL_STORAGE = "default"


def gitaly_address(node: Node) -> str:
    return f"tcp://{node.ip}:{PORTS['gitaly']}"


def praefect_metrics_address(node: Node) -> str:
    """Praefect's Prometheus endpoint, on the node's own address so the monitoring node reaches it."""
    return f"{node.ip}:{PORTS['praefect_metrics']}"


def render_praefect(ctx: Context, node: Node, rb: RbBuilder) -> None:
    if not node.has(Role.PRAEFECT):
        return
    disable_bundled(rb)
    rb.section("Praefect")
    migrating = ctx.migrating_praefect
    first = migrating is not None and migrating.name == node.name
    rb.set("praefect", "enable", value=True)
    rb.set(
        "praefect",
        "auto_migrate",
        value=first,
        comment="only this Praefect node migrates" if first else "the first Praefect node migrates",
    )
    rb.set("gitlab_rails", "rake_cache_clear", value=False)
    praefect_db = ctx.one(Role.PRAEFECT_POSTGRES)
    db_host = praefect_db.ip if praefect_db is not None else ""
    database = {
        Sym("host"): db_host,
        Sym("port"): PORTS["postgres"],
        Sym("user"): PRAEFECT_DB_USER,
        Sym("password"): ctx.secrets.get("praefect_db_password"),
        Sym("dbname"): PRAEFECT_DB,
        Sym("session_pooled"): {
            Sym("host"): db_host,
            Sym("port"): PORTS["postgres"],
            Sym("user"): PRAEFECT_DB_USER,
            Sym("password"): ctx.secrets.get("praefect_db_password"),
            Sym("dbname"): PRAEFECT_DB,
        },
    }
    storages = [
        {
            Sym("storage"): ctx.storage_name(gitaly),
            Sym("address"): gitaly_address(gitaly),
            Sym("token"): ctx.secrets.get("praefect_internal_token"),
        }
        for gitaly in ctx.nodes(Role.GITALY)
    ]
    rb.set(
        "praefect",
        "configuration",
        value={
            Sym("listen_addr"): f"0.0.0.0:{PORTS['praefect']}",
            Sym("prometheus_listen_addr"): praefect_metrics_address(node),
            Sym("auth"): {Sym("token"): ctx.secrets.get("praefect_external_token")},
            Sym("database"): database,
            Sym("virtual_storage"): [{Sym("name"): VIRTUAL_STORAGE, Sym("node"): storages}],
        },
    )


def render_gitaly(ctx: Context, node: Node, rb: RbBuilder) -> None:
    if not node.has(Role.GITALY):
        return
    if not ctx.features.gitaly_role:
        disable_bundled(rb, keep=("gitaly",))
        rb.section("Gitaly")
        rb.set("gitaly", "enable", value=True)
    else:
        rb.section("Gitaly")
    rb.set("gitlab_rails", "internal_api_url", value=ctx.internal_url, comment="Rails' internal API")
    rb.set(
        "gitaly",
        "configuration",
        value={
            Sym("listen_addr"): f"0.0.0.0:{PORTS['gitaly']}",
            Sym("prometheus_listen_addr"): f"{node.ip}:{PORTS['gitaly_metrics']}",
            Sym("auth"): {Sym("token"): ctx.secrets.get("praefect_internal_token")},
            Sym("pack_objects_cache"): {Sym("enabled"): True},
            Sym("storage"): [{Sym("name"): ctx.storage_name(node), Sym("path"): GIT_DATA}],
        },
    )


def rails_storages(ctx: Context) -> dict[str, dict[str, str]]:
    """Storage name → how Rails reaches it: Praefect through the internal LB, else each Gitaly."""
    lb = ctx.internal_lb
    if ctx.topo.has_role(Role.PRAEFECT) and lb is not None:
        return {
            VIRTUAL_STORAGE: {
                "gitaly_address": f"tcp://{lb.ip}:{PORTS['praefect']}",
                "gitaly_token": ctx.secrets.get("praefect_external_token"),
            }
        }
    return {
        ctx.storage_name(gitaly): {
            "gitaly_address": gitaly_address(gitaly),
            "gitaly_token": ctx.secrets.get("praefect_internal_token"),
        }
        for gitaly in ctx.nodes(Role.GITALY)
    }
