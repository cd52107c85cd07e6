"""Facts that must hold across the rendered nodes: tokens, addresses, quorums, migrations."""

from __future__ import annotations

import re

from gitlab_ha.secrets.hashing import pg_md5
from tests.render.conftest import Cluster, role_names


def test_praefect_and_gitaly_tokens(cluster: Cluster) -> None:
    internal = cluster.secrets.get("praefect_internal_token")
    external = cluster.secrets.get("praefect_external_token")
    assert internal != external
    gitaly_storages = {}
    for gitaly in cluster.names("gitaly"):
        config = cluster.value(gitaly, "gitaly['configuration']")
        assert config["auth"]["token"] == internal
        (storage,) = config["storage"]
        gitaly_storages[storage["name"]] = gitaly
    lb = cluster.ips("internal_lb")[0]
    for praefect in cluster.names("praefect"):
        config = cluster.value(praefect, "praefect['configuration']")
        assert config["auth"]["token"] == external
        (vs,) = config["virtual_storage"]
        names = {n["storage"] for n in vs["node"]}
        assert names == set(gitaly_storages)
        for entry in vs["node"]:
            assert entry["token"] == internal
            host = re.match(r"tcp://([^:]+):8075$", entry["address"])
            assert host, entry["address"]
            assert host.group(1) in cluster.ips("gitaly")
            assert cluster.nodes[[n["name"] for n in cluster.nodes].index(gitaly_storages[entry["storage"]])][
                "address"
            ] == host.group(1)
        assert config["database"]["host"] == cluster.ips("praefect_postgres")[0]
        assert config["database"]["password"] == cluster.secrets.get("praefect_db_password")
    for app in cluster.names("rails") + cluster.names("sidekiq"):
        storages = cluster.storages(app)
        assert storages == {"default": {"gitaly_address": f"tcp://{lb}:2305", "gitaly_token": external}}


def test_praefect_nodes_run_no_gitaly(cluster: Cluster) -> None:
    for node in cluster.names("praefect"):
        assert cluster.value(node, "gitaly['enable']") is False
        assert cluster.value(node, "praefect['enable']") is True


def test_load_balancing_hosts_each_run_a_pgbouncer_on_db_port(cluster: Cluster) -> None:
    """Database load balancing connects to every host on db_port: a PgBouncer must listen there."""
    by_ip = {n["address"]: n["name"] for n in cluster.nodes}
    for app in cluster.names("rails") + cluster.names("sidekiq"):
        port = cluster.value(app, "gitlab_rails['db_port']")
        for host in cluster.value(app, "gitlab_rails['db_load_balancing']")["hosts"]:
            node = by_ip[host]
            assert "pgbouncer_role" in role_names(cluster.docs[node]), node
            assert cluster.value(node, "pgbouncer['listen_port']") == port
            database = cluster.value(node, "pgbouncer['databases']")["gitlabhq_production"]
            assert database["host"] == "127.0.0.1"
            # a local PgBouncer stays on its own PostgreSQL; only the ones behind the LB follow the leader
            watches = cluster.value(node, "consul['watchers']")
            assert (watches == ["postgresql"]) is (node in cluster.names("pgbouncer"))


def test_database_path(cluster: Cluster) -> None:
    lb = cluster.ips("internal_lb")[0]
    patroni = cluster.ips("patroni")
    for app in cluster.names("rails") + cluster.names("sidekiq"):
        assert cluster.value(app, "gitlab_rails['db_host']") == lb
        assert cluster.value(app, "gitlab_rails['db_port']") == 6432
        assert cluster.value(app, "gitlab_rails['db_password']") == cluster.secrets.get("gitlab_db_password")
        assert cluster.value(app, "gitlab_rails['db_load_balancing']") == {"hosts": patroni}
    haproxy = (cluster.r.out / cluster.names("internal_lb")[0] / "haproxy.cfg").read_text()
    backend = haproxy.split("\nbackend pgbouncer\n", 1)[1].split("\n\n", 1)[0]
    servers = re.findall(r"server \S+ ([\d.]+):6432", backend)
    assert servers == cluster.ips("pgbouncer")
    leader = haproxy.split("\nbackend postgresql-leader\n", 1)[1].split("\n\n", 1)[0]
    assert re.findall(r"server \S+ ([\d.]+):5432 check port 8008", leader) == patroni


