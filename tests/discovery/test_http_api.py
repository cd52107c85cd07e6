"""HTTP API details clients rely on: status codes, headers, query parameters, body shapes."""

from __future__ import annotations

import json
import subprocess

from tests.discovery.conftest import RunningAgent


def put(agent: RunningAgent, path: str, body: object = None) -> tuple[int, object]:
    raw = body if isinstance(body, bytes) else (json.dumps(body) if body is not None else None)
    status, data, _ = agent.http("PUT", path, raw)
    return status, data


def test_agent_health_endpoints_answer_by_aggregated_status(agent: RunningAgent) -> None:
    assert (
        put(agent, "/v1/agent/service/register", {"Name": "api", "ID": "api1", "Port": 1, "Check": {"TTL": "60s"}})[0]
        == 200
    )
    status, body, _ = agent.http("GET", "/v1/agent/health/service/name/api")
    assert status == 503 and isinstance(body, list) and body[0]["AggregatedStatus"] == "critical"
    put(agent, "/v1/agent/check/warn/service:api1")
    status, body, _ = agent.http("GET", "/v1/agent/health/service/id/api1")
    assert status == 429 and isinstance(body, dict) and body["AggregatedStatus"] == "warning"
    put(agent, "/v1/agent/check/pass/service:api1")
    status, text, _ = agent.http("GET", "/v1/agent/health/service/name/api?format=text")
    assert (status, text.strip()) == (200, "passing")
    assert agent.http("GET", "/v1/agent/health/service/name/nope")[0] == 404
    service = agent.get("/v1/agent/service/api1")
    assert {
        "ID",
        "Service",
        "Tags",
        "Meta",
        "Port",
        "Address",
        "Weights",
        "EnableTagOverride",
        "ContentHash",
        "Datacenter",
    } <= set(service)


def test_replace_existing_checks(agent: RunningAgent) -> None:
    two = {"Name": "w", "Port": 1, "Checks": [{"CheckID": "a", "TTL": "60s"}, {"CheckID": "b", "TTL": "60s"}]}
    put(agent, "/v1/agent/service/register", two)
    one = {"Name": "w", "Port": 1, "Checks": [{"CheckID": "a", "TTL": "60s"}]}
    put(agent, "/v1/agent/service/register", one)
    assert {"a", "b"} <= set(agent.get("/v1/agent/checks"))  # kept without the flag, as in Consul
    put(agent, "/v1/agent/service/register?replace-existing-checks", one)
    checks = agent.get("/v1/agent/checks")
    assert "a" in checks and "b" not in checks


def test_reads_carry_index_headers_even_when_missing(agent: RunningAgent) -> None:
    for path in (
        "/v1/kv/none",
        "/v1/kv/none?recurse",
        "/v1/kv/?keys",
        "/v1/catalog/service/none",
        "/v1/health/service/none",
        "/v1/health/checks/none",
    ):
        status, _, headers = agent.http("GET", path)
        assert status in (200, 404), path
        assert int(headers["X-Consul-Index"]) >= 1 and headers["X-Consul-KnownLeader"] == "true", path
        assert headers["X-Consul-LastContact"].isdigit(), path
    assert agent.get("/v1/catalog/node/none") is None
    assert agent.get("/v1/status/leader") == agent.words["rpc"]  # the server's RPC address
    assert agent.get("/v1/status/peers") == [agent.words["rpc"]]
    assert agent.get("/v1/catalog/datacenters") == ["dc1"]
    status, text, _ = agent.http("GET", "/v1/kv/x?dc=elsewhere")
    assert status == 500 and "No path to datacenter" in text
    status, text, _ = agent.http("GET", "/v1/agent/service/register")
    assert status == 405 and "method GET not allowed" in text
    status, text, _ = agent.http("GET", "/v1/agent/service/nope")
    assert status == 404 and "unknown service ID" in text
    status, text, _ = agent.http("DELETE", "/v1/agent/members")
    assert status == 405


def test_kv_raw_flags_keys_separator_and_values(agent: RunningAgent) -> None:
    binary = bytes(range(256))
    assert put(agent, "/v1/kv/a/b/c?flags=42", binary) == (200, True)
    put(agent, "/v1/kv/a/b/d", b"")
    put(agent, "/v1/kv/a/e", b"x")
    raw = subprocess.run(["curl", "-sf", f"{agent.url}/v1/kv/a/b/c?raw"], capture_output=True, check=True).stdout
    assert raw == binary
    entry = agent.get("/v1/kv/a/b/c")[0]
    assert entry["Flags"] == 42 and "Session" not in entry
    assert agent.get("/v1/kv/a/b/d")[0]["Value"] is None  # an empty value is null, as in Consul
    assert agent.get("/v1/kv/a/?keys&separator=/") == ["a/b/", "a/e"]
    assert agent.get("/v1/kv/a/?keys") == ["a/b/c", "a/b/d", "a/e"]
    status, text, _ = agent.http("PUT", "/v1/kv/big", b"x" * (512 * 1024 + 1))
    assert status == 413 and "too large" in text


