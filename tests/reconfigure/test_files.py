"""The data-tier files reconfigure writes, read for their meaning."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from gitlab_ha.reconfigure.files import patroni, pgbouncer, postgresql
from gitlab_ha.reconfigure.files import redis as redis_files
from gitlab_ha.reconfigure.layout import Layout
from tests.reconfigure.conftest import node_of, preset_model

PATRONI = """
roles ['patroni_role', 'pgbouncer_role']
postgresql['listen_address'] = '0.0.0.0'
patroni['postgresql']['max_replication_slots'] = 6
postgresql['sql_replication_password'] = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'
postgresql['trust_auth_cidr_addresses'] = %w(127.0.0.1/32 10.0.0.5/32 10.0.0.6/32)
postgresql['md5_auth_cidr_addresses'] = %w(10.0.0.9/32)
patroni['username'] = 'api'
patroni['password'] = 'secret'
consul['services'] = %w(postgresql)
consul['watchers'] = %w(postgresql)
pgbouncer['databases'] = { gitlabhq_production: { host: '127.0.0.1', user: 'pgbouncer', password: 'bbbb' } }
pgbouncer['users'] = { 'pgbouncer' => { password: 'bbbb' } }
"""


def test_patroni_yaml_and_dcs() -> None:
    node = node_of(PATRONI)
    doc = yaml.safe_load(node.file("patroni.yaml").content)  # type: ignore[union-attr]
    assert doc["name"] == "node-1" and doc["scope"] == "postgresql-ha"
    assert doc["postgresql"]["connect_address"] == "10.0.0.5:5432"  # the node's own address
    assert doc["restapi"]["listen"] == ":8008" and doc["restapi"]["authentication"]["password"] == "secret"
    assert "password" not in doc["postgresql"]["authentication"]["replication"]  # none set: none sent
    dcs = doc["bootstrap"]["dcs"]
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (30, 10, 10)
    params = dcs["postgresql"]["parameters"]
    assert params["max_replication_slots"] == 6 and params["max_wal_senders"] == 5
    assert params["wal_log_hints"] == "off"  # use_pg_rewind not set in gitlab.rb: Omnibus' quirk
    assert "wal_keep_segments" not in params and params["wal_keep_size"] == 160
    rewind = node_of(PATRONI + "patroni['use_pg_rewind'] = true\npatroni['replication_password'] = 'r'\n")
    assert patroni.dcs(rewind.input)["postgresql"]["parameters"]["wal_log_hints"] == "on"
    assert (
        yaml.safe_load(rewind.file("patroni.yaml").content)["postgresql"]["authentication"]["replication"][  # type: ignore[union-attr]
            "password"
        ]
        == "r"
    )


def test_patroni_yaml_is_raw_text_like_the_template() -> None:
    """The ERB interpolates without quoting: a `#` in a password starts a YAML comment on a real node."""
    node = node_of(PATRONI.replace("'secret'", "'abc #def'"))
    doc = yaml.safe_load(node.file("patroni.yaml").content)  # type: ignore[union-attr]
    assert doc["restapi"]["authentication"]["password"] == "abc"


def test_patroni_api_tls_writes_the_settings_given() -> None:
    """restapi gets each TLS setting that is set, once certificate and key are; `ctl` appears with a client mode."""
    tls = PATRONI + (
        "patroni['tls_certificate_file'] = '/c.pem'\npatroni['tls_key_file'] = '/k.pem'\n"
        "patroni['tls_ca_file'] = '/ca.pem'\npatroni['tls_client_mode'] = 'required'\n"
        "patroni['tls_client_certificate_file'] = '/cc.pem'\npatroni['tls_client_key_file'] = '/ck.pem'\n"
    )
    doc = yaml.safe_load(node_of(tls).file("patroni.yaml").content)  # type: ignore[union-attr]
    api = {k: v for k, v in doc["restapi"].items() if k not in ("listen", "connect_address", "authentication")}
    assert api == {
        "certfile": "/c.pem",
        "keyfile": "/k.pem",
        "cafile": "/ca.pem",
        "verify_client": "required",
        "allowlist_include_members": False,
    }
    assert doc["ctl"] == {"insecure": False, "certfile": "/cc.pem", "keyfile": "/ck.pem", "cafile": "/ca.pem"}
    no_key = yaml.safe_load(
        node_of(PATRONI + "patroni['tls_certificate_file'] = '/c.pem'\n").file("patroni.yaml").content  # type: ignore[union-attr]
    )
    assert "certfile" not in no_key["restapi"] and "ctl" not in no_key


def test_quoted_addresses_from_18_6() -> None:
    text = node_of(PATRONI, "19.3.0").file("patroni.yaml").content  # type: ignore[union-attr]
    assert 'listen: "0.0.0.0:5432"' in text and 'connect_address: "10.0.0.5:8008"' in text


@pytest.mark.parametrize(
    ("version", "slow_ms", "slot_keep", "connection_logging"),
    [
        ("17.0.0", "-1", False, False),
        ("17.1.0", "1000", False, False),
        ("17.4.0", "1000", False, True),
        ("18.4.0", "1000", True, True),
    ],
)
def test_runtime_conf_lines_that_start_at_a_release(
    version: str, slow_ms: str, slot_keep: bool, connection_logging: bool
) -> None:
    text = node_of(PATRONI, version).file("runtime.conf").content  # type: ignore[union-attr]
    lines = text.splitlines()
    assert f"log_min_duration_statement = {slow_ms}" in lines
    assert ("max_slot_wal_keep_size = -1" in lines) is slot_keep
    assert ("log_connections = off" in lines) is connection_logging
    assert ("log_disconnections = off" in lines) is connection_logging


def test_pg_hba_first_match() -> None:
    node = node_of(PATRONI)
    lines = postgresql.hba_lines(node.input)
    assert lines[0].text() == "local  all  all  peer  map=gitlab"
    peer = postgresql.first_match(lines, "replication", "gitlab_replicator", "10.0.0.6")
    assert peer is not None and peer.method == "trust"
    client = postgresql.first_match(lines, "gitlabhq_production", "gitlab", "10.0.0.9")
    assert client is not None and client.method == "md5"
    assert postgresql.first_match(lines, "replication", "gitlab_replicator", "10.0.0.9").method == "md5"  # type: ignore[union-attr]
    assert postgresql.first_match(lines, "postgres", "gitlab-psql", "10.0.0.77") is None


def test_pgbouncer_files_follow_the_watch() -> None:
    node = node_of(PATRONI)
    ini = node.file("pgbouncer.ini").content  # type: ignore[union-attr]
    assert "auth_type = md5" in ini and ini.rstrip().endswith("%include /var/opt/gitlab/consul/databases.ini")
    assert node.file("pg_auth").content == '"pgbouncer" "md5bbbb"\n'  # type: ignore[union-attr]
    databases = node.file("databases.ini").content  # type: ignore[union-attr]
    assert "gitlabhq_production = host=127.0.0.1 auth_user=pgbouncer dbname=gitlabhq_production" in databases
    watch = json.loads(node.file("watcher_postgresql.json").content)  # type: ignore[union-attr]
    assert watch["watches"][0]["type"] == "service" and watch["watches"][0]["service"] == "postgresql"
    service = json.loads(node.file("postgresql_service.json").content)  # type: ignore[union-attr]
    assert service["service"]["check"]["args"][-2:] == ["patroni", "check-leader"]


def test_lab_layout_relocates_node_local_addresses_only() -> None:
    lab = Layout(node_address="127.0.0.5", pgbouncer_version=(1, 18))
    node = node_of(PATRONI)
    moved = dataclasses.replace(node.input, layout=lab)
    hba = [line.address for line in postgresql.hba_lines(moved)]
    assert "127.0.0.5/32" in hba and "127.0.0.1/32" not in hba and "10.0.0.9/32" in hba
    ini = pgbouncer.pgbouncer_ini(moved).content
    assert "listen_addr = 127.0.0.5" in ini and "; max_prepared_statements = 0" in ini
    assert "\n[peers]" not in ini and "; [peers]  (PgBouncer 1.19+" in ini  # 1.18 refuses the section
    assert "\n[peers]\n" in pgbouncer.pgbouncer_ini(node.input).content  # Omnibus' own PgBouncer reads it


def test_redis_and_sentinel() -> None:
    replica = node_of(
        "roles ['redis_replica_role', 'redis_sentinel_role']\nredis['bind'] = '10.0.0.5'\nredis['port'] = 6379\n"
        "redis['password'] = 'pw'\nredis['master_ip'] = '10.0.0.4'\nsentinel['quorum'] = 2\n"
    )
    conf = replica.file("redis.conf").content  # type: ignore[union-attr]
    assert "replicaof 10.0.0.4 6379" in conf and 'masterauth "pw"' in conf and "unixsocket " not in conf
    sentinel = replica.file("sentinel.conf").content  # type: ignore[union-attr]
    assert "sentinel monitor gitlab-redis 10.0.0.4 6379 2" in sentinel
    assert "sentinel down-after-milliseconds gitlab-redis 10000" in sentinel
    assert "sentinel auth-pass gitlab-redis pw" in sentinel


def test_consul_config_servers_get_bootstrap_expect() -> None:
    server = node_of("roles ['consul_role']\nconsul['configuration'] = { server: true, retry_join: %w(10.0.0.1) }\n")
    config = json.loads(server.file("config.json").content)  # type: ignore[union-attr]
    assert config["bootstrap_expect"] == 3 and config["server"] is True and config["retry_join"] == ["10.0.0.1"]
    assert config["enable_local_script_checks"] is True and config["enable_script_checks"] is False


def test_presets_model_without_error() -> None:
    for preset in ("seed-15", "ref-3k", "ref-10k", "ref-50k"):
        for version in ("16.6.0", "19.3.0"):
            model = preset_model(preset, version)
            assert model.nodes and all(node.files is not None for node in model.nodes)


def test_lab_sentinels_announce_their_node_unless_gitlab_rb_says() -> None:
    """In the lab a Sentinel's socket address is 127.0.0.1 until SNAT rewrites it: the model writes the
    node's own address as announce-ip there; on a host nothing; an announce_ip in gitlab.rb always wins."""
    sentinel_rb = "roles ['redis_sentinel_role']\nredis['master_ip'] = '10.0.0.7'\nredis['master_password'] = 'x'\n"
    lab = Layout(node_address="127.0.0.5")
    node = node_of(sentinel_rb)
    assert "announce-ip" not in redis_files.sentinel_conf(node.input).content
    moved = dataclasses.replace(node.input, layout=lab)
    assert "\nsentinel announce-ip 127.0.0.5\n" in redis_files.sentinel_conf(moved).content
    own = dataclasses.replace(node_of(sentinel_rb + "sentinel['announce_ip'] = '10.0.0.4'\n").input, layout=lab)
    text = redis_files.sentinel_conf(own).content
    assert "\nsentinel announce-ip 10.0.0.4\n" in text and "127.0.0.5" not in text.split("announce-ip", 1)[1][:20]


def test_lab_haproxy_fits_the_file_limit_and_gets_its_admin_socket(tmp_path: Path) -> None:
    from gitlab_ha.errors import InputError
    from gitlab_ha.lab.files import haproxy_cfg, haproxy_maxconn
    from gitlab_ha.render.cluster import Artifact

    assert haproxy_maxconn(20000) == 9950 and haproxy_maxconn(1 << 20) == 20000
    assert haproxy_maxconn(1000, rendered=300) == 300
    cfg = Artifact("lb/haproxy.cfg", "lb", "internal_lb", "global\n    maxconn 300\n    log stdout local0\n", False)
    text = haproxy_cfg(cfg, "127.0.0.9", tmp_path)
    assert f"    maxconn 300\n    stats socket {tmp_path}/run/haproxy.sock mode 600 level admin\n" in text
    broken = dataclasses.replace(cfg, content="global\n    log stdout local0\n")
    with pytest.raises(InputError, match="admin socket"):
        haproxy_cfg(broken, "127.0.0.9", tmp_path)
