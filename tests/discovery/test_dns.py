"""DNS behaviour seen by real `dig`: TC on cut UDP answers (dig then retries over TCP), several tags."""

from __future__ import annotations

import dataclasses
import json
import socket
import struct
import subprocess
import time
from collections.abc import Callable

from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from gitlab_ha.proc import call
from tests.discovery.conftest import RunningAgent, dig


def raw_dig(agent: RunningAgent, *args: str) -> str:
    out = subprocess.run(
        ["dig", f"@{agent.host}", "-p", str(agent.dns_port), "+time=5", "+tries=1", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout


def test_cut_udp_answer_sets_tc_and_dig_gets_all_over_tcp(agent: RunningAgent) -> None:
    for i in range(40):
        body = {
            "Name": "big",
            "ID": f"big{i}",
            "Address": f"127.0.2.{i + 1}",
            "Port": 9000 + i,
            "Tags": ["even" if i % 2 == 0 else "odd", "all"],
        }
        assert agent.http("PUT", "/v1/agent/service/register", json.dumps(body))[0] == 200

    cut = raw_dig(agent, "+noedns", "+ignore", "big.service.consul", "SRV")
    flags = next(line for line in cut.splitlines() if line.startswith(";; flags:"))
    assert " tc" in flags.split(";")[2]
    cut_answers = [line for line in cut.splitlines() if "\tSRV\t" in line]
    assert 0 < len(cut_answers) < 40

    # without +ignore, dig sees TC and asks again over TCP: every instance arrives
    assert len(dig(agent, "+noedns", "big.service.consul", "SRV")) == 40
    assert len(dig(agent, "+tcp", "big.service.consul", "A")) == 40
    # a large EDNS0 buffer fits more over UDP
    assert len(dig(agent, "+bufsize=4096", "+ignore", "big.service.consul", "SRV")) > len(cut_answers)

    # several tags: all must match
    assert len(dig(agent, "+tcp", "even.all.big.service.consul", "SRV")) == 20
    assert dig(agent, "even.odd.big.service.consul", "SRV") == []


def test_dns_listens_on_every_client_address(agents: Callable[..., RunningAgent]) -> None:
    agent = agents("-dev", "-client", "127.0.0.1 127.0.0.2")
    assert f"127.0.0.2:{agent.dns_port}" in agent.words["dns"].split(",")
    assert f"127.0.0.2:{agent.http_port}" in agent.words["http"].split(",")
    code, text, _ = agent.http("PUT", "/v1/agent/service/register", json.dumps({"Name": "web", "Port": 80}))
    assert code == 200, text
    for host in ("127.0.0.1", "127.0.0.2"):
        other = dataclasses.replace(agent, host=host)
        assert dig(other, "web.service.consul", "SRV"), f"no UDP answer on {host}"
        assert dig(other, "+tcp", "web.service.consul", "SRV"), f"no TCP answer on {host}"


def _register_many(agent: RunningAgent, count: int, name: str = "big") -> None:
    for i in range(count):
        body = {"Name": name, "ID": f"{name}{i}", "Address": f"127.1.{i // 250}.{i % 250 + 1}", "Port": 10000 + i}
        assert agent.client.call("PUT", "/v1/agent/service/register", body=json.dumps(body)).status == 200


def _dig(agent: RunningAgent, *args: str) -> str:
    done = call(["dig", f"@{agent.host}", "-p", str(agent.dns_port), "+time=10", "+tries=1", *args], timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_tcp_srv_answer_of_1000_instances_is_whole_and_readable(agent: RunningAgent) -> None:
    """Past 16 KiB a compression pointer cannot reach (14 bits): dnslib wrote one anyway and dig said
    "bad label type". Every SRV and the address of each target must arrive over TCP."""
    _register_many(agent, 1000)
    out = _dig(agent, "+tcp", "big.service.consul", "SRV")
    assert "bad label" not in out and "status: NOERROR" in out, out[-2000:]
    srv = [line.split() for line in out.splitlines() if "\tSRV\t" in line or " SRV " in line]
    srv = [fields for fields in srv if not fields[0].startswith(";")]
    assert len(srv) == 1000
    assert sorted(int(f[-2]) for f in srv) == list(range(10000, 11000))
    targets = {f[-1] for f in srv}
    addresses = {f[0]: f[-1] for f in (line.split() for line in out.splitlines()) if len(f) == 5 and f[3] == "A"}
    assert targets <= set(addresses) and len(set(addresses.values())) == 1000


def test_cut_udp_answer_keeps_each_srv_address_and_costs_little(agent: RunningAgent) -> None:
    """Consul's order: the answer is cut to what fits, each remaining SRV keeping its A record. Cutting is
    linear: 500 instances used to cost 1-2.6 s per query (one record dropped and the rest re-packed)."""
    _register_many(agent, 500)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        for size in (512, 1232, 4096):
            query = DNSRecord.question("big.service.consul", "SRV")
            if size > 512:
                query.add_ar(EDNS0(udp_len=size))
            started = time.monotonic()
            sock.sendto(query.pack(), (agent.host, agent.dns_port))
            data, _ = sock.recvfrom(65535)
            elapsed = time.monotonic() - started
            reply = DNSRecord.parse(data)
            assert reply.header.tc == 1 and len(data) <= size
            srv = [rr for rr in reply.rr if rr.rtype == QTYPE.SRV]
            extra = {str(rr.rname) for rr in reply.ar if rr.rtype == QTYPE.A}
            assert srv and {str(rr.rdata.target) for rr in srv} == extra, (size, len(srv), len(extra))
            assert elapsed < 1.0, f"{elapsed:.2f}s for a cut answer of 500 instances"


def test_responses_are_dropped_and_bad_labels_log_one_line(agent: RunningAgent) -> None:
    """A packet with QR=1 is a response: answering it lets two servers ping-pong. A label over 63 bytes
    is a malformed query: FORMERR, and one log line per interval, never a traceback per packet."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(10)
        response = DNSRecord.question(f"{agent.node}.node.consul", "A")
        response.header.id, response.header.qr = 1111, 1
        sock.sendto(response.pack(), (agent.host, agent.dns_port))
        long_label = bytes([0x40]) + b"a" * 64
        bad = (
            struct.pack("!6H", 2222, 0x0100, 1, 0, 0, 0)
            + long_label
            + b"\x07service\x06consul\x00"
            + b"\x00\x01\x00\x01"
        )
        for _ in range(50):
            sock.sendto(bad, (agent.host, agent.dns_port))
        query = DNSRecord.question(f"{agent.node}.node.consul", "A")
        query.header.id = 3333
        sock.sendto(query.pack(), (agent.host, agent.dns_port))
        # the same socket reaches the same worker, which answers in order: the first reply we get is for a
        # bad packet (FORMERR), then the query's; nothing ever answers the response (ID 1111)
        ids: list[int] = []
        while not ids or ids[-1] != 3333:
            reply = DNSRecord.parse(sock.recv(4096))
            ids.append(reply.header.id)
            if reply.header.id == 2222:
                assert reply.header.rcode == RCODE.FORMERR
    assert 1111 not in ids and ids.count(2222) == 50
    log = agent.log.read_text()
    assert "Traceback" not in log
    assert len([line for line in log.splitlines() if "label of 64 bytes" in line]) == 1, log[-3000:]
