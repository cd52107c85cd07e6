"""`gitlab-ha secrets` run as users run it (the installed console script in a subprocess).

The `run` fixture checks at the end that no stdout or stderr of any command contained any value
stored in tmp_path.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from gitlab_ha.secrets.catalog import SECRETS
from gitlab_ha.secrets.hashing import pg_md5
from tests.secrets.conftest import Runner, file_values

NAMES = [spec.name for spec in SECRETS if not spec.optional]  # Consul TLS: `secrets tls`, tested apart


def assert_bad_input(result: object, *needles: str) -> None:
    """Exit 2, exactly one `error:` line on stderr, no traceback."""
    assert hasattr(result, "returncode")
    assert result.returncode == 2, result
    stderr: str = result.stderr  # type: ignore[attr-defined]
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0]


def test_init_writes_0600_store_in_current_folder(run: Runner, tmp_path: Path) -> None:
    result = run("secrets", "init")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "secrets.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert set(file_values(path)) == set(NAMES)
    assert "secrets.json" in result.stdout


def test_init_refuses_to_overwrite(run: Runner, tmp_path: Path) -> None:
    assert run("secrets", "init", "--store", "s.json").returncode == 0
    before = (tmp_path / "s.json").read_bytes()
    result = run("secrets", "init", "--store", "s.json")
    assert_bad_input(result, "s.json", "exists")
    assert (tmp_path / "s.json").read_bytes() == before


def test_list_and_json_show_no_value(run: Runner, tmp_path: Path) -> None:
    assert run("secrets", "init").returncode == 0
    table = run("secrets", "list")
    assert table.returncode == 0, table.stderr
    for name in NAMES:
        assert name in table.stdout
    result = run("secrets", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["secrets"]
    assert [r["name"] for r in rows] == NAMES
    for row in rows:
        assert {"name", "kind", "user", "source", "env_var"} <= set(row)
        assert "value" not in row
        assert row["source"] == "file"
    users = {r["name"]: r["user"] for r in rows}
    assert users["replication_password"] == "gitlab_replicator"
    # hashes are password-equivalent for md5 auth: never printed either
    values = file_values(tmp_path / "secrets.json")
    for spec in SECRETS:
        if spec.pg_user:
            digest = pg_md5(values[spec.name], spec.pg_user)
            assert digest not in table.stdout + result.stdout


def test_rotate_changes_exactly_one_value(run: Runner, tmp_path: Path) -> None:
    assert run("secrets", "init").returncode == 0
    before = file_values(tmp_path / "secrets.json")
    result = run("secrets", "rotate", "praefect_internal_token")
    assert result.returncode == 0, result.stderr
    assert "gitaly" in result.stdout  # says which nodes to reconfigure
    after = file_values(tmp_path / "secrets.json")
    assert [n for n in NAMES if before[n] != after[n]] == ["praefect_internal_token"]
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600


def test_rotate_unknown_name(run: Runner) -> None:
    assert run("secrets", "init").returncode == 0
    assert_bad_input(run("secrets", "rotate", "root_password"), "root_password", "redis_password")


def test_env_override_and_source(run: Runner, tmp_path: Path) -> None:
    env = {"GITLAB_HA_SECRET_REDIS_PASSWORD": "RedisFromVault0123456789abcdefghij"}
    result = run("secrets", "init", env=env)
    assert result.returncode == 0, result.stderr
    assert "redis_password" not in file_values(tmp_path / "secrets.json")
    listed = run("secrets", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    sources = {r["name"]: r["source"] for r in json.loads(listed.stdout)["secrets"]}
    assert sources["redis_password"] == "env:GITLAB_HA_SECRET_REDIS_PASSWORD"
    assert sources["gitlab_db_password"] == "file"
    # rotating a secret that comes from the environment is refused
    assert_bad_input(run("secrets", "rotate", "redis_password", env=env), "GITLAB_HA_SECRET_REDIS_PASSWORD")
    # without the env var, the store is incomplete and says which variable is missing
    assert_bad_input(run("secrets", "list"), "GITLAB_HA_SECRET_REDIS_PASSWORD")
    for output in run.outputs:
        assert env["GITLAB_HA_SECRET_REDIS_PASSWORD"] not in output


def test_store_path_from_env(run: Runner, tmp_path: Path) -> None:
    env = {"GITLAB_HA_SECRETS": str(tmp_path / "vault" / "cluster-secrets.json")}
    assert run("secrets", "init", env=env).returncode == 0
    assert (tmp_path / "vault" / "cluster-secrets.json").exists()
    assert not (tmp_path / "secrets.json").exists()
    assert run("secrets", "list", env=env).returncode == 0
    # render reads the same variable the same way (typer's envvar) for its --secrets
    assert run("init", "--preset", "seed-15", "-o", "cluster.yml").returncode == 0
    rendered = run("render", "cluster.yml", "-o", "out", env=env)
    assert rendered.returncode == 0, rendered.stderr
    assert run("render", "cluster.yml", "-o", "out", "--force").returncode == 2  # no ./secrets.json


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_group_or_world_readable_store_refused(run: Runner, tmp_path: Path, mode: int) -> None:
    assert run("secrets", "init").returncode == 0
    os.chmod(tmp_path / "secrets.json", mode)
    assert_bad_input(run("secrets", "list"), "secrets.json", "chmod 600")
    assert_bad_input(run("secrets", "rotate", "redis_password"), "secrets.json")


def test_malformed_store(run: Runner, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"version": 1, "secrets": {', encoding="utf-8")
    path.chmod(0o600)
    assert_bad_input(run("secrets", "list", "--store", path), str(path), "invalid JSON")
    assert_bad_input(run("secrets", "rotate", "redis_password", "--store", path), str(path))


def test_missing_store(run: Runner, tmp_path: Path) -> None:
    assert_bad_input(run("secrets", "list"), "secrets.json", "secrets init")


def test_gossip_key_is_32_bytes(run: Runner, tmp_path: Path) -> None:
    assert run("secrets", "init").returncode == 0
    key = file_values(tmp_path / "secrets.json")["consul_gossip_key"]
    assert len(base64.b64decode(key, validate=True)) == 32


@pytest.mark.parametrize("command", [(), ("init",), ("list",), ("rotate",)])
def test_help_has_an_example(run: Runner, command: tuple[str, ...]) -> None:
    result = run("secrets", *command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Example: gitlab-ha secrets" in result.stdout
    if command:
        assert "--store" in result.stdout


def test_rotate_with_topology_names_the_nodes_in_order(run: Runner, tmp_path: Path) -> None:
    assert run("init", "--preset", "ref-3k", "--subnet", "10.6.0.0/24", "-o", "c.yml").returncode == 0
    assert run("secrets", "init").returncode == 0
    result = run("secrets", "rotate", "pgbouncer_password", "--topology", "c.yml")
    assert result.returncode == 0, result.stderr
    hint = result.stdout.split("reconfigure", 1)[1]
    patroni, pgbouncer = hint.split(", then ")
    assert patroni.split() == ["postgres-1", "postgres-2", "postgres-3"]
    assert pgbouncer.split() == ["pgbouncer-1", "pgbouncer-2", "pgbouncer-3"]
    gossip = run("secrets", "rotate", "consul_gossip_key", "--topology", "c.yml")
    assert gossip.returncode == 0, gossip.stderr
    servers, rest = gossip.stdout.split("reconfigure", 1)[1].split(", then ")
    assert servers.split() == ["consul-1", "consul-2", "consul-3"]
    assert "gitaly-1" in rest.split() and "consul-1" not in rest.split()


def test_rotate_with_bad_topology_changes_nothing(run: Runner, tmp_path: Path) -> None:
    assert run("secrets", "init").returncode == 0
    before = (tmp_path / "secrets.json").read_bytes()
    (tmp_path / "c.yml").write_text("name: x\nnodes: []\n", encoding="utf-8")
    result = run("secrets", "rotate", "redis_password", "--topology", "c.yml")
    assert result.returncode == 2
    assert "c.yml" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "secrets.json").read_bytes() == before
