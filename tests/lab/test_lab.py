"""Issue 13's acceptance on one shared lab of the seed's cluster: up and healthy, a write through the
internal load balancer lands on the Patroni leader, a stopped leader node and a stopped Redis master
are survived, SIGKILLed programs come back, and `lab down` leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import redis

from gitlab_ha.lab.lab import Lab, leader
from gitlab_ha.lab.network import LabNetwork
from gitlab_ha.lab.plan import LabNode
from gitlab_ha.probe.redis import discover_master, redis_client
from gitlab_ha.probe.status import collect, healthy
from gitlab_ha.proc import call, wait_for
from gitlab_ha.secrets.store import SecretStore
from tests.helpers import cli

# one lab at a time: `make test` runs the lab modules after the rest, serially (-m lab)
pytestmark = [pytest.mark.slow, pytest.mark.lab, pytest.mark.timeout(900)]  # a lab up, then drills
LB = "127.10.1.233"


@pytest.fixture(scope="module")
def lab(lab_dir: Path) -> Iterator[Lab]:
    # under a hardened root umask: every folder a service reads must still be its own or traversable
    # (077 once left patroni/data root's 0700 and no leader ever bootstrapped)
    up = cli("lab", "up", "--preset", "seed-15", "--dir", lab_dir, timeout=360, umask=0o077)  # up gives up at 300 s
    the_lab = Lab(lab_dir)
    try:
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        yield the_lab
    finally:
        the_lab.down()


def _status(lab: Lab) -> dict[str, Any]:
    result = cli("lab", "status", "--json", "--dir", lab.dir)
    data: dict[str, Any] = json.loads(result.stdout)
    data["exit"] = result.returncode
    return data


def _wait_healthy(lab: Lab, deadline: float = 120) -> None:
    target = lab.target()

    def ok() -> bool:
        return healthy(collect(target))

    try:
        wait_for(ok, "the lab to be healthy", deadline=deadline, step=1.0)
    except TimeoutError:
        pytest.fail(json.dumps(_status(lab), indent=1)[-4000:])


def _write(lab: Lab, value: str) -> str:
    """Insert through the internal LB's PgBouncer frontend; returns the server that took it."""
    password = SecretStore.load(lab.store).get("gitlab_db_password")
    with psycopg.connect(
        host=LB, port=6432, dbname="gitlabhq_production", user="gitlab", password=password, connect_timeout=5
    ) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS lab_writes (v text)")
        conn.execute("INSERT INTO lab_writes VALUES (%s)", (value,))
        row = conn.execute("SELECT host(inet_server_addr())").fetchone()
        assert row is not None
        return str(row[0])


def test_up_is_healthy_and_a_second_up_does_nothing(lab: Lab) -> None:
    status = _status(lab)
    assert status["exit"] == 0 and status["healthy"], json.dumps(status, indent=1)[-3000:]
    names = {c["component"] for c in status["components"]}
    assert {"Consul", "Patroni", "PgBouncer", "Redis", "HAProxy"} <= names
    again = cli("lab", "up", "--dir", lab.dir)
    assert again.returncode == 0 and "already up" in again.stdout


def test_a_write_through_the_internal_lb_lands_on_the_leader(lab: Lab) -> None:
    plan = lab.plan()
    assert _write(lab, "first") == leader(lab, plan).address


def test_the_leader_node_stopped(lab: Lab) -> None:
    plan = lab.plan()
    old = leader(lab, plan)
    cli("lab", "stop", old.name, "--dir", lab.dir)
    try:

        def other() -> LabNode | None:
            now = leader(lab, plan, deadline=5)
            return now if now.name != old.name else None

        new = wait_for(other, "a new leader", deadline=90)
        wrote = wait_for(lambda: _try_write(lab, "after failover"), "a write through 6432", deadline=90, step=0.5)
        assert wrote == new.address
    finally:
        cli("lab", "start", old.name, "--dir", lab.dir)
    _wait_healthy(lab)


def _try_write(lab: Lab, value: str) -> str | None:
    try:
        return _write(lab, value)
    except psycopg.Error:
        return None


def test_the_redis_master_stopped(lab: Lab) -> None:
    plan = lab.plan()
    password = SecretStore.load(lab.store).get("redis_password")
    sentinels = [(n.address, 26379) for n in plan.nodes if "sentinel" in n.runs]
    name = plan.lab_topo.redis.master_name
    found = discover_master(sentinels, name)
    assert found is not None
    host = found[0]
    master_node = next(n for n in plan.nodes if n.address == host)
    cli("lab", "stop", f"redis@{master_node.name}", "--dir", lab.dir)
    try:

        def written() -> str | None:
            # as a Sentinel-aware client: ask the Sentinels, then write to the master they name
            where = discover_master(sentinels, name)
            if where is None:
                return None
            client = redis_client(where[0], where[1], timeout=1, password=password)
            try:
                client.set("lab-key", "after failover")
            except redis.RedisError:
                return None
            finally:
                client.close()
            return where[0]

        promoted = wait_for(written, "a write through Sentinel", deadline=60, step=0.5)
        assert promoted != host
    finally:
        cli("lab", "start", f"redis@{master_node.name}", "--dir", lab.dir)
    _wait_healthy(lab)


