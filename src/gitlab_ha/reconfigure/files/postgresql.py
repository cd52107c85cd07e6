"""PostgreSQL's files: pg_hba.conf, pg_ident.conf, postgresql.base.conf (postgresql.conf without
Patroni) and runtime.conf, from `postgresql/templates/default/*.erb` and the attribute defaults.

Under Patroni they are written to /var/opt/gitlab/patroni/data and copied into the data directory at
bootstrap and on every reconfigure; Patroni has no `pg_hba` section, so this pg_hba.conf is the one
PostgreSQL enforces.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from gitlab_ha.reconfigure.files.base import NodeInput, OmnibusFile
from gitlab_ha.reconfigure.settings import as_int

SUPERUSER = "gitlab-psql"  # postgresql['username']: the OS user and the database superuser


@dataclass(frozen=True)
class HbaLine:
    kind: str  # local | host | hostssl
    database: str
    user: str
    address: str  # CIDR, "" for local
    method: str  # trust | md5 | peer | cert | …
    option: str = ""

    def text(self) -> str:
        parts = [self.kind, self.database, self.user]
        if self.kind != "local":
            parts.append(self.address)
        parts.append(self.method)
        if self.option:
            parts.append(self.option)
        return "  ".join(parts)

    def matches(self, database: str, user: str, address: str, *, ssl: bool = False) -> bool:
        """Whether PostgreSQL would pick this line for a TCP connection (replication: database
        'replication'). `all` matches any database except replication, as in PostgreSQL."""
        if self.kind == "local" or (self.kind == "hostssl" and not ssl):
            return False
        if self.database == "all":
            if database == "replication":
                return False
        elif database not in self.database.split(","):
            return False
        if self.user != "all" and user not in self.user.split(","):
            return False
        try:
            return ipaddress.ip_address(address) in ipaddress.ip_network(self.address, strict=False)
        except ValueError:
            return False


def data_dir(node: NodeInput) -> PurePosixPath:
    return node.layout.dir("postgresql", "data")


def config_dir(node: NodeInput) -> PurePosixPath:
    """Where Omnibus renders the config files: patroni/data under Patroni (copied at bootstrap)."""
    if node.services.runs("patroni"):
        return node.layout.dir("patroni", "data")
    return data_dir(node)


def socket_dir(node: NodeInput) -> str:
    return str(node.settings.get("postgresql", "unix_socket_directory", default=node.layout.dir("postgresql")))


def port(node: NodeInput) -> int:
    return node.settings.number("postgresql", "port", default=5432)


def replication_user(node: NodeInput) -> str:
    return str(node.settings.get("postgresql", "sql_replication_user", default="gitlab_replicator"))


def hba_lines(node: NodeInput) -> list[HbaLine]:
    """pg_hba.conf's entries in file order (the first match decides)."""
    pg = node.settings
    lines: list[HbaLine] = []
    for entries in pg.hash("postgresql", "custom_pg_hba_entries").values():
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                lines.append(
                    HbaLine(
                        str(entry.get("type", "host")),
                        str(entry.get("database", "all")),
                        str(entry.get("user", "all")),
                        str(entry.get("cidr", "")),
                        str(entry.get("method", "md5")),
                        str(entry.get("option", "") or ""),
                    )
                )
    lines.append(HbaLine("local", "all", "all", "", "peer", "map=gitlab"))
    kind = "hostssl" if pg.flag("postgresql", "hostssl") else "host"
    repl = replication_user(node)
    for method, key in (("trust", "trust_auth_cidr_addresses"), ("md5", "md5_auth_cidr_addresses")):
        for written in pg.words("postgresql", key):
            cidr = node.layout.local_cidr(written)
            lines.append(HbaLine(kind, "all", "all", cidr, method))
            if repl:
                lines.append(HbaLine(kind, "replication", repl, cidr, method))
    for address, data in pg.hash("postgresql", "cert_auth_addresses").items():
        if isinstance(data, dict):
            lines.append(
                HbaLine("hostssl", str(data.get("database", "all")), str(data.get("user", "all")), address, "cert")
            )
    return lines


def first_match(lines: list[HbaLine], database: str, user: str, address: str) -> HbaLine | None:
    return next((line for line in lines if line.matches(database, user, address)), None)


def pg_hba(node: NodeInput) -> OmnibusFile:
    body = ["# pg_hba.conf as gitlab-ctl reconfigure writes it (gitlab-ha reconfigure model)"]
    body += [line.text() for line in hba_lines(node)]
    return OmnibusFile(
        config_dir(node) / "pg_hba.conf", "\n".join(body) + "\n", 0o600, node.layout.postgres_os_user, "postgresql"
    )


