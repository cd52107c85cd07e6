"""Patroni's files: patroni.yaml (`patroni/templates/default/patroni.yaml.erb`) and the DCS settings
(`PatroniHelper#dynamic_settings`, also written as dcs.yaml).

The template interpolates values into YAML text without quoting them, so a password holding `#` or
`: ` breaks the file on a real node; the model writes the same text, and whoever loads it (the lab,
`patroni --validate-config`) sees the same breakage.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from gitlab_ha.reconfigure.files.base import NodeInput, OmnibusFile
from gitlab_ha.reconfigure.files.postgresql import SUPERUSER, parameters, port, replication_user, socket_dir
from gitlab_ha.reconfigure.settings import Opaque, Settings, as_int, to_json
from gitlab_ha.topology.facts import OMNIBUS_PATRONI_TIMING

# patroni/attributes/default.rb (unchanged 16.6 → 19.3)
DEFAULTS: dict[str, Any] = {
    "scope": "postgresql-ha",
    "log_level": "INFO",
    **OMNIBUS_PATRONI_TIMING,
    "maximum_lag_on_failover": 1_048_576,
    "max_timelines_history": 0,
    "master_start_timeout": 300,
    "use_pg_rewind": True,
    "use_slots": True,
    "remove_data_directory_on_rewind_failure": False,
    "remove_data_directory_on_diverged_timelines": False,
    "port": 8008,
    "allowlist_include_members": False,
}
DCS_ATTRIBUTES = ("loop_wait", "ttl", "retry_timeout", "maximum_lag_on_failover", "max_timelines_history")
# patroni['postgresql'] attribute defaults: the DCS parameters
PARAMETER_DEFAULTS: dict[str, Any] = {
    "wal_level": "replica",
    "hot_standby": "on",
    "wal_keep_segments": 10,
    "max_wal_senders": 5,
    "max_replication_slots": 5,
    "checkpoint_timeout": 30,
    "max_prepared_transactions": 0,
    "track_commit_timestamp": "off",
}
# Patroni.parse_postgresql_overrides: these take patroni['postgresql'][k] || postgresql[k] || defaults.
DCS_PARAMETERS = (
    "max_connections",
    "max_locks_per_transaction",
    "max_worker_processes",
    "max_prepared_transactions",
    "track_commit_timestamp",
    "max_wal_senders",
    "max_replication_slots",
    "wal_keep_segments",
    "wal_keep_size",
    "checkpoint_timeout",
)


def setting(node: NodeInput, key: str) -> Any:
    return node.settings.get("patroni", key, default=DEFAULTS.get(key))


def consul_section(node: NodeInput) -> dict[str, Any]:
    section: dict[str, Any] = {
        "url": "http://127.0.0.1:8500",
        "service_check_interval": "10s",
        "register_service": True,
        "checks": [],
    }
    section.update(node.settings.hash("patroni", "consul"))
    url = str(section["url"])
    for local in ("127.0.0.1", "localhost"):
        url = url.replace(f"//{local}:", f"//{node.layout.local(local)}:")
    section["url"] = url
    return section


def connect_address(node: NodeInput) -> str:
    """`patroni['connect_address'] ||= private_ipv4`: the node's own address."""
    return str(node.settings.get("patroni", "connect_address", default=node.address))


def dcs_parameters(node: NodeInput) -> dict[str, Any]:
    """The PostgreSQL parameters Patroni puts in the DCS (and so in postgresql.conf on every member)."""
    pg = node.settings
    user = pg.hash("patroni", "postgresql")
    pg_values = parameters(node)
    params: dict[str, Any] = dict(PARAMETER_DEFAULTS)
    params.update(user)
    for key in DCS_PARAMETERS:
        if key in user:
            continue
        if pg.is_set("postgresql", key):
            params[key] = pg.get("postgresql", key)
        elif key in PARAMETER_DEFAULTS:
            params[key] = PARAMETER_DEFAULTS[key]
        elif key == "wal_keep_size":
            # Postgresql.parse_wal_keep_size: segments × 16 (MB). Which of two settings blocks parses
            # first decides whether it is 160 or null; we model 160 (docs/reconfigure.md).
            params[key] = as_int(params.get("wal_keep_segments"), 10) * 16
        elif key in pg_values:
            params[key] = pg_values[key]
    if "wal_log_hints" not in user:
        # auto_detect_wal_log_hint reads the gitlab.rb value, not the attribute default.
        params["wal_log_hints"] = "on" if pg.flag("patroni", "use_pg_rewind") else pg_values["wal_log_hints"]
    pg_major = node.layout.pg_major or node.features.postgresql_major
    params.pop("wal_keep_segments" if pg_major >= 13 else "wal_keep_size", None)
    return params


def dcs(node: NodeInput) -> dict[str, Any]:
    out: dict[str, Any] = {"postgresql": {"parameters": dcs_parameters(node)}, "slots": {}}
    for key in (*DCS_ATTRIBUTES, "master_start_timeout"):
        out[key] = setting(node, key)
    out["postgresql"]["use_pg_rewind"] = setting(node, "use_pg_rewind")
    out["postgresql"]["use_slots"] = setting(node, "use_slots")
    for name, options in node.settings.hash("patroni", "replication_slots").items():
        kind = options.get("type", "physical") if isinstance(options, dict) else "physical"
        if kind == "physical":
            out["slots"][name] = {"type": "physical"}
    return out


