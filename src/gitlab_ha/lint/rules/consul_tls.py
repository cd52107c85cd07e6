"""Consul TLS across nodes, through the reconfigure model (each node's config.json and patroni.yaml as
`gitlab-ctl reconfigure` will write them): agents that cannot talk to the servers, Patroni that cannot
talk to its agent, and a certificate missing where the other side asks for one."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Node
from gitlab_ha.lint.registry import rule
from gitlab_ha.reconfigure.files import consul as consul_files
from gitlab_ha.reconfigure.files import patroni as patroni_files
from gitlab_ha.reconfigure.node import NodeModel
from gitlab_ha.rubycfg.nodes import Value

_S = Severity


@dataclass(frozen=True)
class Agent:
    node: Node
    model: NodeModel
    config: dict[str, Any]
    api: consul_files.Api

    @property
    def server(self) -> bool:
        return bool(self.config.get("server"))


def _agents(lint: Lint) -> list[Agent]:
    out = []
    for node, model in lint.modeled_nodes():
        if model.services.runs("consul"):
            config = consul_files.configuration(model.input)
            out.append(Agent(node, model, config, consul_files.api(config)))
    return out


def _at(node: Node, *keys: str) -> Value | None:
    """The first of `keys` the file sets (where a finding points), else None (the file as a whole)."""
    for key in keys:
        found = node.get(key)
        if found is not None:
            return found
    return None


def _servers_tls(agents: list[Agent]) -> bool | None:
    """Whether the Consul servers speak TLS (what most of them say; None without servers)."""
    votes = Counter(a.api.tls for a in agents if a.server)
    return votes.most_common(1)[0][0] if votes else None


@rule(
    "GHA095",
    _S.ERROR,
    "Consul TLS differs between agents and servers",
    "Set consul['use_tls'] = true (with tls_ca_file, tls_certificate_file, tls_key_file) on every Consul "
    "server and client, or on none.",
)
def tls_agreement(lint: Lint) -> Iterator[Finding]:
    agents = _agents(lint)
    servers_tls = _servers_tls(agents)
    if servers_tls is None:
        return
    for agent in agents:
        where = _at(agent.node, "consul['use_tls']", "consul['configuration']")
        if agent.server and agent.api.tls != servers_tls:
            state = "speaks TLS" if agent.api.tls else "has no TLS"
            yield lint.finding(agent.node, where, f"this Consul server {state}, unlike the other servers")
        elif not agent.server and agent.api.tls and not servers_tls:
            yield lint.finding(
                agent.node,
                where,
                "this client agent speaks TLS (verify_outgoing) but the Consul servers have no TLS: "
                "it cannot reach them",
            )


def _patroni_url(model: NodeModel) -> tuple[str, int] | None:
    section = patroni_files.consul_section(model.input)
    parts = urlsplit(str(section["url"]))
    if parts.scheme not in ("http", "https"):
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    return parts.scheme, port or 8500  # Patroni's own default port, whatever the scheme


def _patroni(lint: Lint, agents: list[Agent]) -> Iterator[tuple[Agent, str, int]]:
    for agent in agents:
        if not agent.model.services.runs("patroni"):
            continue
        url = _patroni_url(agent.model)
        if url is not None:
            yield agent, url[0], url[1]


URL = "patroni['consul']['url']"


@rule(
    "GHA096",
    _S.ERROR,
    "Patroni cannot reach its Consul agent",
    "Point patroni['consul']['url'] at the local agent's API: https://127.0.0.1:8501 when consul['use_tls'] "
    "is on, with patroni['consul']['cacert'].",
)
def patroni_scheme(lint: Lint) -> Iterator[Finding]:
    for agent, scheme, port in _patroni(lint, _agents(lint)):
        api = agent.api
        where = _at(agent.node, URL)
        if scheme == "http" and api.http is None:
            https = f" (https on {api.https})" if api.https is not None else ""
            yield lint.finding(agent.node, where, f"Patroni uses http but the local Consul agent serves no HTTP{https}")
        elif scheme == "http" and port != api.http:
            yield lint.finding(agent.node, where, f"Patroni uses http on {port}; the agent's HTTP port is {api.http}")
        elif scheme == "https" and api.https is None:
            yield lint.finding(agent.node, where, "Patroni uses https but the local Consul agent has no TLS")
        elif scheme == "https" and port != api.https:
            yield lint.finding(
                agent.node, where, f"Patroni uses https on {port}; the agent's HTTPS port is {api.https}"
            )


@rule(
    "GHA097",
    _S.ERROR,
    "client certificate missing where it is verified",
    "Give the client agent consul['tls_certificate_file'] and tls_key_file (signed by the servers' CA), and "
    "Patroni patroni['consul']['cert'] and ['key'] where its agent has tls_verify_client.",
)
def client_certificates(lint: Lint) -> Iterator[Finding]:
    agents = _agents(lint)
    verifying = [a for a in agents if a.server and a.api.tls and _verifies_rpc(a.config)]
    if verifying:
        for agent in agents:
            if agent.server or agent.api.has_cert:
                continue
            yield lint.finding(
                agent.node,
                _at(agent.node, "consul['use_tls']", "consul['configuration']"),
                f"the Consul servers verify clients ({verifying[0].node.name}: tls_verify_client) but this client "
                "agent has no certificate: they refuse it",
            )
    for agent, scheme, _ in _patroni(lint, agents):
        if scheme != "https" or not agent.api.verify_clients:
            continue
        section = patroni_files.consul_section(agent.model.input)
        if not (section.get("cert") and section.get("key")):
            yield lint.finding(
                agent.node,
                _at(agent.node, URL),
                "the local Consul agent verifies HTTPS clients (tls_verify_client) but Patroni has no "
                "patroni['consul']['cert'] and ['key']: its requests are refused",
            )


def _verifies_rpc(config: dict[str, Any]) -> bool:
    tls = consul_files.sub(config, "tls")
    defaults, rpc = consul_files.sub(tls, "defaults"), consul_files.sub(tls, "internal_rpc")
    return rpc.get("verify_incoming", defaults.get("verify_incoming")) is True
