"""The checker on recorded histories: pure functions, no lab."""

from __future__ import annotations

import json
from pathlib import Path

from gitlab_ha.drills.checker import check, primaries, problems, remarks, unavailable_window
from gitlab_ha.drills.history import Event, History, Observation, Op, Outcome, Readback, Sample, Store

ADDRESSES = {"postgres-1": "127.10.1.120", "postgres-2": "127.10.1.167"}


def _history(kind: str = "database", sync: str = "off") -> History:
    return History(
        "leader-node-lost",
        kind,
        "fast",
        sync,
        dict(ADDRESSES),
        baseline={"primary": "postgres-1", "redis_master": "127.10.1.139:6379", "consul_leader": "127.10.1.139:8300"},
    )


def _op(store: Store, n: int, invoked: float, completed: float, outcome: Outcome) -> Op:
    return Op(store, n, invoked, completed, outcome)


def _failover_history(sync: str = "off") -> History:
    """Writes every 0.5 s; the fault at t=10; nothing acknowledged from 10 to 14.2; two unknowns."""
    h = _history(sync=sync)
    n = 0
    t = 5.0
    while t < 20:
        n += 1
        outcome = (Outcome.UNKNOWN if n in (11, 12) else Outcome.FAILED) if 10 <= t < 14 else Outcome.OK
        h.ops.append(_op(Store.SQL, n, t, t + 0.2, outcome))
        h.ops.append(_op(Store.REDIS, n, t, t + 0.1, Outcome.OK))
        t += 0.5
    h.events += [Event(10.0, "fault", "node postgres-1 lost"), Event(30.0, "heal")]
    h.observations += [
        Observation(1.0, "patroni.leader", "postgres-1 running"),
        Observation(1.0, "pgbouncer.postgres-1", "127.10.1.120"),
        Observation(1.0, "pgbouncer.postgres-2", "127.10.1.120"),
        Observation(12.5, "patroni.leader", "none"),
        Observation(13.0, "patroni.leader", "postgres-2 running"),
        Observation(13.4, "pgbouncer.postgres-2", "127.10.1.167"),
        Observation(31.0, "pgbouncer.postgres-1", "127.10.1.167"),
    ]
    h.samples += [
        Sample(1.0, "postgres-1", "primary"),
        Sample(1.0, "postgres-2", "replica"),
        Sample(10.1, "postgres-1", "down"),
        Sample(13.1, "postgres-2", "primary"),
        Sample(32.0, "postgres-1", "replica"),
    ]
    return h


def test_a_failover_measured_from_its_history() -> None:
    h = _failover_history()
    acked = {op.n for op in h.ops if op.store is Store.SQL and op.outcome is Outcome.OK}
    present_rows = frozenset((acked - {10}) | {11})  # row 10 acknowledged then lost; unknown 11 landed
    keys = frozenset(op.n for op in h.ops if op.store is Store.REDIS)
    m = check(h, Readback(present_rows, keys))
    assert m.sql.lost == [10]
    assert (m.sql.unknown_present, m.sql.unknown_absent) == (1, 1)
    assert m.sql.failed_present == []
    # last ack before the fault at 9.7; first after at 14.2 (op invoked at 14.0)
    assert m.sql.rto is not None and abs(m.sql.rto - 4.2) < 1e-9
    assert m.sql.outage == (0.0, m.sql.rto)
    assert m.redis.lost == [] and m.redis.rto is not None and m.redis.rto < 0.6
    assert m.detect == 2.5  # the leader key went at 12.5
    assert m.promote is not None and abs(m.promote - 3.1) < 1e-9 and m.new_primary == "postgres-2"
    # postgres-1's PgBouncer is on the lost node: it follows once the node is back
    assert m.pgbouncers_followed is not None and abs(m.pgbouncers_followed - 21.0) < 1e-9
    assert m.max_primaries == 1 and m.split_brain == []
    assert problems(h, m) == []


def test_lost_rows_fail_a_synchronous_run_only() -> None:
    h = _failover_history(sync="on")
    m = check(h, Readback(frozenset(), frozenset(op.n for op in h.ops if op.store is Store.REDIS)))
    assert m.sql.lost and any("despite synchronous replication" in p for p in problems(h, m))
    async_h = _failover_history(sync="off")
    assert not problems(async_h, check(async_h, Readback(frozenset(), frozenset(range(1, 100)))))


def test_two_writable_primaries_are_reported_loudly() -> None:
    h = _failover_history()
    h.samples = [
        Sample(1.0, "postgres-1", "primary"),
        Sample(1.0, "postgres-2", "replica"),
        Sample(12.0, "postgres-2", "primary"),
        Sample(14.5, "postgres-1", "replica"),
    ]
    most, windows, held = primaries(h)
    assert most == 2 and windows == [(12.0, 14.5)] and held == []
    m = check(h, Readback(frozenset(range(1, 100)), frozenset(range(1, 100))))
    assert m.split_brain == [(2.0, 4.5)]
    assert any(p.startswith("TWO WRITABLE PRIMARIES at once for 2.5 s") for p in problems(h, m))


