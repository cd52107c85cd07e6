"""The monitoring node: Prometheus finding its targets through Consul (or a static list)."""

from __future__ import annotations

from gitlab_ha.render.context import Context
from gitlab_ha.render.rb import RbBuilder
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role


def render(ctx: Context, node: Node, rb: RbBuilder) -> None:
    if not node.has(Role.MONITORING):
        return
    rb.section("Prometheus")
    rb.set("prometheus", "listen_address", value=f"{node.ip}:9090")
    rb.set("prometheus", "monitor_kubernetes", value=False)
    if not ctx.has_consul:
        targets = sorted(f"{n.ip}:9100" for n in ctx.topo.nodes if n.omnibus and n.name != node.name)
        rb.set(
            "prometheus",
            "scrape_configs",
            value=[{"job_name": "node", "static_configs": [{"targets": targets}]}],
        )
