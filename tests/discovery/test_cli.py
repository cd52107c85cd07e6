"""Consul's CLI verbs through `gitlab-ha consul`: kv, catalog, members, keygen, validate, errors."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from gitlab_ha.proc import Process
from tests.discovery.conftest import RunningAgent, run_cli, wait_until


def ok(agent: RunningAgent, *args: str, stdin: str | None = None) -> str:
    done = run_cli("consul", *args, env=agent.env, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_kv_verbs(agent: RunningAgent, tmp_path: Path) -> None:
    assert ok(agent, "kv", "put", "redis/maxmemory", "25mb") == "Success! Data written to: redis/maxmemory\n"
    assert ok(agent, "kv", "get", "redis/maxmemory") == "25mb\n"
    (tmp_path / "v").write_text("from-file")
    ok(agent, "kv", "put", "redis/file", f"@{tmp_path / 'v'}")
    ok(agent, "kv", "put", "redis/stdin", "-", stdin="from-stdin")
    assert ok(agent, "kv", "get", "-recurse", "redis/").splitlines() == [
        "redis/file:from-file",
        "redis/maxmemory:25mb",
        "redis/stdin:from-stdin",
    ]
    assert ok(agent, "kv", "get", "-keys", "").splitlines() == ["redis/"]
    detailed = ok(agent, "kv", "get", "-detailed", "redis/file")
    assert "ModifyIndex" in detailed and "from-file" in detailed
    done = run_cli("consul", "kv", "put", "-cas", "-modify-index", "1", "redis/file", "nope", env=agent.env)
    assert done.returncode == 1 and "Did not write" in done.stderr
    assert ok(agent, "kv", "delete", "redis/file") == "Success! Deleted key: redis/file\n"
    done = run_cli("consul", "kv", "get", "redis/file", env=agent.env)
    assert done.returncode == 1 and "No key exists at: redis/file" in done.stderr
    ok(agent, "kv", "delete", "-recurse", "redis/")
    assert ok(agent, "kv", "get", "-recurse", "redis/") == ""


def test_catalog_members_keygen(agent: RunningAgent, tmp_path: Path) -> None:
    (tmp_path / "web.hcl").write_text('service {\n  name = "web"\n  port = 80\n  tags = ["v1"]\n}\n')
    assert ok(agent, "services", "register", str(tmp_path / "web.hcl")) == "Registered service: web\n"
    assert ok(agent, "catalog", "services").split() == ["consul", "web"]
    assert "web  v1" in ok(agent, "catalog", "services", "-tags")
    nodes = ok(agent, "catalog", "nodes").splitlines()
    assert nodes[0].split() == ["Node", "ID", "Address", "DC"] and nodes[1].split()[0] == agent.node
    members = ok(agent, "members").splitlines()
    assert members[0].split()[:3] == ["Node", "Address", "Status"]
    assert members[1].split()[0] == agent.node and "alive" in members[1] and "server" in members[1]
    key = ok(agent, "keygen").strip()
    assert len(base64.b64decode(key)) == 32


def test_client_errors_are_one_line(tmp_path: Path) -> None:
    done = run_cli("consul", "members", "-http-addr", "127.0.0.1:1")
    assert done.returncode == 1 and "Traceback" not in done.stderr and done.stderr.startswith("error:")
    (tmp_path / "bad.json").write_text(json.dumps({"service": {"name": "web", "port": "x"}}))
    done = run_cli("consul", "services", "register", str(tmp_path / "bad.json"), "-http-addr", "127.0.0.1:1")
    assert done.returncode == 2 and f"{tmp_path / 'bad.json'}: service.port: expected an integer" in done.stderr
    done = run_cli("consul", "agent", "-config-dir", str(tmp_path), "-dev")
    assert done.returncode == 2 and "service.port" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("consul", "agent")
    assert done.returncode == 2 and "data_dir is required" in done.stderr


def test_omnibus_style_config_dir_validates(tmp_path: Path) -> None:
    """The shape of what Omnibus writes to /var/opt/gitlab/consul (config.json, a service, a watcher)."""
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "datacenter": "gitlab_consul",
                "data_dir": "/var/opt/gitlab/consul/data",
                "disable_update_check": True,
                "enable_script_checks": True,
                "rejoin_after_leave": True,
                "server": True,
                "bootstrap_expect": 3,
                "retry_join": ["10.10.1.11", "10.10.1.12", "10.10.1.13"],
                "client_addr": "0.0.0.0",
                "bind_addr": "10.10.1.11",
                "ui": True,
                "encrypt": base64.b64encode(bytes(32)).decode(),
                "encrypt_verify_incoming": True,
                "encrypt_verify_outgoing": True,
                "ports": {"dns": 8600, "http": 8500, "https": -1},
                "log_level": "INFO",
            }
        )
    )
    check = {"args": ["/opt/gitlab/bin/gitlab-ctl", "patroni", "check-leader"], "interval": "10s"}
    (tmp_path / "postgresql_service.json").write_text(
        json.dumps({"service": {"name": "postgresql", "address": "", "port": 5432, "checks": [check]}})
    )
    watch = {
        "type": "service",
        "service": "postgresql",
        "handler": "/opt/gitlab/bin/gitlab-ctl consul watchers handle-failover",
    }
    (tmp_path / "watcher_postgresql.json").write_text(json.dumps({"watches": [watch]}))
    done = run_cli("consul", "validate", tmp_path)
    assert done.returncode == 0 and done.stdout == "Configuration is valid!\n", done.stderr
    (tmp_path / "typo.json").write_text(json.dumps({"datacentre": "x"}))
    done = run_cli("consul", "validate", tmp_path)
    assert done.returncode == 2 and f"{tmp_path / 'typo.json'}: invalid config key datacentre" in done.stderr


def test_maint_verb_and_pretty_json(agent: RunningAgent) -> None:
    assert (
        agent.http("PUT", "/v1/agent/service/register", json.dumps({"Name": "rails", "ID": "rails1", "Port": 80}))[0]
        == 200
    )
    assert "enabled for service 'rails1'" in ok(agent, "maint", "-enable", "-service", "rails1", "-reason", "drill")
    assert agent.get("/v1/health/service/rails?passing") == []
    ok(agent, "maint", "-disable", "-service", "rails1")
    assert len(agent.get("/v1/health/service/rails?passing")) == 1
    done = run_cli("consul", "maint", env=agent.env)
    assert done.returncode == 2 and "-enable or -disable" in done.stderr
    pretty = subprocess.run(
        ["curl", "-sf", f"{agent.url}/v1/catalog/services?pretty"], capture_output=True, text=True, check=True
    ).stdout
    assert pretty.startswith("{\n    ") and "rails" in json.loads(pretty)


def test_leave_stops_the_agent(agent: RunningAgent) -> None:
    assert ok(agent, "leave") == "Graceful leave complete\n"
    assert agent.proc.wait(timeout=30) == 0


def test_lock_runs_child_while_holding_and_excludes_others(agent: RunningAgent, tmp_path: Path) -> None:
    held, release = tmp_path / "held", tmp_path / "release"
    script = f"echo $$ > {held}; while [ ! -f {release} ]; do sleep 0.05; done; exit 3"
    first = Process.spawn([sys.executable, "-m", "gitlab_ha", "consul", "lock", "svc/migrate", script], env=agent.env)
    try:
        wait_until(held.exists, "the first holder to run its child")
        entry = agent.get("/v1/kv/svc/migrate/.lock")[0]
        assert "Session" in entry
        session = agent.get(f"/v1/session/info/{entry['Session']}")[0]
        assert session["Name"].startswith("Consul lock for")

        second = run_cli("consul", "lock", "-timeout", "1s", "svc/migrate", "true", env=agent.env)
        assert second.returncode == 1 and "Lock acquisition failed" in second.stderr

        release.touch()
        assert first.wait(timeout=60) == 3  # the child's exit code
    finally:
        first.kill()
    assert "Session" not in agent.get("/v1/kv/svc/migrate/.lock")[0]
    assert agent.get("/v1/session/list") == []
    assert run_cli("consul", "lock", "svc/migrate", "exit 0", env=agent.env).returncode == 0


def test_lock_lost_terminates_the_child(agent: RunningAgent, tmp_path: Path) -> None:
    held = tmp_path / "held"
    script = f"echo $$ > {held}; while true; do sleep 0.05; done"
    holder = Process.spawn([sys.executable, "-m", "gitlab_ha", "consul", "lock", "svc/job", script], env=agent.env)
    try:
        wait_until(lambda: held.exists() and held.read_text().strip(), "the child to run")
        session = agent.get("/v1/kv/svc/job/.lock")[0]["Session"]
        assert agent.http("PUT", f"/v1/session/destroy/{session}")[0] == 200
        assert holder.wait(timeout=60) == 1
    finally:
        holder.kill()
    child_pid = int(held.read_text())
    wait_until(lambda: not Path(f"/proc/{child_pid}").exists(), "the child to be gone")  # reaped by the lock


def test_kv_export_import_round_trip(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    source = agents("-dev", node="source")
    ok(source, "kv", "put", "-flags", "7", "service/lab/config", '{"ttl": 20}')
    ok(source, "kv", "put", "service/lab/initialize", "7001")
    ok(source, "kv", "put", "other/key", "x")
    exported = ok(source, "kv", "export", "service/")
    rows = json.loads(exported)
    assert [(r["key"], r["flags"]) for r in rows] == [("service/lab/config", 7), ("service/lab/initialize", 0)]
    (tmp_path / "backup.json").write_text(exported)

    target = agents("-dev", node="target")
    out = ok(target, "kv", "import", f"@{tmp_path / 'backup.json'}")
    assert out.splitlines() == ["Imported: service/lab/config", "Imported: service/lab/initialize"]
    assert ok(target, "kv", "get", "service/lab/config") == '{"ttl": 20}\n'
    assert target.get("/v1/kv/service/lab/config")[0]["Flags"] == 7
    done = run_cli("consul", "kv", "import", '[{"key": 1}]', env=target.env)
    assert done.returncode == 2 and "string key" in done.stderr


def test_members_detailed_and_json_tables(agent: RunningAgent) -> None:
    header, row = ok(agent, "members", "-detailed").splitlines()
    assert header.split() == ["Node", "Address", "Status", "Tags"]
    assert row.split()[0] == agent.node and row.split()[2] == "alive"
    assert "dc=dc1" in row and "role=consul" in row.split()[3].split(",")

    members = json.loads(ok(agent, "members", "--json"))
    assert [m["Name"] for m in members] == [agent.node]
    nodes = json.loads(ok(agent, "catalog", "nodes", "--json"))
    assert [(n["Node"], n["Datacenter"]) for n in nodes] == [(agent.node, "dc1")]
