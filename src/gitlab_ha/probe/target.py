"""What `status` looks at: the nodes (address, roles, the services reconfigure runs there) and the
credentials some endpoints need, from a lab or from a topology and its secrets store."""

from __future__ import annotations

from dataclasses import dataclass, field

from gitlab_ha.reconfigure.cluster import from_topology
from gitlab_ha.reconfigure.node import NodeModel
from gitlab_ha.render.context import Placeholders, SecretSource
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.model import Topology
from gitlab_ha.topology.roles import Role


@dataclass(frozen=True)
class TargetNode:
    name: str
    address: str
    roles: tuple[Role, ...]
    services: frozenset[str]
    redis_port: int = PORTS["redis"]

    def runs(self, service: str) -> bool:
        return service in self.services


@dataclass
class Target:
    nodes: list[TargetNode]
    secrets: SecretSource | None
    redis_master_name: str = "gitlab-redis"
    database: str = "gitlabhq_production"
    haproxy_sockets: dict[str, str] = field(default_factory=dict)  # node → its stats socket (lab)
    lab: bool = False

    def running(self, service: str) -> list[TargetNode]:
        return [n for n in self.nodes if n.runs(service)]

    def secret(self, name: str) -> str | None:
        if self.secrets is None:
            return None
        try:
            return self.secrets.get(name)
        except (KeyError, ValueError):
            return None


def redis_port_of(model: NodeModel | None) -> int:
    """The port a node's Redis listens on: the lowest its reconfigure model opens, else Omnibus' default."""
    ports = model.ports("redis") if model is not None else set()
    return min(ports) if ports else PORTS["redis"]


def for_topology(topo: Topology, secrets: SecretSource | None) -> Target:
    """A real cluster: every node at its topology address, its services from the reconfigure model."""
    model = from_topology(topo, secrets if secrets is not None else Placeholders())
    by_name = {m.name: m for m in model.nodes}
    nodes = []
    for node in topo.nodes:
        modeled = by_name.get(node.name)
        services = set(modeled.services.enabled) if modeled is not None else set()
        if node.has(Role.INTERNAL_LB):
            services.add("haproxy")
        nodes.append(TargetNode(node.name, node.ip, tuple(node.roles), frozenset(services), redis_port_of(modeled)))
    return Target(nodes, secrets, redis_master_name=topo.redis.master_name, database=topo.database.name)
