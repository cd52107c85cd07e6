"""What Omnibus will really do with the rendered files (issue 8, faults 1-7): read as an operator who
knows the cookbooks at the release tags, each node must run what its roles need and nothing else."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gitlab_ha.lint.haproxy import parse_haproxy
from gitlab_ha.rubycfg import parse_file
from gitlab_ha.topology.versions import parse_version
from tests.render.conftest import CASES, Cluster, Rendered


def test_rails_nodes_enable_nginx(cluster: Cluster) -> None:
    """Before 17.4 `application_role` never starts NGINX (the `rails` group has none): nothing would
    listen on :80. The render says so at every release."""
    rails = cluster.names("rails")
    assert rails
    for node in rails:
        assert cluster.value(node, "nginx['enable']") is True, node
    for node in set(cluster.docs) - set(rails):
        assert cluster.value(node, "nginx['enable']") in (None, False), node


def _cidr(ip: str) -> str:
    return f"{ip}/32"


def test_patroni_replication_and_rewind_authenticate(cluster: Cluster) -> None:
    """Patroni's replication (gitlab_replicator) and pg_rewind (the superuser gitlab-psql, which has
    no password before 19.1) reach the peers through pg_hba.conf lines built from these lists: the
    database peers are trusted, every other database client logs in with md5, and Patroni still sends
    the replication password in case an operator narrows the trust."""
    patroni = cluster.ips("patroni")
    clients = {ip for role in ("rails", "sidekiq", "pgbouncer", "internal_lb") for ip in cluster.ips(role)} - set(
        patroni
    )
    for node in cluster.names("patroni"):
        trusted = cluster.value(node, "postgresql['trust_auth_cidr_addresses']")
        assert trusted[0] == "127.0.0.1/32", trusted
        assert sorted(trusted[1:]) == sorted(_cidr(ip) for ip in patroni), node
        md5 = cluster.value(node, "postgresql['md5_auth_cidr_addresses']")
        assert sorted(md5) == sorted(_cidr(ip) for ip in clients), node
        assert not set(md5) & set(trusted), node
        assert cluster.value(node, "patroni['replication_password']") == cluster.secrets.get("replication_password")


def test_steady_state_never_migrates(cluster: Cluster) -> None:
    """Omnibus' "already migrated" marker is keyed on db host/port and REVISION: a steady gitlab.rb
    with auto_migrate true behind PgBouncer would migrate through PgBouncer at the next reconfigure
    and at every upgrade. No steady-state file migrates; Praefect keeps one migrating node."""
    for node in cluster.names("rails") + cluster.names("sidekiq"):
        assert cluster.value(node, "gitlab_rails['auto_migrate']") is False, node
    praefect = [n for n in cluster.docs if cluster.value(n, "praefect['auto_migrate']") is True]
    assert praefect == cluster.names("praefect")[:1]


@pytest.mark.parametrize(("preset", "version"), [*CASES, ("ref-2k", "19.3.0")])
def test_first_run_migrates_straight_to_the_leader(
    rendered: Callable[[str, str], Rendered], preset: str, version: str
) -> None:
    """One node has gitlab.rb.first-run: the same settings, auto_migrate on, and the database reached
    on PostgreSQL's port at the Patroni leader (the internal LB's leader frontend), never PgBouncer."""
    cluster = Cluster(rendered(preset, version))
    first_runs = sorted(cluster.r.out.glob("*/gitlab.rb.first-run"))
    app = cluster.names("rails") + cluster.names("sidekiq")
    assert [p.parent.name for p in first_runs] == app[:1]
    node = app[0]
    first = parse_file(first_runs[0]).flat()
    steady = cluster.docs[node].flat()
    assert first["gitlab_rails['auto_migrate']"].to_python() is True
    host = first["gitlab_rails['db_host']"].to_python()
    port = first["gitlab_rails['db_port']"].to_python()
    changed = {k for k in steady.keys() | first.keys() if k not in steady or k not in first}
    changed |= {k for k in steady.keys() & first.keys() if steady[k].to_python() != first[k].to_python()}
    assert "gitlab_rails['auto_migrate']" in changed
    assert changed <= {"gitlab_rails['auto_migrate']", "gitlab_rails['db_host']", "gitlab_rails['db_port']"}
    patroni = cluster.ips("patroni")
    if not patroni:  # one plain PostgreSQL: Rails talks to it directly in both files
        assert (host, port) == (cluster.ips("postgres")[0], 5432)
        return
    (lb,) = cluster.names("internal_lb")
    assert host == cluster.ips("internal_lb")[0]
    config = parse_haproxy((cluster.r.out / lb / "haproxy.cfg").read_text(), f"{lb}/haproxy.cfg")
    front, servers = config.servers_for_port(port)
    assert front is not None
    assert sorted((s.host, s.port, s.check_port) for s in servers) == sorted((ip, 5432, 8008) for ip in patroni)
    assert not set(cluster.ips("pgbouncer")) & {s.host for s in servers if s.port == 6432}


def test_rails_only_nodes_run_no_sidekiq_and_no_rails_node_runs_gitaly(cluster: Cluster) -> None:
    """application_role enables the whole `rails` service group: Puma, Workhorse, Sidekiq and Gitaly.
    A Rails node without the sidekiq role switches Sidekiq off; no Rails node runs a Gitaly."""
    sidekiq = set(cluster.names("sidekiq"))
    for node in cluster.names("rails"):
        expected = None if node in sidekiq else False
        assert cluster.value(node, "sidekiq['enable']") is expected, node
        assert cluster.value(node, "gitaly['enable']") is False, node


@pytest.mark.parametrize(
    ("preset", "maxmemory"), [("ref-10k", "13500mb"), ("ref-25k", "13500mb"), ("ref-50k", "27000mb")]
)
def test_redis_cache_is_an_lru_and_persistent_redis_never_evicts(
    rendered: Callable[[str, str], Rendered], preset: str, maxmemory: str
) -> None:
    """GitLab's 10k+ reference architectures: the cache cluster gets 90% of the node's RAM
    (m5.xlarge, 15 GB: '13500mb') and evicts least recently used keys; the persistent cluster keeps
    Omnibus' noeviction (its queues and sessions must never be evicted)."""
    cluster = Cluster(rendered(preset, "19.3.0"))
    cache = cluster.names("redis_cache")
    assert cache
    for node in cache:
        assert cluster.value(node, "redis['maxmemory']") == maxmemory, node
        assert cluster.value(node, "redis['maxmemory_policy']") == "allkeys-lru", node
        assert cluster.value(node, "redis['maxmemory_samples']") == 5, node
    for node in cluster.names("redis"):
        for key in ("maxmemory", "maxmemory_policy", "maxmemory_samples"):
            assert cluster.value(node, f"redis['{key}']") is None, (node, key)


