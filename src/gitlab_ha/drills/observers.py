"""Observers: each polls one view of the cluster in a thread of its own (so a hung component delays
no other view) and records the value whenever it changes:

- `patroni.leader`: the leader and its state in Patroni's /cluster, from the first member answering;
- `pgbouncer.NODE`: the host that PgBouncer's `SHOW DATABASES` gives for Rails' database;
- `redis.master`: the master's address the first answering Sentinel names; `redis.health`: whether
  that Sentinel flags it subjectively or objectively down;
- `consul.leader`: `/v1/status/leader` from the first answering Consul server.

`?` is recorded when no source answers.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

import psycopg
import redis
import requests

from gitlab_ha.discovery.client import ConsulClient, UnexpectedResponse
from gitlab_ha.drills.deadline import SocketDeadline
from gitlab_ha.drills.history import UNANSWERED, History, Observation
from gitlab_ha.probe.patroni import cluster_of
from gitlab_ha.probe.pgbouncer import parse as parse_databases
from gitlab_ha.probe.redis import ask_sentinels, discover_master
from gitlab_ha.topology.facts import PORTS

INTERVAL = 0.1
TIMEOUT = 0.5
ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    KeyError,
    requests.RequestException,
    psycopg.Error,
    redis.RedisError,
    UnexpectedResponse,
)


class Poller(threading.Thread):
    def __init__(self, source: str, probe: Callable[[], str], history: History, stop: threading.Event) -> None:
        super().__init__(daemon=True, name=f"drill-observer-{source}")
        self.source = source
        self.probe = probe
        self.history = history
        self.stop_event = stop
        self.last: str | None = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                value = self.probe()
            except ERRORS:
                value = UNANSWERED
            if value != self.last:
                self.history.observations.append(Observation(time.monotonic(), self.source, value))
                self.last = value
            self.stop_event.wait(INTERVAL)


def patroni_leader(members: list[str]) -> Callable[[], str]:
    def probe() -> str:
        cluster = cluster_of(members, TIMEOUT)
        if cluster is None:
            return UNANSWERED
        for member in cluster.get("members", []):
            if member.get("role") == "leader":
                return f"{member.get('name')} {member.get('state')}"
        return "none"

    return probe


class PgBouncerTarget:
    """`SHOW DATABASES` on one PgBouncer's admin console, over one kept connection."""

    def __init__(self, address: str, password: str, database: str) -> None:
        self.address = address
        self.password = password
        self.database = database
        self.conn: psycopg.Connection[tuple[object, ...]] | None = None

    def __call__(self) -> str:
        try:
            if self.conn is None:
                self.conn = psycopg.connect(
                    host=self.address,
                    port=PORTS["pgbouncer"],
                    dbname="pgbouncer",
                    user="pgbouncer",
                    password=self.password,
                    autocommit=True,
                    connect_timeout=2,
                    prepare_threshold=None,
                )
            with SocketDeadline(self.conn.pgconn.socket, TIMEOUT):
                cursor = self.conn.execute("SHOW DATABASES")
                names = [c.name for c in cursor.description or []]
                rows = [dict(zip(names, values, strict=False)) for values in cursor.fetchall()]
        except psycopg.Error:
            self.close()
            raise
        host, _paused = parse_databases(rows, self.database)
        return host or "none"

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None


def redis_master(sentinels: list[tuple[str, int]], name: str) -> Callable[[], str]:
    def probe() -> str:
        found = discover_master(sentinels, name, timeout=TIMEOUT)
        return UNANSWERED if found is None else f"{found[0]}:{found[1]}"

    return probe


def redis_health(sentinels: list[tuple[str, int]], name: str) -> Callable[[], str]:
    def ask(client: redis.Redis) -> str | None:
        state = client.sentinel_master(name)
        if not isinstance(state, dict):
            return None
        return "down" if state.get("is_sdown") or state.get("is_odown") else "ok"

    def probe() -> str:
        return ask_sentinels(sentinels, ask, TIMEOUT) or UNANSWERED

    return probe


def consul_leader(servers: list[str]) -> Callable[[], str]:
    def probe() -> str:
        for address in servers:
            try:
                with ConsulClient(f"http://{address}:{PORTS['consul_http']}", timeout=TIMEOUT) as client:
                    return str(client.ok("GET", "/v1/status/leader", "leader") or "")
            except ERRORS:
                continue
        return UNANSWERED

    return probe
