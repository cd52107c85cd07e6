"""State survives restarts and crashes; the command log replays to the same state (what replication will need)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import consul

from gitlab_ha.discovery.persist import LOG, SNAPSHOT, Entry, Store, load_snapshot, replay
from gitlab_ha.discovery.state import (
    Command,
    CommandError,
    KVDelete,
    KVSet,
    RegisterCheck,
    RegisterNode,
    RegisterService,
    SessionCreate,
    SessionDestroy,
    State,
    UpdateCheck,
)
from gitlab_ha.proc import call
from tests.discovery.conftest import RunningAgent, WebServer, run_cli, wait_until

SVC = {
    "ID": "web1",
    "Service": "web",
    "Tags": ["v1"],
    "Address": "",
    "Port": 80,
    "Meta": {},
    "EnableTagOverride": False,
    "Weights": {"Passing": 1, "Warning": 1},
}


def commands() -> list[Command]:
    return [
        RegisterNode("n1", "id-1", "127.0.0.1", "dc1"),
        RegisterService(
            "n1", SVC, ({"CheckID": "service:web1", "Name": "c", "ServiceID": "web1", "TTL": "10s", "Type": "ttl"},)
        ),
        RegisterCheck("n1", {"CheckID": "disk", "Name": "disk", "TTL": "10s", "Type": "ttl", "Status": "passing"}),
        KVSet("a", b"\x00\xffbinary", flags=7),
        SessionCreate("s1", "lock", "n1", ("serfHealth", "disk"), (), 5.0, "release", 0.0, at=100.0),
        KVSet("lock", b"me", acquire="s1", at=100.0),
        KVSet("a", b"again", cas=1),  # fails: wrong ModifyIndex
        UpdateCheck("n1", "disk", "critical", "full", at=101.0),  # invalidates s1, releases the lock
        KVDelete("nothing"),
        SessionDestroy("s1", at=103.0),
    ]


def test_commands_round_trip_and_replay_deterministically() -> None:
    first, second = State(), State()
    results = []
    for cmd in commands():
        again = Command.from_json(json.loads(json.dumps(cmd.to_json())))
        assert again == cmd
        results.append(first.apply(cmd))
        second.apply(again)
    assert first.snapshot() == second.snapshot()
    assert results[6] is False
    assert first.kv["lock"]["Session"] == "" and first.kv["lock"]["LockIndex"] == 1
    assert first.lock_delay["lock"] == 106.0
    assert State.restore(json.loads(json.dumps(first.snapshot()))).snapshot() == first.snapshot()


def _append(store: Store, cmds: list[Command], term: int = 1) -> None:
    """Append as a leader of `term` would, every entry committed."""
    for cmd in cmds:
        entry = Entry(store.last_index + 1, term, cmd)
        store.append([entry], entry.index)
        with contextlib.suppress(CommandError):  # a refused command is in the log too
            store.state.apply(cmd, entry.index)


def test_store_replays_log_drops_torn_tail_and_compacts(tmp_path: Path) -> None:
    store = Store(tmp_path)
    _append(store, commands())
    expected = store.state.snapshot()
    store.close()
    assert replay(tmp_path)[2].snapshot() == expected
    with open(tmp_path / LOG, "ab") as fh:
        fh.write(b'0badc0de {"seq": 999, "cmd": {"kind": "kv_set", "key": "torn"')  # a crash in the middle of a write
    again = Store(tmp_path)
    assert again.commit_hint == len(commands()) and again.last_index == len(commands())
    _append(again, [KVSet("after", b"1")])
    again.close()
    assert replay(tmp_path)[2].kv["after"]["Value"] == b"1"

    # compaction: a child process writes the snapshot, the agent keeps only the log after it
    store = Store(tmp_path)
    upto = store.last_index - 2
    done = call(store.compact_argv(upto))
    assert done.returncode == 0, done.stderr
    store.finish_compaction(upto)
    assert store.snapshot_index == upto and [e.index for e in store.entries] == [upto + 1, upto + 2]
    store.close()
    assert load_snapshot(tmp_path / SNAPSHOT)[0] == upto
    assert replay(tmp_path)[2].kv["after"]["Value"] == b"1"


def test_acknowledged_writes_survive_kill_9(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    data = tmp_path / "data"
    agent = agents("-data-dir", str(data))
    client = consul.Consul(host=agent.host, port=agent.http_port)
    for i in range(50):
        assert client.kv.put(f"k/{i:02d}", str(i)) is True
    client.agent.service.register("web", service_id="web1", port=8080, tags=["v1"])
    session = client.session.create(name="keep", behavior="release", lock_delay=0)
    assert client.kv.put("lock", "me", acquire=session)
    index_before = int(client.kv.get("k/49")[0])
    os.kill(agent.proc.pid, signal.SIGKILL)
    agent.proc.wait(timeout=10)

    agent = agents("-data-dir", str(data))
    client = consul.Consul(host=agent.host, port=agent.http_port)
    _, entries = client.kv.get("k/", recurse=True)
    assert [e["Value"] for e in entries] == [str(i).encode() for i in range(50)]
    assert int(client.kv.get("k/49")[0]) == index_before
    assert client.kv.get("lock")[1]["Session"] == session
    assert client.agent.services()["web1"]["Tags"] == ["v1"]
    # the index keeps growing from where it was: blocking clients never see it go backwards
    client.kv.put("k/new", "x")
    assert int(client.kv.get("k/new")[0]) > index_before


def test_a_data_dir_serves_one_agent(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    data = tmp_path / "data"
    agents("-data-dir", str(data))
    done = run_cli("consul", "agent", "-data-dir", str(data), "-http-port", "0", "-dns-port", "0")
    assert done.returncode == 1 and "in use by another agent" in done.stderr and "Traceback" not in done.stderr


def test_restart_keeps_passing_http_check_passing(
    agents: Callable[..., RunningAgent], web_server: WebServer, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    agent = agents("-data-dir", str(data))
    check = {"HTTP": f"http://127.0.0.1:{web_server.port}/", "Interval": "1s"}
    assert (
        agent.http(
            "PUT", "/v1/agent/service/register", json.dumps({"Name": "web", "Port": web_server.port, "Check": check})
        )[0]
        == 200
    )
    wait_until(lambda: agent.get("/v1/health/checks/web")[0]["Status"] == "passing", "the check to pass")
    before = agent.get("/v1/health/checks/web")[0]
    agent.stop()

    agent = agents("-data-dir", str(data))
    # a blocking read from the check's index: the restored check keeps passing through several probes,
    # so the read returns only when its wait is over, with the same index and status
    _, checks, headers = agent.http("GET", f"/v1/health/checks/web?index={before['ModifyIndex']}&wait=3s")
    assert int(headers["X-Consul-Index"]) == before["ModifyIndex"]
    assert checks[0]["Status"] == "passing" and checks[0]["ModifyIndex"] == before["ModifyIndex"]


def test_tombstones_are_reaped_without_moving_prefix_indexes_back() -> None:
    from gitlab_ha.discovery import kv
    from gitlab_ha.discovery.state import TOMBSTONES_MAX

    state = State()
    for i in range(TOMBSTONES_MAX + 5):
        state.apply(KVSet(f"gone/{i}", b"x"))
        state.apply(KVDelete(f"gone/{i}"))
    assert len(state.kv_tombstones) <= TOMBSTONES_MAX
    seen = kv.list_prefix(state, "gone/")[0]
    assert seen == state.index  # the newest deletion
    assert kv.list_prefix(state, "gone/1")[0] >= state.kv_tombstone_floor > 0


def test_restart_under_a_new_node_name_drops_the_old_node(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = agents("-data-dir", str(data), node="old-name")
    node_id = old.get("/v1/agent/self")["Config"]["NodeID"]
    old.stop()

    agent = agents("-data-dir", str(data), node="new-name")
    assert agent.get("/v1/agent/self")["Config"]["NodeID"] == node_id
    nodes = agent.get("/v1/catalog/nodes")
    assert [(n["Node"], n["ID"]) for n in nodes] == [("new-name", node_id)]
    assert agent.http("GET", "/v1/health/node/old-name")[1] == []
    assert [c["Node"] for c in agent.get("/v1/health/state/passing")] == ["new-name"]
