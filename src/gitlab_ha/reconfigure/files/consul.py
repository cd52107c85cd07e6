"""The Consul agent's files: config.json (`ConsulHelper#configuration`), config.d/postgresql_service.json
(`enable_service_postgresql.rb`), config.d/watcher_postgresql.json and its handler script
(`consul/recipes/watchers.rb`), and the exporters' service files for Prometheus' discovery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from gitlab_ha.reconfigure.files.base import NodeInput, OmnibusFile
from gitlab_ha.reconfigure.files.pgbouncer import rails_database
from gitlab_ha.reconfigure.files.postgresql import port as pg_port
from gitlab_ha.reconfigure.settings import as_int, to_json

HTTP_PORT, HTTPS_PORT = 8500, 8501  # Consul's HTTP default; ConsulHelper#api_port's https default
CHECK_INTERVAL = "10s"  # consul['internal']['postgresql_service_check_interval']
HANDLER = "failover_postgresql_in_pgbouncer"


def consul_dir(node: NodeInput) -> PurePosixPath:
    return PurePosixPath(str(node.settings.get("consul", "dir", default=node.layout.dir("consul"))))


def config_dir(node: NodeInput) -> PurePosixPath:
    return PurePosixPath(str(node.settings.get("consul", "config_dir", default=consul_dir(node) / "config.d")))


def data_dir(node: NodeInput) -> PurePosixPath:
    return PurePosixPath(str(node.settings.get("consul", "data_dir", default=consul_dir(node) / "data")))


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def configuration(node: NodeInput) -> dict[str, Any]:
    c = node.settings
    config: dict[str, Any] = {
        "client_addr": None,
        "datacenter": "gitlab_consul",
        "disable_update_check": True,
        "enable_script_checks": False,
        "enable_local_script_checks": True,
        "node_name": c.get("consul", "node_name", default=node.name),
        "rejoin_after_leave": True,
        "server": False,
    }
    key = c.get("consul", "encryption_key")
    if key:
        config["encrypt"] = key
        for name in ("encryption_verify_incoming", "encryption_verify_outgoing"):
            if c.is_set("consul", name):
                config[name.replace("encryption_", "encrypt_")] = c.get("consul", name)
    ports: dict[str, Any] = {}
    for scheme in ("http", "https"):
        if c.is_set("consul", f"{scheme}_port"):
            ports[scheme] = c.get("consul", f"{scheme}_port")
    config["ports"] = ports
    user = c.hash("consul", "configuration")
    server = bool(user.get("server"))
    if c.flag("consul", "use_tls"):
        # ConsulHelper#tls_configuration (15.6+): `tls.defaults`, and `ports` = {https: api_port('https')}.
        # It is merged with Ruby's shallow Hash#merge after ports_configuration, so `consul['http_port']` is
        # dropped from config.json whenever use_tls is on (only consul['configuration'] ports survive).
        verify = c.flag("consul", "tls_verify_client")
        defaults = {
            "ca_file": c.get("consul", "tls_ca_file"),
            "cert_file": c.get("consul", "tls_certificate_file"),
            "key_file": c.get("consul", "tls_key_file"),
            "verify_outgoing": True,
            "verify_incoming": server if verify is None else verify,
        }
        config["tls"] = {"defaults": {k: v for k, v in defaults.items() if v is not None}}
        user_ports = sub(user, "ports")
        config["ports"] = {"https": user_ports.get("https", ports.get("https", HTTPS_PORT))}
    config = {k: v for k, v in _deep_merge(config, user).items() if v is not None}
    if server:
        config = _deep_merge({"bootstrap_expect": 3}, config)
    if node.layout.lab:
        # Consul's own default client_addr is 127.0.0.1: the node's loopback, i.e. its lab address.
        config["client_addr"] = " ".join(
            node.layout.listen(a) for a in str(config.get("client_addr", "127.0.0.1")).split()
        )
        if "bind_addr" in config:
            config["bind_addr"] = node.layout.listen(str(config["bind_addr"]))
    return config


@dataclass(frozen=True)
class Api:
    """How the agent's HTTP API is reached, from its config.json: the HTTP port (None when disabled with
    -1), the HTTPS port (None without one), and whether HTTPS asks clients for a certificate."""

    http: int | None
    https: int | None
    verify_clients: bool
    tls: bool  # speaks TLS to other agents (use_tls)
    has_cert: bool


def sub(mapping: dict[str, Any], key: str) -> dict[str, Any]:
    """`mapping[key]` when it is a hash, else an empty one."""
    value = mapping.get(key)
    return value if isinstance(value, dict) else {}


def api(config: dict[str, Any]) -> Api:
    ports = sub(config, "ports")
    http = as_int(ports.get("http", HTTP_PORT), HTTP_PORT)
    https = as_int(ports.get("https", -1), -1)
    tls = sub(config, "tls")
    defaults = sub(tls, "defaults")
    https_block = sub(tls, "https")
    verify = https_block.get("verify_incoming", defaults.get("verify_incoming", config.get("verify_incoming")))
    return Api(
        http if http >= 0 else None,
        https if https >= 0 else None,
        verify is True,
        bool(defaults) or "cert_file" in config,
        bool(defaults.get("cert_file") or config.get("cert_file")),
    )


def config_json(node: NodeInput) -> OmnibusFile:
    return OmnibusFile(
        consul_dir(node) / "config.json",
        to_json(configuration(node), indent=2) + "\n",
        0o600,
        node.layout.consul_os_user,
        "consul",
        secret="encrypt" in configuration(node),
    )


def check_interval(node: NodeInput) -> str:
    return str(node.settings.get("consul", "internal", "postgresql_service_check_interval", default=CHECK_INTERVAL))


def postgresql_service(node: NodeInput) -> dict[str, Any]:
    override = node.settings.hash("consul", "service_config")
    if override and isinstance(override.get("postgresql"), dict):
        return dict(override["postgresql"])
    standby = node.settings.flag("patroni", "standby_cluster", "enable")
    return {
        "service": {
            "name": str(node.settings.get("consul", "internal", "postgresql_service_name", default="postgresql")),
            "address": "",
            "port": pg_port(node),
            "check": {
                "id": "service:postgresql",
                "interval": check_interval(node),
                "status": "failing",
                "args": [*node.layout.ctl, "patroni", "check-standby-leader" if standby else "check-leader"],
            },
        }
    }


def watcher(node: NodeInput) -> dict[str, Any]:
    return {
        "watches": [{"type": "service", "service": "postgresql", "args": [str(consul_dir(node) / "scripts" / HANDLER)]}]
    }


def handler_script(node: NodeInput) -> OmnibusFile:
    """Omnibus writes a Ruby script here (watcher_scripts/failover_pgbouncer.erb, FailoverHelper): one
    healthy leader → `gitlab-ctl pgb-notify --newhost`; none → exit 4, no change; several →
    `gitlab-ctl pgb-kill`. The model writes a shell script that runs gitlab-ha's equivalent."""
    ctl = " ".join(node.layout.ctl)
    text = (
        "#!/bin/sh\n"
        "# The Consul watch handler Omnibus installs for consul['watchers'] = %w(postgresql): reads the\n"
        "# health of service postgresql on stdin; one leader: pgb-notify; none: exit 4; several: pgb-kill.\n"
        f"exec {ctl} consul handle-failover --database {rails_database(node)} --user pgbouncer "
        f"--hostuser {node.layout.consul_os_user}\n"
    )
    return OmnibusFile(consul_dir(node) / "scripts" / HANDLER, text, 0o555, "root", "consul")


