"""Real Patroni, two members, `consul:` DCS over HTTPS with their own client certificates (the seed's
full-TLS variant) on a 3-server cluster with full mTLS: killing the leader's Patroni and PostgreSQL makes
the other member the leader, and no sample ever shows two members leading at once."""

from __future__ import annotations

import json
import os
import pwd
import signal
import sysconfig
import threading
import time
import urllib.request
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitlab_ha.discovery.tls_certs import create_ca, create_cert
from gitlab_ha.proc import STDOUT, Process, wait_http
from tests.discovery.conftest import free_port
from tests.discovery.harness import DATACENTER, Cluster, make_cluster, wait_until
from tests.discovery.test_patroni import PG_BIN, _python_for_postgres, _stop_postmaster, postgresql_section
from tests.helpers import service_tmpdir

pytestmark = pytest.mark.slow
SCOPE = "tlslab"


@pytest.fixture
def workdir() -> Iterator[Path]:
    if os.geteuid() != 0 or not (PG_BIN / "postgres").exists():
        pytest.skip("needs root (to run PostgreSQL as postgres) and PostgreSQL 15")
    with service_tmpdir("gitlab-ha-patroni-tls-") as path:
        yield path


def _own(path: Path, user: str = "postgres") -> None:
    pw = pwd.getpwnam(user)
    os.chown(path, pw.pw_uid, pw.pw_gid)


def _tls_cluster(root: Path, pki: Path) -> Cluster:
    cluster = make_cluster(root / "agents", servers=3, clients=2)
    ca = pki / "consul-agent-ca.pem"
    for node in cluster.nodes:
        cert, _ = create_cert(pki, "server" if node.server else "client", datacenter=DATACENTER,
                              ip_addresses=[node.address])  # fmt: skip
        node.config.update(
            {
                "tls": {
                    "defaults": {
                        "ca_file": str(ca), "cert_file": str(cert), "key_file": str(cert.with_name(cert.stem + "-key.pem")),
                        "verify_outgoing": True, "verify_incoming": True,
                    },
                    "internal_rpc": {"verify_server_hostname": True},
                },
                "ports": {"https": 8501},
            }
        )  # fmt: skip
    return cluster


def _patroni_config(name: str, work: Path, agent_address: str, pki: Path, cert: Path) -> dict[str, Any]:
    rest, pg = free_port(), free_port()
    return {
        "scope": SCOPE,
        "name": name,
        "log": {"level": "INFO", "dir": str(work)},
        "restapi": {"listen": f"127.0.0.1:{rest}", "connect_address": f"127.0.0.1:{rest}"},
        "consul": {
            "url": f"https://{agent_address}:8501",
            "cacert": str(pki / "consul-agent-ca.pem"),
            "cert": str(cert),
            "key": str(cert.with_name(cert.stem + "-key.pem")),
            "verify": True,
            "register_service": True,
            "service_check_interval": "1s",
        },
        "bootstrap": {
            "dcs": {"ttl": 20, "loop_wait": 1, "retry_timeout": 5, "postgresql": {"use_pg_rewind": False}},
            "initdb": [{"encoding": "UTF8"}],
        },
        "postgresql": postgresql_section(work, pg),
    }  # fmt: skip


def _role(rest: str) -> str:
    try:
        with urllib.request.urlopen(f"http://{rest}/patroni", timeout=1) as resp:
            return str(json.loads(resp.read()).get("role", ""))
    except OSError as exc:
        body = getattr(exc, "read", lambda: b"")()
        try:
            return str(json.loads(body).get("role", ""))
        except ValueError:
            return ""


def _leading(rest: str) -> bool:
    return _role(rest) in ("master", "primary")


def test_patroni_fails_over_through_the_agents_over_mtls(workdir: Path) -> None:
    pki = workdir / "pki"
    pki.mkdir()
    create_ca(pki)
    cluster = _tls_cluster(workdir, pki)
    members: dict[str, tuple[Process, dict[str, Any], Path]] = {}
    samples: list[tuple[float, list[str], str]] = []
    stop = threading.Event()
    try:
        cluster.start()
        cluster.leader()
        site = sysconfig.get_paths()["purelib"]
        python = _python_for_postgres()
        for i, agent in enumerate(cluster.clients, start=1):
            name = f"pg{i}"
            work = workdir / name
            work.mkdir(mode=0o700)
            _own(work)
            cert, key_path = create_cert(pki, "client", datacenter=DATACENTER)  # Patroni's own client certificate
            for path in (cert, key_path):
                _own(path)
            config = _patroni_config(name, work, agent.address, pki, cert)
            (work / "patroni.yml").write_text(yaml.safe_dump(config))
            _own(work / "patroni.yml")
            env = {"PATH": f"{PG_BIN}:/usr/bin:/bin", "HOME": str(work), "PYTHONPATH": site, "LC_ALL": "C.UTF-8"}
            proc = Process.spawn([python, "-m", "patroni", str(work / "patroni.yml")], cwd=work, env=env,
                                 stdout=work / "patroni.out", stderr=STDOUT, user="postgres")  # fmt: skip
            members[name] = (proc, config, work)
            wait_http(f"http://{config['restapi']['listen']}/liveness", deadline=60, process=proc)
            if i == 1:
                wait_until(partial(_leading, str(config["restapi"]["listen"])), "pg1 to lead", 120, 0.5)

        rests = {n: m[1]["restapi"]["listen"] for n, m in members.items()}
        server = cluster.servers[0]

        def sample() -> None:
            while not stop.is_set():
                leading = [n for n, rest in rests.items() if _role(rest) in ("master", "primary")]
                status, entry, _ = server.http("GET", f"/v1/kv/service/{SCOPE}/leader?stale")
                holder = entry[0]["Value"] if status == 200 and entry else ""
                samples.append((time.monotonic(), leading, holder))
                stop.wait(0.1)

        wait_until(lambda: _role(rests["pg2"]) == "replica", "pg2 to stream as a replica", 120, 0.5)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        # the leader's node dies: Patroni and its PostgreSQL SIGKILLed
        proc, config, work = members["pg1"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        _stop_postmaster(work / "data", signal.SIGKILL)
        wait_until(lambda: _role(rests["pg2"]) in ("master", "primary"), "pg2 to become the leader", 90, 0.5)
        promoted = time.monotonic()  # keep sampling a while past the promotion: the old leader must not return
        wait_until(lambda: sum(t > promoted for t, _, _ in samples) >= 10, "ten samples after it", 30, 0.1)
        stop.set()
        sampler.join(timeout=10)
        assert samples, "no samples taken"
        assert all(len(leading) <= 1 for _, leading, _ in samples), [s for s in samples if len(s[1]) > 1][:3]
        # the leader key went to pg2 (base64 of "pg2"), and Patroni registered its service with its HTTP check
        assert samples[-1][2] == "cGcy"
        wait_until(
            lambda: server.get(f"/v1/health/service/{SCOPE}?passing&tag=primary"), "pg2 primary in the catalog", 60
        )
    finally:
        stop.set()
        for proc, _, work in members.values():
            proc.stop(grace=30)
            _stop_postmaster(work / "data")
        cluster.stop()
