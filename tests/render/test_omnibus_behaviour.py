"""What Omnibus will really do with the rendered files (issue 8, faults 1-7): read as an operator who
knows the cookbooks at the release tags, each node must run what its roles need and nothing else."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.render.conftest import Cluster, Rendered

CASES = [(p, v) for p in ("seed-15", "ref-3k", "ref-10k") for v in ("16.6.0", "19.3.0")]


@pytest.fixture(params=CASES, ids=lambda c: f"{c[0]}-{c[1]}")
def cluster(request: pytest.FixtureRequest, rendered: Callable[[str, str], Rendered]) -> Cluster:
    preset, version = request.param
    return Cluster(rendered(preset, version))


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
