"""TLS between agents and HTTPS: a server and a client with Omnibus' `tls.defaults` (verify_incoming,
verify_outgoing) plus verify_server_hostname; mTLS on 8501 refuses a client without a certificate; a
server whose certificate is not for `server.<dc>.consul` is refused; `consul tls` makes the files."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitlab_ha.discovery.client import ConsulClient, Unreachable
from gitlab_ha.discovery.tls_certs import create_ca, create_cert
from tests.discovery.harness import DATACENTER, Cluster, make_cluster, wait_until
from tests.helpers import cli

pytestmark = pytest.mark.slow


def tls_settings(ca: Path, cert: Path, key: Path) -> dict[str, object]:
    """What Omnibus writes with consul['use_tls'] and tls_verify_client (its `tls.defaults`), plus the
    server-name check and the HTTPS port."""
    return {
        "tls": {
            "defaults": {
                "ca_file": str(ca),
                "cert_file": str(cert),
                "key_file": str(key),
                "verify_outgoing": True,
                "verify_incoming": True,
            },
            "internal_rpc": {"verify_server_hostname": True},
        },
        "ports": {"https": 8501},
    }


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pki")
    create_ca(root)
    for kind in ("server", "client", "client"):
        create_cert(root, kind, datacenter=DATACENTER)
    return root


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, pki: Path) -> Iterator[Cluster]:
    c = make_cluster(tmp_path_factory.mktemp("tls"), servers=1, clients=1)
    ca = pki / "consul-agent-ca.pem"
    # the server's HTTPS certificate names its 127.x address too, so clients check the name as well
    server_cert, server_key = create_cert(pki, "server", datacenter=DATACENTER, ip_addresses=[c.servers[0].address])
    c.servers[0].config.update(tls_settings(ca, server_cert, server_key))
    client_cert = pki / f"{DATACENTER}-client-consul-0.pem"
    c.clients[0].config.update(tls_settings(ca, client_cert, client_cert.with_name(client_cert.stem + "-key.pem")))
    try:
        c.start()
        yield c
    finally:
        c.stop()


def leader_over_https(address: str, ca: Path, cert: Path | None = None) -> object:
    """/v1/status/leader through the project's Consul client, verifying the chain and the name."""
    pair = (cert, cert.with_name(cert.stem + "-key.pem")) if cert is not None else None
    with ConsulClient(f"https://{address}:8501", timeout=10, ca_file=ca, client_cert=pair) as client:
        return client.ok("GET", "/v1/status/leader", "leader")


def test_consul_tls_makes_consuls_files_with_private_keys(tmp_path: Path) -> None:
    assert cli("consul", "tls", "ca", "create", cwd=tmp_path).returncode == 0
    done = cli("consul", "tls", "cert", "create", "-server", "-dc", "gitlab_consul", cwd=tmp_path)
    assert done.returncode == 0 and "Saved gitlab_consul-server-consul-0.pem" in done.stdout
    assert cli("consul", "tls", "cert", "create", "-client", cwd=tmp_path).returncode == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "consul-agent-ca-key.pem", "consul-agent-ca.pem", "dc1-client-consul-0-key.pem", "dc1-client-consul-0.pem",
        "gitlab_consul-server-consul-0-key.pem", "gitlab_consul-server-consul-0.pem",
    ]  # fmt: skip
    for name in names:
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == (0o600 if name.endswith("key.pem") else 0o644), name
    done = cli("consul", "tls", "cert", "create", cwd=tmp_path)
    assert done.returncode == 2 and "exactly one of -server, -client or -cli" in done.stderr


def test_agents_talk_tls_and_the_client_registers(cluster: Cluster) -> None:
    server, client = cluster.servers[0], cluster.clients[0]
    wait_until(lambda: client.name in {n["Node"] for n in server.get("/v1/catalog/nodes")}, "the client to register")
    assert client.http("PUT", "/v1/kv/tls/ok", "1")[1] is True  # forwarded over TLS RPC
    assert server.get("/v1/kv/tls/ok?consistent")[0]["Value"] == "MQ=="


