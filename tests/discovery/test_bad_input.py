"""Bad input is refused with a Consul-style 400 (never a 500 or a traceback); DNS survives any packet."""

from __future__ import annotations

import json
import random
import socket
import struct
from pathlib import Path
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitlab_ha.discovery.config import parse_document, parse_service, services_in_document
from gitlab_ha.discovery.dns import Resolver, Settings
from gitlab_ha.discovery.dns_server import ZoneSync
from gitlab_ha.discovery.state import RegisterNode, RegisterService, State
from gitlab_ha.errors import InputError
from tests.discovery.conftest import RunningAgent, dig, run_cli

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
service_keys = st.sampled_from(
    [
        "Name",
        "name",
        "ID",
        "Tags",
        "Port",
        "Address",
        "Meta",
        "Check",
        "Checks",
        "Weights",
        "EnableTagOverride",
        "bogus",
    ]
)
check_keys = st.sampled_from(
    [
        "Name",
        "HTTP",
        "TCP",
        "TTL",
        "Args",
        "Interval",
        "Timeout",
        "Status",
        "DeregisterCriticalServiceAfter",
        "SuccessBeforePassing",
        "ServiceID",
        "nope",
    ]
)
service_bodies = st.dictionaries(service_keys, json_values, max_size=6) | st.dictionaries(
    st.just("Check"), st.dictionaries(check_keys, json_values, max_size=5), min_size=1
).map(lambda d: {"Name": "svc", **d})

# Consul answers these RPC-level refusals with 500, and Patroni relies on it ("Invalid Session TTL", "invalid session").
CONSUL_500 = ("Invalid Session TTL", "Invalid Behavior", "Missing check", "invalid session")


def assert_refused_well(status: int, body: Any) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    assert "Traceback" not in text
    if status == 500:
        assert text.startswith(CONSUL_500), text
    else:
        assert status in (200, 400, 404, 413), (status, text)
    if status == 400:
        assert len(text.strip().splitlines()) == 1 and text.strip(), text


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "Request decode failed"),
        ('{"Name": "web", "Port": "eighty"}', "Port: expected an integer"),
        ('{"Name": "web", "Tags": "v1"}', "Tags: expected a list of strings"),
        ('{"Name": "web", "Colour": "blue"}', "invalid key 'Colour'"),
        ('{"Name": "web", "Check": {"HTTP": "http://x/", "Interval": "soon"}}', "invalid duration"),
        ('{"Name": "web", "Check": {"HTTP": "http://x/"}}', "interval is required"),
        ('{"Name": "web", "Check": {"TCP": "x:1", "Interval": "100ms"}}', "at least 1s"),
        ('{"Name": "web", "Check": {"Args": ["true"], "Interval": "5s"}}', "Scripts are disabled"),
        ('{"Port": 80}', "missing service name"),
        ("[1, 2]", "expected an object"),
    ],
)
def test_register_refuses_bad_definitions_with_400(agent: RunningAgent, body: str, message: str) -> None:
    status, text, _ = agent.http("PUT", "/v1/agent/service/register", body)
    assert status == 400, text
    assert message in text and len(text.strip().splitlines()) == 1


def test_other_endpoints_refuse_bad_input(agent: RunningAgent) -> None:
    cases = [
        ("GET", "/v1/kv/a?index=abc", None, 400),
        ("GET", "/v1/kv/a?index=1&wait=forever", None, 400),
        ("PUT", "/v1/kv/a?cas=-3", b"x", 400),
        ("PUT", "/v1/kv/a?flags=x", b"x", 400),
        ("PUT", "/v1/kv/", b"x", 400),
        ("PUT", "/v1/session/create", b'{"Behavior": 3}', 400),
        ("PUT", "/v1/session/create", b'{"LockDelay": "a while"}', 400),
        ("PUT", "/v1/session/create", b'{"Color": "red"}', 400),
        ("PUT", "/v1/agent/check/register", b'{"Name": "x"}', 400),
        ("PUT", "/v1/agent/check/update/nope", b'{"Status": "fine"}', 400),
        ("GET", "/v1/health/state/sleepy", None, 400),
        ("PUT", "/v1/agent/service/deregister/nope", None, 404),
    ]
    for method, path, body, expected in cases:
        status, text, headers = agent.http(method, path, body)
        assert status == expected, (path, status, text)
        assert "Traceback" not in str(text)
    status, _, headers = agent.http("GET", "/v1/kv/missing")
    assert status == 404 and int(headers["X-Consul-Index"]) >= 1
    status, text, _ = agent.http("PUT", "/v1/session/create", b'{"TTL": "5s"}')
    assert status == 500 and text.startswith("Invalid Session TTL")