def test_patroni_slots_and_hashes(cluster: Cluster) -> None:
    count = len(cluster.names("patroni"))
    for node in cluster.names("patroni"):
        slots = cluster.value(node, "patroni['postgresql']['max_replication_slots']")
        assert slots == 2 * count
        assert cluster.value(node, "patroni['postgresql']['max_wal_senders']") == slots + 1
        assert cluster.value(node, "postgresql['sql_user_password']") == pg_md5(
            cluster.secrets.get("gitlab_db_password"), "gitlab"
        )
        assert cluster.value(node, "postgresql['sql_replication_password']") == pg_md5(
            cluster.secrets.get("replication_password"), "gitlab_replicator"
        )
        assert cluster.value(node, "postgresql['pgbouncer_user_password']") == pg_md5(
            cluster.secrets.get("pgbouncer_password"), "pgbouncer"
        )
        assert cluster.value(node, "consul['services']") == ["postgresql"]
        assert "0.0.0.0/0" not in str(cluster.value(node, "postgresql['trust_auth_cidr_addresses']"))
    for node in cluster.names("pgbouncer"):
        users = cluster.value(node, "pgbouncer['users']")
        assert users["gitlab-consul"]["password"] == pg_md5(cluster.secrets.get("consul_db_password"), "gitlab-consul")
        assert users["pgbouncer"]["password"] == pg_md5(cluster.secrets.get("pgbouncer_password"), "pgbouncer")
        assert cluster.value(node, "consul['watchers']") == ["postgresql"]


def test_consul_everywhere(cluster: Cluster) -> None:
    servers = cluster.ips("consul")
    key = cluster.secrets.get("consul_gossip_key")
    for node in cluster.docs:
        config = cluster.value(node, "consul['configuration']")
        assert config["retry_join"] == servers, node
        assert cluster.value(node, "consul['encryption_key']") == key
        is_server = node in cluster.names("consul")
        assert config.get("server", False) is is_server
        assert ("consul_role" in role_names(cluster.docs[node])) is is_server


def test_redis_and_sentinel(cluster: Cluster) -> None:
    for role, sentinel_role in (("redis", "sentinel"), ("redis_cache", "sentinel_cache")):
        data = cluster.names(role)
        if not data:
            continue
        master = cluster.redis_primary if role == "redis" and cluster.redis_primary else data[0]
        master_ip = cluster.ips(role)[cluster.names(role).index(master)]
        names = {cluster.value(n, "redis['master_name']") for n in data}
        assert len(names) == 1
        sentinels = cluster.names(sentinel_role)
        for node in data:
            assert cluster.value(node, "redis['master_ip']") == master_ip
            assert cluster.value(node, "redis['password']") == cluster.secrets.get("redis_password")
            expected = "redis_master_role" if node == master else "redis_replica_role"
            assert expected in role_names(cluster.docs[node])
        for node in sentinels:
            assert cluster.value(node, "sentinel['quorum']") == len(sentinels) // 2 + 1
    sentinel_list = [{"host": ip, "port": 26379} for ip in cluster.ips("sentinel")]
    for app in cluster.names("rails") + cluster.names("sidekiq"):
        assert cluster.value(app, "gitlab_rails['redis_sentinels']") == sentinel_list
        assert cluster.value(app, "redis['master_name']") == cluster.value(
            cluster.names("redis")[0], "redis['master_name']"
        )
        if cluster.names("redis_cache"):
            cache = [{"host": ip, "port": 26379} for ip in cluster.ips("sentinel_cache")]
            assert cluster.value(app, "gitlab_rails['redis_cache_sentinels']") == cache


def test_auto_migrate_explicit_everywhere(cluster: Cluster) -> None:
    """No steady-state file migrates Rails (the first-run file does, test_omnibus_behaviour.py); one
    Praefect node migrates Praefect's database; every node says so explicitly."""
    assert [n for n in cluster.docs if cluster.value(n, "gitlab_rails['auto_migrate']") is not False] == []
    praefect = [n for n in cluster.docs if cluster.value(n, "praefect['auto_migrate']") is True]
    assert praefect == [cluster.names("praefect")[0]]


def test_every_address_belongs_to_the_right_role(cluster: Cluster) -> None:
    """Every 10.x address a node's file mentions is a node, and the setting matches its role."""
    role_of = {n["address"]: set(n["roles"]) for n in cluster.nodes}
    expectations = {
        "gitlab_rails['db_host']": {"internal_lb"},
        "redis['master_ip']": {"redis", "redis_cache"},
        "gitlab_rails['internal_api_url']": {"internal_lb"},
    }
    for node in cluster.docs:
        text = (cluster.r.out / node / "gitlab.rb").read_text()
        for ip in re.findall(r"\b10\.\d+\.\d+\.\d+\b", text):
            assert ip in role_of, f"{node} mentions {ip}, which is no node"
        for key, roles in expectations.items():
            value = cluster.value(node, key)
            if value is None:
                continue
            ip = re.search(r"(\d+\.\d+\.\d+\.\d+)", str(value))
            assert ip and roles & role_of[ip.group(1)], f"{node}: {key} = {value}"