def test_health_state_sessions_by_node_and_session_fields(agent: RunningAgent) -> None:
    put(agent, "/v1/agent/check/register", {"Name": "mem", "TTL": "60s"})
    critical = agent.get("/v1/health/state/critical")
    assert [c["CheckID"] for c in critical] == ["mem"]
    assert {c["CheckID"] for c in agent.get("/v1/health/state/any")} == {"serfHealth", "mem"}
    status, created = put(agent, "/v1/session/create", {"Name": "s", "LockDelay": 5, "Checks": []})
    assert status == 200 and isinstance(created, dict)
    sessions = agent.get(f"/v1/session/node/{agent.node}")
    assert [s["ID"] for s in sessions] == [created["ID"]]
    session = sessions[0]
    assert session["LockDelay"] == 5_000_000_000 and session["NodeChecks"] == [] and session["Behavior"] == "release"
    assert {
        "ID",
        "Name",
        "Node",
        "LockDelay",
        "Behavior",
        "TTL",
        "NodeChecks",
        "ServiceChecks",
        "CreateIndex",
        "ModifyIndex",
    } <= set(session)
    status, _ = put(agent, f"/v1/session/destroy/{created['ID']}")
    assert status == 200 and agent.get(f"/v1/session/info/{created['ID']}") == []


def test_agent_self_and_members_shapes(agent: RunningAgent) -> None:
    me = agent.get("/v1/agent/self")
    assert me["Config"]["NodeName"] == agent.node and me["Config"]["Datacenter"] == "dc1"
    assert me["Member"]["Name"] == agent.node and me["Member"]["Status"] == 1
    members = agent.get("/v1/agent/members")
    assert members[0]["Tags"]["role"] == "consul" and members[0]["Tags"]["dc"] == "dc1"


def test_empty_check_id_falls_back_like_consul(agent: RunningAgent) -> None:
    assert put(agent, "/v1/agent/check/register", {"Name": "disk", "TTL": "60s", "ID": ""})[0] == 200
    assert (
        put(agent, "/v1/agent/service/register", {"Name": "web", "Port": 1, "Check": {"TTL": "60s", "CheckID": ""}})[0]
        == 200
    )
    checks = agent.get("/v1/agent/checks")
    assert "" not in checks
    assert {"disk", "service:web"} <= set(checks)
    assert put(agent, "/v1/agent/check/deregister/disk")[0] == 200
    assert "disk" not in agent.get("/v1/agent/checks")
    assert put(agent, "/v1/agent/check/register", {"Name": "", "TTL": "60s", "ID": ""})[0] == 400


def test_node_meta_filters_and_unsupported_filter_expressions(agent: RunningAgent) -> None:
    ext = {
        "Node": "ext1",
        "Address": "127.0.0.9",
        "NodeMeta": {"rack": "a"},
        "Service": {"Service": "web", "Port": 80},
    }
    assert put(agent, "/v1/catalog/register", ext)[0] == 200
    assert put(agent, "/v1/agent/service/register", {"Name": "web", "Port": 81})[0] == 200
    assert [n["Node"] for n in agent.get("/v1/catalog/nodes?node-meta=rack:a")] == ["ext1"]
    assert agent.get("/v1/catalog/nodes?node-meta=rack:a&node-meta=row:1") == []
    assert len(agent.get("/v1/catalog/nodes")) == 2
    assert [e["Node"] for e in agent.get("/v1/catalog/service/web?node-meta=rack:a")] == ["ext1"]
    assert [e["Node"]["Node"] for e in agent.get("/v1/health/service/web?node-meta=rack:a")] == ["ext1"]
    assert len(agent.get("/v1/health/service/web")) == 2
    assert agent.http("GET", "/v1/catalog/nodes?node-meta=rack")[0] == 400
    status, body, _ = agent.http("GET", "/v1/health/service/web?filter=Service.Port%20%3D%3D%2080")
    assert status == 400 and "filter" in body


def test_lock_delay_is_bounded_like_consul(agent: RunningAgent) -> None:
    for bad in (1e308, "1000000h", "-1s", "61s", 61):
        status, text, _ = agent.http("PUT", "/v1/session/create", json.dumps({"LockDelay": bad}))
        assert status == 400 and "LockDelay" in text, (bad, status, text)
    status, body, _ = agent.http("PUT", "/v1/session/create", json.dumps({"LockDelay": "60s"}))
    assert status == 200 and agent.get(f"/v1/session/info/{body['ID']}")[0]["LockDelay"] == 60_000_000_000
