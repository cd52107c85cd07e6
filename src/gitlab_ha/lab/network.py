"""Each lab node's own source address on loopback: cgroup v2 + nftables.

All lab nodes share one machine and its loopback: without help every connection between them would
come from 127.0.0.1, so pg_hba.conf, Patroni's allowlist and Redis' view of its replicas would judge
every node as "localhost". Each node's processes run in a cgroup of their own; nftables marks their
packets by cgroup and rewrites (SNAT) the source of those bound for 127/8 to the node's address. A
server then sees the real client, as it would across hosts, and a drill can cut one node off with a
rule on its mark and address.

Written by hand: no library drives cgroups or nftables for this; `nft -f` takes the whole table at
once (a table is created and deleted atomically, so nothing half-made is left behind).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
from dataclasses import dataclass
from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.proc import call

MARK_BASE = 0x4C000000  # fwmarks 0x4cLLLLNN: LLLL from the lab's id, NN one per node


def cgroup2_root() -> Path:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup or /sys/fs/cgroup/unified)."""
    try:
        mounts = Path("/proc/mounts").read_text()
    except OSError as err:
        raise InputError(f"cannot read /proc/mounts: {err.strerror}", "lab") from None
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "cgroup2":
            return Path(parts[1])
    raise InputError("no cgroup v2 hierarchy is mounted: the lab needs it to give each node its own address", "lab")


def _nft(script: str) -> None:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    done = call([nft, "-f", "-"], input=script, timeout=30)
    if done.returncode != 0:
        raise InputError(f"nft: {done.stderr.strip() or done.returncode}", "lab network")


@dataclass(frozen=True)
class LabNetwork:
    """The cgroups and the nftables table of one lab (named after its directory)."""

    lab_dir: Path
    addresses: dict[str, str]  # node name → its loopback address

    @property
    def lab_id(self) -> str:
        return hashlib.sha1(str(self.lab_dir.resolve()).encode()).hexdigest()[:8]

    @property
    def table(self) -> str:
        return f"gitlab_ha_lab_{self.lab_id}"

    @property
    def cgroup(self) -> Path:
        return cgroup2_root() / "gitlab-ha" / self.lab_id

    def node_cgroup(self, node: str) -> Path:
        return self.cgroup / node

    def mark(self, node: str) -> int:
        """The node's fwmark, unique across labs: every lab's table sees every packet, and a mark another
        lab also used would get its SNAT (its node's address) on our packets."""
        return MARK_BASE | (int(self.lab_id[:4], 16) << 8) | (1 + sorted(self.addresses).index(node))

    def _nft_path(self, node: str) -> tuple[str, int]:
        """The cgroup path as nft names it (relative to /sys/fs/cgroup) and its level in the v2 tree."""
        path = self.node_cgroup(node)
        root = cgroup2_root()
        level = len(path.relative_to(root).parts)
        return str(path.relative_to("/sys/fs/cgroup")), level

    def script(self) -> str:
        """The whole table: mark each node's packets by cgroup, SNAT them to its address."""
        marks, snats = [], []
        for node, address in sorted(self.addresses.items()):
            path, level = self._nft_path(node)
            mark = self.mark(node)
            marks.append(f'    socket cgroupv2 level {level} "{path}" meta mark set {mark:#x}')
            snats.append(f"    meta mark {mark:#x} ip daddr 127.0.0.0/8 snat ip to {address}")
        return "\n".join(
            [
                f"table ip {self.table} {{",
                "  chain mark_nodes {",
                "    type route hook output priority mangle; policy accept;",
                *marks,
                "  }",
                "  chain partitions {",
                "    type filter hook output priority filter; policy accept;",
                "  }",
                "  chain source_addresses {",
                "    type nat hook postrouting priority srcnat; policy accept;",
                *snats,
                "  }",
                "}",
                "",
            ]
        )

    def exists(self) -> bool:
        nft = shutil.which("nft") or "/usr/sbin/nft"
        return call([nft, "list", "table", "ip", self.table], timeout=30).returncode == 0

    def up(self) -> None:
        if os.geteuid() != 0:
            raise InputError("the lab needs root (cgroups and nftables give each node its own address)", "lab")
        for node in self.addresses:
            self.node_cgroup(node).mkdir(parents=True, exist_ok=True)
        if self.exists():
            _nft(f"delete table ip {self.table}\n")
        _nft(self.script())

    def down(self) -> list[str]:
        """Remove the table and the cgroups; returns what could not be removed (a cgroup still in use)."""
        left: list[str] = []
        if self.exists():
            _nft(f"delete table ip {self.table}\n")
        for node in self.addresses:
            path = self.node_cgroup(node)
            if path.exists():
                try:
                    path.rmdir()
                except OSError as err:
                    left.append(f"{path}: {err.strerror}")
        for path in (self.cgroup, self.cgroup.parent):
            with contextlib.suppress(OSError):  # not empty: another lab still uses the parent
                path.rmdir()
        return left

    def resume(self) -> None:
        """Thaw every node and SIGCONT every process in it (harmless to what runs)."""
        for node in sorted(self.addresses):  # Lab._recorded_network: from lab.json, else the node cgroups
            with contextlib.suppress(OSError):
                self.freeze(node, False)
            for pid in self.pids(node):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGCONT)

    def pids(self, node: str) -> list[int]:
        procs = self.node_cgroup(node) / "cgroup.procs"
        try:
            return [int(line) for line in procs.read_text().split()]
        except OSError:
            return []

    def freeze(self, node: str, frozen: bool = True) -> None:
        """Stop (or resume) every process of the node at once, as a hung host: cgroup v2's freezer."""
        (self.node_cgroup(node) / "cgroup.freeze").write_text("1" if frozen else "0")

    def kill_all(self, node: str) -> None:
        """SIGKILL every process of the node at once (cgroup.kill): its power is cut."""
        (self.node_cgroup(node) / "cgroup.kill").write_text("1")

    def enter(self, node: str, pid: int | None = None) -> None:
        """Move a process (this one by default) into the node's cgroup; its children follow."""
        (self.node_cgroup(node) / "cgroup.procs").write_text(str(pid if pid is not None else os.getpid()))
