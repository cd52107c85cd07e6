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

import ssl
from dataclasses import dataclass, field
from pathlib import Path

from gitlab_ha.errors import InputError


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
