"""A drill's view of a running lab: who leads now (Patroni, Redis, Raft), where the workload writes,
which nodes run what."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitlab_ha.discovery.client import ConsulClient, UnexpectedResponse
from gitlab_ha.drills.writers import Endpoints
from gitlab_ha.errors import InputError
from gitlab_ha.lab.lab import Lab, leader
from gitlab_ha.lab.network import LabNetwork
from gitlab_ha.lab.plan import LabNode, LabPlan, node_root
from gitlab_ha.probe.redis import discover_master
from gitlab_ha.proc import wait_for
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.roles import Role


@dataclass
class DrillLab:
    lab: Lab
    plan: LabPlan
    network: LabNetwork

    @classmethod
    def of(cls, lab: Lab) -> DrillLab:
        plan = lab.plan()
        return cls(lab, plan, lab.network(plan))

    def running(self, service: str) -> list[LabNode]:
        return [n for n in self.plan.nodes if service in n.runs]

    def by_address(self, address: str) -> LabNode:
        for node in self.plan.nodes:
            if node.address == address:
                return node
        raise InputError(f"no lab node has the address {address}", "lab")

    @property
    def consul_servers(self) -> list[LabNode]:
        return [n for n in self.running("consul") if Role.CONSUL in n.roles]

    @property
    def sentinels(self) -> tuple[tuple[str, int], ...]:
        return tuple((n.address, PORTS["sentinel"]) for n in self.running("sentinel"))

    def socket_dirs(self) -> dict[str, Path]:
        """Each Patroni member's PostgreSQL socket directory."""
        return {n.name: node_root(self.lab.dir, n.name) / "postgresql" for n in self.running("patroni")}

    def endpoints(self) -> Endpoints:
        lbs = self.running("haproxy")
        if not lbs:
            raise InputError("this lab has no internal load balancer for the workload to write through", "lab")
        secrets = self.lab.secrets()
        return Endpoints(
            lb=(lbs[0].address, PORTS["pgbouncer"]),
            database=self.plan.lab_topo.database.name,
            db_user="gitlab",
            db_password=secrets.get("gitlab_db_password"),
            sentinels=self.sentinels,
            master_name=self.plan.lab_topo.redis.master_name,
            redis_password=secrets.get("redis_password"),
        )

    # Who leads now

    def primary(self, deadline: float = 60.0) -> LabNode:
        return leader(self.lab, self.plan, deadline=deadline)

    def redis_master(self, deadline: float = 60.0) -> tuple[str, int]:
        """The master's (address, port) as the Sentinels name it."""
        name = self.plan.lab_topo.redis.master_name
        return wait_for(
            lambda: discover_master(list(self.sentinels), name), "a Redis master named by Sentinel", deadline
        )

    def consul_leader(self, deadline: float = 60.0) -> LabNode:
        """The Raft leader, from /v1/status/leader ("address:8300")."""

        def probe() -> str | None:
            for node in self.consul_servers:
                try:
                    with ConsulClient(f"http://{node.address}:{PORTS['consul_http']}", timeout=2) as client:
                        answer = str(client.ok("GET", "/v1/status/leader", "leader") or "")
                except (OSError, UnexpectedResponse, ValueError):
                    continue
                if answer:
                    return answer.rpartition(":")[0]
            return None

        return self.by_address(wait_for(probe, "a Consul Raft leader", deadline))
