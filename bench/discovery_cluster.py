"""The discovery cluster's figures: a new Raft leader after the leader is killed, KV write latency through
the leader and through a client, and the time from a node's death to its service leaving DNS.

Three servers and one client agent, each on its own 127.x.y.z address with the real ports, started from
Omnibus-shaped config.json files (tests/discovery/harness.py), gossip encrypted, `raft_multiplier` 1
(the lab's fast profile) unless `--raft-multiplier 5` (Consul's default), and gossip probing every 0.5 s with
suspicion x2 (`gossip_lan`) unless `--gossip consul` (Consul's LAN defaults, which the agent and the lab run).

    python bench/discovery_cluster.py [--rounds 5] [--writes 300] [--raft-multiplier 1] [--gossip fast|consul]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dnslib import DNSRecord

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.discovery.harness import Cluster, Node, make_cluster, wait_until


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def election_times(cluster: Cluster, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        old = cluster.leader()
        rest = [s for s in cluster.servers if s is not old]
        old.kill()
        start = time.monotonic()
        cluster.leader(among=rest, deadline=60)
        times.append(time.monotonic() - start)
        old.start()
        cluster.leader()
        time.sleep(1.0)  # let the restarted server settle before the next round
    return times


def write_latencies(node: Node, writes: int, prefix: str) -> list[float]:
    out = []
    for i in range(writes):
        start = time.perf_counter()
        status, ok, _ = node.http("PUT", f"/v1/kv/bench/{prefix}/{i}", "x" * 64)
        out.append(time.perf_counter() - start)
        assert status == 200 and ok is True, (status, ok)
    return out


def in_dns(node: Node, name: str) -> bool:
    reply = DNSRecord.parse(DNSRecord.question(name, "A").send(node.address, 8600, timeout=1.0))
    return bool(reply.rr)


def death_to_dns(cluster: Cluster, rounds: int) -> list[float]:
    client, server = cluster.clients[0], cluster.servers[0]
    name = "bench-web.service.consul"
    times = []
    for _ in range(rounds):
        wait_until(lambda: in_dns(server, name), "the client's service in DNS", deadline=30)
        client.kill()
        start = time.monotonic()
        wait_until(lambda: not in_dns(server, name), "the dead client's service to leave DNS", deadline=30, step=0.01)
        times.append(time.monotonic() - start)
        client.start()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--writes", type=int, default=300)
    parser.add_argument("--raft-multiplier", type=int, default=1)
    parser.add_argument("--gossip", choices=["fast", "consul"], default="fast")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gitlab-ha-bench-cluster-") as tmp:
        cluster = make_cluster(Path(tmp), servers=3, clients=1)
        for node in cluster.nodes:
            node.config["performance"] = {"raft_multiplier": args.raft_multiplier}
            if args.gossip == "fast":
                node.config["gossip_lan"] = {"probe_interval": "500ms", "probe_timeout": "250ms", "suspicion_mult": 2}
        cluster.clients[0].definitions["web.json"] = {"service": {"name": "bench-web", "port": 80}}
        try:
            cluster.start()
            cluster.leader()
            leader = cluster.leader()
            via_leader = write_latencies(leader, args.writes, "leader")
            via_client = write_latencies(cluster.clients[0], args.writes, "client")
            elections = election_times(cluster, args.rounds)
            deaths = death_to_dns(cluster, args.rounds)
        finally:
            cluster.stop()
    ms = 1000.0
    print(
        f"discovery cluster: 3 servers + 1 client, raft_multiplier {args.raft_multiplier}, "
        f"{args.gossip} gossip timing, gossip encrypted"
    )
    print(
        f"leader SIGKILL -> new leader, median / max ({args.rounds} rounds)     "
        f"{statistics.median(elections):.2f} s / {max(elections):.2f} s   (target <= 2 s at multiplier 1)"
    )
    print(
        f"KV PUT latency via the leader, p50 / p99 ({args.writes} writes)      "
        f"{percentile(via_leader, 0.5) * ms:.1f} ms / {percentile(via_leader, 0.99) * ms:.1f} ms"
    )
    print(
        f"KV PUT latency via a client, p50 / p99 ({args.writes} writes)        "
        f"{percentile(via_client, 0.5) * ms:.1f} ms / {percentile(via_client, 0.99) * ms:.1f} ms"
    )
    print(
        f"client agent SIGKILL -> its service out of DNS, median / max    "
        f"{statistics.median(deaths):.2f} s / {max(deaths):.2f} s   "
        + ("(target <= 3 s)" if args.gossip == "fast" else "(Consul: probe 1 s + suspicion 4 s)")
    )


if __name__ == "__main__":
    main()