def _targets(jobs: list[dict[str, object]], name: str) -> list[str]:
    (job,) = [j for j in jobs if j["job_name"] == name]
    static = job["static_configs"]
    assert isinstance(static, list)
    return sorted(t for entry in static for t in entry["targets"])


def _routable(address: str, node_ip: str) -> bool:
    host, _, port = address.rpartition(":")
    return host == node_ip and port.isdigit()


@pytest.mark.parametrize(("preset", "version"), [*CASES, ("ref-2k", "16.6.0"), ("ref-2k", "19.3.0")])
def test_prometheus_scrapes_what_consul_discovery_misses(
    rendered: Callable[[str, str], Rendered], preset: str, version: str
) -> None:
    """Omnibus' Consul discovery finds no PgBouncer exporter (never registered) and generates no
    Praefect job: the monitoring node lists both statically, at addresses their exporters listen on.
    Rails' NGINX status page (the `nginx` job) lets the monitoring node in."""
    cluster = Cluster(rendered(preset, version))
    monitoring = cluster.names("monitoring")
    ips = {n["name"]: n["address"] for n in cluster.nodes}
    if not monitoring:
        for node in cluster.docs:
            assert cluster.value(node, "prometheus['scrape_configs']") is None, node
            assert cluster.value(node, "nginx['status']['options']['allow']") is None, node
        return
    (mon,) = monitoring
    jobs = cluster.value(mon, "prometheus['scrape_configs']")
    names = [j["job_name"] for j in jobs]
    assert len(names) == len(set(names)), names
    # Omnibus adds its own jobs to the same list (prometheus, node for the local exporter, ...) and
    # Prometheus refuses two jobs of one name; only from 18.9 does a user's node, postgres, pgbouncer
    # or redis job replace Omnibus' job of that name.
    replaced = {"node", "postgres", "pgbouncer", "redis"} if parse_version(cluster.r.version) >= (18, 9, 0) else set()
    assert not set(names) & ({"prometheus", "node"} - replaced), names
    praefect = []
    for node in cluster.names("praefect"):
        listen = cluster.value(node, "praefect['configuration']")["prometheus_listen_addr"]
        assert _routable(listen, ips[node]) and listen.endswith(":9652"), (node, listen)
        praefect.append(listen)
    if praefect:
        assert _targets(jobs, "praefect") == sorted(praefect)
    pgbouncers = []
    for node, doc in cluster.docs.items():
        if "pgbouncer_role" in [ref.name for ref in doc.roles()]:
            listen = cluster.value(node, "pgbouncer_exporter['listen_address']")
            assert _routable(listen, ips[node]) and listen.endswith(":9188"), (node, listen)
            pgbouncers.append(listen)
    if pgbouncers:
        assert _targets(jobs, "pgbouncer") == sorted(pgbouncers)  # the name that replaces 18.9's broken default
    for node in cluster.names("rails"):
        allow = cluster.value(node, "nginx['status']['options']['allow']")
        assert allow == ["127.0.0.1", *(ips[m] for m in monitoring)], node


RAILS_NGINX = ("listen_port", "listen_https", "real_ip_trusted_addresses")


@pytest.mark.parametrize(("preset", "version"), [*CASES, ("ref-3k", "19.1.0"), ("ref-3k", "19.2.0")])
def test_rails_nginx_keys_move_under_gitlab_rails_from_19_2(
    rendered: Callable[[str, str], Rendered], preset: str, version: str
) -> None:
    """From 19.2.0 `nginx['listen_port' | 'listen_https' | 'real_ip_trusted_addresses']` warn on every
    reconfigure; `gitlab_rails['nginx'][...]` replaces them. One form per release, same values."""
    cluster = Cluster(rendered(preset, version))
    lbs = sorted(f"{ip}/32" for role in ("internal_lb", "external_lb") for ip in cluster.ips(role))
    new = parse_version(version) >= (19, 2, 0)
    for node in cluster.names("rails"):
        used, unused = ("gitlab_rails['nginx']", "nginx") if new else ("nginx", "gitlab_rails['nginx']")
        assert cluster.value(node, f"{used}['listen_port']") == 80, node
        assert cluster.value(node, f"{used}['listen_https']") is False, node
        assert sorted(cluster.value(node, f"{used}['real_ip_trusted_addresses']")) == lbs, node
        for key in RAILS_NGINX:
            assert cluster.value(node, f"{unused}['{key}']") is None, (node, key)
        assert cluster.value(node, "nginx['enable']") is True  # stays top-level in every release
