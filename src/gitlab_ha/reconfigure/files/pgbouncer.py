"""PgBouncer's files: pgbouncer.ini, pg_auth, databases.json and the databases.ini that
`gitlab-ctl pgb-notify` writes from it (`pgbouncer/templates/default/*.erb`, `Databases#notify`).

With `consul['watchers']` holding `postgresql`, the databases files move into Consul's directory
and the watch handler owns databases.ini after the first reconfigure (it rewrites the host to the
Patroni leader and RELOADs PgBouncer).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from gitlab_ha.reconfigure.files.base import NodeInput, OmnibusFile
from gitlab_ha.reconfigure.settings import as_int, to_json

# pgbouncer/attributes/default.rb (unchanged 16.6 → 19.3): the ini's lines, in the template's order.
INI_DEFAULTS: dict[str, Any] = {
    "listen_addr": "0.0.0.0",
    "listen_port": 6432,
    "unix_socket_dir": None,  # the recipe sets it to data_directory
    "unix_socket_mode": "0777",
    "client_tls_sslmode": "disable",
    "client_tls_ciphers": "",
    "client_tls_protocols": "all",
    "client_tls_dheparams": "auto",
    "client_tls_ecdhcurve": "auto",
    "server_tls_sslmode": "disable",
    "server_tls_protocols": "all",
    "server_tls_ciphers": "fast",
    "auth_type": "md5",
    "auth_query": "SELECT username, password FROM public.pg_shadow_lookup($1)",
    "admin_users": ["gitlab-psql", "postgres", "pgbouncer"],
    "stats_users": ["gitlab-psql", "postgres", "pgbouncer"],
    "pool_mode": "transaction",
    "max_prepared_statements": 0,
    "server_reset_query": "DISCARD ALL",
    "server_reset_query_always": 0,
    "track_extra_parameters": ["IntervalStyle"],
    "ignore_startup_parameters": "extra_float_digits",
    "server_check_query": "select 1",
    "server_check_delay": 30,
    "application_name_add_host": 1,
    "max_client_conn": 2048,
    "default_pool_size": 100,
    "min_pool_size": 0,
    "reserve_pool_size": 5,
    "reserve_pool_timeout": "5.0",
    "server_round_robin": 0,
    "syslog": 0,
    "syslog_facility": "daemon",
    "syslog_ident": "pgbouncer",
    "log_connections": 0,
    "log_disconnections": 1,
    "log_pooler_errors": 1,
    "stats_period": 60,
    "verbose": 0,
    "server_lifetime": 3600,
    "server_idle_timeout": "30.0",
    "server_connect_timeout": 15,
    "server_login_retry": 15,
    "query_timeout": 0,
    "query_wait_timeout": 120,
    "client_idle_timeout": 0,
    "client_login_timeout": 60,
    "autodb_idle_timeout": 3600,
    "suspend_timeout": 10,
    "idle_transaction_timeout": 0,
    "cancel_wait_timeout": 10,
    "pkt_buf": 4096,
    "listen_backlog": 128,
    "sbuf_loopcnt": 5,
    "max_packet_size": 2147483647,
    "so_reuseport": 0,
    "tcp_defer_accept": 0,
    "tcp_socket_buffer": 0,
    "tcp_keepalive": 1,
    "tcp_keepcnt": 0,
    "tcp_keepidle": 0,
    "tcp_keepintvl": 0,
    "dns_max_ttl": "15.0",
    "dns_zone_check_period": 0,
    "dns_nxdomain_ttl": "15.0",
    "disable_pqexec": 0,
}
# Lines written only when set.
OPTIONAL = (
    "logfile",
    "unix_socket_group",
    "auth_hba_file",
    "auth_dbname",
    "max_db_connections",
    "max_user_connections",
)
OPTIONAL_TLS = (
    "client_tls_ca_file",
    "client_tls_key_file",
    "client_tls_cert_file",
    "server_tls_ca_file",
    "server_tls_key_file",
    "server_tls_cert_file",
)
# The PgBouncer release that first reads each newer setting; an older PgBouncer refuses to start.
SINCE: dict[str, tuple[int, int]] = {
    "max_prepared_statements": (1, 21),
    "track_extra_parameters": (1, 20),
    "cancel_wait_timeout": (1, 19),
}
PEERS_SINCE = (1, 19)  # the [peers] section (PgBouncer peering)


def _get(node: NodeInput, key: str) -> Any:
    return node.settings.get("pgbouncer", key, default=INI_DEFAULTS.get(key))


def data_dir(node: NodeInput) -> PurePosixPath:
    return PurePosixPath(str(node.settings.get("pgbouncer", "data_directory", default=node.layout.dir("pgbouncer"))))


def watched(node: NodeInput) -> bool:
    """Whether the Consul watch on `postgresql` owns databases.ini (consul/recipes/watchers.rb)."""
    return "postgresql" in node.settings.words("consul", "watchers") and node.services.runs("consul")


def databases_paths(node: NodeInput) -> tuple[PurePosixPath, PurePosixPath]:
    """(databases.json, databases.ini)."""
    base = node.layout.dir("consul") if watched(node) else data_dir(node)
    json_path = node.settings.get("pgbouncer", "databases_json", default=base / "databases.json")
    ini_path = node.settings.get("pgbouncer", "databases_ini", default=base / "databases.ini")
    return PurePosixPath(str(json_path)), PurePosixPath(str(ini_path))


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def listen_addr(node: NodeInput) -> str:
    return node.layout.listen(str(_get(node, "listen_addr")))


def listen_port(node: NodeInput) -> int:
    return as_int(_get(node, "listen_port"), 6432)


def pgbouncer_ini(node: NodeInput) -> OmnibusFile:
    supported = node.layout.pgbouncer_version
    lines = ["[pgbouncer]"]

    def put(key: str, value: Any) -> None:
        since = SINCE.get(key)
        if supported is not None and since is not None and supported < since:
            lines.append(
                f"; {key} = {_value(value)}  "
                f"(PgBouncer {'.'.join(map(str, since))}+; this machine runs {'.'.join(map(str, supported))})"
            )
            return
        lines.append(f"{key} = {_value(value)}")

    logfile = node.settings.get("pgbouncer", "logfile")
    if logfile is not None:
        put("logfile", logfile)
    put("listen_addr", listen_addr(node))
    put("listen_port", listen_port(node))
    put("unix_socket_dir", node.settings.get("pgbouncer", "unix_socket_dir", default=data_dir(node)))
    put("unix_socket_mode", _get(node, "unix_socket_mode"))
    order = list(INI_DEFAULTS)
    skip = {"listen_addr", "listen_port", "unix_socket_dir", "unix_socket_mode"}
    for key in order:
        if key in skip:
            continue
        if key == "client_tls_ciphers":
            for tls in OPTIONAL_TLS[:3]:
                if node.settings.is_set("pgbouncer", tls):
                    put(tls, node.settings.get("pgbouncer", tls))
        if key == "server_tls_protocols":
            for tls in OPTIONAL_TLS[3:]:
                if node.settings.is_set("pgbouncer", tls):
                    put(tls, node.settings.get("pgbouncer", tls))
        if key == "auth_query":
            put("auth_file", data_dir(node) / "pg_auth")
            if node.settings.is_set("pgbouncer", "auth_hba_file"):
                put("auth_hba_file", node.settings.get("pgbouncer", "auth_hba_file"))
        if key == "admin_users" and node.settings.is_set("pgbouncer", "auth_dbname"):
            put("auth_dbname", node.settings.get("pgbouncer", "auth_dbname"))
        if key == "server_round_robin":
            for extra in ("max_db_connections", "max_user_connections"):
                if node.settings.is_set("pgbouncer", extra):
                    put(extra, node.settings.get("pgbouncer", extra))
        put(key, _get(node, key))
    peers = [
        f"{peer_id} = " + " ".join(f"{k}={v}" for k, v in settings.items())
        for peer_id, settings in node.settings.hash("pgbouncer", "peers").items()
        if isinstance(settings, dict)
    ]
    if supported is not None and supported < PEERS_SINCE:
        # an older PgBouncer refuses the whole file over an unknown section, even an empty one
        lines.append(f"; [peers]  (PgBouncer 1.19+; this machine runs {'.'.join(map(str, supported))})")
        lines += [f"; {line}" for line in peers]
    else:
        lines += ["[peers]", *peers]
    lines.append(f"%include {databases_paths(node)[1]}")
    return OmnibusFile(
        data_dir(node) / "pgbouncer.ini", "\n".join(lines) + "\n", 0o600, node.layout.postgres_os_user, "pgbouncer"
    )


def auth_users(node: NodeInput) -> dict[str, dict[str, Any]]:
    """pg_auth's users: pgbouncer['users'] plus each database entry's user (PgbouncerHelper#pg_auth_users)."""
    users: dict[str, dict[str, Any]] = {}
    for name, settings in node.settings.hash("pgbouncer", "users").items():
        if isinstance(settings, dict):
            users[name] = settings
    for settings in node.settings.hash("pgbouncer", "databases").values():
        if isinstance(settings, dict) and "user" in settings and "password" in settings:
            users[str(settings["user"])] = {"password": settings["password"], "auth_type": settings.get("auth_type")}
    return users


def pg_auth(node: NodeInput) -> OmnibusFile:
    default_type = str(_get(node, "auth_type"))
    lines = []
    for user, settings in auth_users(node).items():
        kind = str(settings.get("auth_type") or default_type)
        prefix = {"md5": "md5", "scram-sha-256": "SCRAM-SHA-256$"}.get(kind, "")
        lines.append(f'"{user}" "{prefix}{settings.get("password", "")}"')
    return OmnibusFile(
        data_dir(node) / "pg_auth",
        "\n".join(lines) + ("\n" if lines else ""),
        0o600,
        node.layout.postgres_os_user,
        "pgbouncer",
        secret=True,
    )


def databases(node: NodeInput) -> dict[str, dict[str, Any]]:
    return {str(name): dict(settings) for name, settings in node.settings.hash("pgbouncer", "databases").items()}


def databases_json(node: NodeInput) -> OmnibusFile:
    owner = node.layout.consul_os_user if watched(node) else "root"
    return OmnibusFile(
        databases_paths(node)[0],
        to_json(databases(node)) + "\n",
        0o600,
        owner,
        "pgbouncer",
        secret=True,
    )


def rails_database(node: NodeInput) -> str:
    return str(node.settings.get("gitlab_rails", "db_database", default="gitlabhq_production"))


def databases_ini_text(
    entries: dict[str, dict[str, Any]],
    *,
    target: str,
    rails_databases: tuple[str, ...],
    newhost: str | None = None,
    port: int | None = None,
    user: str | None = None,
) -> str:
    """What `gitlab-ctl pgb-notify` writes: each entry without its password, `user` renamed to
    `auth_user`, and the target database (and Rails' databases) pointed at `newhost`."""
    lines = ["[databases]", ""]
    for name, original in entries.items():
        settings = dict(original)
        settings.pop("password", None)
        if "user" in settings:
            settings["auth_user"] = settings.pop("user")
        if name == target or name in rails_databases:
            if newhost is not None:
                settings["host"] = newhost
            if port is not None:
                settings["port"] = port
            if user is not None:
                settings["auth_user"] = user
            if name in rails_databases:
                settings["dbname"] = name
        lines.append(f"{name} = " + " ".join(f"{k}={v}" for k, v in settings.items()))
    return "\n".join(lines) + "\n"


def databases_ini(node: NodeInput) -> OmnibusFile:
    """The databases.ini of the first reconfigure (pgb-notify without a new host), hosts relocated."""
    entries = databases(node)
    for settings in entries.values():
        if "host" in settings:
            settings["host"] = node.layout.local(str(settings["host"]))
    pgb_user = str(node.settings.get("postgresql", "pgbouncer_user", default="pgbouncer"))
    text = databases_ini_text(
        entries, target=rails_database(node), rails_databases=(rails_database(node),), user=pgb_user
    )
    owner = node.layout.consul_os_user if watched(node) else "root"
    return OmnibusFile(databases_paths(node)[1], text, 0o644, owner, "pgbouncer")


def files(node: NodeInput) -> list[OmnibusFile]:
    if not node.services.runs("pgbouncer"):
        return []
    return [pgbouncer_ini(node), pg_auth(node), databases_json(node), databases_ini(node)]
