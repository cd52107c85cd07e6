"""py-consul (the client library Patroni builds on) against the agent: kv, session, agent.service, health, catalog."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import consul
import pytest

from tests.discovery.conftest import RunningAgent, WebServer, wait_until


@pytest.fixture
def client(agent: RunningAgent) -> consul.Consul:
    return consul.Consul(host=agent.host, port=agent.http_port)


def test_kv_put_get_cas_flags_recurse_keys_delete(client: consul.Consul) -> None:
    assert client.kv.put("app/config/a", "1") is True
    assert client.kv.put("app/config/b", b"2", flags=42) is True
    index, entry = client.kv.get("app/config/b")
    assert entry["Value"] == b"2" and entry["Flags"] == 42 and int(index) == entry["ModifyIndex"]
    assert {"LockIndex", "Key", "Flags", "Value", "CreateIndex", "ModifyIndex"} <= set(entry)

    # cas=0 creates only; cas=<ModifyIndex> updates only that version
    assert client.kv.put("app/config/a", "x", cas=0) is False
    assert client.kv.put("app/config/new", "n", cas=0) is True
    _, a = client.kv.get("app/config/a")
    assert client.kv.put("app/config/a", "3", cas=a["ModifyIndex"] + 100) is False
    assert client.kv.put("app/config/a", "3", cas=a["ModifyIndex"]) is True
    _, a2 = client.kv.get("app/config/a")
    assert a2["Value"] == b"3" and a2["CreateIndex"] == a["CreateIndex"] and a2["ModifyIndex"] > a["ModifyIndex"]

    _, entries = client.kv.get("app/", recurse=True)
    assert [e["Key"] for e in entries] == ["app/config/a", "app/config/b", "app/config/new"]
    _, keys = client.kv.get("app/", keys=True, separator="/")
    assert keys == ["app/config/"]

    assert client.kv.delete("app/config/a", cas=a["ModifyIndex"]) is False
    assert client.kv.delete("app/config/a", cas=a2["ModifyIndex"]) is True
    assert client.kv.get("app/config/a")[1] is None
    assert client.kv.delete("app/", recurse=True) is True
    assert client.kv.get("app/", recurse=True)[1] is None


def test_sessions_and_locks(client: consul.Consul) -> None:
    s1 = client.session.create(name="one", behavior="release", ttl=10, lock_delay=0)
    s2 = client.session.create(name="two", behavior="delete", lock_delay=0)
    assert client.kv.put("lock/leader", "me", acquire=s1) is True
    assert client.kv.put("lock/leader", "you", acquire=s2) is False
    _, entry = client.kv.get("lock/leader")
    assert entry["Session"] == s1 and entry["LockIndex"] == 1
    assert client.kv.put("lock/leader", "again", acquire=s1) is True  # re-acquire keeps the lock index
    assert client.kv.get("lock/leader")[1]["LockIndex"] == 1
    assert client.kv.put("lock/leader", "x", release=s2) is False
    assert client.kv.put("lock/leader", "", release=s1) is True
    assert "Session" not in client.kv.get("lock/leader")[1]

    _, info = client.session.info(s1)
    assert info["Name"] == "one" and info["Behavior"] == "release" and info["TTL"] == "10s"
    assert info["NodeChecks"] == ["serfHealth"] and info["LockDelay"] == 0
    renewed = client.session.renew(s1)
    assert renewed["ID"] == s1
    _, listing = client.session.list()
    assert {s["ID"] for s in listing} == {s1, s2}

    # behavior=delete: destroying the session deletes what it holds
    assert client.kv.put("lock/ephemeral", "v", acquire=s2) is True
    assert client.session.destroy(s2) is True
    assert client.kv.get("lock/ephemeral")[1] is None
    with pytest.raises(consul.NotFound):
        client.session.renew(s2)
    with pytest.raises(consul.ConsulException, match="invalid session"):
        client.kv.put("lock/leader", "x", acquire=s2)


def test_session_lock_delay_blocks_reacquire(client: consul.Consul) -> None:
    s1 = client.session.create(lock_delay=60)
    assert client.kv.put("delayed", "a", acquire=s1) is True
    client.session.destroy(s1)
    s2 = client.session.create(lock_delay=0)
    assert client.kv.put("delayed", "b", acquire=s2) is False  # within s1's lock delay


def test_session_with_ttl_expires_and_releases(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    conf = tmp_path / "consul.d"
    conf.mkdir()
    (conf / "sessions.json").write_text(
        json.dumps({"session_ttl_min": "1s"})
    )  # Consul's own knob, to keep the test short
    agent = agents("-dev", "-config-dir", str(conf))
    client = consul.Consul(host=agent.host, port=agent.http_port)
    code, body, _ = agent.http(
        "PUT", "/v1/session/create", json.dumps({"TTL": "2s", "Behavior": "release", "LockDelay": 0})
    )
    assert code == 200, body
    sid = body["ID"]
    assert client.kv.put("ttl/key", "v", acquire=sid) is True
    assert client.session.renew(sid)["TTL"] == "2s"
    # Consul lets a session live up to 2×TTL after the last renewal; wait for that with a deadline
    wait_until(lambda: client.session.info(sid)[1] is None, "the session to expire", deadline=30, step=0.1)
    assert "Session" not in client.kv.get("ttl/key")[1]
    code, body, _ = agent.http("PUT", "/v1/session/create", json.dumps({"TTL": "0.5s"}))
    assert code == 500 and body.startswith("Invalid Session TTL")


def test_agent_service_health_and_catalog(agent: RunningAgent, client: consul.Consul, web_server: WebServer) -> None:
    check = consul.Check.http(f"http://127.0.0.1:{web_server.port}/", "1s", deregister="60s")
    assert client.agent.service.register(
        "pg", service_id="pg/node1", address="127.0.0.2", port=5432, tags=["primary"], check=check
    )
    assert client.agent.service.register("cache", port=6379, check=consul.Check.ttl("30s"))
    assert set(client.agent.services()) == {"pg/node1", "cache"}

    wait_until(lambda: client.health.service("pg", passing=True)[1], "pg's HTTP check to pass")
    _, entries = client.health.service("pg", tag="primary")
    assert entries[0]["Service"]["Address"] == "127.0.0.2" and entries[0]["Service"]["Port"] == 5432
    assert client.health.service("cache", passing=True)[1] == []
    client.agent.check.ttl_pass("service:cache", notes="fine")
    _, cache = client.health.service("cache", passing=True)
    assert [c["Output"] for c in cache[0]["Checks"] if c["CheckID"] == "service:cache"] == ["fine"]

    _, services = client.catalog.services()
    assert services == {"cache": [], "consul": [], "pg": ["primary"]}
    _, nodes = client.catalog.nodes()
    assert [n["Node"] for n in nodes] == [agent.node]
    _, pg = client.catalog.service("pg")
    assert pg[0]["ServiceID"] == "pg/node1" and pg[0]["ServiceAddress"] == "127.0.0.2"
    _, node = client.catalog.node(agent.node)
    assert set(node["Services"]) == {"pg/node1", "cache", "consul"}
    _, state = client.health.state("critical")
    assert all(c["Status"] == "critical" for c in state)
    _, checks = client.health.checks("pg")
    assert checks[0]["CheckID"] == "service:pg/node1"
    assert client.agent.service.deregister("pg/node1")
    assert client.health.service("pg")[1] == []


def test_blocking_queries_wake_on_change(client: consul.Consul) -> None:
    client.kv.put("watched", "1")
    index, _ = client.kv.get("watched")
    result: dict[str, Any] = {}

    def block() -> None:
        result["index"], result["entry"] = client.kv.get("watched", index=index, wait="30s")

    thread = threading.Thread(target=block)
    thread.start()
    client.kv.put("unrelated", "x")  # another key does not wake a single-key query
    client.kv.put("watched", "2")
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert result["entry"]["Value"] == b"2" and int(result["index"]) > int(index)

    # an index in the future with a short wait returns when the wait is over, same index
    idx2, entry = client.kv.get("watched", index=int(result["index"]), wait="1s")
    assert idx2 == result["index"] and entry["Value"] == b"2"

    services_index, _ = client.catalog.services()
    woke: dict[str, Any] = {}

    def block_services() -> None:
        woke["index"], woke["services"] = client.catalog.services(index=services_index, wait="30s")

    thread = threading.Thread(target=block_services)
    thread.start()
    client.agent.service.register("late", port=1)
    thread.join(timeout=60)
    assert "late" in woke["services"] and int(woke["index"]) > int(services_index)


def test_health_blocking_query_wakes_on_check_status(client: consul.Consul) -> None:
    client.agent.service.register("queue", port=5672, check=consul.Check.ttl("60s"))
    index, entries = client.health.service("queue", passing=True)
    assert entries == []
    result: dict[str, Any] = {}

    def block() -> None:
        result["index"], result["entries"] = client.health.service("queue", passing=True, index=index, wait="30s")

    thread = threading.Thread(target=block)
    thread.start()
    client.agent.check.ttl_pass("service:queue")
    thread.join(timeout=60)
    assert [e["Service"]["ID"] for e in result["entries"]] == ["queue"] and int(result["index"]) > int(index)


def test_catalog_register_external_node(agent: RunningAgent, client: consul.Consul) -> None:
    service = {"Service": "s3", "ID": "s3-1", "Port": 443, "Tags": ["objects"]}
    check = {"CheckID": "s3-alive", "Name": "external probe", "Status": "passing", "ServiceID": "s3-1"}
    assert client.catalog.register("storage", "127.0.3.1", service=service, check=check)
    # py-consul sends node_meta as a query parameter, which Consul ignores: give NodeMeta in the body
    body = {"Node": "storage", "Address": "127.0.3.1", "NodeMeta": {"external": "true"}}
    assert agent.http("PUT", "/v1/catalog/register", json.dumps(body))[1] is True
    _, node = client.catalog.node("storage")
    assert node["Node"]["Address"] == "127.0.3.1" and node["Node"]["Meta"]["external"] == "true"
    assert [e["Service"]["ID"] for e in client.health.service("s3", passing=True)[1]] == ["s3-1"]
    _, checks = client.health.node("storage")
    assert [c["CheckID"] for c in checks] == ["s3-alive"]  # no serfHealth: no agent runs there
    assert client.catalog.deregister("storage", service_id="s3-1")
    assert client.health.service("s3")[1] == []
    assert client.catalog.deregister("storage")
    assert client.catalog.node("storage")[1] is None
    code, text, _ = agent.http("PUT", "/v1/catalog/register", json.dumps({"Node": "x"}))
    assert code == 400 and "address" in text


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # py-consul's own use of aiohttp
def test_py_consul_asyncio_client(agent: RunningAgent) -> None:
    import asyncio

    import consul.aio

    async def scenario() -> tuple[bytes, bytes]:
        client = consul.aio.Consul(host=agent.host, port=agent.http_port)
        try:
            await client.kv.put("aio/key", "1")
            index, _ = await client.kv.get("aio/key")
            waiter = asyncio.ensure_future(client.kv.get("aio/key", index=index, wait="30s"))
            await client.kv.put("aio/key", "2")
            _, entry = await asyncio.wait_for(waiter, 60)
            sid = await client.session.create(ttl=10)
            assert await client.kv.put("aio/lock", "me", acquire=sid)
            _, lock = await client.kv.get("aio/lock")
            return entry["Value"], lock["Session"].encode()
        finally:
            await client.close()

    value, holder = asyncio.run(scenario())
    assert value == b"2" and holder
