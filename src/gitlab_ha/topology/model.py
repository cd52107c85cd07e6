"""The topology model: one cluster, its GitLab settings, object storage and nodes.

Field-level checks live on the models (pydantic); checks across nodes live in `validate.py`.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from gitlab_ha.topology.addresses import parse_node_address
from gitlab_ha.topology.facts import OMNIBUS_PATRONI_TIMING
from gitlab_ha.topology.roles import NON_OMNIBUS, Role
from gitlab_ha.topology.versions import GitLabVersion

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# Strings the services take and the runbook's commands carry, limited to what those services allow:
PG_IDENTIFIER_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # an unquoted PostgreSQL name (63 bytes)
SENTINEL_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # one word in sentinel.conf and redis-cli
DATACENTER_RE = re.compile(r"^[a-z0-9_-]{1,63}$")  # Consul's rule for a datacenter (and a DNS label)
REGION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,62}$")  # us-east-1, europe-west4, eastus


def _matches(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.match(value):
        raise ValueError(f"{value!r} is not {what}")
    return value


# The object types Omnibus' consolidated object storage knows; one bucket each.
OBJECT_TYPES: tuple[str, ...] = (
    "artifacts",
    "external_diffs",
    "lfs",
    "uploads",
    "packages",
    "dependency_proxy",
    "terraform_state",
    "ci_secure_files",
    "pages",
)

Provider = Literal["AWS", "Google", "AzureRM"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CredentialRef(Strict):
    """Where object storage credentials come from. Never the values themselves."""

    env: str | None = Field(
        default=None, description="prefix of env vars: <env>_ACCESS_KEY_ID and <env>_SECRET_ACCESS_KEY"
    )
    file: str | None = Field(default=None, description="path of a file on the Rails nodes holding the key")
    use_iam_profile: bool = Field(default=False, description="AWS: take credentials from the instance role")

    @model_validator(mode="after")
    def _exactly_one(self) -> CredentialRef:
        given = [self.env is not None, self.file is not None, self.use_iam_profile]
        if sum(given) != 1:
            raise ValueError("give exactly one of env, file or use_iam_profile")
        if self.env is not None and not ENV_RE.match(self.env):
            raise ValueError(f"env {self.env!r} is not an environment variable name (A-Z, 0-9, _)")
        return self


class ObjectStorage(Strict):
    provider: Provider = "AWS"
    region: str = "us-east-1"
    credentials: CredentialRef = Field(default_factory=lambda: CredentialRef(use_iam_profile=True))
    buckets: dict[str, str] = Field(default_factory=dict)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return _matches(REGION_RE, value, "a region name (letters, digits and '-', as us-east-1)")

    @field_validator("buckets")
    @classmethod
    def _known_types(cls, value: dict[str, str]) -> dict[str, str]:
        for kind, bucket in value.items():
            if kind not in OBJECT_TYPES:
                raise ValueError(f"unknown object type {kind!r}; known: {', '.join(OBJECT_TYPES)}")
            if not re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", bucket):
                raise ValueError(f"bucket {bucket!r} for {kind} is not a valid bucket name")
        return value


class GitLab(Strict):
    version: GitLabVersion = Field(description="Omnibus release, e.g. 16.6.0")
    edition: Literal["ee", "ce"] = "ee"
    external_url: str = "https://gitlab.example.com"

    @field_validator("external_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[A-Za-z0-9.-]+(:\d+)?/?$", value):
            raise ValueError(f"{value!r} is not an http(s) URL with a host name")
        return value.rstrip("/")


class Database(Strict):
    name: str = "gitlabhq_production"
    synchronous_mode: bool = Field(default=False, description="Patroni synchronous replication (no loss)")
    synchronous_mode_strict: bool = Field(
        default=False, description="refuse writes when no synchronous replica is left (no loss even then)"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _matches(PG_IDENTIFIER_RE, value, "a PostgreSQL database name (a-z, 0-9, '_', at most 63)")

    @model_validator(mode="after")
    def _strict_needs_sync(self) -> Database:
        if self.synchronous_mode_strict and not self.synchronous_mode:
            raise ValueError("synchronous_mode_strict needs synchronous_mode: true")
        return self


class PatroniHA(Strict):
    """Patroni's timing (Omnibus: ttl 30, loop_wait 10, retry_timeout 10, 1 MiB lag); unset: Omnibus'."""

    ttl: int | None = Field(default=None, ge=20, description="leader key lifetime, s (Patroni refuses below 20)")
    loop_wait: int | None = Field(default=None, ge=1, description="seconds between Patroni's HA cycles")
    retry_timeout: int | None = Field(default=None, ge=3, description="seconds to retry the DCS and PostgreSQL")
    maximum_lag_on_failover: int | None = Field(default=None, ge=0, description="bytes a candidate may lag")
    service_check_interval: str | None = Field(default=None, description="Patroni's own Consul service check")
    session_checks: list[str] | None = Field(
        default=None,
        description="Consul checks tied to the leader session: ['serfHealth'] frees the leader key as soon as "
        "the leader's node is seen dead, instead of after the TTL",
    )

    @property
    def effective_ttl(self) -> int:
        """The leader key's lifetime Patroni runs with: this ttl, or Omnibus'."""
        return self.ttl or OMNIBUS_PATRONI_TIMING["ttl"]

    @model_validator(mode="after")
    def _timing(self) -> PatroniHA:
        ttl = self.effective_ttl
        loop = self.loop_wait or OMNIBUS_PATRONI_TIMING["loop_wait"]
        retry = self.retry_timeout or OMNIBUS_PATRONI_TIMING["retry_timeout"]
        if loop + 2 * retry > ttl:
            raise ValueError(f"loop_wait + 2 x retry_timeout ({loop} + 2 x {retry}) must not exceed ttl ({ttl})")
        return self


class SentinelHA(Strict):
    """Sentinel's timing (Omnibus: down-after 10000 ms, failover-timeout 60000 ms); unset: Omnibus'."""

    down_after_milliseconds: int | None = Field(default=None, ge=100)
    failover_timeout: int | None = Field(default=None, ge=1000)


class ConsulHA(Strict):
    check_interval: str | None = Field(default=None, description="the postgresql leader check (Omnibus: 10s)")

    @field_validator("check_interval")
    @classmethod
    def _interval(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^\d+(ms|s|m)$", value):
            raise ValueError(f"{value!r} is not a Consul interval like 2s or 500ms")
        return value


class PgBouncerHA(Strict):
    """How soon PgBouncer tries its database again after a failed connection (Omnibus: 15 s); unset: Omnibus'."""

    server_login_retry: int | None = Field(
        default=None,
        ge=0,
        le=3600,
        description="seconds PgBouncer waits after a failed server connection before the next attempt",
    )


