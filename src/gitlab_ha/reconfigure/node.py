"""One node's model: the services reconfigure enables, the data-tier files it writes, and the
settings that matter for each service (listen addresses, ports, auth, upstreams) for `explain`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gitlab_ha.reconfigure.files import consul, patroni, pgbouncer, postgresql, redis
from gitlab_ha.reconfigure.files.base import NodeInput, OmnibusFile
from gitlab_ha.reconfigure.layout import OMNIBUS, Layout
from gitlab_ha.reconfigure.services import TITLES, ServicePlan, plan
from gitlab_ha.reconfigure.settings import Opaque, Settings, as_int
from gitlab_ha.rubycfg import Document
from gitlab_ha.topology.features import Features
from gitlab_ha.topology.versions import Version


@dataclass(frozen=True)
class Effect:
    """One effective setting: the service, what it is, the value (never a secret's value)."""

    service: str
    setting: str
    value: str


def _show(value: Any) -> str:
    if isinstance(value, Opaque):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value) or "(none)"
    return "(default)" if value is None else str(value)


def _tls(config: dict[str, Any], api: consul.Api) -> str:
    """config.json's TLS as Consul reads it: off, or on with what this agent verifies."""
    if not api.tls:
        return "off"
    tls = consul.sub(consul.sub(config, "tls"), "defaults")
    rpc = consul.sub(consul.sub(config, "tls"), "internal_rpc")
    parts = [
        f"CA {_show(tls.get('ca_file'))}",
        f"certificate {_show(tls.get('cert_file'))}",
        f"verify incoming {_show(tls.get('verify_incoming', False))}",
        f"verify outgoing {_show(tls.get('verify_outgoing', False))}",
    ]
    if "verify_server_hostname" in rpc:
        parts.append(f"verify server hostname {_show(rpc['verify_server_hostname'])}")
    return "on: " + ", ".join(parts)


def _secret(value: Any) -> str:
    return "set" if value not in (None, "") else "not set"


def nginx_port(node: NodeInput) -> int:
    """NGINX's port for Rails: `nginx['listen_port']` (`gitlab_rails['nginx'][...]` from 19.2), else the
    external URL's (443 for https unless `listen_https` is false, then 80)."""
    s = node.settings
    for path in (("gitlab_rails", "nginx", "listen_port"), ("nginx", "listen_port")):
        value = s.get(*path)
        if isinstance(value, int):
            return value
    https = s.get("gitlab_rails", "nginx", "listen_https", default=s.get("nginx", "listen_https"))
    url = s.get("external_url", default="")
    if isinstance(url, str) and url.startswith("https") and https is not False:
        return 443
    return 80


