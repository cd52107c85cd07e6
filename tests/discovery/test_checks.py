"""Health checks of every kind, their thresholds and their effect on DNS (`only_passing` included)."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gitlab_ha.discovery.checks import Thresholds
from tests.discovery.conftest import RunningAgent, dig, process_alive, run_cli, wait_until


def status(agent: RunningAgent, check_id: str) -> str:
    checks = agent.get("/v1/agent/checks")
    return str(checks[check_id]["Status"]) if check_id in checks else "gone"


def register(agent: RunningAgent, definition: dict[str, object]) -> None:
    code, text, _ = agent.http("PUT", "/v1/agent/service/register", json.dumps(definition))
    assert code == 200, text


def test_thresholds_follow_consul() -> None:
    t = Thresholds({"SuccessBeforePassing": 2, "FailuresBeforeCritical": 3})
    assert [t.feed(s) for s in ["passing", "passing", "critical", "critical", "critical", "passing"]] == [
        None,
        "passing",
        None,
        None,
        "critical",
        None,
    ]
    assert Thresholds({"FailuresBeforeCritical": 3, "FailuresBeforeWarning": 1}).feed("critical") == "warning"
    assert Thresholds({}).feed("critical") == "critical"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    try:
        yield sock
    finally:
        sock.close()


def test_tcp_check_and_failures_before_critical(agent: RunningAgent, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    register(
        agent,
        {
            "Name": "db",
            "Port": port,
            "Check": {"TCP": f"127.0.0.1:{port}", "Interval": "1s", "FailuresBeforeCritical": 2},
        },
    )
    wait_until(lambda: status(agent, "service:db") == "passing", "the TCP check to pass")
    listener.close()
    wait_until(lambda: status(agent, "service:db") == "critical", "the TCP check to fail twice")
    assert dig(agent, "db.service.consul", "SRV") == []


def test_script_checks_need_enabling_and_map_exit_codes(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    flag = tmp_path / "exit-code"
    flag.write_text("0")
    script = ["/bin/sh", "-c", f'exit "$(cat {flag})"']
    plain = agents("-dev", node="plain")
    code, text, _ = plain.http(
        "PUT", "/v1/agent/service/register", json.dumps({"Name": "s", "Check": {"Args": script, "Interval": "1s"}})
    )
    assert code == 400 and "enable_script_checks" in text

    agent = agents("-dev", "-enable-script-checks", node="scripted")
    register(agent, {"Name": "s", "Port": 1, "Check": {"Args": script, "Interval": "1s"}})
    wait_until(lambda: status(agent, "service:s") == "passing", "exit 0 to pass")
    flag.write_text("1")
    wait_until(lambda: status(agent, "service:s") == "warning", "exit 1 to warn")
    assert dig(agent, "s.service.consul", "SRV")  # warning instances stay in DNS by default
    flag.write_text("2")
    wait_until(lambda: status(agent, "service:s") == "critical", "exit 2 to be critical")
    assert dig(agent, "s.service.consul", "SRV") == []


def test_only_passing_leaves_warning_out_of_dns(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    conf = tmp_path / "consul.d"
    conf.mkdir()
    (conf / "dns.hcl").write_text('dns_config {\n  only_passing = true\n  service_ttl { "*" = "5s" }\n}\n')
    agent = agents("-dev", "-config-dir", str(conf))
    register(agent, {"Name": "api", "Port": 1, "Check": {"TTL": "60s", "Status": "passing"}})
    answers = dig(agent, "api.service.consul", "SRV")
    assert len(answers) == 1 and answers[0].split()[1] == "5"
    assert agent.http("PUT", "/v1/agent/check/warn/service:api")[0] == 200
    assert dig(agent, "api.service.consul", "SRV") == []
    assert [e["Service"]["ID"] for e in agent.get("/v1/health/service/api")] == ["api"]


def test_ttl_check_expires_and_critical_service_is_deregistered(agent: RunningAgent) -> None:
    register(agent, {"Name": "batch", "Port": 1, "Check": {"TTL": "3s", "DeregisterCriticalServiceAfter": "1s"}})
    assert status(agent, "service:batch") == "critical"  # new checks start critical
    assert agent.http("PUT", "/v1/agent/check/pass/service:batch?note=alive")[0] == 200
    assert agent.get("/v1/agent/checks")["service:batch"]["Output"] == "alive"
    wait_until(
        lambda: agent.get("/v1/agent/checks").get("service:batch", {}).get("Output") == "TTL expired",
        "the TTL to expire",
    )
    wait_until(lambda: "batch" not in agent.get("/v1/agent/services"), "the critical service to be deregistered")
    assert agent.http("PUT", "/v1/agent/check/pass/service:batch")[0] == 404


def test_node_check_and_session_invalidation(agent: RunningAgent) -> None:
    code, text, _ = agent.http(
        "PUT", "/v1/agent/check/register", json.dumps({"Name": "disk", "TTL": "60s", "Status": "passing"})
    )
    assert code == 200, text
    session = agent.http(
        "PUT", "/v1/session/create", json.dumps({"Checks": ["serfHealth", "disk"], "LockDelay": "0s"})
    )[1]["ID"]
    assert agent.http("PUT", f"/v1/kv/held?acquire={session}", b"x")[1] is True
    assert (
        agent.http("PUT", "/v1/agent/check/update/disk", json.dumps({"Status": "critical", "Output": "full"}))[0] == 200
    )
    assert agent.get(f"/v1/session/info/{session}") == []
    assert "Session" not in agent.get("/v1/kv/held")[0]
    code, text, _ = agent.http("PUT", "/v1/session/create", json.dumps({"Checks": ["disk"]}))
    assert code == 500 and "critical" in text


def test_output_only_changes_are_throttled_like_check_update_interval() -> None:
    from gitlab_ha.discovery.checks import CheckManager
    from gitlab_ha.discovery.state import RegisterCheck, RegisterNode, State, UpdateCheck

    state = State()
    state.apply(RegisterNode("n1", "id", "127.0.0.1", "dc1"))
    state.apply(
        RegisterCheck(
            "n1", {"CheckID": "web", "Name": "web", "HTTP": "http://127.0.0.1:1/", "Interval": "1s", "Type": "http"}
        )
    )
    manager = CheckManager(
        "n1",
        state,
        lambda cid, status, output: state.apply(UpdateCheck("n1", cid, status, output)),
        lambda sid: None,
        update_interval=300,
    )
    manager._report("web", "passing", "body 1")
    index = state.index
    manager._report("web", "passing", "body 2")  # same status, new output: not synced yet
    assert state.index == index and state.checks["n1"]["web"]["Output"] == "body 1"
    manager._report("web", "critical", "down")  # a status change always goes through
    assert state.checks["n1"]["web"]["Status"] == "critical" and state.index == index + 1


def test_maintenance_mode_takes_instances_out(agent: RunningAgent) -> None:
    register(agent, {"Name": "rails", "ID": "rails1", "Port": 8080})
    assert len(dig(agent, "rails.service.consul", "SRV")) == 1
    assert agent.http("PUT", "/v1/agent/service/maintenance/rails1?enable=true&reason=drill")[0] == 200
    assert status(agent, "_service_maintenance:rails1") == "critical"
    assert agent.get("/v1/agent/checks")["_service_maintenance:rails1"]["Notes"] == "drill"
    assert dig(agent, "rails.service.consul", "SRV") == []
    assert agent.http("PUT", "/v1/agent/service/maintenance/rails1?enable=false")[0] == 200
    assert len(dig(agent, "rails.service.consul", "SRV")) == 1
    assert agent.http("PUT", "/v1/agent/maintenance?enable=true")[0] == 200
    assert dig(agent, "rails.service.consul", "SRV") == []
    assert agent.http("PUT", "/v1/agent/maintenance?enable=false")[0] == 200
    assert len(dig(agent, "rails.service.consul", "SRV")) == 1
    assert agent.http("PUT", "/v1/agent/maintenance")[0] == 400
    assert agent.http("PUT", "/v1/agent/service/maintenance/nope?enable=true")[0] == 404


def _hanging_script(tmp_path: Path) -> tuple[list[str], Path, Path]:
    """A check whose shell, once `hang` exists, waits on a child that holds its stdout."""
    hang, child = tmp_path / "hang", tmp_path / "child.pid"
    body = f"if [ -f {hang} ]; then sleep 300 & echo $! > {child}; wait; fi; echo ok"
    return ["/bin/sh", "-c", body], hang, child


def _reap_child(child: Path) -> None:
    """If the agent left the script's child behind (the defect under test), stop it by its pid."""
    if child.exists() and process_alive(pid := int(child.read_text())):
        os.kill(pid, signal.SIGKILL)


