"""Failover times in the lab, the fast profile beside Omnibus' defaults measured the same way:

- Patroni leader's node lost (every process of it stops at once) → the first successful write through
  the internal load balancer (127.10.1.233:6432);
- Redis master's node lost → the first successful write through Sentinel.

Targets (PRODUCT.md §6): database ≤ 10 s and Redis ≤ 5 s median with the fast profile. Prints figures;
asserts nothing. Needs root. Run: .venv/bin/python bench/failover.py [--repeat 5] [--profiles fast omnibus]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from gitlab_ha.lab.lab import Lab, leader
from gitlab_ha.probe.redis import discover_master, redis_client
from gitlab_ha.probe.status import collect, healthy
from gitlab_ha.proc import wait_for
from gitlab_ha.secrets.store import SecretStore
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.presets import PRESETS, expand
from gitlab_ha.topology.yaml_out import topology_yaml

LB = ("127.10.1.233", 6432)


class Writer(threading.Thread):
    """Writes as fast as it can; remembers when each successful write started and ended."""

    def __init__(self, write: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.write = write
        self.ok: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                self.write()
                self.ok.append((began, time.monotonic()))
            except Exception:
                time.sleep(0.05)

    def first_started_after(self, moment: float, deadline: float = 180) -> float | None:
        """When the first write begun after `moment` succeeded (a write in flight at `moment` may still
        land on the old primary before it is gone: it proves nothing)."""
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            later = [done for began, done in list(self.ok) if began > moment]
            if later:
                return later[0]
            time.sleep(0.05)
        return None


def database_write(password: str) -> None:
    with psycopg.connect(
        host=LB[0], port=LB[1], dbname="gitlabhq_production", user="gitlab", password=password, connect_timeout=1
    ) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_writes (at timestamptz default now())")
        conn.execute("INSERT INTO bench_writes DEFAULT VALUES")


def redis_write(sentinels: list[tuple[str, int]], name: str, password: str) -> None:
    where = discover_master(sentinels, name, timeout=0.5)
    if where is None:
        raise OSError("no master")
    client = redis_client(where[0], where[1], timeout=0.5, password=password)  # one try: the loop re-asks Sentinel
    try:
        client.set("bench", time.time())
    finally:
        client.close()


def measure(lab: Lab, what: str) -> float | None:
    target = lab.target()
    wait_for(lambda: healthy(collect(target)), "healthy", deadline=300, step=0.5)
    plan = lab.plan()
    store = SecretStore.load(lab.store)  # read once: each write's cost must be the write alone
    if what == "database":
        node = leader(lab, plan).name
        password = store.get("gitlab_db_password")
        writer = Writer(lambda: database_write(password))
    else:
        sentinels = [(n.address, PORTS["sentinel"]) for n in plan.nodes if "sentinel" in n.runs]
        name, redis_password = plan.lab_topo.redis.master_name, store.get("redis_password")
        found = discover_master(sentinels, name)
        assert found is not None
        node = next(n.name for n in plan.nodes if n.address == found[0])
        writer = Writer(lambda: redis_write(sentinels, name, redis_password))
    writer.start()
    wait_for(lambda: bool(writer.ok), "a first write", deadline=60)
    moment = time.monotonic()
    lab.lose(node)  # every process of the node stops at one instant (frozen, then killed)
    gone = time.monotonic()
    done = writer.first_started_after(gone)
    took = None if done is None else done - moment
    writer.stop.set()
    writer.join(timeout=10)
    lab.start(node)
    return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profiles", nargs="+", default=["fast", "omnibus"])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/gitlab-ha-bench-failover"))
    args = parser.parse_args()
    spec = PRESETS["seed-15"]
    text = topology_yaml(spec, expand(spec))
    results: dict[tuple[str, str], list[float]] = {}
    for profile in args.profiles:
        lab = Lab(args.dir)
        lab.down(purge=True)
        args.dir.mkdir(parents=True, exist_ok=True)
        args.dir.chmod(0o755)
        lab.up(text, "seed-15", profile=profile)
        for what in ("database", "redis"):
            for run in range(args.repeat):
                took = measure(lab, what)
                print(f"{profile:8} {what:9} run {run + 1}: {'never' if took is None else f'{took:.1f} s'}", flush=True)
                if took is not None:
                    results.setdefault((what, profile), []).append(took)
        lab.down(purge=True)
    print()
    print(f"{'node lost -> first write (s)':30} {'profile':8} {'median':>7} {'min':>7} {'max':>7}  target")
    for what, goal in (("database", "<= 10 s"), ("redis", "<= 5 s")):
        for profile in args.profiles:
            values = results.get((what, profile), [])
            if values:
                print(
                    f"{what:30} {profile:8} {statistics.median(values):7.1f} {min(values):7.1f} {max(values):7.1f}  "
                    + (goal if profile == "fast" else "(Omnibus' defaults)")
                )


if __name__ == "__main__":
    main()
