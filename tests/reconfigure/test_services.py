"""Roles → service groups → services, per release, and explicit `x['enable']` (services.rb, roles/*.rb)."""

from __future__ import annotations

import pytest

from tests.reconfigure.conftest import node_of


def services(text: str, version: str = "16.6.0") -> set[str]:
    return set(node_of(text, version).services.enabled)


@pytest.mark.parametrize(
    ("version", "nginx"), [("16.6.0", False), ("17.3.0", False), ("17.4.0", True), ("19.3.0", True)]
)
def test_application_role_enables_nginx_from_17_4(version: str, nginx: bool) -> None:
    found = services("roles ['application_role']", version)
    assert {"puma", "gitlab_workhorse", "sidekiq", "gitaly", "gitlab_kas"} <= found
    assert ("nginx" in found) is nginx


def test_explicit_enable_wins_over_roles() -> None:
    found = services("roles ['application_role']\nsidekiq['enable'] = false\nnginx['enable'] = true\n")
    assert "sidekiq" not in found and "nginx" in found
    off = node_of("roles ['application_role']\nnginx['enable'] = false\n", "19.3.0").services
    assert not off.runs("nginx") and off.disabled["nginx"] == "nginx['enable'] = false"


def test_no_role_runs_the_default_group_and_a_role_disables_it() -> None:
    assert {"puma", "redis", "postgresql", "nginx", "prometheus", "gitaly"} <= services("external_url 'http://x'")
    assert services("roles ['redis_sentinel_role']") == {"logrotate", "node_exporter", "sentinel"}
    # geo roles do not manage services: the defaults stay
    assert "puma" in services("roles ['geo_primary_role']")


def test_data_tier_roles() -> None:
    assert services("roles ['patroni_role', 'pgbouncer_role']") == {
        "logrotate",
        "node_exporter",
        "patroni",
        "postgresql",
        "postgres_exporter",
        "pgbouncer",
        "pgbouncer_exporter",
        "consul",
    }
    assert services("roles ['redis_master_role', 'consul_role']") == {
        "logrotate",
        "node_exporter",
        "redis",
        "redis_exporter",
        "consul",
    }


def test_exporters_follow_their_service() -> None:
    found = services("roles ['patroni_role']\npostgresql['enable'] = false\n")
    assert "postgres_exporter" not in found
    assert "redis_exporter" not in services("roles ['redis_master_role']\nredis['enable'] = false\n")


def test_gitaly_role_exists_from_17_6() -> None:
    assert services("roles ['gitaly_role']", "17.6.0") == {"logrotate", "node_exporter", "gitaly"}
    early = node_of("roles ['gitaly_role']", "17.5.0").services
    assert early.unknown_roles == ("gitaly_role",)
    assert "puma" in early.enabled  # an invalid role manages nothing: Omnibus would refuse it outright


def test_rails_recipe_on_data_nodes_changes_at_17_5() -> None:
    # 16.6: no data role touches gitlab_rails['enable']; its default is true on every node.
    assert node_of("roles ['consul_role']", "16.6.0").services.rails
    # 17.5: consul_role sets it false; patroni_role (processed first) sets it true even beside consul_role.
    assert not node_of("roles ['consul_role']", "17.5.0").services.rails
    both = node_of("roles ['consul_role', 'patroni_role']", "17.5.0").services
    assert both.rails and both.rails_why == "patroni_role sets it true"


def test_migrations_need_rails_no_pgbouncer_and_auto_migrate() -> None:
    assert node_of("roles ['application_role']").services.migrates
    assert not node_of("roles ['application_role']\ngitlab_rails['auto_migrate'] = false\n").services.migrates
    assert not node_of("roles ['sidekiq_role']").services.migrates  # sidekiq_role sets auto_migrate false
    bouncer = node_of("roles ['patroni_role', 'pgbouncer_role']", "17.5.0").services
    assert not bouncer.migrates and "PgBouncer" in bouncer.migrates_why
    assert node_of("roles ['patroni_role']", "17.5.0").services.migrates  # docs: set auto_migrate false there


def test_prometheus_monitoring_false_turns_the_monitoring_group_off() -> None:
    found = services("roles ['redis_master_role']\nprometheus_monitoring['enable'] = false\n")
    assert found == {"logrotate", "redis"}
