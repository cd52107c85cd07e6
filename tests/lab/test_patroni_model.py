"""Two real Patroni + PostgreSQL 15 members run from the reconfigure model's files for the rendered
seed (patroni.yaml, pg_hba.conf, postgresql.base.conf, runtime.conf): the replica streams, and after a
switchover the old leader rejoins. Each node sends from its own loopback address (lab network), so
pg_hba.conf judges the peers as it would across hosts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from gitlab_ha.lab.lab import Lab
from gitlab_ha.lab.network import LabNetwork
from gitlab_ha.lab.plan import LabPlan, node_root
from gitlab_ha.lab.programs import program
from gitlab_ha.lab.supervisor import Program
from gitlab_ha.proc import wait_for, wait_tcp
from tests.helpers import preset_text

# one lab at a time: `make test` runs the lab modules after the rest, serially (-m lab)
pytestmark = [pytest.mark.slow, pytest.mark.lab, pytest.mark.timeout(900)]  # a lab up, then drills
MEMBERS = ("postgres-1", "postgres-2")
PATRONICTL = Path(sys.executable).parent / "patronictl"


@pytest.fixture(scope="module")
def patroni_lab(lab_dir: Path) -> Iterator[tuple[Lab, LabPlan]]:
    lab = Lab(lab_dir)
    plan = lab.prepare(preset_text("seed-15"), "seed-15")
    network = LabNetwork(lab.dir, plan.addresses)
    addresses = " ".join(plan.node(name).address for name in MEMBERS)
    # The DCS: one agent answering on both members' addresses (their patroni.yaml's Consul URL).
    dcs = Program(
        "consul",
        MEMBERS[0],
        (sys.executable, "-m", "gitlab_ha", "consul", "agent", "-dev", "-client", addresses),
    )
    progs = [dcs, *(program(plan, plan.node(name), "patroni") for name in MEMBERS)]
    try:
        network.up()
        lab.supervisor.write(progs, network)
        lab.supervisor.start()
        lab.supervisor.start_program(dcs.name)
        wait_tcp(plan.node(MEMBERS[0]).address, 8500, deadline=30)
        yield lab, plan
    finally:
        lab.down()


def _api(plan: LabPlan, name: str, path: str) -> Any:
    return requests.get(f"http://{plan.node(name).address}:8008{path}", timeout=5)


def _cluster(plan: LabPlan) -> dict[str, dict[str, Any]]:
    for name in MEMBERS:
        try:
            reply = _api(plan, name, "/cluster")
            return {m["name"]: m for m in reply.json()["members"]}
        except (requests.RequestException, ValueError, KeyError):
            continue
    return {}


def _wait_roles(plan: LabPlan, leader: str, replica: str, deadline: float) -> dict[str, dict[str, Any]]:
    def ready() -> dict[str, dict[str, Any]] | None:
        members = _cluster(plan)
        if members.get(leader, {}).get("role") == "leader" and members.get(replica, {}).get("state") == "streaming":
            return members
        return None

    members: dict[str, dict[str, Any]] = wait_for(ready, f"{leader} leading and {replica} streaming", deadline=deadline)
    return members


def _log(lab: Lab, name: str) -> str:
    path = lab.supervisor.log(f"patroni@{name}")
    return path.read_text()[-3000:] if path.exists() else ""


def test_the_replica_streams_and_the_old_leader_rejoins_after_a_switchover(patroni_lab: tuple[Lab, LabPlan]) -> None:
    lab, plan = patroni_lab
    first, second = MEMBERS
    lab.supervisor.start_program(f"patroni@{first}")
    wait_for(lambda: _api(plan, first, "/leader").status_code == 200, f"{first} to lead", deadline=90)
    lab.supervisor.start_program(f"patroni@{second}")
    try:
        _wait_roles(plan, first, second, deadline=120)
    except TimeoutError:
        pytest.fail(f"{second} never streamed from {first}:\n{_log(lab, second)}")

    config = node_root(lab.dir, first) / "patroni" / "patroni.yaml"
    # as `gitlab-ctl patroni switchover` on the leader's host: from its address (Patroni's allowlist)
    argv = [str(PATRONICTL), "-c", str(config), "switchover", "--leader", first, "--candidate", second, "--force"]
    done = subprocess.run(
        lab.exec_argv(first, argv),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        members = _wait_roles(plan, second, first, deadline=120)
    except TimeoutError:
        pytest.fail(f"{first} did not rejoin as a replica of {second}:\n{_log(lab, first)}")
    assert members[first]["timeline"] == members[second]["timeline"]
