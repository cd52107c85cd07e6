"""The checker: from a drill's history and what was read back after recovery, what the failure cost.

Pure functions of recorded data (tests feed them recorded histories):

- the write-unavailable window (RTO) per store: the longest stretch after the fault in which no write
  was acknowledged, measured from the fault to the first acknowledgement, then between
  acknowledgements; `None` when writes never came back;
- acknowledged writes lost (RPO): acknowledged, yet absent when read back; writes of unknown outcome
  resolved as present or absent; a write reported failed that is present is an anomaly of the checker;
- time to detect (the component's view changed), to promote (a new primary, master or Raft leader),
  until every PgBouncer followed the new primary;
- every stretch in which the sampler saw two writable PostgreSQL primaries at once (a primary
  whose commits wait for a synchronous standby that does not stream, `held`, acknowledges nothing:
  such a second primary is a stretch of its own, not a failure).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, field
from typing import Any

from gitlab_ha.drills.history import UNANSWERED, History, Observation, Op, Outcome, Readback, Store

# Which observed sources tell that the component noticed the fault, per kind of scenario.
DETECT_SOURCES: dict[str, tuple[str, ...]] = {
    "database": ("patroni.leader",),
    "redis": ("redis.master", "redis.health"),
    "consul": ("consul.leader",),
    "haproxy": (),
}
WRITABLE = ("primary",)  # the sampler's states of a primary that acknowledges commits
PRIMARY = ("primary", "held")  # and of any primary


@dataclass
class StoreResult:
    acknowledged: int
    failed: int
    unknown: int
    lost: list[int]  # acknowledged, absent after recovery
    unknown_present: int
    unknown_absent: int
    failed_present: list[int]  # reported failed, yet present: the checker misjudged them
    rto: float | None  # seconds; None: no write was acknowledged after the fault
    outage: tuple[float, float] | None  # that window, relative to the fault

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Metrics:
    sql: StoreResult
    redis: StoreResult
    detect: float | None  # seconds after the fault
    promote: float | None
    pgbouncers_followed: float | None
    new_primary: str | None  # the node (database), address (redis) or server (consul) promoted
    max_primaries: int
    split_brain: list[tuple[float, float]] = field(default_factory=list)  # relative to the fault
    # two primaries at once, but the other one held its commits (no synchronous standby)
    held_second: list[tuple[float, float]] = field(default_factory=list)

    @property
    def split_brain_seconds(self) -> float:
        return sum(end - start for start, end in self.split_brain)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["split_brain_seconds"] = self.split_brain_seconds
        return data


def store_result(ops: list[Op], present: frozenset[int], fault: float) -> StoreResult:
    done = [op for op in ops if op.outcome is not None]
    acked = [op for op in done if op.outcome is Outcome.OK]
    unknown = [op for op in ops if op.outcome in (Outcome.UNKNOWN, None)]
    failed = [op for op in done if op.outcome is Outcome.FAILED]
    rto, outage = unavailable_window(acked, fault)
    return StoreResult(
        acknowledged=len(acked),
        failed=len(failed),
        unknown=len(unknown),
        lost=sorted(op.n for op in acked if op.n not in present),
        unknown_present=sum(op.n in present for op in unknown),
        unknown_absent=sum(op.n not in present for op in unknown),
        failed_present=sorted(op.n for op in failed if op.n in present),
        rto=rto,
        outage=outage,
    )


def unavailable_window(acked: list[Op], fault: float) -> tuple[float | None, tuple[float, float] | None]:
    """The longest stretch after `fault` without an acknowledgement: (its length, (start, end) relative
    to the fault). (None, None) when nothing was acknowledged after the fault."""
    times = sorted(op.completed for op in acked if op.completed is not None and op.completed > fault)
    if not times:
        return None, None
    points = [fault, *times]
    gaps = [(b - a, a, b) for a, b in itertools.pairwise(points)]
    length, start, end = max(gaps)
    return length, (start - fault, end - fault)


def _value_before(observations: list[Observation], source: str, t: float) -> str | None:
    value = None
    for obs in observations:
        if obs.t > t:
            break
        if obs.source == source:
            value = obs.value
    return value


def detect_time(history: History, fault: float) -> float | None:
    """Seconds from the fault until a source of the scenario's kind changed from its value at the fault."""
    observations = sorted(history.observations, key=lambda o: o.t)
    found: list[float] = []
    for source in DETECT_SOURCES.get(history.kind, ()):
        before = _value_before(observations, source, fault)
        for obs in observations:
            if obs.t > fault and obs.source == source and obs.value not in (before, UNANSWERED):
                found.append(obs.t - fault)
                break
    return min(found) if found else None


def promotion(history: History, fault: float) -> tuple[float | None, str | None]:
    """(seconds from the fault until something else leads, what leads now)."""
    if history.kind == "database":
        old = history.baseline.get("primary")
        for sample in sorted(history.samples, key=lambda s: s.t):
            if sample.t > fault and sample.state in PRIMARY and sample.node != old:
                return sample.t - fault, sample.node
        return None, None
    source, key = {"redis": ("redis.master", "redis_master"), "consul": ("consul.leader", "consul_leader")}.get(
        history.kind, ("", "")
    )
    if not source:
        return None, None
    old = history.baseline.get(key)
    for obs in sorted(history.observations, key=lambda o: o.t):
        if obs.t > fault and obs.source == source and obs.value not in ("", UNANSWERED, old):
            return obs.t - fault, obs.value
    return None, None


