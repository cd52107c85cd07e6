"""Lint on meaning (GHA090–GHA095): what reconfigure will do with the files. Hand-written sets: a
docs-faithful data tier gets no false error; each fault the model knows is found."""

from __future__ import annotations

from pathlib import Path

from gitlab_ha.lint.api import lint_folder
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.secrets.hashing import pg_md5
from tests.lint.test_hand_written import write

REPL, SUPER = "replpw", "apipw"
RETRY = "consul['configuration'] = { retry_join: %w(10.6.0.11 10.6.0.12 10.6.0.13) }\n"
CONSUL = (
    "roles(['consul_role'])\n"
    "consul['configuration'] = { server: true, retry_join: %w(10.6.0.11 10.6.0.12 10.6.0.13) }\n"
    "gitlab_rails['auto_migrate'] = false\n"
)
# GitLab's 3k reference architecture, as its docs write each node (Patroni trusts the database network).
PATRONI = (
    "roles(['patroni_role'])\n"
    "postgresql['listen_address'] = '0.0.0.0'\n"
    "patroni['postgresql']['max_replication_slots'] = 6\n"
    "patroni['postgresql']['max_wal_senders'] = 7\n"
    "gitlab_rails['auto_migrate'] = false\n"
    "consul['services'] = %w(postgresql)\n"
    f"postgresql['pgbouncer_user_password'] = '{pg_md5('bouncer', 'pgbouncer')}'\n"
    f"postgresql['sql_replication_password'] = '{pg_md5(REPL, 'gitlab_replicator')}'\n"
    f"postgresql['sql_user_password'] = '{pg_md5('gitlabpw', 'gitlab')}'\n"
    "patroni['username'] = 'patroni-api'\n"
    f"patroni['password'] = '{SUPER}'\n"
    "patroni['use_pg_rewind'] = true\n"
    "patroni['allowlist'] = %w(10.6.0.0/24 127.0.0.1/32)\n"
    "postgresql['trust_auth_cidr_addresses'] = %w(10.6.0.0/24 127.0.0.1/32)\n" + RETRY
)
PGBOUNCER = (
    "roles(['pgbouncer_role'])\n"
    "gitlab_rails['auto_migrate'] = false\n"
    "consul['watchers'] = %w(postgresql)\n"
    f"pgbouncer['users'] = {{ 'gitlab-consul': {{ password: '{pg_md5('c', 'gitlab-consul')}' }}, "
    f"'pgbouncer': {{ password: '{pg_md5('bouncer', 'pgbouncer')}' }} }}\n"
    f"pgbouncer['databases'] = {{ gitlabhq_production: {{ host: '127.0.0.1', user: 'pgbouncer', "
    f"password: '{pg_md5('bouncer', 'pgbouncer')}' }} }}\n" + RETRY
)
DOCS = {
    **{f"10.6.0.1{i}/gitlab.rb": CONSUL for i in (1, 2, 3)},
    **{f"10.6.0.2{i}/gitlab.rb": PATRONI for i in (1, 2, 3)},
    **{f"10.6.0.3{i}/gitlab.rb": PGBOUNCER for i in (1, 2, 3)},
}


def meaning(found: list[Finding]) -> list[tuple[str, str, Severity]]:
    return sorted((f.rule, f.node, f.severity) for f in found if f.rule.startswith("GHA09"))


def test_a_docs_faithful_data_tier_has_no_meaning_finding(tmp_path: Path) -> None:
    found = lint_folder(write(tmp_path, DOCS), version="17.5.0")
    assert meaning(found) == []
    assert not [f for f in found if f.severity is Severity.ERROR]


