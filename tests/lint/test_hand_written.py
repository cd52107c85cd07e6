"""Small hand-written sets: what lint must not call a mistake, and what it must."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from gitlab_ha.lint.api import lint_folder
from tests.conftest import REFERENCE
from tests.render.conftest import Rendered


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


ENABLE_INSTEAD_OF_ROLES = {
    "consul-redis-2": ("roles(['consul_role', 'redis_replica_role', 'redis_sentinel_role'])", "redis", "sentinel"),
    "consul-redis-3": ("roles(['consul_role', 'redis_replica_role', 'redis_sentinel_role'])", "redis", "sentinel"),
    "postgres-2": ("roles(['patroni_role', 'pgbouncer_role'])", "patroni", "pgbouncer", "postgresql"),
    "rails-2": ("roles(['application_role', 'sidekiq_role'])", "puma", "sidekiq"),
}


def test_services_switched_on_by_enable_flags_are_roles_too(
    rendered: Callable[[str, str], Rendered], tmp_path: Path
) -> None:
    """Without a topology, `x['enable'] = true` instead of `roles [...]` names the same services."""
    clean = rendered("seed-15", "16.6.0")
    out = tmp_path / "out"
    shutil.copytree(clean.out, out)
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
