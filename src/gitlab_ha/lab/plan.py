"""From a topology to the lab's files: map each node onto loopback, render, run the reconfigure model
with the lab's layout, and list what each node runs.

Node a.b.c.d becomes 127.b.c.d: all of 127/8 is local on Linux, so every node keeps the real ports
(5432, 6379, 8500 …) on an address of its own, and the rendered gitlab.rb files hold those
addresses. Nothing else changes: the files the lab runs are the model's, for the lab's paths.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from gitlab_ha.errors import InputError
from gitlab_ha.lab.runtime import python_for_services
from gitlab_ha.reconfigure.cluster import ClusterModel, from_topology
from gitlab_ha.reconfigure.layout import Layout
from gitlab_ha.reconfigure.node import NodeModel
from gitlab_ha.render.context import SecretSource
from gitlab_ha.topology.model import Node, Topology
from gitlab_ha.topology.profiles import with_profile
from gitlab_ha.topology.roles import Role

PG_BIN = PurePosixPath("/usr/lib/postgresql/15/bin")
PG_MAJOR = 15
PGBOUNCER_VERSION = (1, 18)  # Debian 12's
NODE_MEMORY_MB = 256  # what the model sizes shared_buffers (¼) and effective_cache_size (½) from
RESERVED = {
    ipaddress.IPv4Address("127.0.0.0"),
    ipaddress.IPv4Address("127.0.0.1"),
    ipaddress.IPv4Address("127.255.255.255"),
}

# service → what runs it in the lab; services Omnibus runs that the lab cannot (no GitLab here).
RUNNABLE = ("consul", "redis", "sentinel", "patroni", "postgresql", "pgbouncer")
NOT_RUNNABLE = ("puma", "sidekiq", "gitlab_workhorse", "nginx", "gitaly", "praefect", "gitlab_kas")


def lab_address(address: ipaddress.IPv4Address) -> ipaddress.IPv4Address:
    """a.b.c.d → 127.b.c.d."""
    return ipaddress.IPv4Address((127 << 24) | (int(address) & 0x00FFFFFF))


def lab_topology(topo: Topology) -> Topology:
    """The topology with every node on its loopback address; refuses two nodes on one address."""
    seen: dict[ipaddress.IPv4Address, str] = {}
    nodes = []
    for node in topo.nodes:
        mapped = lab_address(node.address)
        if mapped in RESERVED:
            raise InputError(
                f"node {node.name} ({node.ip}) would map to {mapped}, which the lab keeps for itself; "
                "give it another address",
                "nodes",
            )
        if mapped in seen:
            raise InputError(
                f"nodes {seen[mapped]} and {node.name} both map to {mapped} (the lab keeps the last three "
                "bytes of each address); give them addresses that differ there",
                "nodes",
            )
        seen[mapped] = node.name
        nodes.append(node.model_copy(update={"address": mapped}))
    return topo.model_copy(update={"nodes": nodes})


def node_root(lab_dir: Path, name: str) -> Path:
    return lab_dir / "nodes" / name


def layout(lab_dir: Path, node: Node, generated: dict[str, str] | None = None) -> Layout:
    """Node `node`'s layout in the lab; `generated` holds what reconfigure generates once per cluster
    and keeps in gitlab-secrets.json (PostgreSQL's certificate and key)."""
    root = PurePosixPath(node_root(lab_dir, node.name))
    return Layout(
        data_root=root,
        log_root=root / "log",
        run_dir=root / "run",
        pg_bin=PG_BIN,
        # -S: Consul runs the leader check every second (fast profile); it needs nothing from site's
        # start-up (.pth files), only PYTHONPATH
        ctl=(*python_for_services(), "-S", "-m", "gitlab_ha.lab.ctl", "--root", str(root)),
        postgres_os_user="postgres",
        consul_os_user="root",
        redis_os_user="redis",
        memory_mb=NODE_MEMORY_MB,
        node_address=node.ip,
        pg_major=PG_MAJOR,
        pgbouncer_version=PGBOUNCER_VERSION,
        extra={"ssl_ca_file": "/etc/ssl/certs/ca-certificates.crt", **(generated or {})},
    )


@dataclass
class LabNode:
    name: str
    address: str
    roles: tuple[Role, ...]
    model: NodeModel | None  # None for a node without Omnibus (a load balancer)
    runs: list[str] = field(default_factory=list)  # services the lab starts here
    not_runnable: list[str] = field(default_factory=list)  # Omnibus services the lab cannot run


@dataclass
class LabPlan:
    lab_dir: Path
    topology: Topology  # the user's
    lab_topo: Topology  # on loopback, with the profile's failover timing
    model: ClusterModel
    nodes: list[LabNode]

    @property
    def addresses(self) -> dict[str, str]:
        return {n.name: n.address for n in self.nodes}

    def node(self, name: str) -> LabNode:
        for node in self.nodes:
            if node.name == name:
                return node
        raise InputError(f"no node {name!r} in this lab (nodes: {', '.join(n.name for n in self.nodes)})", "NODE")


def make_plan(
    lab_dir: Path,
    topo: Topology,
    secrets: SecretSource,
    generated: dict[str, str] | None = None,
    profile: str = "fast",
) -> LabPlan:
    if " " in str(lab_dir.resolve()):
        raise InputError("the lab directory's path must not contain spaces (it goes into command lines)", str(lab_dir))
    if topo.consul.tls != "off":
        # Omnibus' Consul TLS points every agent (and Patroni) at certificates under /etc/gitlab on the
        # real nodes; the lab makes none, so its agents would not start, or would read this host's files
        raise InputError(
            f"the lab runs Consul without TLS and this topology asks for {topo.consul.tls!r}: rehearse with a "
            "copy that says tls: off (render and lint keep your TLS)",
            "consul.tls",
        )
    mapped = lab_topology(with_profile(topo, profile))
    model = from_topology(
        mapped, secrets, layout=lambda node: layout(lab_dir, node, generated), source="lab-cluster.yml"
    )
    by_name = {m.name: m for m in model.nodes}
    nodes: list[LabNode] = []
    for node in mapped.nodes:
        item = LabNode(node.name, node.ip, tuple(node.roles), by_name.get(node.name))
        if item.model is not None:
            services = item.model.services
            item.runs = [s for s in RUNNABLE if services.runs(s)]
            if services.runs("patroni"):
                item.runs.remove("postgresql")  # Patroni starts and supervises it
            item.not_runnable = [s for s in NOT_RUNNABLE if services.runs(s)]
        if node.has(Role.INTERNAL_LB):
            item.runs.append("haproxy")
        nodes.append(item)
    return LabPlan(lab_dir, topo, mapped, model, nodes)
