"""The catalog: names, order, kinds and env var names the renderer and the docs rely on."""

from __future__ import annotations

from pathlib import Path

from gitlab_ha.secrets.catalog import SECRETS, Kind

EXPECTED = [
    ("gitlab_db_password", Kind.PASSWORD, "gitlab"),
    ("pgbouncer_password", Kind.PASSWORD, "pgbouncer"),
    ("replication_password", Kind.PASSWORD, "gitlab_replicator"),
    ("consul_db_password", Kind.PASSWORD, "gitlab-consul"),
    ("praefect_db_password", Kind.PASSWORD, "praefect"),
    ("praefect_external_token", Kind.TOKEN, None),
    ("praefect_internal_token", Kind.TOKEN, None),
    ("redis_password", Kind.PASSWORD, None),
    ("patroni_api_username", Kind.USERNAME, None),
    ("patroni_api_password", Kind.PASSWORD, None),
    ("consul_gossip_key", Kind.GOSSIP_KEY, None),
    # Consul TLS (optional, issued together by `secrets tls`)
    ("consul_tls_ca_cert", Kind.CERTIFICATE, None),
    ("consul_tls_ca_key", Kind.PRIVATE_KEY, None),
    ("consul_tls_server_cert", Kind.CERTIFICATE, None),
    ("consul_tls_server_key", Kind.PRIVATE_KEY, None),
    ("consul_tls_client_cert", Kind.CERTIFICATE, None),
    ("consul_tls_client_key", Kind.PRIVATE_KEY, None),
    ("consul_tls_patroni_cert", Kind.CERTIFICATE, None),
    ("consul_tls_patroni_key", Kind.PRIVATE_KEY, None),
]


def test_catalog_order_kinds_and_users() -> None:
    assert [(s.name, s.kind, s.pg_user) for s in SECRETS] == EXPECTED


def test_env_var_names() -> None:
    for spec in SECRETS:
        assert spec.env_var == "GITLAB_HA_SECRET_" + spec.name.upper()
        assert spec.description
        # the CA key is held by no node (it only signs, in the store)
        assert spec.consumers or spec.all_nodes or spec.name == "consul_tls_ca_key"
        assert spec.optional == spec.name.startswith("consul_tls_")


def test_docs_list_every_secret_and_env_var() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "secrets.md"
    text = docs.read_text(encoding="utf-8")
    for spec in SECRETS:
        assert f"`{spec.name}`" in text
        assert f"`{spec.env_var}`" in text