def test_a_second_primary_that_holds_its_commits_is_not_a_split_brain() -> None:
    """A frozen old leader in synchronous mode resumes as a primary whose commits wait for a standby
    that now follows the new leader: it acknowledges nothing, so the run notes it and does not fail."""
    h = _failover_history()
    h.samples = [
        Sample(1.0, "postgres-1", "primary"),
        Sample(1.0, "postgres-2", "replica"),
        Sample(10.1, "postgres-1", "down"),  # frozen
        Sample(12.0, "postgres-2", "held"),  # promoted, its synchronous standby not yet cleared
        Sample(12.5, "postgres-2", "primary"),
        Sample(40.0, "postgres-1", "held"),  # resumed
        Sample(40.2, "postgres-1", "replica"),
    ]
    m = check(h, Readback(frozenset(range(1, 100)), frozenset(range(1, 100))))
    assert m.promote == 2.0 and m.new_primary == "postgres-2"  # a held primary is a promoted one
    assert m.max_primaries == 1 and m.split_brain == []
    assert [(round(a, 1), round(b, 1)) for a, b in m.held_second] == [(30.0, 30.2)]
    assert not any(p.startswith("TWO WRITABLE") for p in problems(h, m))
    assert len(remarks(m)) == 1 and "second primary for 0.2 s" in remarks(m)[0]
    # the same resume as an acknowledging primary is the loud failure
    h.samples[5] = Sample(40.0, "postgres-1", "primary")
    m = check(h, Readback(frozenset(range(1, 100)), frozenset(range(1, 100))))
    assert [(round(a, 1), round(b, 1)) for a, b in m.split_brain] == [(30.0, 30.2)]
    assert any(p.startswith("TWO WRITABLE PRIMARIES") for p in problems(h, m))


def test_a_held_new_primary_beside_a_writable_old_one_is_promoted_but_not_acknowledging() -> None:
    """A partitioned old leader still reads as writable (its standby stays in pg_stat_replication until
    wal_sender_timeout) while the promoted replica holds its commits: the promotion counts, the run
    notes the second primary, and only one acknowledging primary was ever seen."""
    h = _failover_history(sync="on")
    h.samples = [
        Sample(1.0, "postgres-1", "primary"),
        Sample(1.0, "postgres-2", "replica"),
        Sample(13.0, "postgres-2", "held"),
        Sample(16.0, "postgres-1", "replica"),
        Sample(16.5, "postgres-2", "primary"),
    ]
    m = check(h, Readback(frozenset(range(1, 100)), frozenset(range(1, 100))))
    assert m.promote == 3.0 and m.new_primary == "postgres-2"
    assert m.max_primaries == 1 and m.split_brain == []
    assert m.held_second == [(3.0, 6.0)]
    assert not any(p.startswith("TWO WRITABLE") for p in problems(h, m)) and len(remarks(m)) == 1


def test_held_stretches_around_a_split_brain_are_noted_too() -> None:
    """Two primaries, one held, then both writable for a second, then one held again: the writable
    second is the loud failure, and the stretches before and after it are notes of their own."""
    h = _failover_history()
    h.samples = [
        Sample(1.0, "postgres-1", "primary"),
        Sample(1.0, "postgres-2", "replica"),
        Sample(12.0, "postgres-2", "held"),
        Sample(14.0, "postgres-2", "primary"),
        Sample(15.0, "postgres-2", "held"),
        Sample(20.0, "postgres-1", "replica"),
    ]
    m = check(h, Readback(frozenset(range(1, 100)), frozenset(range(1, 100))))
    assert m.max_primaries == 2 and m.split_brain == [(4.0, 5.0)]
    assert m.held_second == [(2.0, 4.0), (5.0, 10.0)]


def test_writes_that_never_come_back_and_misjudged_failures() -> None:
    h = _history()
    h.events.append(Event(10.0, "fault"))
    h.ops = [_op(Store.SQL, 1, 9.0, 9.1, Outcome.OK), _op(Store.SQL, 2, 10.5, 11.0, Outcome.FAILED)]
    h.ops += [_op(Store.REDIS, 1, 9.0, 9.1, Outcome.OK), _op(Store.REDIS, 2, 10.5, 10.6, Outcome.OK)]
    m = check(h, Readback(frozenset({1, 2}), frozenset({1, 2})))
    assert m.sql.rto is None and m.sql.outage is None
    assert m.sql.failed_present == [2]
    found = problems(h, m)
    assert "database writes never succeeded again after the fault" in found
    assert any("reported failed are present" in p for p in found)


def test_unavailable_window_is_the_longest_gap_after_the_fault() -> None:
    acked = [_op(Store.SQL, i, t - 0.1, t, Outcome.OK) for i, t in enumerate([9.0, 11.0, 11.5, 16.0, 16.2])]
    length, window = unavailable_window(acked, 10.0)
    assert length == 4.5 and window == (1.5, 6.0)


def test_redis_and_consul_promotions_come_from_the_observers() -> None:
    h = _history(kind="redis")
    h.events.append(Event(10.0, "fault"))
    h.observations += [
        Observation(1.0, "redis.master", "127.10.1.139:6379"),
        Observation(1.0, "redis.health", "ok"),
        Observation(11.2, "redis.health", "down"),
        Observation(12.0, "redis.master", "?"),
        Observation(12.6, "redis.master", "127.10.1.137:6379"),
    ]
    m = check(h, Readback(frozenset(), frozenset()))
    assert m.detect is not None and abs(m.detect - 1.2) < 1e-9
    assert m.promote is not None and abs(m.promote - 2.6) < 1e-9 and m.new_primary == "127.10.1.137:6379"
    assert m.pgbouncers_followed is None
    c = _history(kind="consul")
    c.events.append(Event(10.0, "fault"))
    c.observations += [
        Observation(1.0, "consul.leader", "127.10.1.139:8300"),
        Observation(10.8, "consul.leader", ""),
        Observation(11.5, "consul.leader", "127.10.1.244:8300"),
    ]
    mc = check(c, Readback(frozenset(), frozenset()))
    assert mc.detect is not None and abs(mc.detect - 0.8) < 1e-9
    assert mc.promote is not None and abs(mc.promote - 1.5) < 1e-9


def test_a_history_survives_json(tmp_path: Path) -> None:
    h = _failover_history()
    path = tmp_path / "h.json"
    path.write_text(h.dumps())
    again = History.from_dict(json.loads(path.read_text()))
    assert again == h
