"""Where reconfigure's files live and what node-local addresses mean on the machine that runs them.

Omnibus writes under /var/opt/gitlab and runs /opt/gitlab/embedded/bin; every host has its own
loopback. The lab runs many nodes on one machine: each gets a directory of its own, Debian's
PostgreSQL 15, and its own loopback address (127.b.c.d for node a.b.c.d), so "127.0.0.1" and
"0.0.0.0" on a node mean that node's address there. That relocation is the only difference between
what the model writes for a host and what the lab runs: the content comes from the same functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath

WILDCARDS = frozenset({"0.0.0.0", "*", "", "::"})
LOOPBACKS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Layout:
    """Paths and node-local meanings for one node."""

    data_root: PurePosixPath = field(default=PurePosixPath("/var/opt/gitlab"))
    log_root: PurePosixPath = field(default=PurePosixPath("/var/log/gitlab"))
    run_dir: PurePosixPath = field(default=PurePosixPath("/var/run"))
    pg_bin: PurePosixPath = field(default=PurePosixPath("/opt/gitlab/embedded/bin"))
    ctl: tuple[str, ...] = ("/opt/gitlab/bin/gitlab-ctl",)
    postgres_os_user: str = "gitlab-psql"
    consul_os_user: str = "gitlab-consul"
    redis_os_user: str = "gitlab-redis"
    memory_mb: int | None = None  # the host's RAM: shared_buffers is ¼ of it, effective_cache_size ½
    node_address: str | None = None  # set when node-local addresses must be relocated (the lab)
    pg_major: int | None = None  # the PostgreSQL the machine runs (None: the release's default)
    pgbouncer_version: tuple[int, int] | None = None  # the PgBouncer it runs (None: Omnibus' bundled one)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def lab(self) -> bool:
        return self.node_address is not None

    def dir(self, *parts: str) -> PurePosixPath:
        return self.data_root.joinpath(*parts)

    def listen(self, address: str | None) -> str:
        """A listen address as the node will bind it: wildcards and loopback stay on a host; in the lab
        they become the node's own address, so two nodes never bind the same socket."""
        if self.node_address is None:
            return "" if address is None else address
        if address is None or address in WILDCARDS or address in LOOPBACKS:
            return self.node_address
        return address

    def local(self, address: str) -> str:
        """An address a node's process connects to: "127.0.0.1" is the node itself."""
        if self.node_address is not None and address in LOOPBACKS:
            return self.node_address
        return address

    def local_cidr(self, cidr: str) -> str:
        """A CIDR in pg_hba.conf: 127.0.0.1/32 stands for the node's own connections."""
        if self.node_address is not None and cidr.split("/", 1)[0] in LOOPBACKS:
            return f"{self.node_address}/32"
        return cidr


OMNIBUS = Layout()