@dataclass
class NodeModel:
    input: NodeInput
    files: list[OmnibusFile]

    @property
    def name(self) -> str:
        return self.input.name

    @property
    def address(self) -> str:
        return self.input.address

    @property
    def services(self) -> ServicePlan:
        return self.input.services

    @property
    def settings(self) -> Settings:
        return self.input.settings

    def ports(self, service: str) -> set[int]:
        """The TCP ports `service` listens on here ({} when it does not run or has no TCP listener)."""
        if not self.services.runs(service):
            return set()
        node, s = self.input, self.input.settings
        if service == "postgresql":
            return {postgresql.port(node)}
        if service == "pgbouncer":
            return {pgbouncer.listen_port(node)}
        if service == "redis":
            return {redis.port(node)} - {0}
        if service == "sentinel":
            return {as_int(redis.sentinel(node, "port"), 26379)}
        if service == "patroni":
            return {as_int(patroni.setting(node, "port"), 8008)}
        if service == "nginx":
            return {nginx_port(node)}
        if service in ("praefect", "gitaly"):
            listen = s.hash(service, "configuration").get("listen_addr")
            default = {"praefect": "localhost:2305", "gitaly": ""}[service]
            text = str(listen if listen is not None else default)
            port_text = text.rpartition(":")[2]
            return {int(port_text)} if port_text.isdigit() else set()
        if service == "consul":
            api = consul.api(consul.configuration(node))
            return {p for p in (api.http, api.https) if p is not None}
        return set()

    def file(self, name: str) -> OmnibusFile | None:
        return next((f for f in self.files if f.name == name), None)

    def effects(self) -> list[Effect]:
        """The settings that matter per running service, for `explain`."""
        node, s = self.input, self.input.settings
        out: list[Effect] = []

        def put(service: str, setting: str, value: Any) -> None:
            out.append(Effect(TITLES.get(service, service), setting, value if isinstance(value, str) else _show(value)))

        runs = self.services.runs
        if self.services.rails:
            host = s.get("gitlab_rails", "db_host")
            put("rails", "database", f"{_show(host)}:{_show(s.get('gitlab_rails', 'db_port', default=5432))}")
            put("rails", "migrations", f"{'yes' if self.services.migrates else 'no'} ({self.services.migrates_why})")
        if runs("nginx"):
            put("nginx", "listen port", nginx_port(node))
        if runs("puma"):
            put(
                "puma",
                "listen",
                f"{_show(s.get('puma', 'listen', default='127.0.0.1'))}:{_show(s.get('puma', 'port', default=8080))}",
            )
        if runs("sidekiq"):
            put("sidekiq", "queue groups", len(s.words("sidekiq", "queue_groups")) or 1)
        if runs("postgresql"):
            put("postgresql", "listen", f"{_show(s.get('postgresql', 'listen_address'))}:{postgresql.port(node)}")
            put("postgresql", "trusted", s.words("postgresql", "trust_auth_cidr_addresses"))
            put("postgresql", "md5 (password)", s.words("postgresql", "md5_auth_cidr_addresses"))
        if runs("patroni"):
            put("patroni", "REST API", f"{patroni.connect_address(node)}:{patroni.setting(node, 'port')}")
            section = patroni.consul_section(node)
            put("patroni", "DCS", section["url"])
            if str(section["url"]).startswith("https"):
                put(
                    "patroni",
                    "DCS TLS",
                    f"CA {_show(section.get('cacert'))}, verify {_show(section.get('verify', True))}, "
                    f"client certificate {_show(section.get('cert')) if section.get('cert') else 'none'}",
                )
            dcs = patroni.dcs(node)
            put(
                "patroni",
                "ttl / loop_wait / retry_timeout",
                f"{dcs['ttl']} / {dcs['loop_wait']} / {dcs['retry_timeout']}",
            )
            put("patroni", "replication password", _secret(s.get("patroni", "replication_password")))
            put("patroni", "pg_rewind", _show(dcs["postgresql"]["use_pg_rewind"]))
        if runs("pgbouncer"):
            put("pgbouncer", "listen", f"{pgbouncer.listen_addr(node)}:{pgbouncer.listen_port(node)}")
            for name, settings in pgbouncer.databases(node).items():
                put(
                    "pgbouncer",
                    f"database {name}",
                    f"{_show(settings.get('host'))}:{_show(settings.get('port', 5432))}",
                )
            put("pgbouncer", "follows the leader", "yes (Consul watch)" if pgbouncer.watched(node) else "no")
        if runs("redis"):
            put("redis", "listen", f"{redis.bind(node)}:{redis.port(node)}")
            role = f"replica of {redis.redis(node, 'master_ip')}" if redis.is_replica(node) else "master"
            put("redis", "role at start", role)
            put("redis", "password", _secret(s.get("redis", "password")))
        if runs("sentinel"):
            put(
                "sentinel",
                "monitors",
                f"{redis.redis(node, 'master_name')} at {redis.redis(node, 'master_ip')}:"
                f"{redis.redis(node, 'master_port')}, quorum {redis.sentinel(node, 'quorum')}",
            )
        if runs("consul"):
            config = consul.configuration(node)
            put("consul", "mode", "server" if config.get("server") else "client")
            put("consul", "retry_join", config.get("retry_join", []))
            put("consul", "gossip encryption", "on" if config.get("encrypt") else "off")
            api = consul.api(config)
            put("consul", "TLS", _tls(config, api))
            put(
                "consul",
                "HTTP API",
                ", ".join(
                    [f"http {api.http}"] * (api.http is not None)
                    + [f"https {api.https}" + (" (client certificate required)" if api.verify_clients else "")]
                    * (api.https is not None)
                )
                or "none",
            )
            put("consul", "services", s.words("consul", "services"))
            put("consul", "watches", s.words("consul", "watchers"))
        if runs("praefect"):
            conf = s.hash("praefect", "configuration")
            put("praefect", "listen", conf.get("listen_addr", "(default)"))
            db = conf.get("database", {}) if isinstance(conf.get("database"), dict) else {}
            put("praefect", "database", f"{_show(db.get('host'))}:{_show(db.get('port', 5432))}")
        if runs("gitaly"):
            conf = s.hash("gitaly", "configuration")
            put("gitaly", "listen", conf.get("listen_addr", "(default)"))
        return out


def model_node(
    name: str,
    address: str,
    doc: Document | None,
    version: Version,
    layout: Layout = OMNIBUS,
) -> NodeModel:
    settings = Settings(doc)
    features = Features(version)
    services = plan(settings, features)
    node = NodeInput(name, address, settings, features, services, layout)
    files: list[OmnibusFile] = []
    files += postgresql.files(node)
    objects = postgresql.database_objects(node)
    if objects is not None:
        files.append(objects)
    files += patroni.files(node)
    files += pgbouncer.files(node)
    files += redis.files(node)
    files += consul.files(node)
    return NodeModel(node, files)
