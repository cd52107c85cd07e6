"""Small hand-written sets: what lint must not call a mistake, and what it must."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gitlab_ha.lint.api import lint_folder
from tests.conftest import REFERENCE
from tests.render.conftest import Rendered, copy_render


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_locals_paths_and_md5_networks_are_not_findings(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "10.0.0.5/gitlab.rb": (
                "subnet = '10.0.0.0/24'\n"
                "gitlab_rails['personal_access_tokens_expiring_worker_cron'] = '0 1 * * *'\n"
                "gitlab_rails['object_store']['connection'] = { 'aws_access_key_id' => 'AKIAEXAMPLE' }\n"
                "postgresql['md5_auth_cidr_addresses'] = %w(0.0.0.0/0)\n"
                "roles ['postgres_role']\n"
            )
        },
    )
    found = lint_folder(root, version="16.6.0", template=REFERENCE / "gitlab.rb.template-16.6.0")
    assert [f.rule for f in found] == []


def test_typo_role_gitaly_role_too_early_and_removed_key(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "10.0.0.5/gitlab.rb": "roles ['aplication_role']\n",
            "10.0.0.6/gitlab.rb": "roles(['gitaly_role'])\nsidekiq['max_concurrency'] = 10\n",
        },
    )
    old = {(f.rule, f.node, f.line) for f in lint_folder(root, version="16.6.0")}
    assert {("GHA013", "10.0.0.5", 1), ("GHA013", "10.0.0.6", 1)} <= old
    assert not any(rule == "GHA011" for rule, _, _ in old)
    new = {(f.rule, f.node, f.line) for f in lint_folder(root, version="17.6.0")}
    assert ("GHA011", "10.0.0.6", 2) in new and ("GHA013", "10.0.0.6", 1) not in new
    between = {(f.rule, f.node, f.line) for f in lint_folder(root, version="17.5.0")}
    assert ("GHA013", "10.0.0.6", 1) in between  # gitaly_role first ships in 17.6.0


def test_md5_of_another_password_is_reported(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "10.0.0.5/gitlab.rb": (
                "roles ['application_role']\ngitlab_rails['db_host'] = '10.0.0.6'\n"
                "gitlab_rails['db_password'] = 'Vh3kP9wQz2LmX8rT4nBy'\n"
            ),
            # md5('test1' + 'gitlab'), the seed's: not the password Rails uses
            "10.0.0.6/gitlab.rb": "roles ['postgres_role']\npostgresql['sql_user_password'] = '8ea51d17cfa0fe1bb503ada4f7f1c68f'\n",
        },
    )
    found = [f for f in lint_folder(root, version="16.6.0") if f.rule == "GHA060"]
    assert [(f.node, f.line, f.column) for f in found] == [("10.0.0.6", 2, 35)]


# Every service the roles ran must be switched on by name (lint on meaning sees one forgotten).
ENABLE_INSTEAD_OF_ROLES = {
    "consul-redis-2": (
        "roles(['consul_role', 'redis_replica_role', 'redis_sentinel_role'])",
        "consul",
        "redis",
        "sentinel",
    ),
    "consul-redis-3": (
        "roles(['consul_role', 'redis_replica_role', 'redis_sentinel_role'])",
        "consul",
        "redis",
        "sentinel",
    ),
    "postgres-2": ("roles(['patroni_role', 'pgbouncer_role'])", "consul", "patroni", "pgbouncer", "postgresql"),
    "rails-2": ("roles(['application_role', 'sidekiq_role'])", "puma", "gitlab_workhorse", "sidekiq"),
}


def test_services_switched_on_by_enable_flags_are_roles_too(
    rendered: Callable[[str, str], Rendered], tmp_path: Path
) -> None:
    """Without a topology, `x['enable'] = true` instead of `roles [...]` names the same services."""
    clean = rendered("seed-15", "16.6.0")
    out = copy_render(clean, tmp_path)
    for node, (roles_line, *services) in ENABLE_INSTEAD_OF_ROLES.items():
        path = out / node / "gitlab.rb"
        text = path.read_text()
        assert roles_line in text
        path.write_text(text.replace(roles_line, "\n".join(f"{s}['enable'] = true" for s in services)))

    def loud(root: Path) -> list[tuple[str, str]]:
        return sorted((f.rule, f.message) for f in lint_folder(root, version="16.6.0") if f.severity.value != "note")

    assert loud(out) == loud(clean.out)


def _rails(auto_migrate: str | None) -> str:
    line = f"gitlab_rails['auto_migrate'] = {auto_migrate}\n" if auto_migrate is not None else ""
    return "roles ['application_role']\n" + line


def test_migrating_rails_nodes_none_is_a_note_two_are_an_error(tmp_path: Path) -> None:
    def gha051(*settings: str | None) -> list[tuple[str, str]]:
        root = tmp_path / "-".join(str(s) for s in settings)
        write(root, {f"10.0.0.{i}/gitlab.rb": _rails(s) for i, s in enumerate(settings, start=5)})
        return [(f.node, f.severity.value) for f in lint_folder(root, version="16.6.0") if f.rule == "GHA051"]

    assert gha051("false", "false") == [("10.0.0.5", "note")]  # the docs' layout: migrations run deliberately
    assert gha051("true", "false") == []
    assert gha051("true", None) == [("10.0.0.6", "error")]  # unset means Omnibus' default: true
    assert gha051("false", "true", "true") == [("10.0.0.7", "error")]


def test_rails_nginx_keys_are_deprecated_from_19_2_and_never_removed(tmp_path: Path) -> None:
    """19.2 moved NGINX's Rails keys under gitlab_rails['nginx'] and warns on the old ones at every
    reconfigure; no release removes them. Before 19.2 they are the only form."""
    root = write(
        tmp_path,
        {
            "10.0.0.5/gitlab.rb": (
                "roles ['application_role']\n"
                "nginx['listen_port'] = 80\n"
                "nginx['listen_https'] = false\n"
                "nginx['real_ip_trusted_addresses'] = %w(10.0.0.9/32)\n"
                "nginx['enable'] = true\n"
            )
        },
    )
    for version in ("16.6.0", "19.1.0"):
        assert [f.rule for f in lint_folder(root, version=version) if f.rule in {"GHA011", "GHA012"}] == []
    for version in ("19.2.0", "19.3.0", "19.99.0"):
        found = [f for f in lint_folder(root, version=version) if f.rule in {"GHA011", "GHA012"}]
        assert [(f.rule, f.line) for f in found] == [("GHA012", 2), ("GHA012", 3), ("GHA012", 4)], version
        for f in found:
            assert "deprecated since 19.2.0" in f.message and "removed" not in f.message, f.message
            assert "gitlab_rails['nginx']['" in f.hint
    # and with 19.3's template: the old keys are not called unknown, only deprecated
    template = REFERENCE / "gitlab.rb.template-19.3.0"
    assert {f.rule for f in lint_folder(root, version="19.3.0", template=template)} & {"GHA010", "GHA011"} == set()


def test_rails_port_is_read_from_gitlab_rails_nginx_from_19_2(
    rendered: Callable[[str, str], Rendered], tmp_path: Path
) -> None:
    """The load balancers' Rails backends are judged against the port NGINX really listens on."""
    clean = rendered("ref-3k", "19.3.0")
    out = copy_render(clean, tmp_path)
    rb = out / "rails-1" / "gitlab.rb"
    before = rb.read_text()
    rb.write_text(
        before.replace("gitlab_rails['nginx']['listen_port'] = 80", "gitlab_rails['nginx']['listen_port'] = 8081")
    )
    assert rb.read_text() != before
    loud = [f for f in lint_folder(out, topology=clean.topology) if f.severity.value != "note"]
    assert {(f.rule, f.node) for f in loud} == {("GHA080", "internal-lb"), ("GHA080", "external-lb")}
    assert all("rails-1" in f.message for f in loud), [f.message for f in loud]
