"""The Consul TLS files of a cluster, issued together into the secrets store (`gitlab-ha secrets tls`).

One CA (ours, ECDSA P-256, or the user's own: its certificate and key given as paths), one server
certificate the Consul servers share (`server.<dc>.consul`, so `verify_server_hostname` holds), one client
certificate the client agents share (`client.<dc>.consul`; every client agent serves HTTPS on 8501, which
needs one), and Patroni's own client-only certificate (`cli.<dc>.consul`). All carry `localhost` and
127.0.0.1, the names Patroni's `https://127.0.0.1:8501` is checked against. Keys never leave memory but
into the 0600 store.
"""

from __future__ import annotations

from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import read_user_bytes
from gitlab_ha.secrets import pki
from gitlab_ha.secrets.catalog import CONSUL_TLS

MAX_PEM = 64 * 1024
KINDS = {"server": "server", "client": "client", "patroni": "cli"}  # entry → the certificate kind


def issue(
    datacenter: str,
    *,
    ca_cert_file: Path | None = None,
    ca_key_file: Path | None = None,
    days: int = 825,
) -> dict[str, str]:
    """Every `consul_tls_*` entry: a new CA, or the user's (its key is then not stored), and the three
    certificates signed by it."""
    if (ca_cert_file is None) != (ca_key_file is None):
        raise InputError("give both --ca-cert and --ca-key, or neither (a new CA is made)")
    values: dict[str, str] = {}
    if ca_cert_file is not None and ca_key_file is not None:
        cert_pem = read_user_bytes(ca_cert_file, limit=MAX_PEM)
        key_pem = read_user_bytes(ca_key_file, limit=MAX_PEM)
        ca_cert, ca_key = pki.load_ca(cert_pem, key_pem, f"{ca_cert_file} / {ca_key_file}")
        values["consul_tls_ca_cert"] = pki.pem(ca_cert)
    else:
        values["consul_tls_ca_cert"], values["consul_tls_ca_key"] = pki.agent_ca()
        ca_cert, ca_key = pki.load_ca(values["consul_tls_ca_cert"].encode(), values["consul_tls_ca_key"].encode(), "CA")
    for entry, kind in KINDS.items():
        cert, key = pki.agent_cert(kind, ca_cert, ca_key, datacenter=datacenter, days=days)
        values[f"consul_tls_{entry}_cert"], values[f"consul_tls_{entry}_key"] = cert, key
    return {name: values[name] for name in CONSUL_TLS if name in values}
