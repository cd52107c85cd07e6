"""Real Patroni (PyPI, pinned) with its `consul:` DCS against the agent: a one-member cluster gets a leader."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from gitlab_ha.proc import STDOUT, Process, wait_http
from tests.discovery.conftest import RunningAgent, dig, free_port, wait_until
from tests.helpers import service_tmpdir

PG_BIN = Path("/usr/lib/postgresql/15/bin")
VENV_BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow


def _python_for_postgres() -> str:
    """An interpreter the `postgres` user may execute (the venv's may live under a private home)."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (os.path.realpath(sys.executable), f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", candidate], check=False)
        if probe.returncode == 0:
            return candidate
    pytest.skip("no Python interpreter executable by the postgres user")


@pytest.fixture
def pg_workdir() -> Iterator[Path]:
    if os.geteuid() != 0 or not (PG_BIN / "postgres").exists():
        pytest.skip("needs root (to run PostgreSQL as postgres) and PostgreSQL 15")
    with service_tmpdir("gitlab-ha-patroni-", owner="postgres") as path:
        yield path


def _stop_postmaster(data_dir: Path, sig: int = signal.SIGQUIT) -> None:
    """If Patroni died without stopping PostgreSQL, stop the postmaster it started (by its pid file)."""
    pid_file = data_dir / "postmaster.pid"
    with contextlib.suppress(OSError, ValueError, IndexError):
        pid = int(pid_file.read_text().splitlines()[0])
        os.kill(pid, sig)


def postgresql_section(work: Path, pg_port: int) -> dict[str, object]:
    """Patroni's `postgresql:` for a member whose files live in `work` (data in work/data)."""
    return {
        "listen": f"127.0.0.1:{pg_port}",
        "connect_address": f"127.0.0.1:{pg_port}",
        "data_dir": str(work / "data"),
        "bin_dir": str(PG_BIN),
        "pgpass": str(work / "pgpass"),
        "authentication": {
            "superuser": {"username": "postgres", "password": "lab-superuser"},
            "replication": {"username": "replicator", "password": "lab-replication"},
        },
        "parameters": {"unix_socket_directories": str(work), "max_connections": 20, "shared_buffers": "16MB"},
        "pg_hba": [
            "local all all trust",
            "host all all 127.0.0.1/32 md5",
            "host replication replicator 127.0.0.1/32 md5",
        ],
    }


def test_patroni_becomes_leader_through_the_agent(agent: RunningAgent, pg_workdir: Path) -> None:
    rest_port, pg_port = free_port(), free_port()
    data_dir = pg_workdir / "data"
    config = {
        "scope": "lab",
        "name": "pg1",
        "log": {"level": "INFO", "dir": str(pg_workdir)},
        "restapi": {"listen": f"127.0.0.1:{rest_port}", "connect_address": f"127.0.0.1:{rest_port}"},
        "consul": {"host": f"{agent.host}:{agent.http_port}", "register_service": True, "service_check_interval": "1s"},
        "bootstrap": {
            "dcs": {"ttl": 20, "loop_wait": 1, "retry_timeout": 5, "postgresql": {"use_pg_rewind": False}},
            "initdb": [{"encoding": "UTF8"}, "data-checksums"],
        },
        "postgresql": postgresql_section(pg_workdir, pg_port),
    }
    cfg = pg_workdir / "patroni.yml"
    cfg.write_text(yaml.safe_dump(config))
    pw = pwd.getpwnam("postgres")
    os.chown(cfg, pw.pw_uid, pw.pw_gid)
    site = sysconfig.get_paths()["purelib"]
    env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "HOME": str(pg_workdir), "PYTHONPATH": site, "LC_ALL": "C.UTF-8"}
    proc = Process.spawn(
        [_python_for_postgres(), "-m", "patroni", str(cfg)],
        cwd=pg_workdir,
        env=env,
        stdout=pg_workdir / "patroni.out",
        stderr=STDOUT,
        user="postgres",
    )
    try:
        wait_http(f"http://127.0.0.1:{rest_port}/liveness", deadline=60, process=proc)
        members = _wait_for_leader(proc, cfg, pg_workdir)
        assert [(m["Member"], m["Role"], m["State"]) for m in members] == [("pg1", "Leader", "running")]

        listing = subprocess.run(
            [str(VENV_BIN / "patronictl"), "-c", str(cfg), "list"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        assert "pg1" in listing.stdout and "Leader" in listing.stdout

        leader = agent.get("/v1/kv/service/lab/leader")[0]
        assert "Session" in leader
        session = agent.get(f"/v1/session/info/{leader['Session']}")[0]
        assert session["Behavior"] == "delete" and session["Name"] == "lab-pg1"

        # register_service: the `lab` service with a passing HTTP check and the primary tag
        passing: Callable[[], list[dict[str, object]]] = lambda: agent.get("/v1/health/service/lab?passing&tag=primary")  # noqa: E731
        wait_until(passing, "Patroni's service check to pass", deadline=60)
        # and clients find the primary by DNS, as Patroni's docs suggest: primary.<scope>.service.consul
        answers = dig(agent, "primary.lab.service.consul", "SRV")
        assert [int(line.split()[6]) for line in answers] == [pg_port]
    finally:
        proc.stop(grace=60)
        _stop_postmaster(data_dir)


def _wait_for_leader(proc: Process, cfg: Path, workdir: Path) -> list[dict[str, str]]:
    def leader() -> list[dict[str, str]] | None:
        if not proc.running:
            pytest.fail(f"patroni exited: {(workdir / 'patroni.out').read_text()[-3000:]}")
        out = subprocess.run(
            [str(VENV_BIN / "patronictl"), "-c", str(cfg), "list", "-f", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if out.returncode != 0:
            return None
        members: list[dict[str, str]] = json.loads(out.stdout or "[]")
        ok = any(m.get("Role") == "Leader" and m.get("State") == "running" for m in members)
        return members if ok else None

    result: list[dict[str, str]] = wait_until(leader, "Patroni to become leader", deadline=120, step=0.5)
    return result