class HA(Strict):
    """Failover timing. Unset values render nothing, so production keeps Omnibus' defaults; the lab fills
    them from its profile (`lab up --profile fast|omnibus`)."""

    patroni: PatroniHA = Field(default_factory=PatroniHA)
    sentinel: SentinelHA = Field(default_factory=SentinelHA)
    consul: ConsulHA = Field(default_factory=ConsulHA)
    pgbouncer: PgBouncerHA = Field(default_factory=PgBouncerHA)


class Redis(Strict):
    master_name: str = "gitlab-redis"
    cache_master_name: str = "gitlab-redis-cache"

    @field_validator("master_name", "cache_master_name")
    @classmethod
    def _master_name(cls, value: str) -> str:
        return _matches(SENTINEL_NAME_RE, value, "a Sentinel master name (letters, digits, '.', '_', '-')")


# The seed's three Consul TLS set-ups (docs/topology.md): none; servers with TLS, no client certificate
# checked; servers verify client agents; client agents also verify Patroni, which gets its own certificate.
ConsulTLS = Literal["off", "server", "mutual", "mutual_patroni"]
CONSUL_TLS_VARIANTS: tuple[str, ...] = ("off", "server", "mutual", "mutual_patroni")


def _consul_tls(value: object) -> object:
    if value is False:
        return "off"  # YAML 1.1 reads a bare `off` as false
    if not isinstance(value, str) or value not in CONSUL_TLS_VARIANTS:
        raise ValueError(f"{value!r} is not a Consul TLS variant: {', '.join(CONSUL_TLS_VARIANTS)}")
    return value


class Consul(Strict):
    datacenter: str = "gitlab_consul"
    tls: Annotated[ConsulTLS, BeforeValidator(_consul_tls)] = Field(
        default="off",
        description="off | server (agents speak TLS, servers check no client certificate) | mutual (servers "
        "verify client agents) | mutual_patroni (client agents also verify Patroni's own certificate)",
    )

    @field_validator("datacenter")
    @classmethod
    def _datacenter(cls, value: str) -> str:
        return _matches(DATACENTER_RE, value, "a Consul datacenter name (a-z, 0-9, '_', '-')")


class Node(Strict):
    name: str
    address: IPv4Address
    roles: Annotated[list[Role], Field(min_length=1)]
    size: str | None = Field(default=None, description="instance type or vCPU/RAM, for information")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value):
            raise ValueError(f"{value!r} is not a host name (lower-case letters, digits and '-')")
        return value

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: object) -> IPv4Address:
        # Before pydantic's own parsing, which would take an integer (168430987) as an address.
        if isinstance(value, IPv4Address):
            return value
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not an IP address (write it as a string such as 10.0.0.5)")
        return parse_node_address(value)

    @field_validator("roles")
    @classmethod
    def _unique_roles(cls, value: list[Role]) -> list[Role]:
        seen: set[Role] = set()
        for role in value:
            if role in seen:
                raise ValueError(f"role {role.value!r} is listed twice")
            seen.add(role)
        return value

    def has(self, role: Role) -> bool:
        return role in self.roles

    @property
    def ip(self) -> str:
        return str(self.address)

    @property
    def omnibus(self) -> bool:
        """Whether this node runs the Omnibus package (has a gitlab.rb)."""
        return any(role not in NON_OMNIBUS for role in self.roles)


class Topology(Strict):
    name: str = Field(description="cluster name, used in Patroni's scope and file headers")
    gitlab: GitLab
    object_storage: ObjectStorage | None = None
    database: Database = Field(default_factory=Database)
    redis: Redis = Field(default_factory=Redis)
    consul: Consul = Field(default_factory=Consul)
    ha: HA = Field(default_factory=HA)
    redis_primary: str | None = Field(default=None, description="node that starts as Redis master")
    nodes: Annotated[list[Node], Field(min_length=1)]

    @field_validator("name")
    @classmethod
    def _cluster_name(cls, value: str) -> str:
        if not re.match(r"^[a-z0-9][a-z0-9_-]{0,62}$", value):
            raise ValueError(f"{value!r} is not a cluster name (lower-case letters, digits, '-', '_')")
        return value

    def with_role(self, role: Role) -> list[Node]:
        return [node for node in self.nodes if role in node.roles]

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def has_role(self, role: Role) -> bool:
        return any(role in node.roles for node in self.nodes)

    def redis_master(self, cache: bool = False) -> Node | None:
        """The Redis node that starts as master: `redis_primary` if set, else the first."""
        nodes = self.with_role(Role.REDIS_CACHE if cache else Role.REDIS)
        if not cache and self.redis_primary is not None:
            for node in nodes:
                if node.name == self.redis_primary:
                    return node
        return nodes[0] if nodes else None