@pytest.mark.parametrize("service", ["patroni", "pgbouncer", "redis", "sentinel", "consul", "haproxy"])
def test_a_killed_program_is_restarted(lab: Lab, service: str) -> None:
    plan = lab.plan()
    node = next(n for n in plan.nodes if service in n.runs)
    name = f"{service}@{node.name}"
    before = lab.supervisor.info()[name]["pid"]
    killed = cli("lab", "kill", name, "--signal", "KILL", "--dir", lab.dir)
    assert killed.returncode == 0, killed.stderr
    wait_for(
        lambda: (info := lab.supervisor.info()[name])["statename"] == "RUNNING" and info["pid"] != before,
        f"{name} restarted",
        deadline=60,
    )
    _wait_healthy(lab)


def test_down_leaves_nothing(lab: Lab) -> None:
    plan = lab.plan()
    network = LabNetwork(lab.dir, plan.addresses)
    supervisor_pid = lab.supervisor.pid()
    assert supervisor_pid is not None
    # as a drill killed mid-fault leaves it: a frozen node, and a stopped process on another
    frozen = next(n for n in plan.nodes if "redis" in n.runs)
    network.freeze(frozen.name)
    stopped = next(n for n in plan.nodes if "pgbouncer" in n.runs)
    pgbouncer = lab.supervisor.info()[f"pgbouncer@{stopped.name}"]["pid"]
    os.kill(pgbouncer, signal.SIGSTOP)
    status = cli("lab", "status", "--dir", lab.dir)  # names them, not only their symptoms
    assert status.returncode == 1
    assert f"left by a drill: frozen node: {frozen.name}" in status.stderr, status.stderr
    assert f"left by a drill: stopped process: {pgbouncer} (pgbouncer) on {stopped.name}" in status.stderr
    log = lab.supervisor.logs / "supervisord.log"
    before = log.stat().st_size
    down = cli("lab", "down", "--dir", lab.dir)
    assert down.returncode == 0, down.stdout + down.stderr
    # down resumed them first: each stopped on its SIGTERM instead of sitting out its stop timeout for a
    # SIGKILL (supervisord logs "stopped: NAME (terminated by SIGKILL)" then)
    with log.open("rb") as text:
        text.seek(before)
        stops = text.read().decode(errors="replace").splitlines()
    resumed = [f"redis@{frozen.name}", f"sentinel@{frozen.name}", f"pgbouncer@{stopped.name}"]
    for name in resumed:
        ends = [line for line in stops if f"stopped: {name} (" in line]
        assert len(ends) == 1 and "SIGKILL" not in ends[0], (name, ends)
    assert not psutil.pid_exists(supervisor_pid) or psutil.Process(supervisor_pid).status() == psutil.STATUS_ZOMBIE
    addresses = set(plan.addresses.values())
    # a socket some process still holds on a lab address; a closed connection's TIME_WAIT or FIN_WAIT2 is
    # the kernel's alone (no owner: pid None) and ends by itself
    held = [
        (c.laddr, c.raddr, c.status, c.pid)
        for c in psutil.net_connections(kind="inet")
        if c.laddr and c.laddr.ip in addresses and c.pid is not None
    ]
    assert held == [], held
    assert not network.cgroup.exists() and not network.exists()
    assert not lab.supervisor.socket.exists()
    leftovers = [p.pid for p in psutil.process_iter(["cmdline"]) if str(lab.dir) in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
    namespaces = call(["ip", "netns", "list"], timeout=10).stdout
    assert network.lab_id not in namespaces  # the lab uses cgroups and one nftables table, no namespace
    assert (lab.dir / "nodes").is_dir()  # data kept without --purge


def test_up_again_after_down_keeps_the_data(lab: Lab) -> None:
    """`lab down` keeps the data: the next `lab up` comes back healthy on it (the runbook's one-off steps
    run again and must not fail on what exists) with the rows written before."""
    up = cli("lab", "up", "--dir", lab.dir, timeout=360, umask=0o077)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    _wait_healthy(lab)
    password = SecretStore.load(lab.store).get("gitlab_db_password")
    with psycopg.connect(
        host=LB, port=6432, dbname="gitlabhq_production", user="gitlab", password=password, connect_timeout=5
    ) as conn:
        values = {str(row[0]) for row in conn.execute("SELECT v FROM lab_writes").fetchall()}
    assert {"first", "after failover"} <= values, values


def test_down_purge_through_a_symlink_removes_the_lab_and_the_link(lab: Lab) -> None:
    """`--dir` may be a symlink to the lab: --purge stops it, deletes the directory it points at (the data)
    and the link, so no dangling link is left. Runs last: the module's lab is gone after it."""
    link = lab.dir.with_name(lab.dir.name + "-link")
    link.symlink_to(lab.dir)
    try:
        done = cli("lab", "down", "--purge", "--dir", link)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "directory removed" in done.stdout
        assert not link.is_symlink() and not lab.dir.exists()
    finally:
        if link.is_symlink():
            link.unlink()
