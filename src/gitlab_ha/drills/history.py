"""What a drill records while it runs, in the spirit of Jepsen's histories: every write as invoked and
as completed, the events of the drill, what the observers saw change, and the primary sampler's view.

Times are `time.monotonic()` seconds (CLOCK_MONOTONIC is one clock for every process on the machine,
so the sampler's helper process stamps on the same axis). A history is plain data: it is written as
JSON beside the report and the checker (`checker.py`) reads it back, so a recorded history can be
checked again without a lab.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

UNANSWERED = "?"  # an observation's value when no source answered (observers write it, the checker skips it)


class Outcome(StrEnum):
    OK = "ok"  # acknowledged
    FAILED = "failed"  # definitely not applied (refused before it was sent, or the server said no)
    UNKNOWN = "unknown"  # sent, then a timeout or a lost connection: it may or may not have landed


class Store(StrEnum):
    SQL = "sql"  # numbered rows inserted through the internal load balancer (PgBouncer, 6432)
    REDIS = "redis"  # numbered keys set on the master the Sentinels name


@dataclass
class Op:
    store: Store
    n: int  # the row's / key's number, unique within a run and a store
    invoked: float
    completed: float | None = None
    outcome: Outcome | None = None  # None: still running when the history was taken
    server: str = ""  # the address that acknowledged it (inet_server_addr(), the master's address)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Op:
        outcome = data.get("outcome")
        return cls(
            store=Store(data["store"]),
            n=int(data["n"]),
            invoked=float(data["invoked"]),
            completed=None if data.get("completed") is None else float(data["completed"]),
            outcome=None if outcome is None else Outcome(outcome),
            server=str(data.get("server", "")),
            error=str(data.get("error", "")),
        )


@dataclass(frozen=True)
class Event:
    """Something the drill did or saw: `fault`, `heal` (held faults only), `healthy` (the lab again)."""

    t: float
    name: str
    detail: str = ""


@dataclass(frozen=True)
class Observation:
    """A value an observer polls, recorded when it changes: `patroni.leader` = `postgres-2 running`,
    `pgbouncer.postgres-1` = `127.10.1.167`, `redis.master` = `127.10.1.137:6379`, `consul.leader` …
    The value `UNANSWERED` (`?`) means no source answered."""

    t: float
    source: str
    value: str


@dataclass(frozen=True)
class Sample:
    """The primary sampler's answer for one member: `primary` (pg_is_in_recovery() is false), `held` (a
    primary whose commits wait for a synchronous standby that does not stream: it acknowledges nothing),
    `replica`, or `down` (no answer within its timeout: stopped, hung or starting)."""

    t: float
    node: str
    state: str


@dataclass
class History:
    scenario: str
    kind: str  # database | redis | consul | haproxy: which detect/promote apply
    profile: str
    sync: str  # off | on | strict
    addresses: dict[str, str]  # node → its lab address
    baseline: dict[str, str] = field(default_factory=dict)  # before the fault: primary, redis_master, consul_leader
    target: str = ""  # what the fault hit (a node or SERVICE@NODE)
    ops: list[Op] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    def event(self, name: str) -> float | None:
        for event in self.events:
            if event.name == name:
                return event.t
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "kind": self.kind,
            "profile": self.profile,
            "sync": self.sync,
            "addresses": self.addresses,
            "baseline": self.baseline,
            "target": self.target,
            "ops": [op.to_dict() for op in self.ops],
            "events": [asdict(e) for e in self.events],
            "observations": [asdict(o) for o in self.observations],
            "samples": [asdict(s) for s in self.samples],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(
            scenario=str(data["scenario"]),
            kind=str(data["kind"]),
            profile=str(data["profile"]),
            sync=str(data["sync"]),
            addresses={str(k): str(v) for k, v in data["addresses"].items()},
            baseline={str(k): str(v) for k, v in data.get("baseline", {}).items()},
            target=str(data.get("target", "")),
            ops=[Op.from_dict(o) for o in data.get("ops", [])],
            events=[Event(float(e["t"]), str(e["name"]), str(e.get("detail", ""))) for e in data.get("events", [])],
            observations=[
                Observation(float(o["t"]), str(o["source"]), str(o["value"])) for o in data.get("observations", [])
            ],
            samples=[Sample(float(s["t"]), str(s["node"]), str(s["state"])) for s in data.get("samples", [])],
        )

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))


@dataclass(frozen=True)
class Readback:
    """What was found after recovery: the numbers present in each store."""

    rows: frozenset[int]
    keys: frozenset[int]
