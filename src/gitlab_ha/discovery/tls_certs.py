"""`consul tls ca create` and `consul tls cert create`: the agent CA and its server and client certificates.

Apart from tls.py (the agent's SSL contexts) so that an agent, which only loads certificates, does not
import cryptography at every start."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitlab_ha.errors import InputError

CA_CERT = "{domain}-agent-ca.pem"
CA_KEY = "{domain}-agent-ca-key.pem"
DAY = datetime.timedelta(days=1)


def _write(path: Path, data: bytes, mode: int) -> None:
    if path.exists():
        raise InputError("already exists; remove it or choose another name", str(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def create_ca(directory: Path, *, domain: str = "consul", days: int = 1825) -> tuple[Path, Path]:
    """The CA's certificate and key (`consul-agent-ca.pem`, `consul-agent-ca-key.pem`, key 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    serial = x509.random_serial_number()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Consul Agent CA {serial}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - DAY)
        .not_valid_after(now + days * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path = directory / CA_CERT.format(domain=domain)
    key_path = directory / CA_KEY.format(domain=domain)
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path


def create_cert(
    directory: Path,
    kind: str,
    *,
    datacenter: str = "dc1",
    domain: str = "consul",
    ca_file: Path | None = None,
    ca_key_file: Path | None = None,
    days: int = 365,
    dns_names: list[str] | None = None,
    ip_addresses: list[str] | None = None,
    node: str = "",
) -> tuple[Path, Path]:
    """A `server`, `client` or `cli` certificate signed by the CA, named as Consul names it:
    `<dc>-<kind>-<domain>-<n>.pem` and `…-key.pem` (key 0600), n the first free number."""
    ca_file = ca_file or directory / CA_CERT.format(domain=domain)
    ca_key_file = ca_key_file or directory / CA_KEY.format(domain=domain)
    try:
        ca_cert = x509.load_pem_x509_certificate(ca_file.read_bytes())
        ca_key = serialization.load_pem_private_key(ca_key_file.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise InputError("no such file (create the CA first: consul tls ca create)", str(exc.filename)) from None
    except ValueError as exc:
        raise InputError(f"not a PEM certificate and key: {exc}", str(ca_file)) from None
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise InputError("the CA key is not an ECDSA key", str(ca_key_file))
    n = 0
    while (directory / f"{datacenter}-{kind}-{domain}-{n}.pem").exists():
        n += 1
    names = {"server": [f"server.{datacenter}.{domain}"], "client": [f"client.{datacenter}.{domain}"], "cli": [f"cli.{datacenter}.{domain}"]}[kind]  # fmt: skip
    if kind == "server" and node:
        names.append(f"{node}.server.{datacenter}.{domain}")
    names += ["localhost", *(dns_names or [])]
    ips = [ipaddress.ip_address("127.0.0.1"), *(ipaddress.ip_address(a) for a in ip_addresses or [])]
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] if kind != "server" else [
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH,
    ]  # fmt: skip
    if kind == "client":
        usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]  # clients serve HTTPS too
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - DAY)
        .not_valid_after(now + days * DAY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([*(x509.DNSName(n) for n in names), *(x509.IPAddress(i) for i in ips)]),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path = directory / f"{datacenter}-{kind}-{domain}-{n}.pem"
    key_path = directory / f"{datacenter}-{kind}-{domain}-{n}-key.pem"
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert_path, key_path