@FUZZ
@given(body=service_bodies)
def test_fuzz_service_register_never_500(agent: RunningAgent, body: dict[str, Any]) -> None:
    status, text, _ = agent.http("PUT", "/v1/agent/service/register", json.dumps(body))
    assert_refused_well(status, text)


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/v1/agent/check/register",
            "/v1/session/create",
            "/v1/agent/check/update/serfHealth",
            "/v1/catalog/register",
            "/v1/catalog/deregister",
            "/v1/agent/service/register",
        ]
    ),
    body=json_values | st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
)
def test_fuzz_put_bodies_never_500(agent: RunningAgent, path: str, body: Any) -> None:
    raw = body if isinstance(body, str) else json.dumps(body)
    status, text, _ = agent.http("PUT", path, raw)
    assert_refused_well(status, text)


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["index", "wait", "cas", "flags", "recurse", "keys", "raw", "acquire", "release", "separator"]),
        st.text(alphabet="0123456789abs-.", max_size=6),
        max_size=4,
    )
)
def test_fuzz_kv_query_params_never_500(agent: RunningAgent, params: dict[str, str]) -> None:
    from urllib.parse import urlencode

    if "index" in params:
        params["wait"] = "10ms"  # a blocking read must not hold the fuzzer for minutes
    query = urlencode(params)
    for method in ("GET", "PUT", "DELETE"):
        status, text, _ = agent.http(method, f"/v1/kv/fuzz/key?{query}", b"v" if method == "PUT" else None)
        assert_refused_well(status, text)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=80)
    | st.sampled_from(['service { name = "x"', "service = [", '{"service": ', 'service "a" "b" { port = }'])
)
def test_fuzz_definition_parser_only_raises_input_error(text: str) -> None:
    for hcl in (False, True):
        try:
            services_in_document(parse_document(text, "fuzz.hcl", hcl_hint=hcl), "fuzz.hcl")
        except InputError as exc:
            assert str(exc).startswith("fuzz.hcl")


def test_hcl_definition_and_errors_name_file_and_field(tmp_path: Path) -> None:
    good = tmp_path / "redis.hcl"
    good.write_text(
        'service {\n  id = "red0"\n  name = "redis"\n  tags = ["primary"]\n  port = 6000\n  checks = [\n    {\n      args = ["/bin/true"]\n      interval = "5s"\n      timeout = "20s"\n    }\n  ]\n}\n'
    )
    svc, checks = services_in_document(parse_document(good.read_text(), str(good), hcl_hint=True), str(good))[0]
    assert (svc["ID"], svc["Service"], svc["Tags"], svc["Port"]) == ("red0", "redis", ["primary"], 6000)
    assert checks[0]["Args"] == ["/bin/true"] and checks[0]["CheckID"] == "service:red0"

    bad = tmp_path / "bad.hcl"
    bad.write_text('service {\n  name = "redis"\n  port = "six"\n}\n')
    done = run_cli("consul", "validate", tmp_path)
    assert done.returncode == 2
    assert f"{bad}: service.port: expected an integer" in done.stderr and "Traceback" not in done.stderr
    assert "Scripts are disabled" in run_cli("consul", "validate", good).stderr
    (tmp_path / "bad.hcl").write_text("service {\n  name = \n")
    done = run_cli("consul", "validate", tmp_path / "bad.hcl")
    assert done.returncode == 2 and "invalid HCL" in done.stderr and "Traceback" not in done.stderr
    (tmp_path / "bad.hcl").write_text('{"service": {"name": "x", "port": 1,}}')
    done = run_cli("consul", "validate", tmp_path / "bad.hcl")
    assert done.returncode == 2 and "invalid JSON" in done.stderr
    with pytest.raises(InputError, match="invalid key 'colour'"):
        parse_service({"name": "x", "colour": 1}, "f.json: service")