def pg_ident(node: NodeInput) -> OmnibusFile:
    lines = ["gitlab  git  gitlab"]
    if node.layout.postgres_os_user != SUPERUSER:
        # The lab runs PostgreSQL as Debian's `postgres`: it must log in as the superuser gitlab-psql.
        lines.append(f"gitlab  {node.layout.postgres_os_user}  {SUPERUSER}")
    lines.append("gitlab  /^(.*)$  \\1")
    return OmnibusFile(
        config_dir(node) / "pg_ident.conf", "\n".join(lines) + "\n", 0o600, node.layout.postgres_os_user, "postgresql"
    )


def _memory_mb(node: NodeInput) -> int:
    return node.layout.memory_mb or 8192


def parameters(node: NodeInput) -> dict[str, Any]:
    """The values postgresql.conf.erb and runtime.conf.erb are filled with (attribute defaults
    overridden by `postgresql[...]` in gitlab.rb)."""
    features = node.features
    mem = _memory_mb(node)
    values: dict[str, Any] = {
        "listen_address": None,
        "port": 5432,
        "max_connections": 400,
        "ssl": "on",
        "ssl_ciphers": "HIGH:MEDIUM:+3DES:!aNULL:!SSLv3:!TLSv1",
        "ssl_cert_file": "server.crt",
        "ssl_key_file": "server.key",
        "ssl_ca_file": node.layout.extra.get("ssl_ca_file", "/opt/gitlab/embedded/ssl/certs/cacert.pem"),
        "shared_buffers": f"{mem // 4}MB",
        "shared_preload_libraries": "",
        "wal_level": "minimal",
        "wal_log_hints": "off",
        "wal_buffers": "-1",
        "min_wal_size": "80MB",
        "max_wal_size": "1GB",
        "max_replication_slots": 0,
        "archive_mode": "off",
        "max_wal_senders": 0,
        "hot_standby": "off",
        "track_activity_query_size": "1024",
        "autovacuum_max_workers": "3",
        "autovacuum_freeze_max_age": "200000000",
        "max_locks_per_transaction": 128,
        "work_mem": "16MB",
        "maintenance_work_mem": "16MB",
        "synchronous_commit": "on",
        "synchronous_standby_names": "",
        "checkpoint_timeout": "5min",
        "checkpoint_completion_target": 0.9,
        "checkpoint_warning": "30s",
        "archive_command": "",
        "archive_timeout": "0",
        "wal_keep_segments": 10,
        "wal_keep_size": None,
        "max_standby_archive_delay": "30s",
        "max_standby_streaming_delay": "30s",
        "hot_standby_feedback": "off",
        "random_page_cost": 2.0,
        "effective_cache_size": f"{mem // 2}MB",
        "log_min_duration_statement": 1000 if features.slow_statements_logged else -1,
        "log_checkpoints": "off",
        "log_line_prefix": "",
        "log_temp_files": -1,
        "autovacuum": "on",
        "log_autovacuum_min_duration": "-1",
        "autovacuum_naptime": "1min",
        "autovacuum_vacuum_threshold": "50",
        "autovacuum_analyze_threshold": "50",
        "autovacuum_vacuum_scale_factor": "0.02",
        "autovacuum_analyze_scale_factor": "0.01",
        "autovacuum_vacuum_cost_delay": "20ms",
        "autovacuum_vacuum_cost_limit": "-1",
        "default_statistics_target": 1000,
        "statement_timeout": "60000",
        "idle_in_transaction_session_timeout": "60000",
        "effective_io_concurrency": 1,
        "track_io_timing": "off",
        "max_worker_processes": 8,
        "max_parallel_workers_per_gather": 0,
        "deadlock_timeout": "5s",
        "log_lock_waits": 1,
    }
    for key, value in node.settings.hash("postgresql").items():
        if key in values and not isinstance(value, (dict, list)):
            values[key] = value
    if values["wal_keep_size"] is None:
        values["wal_keep_size"] = as_int(values["wal_keep_segments"], 10) * 16  # Postgresql.parse_wal_keep_size
    values["listen_address"] = node.layout.listen(
        None if values["listen_address"] is None else str(values["listen_address"])
    )
    return values


