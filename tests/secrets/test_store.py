"""SecretStore as the renderer uses it: real files in tmp_path, env vars passed explicitly."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from gitlab_ha.errors import InputError
from gitlab_ha.secrets.catalog import SECRETS
from gitlab_ha.secrets.hashing import pg_md5
from gitlab_ha.secrets.store import SecretStore
from tests.secrets.conftest import file_values

pytestmark = pytest.mark.usefixtures("no_secret_env")

NAMES = [spec.name for spec in SECRETS if not spec.optional]  # Consul TLS: `secrets tls`, tested apart


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.json"
    SecretStore.init(path, env={})
    return path


def test_init_writes_every_secret_0600(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "secrets.json"
    store = SecretStore.init(path, env={})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["version"] == 1
    assert isinstance(data["created"], str)
    assert list(data["secrets"]) == NAMES
    for entry in data["secrets"].values():
        assert set(entry) == {"value", "generated_at"}
    assert [store.get(n) for n in NAMES] == [file_values(path)[n] for n in NAMES]
    assert not [p for p in path.parent.iterdir() if p.name != "secrets.json"]  # no temp file left


def test_load_round_trip(store_path: Path) -> None:
    store = SecretStore.load(store_path, env={})
    values = file_values(store_path)
    for name in NAMES:
        assert store.get(name) == values[name]
        assert store.source(name) == "file"
    assert sorted(store.values()) == sorted(values.values())
    assert store.md5("gitlab_db_password") == pg_md5(values["gitlab_db_password"], "gitlab")
    assert store.md5("praefect_db_password") == pg_md5(values["praefect_db_password"], "praefect")


def test_load_uses_os_environ_by_default(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITLAB_HA_SECRET_REDIS_PASSWORD", "fromtheenvironment123")
    store = SecretStore.load(store_path)
    assert store.get("redis_password") == "fromtheenvironment123"
    assert store.source("redis_password") == "env:GITLAB_HA_SECRET_REDIS_PASSWORD"


def test_init_refuses_existing_file(store_path: Path) -> None:
    before = store_path.read_bytes()
    with pytest.raises(InputError) as exc:
        SecretStore.init(store_path, env={})
    assert exc.value.where == str(store_path)
    assert store_path.read_bytes() == before


def test_init_refuses_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "secrets.json"
    link.symlink_to(tmp_path / "nowhere.json")
    with pytest.raises(InputError):
        SecretStore.init(link, env={})
    assert not (tmp_path / "nowhere.json").exists()


def test_env_overrides_file(store_path: Path) -> None:
    env = {"GITLAB_HA_SECRET_GITLAB_DB_PASSWORD": "test1"}
    store = SecretStore.load(store_path, env=env)
    assert store.get("gitlab_db_password") == "test1"
    assert store.md5("gitlab_db_password") == "8ea51d17cfa0fe1bb503ada4f7f1c68f"
    assert store.source("gitlab_db_password") == "env:GITLAB_HA_SECRET_GITLAB_DB_PASSWORD"
    assert store.source("redis_password") == "file"
    # both the value in use and the overridden one count as secrets
    assert "test1" in store.values()
    assert file_values(store_path)["gitlab_db_password"] in store.values()


def test_init_with_env_records_nothing_for_env_secrets(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    env = {"GITLAB_HA_SECRET_REDIS_PASSWORD": "redispasswordfromvault"}
    store = SecretStore.init(path, env=env)
    assert "redis_password" not in file_values(path)
    assert set(file_values(path)) == set(NAMES) - {"redis_password"}
    assert store.get("redis_password") == "redispasswordfromvault"
    assert store.source("redis_password") == "env:GITLAB_HA_SECRET_REDIS_PASSWORD"
    # without the env var the store is incomplete: a loud error, never a silently different value
    with pytest.raises(InputError) as exc:
        SecretStore.load(path, env={})
    assert "GITLAB_HA_SECRET_REDIS_PASSWORD" in str(exc.value)
    assert exc.value.where == str(path)
    assert SecretStore.load(path, env=env).get("redis_password") == "redispasswordfromvault"


def test_rotate_changes_exactly_one_value(store_path: Path) -> None:
    before = json.loads(store_path.read_text(encoding="utf-8"))
    SecretStore.rotate(store_path, "redis_password", env={})
    after = json.loads(store_path.read_text(encoding="utf-8"))
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    assert after["created"] == before["created"]
    changed = [n for n in NAMES if before["secrets"][n] != after["secrets"][n]]
    assert changed == ["redis_password"]
    assert after["secrets"]["redis_password"]["value"] != before["secrets"]["redis_password"]["value"]


def test_rotate_refused_while_env_var_set(store_path: Path) -> None:
    before = store_path.read_bytes()
    with pytest.raises(InputError) as exc:
        SecretStore.rotate(store_path, "redis_password", env={"GITLAB_HA_SECRET_REDIS_PASSWORD": "abcdefgh"})
    assert exc.value.where == "GITLAB_HA_SECRET_REDIS_PASSWORD"
    assert store_path.read_bytes() == before


def test_rotate_fills_a_missing_entry(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    SecretStore.init(path, env={"GITLAB_HA_SECRET_CONSUL_GOSSIP_KEY": "kQ2Yl0sKH8R4lBmr1i8VDw=="})
    SecretStore.rotate(path, "consul_gossip_key", env={})
    assert SecretStore.load(path, env={}).source("consul_gossip_key") == "file"


def test_rotate_unknown_name(store_path: Path) -> None:
    with pytest.raises(InputError, match="unknown secret 'nope'"):
        SecretStore.rotate(store_path, "nope", env={})


def test_get_unknown_name_is_input_error(store_path: Path) -> None:
    store = SecretStore.load(store_path, env={})
    with pytest.raises(InputError, match="unknown secret"):
        store.get("root_password")
    with pytest.raises(InputError, match="no PostgreSQL user"):
        store.md5("redis_password")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o620])
def test_group_or_world_access_refused(store_path: Path, mode: int) -> None:
    os.chmod(store_path, mode)
    with pytest.raises(InputError) as exc:
        SecretStore.load(store_path, env={})
    assert exc.value.where == str(store_path)
    assert "chmod 600" in exc.value.message


def test_missing_store(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="secrets init") as exc:
        SecretStore.load(tmp_path / "absent.json", env={})
    assert exc.value.where == str(tmp_path / "absent.json")


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    os.chmod(path, 0o600)


def _doc(path: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.pop("created"), "created"),
        (lambda d: d.update(secrets=[]), "'secrets'"),
        (lambda d: d.update(extra=1), "unknown field"),
        (lambda d: d["secrets"].update(root_password={"value": "x", "generated_at": None}), "root_password"),
        (lambda d: d["secrets"].pop("redis_password"), "GITLAB_HA_SECRET_REDIS_PASSWORD"),
        (lambda d: d["secrets"].update(redis_password="flat"), "secrets.redis_password"),
        (lambda d: d["secrets"]["redis_password"].update(value=5), "secrets.redis_password"),
        (lambda d: d["secrets"]["redis_password"].update(value=""), "empty"),
        (lambda d: d["secrets"]["redis_password"].update(value="has space"), "whitespace"),
        (lambda d: d["secrets"]["redis_password"].update(value="pa:ss@word"), "need quoting"),
        (lambda d: d["secrets"]["consul_gossip_key"].update(value="not-base64!"), "base64"),
        (lambda d: d["secrets"]["consul_gossip_key"].update(value="AAAA"), "bytes"),
    ],
)
def test_bad_store_content(store_path: Path, mutate: object, message: str) -> None:
    data = _doc(store_path)
    assert callable(mutate)
    mutate(data)
    _write(store_path, json.dumps(data))
    with pytest.raises(InputError) as exc:
        SecretStore.load(store_path, env={})
    assert message in str(exc.value)
    assert str(store_path) in str(exc.value)


@pytest.mark.parametrize("text", ["", "{", "[]", "not json", '{"version": 1,}'])
def test_malformed_json(store_path: Path, text: str) -> None:
    _write(store_path, text)
    with pytest.raises(InputError, match="secrets store") as exc:
        SecretStore.load(store_path, env={})
    assert exc.value.where == str(store_path)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GITLAB_HA_SECRET_REDIS_PASWORD": "abcdefgh"}, "unknown secret environment variable"),
        ({"GITLAB_HA_SECRET_REDIS_PASSWORD": ""}, "empty"),
        ({"GITLAB_HA_SECRET_REDIS_PASSWORD": "it's-a-secret"}, "need quoting"),
        ({"GITLAB_HA_SECRET_CONSUL_GOSSIP_KEY": "c2hvcnQ="}, "16, 24 or 32"),
    ],
)
def test_bad_env_values(store_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as exc:
        SecretStore.load(store_path, env=env)
    assert message in str(exc.value)
    for value in env.values():
        if value:
            assert value not in str(exc.value)


def test_errors_and_repr_never_show_values(store_path: Path) -> None:
    store = SecretStore.load(store_path, env={})
    for value in store.values():
        assert value not in repr(store)
    data = _doc(store_path)
    secret = "p4ss#word-with-hash"
    data["secrets"]["redis_password"]["value"] = secret  # type: ignore[index]
    _write(store_path, json.dumps(data))
    with pytest.raises(InputError) as exc:
        SecretStore.load(store_path, env={})
    assert secret not in str(exc.value)
