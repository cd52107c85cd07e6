"""Settings shared by several node kinds: Consul client, exporters, services switched off."""

from __future__ import annotations

from gitlab_ha.render import consul_tls
from gitlab_ha.render.context import Context
from gitlab_ha.render.rb import RbBuilder
from gitlab_ha.rubycfg.emit import Sym, Words
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role

# Services a bare Omnibus install starts; a node that runs only Praefect (or Gitaly before the
# gitaly_role existed) switches them off one by one, as GitLab's docs do.
BUNDLED_SERVICES = (
    "gitaly",
    "postgresql",
    "redis",
    "nginx",
    "puma",
    "sidekiq",
    "gitlab_workhorse",
    "prometheus",
    "alertmanager",
    "gitlab_exporter",
    "gitlab_kas",
)


def disable_bundled(rb: RbBuilder, keep: tuple[str, ...] = ()) -> None:
    rb.section("Services this node does not run")
    for service in BUNDLED_SERVICES:
        if service not in keep:
            rb.set(service, "enable", value=False)


def consul_agent(ctx: Context, node: Node, rb: RbBuilder) -> None:
    """Consul on every Omnibus node: a server on `consul` nodes, a client elsewhere."""
    if not ctx.has_consul:
        return
    server = node.has(Role.CONSUL)
    rb.section("Consul " + ("server" if server else "client"))
    if not server:
        rb.set("consul", "enable", value=True)
    configuration: dict[Sym, object] = {}
    if server:
        configuration[Sym("server")] = True
        configuration[Sym("bootstrap_expect")] = len(ctx.nodes(Role.CONSUL))
    configuration[Sym("retry_join")] = Words(ctx.ips(Role.CONSUL))
    configuration[Sym("datacenter")] = ctx.topo.consul.datacenter
    configuration[Sym("bind_addr")] = node.ip
    if consul_tls.enabled(ctx):
        # Omnibus has no key for it: without it any certificate of the CA (a client's) could pose as a server
        configuration[Sym("tls")] = {Sym("internal_rpc"): {Sym("verify_server_hostname"): True}}
    rb.set("consul", "configuration", value=configuration)
    rb.set("consul", "monitoring_service_discovery", value=True)
    rb.set("consul", "encryption_key", value=ctx.secrets.get("consul_gossip_key"))
    rb.set("consul", "encryption_verify_incoming", value=True)
    rb.set("consul", "encryption_verify_outgoing", value=True)
    consul_tls.agent(ctx, node, rb)


def node_exporter(node: Node, rb: RbBuilder) -> None:
    rb.section("Monitoring")
    rb.set("node_exporter", "listen_address", value=f"{node.ip}:{PORTS['node_exporter']}")
