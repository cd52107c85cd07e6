"""DNS behaviour seen by real `dig`: TC on cut UDP answers (dig then retries over TCP), several tags."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable

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
