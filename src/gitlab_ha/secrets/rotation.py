"""After a secret changed: which nodes to reconfigure, in which order."""

from __future__ import annotations

from gitlab_ha.secrets.catalog import SecretSpec
from gitlab_ha.topology.model import Topology
from gitlab_ha.topology.roles import Role


def reconfigure_order(spec: SecretSpec, topology: Topology | None) -> str:
    """Who to reconfigure after `spec` changed: roles in order, or this cluster's nodes if known."""
    if spec.all_nodes:
        if topology is None:
            return "every Omnibus node (Consul servers first; see docs/secrets.md for the keyring steps)"
        servers = [n.name for n in topology.with_role(Role.CONSUL)]
        rest = [n.name for n in topology.nodes if n.omnibus and n.name not in servers]
        return ", then ".join(filter(None, (" ".join(servers), " ".join(rest)))) + " (see docs/secrets.md)"
    if topology is None:
        return ", then ".join(role.value for role in spec.consumers) + " nodes"
    steps: list[str] = []
    done: set[str] = set()
    for role in spec.consumers:
        names = [n.name for n in topology.with_role(role) if n.name not in done]
        done.update(names)
        if names:
            steps.append(" ".join(names))
    return ", then ".join(steps) if steps else "no node of this cluster (nothing holds this secret)"
