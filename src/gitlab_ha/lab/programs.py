"""One launcher per runnable service: the command a lab node runs it with, from the model's files.

Each command is what Omnibus' runit `run` script executes for that service, with the lab's paths:
Consul `agent -config-file -config-dir -data-dir`, `redis-server redis.conf`, `redis-sentinel
sentinel.conf`, `patroni patroni.yaml`, `postgres -D data`, `pgbouncer pgbouncer.ini`, and HAProxy
in the foreground with the rendered configuration.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from gitlab_ha.lab.plan import PG_BIN, LabNode, LabPlan, node_root
from gitlab_ha.lab.runtime import python_for_services
from gitlab_ha.lab.supervisor import Program

# The order `lab up` starts services in (a later one needs the earlier ones).
ORDER = ("consul", "redis", "sentinel", "postgresql", "patroni", "pgbouncer", "haproxy")


Argv = Callable[[Path], tuple[str, ...]]  # the node's root -> argv

_ARGV: dict[str, Argv] = {
    "consul": lambda root: (
        sys.executable,  # the agent runs as root, with the project's own interpreter
        "-m",
        "gitlab_ha",
        "consul",
        "agent",
        "-config-file",
        str(root / "consul" / "config.json"),
        "-config-dir",
        str(root / "consul" / "config.d"),
        "-data-dir",
        str(root / "consul" / "data"),
        "-dns-workers",
        "1",  # fifteen agents share two cores here: one DNS worker each
    ),
    "redis": lambda root: ("redis-server", str(root / "redis" / "redis.conf")),
    "sentinel": lambda root: ("redis-sentinel", str(root / "sentinel" / "sentinel.conf")),
    "patroni": lambda root: (*python_for_services(), "-m", "patroni", str(root / "patroni" / "patroni.yaml")),
    "postgresql": lambda root: (str(PG_BIN / "postgres"), "-D", str(root / "postgresql" / "data")),
    "pgbouncer": lambda root: ("/usr/sbin/pgbouncer", str(root / "pgbouncer" / "pgbouncer.ini")),
    "haproxy": lambda root: ("/usr/sbin/haproxy", "-db", "-f", str(root / "haproxy" / "haproxy.cfg")),
}

# The account a service runs as and its home below the node's root (the others run as root).
_ACCOUNT: dict[str, tuple[str, str]] = {
    "redis": ("redis", "redis"),
    "sentinel": ("redis", "redis"),
    "patroni": ("postgres", "postgresql"),
    "postgresql": ("postgres", "postgresql"),
    "pgbouncer": ("postgres", "postgresql"),
}


def program(plan: LabPlan, node: LabNode, service: str) -> Program:
    root = node_root(plan.lab_dir, node.name)
    if service not in _ARGV:
        raise ValueError(f"no launcher for {service}")
    argv = _ARGV[service](root)
    if service not in _ACCOUNT:
        return Program(service, node.name, argv)
    user, home = _ACCOUNT[service]
    return Program(service, node.name, argv, user, str(root / home))


def programs(plan: LabPlan) -> list[Program]:
    """Every program of the lab, in start order."""
    out: list[Program] = []
    for service in ORDER:
        for node in plan.nodes:
            if service in node.runs:
                out.append(program(plan, node, service))
    return out
