"""Watches run a handler with the JSON on stdin and CONSUL_INDEX in the environment."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import consul
import pytest

from gitlab_ha.proc import DEVNULL, PIPE, Process
from tests.discovery.conftest import RunningAgent, process_alive, run_cli, wait_until

HANDLER = """#!/bin/sh
n=$(ls "$OUT" | wc -l)
cat > "$OUT/$n.json"
echo "$CONSUL_INDEX" > "$OUT/$n.index"
"""


@pytest.fixture
def handler(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "runs"
    out.mkdir()
    script = tmp_path / "handler.sh"
    script.write_text(HANDLER.replace("$OUT", str(out)))
    script.chmod(0o755)
    return script, out


def runs(out: Path) -> list[tuple[object, int]]:
    found = []
    for path in sorted(out.glob("*.json"), key=lambda p: int(p.stem)):
        index = path.with_suffix(".index")
        if not index.exists() or not index.read_text().strip():
            break
        found.append((json.loads(path.read_text()), int(index.read_text())))
    return found


@pytest.fixture
def watch_process(agent: RunningAgent) -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(*args: str) -> Process:
        proc = Process.spawn(
            [sys.executable, "-m", "gitlab_ha", "consul", "watch", *args], env=agent.env, stdout=DEVNULL
        )
        started.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in started:
            proc.stop(grace=10, sig=signal.SIGINT)


def test_key_watch_from_cli(
    agent: RunningAgent, handler: tuple[Path, Path], watch_process: Callable[..., Process]
) -> None:
    script, out = handler
    client = consul.Consul(host=agent.host, port=agent.http_port)
    client.kv.put("config/a", "1")
    watch_process("-type", "key", "-key", "config/a", str(script))
    wait_until(lambda: len(runs(out)) == 1, "the first handler run")
    client.kv.put("config/other", "x")  # not watched
    client.kv.put("config/a", "2")
    wait_until(lambda: len(runs(out)) == 2, "a handler run after the change")
    (first, idx1), (second, idx2) = runs(out)
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["Key"] == "config/a" and first["Value"] == "MQ==" and second["Value"] == "Mg=="
    assert idx2 > idx1 == first["ModifyIndex"]


def test_service_watch_from_agent_config(
    agents: Callable[..., RunningAgent], handler: tuple[Path, Path], tmp_path: Path
) -> None:
    script, out = handler
    conf = tmp_path / "consul.d"
    conf.mkdir()
    (conf / "watch.json").write_text(
        json.dumps({"watches": [{"type": "service", "service": "postgresql", "args": [str(script)]}]})
    )
    agent = agents("-dev", "-config-dir", str(conf))
    wait_until(lambda: len(runs(out)) == 1, "the first handler run")
    assert runs(out)[0][0] is None or runs(out)[0][0] == []
    client = consul.Consul(host=agent.host, port=agent.http_port)
    client.agent.service.register("postgresql", service_id="pg1", port=5432, check=consul.Check.ttl("30s"))
    wait_until(lambda: len(runs(out)) >= 2, "a handler run after the registration")
    client.agent.check.ttl_pass("service:pg1")
    wait_until(
        lambda: any(isinstance(r, list) and r and r[0]["Checks"][-1]["Status"] == "passing" for r, _ in runs(out)),
        "a run with the passing check",
    )
    result, _ = runs(out)[-1]
    assert isinstance(result, list)
    entry = result[0]
    assert entry["Service"]["ID"] == "pg1" and {c["CheckID"] for c in entry["Checks"]} == {"serfHealth", "service:pg1"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-type", "nodes"], list),
        (["-type", "services"], dict),
        (["-type", "checks", "-state", "any"], list),
        (["-type", "keyprefix", "-prefix", "p/"], list),
    ],
)
def test_other_watch_types_print_json(agent: RunningAgent, args: list[str], expected: type) -> None:
    consul.Consul(host=agent.host, port=agent.http_port).kv.put("p/x", "1")
    proc = Process.spawn([sys.executable, "-m", "gitlab_ha", "consul", "watch", *args], env=agent.env, stdout=PIPE)
    try:
        assert proc.stdout is not None
        text = b""
        while True:
            line = proc.stdout.readline()
            assert line, "watch exited without output"
            text += line
            if line.rstrip() in (b"]", b"}"):
                break
        assert isinstance(json.loads(text), expected)
    finally:
        proc.stop(grace=10, sig=signal.SIGINT)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_stopping_a_watch_stops_its_running_handler_and_children(
    agent: RunningAgent, watch_process: Callable[..., Process], tmp_path: Path, stop: signal.Signals
) -> None:
    child = tmp_path / "child.pid"
    handler = tmp_path / "slow.sh"
    handler.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {child}\nwait\n")
    handler.chmod(0o755)
    consul.Consul(host=agent.host, port=agent.http_port).kv.put("k", "v")
    proc = watch_process("-type", "key", "-key", "k", str(handler))
    pid = int(wait_until(lambda: child.exists() and child.read_text().strip(), "the handler to start its child"))
    try:
        proc.send_signal(stop)
        proc.wait(timeout=30)
        wait_until(lambda: not process_alive(pid), "the handler's child to stop")
    finally:
        if process_alive(pid):
            os.kill(pid, signal.SIGKILL)  # the defect under test: stop what it left, by its pid


def test_passingonly_false_as_a_string_keeps_critical_instances(
    agents: Callable[..., RunningAgent], handler: tuple[Path, Path], tmp_path: Path
) -> None:
    """`"passingonly": "false"` (as HCL and hand-written JSON spell it) is false, not a truthy string."""
    script, out = handler
    conf = tmp_path / "consul.d"
    conf.mkdir()
    watch = {"type": "service", "service": "postgresql", "passingonly": "false", "args": [str(script)]}
    (conf / "watch.json").write_text(json.dumps({"watches": [watch]}))
    agent = agents("-dev", "-config-dir", str(conf))
    client = consul.Consul(host=agent.host, port=agent.http_port)
    client.agent.service.register("postgresql", service_id="pg1", port=5432, check=consul.Check.ttl("30s"))
    wait_until(
        lambda: any(isinstance(r, list) and [e["Service"]["ID"] for e in r] == ["pg1"] for r, _ in runs(out)),
        "a run listing the critical instance",
        deadline=15,
    )


def test_a_list_given_as_a_watch_key_is_refused_by_file_and_field(tmp_path: Path) -> None:
    """A list is not a key: it used to become the key "['a', 'b']"."""
    (tmp_path / "watch.json").write_text(
        json.dumps({"watches": [{"type": "key", "key": ["a", "b"], "args": ["true"]}]})
    )
    done = run_cli("consul", "validate", tmp_path)
    assert done.returncode == 2, done.stdout
    assert f"{tmp_path / 'watch.json'}: watches[0].key: expected a string, got array" in done.stderr
