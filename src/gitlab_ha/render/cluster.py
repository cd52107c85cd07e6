"""Render a whole cluster into artifacts (in memory): every node's files, the runbook, the manifest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from gitlab_ha.render import consul_tls, database, haproxy, runbook, sshd
from gitlab_ha.render.context import Context
from gitlab_ha.render.node import render_gitlab_rb
from gitlab_ha.topology.roles import Role


@dataclass(frozen=True)
class Artifact:
    path: str  # relative to the output folder
    node: str | None
    role: str
    content: str
    secret: bool

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content.encode()).hexdigest()


def render_cluster(ctx: Context, source: str) -> list[Artifact]:
    """Every file of the cluster, in a stable order; the manifest last."""
    out: list[Artifact] = []
    consul_tls.check_store(ctx)
    for node in ctx.topo.nodes:
        roles = ",".join(r.value for r in node.roles)
        if node.omnibus:
            rb = render_gitlab_rb(ctx, node, source)
            text = rb.text()
            out.append(Artifact(f"{node.name}/gitlab.rb", node.name, roles, text, True))
            migrating = ctx.migrating_rails
            if migrating is not None and migrating.name == node.name:
                first_run = render_gitlab_rb(ctx, node, source, first_run=True).text()
                out.append(Artifact(f"{node.name}/gitlab.rb.first-run", node.name, roles, first_run, True))
        for tls in consul_tls.files(ctx, node):
            out.append(Artifact(f"{node.name}/{tls.name}", node.name, roles, ctx.secrets.get(tls.entry), tls.secret))
        if node.has(Role.INTERNAL_LB):
            out.append(
                Artifact(f"{node.name}/haproxy.cfg", node.name, "internal_lb", haproxy.internal(ctx, node), False)
            )
        if node.has(Role.EXTERNAL_LB):
            out.append(
                Artifact(f"{node.name}/haproxy.cfg", node.name, "external_lb", haproxy.external(ctx, node), False)
            )
        if node.has(Role.RAILS):
            out.append(Artifact(f"{node.name}/sshd_gitlab.conf", node.name, "rails", sshd.snippet(), False))
        if node.has(Role.PGBOUNCER):
            out.append(Artifact(f"{node.name}/pgpass", node.name, "pgbouncer", database.pgpass(ctx), True))
        if node.has(Role.PRAEFECT_POSTGRES):
            out.append(
                Artifact(
                    f"{node.name}/praefect-db.sql",
                    node.name,
                    "praefect_postgres",
                    database.praefect_db_sql(ctx),
                    True,
                )
            )
    out.append(Artifact("RUNBOOK.md", None, "runbook", runbook.runbook(ctx, source), False))
    out.append(Artifact("manifest.json", None, "manifest", manifest(ctx, out), False))
    return out


def manifest(ctx: Context, artifacts: list[Artifact]) -> str:
    data = {
        "cluster": ctx.topo.name,
        "gitlab_version": str(ctx.topo.gitlab.version),
        "edition": ctx.topo.gitlab.edition,
        "files": [
            {"path": a.path, "node": a.node, "role": a.role, "sha256": a.sha256, "secret": a.secret} for a in artifacts
        ],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
