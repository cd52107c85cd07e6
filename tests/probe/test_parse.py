"""Each collector's parse function on recorded output: verdicts for healthy and broken states."""

from __future__ import annotations

from typing import Any

from gitlab_ha.probe import consul, haproxy, patroni, pgbouncer
from gitlab_ha.probe import redis as redis_probe
from gitlab_ha.probe.model import Verdict

CLUSTER: dict[str, Any] = {
    "members": [
        {"name": "postgres-1", "role": "leader", "state": "running", "host": "127.10.1.120", "timeline": 2},
        {
            "name": "postgres-2",
            "role": "replica",
            "state": "streaming",
            "host": "127.10.1.167",
            "timeline": 2,
            "lag": 0,
        },
    ],
    "scope": "postgresql-ha",
}


def test_patroni_healthy_degraded_and_down() -> None:
    component, leader = patroni.parse(CLUSTER, ["postgres-1", "postgres-2"])
    assert component.verdict is Verdict.OK and leader == "127.10.1.120"
    lagging = {"members": [CLUSTER["members"][0], {**CLUSTER["members"][1], "lag": 5 * 1048576}]}
    assert patroni.parse(lagging, ["postgres-1", "postgres-2"])[0].verdict is Verdict.DEGRADED
    for state in ("stopped", "running", "starting"):  # "running", not streaming: a demoted leader before rewind
        other = {"members": [CLUSTER["members"][0], {**CLUSTER["members"][1], "state": state}]}
        assert patroni.parse(other, ["postgres-1", "postgres-2"])[0].verdict is Verdict.DEGRADED, state
    missing = patroni.parse({"members": [CLUSTER["members"][0]]}, ["postgres-1", "postgres-2"])[0]
    assert missing.verdict is Verdict.DEGRADED and missing.rows[1].state == "missing"
    two = {"members": [CLUSTER["members"][0], {**CLUSTER["members"][1], "role": "leader", "state": "running"}]}
    assert patroni.parse(two, ["postgres-1", "postgres-2"])[0].verdict is Verdict.DEGRADED
    assert patroni.parse({"members": []}, ["postgres-1"])[0].verdict is Verdict.DOWN


def test_patroni_synchronous_mode_needs_a_synchronous_standby() -> None:
    """A replica streams before the leader has written it to /sync; until then no replica may promote,
    so a synchronous cluster is not yet healthy (a drill begun then saw no failover at all)."""
    expected = ["postgres-1", "postgres-2"]
    assert patroni.parse(CLUSTER, expected, sync=False)[0].verdict is Verdict.OK
    waiting = patroni.parse(CLUSTER, expected, sync=True)[0]
    assert waiting.verdict is Verdict.DEGRADED and "no synchronous standby" in waiting.summary
    listed = {"members": [CLUSTER["members"][0], {**CLUSTER["members"][1], "role": "sync_standby"}]}
    assert patroni.parse(listed, expected, sync=True)[0].verdict is Verdict.OK
    quorum = {"members": [CLUSTER["members"][0], {**CLUSTER["members"][1], "role": "quorum_standby"}]}
    assert patroni.parse(quorum, expected, sync=True)[0].verdict is Verdict.OK
    stopped = {
        "members": [CLUSTER["members"][0], {**CLUSTER["members"][1], "role": "sync_standby", "state": "stopped"}]
    }
    assert patroni.parse(stopped, expected, sync=True)[0].verdict is Verdict.DEGRADED
    alone = {"members": [CLUSTER["members"][0]]}
    assert patroni.parse(alone, ["postgres-1"], sync=True)[0].verdict is Verdict.OK  # nobody to wait for
    on = [True, "on", "1", 1, "yes", "quorum", "Quorum"]  # what Patroni itself takes for on
    assert all(patroni.synchronous({"synchronous_mode": value}) for value in on)
    off = [None, False, "off", "0", "no", "maybe"]
    assert not any(patroni.synchronous(c) for c in (None, {}, *({"synchronous_mode": value} for value in off)))


def test_consul_members() -> None:
    members = [
        {"Name": "consul-1", "Addr": "127.0.0.11", "Port": 8301, "Status": 1, "Tags": {"role": "consul"}},
        {"Name": "pg-1", "Addr": "127.0.0.21", "Port": 8301, "Status": 4, "Tags": {"role": "node"}},
    ]
    component = consul.parse(members, "127.0.0.11:8300", {"consul-1": "127.0.0.11", "pg-1": "127.0.0.21"})
    assert component.verdict is Verdict.DEGRADED
    assert [(r.node, r.state, r.ok) for r in component.rows] == [("consul-1", "alive", True), ("pg-1", "failed", False)]
    assert consul.parse(members, "", {"consul-1": "127.0.0.11"}).verdict is Verdict.DOWN


def test_redis_and_sentinels() -> None:
    infos: dict[str, tuple[str, dict[str, Any] | None]] = {
        "r1": ("127.0.0.1", {"role": "master", "connected_slaves": 1, "master_repl_offset": 10}),
        "r2": ("127.0.0.2", {"role": "slave", "master_host": "127.0.0.1", "master_link_status": "up"}),
    }
    rows, master = redis_probe.parse_redis(infos)
    assert master == "127.0.0.1" and all(r.ok for r in rows)
    broken: dict[str, tuple[str, dict[str, Any] | None]] = {
        **infos,
        "r2": ("127.0.0.2", {"role": "slave", "master_host": "127.0.0.1", "master_link_status": "down"}),
    }
    assert not redis_probe.parse_redis(broken)[0][1].ok
    views: dict[str, tuple[str, Any, str | None]] = {
        "s1": ("127.0.0.1", ["127.0.0.1", 6379], "OK"),
        "s2": ("127.0.0.2", ["127.0.0.9", 6379], "OK"),
    }
    assert [r.ok for r in redis_probe.parse_sentinels(views, master)] == [True, False]


def test_pgbouncer_target() -> None:
    rows: list[dict[str, Any]] = [
        {"name": "gitlabhq_production", "host": "127.10.1.120", "paused": 0},
        {"name": "pgbouncer", "host": None},
    ]
    assert pgbouncer.parse(rows, "gitlabhq_production") == ("127.10.1.120", False)
    assert pgbouncer.parse(rows, "other") == (None, False)


def test_haproxy_stat() -> None:
    text = (
        "# pxname,svname,qcur,status,\n"
        "pgbouncer,FRONTEND,0,OPEN,\n"
        "pgbouncer,postgres-1,0,UP,\n"
        "pgbouncer,postgres-2,0,DOWN,\n"
        "postgresql-leader,postgres-1,0,UP,\n"
        "postgresql-leader,postgres-2,0,DOWN,\n"
        "praefect,praefect-1,0,DOWN,\n"
    )
    backends = haproxy.parse(text)
    assert backends["pgbouncer"] == {"postgres-1": "UP", "postgres-2": "DOWN"}
    rows = haproxy.judge("lb", backends, lab=True)
    assert [(r.what, r.ok) for r in rows] == [
        ("backend pgbouncer", True),
        ("backend postgresql-leader", True),
        ("backend praefect", True),
    ]
    assert rows[2].state == "not runnable here"
    two_leaders = {"postgresql-leader": {"a": "UP", "b": "UP"}}
    assert not haproxy.judge("lb", two_leaders, lab=False)[0].ok