def test_script_timeout_kills_the_scripts_children(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    script, hang, child = _hanging_script(tmp_path)
    agent = agents("-dev", "-enable-script-checks", node="scripted")
    try:
        register(agent, {"Name": "pgb", "Port": 6432, "Check": {"Args": script, "Interval": "1s", "Timeout": "1s"}})
        wait_until(lambda: status(agent, "service:pgb") == "passing", "the script to pass")
        hang.touch()
        # the shell waits for `sleep 300`, which holds the output pipe: only killing the group ends it
        wait_until(lambda: status(agent, "service:pgb") == "critical", "the hung script to time out")
        output = agent.get("/v1/agent/checks")["service:pgb"]["Output"]
        assert "Timed out (1s)" in output
        assert dig(agent, "pgb.service.consul", "SRV") == []
        pid = int(wait_until(lambda: child.exists() and child.read_text().strip(), "the child's pid"))
        wait_until(lambda: not process_alive(pid), "the script's child to be killed with it")
        hang.unlink()
        wait_until(lambda: status(agent, "service:pgb") == "passing", "the script to pass again")
    finally:
        agent.stop()
        _reap_child(child)


def test_agent_stop_kills_running_scripts_and_their_children(
    agents: Callable[..., RunningAgent], tmp_path: Path
) -> None:
    script, hang, child = _hanging_script(tmp_path)
    hang.touch()
    agent = agents("-dev", "-enable-script-checks", node="scripted")
    try:
        register(agent, {"Name": "pgb", "Port": 6432, "Check": {"Args": script, "Interval": "1s", "Timeout": "60s"}})
        pid = int(wait_until(lambda: child.exists() and child.read_text().strip(), "the script to start its child"))
        agent.stop()
        assert agent.proc.returncode == 0
        wait_until(lambda: not process_alive(pid), "the script's child to stop with the agent")
    finally:
        agent.stop()
        _reap_child(child)


def test_output_limits_as_consul_keeps_them(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    """check_output_max_size caps every check's output and a check's OutputMaxSize may lower it: a script
    check keeps the output's last bytes and says how much it captured (Consul's circular buffer), an
    HTTP check the body's last bytes, a TTL note its first bytes with what was cut."""
    conf = tmp_path / "limits.d"
    conf.mkdir()
    (conf / "agent.json").write_text(json.dumps({"check_output_max_size": 300}))
    agent = agents("-dev", "-enable-script-checks", "-config-dir", str(conf), node="limits")
    chatty = ["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' a; printf END"]
    register(agent, {"Name": "own", "Port": 1, "Check": {"Args": chatty, "Interval": "1s", "OutputMaxSize": 50}})
    register(agent, {"Name": "agents", "Port": 1, "Check": {"Args": chatty, "Interval": "1s", "OutputMaxSize": 5000}})
    register(agent, {"Name": "note", "Port": 1, "Check": {"TTL": "60s"}})
    assert agent.http("PUT", "/v1/kv/big", "b" * 997 + "END")[0] == 200
    page = f"{agent.url}/v1/kv/big?raw"
    register(agent, {"Name": "web", "Port": 1, "Check": {"HTTP": page, "Interval": "1s", "OutputMaxSize": 10}})

    def output(check_id: str) -> str:
        return str(agent.get("/v1/agent/checks").get(check_id, {}).get("Output", ""))

    wait_until(lambda: output("service:own").endswith("END"), "the script check's output")
    assert output("service:own") == f"Captured 50 of 100003 bytes\n...\n{'a' * 47}END"
    wait_until(lambda: output("service:agents").endswith("END"), "the other script check's output")
    assert output("service:agents").startswith("Captured 300 of 100003 bytes\n")  # a check cannot raise it
    wait_until(lambda: output("service:web").endswith("END"), "the HTTP check's output")
    assert output("service:web") == f"HTTP GET {page}: 200 OK Output: bbbbbbbEND"
    code, text, _ = agent.http(
        "PUT", "/v1/agent/check/update/service:note", json.dumps({"Status": "passing", "Output": "n" * 1000})
    )
    assert code == 200, text
    assert output("service:note") == "n" * 300 + " ... (captured 300 of 1000 bytes)"
    code, text, _ = agent.http(
        "PUT", "/v1/agent/service/register", json.dumps({"Name": "bad", "Check": {"TTL": "9s", "OutputMaxSize": -1}})
    )
    assert code == 400 and "OutputMaxSize" in text


def test_check_output_max_size_must_be_positive(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    conf = tmp_path / "bad.d"
    conf.mkdir()
    (conf / "agent.json").write_text(json.dumps({"check_output_max_size": 0}))
    done = run_cli("consul", "validate", str(conf))
    assert done.returncode != 0 and "check_output_max_size" in done.stderr + done.stdout