def _ruby(value: Any) -> str:
    """Ruby's `to_s` as the template interpolates it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v) if isinstance(v, str) else _ruby(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_json(k)}=>{_ruby(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Opaque):
        return value.source
    return str(value)


def patroni_dir(node: NodeInput) -> PurePosixPath:
    return node.layout.dir("patroni")


def _set_attributes(pg: Settings, names: dict[str, str]) -> list[str]:
    """`  name: value` for each patroni[attr] of `names` (name -> attr) that is set."""
    return [f"  {name}: {_ruby(pg.get('patroni', attr))}" for name, attr in names.items() if pg.get("patroni", attr)]


def patroni_yaml(node: NodeInput) -> OmnibusFile:
    pg = node.settings
    quote = node.features.patroni_yaml_quotes_addresses

    def addr(text: str) -> str:
        return f'"{text}"' if quote else text

    pg_listen = node.layout.listen(pg.get("postgresql", "listen_address"))
    pg_connect_port = pg.get("postgresql", "connect_port", default=port(node))
    api_port = setting(node, "port")
    api_listen = node.layout.listen(pg.get("patroni", "listen_address"))
    api_connect_port = pg.get("patroni", "connect_port", default=api_port)
    lines = [
        f"name: {pg.get('patroni', 'name', default=node.name)}",
        f"scope: {setting(node, 'scope')}",
        "log:",
        f"  level: {str(setting(node, 'log_level')).upper()}",
    ]
    lines.append("consul:")
    lines += [f"  {name}: {_ruby(value)}" for name, value in consul_section(node).items()]
    lines += [
        "postgresql:",
        f"  bin_dir: {node.layout.pg_bin}",
        f"  data_dir: {node.layout.dir('postgresql', 'data')}",
        f"  config_dir: {node.layout.dir('postgresql', 'data')}",
        f"  listen: {addr(f'{pg_listen}:{port(node)}')}",
        f"  connect_address: {addr(f'{connect_address(node)}:{pg_connect_port}')}",
        "  use_unix_socket: true",
        "  parameters:",
        f"    unix_socket_directories: {socket_dir(node)}",
        "  authentication:",
        "    superuser:",
        f"      username: {SUPERUSER}",
    ]
    superuser_password = pg.get("postgresql", "sql_superuser_password")
    if superuser_password is not None and node.features.patroni_superuser_password:
        lines.append(f"      password: {to_json(_ruby(superuser_password))}")
    lines += ["    replication:", f"      username: {replication_user(node)}"]
    replication_password = pg.get("patroni", "replication_password")
    if replication_password is not None:
        lines.append(f"      password: {_ruby(replication_password)}")
    lines += [
        "  basebackup:",
        "    - no-password",
        f"  remove_data_directory_on_rewind_failure: {_ruby(setting(node, 'remove_data_directory_on_rewind_failure'))}",
        "  remove_data_directory_on_diverged_timelines: "
        + _ruby(setting(node, "remove_data_directory_on_diverged_timelines")),
    ]
    for key in ("recovery_conf", "callbacks"):
        value = pg.hash("patroni", key)
        if value:
            lines.append(f"  {key}: {to_json(value)}")
    ctl = " ".join(node.layout.ctl)
    lines += [
        "bootstrap:",
        f"  dcs: {to_json(dcs(node), separators=(',', ':'))}",
        "  method: gitlab_ctl",
        "  gitlab_ctl:",
        f"    command: {ctl} patroni bootstrap --srcdir={patroni_dir(node) / 'data'}",
        "restapi:",
        f"  listen: {addr(f'{api_listen}:{api_port}')}",
        f"  connect_address: {addr(f'{connect_address(node)}:{api_connect_port}')}",
    ]
    username = pg.get("patroni", "username")
    if username is not None:
        lines += [
            "  authentication:",
            f"    username: {_ruby(username)}",
            f"    password: {_ruby(pg.get('patroni', 'password'))}",
        ]
    allowlist = pg.words("patroni", "allowlist")
    if allowlist:
        lines.append("  allowlist:")
        lines += [f"    - {addr(node.layout.local_cidr(cidr))}" for cidr in allowlist]
    lines.append(f"  allowlist_include_members: {_ruby(setting(node, 'allowlist_include_members'))}")
    cert, key = pg.get("patroni", "tls_certificate_file"), pg.get("patroni", "tls_key_file")
    if cert and key:
        lines += _set_attributes(
            pg,
            {
                "certfile": "tls_certificate_file",
                "keyfile": "tls_key_file",
                "keyfile_password": "tls_key_password",
                "cafile": "tls_ca_file",
                "ciphers": "tls_ciphers",
                "verify_client": "tls_client_mode",
            },
        )
    client_mode = pg.get("patroni", "tls_client_mode")
    if client_mode and client_mode != "none":
        lines += ["ctl:", "  insecure: false"]
        lines += _set_attributes(
            pg, {"certfile": "tls_client_certificate_file", "keyfile": "tls_client_key_file", "cafile": "tls_ca_file"}
        )
    tags = pg.hash("patroni", "tags")
    if tags:
        lines.append(f"tags: {to_json(tags)}")
    return OmnibusFile(
        patroni_dir(node) / "patroni.yaml",
        "\n".join(lines) + "\n",
        0o600,
        node.layout.postgres_os_user,
        "patroni",
        secret=True,
    )


def files(node: NodeInput) -> list[OmnibusFile]:
    if not node.services.runs("patroni"):
        return []
    return [patroni_yaml(node)]