def _resolver() -> Resolver:
    state = State()
    state.apply(RegisterNode("n1", "id", "127.0.0.1", "dc1"))
    for i in range(60):
        svc = {"ID": f"web{i}", "Service": "web", "Tags": [f"t{i % 3}", "all"], "Address": f"127.0.1.{i}", "Port": 8000 + i,
               "Meta": {}, "EnableTagOverride": False, "Weights": {"Passing": 1, "Warning": 1}}  # fmt: skip
        state.apply(RegisterService("n1", svc))
    sync = ZoneSync(state)
    sync.refresh_all()
    return Resolver(sync.zone, Settings())


@settings(max_examples=500, deadline=None)
@given(packet=st.binary(max_size=600))
def test_fuzz_dns_random_packets_in_process(packet: bytes) -> None:
    reply = _resolver_cached.handle(packet, udp=True)
    if reply is not None:
        assert len(reply) <= 4096
        DNSRecord.parse(reply)


_resolver_cached = _resolver()


@settings(max_examples=300, deadline=None)
@given(name=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=10), min_size=1, max_size=6),
       qtype=st.sampled_from(["A", "AAAA", "SRV", "ANY", "TXT", "MX", "PTR", "SOA"]))  # fmt: skip
def test_fuzz_dns_names_in_process(name: list[str], qtype: str) -> None:
    qname = ".".join(name) + ".service.consul"
    reply = DNSRecord.parse(_resolver_cached.handle(DNSRecord.question(qname, qtype).pack(), udp=True) or b"")
    assert reply.header.rcode in (RCODE.NOERROR, RCODE.NXDOMAIN)


def test_udp_truncation_sets_tc_and_tcp_has_everything() -> None:
    resolver = _resolver_cached
    request = DNSRecord.question("web.service.consul", "SRV")
    udp = DNSRecord.parse(resolver.handle(request.pack(), udp=True) or b"")
    tcp = DNSRecord.parse(resolver.handle(request.pack(), udp=False) or b"")
    assert len(request.pack()) and udp.header.tc == 1 and 0 < len(udp.rr) < 60
    assert tcp.header.tc == 0 and len(tcp.rr) == 60
    # several tags: every label before the service name must match
    both = DNSRecord.parse(
        resolver.handle(DNSRecord.question("t1.all.web.service.consul", "SRV").pack(), udp=False) or b""
    )
    assert len(both.rr) == 20 and all(rr.rtype == QTYPE.SRV for rr in both.rr)


def test_real_server_survives_garbage_over_udp_and_tcp(agent: RunningAgent) -> None:
    rng = random.Random(2782)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for _ in range(300):
            udp.sendto(bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300))), (agent.host, agent.dns_port))
        # a truncated but parseable header gets FORMERR back
        udp.settimeout(5)
        udp.sendto(b"\x12\x34\x01\x00\x00\x01", (agent.host, agent.dns_port))
    for payload in (b"\x00", b"\x00\x05abc", struct.pack("!H", 40) + bytes(40), b"\xff\xff" + bytes(10)):
        with socket.create_connection((agent.host, agent.dns_port), timeout=5) as tcp:
            tcp.sendall(payload)
            tcp.shutdown(socket.SHUT_WR)
            tcp.recv(4096)
    assert [line.split()[-1] for line in dig(agent, f"{agent.node}.node.consul", "A")] == ["127.0.0.1"]
    assert dig(agent, f"{agent.node}.node.consul", "A", "+tcp")


