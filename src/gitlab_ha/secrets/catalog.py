"""Every secret the cluster needs, in a fixed order (the order of `secrets list` and the store).

Each entry says what kind of value it is, the PostgreSQL user its MD5 hash is made with (if Omnibus
wants a hash), the env var that overrides it, which roles hold it (so which nodes need a
reconfigure after a rotation, in that order) and a one-line description.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from gitlab_ha.errors import InputError
from gitlab_ha.secrets import generate
from gitlab_ha.topology.roles import Role

ENV_PREFIX = "GITLAB_HA_SECRET_"


class Kind(StrEnum):
    PASSWORD = "password"
    TOKEN = "token"
    USERNAME = "username"
    GOSSIP_KEY = "gossip-key"
    CERTIFICATE = "certificate"  # PEM, public: written 0644, not a secret to hide
    PRIVATE_KEY = "private-key"  # PEM


# Kinds `secrets init` and `secrets rotate` do not make one by one: `secrets tls` issues them together.
PEM_KINDS = frozenset({Kind.CERTIFICATE, Kind.PRIVATE_KEY})


_GENERATORS: dict[Kind, Callable[[], str]] = {
    Kind.PASSWORD: generate.new_password,
    Kind.TOKEN: generate.new_token,
    Kind.USERNAME: lambda: generate.new_username("patroni"),
    Kind.GOSSIP_KEY: generate.new_gossip_key,
}


@dataclass(frozen=True)
class SecretSpec:
    name: str
    kind: Kind
    description: str
    pg_user: str | None = None
    # Roles whose gitlab.rb holds the value or its hash, in the order to reconfigure them.
    consumers: tuple[Role, ...] = ()
    # True when every Omnibus node holds it (the gossip key: every node runs a Consul agent).
    all_nodes: bool = False
    # Needed only by some topologies (Consul TLS): a store without it is complete; `render` asks for it.
    optional: bool = False

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def hidden(self) -> bool:
        """Whether the value is a secret (a certificate is public; everything else is hidden)."""
        return self.kind is not Kind.CERTIFICATE

    def generate(self) -> str:
        return _GENERATORS[self.kind]()


def _tls(
    name: str, kind: Kind, description: str, consumers: tuple[Role, ...] = (), all_nodes: bool = False
) -> SecretSpec:
    return SecretSpec(name, kind, description, consumers=consumers, all_nodes=all_nodes, optional=True)


SECRETS: tuple[SecretSpec, ...] = (
    SecretSpec(
        "gitlab_db_password",
        Kind.PASSWORD,
        "PostgreSQL user `gitlab` of GitLab Rails (gitlab_rails['db_password'], sql_user_password hash)",
        pg_user="gitlab",
        consumers=(Role.PATRONI, Role.POSTGRES, Role.RAILS, Role.SIDEKIQ),
    ),
    SecretSpec(
        "pgbouncer_password",
        Kind.PASSWORD,
        "PostgreSQL user `pgbouncer` (pgbouncer_user_password, pgbouncer['databases'], .pgpass of gitlab-consul)",
        pg_user="pgbouncer",
        consumers=(Role.PATRONI, Role.PGBOUNCER),
    ),
    SecretSpec(
        "replication_password",
        Kind.PASSWORD,
        "PostgreSQL user `gitlab_replicator` for streaming replication (sql_replication_password)",
        pg_user="gitlab_replicator",
        consumers=(Role.PATRONI,),
    ),
    SecretSpec(
        "consul_db_password",
        Kind.PASSWORD,
        "PgBouncer admin user `gitlab-consul` the Consul watch uses (pgbouncer['users'])",
        pg_user="gitlab-consul",
        consumers=(Role.PGBOUNCER,),
    ),
    SecretSpec(
        "praefect_db_password",
        Kind.PASSWORD,
        "PostgreSQL user `praefect` on the Praefect database (praefect-db.sql hash, praefect['configuration'])",
        pg_user="praefect",
        consumers=(Role.PRAEFECT_POSTGRES, Role.PRAEFECT),
    ),
    SecretSpec(
        "praefect_external_token",
        Kind.TOKEN,
        "Token Rails and Sidekiq present to Praefect (Praefect auth token, gitaly_token in repositories_storages)",
        consumers=(Role.PRAEFECT, Role.RAILS, Role.SIDEKIQ),
    ),
    SecretSpec(
        "praefect_internal_token",
        Kind.TOKEN,
        "Token Praefect presents to Gitaly; also Gitaly's own auth token",
        consumers=(Role.GITALY, Role.PRAEFECT),
    ),
    SecretSpec(
        "redis_password",
        Kind.PASSWORD,
        "Redis and Sentinel password (redis['password'], redis['master_password'], Rails' Redis URL)",
        consumers=(Role.REDIS, Role.REDIS_CACHE, Role.SENTINEL, Role.SENTINEL_CACHE, Role.RAILS, Role.SIDEKIQ),
    ),
    SecretSpec(
        "patroni_api_username",
        Kind.USERNAME,
        "User name of Patroni's REST API (patroni['username']); readable, stored with the rest",
        consumers=(Role.PATRONI,),
    ),
    SecretSpec(
        "patroni_api_password",
        Kind.PASSWORD,
        "Password of Patroni's REST API (patroni['password'])",
        consumers=(Role.PATRONI,),
    ),
    SecretSpec(
        "consul_gossip_key",
        Kind.GOSSIP_KEY,
        "Consul gossip encryption key, 32 bytes base64 as `consul keygen` (consul['encryption_key'])",
        consumers=(Role.CONSUL,),
        all_nodes=True,
    ),
    # Consul TLS (topology consul.tls): made together by `gitlab-ha secrets tls`, from our own CA or the user's.
    _tls("consul_tls_ca_cert", Kind.CERTIFICATE, "Consul agent CA certificate (consul['tls_ca_file'])", all_nodes=True),
    _tls("consul_tls_ca_key", Kind.PRIVATE_KEY, "Consul agent CA key; absent when the CA is the user's own"),
    _tls(
        "consul_tls_server_cert",
        Kind.CERTIFICATE,
        "Consul servers' certificate, server.<dc>.consul (consul['tls_certificate_file'])",
        (Role.CONSUL,),
    ),
    _tls("consul_tls_server_key", Kind.PRIVATE_KEY, "Consul servers' key (consul['tls_key_file'])", (Role.CONSUL,)),
    _tls(
        "consul_tls_client_cert",
        Kind.CERTIFICATE,
        "Consul client agents' certificate, client.<dc>.consul (consul['tls_certificate_file'])",
        all_nodes=True,
    ),
    _tls(
        "consul_tls_client_key", Kind.PRIVATE_KEY, "Consul client agents' key (consul['tls_key_file'])", all_nodes=True
    ),
    _tls(
        "consul_tls_patroni_cert",
        Kind.CERTIFICATE,
        "Patroni's client certificate for its Consul agent (patroni['consul']['cert'])",
        (Role.PATRONI,),
    ),
    _tls("consul_tls_patroni_key", Kind.PRIVATE_KEY, "Patroni's key (patroni['consul']['key'])", (Role.PATRONI,)),
)
CONSUL_TLS: tuple[str, ...] = tuple(spec.name for spec in SECRETS if spec.name.startswith("consul_tls_"))

BY_NAME: dict[str, SecretSpec] = {spec.name: spec for spec in SECRETS}
BY_ENV: dict[str, SecretSpec] = {spec.env_var: spec for spec in SECRETS}


def get_spec(name: str) -> SecretSpec:
    """The catalog entry `name`; an unknown name is bad input that lists the known ones."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise InputError(f"unknown secret {name!r}; known: {', '.join(BY_NAME)}") from None
