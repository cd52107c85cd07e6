"""TLS for the agent: HTTPS (8501) with optional client certificates, TLS between agents on the RPC port,
and the CA and certificates `consul tls ca create` / `consul tls cert create` make (same file names).

Settings, as Consul reads them (`tls { defaults { … } internal_rpc { … } https { … } }`, or the older
top-level `ca_file`, `cert_file`, `key_file`, `verify_incoming`, `verify_outgoing`,
`verify_server_hostname`, `verify_incoming_rpc`, `verify_incoming_https`):

- HTTPS is served when `ports.https` is set; with `verify_incoming` (https) a client must present a
  certificate signed by `ca_file`.
- On the RPC port a server accepts TLS (told apart from a plain frame by its first byte) when it has a
  certificate; with `verify_incoming` (rpc) it accepts *only* TLS with a client certificate signed by
  the CA.
- With `verify_outgoing` an agent speaks TLS to servers and checks their certificate against the CA
  (offering its own, for servers that verify incoming); with `verify_server_hostname` the server's
  certificate must also be valid for `server.<datacenter>.<domain>`, so a client certificate cannot
  pose as a server.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gitlab_ha.errors import InputError

CA_CERT = "{domain}-agent-ca.pem"
CA_KEY = "{domain}-agent-ca-key.pem"
DAY = datetime.timedelta(days=1)


@dataclass
class TLSConfig:
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    verify_incoming_rpc: bool = False
    verify_incoming_https: bool = False
    verify_outgoing: bool = False
    verify_server_hostname: bool = False
    min_version: str = "tls12"
    https_port: int = -1
    where: dict[str, str] = field(default_factory=dict)  # setting -> the file that set it, for errors

    @property
    def enabled(self) -> bool:
        return bool(self.cert_file or self.verify_outgoing or self.https_port >= 0)

    def check(self) -> None:
        """Refuse combinations that cannot work, naming the setting (InputError)."""
        if (self.cert_file or self.key_file) and not (self.cert_file and self.key_file):
            raise InputError("cert_file and key_file go together", self.where.get("cert_file", "tls"))
        if self.https_port >= 0 and not self.cert_file:
            raise InputError("ports.https needs cert_file and key_file", self.where.get("https_port", "ports.https"))
        for name in ("verify_incoming_rpc", "verify_incoming_https", "verify_outgoing", "verify_server_hostname"):
            if getattr(self, name) and not self.ca_file:
                raise InputError(f"{name} needs ca_file", self.where.get(name, "tls"))
        if (self.verify_incoming_rpc or self.verify_server_hostname) and not self.cert_file:
            raise InputError(
                "verifying servers or clients needs cert_file and key_file", self.where.get("cert_file", "tls")
            )
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise InputError(f"{name}: no such file {path}", self.where.get(name, "tls"))


def _context(purpose: ssl.Purpose, cfg: TLSConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(purpose, cafile=cfg.ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3 if cfg.min_version == "tls13" else ssl.TLSVersion.TLSv1_2
    if cfg.cert_file:
        try:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        except (ssl.SSLError, OSError) as exc:
            raise InputError(f"cannot load the certificate and key: {exc}", cfg.cert_file) from None
    return ctx


def server_context(cfg: TLSConfig, *, verify_incoming: bool) -> ssl.SSLContext:
    """For HTTPS or the RPC port: our certificate; a client certificate required with `verify_incoming`."""
    ctx = _context(ssl.Purpose.CLIENT_AUTH, cfg)
    ctx.verify_mode = ssl.CERT_REQUIRED if verify_incoming else ssl.CERT_NONE
    return ctx


def client_context(cfg: TLSConfig) -> ssl.SSLContext:
    """For RPC to servers: their certificate checked against the CA (and their name, if configured)."""
    ctx = _context(ssl.Purpose.SERVER_AUTH, cfg)
    ctx.check_hostname = cfg.verify_server_hostname
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def server_name(datacenter: str, domain: str) -> str:
    return f"server.{datacenter}.{domain}"


# --- `consul tls ca create` / `consul tls cert create` -------------------------------------------------------


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
