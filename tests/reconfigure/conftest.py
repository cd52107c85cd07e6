"""Models built in process from presets (render in memory, placeholder secrets) or from gitlab.rb text."""

from __future__ import annotations

import functools

from gitlab_ha.reconfigure.cluster import ClusterModel, from_topology
from gitlab_ha.reconfigure.node import NodeModel, model_node
from gitlab_ha.render.context import Placeholders
from gitlab_ha.rubycfg import parse
from gitlab_ha.topology.load import load_text
from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.roles import Role
from gitlab_ha.topology.versions import parse_version
from gitlab_ha.topology.yaml_out import topology_yaml


@functools.cache
def preset_model(preset: str, version: str) -> ClusterModel:
    spec = PRESETS[preset]
    topo = load_text(topology_yaml(spec, expand(spec)), preset).topology
    topo = topo.model_copy(update={"gitlab": topo.gitlab.model_copy(update={"version": parse_version(version)})})
    return from_topology(topo, Placeholders())


def node_of(text: str, version: str = "16.6.0", name: str = "node-1", address: str = "10.0.0.5") -> NodeModel:
    return model_node(name, address, parse(text, f"{name}/gitlab.rb"), parse_version(version))


def preset_roles(preset: str) -> dict[str, set[Role]]:
    spec = PRESETS[preset]
    topo = load_text(topology_yaml(spec, expand(spec)), preset).topology
    return {node.name: set(node.roles) for node in topo.nodes}
