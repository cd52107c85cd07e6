"""The seed's Consul walkthrough (seeds/004), with `gitlab-ha consul` in place of `consul`, real curl and dig."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from gitlab_ha.discovery.config import SCRIPTS_DISABLED_REMOTE
from tests.discovery.conftest import RunningAgent, WebServer, dig, run_cli, wait_until

WEB_JSON = {"service": {"name": "web", "port": 80}}
WEB1_JSON = {"service": {"name": "web", "id": "web1", "port": 8080, "tags": ["v1"]}}
WEB2_JSON = {"service": {"name": "web", "id": "web2", "port": 9080, "tags": ["v2"]}}


def curl(*args: str) -> str:
    out = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", *args], capture_output=True, text=True, timeout=30, check=True
    )
    return out.stdout


def service_ids(agent: RunningAgent) -> set[str]:
    return set(agent.get("/v1/agent/services"))


def srv(agent: RunningAgent, name: str) -> list[tuple[str, int, str]]:
    """(owner, port, target) of each SRV answer."""
    rows = []
    for line in dig(agent, name, "SRV"):
        fields = line.split()
        assert fields[3] == "SRV"
        rows.append((fields[0], int(fields[6]), fields[7]))
    return sorted(rows, key=lambda r: r[1])


def test_register_and_deregister_by_cli_and_by_curl(agent: RunningAgent, tmp_path: Path) -> None:
    web = tmp_path / "web.json"
    web.write_text(json.dumps(WEB_JSON))

    done = run_cli("consul", "services", "register", web, env=agent.env)
    assert done.returncode == 0, done.stderr
    assert "Registered service: web" in done.stdout
    assert "web" in agent.get("/v1/catalog/services")

    done = run_cli("consul", "services", "deregister", web, env=agent.env)
    assert done.returncode == 0, done.stderr
    assert "web" not in service_ids(agent)

    curl("--request", "PUT", "--data", f"@{web}", f"{agent.url}/v1/agent/service/register")
    assert agent.get("/v1/agent/services")["web"]["Port"] == 80
    curl("--request", "PUT", f"{agent.url}/v1/agent/service/deregister/web")
    assert "web" not in service_ids(agent)

    # the seed's own form: the definition in the body of .../deregister
    curl("--request", "PUT", "--data", f"@{web}", f"{agent.url}/v1/agent/service/register")
    curl("--request", "PUT", "--data", f"@{web}", f"{agent.url}/v1/agent/service/deregister")
    assert "web" not in service_ids(agent)

    # -http-addr wins like in Consul, and -id works without a file
    run_cli("consul", "services", "register", web, "-http-addr", agent.url)
    done = run_cli("consul", "services", "deregister", "-id", "web", "-http-addr", agent.url)
    assert done.returncode == 0, done.stderr
    assert "web" not in service_ids(agent)


def test_reload_then_dig_srv_by_service_and_tag(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    conf = tmp_path / "consul.d"
    conf.mkdir()
    agent = agents("-dev", "-config-dir", str(conf))
    (conf / "web1.json").write_text(json.dumps(WEB1_JSON))
    (conf / "web2.json").write_text(json.dumps(WEB2_JSON))
    done = run_cli("consul", "validate", conf)
    assert done.returncode == 0 and "Configuration is valid!" in done.stdout, done.stderr
    done = run_cli("consul", "reload", env=agent.env)
    assert done.returncode == 0 and "Configuration reload triggered" in done.stdout, done.stderr

    target = f"{agent.node}.node.dc1.consul."
    assert srv(agent, "web.service.consul") == [
        ("web.service.consul.", 8080, target),
        ("web.service.consul.", 9080, target),
    ]
    assert srv(agent, "v1.web.service.consul") == [("v1.web.service.consul.", 8080, target)]
    assert srv(agent, "_web._v2.service.consul") == [("_web._v2.service.consul.", 9080, target)]
    assert [r[1] for r in srv(agent, "_web._tcp.service.consul")] == [8080, 9080]
    assert [r[1] for r in srv(agent, "web.service.dc1.consul")] == [8080, 9080]
    assert [line.split()[-1] for line in dig(agent, "web.service.consul", "A")] == ["127.0.0.1"]
    assert [line.split()[-1] for line in dig(agent, f"{agent.node}.node.consul", "A")] == ["127.0.0.1"]
    assert dig(agent, "nope.service.consul", "SRV") == []
    assert dig(agent, "consul", "SOA")[0].split()[3] == "SOA"
    assert dig(agent, "consul", "NS")[0].split()[-1] == "ns.consul."
    assert dig(agent, "-x", "127.0.0.1")[0].split()[-1] == f"{agent.node}.node.dc1.consul."

    # removing a file and reloading deregisters that service only
    (conf / "web2.json").unlink()
    run_cli("consul", "reload", env=agent.env)
    assert [r[1] for r in srv(agent, "web.service.consul")] == [8080]


SCRIPT_CHECK = json.dumps({"Name": "script", "Args": ["true"], "Interval": "10s"})


def test_reload_reads_config_files_as_well_as_dirs(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    """Consul's reload reads the -config-file files again with the -config-dir dirs, so a file's services stay
    and a setting a file turned on goes off when the file stops saying so."""
    conf = tmp_path / "consul.d"
    conf.mkdir()
    (conf / "web1.json").write_text(json.dumps(WEB1_JSON))
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({**WEB2_JSON, "enable_script_checks": True}))
    agent = agents("-dev", "-config-dir", str(conf), "-config-file", str(extra))
    assert service_ids(agent) == {"web1", "web2"}
    assert agent.http("PUT", "/v1/agent/check/register", SCRIPT_CHECK)[0] == 200
    agent.http("PUT", "/v1/agent/check/deregister/script")

    extra.write_text(json.dumps(WEB2_JSON))
    done = run_cli("consul", "reload", env=agent.env)
    assert done.returncode == 0, done.stderr
    assert service_ids(agent) == {"web1", "web2"}
    status, body, _ = agent.http("PUT", "/v1/agent/check/register", SCRIPT_CHECK)
    assert (status, body) == (400, SCRIPTS_DISABLED_REMOTE + "\n"), body


def test_http_check_failure_leaves_dns_and_passing(
    agents: Callable[..., RunningAgent], web_server: WebServer, tmp_path: Path
) -> None:
    conf = tmp_path / "consul.d"
    conf.mkdir()
    definition = {
        "service": {
            "name": "web",
            "id": "web1",
            "port": web_server.port,
            "tags": ["v1"],
            "check": {"http": f"http://127.0.0.1:{web_server.port}/", "interval": "1s", "timeout": "1s"},
        }
    }
    (conf / "web.json").write_text(json.dumps(definition))
    (conf / "other.json").write_text(json.dumps(WEB2_JSON))
    agent = agents("-dev", "-config-dir", str(conf))

    def passing_ids() -> list[str]:
        return sorted(e["Service"]["ID"] for e in agent.get("/v1/health/service/web?passing"))

    wait_until(lambda: passing_ids() == ["web1", "web2"], "web1's HTTP check to pass")
    assert sorted(r[1] for r in srv(agent, "web.service.consul")) == sorted([web_server.port, 9080])

    web_server.stop()
    wait_until(lambda: agent.get("/v1/health/checks/web")[0]["Status"] == "critical", "web1 to go critical")
    assert passing_ids() == ["web2"]
    assert [r[1] for r in srv(agent, "web.service.consul")] == [9080]
    assert dig(agent, "v1.web.service.consul", "SRV") == []
    # still in the catalog, just not healthy
    assert {e["ServiceID"] for e in agent.get("/v1/catalog/service/web")} == {"web1", "web2"}


SEED_CHECK_KEYS = {"Node", "CheckID", "Name", "Status", "Notes", "Output", "ServiceID", "ServiceName", "ServiceTags"}


def test_health_node_and_checks_have_consul_shapes(agent: RunningAgent, tmp_path: Path) -> None:
    definition = {
        "service": {
            "id": "redis",
            "name": "redis",
            "tags": ["primary"],
            "port": 6000,
            "check": {"ttl": "30s", "status": "passing"},
        }
    }
    curl("--request", "PUT", "--data", json.dumps(definition), f"{agent.url}/v1/agent/service/register")
    node_checks = json.loads(curl("-H", "X-Consul-Namespace: *", f"{agent.url}/v1/health/node/{agent.node}"))
    by_id = {c["CheckID"]: c for c in node_checks}
    assert set(by_id) == {"serfHealth", "service:redis"}
    serf = by_id["serfHealth"]
    assert set(serf) >= SEED_CHECK_KEYS
    assert (serf["Name"], serf["Status"], serf["ServiceID"], serf["ServiceName"], serf["ServiceTags"]) == (
        "Serf Health Status",
        "passing",
        "",
        "",
        [],
    )
    redis = by_id["service:redis"]
    assert (redis["Name"], redis["Status"], redis["ServiceID"], redis["ServiceName"], redis["ServiceTags"]) == (
        "Service 'redis' check",
        "passing",
        "redis",
        "redis",
        ["primary"],
    )
    checks = json.loads(curl(f"{agent.url}/v1/health/checks/redis?ns=default"))
    assert [c["CheckID"] for c in checks] == ["service:redis"]
    assert set(checks[0]) >= SEED_CHECK_KEYS and checks[0]["Node"] == agent.node
    assert {"CreateIndex", "ModifyIndex"} <= set(checks[0])


def test_seed_monitoring_example_with_consul_hcl_and_curl_script_check(
    agents: Callable[..., RunningAgent], web_server: WebServer, tmp_path: Path
) -> None:
    """The seed's client consul.hcl (addresses moved to loopback) and its `curl` script check, then nginx stops.

    The client joins the server at 127.0.0.9 (`start_join`), as in the seed.
    """
    agents("-dev", "-serf-lan-port", "8301", node="consul-server", host="127.0.0.9")
    conf = tmp_path / "consul.d"
    conf.mkdir()
    (conf / "consul.hcl").write_text(
        f'data_dir = "{tmp_path / "consul-dir"}"\n'
        'start_join = ["127.0.0.9"]\n'
        'bind_addr = "127.0.0.5"\n'
        'advertise_addr = "127.0.0.5"\n'
        'node_name = "consul-client-1"\n'
        "enable_script_checks = true\n"
    )
    web = {
        "service": {
            "name": "web",
            "port": 80,
            "check": {"args": ["curl", "-sf", f"http://127.0.0.1:{web_server.port}/"], "interval": "1s"},
        }
    }
    (conf / "web.json").write_text(json.dumps(web))
    assert run_cli("consul", "validate", conf).stdout == "Configuration is valid!\n"
    agent = agents("-config-dir", str(conf), node="consul-client-1", host="127.0.0.5")

    def web_check(status: str) -> bool:
        code, checks, _ = agent.http("GET", "/v1/health/checks/web")
        return code == 200 and bool(checks) and checks[0]["Status"] == status

    wait_until(lambda: web_check("passing"), "the client to join and curl to pass")
    assert srv(agent, "web.service.consul") == [("web.service.consul.", 80, "consul-client-1.node.dc1.consul.")]
    assert [line.split()[-1] for line in dig(agent, "consul-client-1.node.consul", "A")] == ["127.0.0.5"]
    web_server.stop()
    wait_until(lambda: web_check("critical"), "curl to fail")
    assert dig(agent, "web.service.consul", "SRV") == []
    assert (tmp_path / "consul-dir" / "node-id").exists()