def postgresql_conf(node: NodeInput) -> OmnibusFile:
    """postgresql.conf (postgresql.base.conf under Patroni, which writes its own postgresql.conf
    including this one and the DCS parameters)."""
    v = parameters(node)
    lines = [
        f"listen_addresses = '{v['listen_address']}'",
        f"port = {v['port']}",
        f"max_connections = {v['max_connections']}",
        f"unix_socket_directories = '{socket_dir(node)}'",
        f"ssl = {v['ssl']}",
        f"ssl_ciphers = '{v['ssl_ciphers']}'",
        f"ssl_cert_file = '{v['ssl_cert_file']}'",
        f"ssl_key_file = '{v['ssl_key_file']}'",
        f"ssl_ca_file = '{v['ssl_ca_file']}'",
        f"shared_buffers = {v['shared_buffers']}",
        f"shared_preload_libraries = '{v['shared_preload_libraries']}'",
        f"wal_level = {v['wal_level']}",
        f"wal_log_hints = {v['wal_log_hints']}",
        f"wal_buffers = {v['wal_buffers']}",
        f"min_wal_size = {v['min_wal_size']}",
        f"max_wal_size = {v['max_wal_size']}",
        f"max_replication_slots = {v['max_replication_slots']}",
        f"archive_mode = {v['archive_mode']}",
        f"max_wal_senders = {v['max_wal_senders']}",
        f"hot_standby = {v['hot_standby']}",
        f"track_activity_query_size = {v['track_activity_query_size']}",
        f"autovacuum_max_workers = {v['autovacuum_max_workers']}",
        f"autovacuum_freeze_max_age = {v['autovacuum_freeze_max_age']}",
        f"max_locks_per_transaction = {v['max_locks_per_transaction']}",
        "include 'runtime.conf'",
    ]
    name = "postgresql.base.conf" if node.services.runs("patroni") else "postgresql.conf"
    return OmnibusFile(
        config_dir(node) / name, "\n".join(lines) + "\n", 0o644, node.layout.postgres_os_user, "postgresql"
    )


def runtime_conf(node: NodeInput) -> OmnibusFile:
    v = parameters(node)
    features = node.features
    lines = [
        f"work_mem = {v['work_mem']}",
        f"maintenance_work_mem = {v['maintenance_work_mem']}",
        f"synchronous_commit = {v['synchronous_commit']}",
        f"synchronous_standby_names = '{v['synchronous_standby_names']}'",
        f"min_wal_size = {v['min_wal_size']}",
        f"max_wal_size = {v['max_wal_size']}",
        f"checkpoint_timeout = {v['checkpoint_timeout']}",
        f"checkpoint_completion_target = {v['checkpoint_completion_target']}",
        f"checkpoint_warning = {v['checkpoint_warning']}",
        f"archive_command = '{v['archive_command']}'",
        f"archive_timeout = {v['archive_timeout']}",
        f"wal_keep_size = {v['wal_keep_size']}",
    ]
    if features.max_slot_wal_keep_size:
        lines.append(
            f"max_slot_wal_keep_size = {node.settings.get('postgresql', 'max_slot_wal_keep_size', default=-1)}"
        )
    lines += [
        f"max_standby_archive_delay = {v['max_standby_archive_delay']}",
        f"max_standby_streaming_delay = {v['max_standby_streaming_delay']}",
        f"hot_standby_feedback = {v['hot_standby_feedback']}",
        f"random_page_cost = {v['random_page_cost']}",
        f"effective_cache_size = {v['effective_cache_size']}",
        f"log_min_duration_statement = {v['log_min_duration_statement']}",
        f"log_checkpoints = {v['log_checkpoints']}",
        f"log_line_prefix = '{v['log_line_prefix']}'",
        f"log_temp_files = {v['log_temp_files']}",
    ]
    if features.connection_logging_off:
        lines += ["log_connections = off", "log_disconnections = off"]
    lines += [
        f"autovacuum = {v['autovacuum']}",
        f"log_autovacuum_min_duration = {v['log_autovacuum_min_duration']}",
        f"autovacuum_naptime = {v['autovacuum_naptime']}",
        f"autovacuum_vacuum_threshold = {v['autovacuum_vacuum_threshold']}",
        f"autovacuum_analyze_threshold = {v['autovacuum_analyze_threshold']}",
        f"autovacuum_vacuum_scale_factor = {v['autovacuum_vacuum_scale_factor']}",
        f"autovacuum_analyze_scale_factor = {v['autovacuum_analyze_scale_factor']}",
        f"autovacuum_vacuum_cost_delay = {v['autovacuum_vacuum_cost_delay']}",
        f"autovacuum_vacuum_cost_limit = {v['autovacuum_vacuum_cost_limit']}",
        f"default_statistics_target = {v['default_statistics_target']}",
        f"statement_timeout = {v['statement_timeout']}",
        f"idle_in_transaction_session_timeout = {v['idle_in_transaction_session_timeout']}",
        f"effective_io_concurrency = {v['effective_io_concurrency']}",
        f"track_io_timing = '{v['track_io_timing']}'",
        f"max_worker_processes = {v['max_worker_processes']}",
        f"max_parallel_workers_per_gather = {v['max_parallel_workers_per_gather']}",
        f"deadlock_timeout = '{v['deadlock_timeout']}'",
        f"log_lock_waits = {v['log_lock_waits']}",
        "datestyle = 'iso, mdy'",
        "lc_messages = 'C'",
        "lc_monetary = 'C'",
        "lc_numeric = 'C'",
        "lc_time = 'C'",
        "default_text_search_config = 'pg_catalog.english'",
    ]
    return OmnibusFile(
        config_dir(node) / "runtime.conf", "\n".join(lines) + "\n", 0o644, node.layout.postgres_os_user, "postgresql"
    )


