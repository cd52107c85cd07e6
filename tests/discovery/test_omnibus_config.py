"""The Consul files the reconfigure model writes (what Omnibus writes) are what this agent runs: the
seed's server and client config.json in its three TLS variants validate, and a server and a client
started from the model's files (addresses moved to loopback, as the lab does) form a cluster."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitlab_ha.discovery.config import validate_paths
from gitlab_ha.discovery.tls_certs import create_ca, create_cert
from tests.discovery.harness import Cluster, Node, free_subnet, wait_until
from tests.reconfigure.conftest import node_of

SERVER = """roles ['consul_role']
consul['configuration'] = { server: true, retry_join: %w(10.0.10.100 10.0.11.100 10.0.12.100), ui: true,
  datacenter: 'gitlab_consul', client_addr: '0.0.0.0' }
consul['encryption_key'] = 'tWGx1GzbSdp1btcF/dHSVo55ln0ZLGuMNgmMBZFxxLA='
consul['encryption_verify_incoming'] = true
consul['encryption_verify_outgoing'] = true
"""
CLIENT = """roles ['patroni_role']
consul['enable'] = true
consul['configuration'] = { retry_join: %w(10.0.10.100 10.0.11.100 10.0.12.100) }
consul['services'] = %w(postgresql)
consul['encryption_key'] = 'tWGx1GzbSdp1btcF/dHSVo55ln0ZLGuMNgmMBZFxxLA='
"""


def _tls(ca: Path, cert: Path, verify_client: bool | None) -> str:
    """The seed's TLS lines (consul['use_tls'] and friends)."""
    lines = [
        "consul['use_tls'] = true",
        f"consul['tls_ca_file'] = '{ca}'",
        f"consul['tls_certificate_file'] = '{cert}'",
        f"consul['tls_key_file'] = '{cert.with_name(cert.stem + '-key.pem')}'",
        "consul['https_port'] = 8501",
    ]
    if verify_client is not None:
        lines.append(f"consul['tls_verify_client'] = {str(verify_client).lower()}")
    return "\n".join(lines) + "\n"


def _files(text: str, folder: Path) -> list[Path]:
    node = node_of(text)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in node.files or []:
        if item.path.name.endswith(".json"):
            path = folder / item.path.name
            path.write_text(item.content)
            paths.append(path)
    return paths


@pytest.mark.parametrize("variant", ["server TLS only", "mutual TLS", "full mutual TLS"])
def test_the_seeds_tls_variants_validate(tmp_path: Path, variant: str) -> None:
    create_ca(tmp_path)
    server_cert, _ = create_cert(tmp_path, "server", datacenter="gitlab_consul")
    client_cert, _ = create_cert(tmp_path, "client", datacenter="gitlab_consul")
    ca = tmp_path / "consul-agent-ca.pem"
    verify = {"server TLS only": False, "mutual TLS": None, "full mutual TLS": True}[variant]
    server = validate_paths(_files(SERVER + _tls(ca, server_cert, verify), tmp_path / "server"))
    client = validate_paths(_files(CLIENT + _tls(ca, client_cert, verify), tmp_path / "client"))
    assert server.server and server.bootstrap_expect == 3 and not client.server
    assert server.tls.https_port == 8501 and server.tls.verify_outgoing and client.tls.verify_outgoing
    assert server.tls.verify_incoming_https == (verify is not False)  # servers verify clients unless told not to
    assert client.tls.verify_incoming_https == bool(verify)
    assert client.encrypt and client.enable_local_script_checks and not client.enable_script_checks
    assert [svc["Service"] for svc, _ in client.services] == ["postgresql"]


@pytest.mark.slow
def test_the_models_files_start_a_server_and_a_client(tmp_path: Path) -> None:
    prefix = free_subnet()
    server_addr, client_addr = f"{prefix}.1", f"{prefix}.2"
    nodes = []
    for name, text, address in (("consul1", SERVER, server_addr), ("db1", CLIENT, client_addr)):
        root = tmp_path / name
        files = _files(text, root / "config.d")
        config = json.loads((root / "config.d" / "config.json").read_text())
        (root / "config.d" / "config.json").unlink()
        # the lab's move to loopback: each node on its own address, retry_join to the server's
        config.update(
            {"client_addr": address, "bind_addr": address, "retry_join": [server_addr], "node_name": name,
             "bootstrap_expect": 1} if name == "consul1" else
            {"client_addr": address, "bind_addr": address, "retry_join": [server_addr], "node_name": name}
        )  # fmt: skip
        node = Node(name, address, name == "consul1", root, config)
        node.definitions = {p.name: json.loads(p.read_text()) for p in files if p.name != "config.json"}
        nodes.append(node)
    # the postgresql check runs `gitlab-ctl patroni check-leader`: here a script that says "leader"
    check = nodes[1].definitions["postgresql_service.json"]["service"]["check"]
    assert check["status"] == "failing"
    check["args"] = ["/bin/true"]
    cluster = Cluster(prefix, "", nodes)
    try:
        cluster.start()
        server = nodes[0]

        def passing() -> bool:
            status, entries, _ = server.http("GET", "/v1/health/service/postgresql?passing")
            return status == 200 and [e["Node"]["Node"] for e in entries] == ["db1"]

        wait_until(passing, "db1's postgresql to pass in the catalog")
    finally:
        cluster.stop()