def test_https_with_verify_incoming_needs_a_client_certificate(cluster: Cluster, pki: Path) -> None:
    ca = pki / "consul-agent-ca.pem"
    address = cluster.servers[0].address
    assert leader_over_https(address, ca, pki / f"{DATACENTER}-client-consul-1.pem") == f"{address}:8300"
    with pytest.raises(Unreachable):
        leader_over_https(address, ca)
    other = pki / "other"
    other.mkdir(exist_ok=True)
    if not (other / "consul-agent-ca.pem").exists():
        create_ca(other)
        create_cert(other, "client", datacenter=DATACENTER)
    with pytest.raises(Unreachable):
        leader_over_https(address, ca, other / f"{DATACENTER}-client-consul-0.pem")  # signed by another CA
    with pytest.raises(Unreachable, match="CERTIFICATE_VERIFY_FAILED"):
        leader_over_https(address, other / "consul-agent-ca.pem", pki / f"{DATACENTER}-client-consul-1.pem")


def _closed_after(sock: socket.socket | ssl.SSLSocket, started: float) -> float:
    """Seconds from `started` until the agent closed `sock` (blocks on a read until then)."""
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        assert sock.recv(4096) == b""
    return time.monotonic() - started


def test_https_connections_that_say_nothing_are_closed_as_on_http(cluster: Cluster, pki: Path) -> None:
    """The HTTP connection guard holds on 8501 too: a client that connects and never starts TLS, and one
    that finishes the handshake but never its request, are closed after the header timeout (10 s; asyncio
    alone would keep the first 60 s), and the API still answers."""
    server = cluster.servers[0]
    ca, cert = pki / "consul-agent-ca.pem", pki / f"{DATACENTER}-client-consul-1.pem"
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(cert.with_name(cert.stem + "-key.pem")))
    mute_started = time.monotonic()
    with socket.create_connection((server.address, 8501), timeout=60) as mute:
        slow_started = time.monotonic()
        raw = socket.create_connection((server.address, 8501), timeout=60)
        with ctx.wrap_socket(raw, server_hostname=server.address) as slow:
            slow.sendall(b"GET /v1/agent/self HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            assert 5 <= _closed_after(slow, slow_started) < 30
        assert _closed_after(mute, mute_started) < 30
    assert leader_over_https(server.address, ca, cert) == f"{server.address}:8300"


def test_a_server_certificate_for_the_wrong_name_is_refused(tmp_path: Path, pki: Path) -> None:
    """A server presenting a client certificate (client.<dc>.consul): a client with verify_server_hostname
    refuses to talk to it, so it never joins the catalog."""
    c = make_cluster(tmp_path, servers=1, clients=1)
    ca = pki / "consul-agent-ca.pem"
    wrong = pki / f"{DATACENTER}-client-consul-1.pem"
    c.servers[0].config.update(tls_settings(ca, wrong, wrong.with_name(wrong.stem + "-key.pem")))
    right = pki / f"{DATACENTER}-client-consul-0.pem"
    c.clients[0].config.update(tls_settings(ca, right, right.with_name(right.stem + "-key.pem")))
    c.clients[0].definitions["web.json"] = {"service": {"name": "web", "port": 80}}
    try:
        c.start()
        client = c.clients[0]
        wait_until(lambda: "Hostname mismatch" in client.log.read_text(), "the client to refuse the server's name")
        assert client.http("PUT", "/v1/kv/x", "1")[0] == 500
        # gossip still works (the leader registers the member's node), but nothing of the client gets in
        assert c.servers[0].get("/v1/catalog/service/web") == []
    finally:
        c.stop()


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"acl": {"enabled": True, "default_policy": "deny"}}, "acl is not implemented"),
        ({"ports": {"https": 8501}}, "ports.https needs cert_file and key_file"),
        ({"verify_incoming": True}, "verify_incoming_rpc needs ca_file"),
        ({"tls": {"defaults": {"tls_cipher_suites": "TLS_AES_128_GCM_SHA256"}}}, "not implemented"),
        ({"tls": {"defaults": {"ca_file": "/nonexistent/ca.pem"}}}, "no such file /nonexistent/ca.pem"),
    ],
)
def test_security_settings_are_implemented_or_refused(tmp_path: Path, config: dict[str, object], needle: str) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    done = cli("consul", "validate", path)
    assert done.returncode == 2 and needle in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert str(path) in done.stderr