def pgbouncers_followed(history: History, since: float, primary_address: str) -> float | None:
    """The first moment at or after `since` when every PgBouncer points at `primary_address` (absolute)."""
    observations = sorted(history.observations, key=lambda o: o.t)
    sources = {o.source for o in observations if o.source.startswith("pgbouncer.")}
    if not sources:
        return None
    moments = [since, *(o.t for o in observations if o.t > since and o.source in sources)]
    for moment in moments:
        if all(_value_before(observations, s, moment) == primary_address for s in sources):
            return moment
    return None


def primary_counts(history: History) -> list[tuple[float, int, int]]:
    """After each sample (absolute time): how many members were writable primaries (`WRITABLE`), and
    how many were primaries of any kind (`PRIMARY`, held ones too)."""
    state: dict[str, str] = {}
    out: list[tuple[float, int, int]] = []
    for sample in sorted(history.samples, key=lambda s: s.t):
        state[sample.node] = sample.state
        out.append((sample.t, sum(v in WRITABLE for v in state.values()), sum(v in PRIMARY for v in state.values())))
    return out


def _stretches(moments: list[tuple[float, bool]]) -> list[tuple[float, float]]:
    """Each stretch in which the flag was true: (absolute start, end; the last moment if it never ended)."""
    windows: list[tuple[float, float]] = []
    opened: float | None = None
    for t, flag in moments:
        if flag and opened is None:
            opened = t
        elif not flag and opened is not None:
            windows.append((opened, t))
            opened = None
    if opened is not None:
        windows.append((opened, moments[-1][0]))
    return windows


def primaries(history: History) -> tuple[int, list[tuple[float, float]], list[tuple[float, float]]]:
    """From one walk over the samples: (the most writable primaries seen at once, each stretch with two
    or more writable ones, each stretch with two or more primaries of which fewer than two writable: a
    second one held its commits). Stretches are absolute (start, end)."""
    counts = primary_counts(history)
    split = _stretches([(t, writable >= 2) for t, writable, _ in counts])
    held = _stretches([(t, writable < 2 <= any_kind) for t, writable, any_kind in counts])
    return max((w for _, w, _ in counts), default=0), split, held


def check(history: History, readback: Readback) -> Metrics:
    fault = history.event("fault")
    if fault is None:
        raise ValueError("the history has no fault event")
    by_store: dict[Store, list[Op]] = {Store.SQL: [], Store.REDIS: []}
    for op in history.ops:
        by_store[op.store].append(op)
    detect = detect_time(history, fault)
    promote, new = promotion(history, fault)
    followed = None
    if history.kind == "database" and promote is not None and new is not None and new in history.addresses:
        moment = pgbouncers_followed(history, fault + promote, history.addresses[new])
        followed = None if moment is None else moment - fault
    most, windows, held = primaries(history)
    return Metrics(
        sql=store_result(by_store[Store.SQL], readback.rows, fault),
        redis=store_result(by_store[Store.REDIS], readback.keys, fault),
        detect=detect,
        promote=promote,
        pgbouncers_followed=followed,
        new_primary=new,
        max_primaries=most,
        split_brain=[(a - fault, b - fault) for a, b in windows],
        held_second=[(a - fault, b - fault) for a, b in held],
    )


def problems(history: History, metrics: Metrics) -> list[str]:
    """What makes a run fail (as opposed to what it measured): writes that never came back, two
    writable primaries, acknowledged rows lost despite synchronous replication, a misjudged write."""
    out: list[str] = []
    for name, result in (("database", metrics.sql), ("Redis", metrics.redis)):
        if result.rto is None:
            out.append(f"{name} writes never succeeded again after the fault")
        if result.failed_present:
            out.append(f"{len(result.failed_present)} {name} writes reported failed are present (checker misjudged)")
    if metrics.max_primaries >= 2:
        out.append(
            f"TWO WRITABLE PRIMARIES at once for {metrics.split_brain_seconds:.1f} s "
            f"({', '.join(f'{a:+.1f}…{b:+.1f} s' for a, b in metrics.split_brain)} after the fault)"
        )
    if history.sync != "off" and metrics.sql.lost:
        out.append(f"{len(metrics.sql.lost)} acknowledged rows lost despite synchronous replication")
    return out


def remarks(metrics: Metrics) -> list[str]:
    """What a run measured that is worth a line but fails nothing."""
    if not metrics.held_second:
        return []
    seconds = sum(b - a for a, b in metrics.held_second)
    spans = ", ".join(f"{a:+.1f}…{b:+.1f} s" for a, b in metrics.held_second)
    return [
        f"a second primary for {seconds:.1f} s ({spans} after the fault) that acknowledged nothing: "
        "its commits waited for a synchronous standby that no longer followed it"
    ]
