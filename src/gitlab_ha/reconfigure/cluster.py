"""Every node's model: from a topology (rendered in memory) or from a folder of gitlab.rb files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gitlab_ha.errors import InputError
from gitlab_ha.reconfigure.layout import OMNIBUS, Layout
from gitlab_ha.reconfigure.node import NodeModel, model_node
from gitlab_ha.render.context import Context, SecretSource
from gitlab_ha.render.node import render_gitlab_rb
from gitlab_ha.rubycfg import Document, parse
from gitlab_ha.topology.model import Node, Topology
from gitlab_ha.topology.versions import Version


@dataclass
class ClusterModel:
    version: Version
    nodes: list[NodeModel]

    def node(self, name: str) -> NodeModel:
        for node in self.nodes:
            if name in (node.name, node.address):
                return node
        raise InputError(f"no node {name!r} (nodes: {', '.join(n.name for n in self.nodes)})", "NODE")


def rendered_docs(topo: Topology, secrets: SecretSource, source: str = "cluster.yml") -> dict[str, Document]:
    """Each Omnibus node's gitlab.rb as render writes it, parsed."""
    ctx = Context(topo, secrets)
    return {
        node.name: parse(render_gitlab_rb(ctx, node, source).text(), f"{node.name}/gitlab.rb")
        for node in topo.nodes
        if node.omnibus
    }


def from_topology(
    topo: Topology,
    secrets: SecretSource,
    *,
    layout: Callable[[Node], Layout] = lambda node: OMNIBUS,
    source: str = "cluster.yml",
) -> ClusterModel:
    docs = rendered_docs(topo, secrets, source)
    nodes = [
        model_node(node.name, node.ip, docs[node.name], topo.gitlab.version, layout(node))
        for node in topo.nodes
        if node.omnibus
    ]
    return ClusterModel(topo.gitlab.version, nodes)


def from_docs(docs: Mapping[str, tuple[str, Document | None]], version: Version) -> ClusterModel:
    """Nodes given as name → (address, parsed gitlab.rb)."""
    return ClusterModel(version, [model_node(name, address, doc, version) for name, (address, doc) in docs.items()])
