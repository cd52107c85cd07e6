"""The monitoring node: Prometheus finds most targets through Consul; what Consul cannot give it is
listed statically in `prometheus['scrape_configs']`."""

from __future__ import annotations

from gitlab_ha.render.context import Context
from gitlab_ha.render.database import pgbouncer_exporter_address, runs_pgbouncer
from gitlab_ha.render.gitaly import praefect_metrics_address
from gitlab_ha.render.rb import RbBuilder
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role


def _job(name: str, targets: list[str]) -> dict[str, object]:
    return {"job_name": name, "static_configs": [{"targets": targets}]}


def render(ctx: Context, node: Node, rb: RbBuilder) -> None:
    if not node.has(Role.MONITORING):
        return
    rb.section("Prometheus")
    rb.set("prometheus", "listen_address", value=f"{node.ip}:{PORTS['prometheus']}")
    rb.set("prometheus", "monitor_kubernetes", value=False)
    jobs: list[dict[str, object]] = []
    notes: list[str] = []
    replaces = ctx.features.prometheus_user_job_replaces_default
    if not ctx.has_consul:
        # Omnibus generates a `node` job for this node's own exporter; from 18.9 ours replaces it.
        others = [n for n in ctx.topo.nodes if n.omnibus and (replaces or n.name != node.name)]
        name = "node" if replaces else "nodes"
        jobs.append(_job(name, [f"{n.ip}:{PORTS['node_exporter']}" for n in others]))
        notes.append(
            "node: every node's exporter (no Consul to discover them); it replaces Omnibus' own node job"
            if replaces
            else "nodes: the other nodes' exporters (no Consul); Omnibus' own node job scrapes this one, and\n"
            "  before 18.9 a second job named node would make Prometheus refuse the whole configuration"
        )
    praefects = ctx.nodes(Role.PRAEFECT)
    if praefects:
        jobs.append(_job("praefect", [praefect_metrics_address(n) for n in praefects]))
        notes.append("praefect: Omnibus registers it in Consul but generates no job for it")
    pgbouncers = [n for n in ctx.topo.nodes if runs_pgbouncer(ctx, n)]
    if pgbouncers:
        jobs.append(_job("pgbouncer", [pgbouncer_exporter_address(n) for n in pgbouncers]))
        notes.append(
            "pgbouncer: the exporter is never registered in Consul"
            + ("; this name replaces 18.9's default job, which looks for it there" if replaces else "")
        )
    if jobs:
        rb.comment("Static jobs for what Consul discovery does not cover:\n" + "\n".join(f"- {n}" for n in notes))
        rb.set("prometheus", "scrape_configs", value=jobs)


def nginx_status_allow(ctx: Context, rb: RbBuilder) -> None:
    """Rails' NGINX status page (:8060, the `nginx` job) answers loopback only by default."""
    monitoring = ctx.ips(Role.MONITORING)
    if monitoring:
        rb.set(
            "nginx",
            "status",
            "options",
            "allow",
            value=["127.0.0.1", *monitoring],
            comment="the monitoring node scrapes NGINX's status page",
        )
