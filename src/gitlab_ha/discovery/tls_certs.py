"""`consul tls ca create` and `consul tls cert create`: the agent CA and its server and client certificates.

Apart from tls.py (the agent's SSL contexts) so that an agent, which only loads certificates, does not
import cryptography at every start. The certificates themselves are made by `secrets/pki.py`, which the
render's secrets store uses too; this module names and writes the files as `consul tls` does."""

from __future__ import annotations

import os
from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.secrets import pki

CA_CERT = "{domain}-agent-ca.pem"
CA_KEY = "{domain}-agent-ca-key.pem"


def _write(path: Path, data: str, mode: int) -> None:
    if path.exists():
        raise InputError("already exists; remove it or choose another name", str(path))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(fd, mode)  # exactly: certificates are world-readable as Consul writes them, whatever the umask
    with os.fdopen(fd, "w") as fh:
        fh.write(data)


def create_ca(directory: Path, *, domain: str = "consul", days: int = 1825) -> tuple[Path, Path]:
    """The CA's certificate and key (`consul-agent-ca.pem`, `consul-agent-ca-key.pem`, key 0600)."""
    cert_pem, key_pem = pki.agent_ca(domain=domain, days=days)
    cert_path = directory / CA_CERT.format(domain=domain)
    key_path = directory / CA_KEY.format(domain=domain)
    _write(key_path, key_pem, 0o600)
    _write(cert_path, cert_pem, 0o644)
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
        ca_cert, ca_key = pki.load_ca(ca_file.read_bytes(), ca_key_file.read_bytes(), str(ca_file))
    except FileNotFoundError as exc:
        raise InputError("no such file (create the CA first: consul tls ca create)", str(exc.filename)) from None
    n = 0
    while (directory / f"{datacenter}-{kind}-{domain}-{n}.pem").exists():
        n += 1
    cert_pem, key_pem = pki.agent_cert(
        kind,
        ca_cert,
        ca_key,
        datacenter=datacenter,
        domain=domain,
        days=days,
        dns_names=dns_names,
        ip_addresses=ip_addresses,
        node=node,
    )
    cert_path = directory / f"{datacenter}-{kind}-{domain}-{n}.pem"
    key_path = directory / f"{datacenter}-{kind}-{domain}-{n}-key.pem"
    _write(key_path, key_pem, 0o600)
    _write(cert_path, cert_pem, 0o644)
    return cert_path, key_path
