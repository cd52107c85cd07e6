"""Consul TLS (topology `consul.tls`): the `consul[...]` keys of every agent, Patroni's `patroni['consul']`
keys, and the certificate files each node gets from the secrets store.

The variants are the seed's three (docs/topology.md):

| variant | servers | client agents | Patroni |
| --- | --- | --- | --- |
| `server` | TLS, `tls_verify_client` false | TLS, their own certificate (to serve HTTPS) | https, checks the agent |
| `mutual` | TLS, verify client agents | TLS, present their certificate to the servers | https, checks the agent |
| `mutual_patroni` | as `mutual` | as `mutual`, and verify HTTPS clients | https, with its own certificate |

What reconfigure makes of them (config.json's `tls.defaults`, `ports.https`) is in
`reconfigure/files/consul.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitlab_ha.errors import InputError
from gitlab_ha.render.context import Context
from gitlab_ha.render.rb import RbBuilder
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.model import Node
from gitlab_ha.topology.roles import Role

TLS_DIR = "/etc/gitlab/consul-tls"
HTTPS_PORT = PORTS["consul_https"]


@dataclass(frozen=True)
class TLSFile:
    name: str  # in the node's folder and in TLS_DIR on the node
    entry: str  # the secrets store entry
    owner: str  # who must read it on the node
    secret: bool

    @property
    def path(self) -> str:
        return f"{TLS_DIR}/{self.name}"


CA = TLSFile("ca.pem", "consul_tls_ca_cert", "root", False)


def enabled(ctx: Context) -> bool:
    return ctx.topo.consul.tls != "off" and ctx.has_consul


def _agent(node: Node) -> tuple[TLSFile, TLSFile]:
    kind = "server" if node.has(Role.CONSUL) else "client"
    return (
        TLSFile("agent.pem", f"consul_tls_{kind}_cert", "root", False),
        TLSFile("agent-key.pem", f"consul_tls_{kind}_key", "gitlab-consul", True),
    )


PATRONI = (
    TLSFile("patroni.pem", "consul_tls_patroni_cert", "root", False),
    TLSFile("patroni-key.pem", "consul_tls_patroni_key", "gitlab-psql", True),
)


def verifies_clients(ctx: Context, node: Node) -> bool:
    """Whether `node`'s agent asks its clients (other agents, Patroni over HTTPS) for a certificate."""
    mode = ctx.topo.consul.tls
    if node.has(Role.CONSUL):
        return mode in ("mutual", "mutual_patroni")
    return mode == "mutual_patroni"


def patroni_has_cert(ctx: Context, node: Node) -> bool:
    return node.has(Role.PATRONI) and verifies_clients(ctx, node)


def files(ctx: Context, node: Node) -> list[TLSFile]:
    """The TLS files `node` needs, in the order the runbook installs them."""
    if not enabled(ctx) or not node.omnibus:
        return []
    out = [CA, *_agent(node)]
    if patroni_has_cert(ctx, node):
        out += PATRONI
    return out


def agent(ctx: Context, node: Node, rb: RbBuilder) -> None:
    """`consul['use_tls']` and its files on a server or client agent."""
    if not enabled(ctx):
        return
    cert, key = _agent(node)
    rb.set("consul", "use_tls", value=True, comment=f"topology consul.tls: {ctx.topo.consul.tls}")
    rb.set("consul", "tls_ca_file", value=CA.path)
    rb.set("consul", "tls_certificate_file", value=cert.path)
    rb.set("consul", "tls_key_file", value=key.path)
    verify = verifies_clients(ctx, node)
    rb.set(
        "consul",
        "tls_verify_client",
        value=verify,
        comment="agents and Patroni must present a certificate of the CA" if verify else None,
    )
    rb.set("consul", "https_port", value=HTTPS_PORT)


def patroni(ctx: Context, node: Node, rb: RbBuilder) -> None:
    """Patroni talks HTTPS to its local agent, checks the agent's certificate, and presents its own where
    the agent verifies clients."""
    if not enabled(ctx) or not node.has(Role.PATRONI):
        return
    rb.section("Patroni to its Consul agent over HTTPS")
    rb.set("patroni", "consul", "url", value=f"https://127.0.0.1:{HTTPS_PORT}", comment="the local Consul agent")
    rb.set("patroni", "consul", "cacert", value=CA.path)
    if patroni_has_cert(ctx, node):
        rb.set("patroni", "consul", "cert", value=PATRONI[0].path)
        rb.set("patroni", "consul", "key", value=PATRONI[1].path)
    rb.set("patroni", "consul", "verify", value=True)


def check_store(ctx: Context) -> None:
    """The server certificate must name this topology's datacenter (`verify_server_hostname`)."""
    if not enabled(ctx):
        return
    from gitlab_ha.secrets.pki import dns_names  # cryptography only when TLS is on

    want = f"server.{ctx.topo.consul.datacenter}.consul"
    names = dns_names(ctx.secrets.get("consul_tls_server_cert"))
    if want not in names:
        raise InputError(
            f"consul_tls_server_cert is not for {want} (it names {', '.join(names) or 'nothing'}): "
            "the datacenter changed; issue them again with `gitlab-ha secrets tls --replace`"
        )
