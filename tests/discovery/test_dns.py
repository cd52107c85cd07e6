"""DNS behaviour seen by real `dig`: TC on cut UDP answers (dig then retries over TCP), several tags."""

from __future__ import annotations

import json
import subprocess

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
