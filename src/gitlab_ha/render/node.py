"""One node's gitlab.rb: the Omnibus roles line, then each role's section in a fixed order."""

from __future__ import annotations

from gitlab_ha.render import database, gitaly, monitoring, rails, redis
from gitlab_ha.render.common import consul_agent, node_exporter
from gitlab_ha.render.context import Context
from gitlab_ha.render.rb import RbBuilder
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role


def omnibus_roles(ctx: Context, node: Node) -> list[str]:
    roles: list[str] = []
    if node.has(Role.CONSUL):
        roles.append("consul_role")
    roles += redis.omnibus_roles(ctx, node)
    if node.has(Role.PATRONI):
        roles.append("patroni_role")
    if database.runs_pgbouncer(ctx, node):
        roles.append("pgbouncer_role")
    if node.has(Role.POSTGRES) or node.has(Role.PRAEFECT_POSTGRES):
        roles.append("postgres_role")
    if node.has(Role.GITALY) and ctx.features.gitaly_role:
        roles.append("gitaly_role")
    if node.has(Role.RAILS):
        roles.append("application_role")
    if node.has(Role.SIDEKIQ):
        roles.append("sidekiq_role")
    if node.has(Role.MONITORING):
        roles.append("monitoring_role")
    return roles


def render_gitlab_rb(ctx: Context, node: Node, source: str, *, first_run: bool = False) -> RbBuilder:
    """The node's steady-state gitlab.rb, or (`first_run`, the migrating Rails node only) the
    gitlab.rb.first-run that migrates the database straight against the leader."""
    topo = ctx.topo
    header = [
        f"gitlab.rb for {node.name} ({node.ip}): {', '.join(r.value for r in node.roles)}",
        f"Cluster {topo.name}, GitLab {topo.gitlab.version}-{topo.gitlab.edition}.",
        f"Rendered by gitlab-ha from {source}: change the topology and render again rather than",
        "editing this file. It holds secrets: keep it 0600, owned by root.",
    ]
    if first_run:
        header += [
            "",
            "FIRST RUN ONLY (and on every upgrade): the same settings as gitlab.rb, but migrations on",
            "and the database reached at the Patroni leader, not through PgBouncer. Reconfigure once",
            "with this file, then install gitlab.rb again (RUNBOOK.md).",
        ]
    rb = RbBuilder(header)
    rb.section("")
    roles = omnibus_roles(ctx, node)
    if roles:
        rb.call("roles", roles)
    if node.has(Role.STANDALONE) or rails.is_app(node) or node.has(Role.PRAEFECT):
        rb.call("external_url", topo.gitlab.external_url)
    if node.has(Role.STANDALONE):
        rails.object_storage(ctx, rb)
        return rb
    if not rails.is_app(node):
        rb.set("gitlab_rails", "auto_migrate", value=False, comment="migrations run on one Rails node only")
    redis.render(ctx, node, rb)
    database.render_patroni(ctx, node, rb)
    database.render_pgbouncer(ctx, node, rb)
    database.render_local_pgbouncer(ctx, node, rb)
    database.render_postgres(ctx, node, rb)
    database.render_praefect_postgres(ctx, node, rb)
    gitaly.render_praefect(ctx, node, rb)
    gitaly.render_gitaly(ctx, node, rb)
    rails.render(ctx, node, rb, first_run=first_run)
    monitoring.render(ctx, node, rb)
    consul_agent(ctx, node, rb)
    node_exporter(node, rb)
    return rb
