"""Who may run script checks: `enable_script_checks` (anyone who reaches the HTTP API, and config files),
`enable_local_script_checks` (config files only), a loud warning when the first meets a non-loopback
client address; a config file's script check without either is one line naming it, not a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from gitlab_ha.discovery import config
from gitlab_ha.discovery.config import AgentConfig
from tests.discovery.conftest import RunningAgent, run_cli, wait_until

SCRIPT = {"Args": ["/bin/true"], "Interval": "1s"}


def _conf(tmp_path: Path, *lines: str) -> Path:
    conf = tmp_path / "conf"
    conf.mkdir(exist_ok=True)
    (conf / "db.hcl").write_text(
        'service {\n  name = "db"\n  port = 5432\n  check {\n    args = ["/bin/true"]\n    interval = "1s"\n  }\n}\n'
        + "".join(f"{line}\n" for line in lines)
    )
    return conf


def test_a_config_script_check_without_enabling_is_one_line(tmp_path: Path) -> None:
    conf = _conf(tmp_path)
    done = run_cli("consul", "agent", "-dev", "-config-dir", conf, "-http-port", "0", "-dns-port", "-1")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"{conf / 'db.hcl'}: service" in done.stderr and "enable_local_script_checks" in done.stderr


def test_local_script_checks_run_config_checks_only(agents: Callable[..., RunningAgent], tmp_path: Path) -> None:
    agent = agents("-dev", "-config-dir", str(_conf(tmp_path, "enable_local_script_checks = true")))
    wait_until(lambda: agent.get("/v1/agent/checks").get("service:db", {}).get("Status") == "passing", "db's script")
    code, text, _ = agent.http("PUT", "/v1/agent/service/register", json.dumps({"Name": "x", "Check": SCRIPT}))
    assert code == 400 and "Scripts are disabled" in text
    code, text, _ = agent.http("PUT", "/v1/agent/check/register", json.dumps({"Name": "y", **SCRIPT}))
    assert code == 400 and "Scripts are disabled" in text
    # the flag spelling works too
    other = agents("-dev", "-enable-local-script-checks", "-config-dir", str(_conf(tmp_path)), node="flagged")
    wait_until(lambda: other.get("/v1/agent/checks").get("service:db", {}).get("Status") == "passing", "the flag")


def test_remote_script_checks_on_a_reachable_api_are_a_loud_warning() -> None:
    exposed = AgentConfig(client_addr="127.0.0.1 0.0.0.0", enable_script_checks=True)
    warning = config.script_checks_warning(exposed)
    assert warning is not None and "0.0.0.0" in warning and "enable_local_script_checks" in warning
    assert config.script_checks_warning(AgentConfig(client_addr="127.0.0.1 ::1", enable_script_checks=True)) is None
    assert config.script_checks_warning(AgentConfig(client_addr="10.0.0.5", enable_local_script_checks=True)) is None


def test_dev_refuses_a_data_dir_it_would_ignore(tmp_path: Path) -> None:
    done = run_cli("consul", "agent", "-dev", "-data-dir", tmp_path / "data", "-http-port", "0", "-dns-port", "-1")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "-data-dir" in done.stderr and "-dev" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "data").exists()
