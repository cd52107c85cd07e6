"""`gitlab-ha secrets tls`: the Consul TLS files issued into the store, from a new CA or the user's own;
refused clearly when the user's CA is unreadable or invalid; never printed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gitlab_ha.secrets import pki
from gitlab_ha.secrets.catalog import CONSUL_TLS
from gitlab_ha.secrets.store import SecretStore
from tests.helpers import cli
from tests.topology.test_validation import seed_data, write


@pytest.fixture
def cluster(tmp_path: Path) -> tuple[Path, Path]:
    data = seed_data()
    data["consul"] = {"datacenter": "dc9", "tls": "mutual_patroni"}
    topo = write(tmp_path, data)
    store = tmp_path / "s.json"
    assert cli("secrets", "init", "--store", store).returncode == 0
    return topo, store


def _one_error(result: object, *needles: str) -> None:
    assert result.returncode == 2, result  # type: ignore[attr-defined]
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in lines[0], lines
    for needle in needles:
        assert needle in lines[0]


def _san(pem: str) -> list[str]:
    return pki.dns_names(pem)


def test_new_ca_and_certificates(cluster: tuple[Path, Path]) -> None:
    topo, store = cluster
    before = json.loads(store.read_text())["secrets"]
    result = cli("secrets", "tls", "--store", store, "--topology", topo)
    assert result.returncode == 0, result.stderr
    loaded = SecretStore.load(store)
    assert all(loaded.has(name) for name in CONSUL_TLS)
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    after = json.loads(store.read_text())["secrets"]
    assert {k: v for k, v in after.items() if k in before} == before  # the rest untouched
    assert "server.dc9.consul" in _san(loaded.get("consul_tls_server_cert"))
    assert "client.dc9.consul" in _san(loaded.get("consul_tls_client_cert"))
    assert "cli.dc9.consul" in _san(loaded.get("consul_tls_patroni_cert"))
    ca = x509.load_pem_x509_certificate(loaded.get("consul_tls_ca_cert").encode())
    for entry in ("server", "client", "patroni"):
        cert = x509.load_pem_x509_certificate(loaded.get(f"consul_tls_{entry}_cert").encode())
        cert.verify_directly_issued_by(ca)
        key = serialization.load_pem_private_key(loaded.get(f"consul_tls_{entry}_key").encode(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    for name in ("consul_tls_ca_key", "consul_tls_server_key", "consul_tls_client_key", "consul_tls_patroni_key"):
        assert loaded.get(name).split("\n")[1] not in result.stdout + result.stderr
    listed = cli("secrets", "list", "--json", "--store", store)
    assert listed.returncode == 0 and all(v not in listed.stdout for v in loaded.values())
    # a second time is refused; --replace issues new ones
    _one_error(cli("secrets", "tls", "--store", store, "--topology", topo), "already holds", "--replace")
    again = cli("secrets", "tls", "--store", store, "--topology", topo, "--replace")
    assert again.returncode == 0, again.stderr
    assert SecretStore.load(store).get("consul_tls_ca_cert") != loaded.get("consul_tls_ca_cert")
    _one_error(cli("secrets", "rotate", "consul_tls_server_key", "--store", store), "secrets tls --replace")


def _user_ca(tmp: Path) -> tuple[Path, Path]:
    """A user's own RSA CA, made with cryptography as an admin's openssl would."""
    import datetime

    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Corp CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    ca_path, key_path = tmp / "ca.pem", tmp / "ca-key.pem"
    ca_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return ca_path, key_path


def test_users_own_ca_signs_and_its_key_is_not_stored(cluster: tuple[Path, Path], tmp_path: Path) -> None:
    topo, store = cluster
    ca_path, key_path = _user_ca(tmp_path)
    result = cli("secrets", "tls", "--store", store, "-t", topo, "--ca-cert", ca_path, "--ca-key", key_path)
    assert result.returncode == 0, result.stderr
    loaded = SecretStore.load(store)
    assert not loaded.has("consul_tls_ca_key")
    assert key_path.read_text().split("\n")[1] not in store.read_text()
    assert loaded.get("consul_tls_ca_cert").strip() == ca_path.read_text().strip()
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    x509.load_pem_x509_certificate(loaded.get("consul_tls_server_cert").encode()).verify_directly_issued_by(ca)


def test_a_certificate_that_is_no_ca_is_refused(cluster: tuple[Path, Path], tmp_path: Path) -> None:
    topo, store = cluster
    cert_pem, key_pem = pki.self_signed("Our CA", bits=2048)  # no CA:TRUE: refused
    (tmp_path / "plain.pem").write_text(cert_pem)
    (tmp_path / "plain-key.pem").write_text(key_pem)
    _one_error(
        cli("secrets", "tls", "--store", store, "-t", topo, "--ca-cert", tmp_path / "plain.pem",
            "--ca-key", tmp_path / "plain-key.pem"),
        "plain.pem", "is not a CA certificate",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({"ca.pem": None, "ca-key.pem": "KEY"}, "no such file"),
        ({"ca.pem": "garbage", "ca-key.pem": "KEY"}, "is not a PEM certificate"),
        ({"ca.pem": "CERT", "ca-key.pem": "garbage"}, "not a PEM private key"),
        ({"ca.pem": "CERT", "ca-key.pem": "OTHER"}, "does not belong to this CA"),
    ],
)
def test_bad_user_ca_is_refused_by_name(
    cluster: tuple[Path, Path], tmp_path: Path, files: dict[str, str | None], needle: str
) -> None:
    topo, store = cluster
    cert, key = pki.agent_ca()
    _, other = pki.agent_ca()
    values = {"CERT": cert, "KEY": key, "OTHER": other}
    for name, content in files.items():
        if content is not None:
            (tmp_path / name).write_text(values.get(content, content))
    before = store.read_bytes()
    result = cli("secrets", "tls", "--store", store, "-t", topo, "--ca-cert", tmp_path / "ca.pem",
                 "--ca-key", tmp_path / "ca-key.pem")  # fmt: skip
    _one_error(result, needle, "ca.pem")
    assert key.split("\n")[1] not in result.stderr
    assert store.read_bytes() == before


def test_only_one_of_ca_cert_and_key_is_refused(cluster: tuple[Path, Path], tmp_path: Path) -> None:
    topo, store = cluster
    (tmp_path / "ca.pem").write_text(pki.agent_ca()[0])
    _one_error(cli("secrets", "tls", "--store", store, "-t", topo, "--ca-cert", tmp_path / "ca.pem"), "--ca-key")


def test_render_refuses_tls_without_the_files_and_a_changed_datacenter(cluster: tuple[Path, Path]) -> None:
    topo, store = cluster
    _one_error(cli("render", topo, "--secrets", store, "-o", topo.parent / "out"), "secrets tls")
    assert cli("secrets", "tls", "--store", store, "--topology", topo).returncode == 0
    topo.write_text(topo.read_text().replace("datacenter: dc9", "datacenter: dc8"))
    _one_error(cli("render", topo, "--secrets", store, "-o", topo.parent / "out"), "server.dc8.consul", "--replace")
