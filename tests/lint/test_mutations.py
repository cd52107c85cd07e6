"""Mutation tests: take a clean render, make one realistic mistake, and check that exactly the rule
for it fires (no other error, and no other warning), at the mistaken file and line."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitlab_ha.lint.api import lint_folder
from gitlab_ha.lint.engine import all_rules
from gitlab_ha.lint.findings import Severity
from gitlab_ha.secrets.hashing import pg_md5
from tests.conftest import REFERENCE
from tests.render.conftest import Render, Rendered

Edit = Callable[[str], str]


def sub(pattern: str, replacement: str) -> Edit:
    """Replace the one match of `pattern` (a regex); fail the test if it is not exactly once."""

    def edit(text: str) -> str:
        new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
        assert count == 1, f"{pattern!r} matched {count} times"
        return new

    return edit


def append(line: str) -> Edit:
    return lambda text: text + line + "\n"


@dataclass(frozen=True)
class Mistake:
    rule: str
    node: str  # the folder edited, and where the finding must be
    file: str
    edit: Edit
    marker: str  # text on the line the finding must point at (after the edit)
    version: str = "16.6.0"
    also: tuple[str, ...] = ()  # other folders given the same edit (every node, for GHA041)
    preset: str = "seed-15"
    at: str = ""  # the folder where the finding must be, when not the edited one
    tls: str = "off"  # the topology's consul.tls of the clean render


ALL_CONSUL = [
    "consul-redis-1",
    "consul-redis-2",
    "consul-redis-3",
    "postgres-1",
    "postgres-2",
    "praefect-postgres",
    "praefect-1",
    "praefect-2",
    "praefect-3",
    "gitaly-1",
    "gitaly-2",
    "gitaly-3",
    "rails-1",
    "rails-2",
]
JOIN = r"retry_join: %w\(10\.10\.1\.139 10\.10\.1\.137 10\.10\.1\.244\)"

# One wrong node among N: the value most nodes share is right, the odd one is reported where it is.
ONE_OF_N = [
    Mistake("GHA023", "praefect-3", "gitlab.rb", sub(r"^    token: '", "    token: 'x"), "token: 'x"),
    Mistake("GHA021", "praefect-1", "gitlab.rb", sub(r"name: 'default'", "name: 'storage1'"), "storage1"),
    Mistake(
        "GHA032",
        "postgres-2",
        "gitlab.rb",
        sub(
            r"pgbouncer_user_password'\] = '[0-9a-f]{32}'",
            f"pgbouncer_user_password'] = '{pg_md5('old', 'pgbouncer')}'",
        ),
        "pgbouncer_user_password",
    ),
    # PgBouncer's own user list: the pgbouncer user's hash against Patroni's, gitlab-consul's across nodes
    Mistake(
        "GHA032",
        "postgres-2",
        "gitlab.rb",
        sub(r"('pgbouncer' => \{\n    'password' => ')[0-9a-f]{32}", f"\\g<1>{pg_md5('old', 'pgbouncer')}"),
        f"{pg_md5('old', 'pgbouncer')}",
    ),
    Mistake(
        "GHA032",
        "postgres-2",
        "gitlab.rb",
        sub(r"('gitlab-consul' => \{\n    'password' => ')[0-9a-f]{32}", f"\\g<1>{pg_md5('old', 'gitlab-consul')}"),
        f"{pg_md5('old', 'gitlab-consul')}",
    ),
    Mistake("GHA060", "rails-2", "gitlab.rb", sub(r"db_password'\] = '", "db_password'] = 'Old"), "db_password"),
    Mistake(
        "GHA053",
        "postgres-2",
        "gitlab.rb",
        sub(r"^patroni\['password'\] = '", "patroni['password'] = 'Q"),
        "patroni['password']",
    ),
    Mistake(
        "GHA053",
        "postgres-1",
        "gitlab.rb",
        sub(
            r"sql_replication_password'\] = '[0-9a-f]{32}'",
            f"sql_replication_password'] = '{pg_md5('old', 'gitlab_replicator')}'",
        ),
        "sql_replication_password",
    ),
    Mistake(
        "GHA015",
        "rails-1",
        "gitlab.rb",
        sub(r"roles\(\['application_role', 'sidekiq_role'\]\)", "roles(['sidekiq_role'])"),
        "roles(",
    ),
    Mistake("GHA043", "consul-redis-2", "gitlab.rb", sub(r"'redis_replica_role'", "'redis_master_role'"), "roles("),
    # Sentinel quorum: all 3 (a warning: no failover once the master's host is gone) or more than exist (error)
    Mistake("GHA045", "consul-redis-2", "gitlab.rb", sub(r"quorum'\] = 2", "quorum'] = 3"), "quorum"),
    Mistake("GHA045", "consul-redis-3", "gitlab.rb", sub(r"quorum'\] = 2", "quorum'] = 4"), "quorum"),
    # a syntax error early in a file hides what follows it: no "is not set" for what the parser skipped
    # (db_load_balancing's hash left open: the next assignment is read as its key, `=` where `=>` belongs)
    Mistake(
        "GHA001",
        "rails-1",
        "gitlab.rb",
        sub(r"^(  'hosts' => \[[^\]]*\],)\n\}\n", "\\1\n"),
        "redis['master_name'] =",
    ),
]

MISTAKES = [
    # Lint on meaning: what reconfigure will do with the file (the reconfigure model).
    Mistake("GHA090", "rails-1", "gitlab.rb", sub(r"^nginx\['enable'\] = true.*\n", ""), "roles("),
    Mistake("GHA091", "consul-redis-2", "gitlab.rb", append("nginx['enable'] = true"), "nginx['enable']"),
    Mistake(
        "GHA092",
        "postgres-1",
        "gitlab.rb",
        sub(
            r"trust_auth_cidr_addresses'\] = %w\(127\.0\.0\.1/32 [^)]*\)",
            "trust_auth_cidr_addresses'] = %w(127.0.0.1/32)",
        ),
        "trust_auth_cidr_addresses",
    ),
    Mistake("GHA093", "postgres-2", "gitlab.rb", sub(r"^patroni\['use_pg_rewind'\] = true.*\n", ""), "roles("),
    # a fixed PgBouncer target instead of the watched one, at a node that runs no PostgreSQL
    Mistake(
        "GHA094",
        "postgres-2",
        "gitlab.rb",
        sub(r"('gitlabhq_production' => \{\n    'host' => ')127\.0\.0\.1", "\\g<1>10.10.1.139"),
        "10.10.1.139",
    ),
    Mistake("GHA001", "consul-redis-1", "gitlab.rb", sub(r"^redis\['port'\] = 6379", "redis['port'] = = 6379"), "= ="),
    Mistake("GHA010", "rails-1", "gitlab.rb", sub(r"^puma\['listen'\]", "puma['listen_adress']"), "listen_adress"),
    Mistake(
        "GHA011",
        "rails-1",
        "gitlab.rb",
        sub(r"^sidekiq\['concurrency'\]", "sidekiq['max_concurrency']"),
        "max_concurrency",
        version="19.3.0",
    ),
    Mistake(
        "GHA012",
        "rails-1",
        "gitlab.rb",
        append("mattermost_external_url 'https://chat.example.com'"),
        "mattermost_external_url",
        version="19.3.0",
    ),
    Mistake(
        "GHA013",
        "praefect-postgres",
        "gitlab.rb",
        sub(r"roles\(\['postgres_role'\]\)", "roles(['postgres_role', 'gitaly_role'])"),
        "gitaly_role",
    ),
    Mistake("GHA020", "gitaly-2", "gitlab.rb", sub(r"    token: '", "    token: 'x"), "token:"),
    Mistake("GHA021", "praefect-1", "gitlab.rb", sub(r"storage: 'gitaly-2'", "storage: 'gitaly-9'"), "gitaly-9"),
    Mistake("GHA022", "praefect-1", "gitlab.rb", sub(r"10\.10\.1\.21:8075", "10.10.1.21:8076"), "8076"),
    Mistake("GHA023", "rails-1", "gitlab.rb", sub(r"'gitaly_token' => '", "'gitaly_token' => 'x"), "gitaly_token"),
    Mistake("GHA024", "rails-2", "gitlab.rb", sub(r"10\.10\.1\.233:2305", "10.10.1.233:2306"), "2306"),
    Mistake("GHA030", "rails-2", "gitlab.rb", sub(r"db_port'\] = 6432", "db_port'] = 5432"), "db_port"),
    Mistake("GHA031", "rails-1", "gitlab.rb", sub(r"'10\.10\.1\.167'\]", "'10.10.1.168']"), "10.10.1.168"),
    Mistake(
        "GHA032",
        "postgres-2",
        "gitlab.rb",
        sub(r"'gitlabhq_production' => \{", "'gitlabhq_prod' => {"),
        "pgbouncer['databases']",
    ),
    Mistake("GHA040", "gitaly-3", "gitlab.rb", sub(JOIN, "retry_join: %w(10.10.1.139 10.10.1.137)"), "retry_join"),
    Mistake(
        "GHA041",
        "rails-1",
        "gitlab.rb",
        sub(JOIN, "retry_join: %w(10.10.1.139 10.10.1.137 10.10.1.245)"),
        "retry_join",
        also=tuple(n for n in ALL_CONSUL if n != "rails-1"),
    ),
    Mistake(
        "GHA042",
        "rails-1",
        "gitlab.rb",
        sub(r"'host' => '10\.10\.1\.244'", "'host' => '10.10.1.245'"),
        "redis_sentinels",
    ),
    Mistake(
        "GHA043",
        "consul-redis-3",
        "gitlab.rb",
        sub(r"master_ip'\] = '10\.10\.1\.139'", "master_ip'] = '10.10.1.137'"),
        "master_ip",
    ),
    Mistake(
        "GHA044",
        "consul-redis-2",
        "gitlab.rb",
        sub(r"master_name'\] = 'gitlab-redis'", "master_name'] = 'gitlab_redis'"),
        "master_name",
    ),
    Mistake("GHA045", "consul-redis-1", "gitlab.rb", sub(r"quorum'\] = 2", "quorum'] = 1"), "quorum"),
    Mistake(
        "GHA046",
        "rails-2",
        "gitlab.rb",
        sub(r"^redis\['master_password'\] = '\w+'", "redis['master_password'] = 'Zx9Qw7Er5Ty3Ui1OpAsDfGhJkLzXcVbN'"),
        "master_password",
    ),
    Mistake(
        "GHA047",
        "gitaly-1",
        "gitlab.rb",
        sub(r"encryption_key'\] = '[^']+'", "encryption_key'] = 'a2V5IGZyb20gYW5vdGhlciBjbHVzdGVyIDEyMzQ1Njc4OTA='"),
        "encryption_key",
    ),
    Mistake(
        "GHA050",
        "postgres-1",
        "gitlab.rb",
        sub(r"max_replication_slots'\] = 4", "max_replication_slots'] = 2"),
        "max_replication_slots",
    ),
    # no steady file migrates; two that do are the mistake (reported on the second)
    Mistake(
        "GHA051",
        "rails-1",
        "gitlab.rb",
        sub(r"auto_migrate'\] = false", "auto_migrate'] = true"),
        "auto_migrate",
        also=("rails-2",),
        at="rails-2",
    ),
    Mistake(
        "GHA052",
        "praefect-2",
        "gitlab.rb",
        sub(r"praefect\['auto_migrate'\] = false", "praefect['auto_migrate'] = true"),
        "praefect['auto_migrate']",
    ),
    Mistake(
        "GHA060",
        "postgres-1",
        "gitlab.rb",
        sub(r"sql_user_password'\] = '[0-9a-f]{32}'", f"sql_user_password'] = '{pg_md5('old-password', 'gitlab')}'"),
        "sql_user_password",
    ),
    Mistake(
        "GHA061",
        "postgres-1",
        "gitlab.rb",
        sub(r"^patroni\['password'\] = '\w+'", "patroni['password'] = 'password123'"),
        "patroni['password']",
        also=("postgres-2",),  # one API password for every Patroni node, or GHA053 speaks too
    ),
    Mistake(
        "GHA062", "postgres-1", "gitlab.rb", sub(r"allowlist'\] = %w\(", "allowlist'] = %w(0.0.0.0/0 "), "allowlist"
    ),
    Mistake(
        "GHA063",
        "postgres-1",
        "gitlab.rb",
        sub(
            r"trust_auth_cidr_addresses'\] = %w\(127\.0\.0\.1/32 ",
            "trust_auth_cidr_addresses'] = %w(127.0.0.1/32 10.10.1.0/24 ",
        ),
        "trust_auth",
    ),
    Mistake(
        "GHA080",
        "internal-lb",
        "haproxy.cfg",
        sub(r"postgres-2 10\.10\.1\.167:6432", "postgres-2 10.10.1.168:6432"),
        "10.10.1.168",
    ),
]


# ref-2k: no Praefect (Rails talks to the one Gitaly with its token), no PgBouncer (Rails talks to
# the one PostgreSQL): the other branch of the Gitaly and database rules.
WITHOUT_PRAEFECT = [
    Mistake(rule, "rails-1", "gitlab.rb", edit, marker, version="19.3.0", preset="ref-2k")
    for rule, edit, marker in (
        ("GHA021", sub(r"^  'default' => \{", "  'storage1' => {"), "storage1"),
        ("GHA023", sub(r"'gitaly_token' => '", "'gitaly_token' => 'x"), "gitaly_token"),
        ("GHA024", sub(r"(tcp://[\d.]+):8075", r"\1:9999"), "9999"),
        ("GHA030", sub(r"db_host'\] = '[\d.]+'", "db_host'] = '192.0.2.1'"), "db_host"),
    )
]
MISTAKES += WITHOUT_PRAEFECT
MISTAKES += [
    Mistake(
        "GHA025",
        "gitaly-1",
        "gitlab.rb",
        sub(r"internal_api_url'\] = 'http://10\.10\.1\.233'", "internal_api_url'] = 'http://10.10.1.234'"),
        "internal_api_url",
    ),
    Mistake(
        "GHA026", "praefect-3", "gitlab.rb", sub(r"^    host: '10\.10\.1\.84'", "    host: '10.10.1.85'"), "10.10.1.85"
    ),
]
MISTAKES.append(
    Mistake("GHA081", "internal-lb", "haproxy.cfg", sub(r"timeout client 30m", "timeout client 10s"), "timeout client")
)
# ref-3k: a database node without its local PgBouncer, while Rails' load balancing reads on db_port 6432
MISTAKES.append(
    Mistake(
        "GHA031",
        "postgres-2",
        "gitlab.rb",
        sub(r"roles\(\['patroni_role', 'pgbouncer_role'\]\)", "roles(['patroni_role'])"),
        "'hosts' =>",
        version="19.3.0",
        preset="ref-3k",
        at="rails-1",
    )
)


# Consul TLS (rendered with consul.tls): each inconsistency the issue names.
MISTAKES += [
    # a client with TLS against servers without it (a plain render, TLS turned on at one client)
    Mistake(
        "GHA095",
        "postgres-1",
        "gitlab.rb",
        append("consul['use_tls'] = true\nconsul['tls_ca_file'] = '/etc/gitlab/consul-tls/ca.pem'"),
        "consul['use_tls']",
    ),
    # Patroni on http against an https-only agent
    Mistake(
        "GHA096",
        "postgres-1",
        "gitlab.rb",
        lambda text: (
            sub(r"'https://127\.0\.0\.1:8501'", "'http://127.0.0.1:8500'")(text)
            + "consul['configuration'][:ports] = { http: -1 }\n"
        ),
        "patroni['consul']['url']",
        tls="mutual",
    ),
    # a client agent without a certificate where the servers verify clients
    Mistake(
        "GHA097",
        "gitaly-2",
        "gitlab.rb",
        lambda text: re.sub(r"^consul\['tls_(certificate|key)_file'\] = .*\n", "", text, flags=re.MULTILINE),
        "consul['use_tls']",
        tls="mutual",
    ),
]
# Patroni without its own certificate where its agent verifies HTTPS clients (mutual_patroni)
TLS_PATRONI = Mistake(
    "GHA097",
    "postgres-2",
    "gitlab.rb",
    lambda text: re.sub(r"^patroni\['consul'\]\['(cert|key)'\] = .*\n", "", text, flags=re.MULTILINE),
    "patroni['consul']['url']",
    tls="mutual_patroni",
)
MISTAKES.append(TLS_PATRONI)


def mutate(rendered: Rendered, mistake: Mistake, tmp: Path) -> Path:
    out = tmp / "out"
    shutil.copytree(rendered.out, out)
    for node in (mistake.node, *mistake.also):
        path = out / node / mistake.file
        path.write_text(mistake.edit(path.read_text()))
    return out


@pytest.mark.parametrize("mistake", MISTAKES + ONE_OF_N, ids=lambda m: f"{m.rule}-{m.preset}-{m.node}")
def test_one_mistake_one_rule(rendered: Render, mistake: Mistake, tmp_path: Path) -> None:
    clean = rendered(mistake.preset, mistake.version, mistake.tls)
    out = mutate(clean, mistake, tmp_path)
    found = lint_folder(out, topology=clean.topology, template=REFERENCE / f"gitlab.rb.template-{mistake.version}")
    loud = [f for f in found if f.severity is not Severity.NOTE]
    assert {f.rule for f in loud} == {mistake.rule}, [f"{f.rule} {f.where()} {f.message}" for f in loud]
    at = mistake.at or mistake.node
    lines = (out / at / "gitlab.rb" if mistake.at else out / at / mistake.file).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, start=1) if mistake.marker in text)
    where = f"{at}/gitlab.rb" if mistake.at else f"{at}/{mistake.file}"
    assert any(f.file == where and f.line == line for f in loud), [f"{f.where()} {f.message}" for f in loud]
    for node in mistake.also:
        assert any(f.node == node for f in loud)


def test_every_rule_with_a_place_has_a_mutation() -> None:
    layout_only = {"GHA002", "GHA014", "GHA070", "GHA071"}  # no single-file mistake; tested elsewhere
    assert {r.id for r in all_rules()} - layout_only == {m.rule for m in MISTAKES + ONE_OF_N}


# Valid ways to write what the renderer writes: Ruby the linter does not run, and ports as strings.
REWRITES = [
    ("rails-1", sub(r"'gitaly_token' => '\w+'", "'gitaly_token' => File.read('/etc/gitlab/praefect_token').chomp")),
    ("consul-redis-2", sub(r"^redis\['master_ip'\] = '[\d.]+'", "redis['master_ip'] = \"#{master}\"")),
    ("rails-2", sub(r"^gitlab_rails\['db_host'\] = '[\d.]+'", "gitlab_rails['db_host'] = \"#{db}\"")),
    ("rails-1", sub(r"db_port'\] = 6432", "db_port'] = '6432'")),
    ("rails-2", lambda text: text.replace("'port' => 26379", "'port' => '26379'")),
    # a parent hash set at once instead of key by key (GHA010 must not call the parent unknown)
    (
        "postgres-1",
        lambda text: re.sub(
            r"^patroni\['postgresql'\]\['max_replication_slots'\] = (\d+).*\n"
            r"patroni\['postgresql'\]\['max_wal_senders'\] = (\d+).*$",
            r"patroni['postgresql'] = { 'max_replication_slots' => \1, 'max_wal_senders' => \2 }",
            text,
            flags=re.MULTILINE,
        ),
    ),
]


def test_valid_rewrites_are_not_mistakes(rendered: Callable[[str, str], Rendered], tmp_path: Path) -> None:
    clean = rendered("seed-15", "16.6.0")
    out = tmp_path / "out"
    shutil.copytree(clean.out, out)
    for node, edit in REWRITES:
        path = out / node / "gitlab.rb"
        before = path.read_text()
        path.write_text(edit(before))
        assert path.read_text() != before, node
    found = lint_folder(out, topology=clean.topology, template=REFERENCE / "gitlab.rb.template-16.6.0")
    loud = [f"{f.rule} {f.where()} {f.message}" for f in found if f.severity is not Severity.NOTE]
    assert loud == []


def test_max_concurrency_is_deprecated_from_16_9(rendered: Callable[[str, str], Rendered], tmp_path: Path) -> None:
    """The renderer writes sidekiq['concurrency'] from 16.9; the old key there is a deprecation (GHA012)."""
    clean = rendered("seed-15", "16.10.0")
    mistake = Mistake(
        "GHA012", "rails-1", "gitlab.rb", sub(r"^sidekiq\['concurrency'\]", "sidekiq['max_concurrency']"), "max_conc"
    )
    out = mutate(clean, mistake, tmp_path)
    loud = [f for f in lint_folder(out, topology=clean.topology) if f.severity is not Severity.NOTE]
    assert [(f.rule, f.file) for f in loud] == [("GHA012", "rails-1/gitlab.rb")], [f.message for f in loud]
    assert "deprecated since 16.9.0 and removed in 17.0.0" in loud[0].message
