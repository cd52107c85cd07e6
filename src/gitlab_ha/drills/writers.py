"""The workload: writers that insert numbered rows through the internal load balancer and set numbered
keys on the master the Sentinels name, recording each write as invoked, then ok, failed or unknown.

A write is `failed` only when it certainly did not apply: the connection could not be made (so
nothing was sent), or the server answered with an error for the statement (a read-only replica, a
refused command). Everything else after sending — a timeout, a lost connection, PostgreSQL's
"terminating connection" (which can follow a local commit not yet replicated) — is `unknown`, and
the read-back decides. Each writer keeps one connection, as an application's pool does, and opens a
new one (asking the Sentinels again) after any error.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Any

import psycopg
import redis

from gitlab_ha.drills.deadline import SocketDeadline
from gitlab_ha.drills.history import History, Op, Outcome, Store
from gitlab_ha.probe.redis import discover_master

TABLE = "drill_writes"
OP_TIMEOUT = 2.0  # seconds before a write counts as timed out (unknown)
PAUSE = 0.02  # between two writes: a steady stream, not a flood
PAUSE_AFTER_ERROR = 0.05
CONNECTION: Any = redis.Connection  # one raw connection: connect (TCP + AUTH), then send, then read
# PgBouncer errors that mean the statement never reached a server
PGBOUNCER_NOT_SENT = ("query_wait_timeout", "no more connections allowed", "server login has been failing")


@dataclass(frozen=True)
class Endpoints:
    """Where the workload writes and with what credentials."""

    lb: tuple[str, int]  # the internal load balancer's PgBouncer frontend
    database: str
    db_user: str
    db_password: str
    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    redis_password: str

    def sql_connect(self, timeout: float = OP_TIMEOUT) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(
            host=self.lb[0],
            port=self.lb[1],
            dbname=self.database,
            user=self.db_user,
            password=self.db_password,
            connect_timeout=max(2, int(timeout)),
            autocommit=True,
            prepare_threshold=None,  # PgBouncer may pool by transaction
        )


def sql_outcome(err: psycopg.Error, timed_out: bool) -> Outcome:
    """How a failed INSERT on an open connection ended."""
    text = str(err)
    if timed_out or err.sqlstate is None or "committed locally" in text:
        return Outcome.UNKNOWN
    if any(phrase in text for phrase in PGBOUNCER_NOT_SENT):
        return Outcome.FAILED
    if err.sqlstate.startswith("08") or err.sqlstate in ("57P01", "57P02", "57P03"):
        return Outcome.UNKNOWN  # the connection went away: the commit may have happened
    return Outcome.FAILED  # the server refused the statement


def _short(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:160]


class Writer(threading.Thread):
    """One store's writer: `attempt(op)` does one write and sets its outcome."""

    store: Store

    def __init__(self, history: History, stop: threading.Event, endpoints: Endpoints, run_id: str) -> None:
        super().__init__(daemon=True, name=f"drill-writer-{self.store.value}")
        self.history = history
        self.stop_event = stop
        self.endpoints = endpoints
        self.run_id = run_id  # marks this run's rows and keys
        self.lock = threading.Lock()

    def run(self) -> None:
        n = 0
        try:
            while not self.stop_event.is_set():
                n += 1
                op = Op(self.store, n, time.monotonic())
                with self.lock:
                    self.history.ops.append(op)
                self.attempt(op)
                op.completed = time.monotonic()
                self.stop_event.wait(PAUSE if op.outcome is Outcome.OK else PAUSE_AFTER_ERROR)
        finally:
            self.close()

    def attempt(self, op: Op) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def acked_after(self, moment: float) -> int:
        """How many writes were acknowledged after `moment`."""
        with self.lock:
            ops = list(self.history.ops)
        return sum(
            1
            for op in ops
            if op.store is self.store
            and op.outcome is Outcome.OK
            and op.completed is not None
            and op.completed > moment
        )

    def steady(self, since: float, count: int) -> bool:
        """Its last `count` completed writes were all acknowledged, after `since`."""
        with self.lock:
            done = [op for op in self.history.ops if op.store is self.store and op.completed is not None]
        last = done[-count:]
        return len(last) == count and all(
            op.outcome is Outcome.OK and op.completed is not None and op.completed > since for op in last
        )


class SqlWriter(Writer):
    store = Store.SQL

    def __init__(self, history: History, stop: threading.Event, endpoints: Endpoints, run_id: str) -> None:
        super().__init__(history, stop, endpoints, run_id)
        self.conn: psycopg.Connection[tuple[object, ...]] | None = None

    def attempt(self, op: Op) -> None:
        if self.conn is None:
            try:
                self.conn = self.endpoints.sql_connect()
            except psycopg.Error as err:
                op.outcome, op.error = Outcome.FAILED, _short(err)
                return
        conn = self.conn
        deadline = SocketDeadline(conn.pgconn.socket, OP_TIMEOUT)
        try:
            with deadline:
                row = conn.execute(
                    f"INSERT INTO {TABLE} (run, n) VALUES (%s, %s) RETURNING host(inet_server_addr())",
                    (self.run_id, op.n),
                ).fetchone()
            op.outcome, op.server = Outcome.OK, str(row[0]) if row else ""
        except psycopg.Error as err:
            op.outcome, op.error = sql_outcome(err, deadline.fired), _short(err)
            self.close()
        if deadline.fired and self.conn is not None:
            self.close()  # acknowledged just in time, but its socket is shut now

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = None


class RedisWriter(Writer):
    store = Store.REDIS

    def __init__(self, history: History, stop: threading.Event, endpoints: Endpoints, run_id: str) -> None:
        super().__init__(history, stop, endpoints, run_id)
        self.conn: Any = None  # a redis.Connection (untyped in redis-py)
        self.master = ""

    def attempt(self, op: Op) -> None:
        if self.conn is None:
            where = discover_master(list(self.endpoints.sentinels), self.endpoints.master_name, timeout=0.5)
            if where is None:
                op.outcome, op.error = Outcome.FAILED, "no Sentinel named a master"
                return
            conn = CONNECTION(
                host=where[0],
                port=where[1],
                password=self.endpoints.redis_password,
                socket_timeout=OP_TIMEOUT,
                socket_connect_timeout=OP_TIMEOUT,
                retry=None,
            )
            try:
                conn.connect()  # TCP and AUTH: nothing of the write is sent yet
            except (redis.RedisError, OSError) as err:
                conn.disconnect()
                op.outcome, op.error = Outcome.FAILED, _short(err)
                return
            self.conn, self.master = conn, where[0]
        try:
            self.conn.send_command("SET", key(self.run_id, op.n), op.n)
            self.conn.read_response()
            op.outcome, op.server = Outcome.OK, self.master
        except redis.ResponseError as err:  # READONLY, NOREPLICAS …: refused, not applied
            op.outcome, op.error = Outcome.FAILED, _short(err)
            self.close()
        except (redis.RedisError, OSError) as err:
            op.outcome, op.error = Outcome.UNKNOWN, _short(err)
            self.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.disconnect()
            self.conn = None


def key(run_id: str, n: int) -> str:
    return f"drill:{run_id}:{n}"
