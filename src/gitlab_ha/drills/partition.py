"""A network partition in the lab: rules in the `partitions` chain of the lab's nftables table (an
output filter hook, empty until a drill fills it).

Every packet a lab node sends carries its node's mark (`LabNetwork.mark`) and leaves from its own
loopback address. Cutting NODE off from every other node, and from the drill's own clients, in both
directions while its node-local traffic stays (its Patroni still reaches its PostgreSQL and its
Consul agent):

    meta mark NODE ip daddr 127.0.0.0/8 ip daddr != NODE_ADDRESS drop    # what it sends elsewhere
    ip daddr NODE_ADDRESS meta mark != NODE drop                          # what others send it

Established connections are cut too (no conntrack exception), as a switch failing would. The rules
go in with one `nft -f` (atomic), and `heal` flushes the chain; `rules` lists what is there.
"""

from __future__ import annotations

import shutil

from gitlab_ha.errors import InputError
from gitlab_ha.lab.network import LabNetwork
from gitlab_ha.proc import call

CHAIN = "partitions"
COMMENT = "gitlab-ha drill partition"


def _nft(args: list[str], script: str | None = None) -> str:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    done = call([nft, *args], input=script, timeout=30)
    if done.returncode != 0:
        raise InputError(f"nft {' '.join(args)}: {done.stderr.strip() or done.returncode}", "drill partition")
    return done.stdout


def rule_bodies(network: LabNetwork, node: str) -> list[str]:
    mark = network.mark(node)
    address = network.addresses[node]
    return [
        f"meta mark {mark:#x} ip daddr 127.0.0.0/8 ip daddr != {address} drop",
        f"ip daddr {address} meta mark != {mark:#x} drop",
    ]


def script(network: LabNetwork, node: str) -> str:
    return "".join(
        f'add rule ip {network.table} {CHAIN} {body} comment "{COMMENT} {node}"\n'
        for body in rule_bodies(network, node)
    )


def cut(network: LabNetwork, node: str) -> None:
    _nft(["-f", "-"], script(network, node))


def heal(network: LabNetwork) -> None:
    """Remove every rule of the chain (a no-op when the lab's table is gone)."""
    if network.exists():
        _nft(["flush", "chain", "ip", network.table, CHAIN])


def rules(network: LabNetwork) -> list[str]:
    """The rules in the chain now (none when the table is gone)."""
    if not network.exists():
        return []
    text = _nft(["list", "chain", "ip", network.table, CHAIN])
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith(("table ", "chain ", "type ", "}"))]
