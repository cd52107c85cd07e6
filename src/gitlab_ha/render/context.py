"""What every renderer reads: the topology, the secrets, the version's features, derived facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gitlab_ha.topology.features import Features
from gitlab_ha.topology.model import Node, Topology
from gitlab_ha.topology.roles import Role

PRAEFECT_DB = "praefect_production"
PRAEFECT_DB_USER = "praefect"
DEFAULT_STORAGE = "default"


class SecretSource(Protocol):
    def get(self, name: str) -> str: ...

    def md5(self, name: str) -> str: ...


class Placeholders:
    """Stand-in secrets for a render whose keys and shape matter, never its secrets (lint's own
    keys, `explain` without a store)."""

    def get(self, name: str) -> str:
        return "x" * 32

    def md5(self, name: str) -> str:
        return "0" * 32


@dataclass(frozen=True)
class Context:
    topo: Topology
    secrets: SecretSource
    object_credentials: dict[str, str] = field(default_factory=dict)

    @property
    def features(self) -> Features:
        return Features(self.topo.gitlab.version)

    def nodes(self, *roles: Role) -> list[Node]:
        return [n for n in self.topo.nodes if any(r in n.roles for r in roles)]

    def ips(self, *roles: Role) -> list[str]:
        return [n.ip for n in self.nodes(*roles)]

    def one(self, role: Role) -> Node | None:
        found = self.nodes(role)
        return found[0] if found else None

    @property
    def has_consul(self) -> bool:
        return self.topo.has_role(Role.CONSUL)

    @property
    def internal_lb(self) -> Node | None:
        return self.one(Role.INTERNAL_LB)

    @property
    def migrating_rails(self) -> Node | None:
        """The one Rails (or Sidekiq) node that runs database migrations."""
        return self.one(Role.RAILS) or self.one(Role.SIDEKIQ)

    @property
    def migrating_praefect(self) -> Node | None:
        return self.one(Role.PRAEFECT)

    def storage_name(self, gitaly: Node) -> str:
        """Gitaly storage names: the node name behind Praefect; without it the first is 'default'."""
        if self.topo.has_role(Role.PRAEFECT):
            return gitaly.name
        first = self.one(Role.GITALY)
        return DEFAULT_STORAGE if first is not None and gitaly.name == first.name else gitaly.name

    @property
    def internal_url(self) -> str:
        """How Gitaly reaches the Rails internal API: the internal LB, else the external URL."""
        lb = self.internal_lb
        return f"http://{lb.ip}" if lb is not None else self.topo.gitlab.external_url

    def cidrs(self, *roles: Role) -> list[str]:
        return sorted({f"{ip}/{32 if ':' not in ip else 128}" for ip in self.ips(*roles)}, key=_ip_sort)


def _ip_sort(cidr: str) -> tuple[int, str]:
    addr = cidr.split("/", maxsplit=1)[0]
    if ":" in addr:
        return (1, addr)
    return (0, ".".join(f"{int(p):03d}" for p in addr.split(".")))