_EXPORTERS = (
    ("node_exporter", "node-exporter", "localhost:9100"),
    ("redis_exporter", "redis-exporter", "localhost:9121"),
    ("postgres_exporter", "postgres-exporter", "localhost:9187"),
)


def _config_d_file(node: NodeInput, name: str, text: str) -> OmnibusFile:
    """A definition file in the agent's config dir, as reconfigure writes one: 0644, the Consul user's."""
    return OmnibusFile(config_dir(node) / name, text, 0o644, node.layout.consul_os_user, "consul")


def exporter_services(node: NodeInput) -> list[OmnibusFile]:
    """`consul_service` files for Prometheus' Consul discovery (no health check; 0.0.0.0 → node IP).
    PgBouncer's exporter is never registered (no consul_service for it in any release)."""
    if not node.settings.flag("consul", "monitoring_service_discovery"):
        return []
    out = []
    for service, name, default in _EXPORTERS:
        if not node.services.runs(service):
            continue
        listen = str(node.settings.get(service, "listen_address", default=default))
        host, _, port = listen.rpartition(":")
        if host in ("0.0.0.0", "*", ""):
            host = node.address
        body = {"service": {"name": name, "address": host, "port": as_int(port, 0)}}
        out.append(_config_d_file(node, f"{name}-service.json", to_json(body) + "\n"))
    return out


def files(node: NodeInput) -> list[OmnibusFile]:
    if not node.services.runs("consul"):
        return []
    out = [config_json(node)]
    if "postgresql" in node.settings.words("consul", "services"):
        out.append(_config_d_file(node, "postgresql_service.json", to_json(postgresql_service(node), indent=2) + "\n"))
    if "postgresql" in node.settings.words("consul", "watchers"):
        out.append(_config_d_file(node, "watcher_postgresql.json", to_json(watcher(node), indent=2) + "\n"))
        out.append(handler_script(node))
    out += exporter_services(node)
    return out