def test_hcl_repeated_blocks_stay_apart(tmp_path: Path) -> None:
    """pyhcl alone merges a second `service { … }` into the first; the agent reads them as Consul does."""
    from gitlab_ha.discovery.config import AgentConfig, load_config_dir

    (tmp_path / "agent.hcl").write_text(
        "# agent\n"
        'datacenter = "dc1"  // inline comment\n'
        "ports {\n  http = 8501\n}\n"
        "ports {\n  dns = 8601\n}\n"
        "/* block\n   comment */\n"
        'service {\n  name = "web"\n  port = 80\n  checks = [\n    { http = "http://127.0.0.1/", interval = "10s" }\n  ]\n}\n'
        'service {\n  name = "api"\n  port = 81\n  check {\n    tcp = "127.0.0.1:81"\n    interval = "5s"\n  }\n}\n'
        'check {\n  name = "a"\n  ttl = "10s"\n}\n'
        'check {\n  name = "b"\n  ttl = "10s"\n}\n'
    )
    cfg = load_config_dir([tmp_path], AgentConfig())
    assert [(s["ID"], s["Port"], [c["Type"] for c in checks]) for s, checks in cfg.services] == [
        ("web", 80, ["http"]),
        ("api", 81, ["tcp"]),
    ]
    assert [c["CheckID"] for c in cfg.checks] == ["a", "b"]
    assert (cfg.http_port, cfg.dns_port) == (8501, 8601)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.binary(max_size=300), framed=st.booleans())
def test_fuzz_dns_over_tcp_against_the_real_server(agent: RunningAgent, payload: bytes, framed: bool) -> None:
    data = struct.pack("!H", len(payload)) + payload if framed else payload
    with socket.create_connection((agent.host, agent.dns_port), timeout=5) as tcp:
        tcp.sendall(data)
        tcp.shutdown(socket.SHUT_WR)
        while tcp.recv(4096):
            pass
    # still serving: a well-formed query over TCP gets its answer
    query = DNSRecord.question(f"{agent.node}.node.consul", "A").pack()
    with socket.create_connection((agent.host, agent.dns_port), timeout=5) as tcp:
        tcp.sendall(struct.pack("!H", len(query)) + query)
        length = struct.unpack("!H", tcp.recv(2))[0]
        reply = b""
        while len(reply) < length:
            reply += tcp.recv(length - len(reply))
    assert str(DNSRecord.parse(reply).rr[0].rdata) == "127.0.0.1"


@pytest.mark.parametrize("number", ["1e400", "-1e400", "NaN", "Infinity", "-Infinity", "1" + "0" * 400])
def test_numbers_out_of_range_are_400_everywhere(agent: RunningAgent, tmp_path: Path, number: str) -> None:
    """`{"Port": 1e400}` was a 500 OverflowError: every bad value is a 400 (and a one-line config error)."""
    bodies = {
        "/v1/agent/service/register": f'{{"Name": "x", "Port": {number}}}',
        "/v1/agent/check/register": f'{{"Name": "c", "TTL": "10s", "SuccessBeforePassing": {number}}}',
        "/v1/catalog/register": f'{{"Node": "n", "Address": "127.0.0.9", "Service": {{"Service": "s", "Port": {number}}}}}',
        "/v1/session/create": f'{{"TTL": "15s", "LockDelay": {number}}}',
    }
    for path, body in bodies.items():
        status, text, _ = agent.http("PUT", path, body)
        assert status == 400, (path, number, status, text)
    conf = tmp_path / "web.json"
    conf.write_text(f'{{"service": {{"name": "web", "port": {number}}}}}')
    done = run_cli("consul", "validate", conf)
    assert done.returncode == 2 and "Traceback" not in done.stderr and f"{conf}: service" in done.stderr, done.stderr
