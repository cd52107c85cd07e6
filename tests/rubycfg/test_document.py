"""Document.get / flat / to_python: the configuration a file leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitlab_ha.errors import InputError
from gitlab_ha.rubycfg import Hash, Str, Sym, format_key, parse, parse_file, parse_key

TEXT = """\
gitlab_rails['db_host'] = '10.0.0.1'
gitlab_rails['db_host'] = '10.0.0.2'
praefect['configuration'] = {
  listen_addr: '0.0.0.0:2305',
  auth: { token: 'x' },
  virtual_storage: [{ name: 'default' }],
}
praefect['configuration']['auth']['transitioning'] = false
patroni['postgresql']['max_wal_senders'] = 5
patroni[:postgresql][:max_replication_slots] = 4
redis_exporter['flags'] = { 'redis.addr' => 'redis://a:6379' }
consul['configuration'] = { retry_join: %w(a b) }
consul['configuration'] = { server: true }
empty['hash'] = {}
"""


@pytest.fixture(scope="module")
def doc() -> object:
    return parse(TEXT, "gitlab.rb")


def test_later_assignments_win() -> None:
    node = parse(TEXT).get("gitlab_rails['db_host']")
    assert isinstance(node, Str)
    assert node.value == "10.0.0.2"
    assert node.loc.line == 2


def test_get_accepts_a_tuple_or_any_key_spelling() -> None:
    d = parse(TEXT)
    assert d.get(("gitlab_rails", "db_host")) is d.get("gitlab_rails['db_host']")
    assert d.get('gitlab_rails["db_host"]') is d.get("gitlab_rails[:db_host]")


def test_get_sees_into_hash_literals() -> None:
    d = parse(TEXT)
    token = d.get(("praefect", "configuration", "auth", "token"))
    assert token is not None
    assert token.to_python() == "x"
    assert token.loc.line == 5
    listen = d.get("praefect['configuration']['listen_addr']")
    assert listen is not None
    assert listen.to_python() == "0.0.0.0:2305"


def test_nested_assignment_updates_a_hash_literal() -> None:
    d = parse(TEXT)
    auth = d.get(("praefect", "configuration", "auth"))
    assert isinstance(auth, Hash)
    assert auth.synthetic
    assert auth.to_python() == {Sym("token"): "x", "transitioning": False}
    whole = d.get("praefect['configuration']")
    assert whole is not None
    assert whole.to_python()["listen_addr"] == "0.0.0.0:2305"


def test_hash_reassignment_replaces_the_whole_hash() -> None:
    d = parse(TEXT)
    assert d.get("consul['configuration']['retry_join']") is None
    server = d.get("consul['configuration']['server']")
    assert server is not None
    assert server.to_python() is True


def test_missing_keys() -> None:
    d = parse(TEXT)
    assert d.get("nothing['here']") is None
    assert d.get("gitlab_rails['db_host']['deeper']") is None
    assert d.get("praefect['configuration']['virtual_storage']['name']") is None


def test_parent_of_nested_assignments_is_synthesised() -> None:
    d = parse(TEXT)
    node = d.get("patroni['postgresql']")
    assert isinstance(node, Hash)
    assert node.to_python() == {"max_wal_senders": 5, "max_replication_slots": 4}


def test_flat() -> None:
    flat = parse(TEXT).flat()
    assert list(flat) == [
        "gitlab_rails['db_host']",
        "praefect['configuration']['listen_addr']",
        "praefect['configuration']['auth']['token']",
        "praefect['configuration']['auth']['transitioning']",
        "praefect['configuration']['virtual_storage']",
        "patroni['postgresql']['max_wal_senders']",
        "patroni['postgresql']['max_replication_slots']",
        "redis_exporter['flags']['redis.addr']",
        "consul['configuration']['server']",
        "empty['hash']",
    ]
    assert flat["gitlab_rails['db_host']"].to_python() == "10.0.0.2"
    assert flat["praefect['configuration']['virtual_storage']"].to_python() == [{"name": "default"}]
    assert flat["empty['hash']"].to_python() == {}


def test_to_python() -> None:
    config = parse(TEXT).to_python()
    assert config["gitlab_rails"] == {"db_host": "10.0.0.2"}
    assert config["patroni"] == {"postgresql": {"max_wal_senders": 5, "max_replication_slots": 4}}


def test_or_assign_only_sets_unset_keys() -> None:
    d = parse("a['x'] = 1\na['x'] ||= 2\na['y'] ||= 3\n")
    assert d.to_python() == {"a": {"x": 1, "y": 3}}


def test_op_assign_makes_the_value_opaque() -> None:
    node = parse("a['x'] = 1\na['x'] += 2\n").get("a['x']")
    assert node is not None
    assert node.to_python() == "a['x'] += 2"


def test_key_helpers() -> None:
    assert parse_key("gitlab_rails['object_store']['objects']") == ("gitlab_rails", "object_store", "objects")
    assert parse_key(("a", "b")) == ("a", "b")
    assert format_key(("x", "it's")) == "x['it\\'s']"
    with pytest.raises(ValueError):
        parse_key("not a key")
    with pytest.raises(ValueError):
        parse_key("x.y")


def test_source_of_a_node() -> None:
    d = parse("x = [1,\n  2]\n")
    assert d.source(d.assignments[0].value) == "[1,\n  2]"


def test_parse_file(tmp_path: Path) -> None:
    path = tmp_path / "gitlab.rb"
    path.write_bytes(b"a = 'caf\xc3\xa9'\nb = '\xff'\n")
    d = parse_file(path)
    assert d.filename == str(path)
    assert d.to_python() == {"a": "café", "b": "\ufffd"}
    assert d.assignments[0].loc.file == str(path)
    with pytest.raises(InputError):
        parse_file(tmp_path / "missing.rb")
