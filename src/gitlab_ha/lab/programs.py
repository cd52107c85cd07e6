"""One launcher per runnable service: the command a lab node runs it with, from the model's files.

Each command is what Omnibus' runit `run` script executes for that service, with the lab's paths:
Consul `agent -config-file -config-dir -data-dir`, `redis-server redis.conf`, `redis-sentinel
sentinel.conf`, `patroni patroni.yaml`, `postgres -D data`, `pgbouncer pgbouncer.ini`, and HAProxy
in the foreground with the rendered configuration.
"""

from __future__ import annotations

import sys

from gitlab_ha.lab.plan import PG_BIN, LabNode, LabPlan, node_root
from gitlab_ha.lab.runtime import python_for_services
from gitlab_ha.lab.supervisor import Program

# The order `lab up` starts services in (a later one needs the earlier ones).
ORDER = ("consul", "redis", "sentinel", "postgresql", "patroni", "pgbouncer", "haproxy")


def program(plan: LabPlan, node: LabNode, service: str) -> Program:
    root = node_root(plan.lab_dir, node.name)
    python = python_for_services()
    if service == "consul":
        consul = root / "consul"
        argv: tuple[str, ...] = (
            sys.executable,  # the agent runs as root, with the project's own interpreter
            "-m",
            "gitlab_ha",
            "consul",
            "agent",
            "-config-file",
            str(consul / "config.json"),
            "-config-dir",
            str(consul / "config.d"),
            "-data-dir",
            str(consul / "data"),
            "-dns-workers",
            "1",  # fifteen agents share two cores here: one DNS worker each
        )
        return Program(service, node.name, argv)
    if service == "redis":
        return Program(
            service, node.name, ("redis-server", str(root / "redis" / "redis.conf")), "redis", str(root / "redis")
        )
    if service == "sentinel":
        return Program(
            service,
            node.name,
            ("redis-sentinel", str(root / "sentinel" / "sentinel.conf")),
            "redis",
            str(root / "redis"),
        )
    if service == "patroni":
        return Program(
            service,
            node.name,
            (*python, "-m", "patroni", str(root / "patroni" / "patroni.yaml")),
            "postgres",
            str(root / "postgresql"),
        )
    if service == "postgresql":
        return Program(
            service,
            node.name,
            (str(PG_BIN / "postgres"), "-D", str(root / "postgresql" / "data")),
            "postgres",
            str(root / "postgresql"),
        )
    if service == "pgbouncer":
        return Program(
            service,
            node.name,
            ("/usr/sbin/pgbouncer", str(root / "pgbouncer" / "pgbouncer.ini")),
            "postgres",
            str(root / "postgresql"),
        )
    if service == "haproxy":
        return Program(service, node.name, ("/usr/sbin/haproxy", "-db", "-f", str(root / "haproxy" / "haproxy.cfg")))
    raise ValueError(f"no launcher for {service}")


def programs(plan: LabPlan) -> list[Program]:
    """Every program of the lab, in start order."""
    out: list[Program] = []
    for service in ORDER:
        for node in plan.nodes:
            if service in node.runs:
                out.append(program(plan, node, service))
    return out