def ssl_files(node: NodeInput) -> list[OmnibusFile]:
    """server.crt and server.key (`ssl = on` by default): the self-signed pair reconfigure generates once
    and keeps in gitlab-secrets.json (`postgresql['internal_certificate']`, `['internal_key']`)."""
    v = parameters(node)
    if v["ssl"] != "on":
        return []
    mode = 0o600 if node.settings.get("patroni", "use_pg_rewind", default=True) else 0o400
    out = []
    for name, key in ((str(v["ssl_cert_file"]), "internal_certificate"), (str(v["ssl_key_file"]), "internal_key")):
        content = node.settings.get("postgresql", key, default=node.layout.extra.get(f"postgresql_{key}"))
        if not isinstance(content, str):
            content = f"# generated by gitlab-ctl reconfigure into /etc/gitlab/gitlab-secrets.json (postgresql {key})\n"
        out.append(
            OmnibusFile(config_dir(node) / name, content, mode, node.layout.postgres_os_user, "postgresql", True)
        )
    return out


def files(node: NodeInput) -> list[OmnibusFile]:
    if not node.services.runs("postgresql"):
        return []
    return [postgresql_conf(node), runtime_conf(node), pg_hba(node), pg_ident(node), *ssl_files(node)]


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def database_objects(node: NodeInput) -> OmnibusFile | None:
    """The statements reconfigure runs on a running, writable PostgreSQL (the Patroni leader): the
    `database_objects` resource (Rails' user, the replication user, Rails' database and extensions)
    and `pgbouncer_user` (PgBouncer's user and its auth function). Omnibus writes no such file; the
    model lists the statements so the lab can run them where Omnibus would."""
    pg = node.settings
    if not node.services.runs("postgresql"):
        return None
    database = str(pg.get("gitlab_rails", "db_database", default="gitlabhq_production"))
    sql_user = str(pg.get("postgresql", "sql_user", default="gitlab"))
    statements: list[str] = []

    def role(name: str, md5: Any, options: str = "") -> None:
        password = f" ENCRYPTED PASSWORD {_sql_literal('md5' + str(md5))}" if md5 else ""
        statements.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = {_sql_literal(name)}) THEN "
            f'CREATE ROLE "{name}" WITH LOGIN{options}{password}; END IF; END $$;'
        )
        if md5:
            statements.append(f'ALTER ROLE "{name}" WITH{options or " LOGIN"}{password};')

    role(sql_user, pg.get("postgresql", "sql_user_password"))
    role(replication_user(node), pg.get("postgresql", "sql_replication_password"), " REPLICATION")
    if node.services.rails:
        statements.append(
            f'SELECT \'CREATE DATABASE "{database}" OWNER "{sql_user}"\' '
            f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = {_sql_literal(database)})\\gexec"
        )
        statements.append(f"\\connect {database}")
        statements += ["CREATE EXTENSION IF NOT EXISTS pg_trgm;", "CREATE EXTENSION IF NOT EXISTS btree_gist;"]
    pgb_user = pg.get("postgresql", "pgbouncer_user", default="pgbouncer")
    pgb_password = pg.get("postgresql", "pgbouncer_user_password")
    if pgb_user and pgb_password:
        statements.append("\\connect postgres")
        role(str(pgb_user), pgb_password)
        if node.services.rails:
            statements += [
                f"\\connect {database}",
                "CREATE OR REPLACE FUNCTION public.pg_shadow_lookup(in i_username text, out username text, "
                "out password text) RETURNS record AS $$ BEGIN SELECT usename, passwd FROM pg_catalog.pg_shadow "
                "WHERE usename = i_username INTO username, password; RETURN; END; $$ LANGUAGE plpgsql "
                "SECURITY DEFINER;",
                f'REVOKE ALL ON FUNCTION public.pg_shadow_lookup(text) FROM public, "{pgb_user}";',
                f'GRANT EXECUTE ON FUNCTION public.pg_shadow_lookup(text) TO "{pgb_user}";',
            ]
    header = (
        "-- What gitlab-ctl reconfigure runs on the writable PostgreSQL of this node (database_objects,\n"
        f"-- pgbouncer_user). Rails' database: {database}, owner {sql_user}.\n"
    )
    return OmnibusFile(
        node.layout.dir("postgresql") / "database-objects.sql",
        header + "\n".join(statements) + "\n",
        0o600,
        node.layout.postgres_os_user,
        "postgresql",
        secret=True,
    )