def test_md5_only_peers_need_a_replication_password_and_cannot_rewind(tmp_path: Path) -> None:
    narrowed = PATRONI.replace("%w(10.6.0.0/24 127.0.0.1/32)\n" + RETRY, "%w(127.0.0.1/32)\n" + RETRY).replace(
        "postgresql['trust_auth_cidr_addresses'] = %w(127.0.0.1/32)\n",
        "postgresql['trust_auth_cidr_addresses'] = %w(127.0.0.1/32)\npostgresql['md5_auth_cidr_addresses'] = %w(10.6.0.0/24)\n",
    )
    files = {**DOCS, **{f"10.6.0.2{i}/gitlab.rb": narrowed for i in (1, 2, 3)}}
    found = meaning(lint_folder(write(tmp_path / "a", files), version="17.5.0"))
    assert ("GHA092", "10.6.0.21", Severity.ERROR) in found  # no password: pg_basebackup cannot log in
    assert ("GHA092", "10.6.0.22", Severity.ERROR) in found  # and rewind: no superuser password before 19.1
    with_password = narrowed + f"patroni['replication_password'] = '{REPL}'\n"
    files = {**DOCS, **{f"10.6.0.2{i}/gitlab.rb": with_password for i in (1, 2, 3)}}
    found = meaning(lint_folder(write(tmp_path / "b", files), version="17.5.0"))
    found_all = lint_folder(write(tmp_path / "b2", files), version="17.5.0")
    messages = [f.message for f in found_all if f.rule == "GHA092"]
    assert messages and all("pg_rewind" in m for m in messages)  # replication now logs in; rewind still cannot
    wrong = narrowed + "patroni['replication_password'] = 'not-it'\n"
    files = {
        **DOCS,
        "10.6.0.22/gitlab.rb": wrong,
        "10.6.0.21/gitlab.rb": with_password,
        "10.6.0.23/gitlab.rb": with_password,
    }
    found = meaning(lint_folder(write(tmp_path / "c", files), version="17.5.0"))
    assert ("GHA092", "10.6.0.22", Severity.ERROR) in found


def test_rewind_without_wal_log_hints_warns(tmp_path: Path) -> None:
    files = {**DOCS, "10.6.0.21/gitlab.rb": PATRONI.replace("patroni['use_pg_rewind'] = true\n", "")}
    assert ("GHA093", "10.6.0.21", Severity.WARNING) in meaning(lint_folder(write(tmp_path, files), version="17.5.0"))


def test_rails_without_nginx_before_17_4_and_sidekiq_on_web_nodes(tmp_path: Path) -> None:
    rails = (
        "external_url 'https://gitlab.example.com'\nroles ['application_role']\n"
        "gitlab_rails['db_host'] = '10.6.0.40'\ngitlab_rails['db_port'] = 6432\n"
    )
    files = {**DOCS, "10.6.0.41/gitlab.rb": rails}
    old = meaning(lint_folder(write(tmp_path / "a", files), version="16.6.0"))
    assert ("GHA090", "10.6.0.41", Severity.ERROR) in old
    new = meaning(lint_folder(write(tmp_path / "b", files), version="17.5.0"))
    assert not any(rule == "GHA090" for rule, _, _ in new)
    # application_role's rails group runs Sidekiq and Gitaly too: a note without a topology
    assert ("GHA091", "10.6.0.41", Severity.NOTE) in new


def test_an_address_at_a_node_where_the_service_does_not_listen(tmp_path: Path) -> None:
    redis_master = "roles ['redis_master_role']\nredis['bind'] = '10.6.0.51'\nredis['port'] = 6380\n"
    replica = "roles ['redis_replica_role']\nredis['bind'] = '10.6.0.52'\nredis['port'] = 6379\nredis['master_ip'] = '10.6.0.51'\n"
    files = {**DOCS, "10.6.0.51/gitlab.rb": redis_master, "10.6.0.52/gitlab.rb": replica}
    found = lint_folder(write(tmp_path, files), version="17.5.0")
    hits = [f for f in found if f.rule == "GHA094"]
    assert [(f.node, f.line) for f in hits] == [("10.6.0.52", 4)]
    assert "10.6.0.51:6379" in hits[0].message and "Redis on 6380" in hits[0].message
