"""One test per value construct: what the parser reads and what `to_python()` gives."""

from __future__ import annotations

from typing import Any

import pytest

from gitlab_ha.rubycfg import Array, Expr, Hash, Int, Str, Sym, Symbol, Value, Words, parse


def value_of(source: str) -> Value:
    doc = parse(f"x = {source}\n")
    assert len(doc.assignments) == 1
    return doc.assignments[0].value


def py(source: str) -> Any:
    return value_of(source).to_python()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("'plain'", "plain"),
        (r"'it\'s'", "it's"),
        (r"'back\\slash'", "back\\slash"),
        (r"'keeps \n as two chars'", "keeps \\n as two chars"),
        ('"tab\\tnewline\\n"', "tab\tnewline\n"),
        ('"quote \\" inside"', 'quote " inside'),
        ('"\\u00e9\\u{1F600}\\x41\\101\\s\\e"', "é😀AA \x1b"),
        ('"한국어"', "한국어"),
        ("''", ""),
        ("%q(single 'quoted' (nested))", "single 'quoted' (nested)"),
        ('%Q[double "quoted" \\t]', 'double "quoted" \t'),
        ("%(bare)", "bare"),
        ("'multi\nline'", "multi\nline"),
        ("'a' 'b'", "ab"),
    ],
)
def test_strings(source: str, expected: str) -> None:
    node = value_of(source)
    assert isinstance(node, Str)
    assert node.to_python() == expected
    assert not node.interpolated


def test_interpolation_is_kept_as_raw_text_and_flagged() -> None:
    node = value_of('"host-#{node["name"]}.#{ENV[\'D\']}:#{1 + {a: 1}[:a]}"')
    assert isinstance(node, Str)
    assert node.interpolated
    assert node.value == "host-#{node[\"name\"]}.#{ENV['D']}:#{1 + {a: 1}[:a]}"
    plain = value_of("'#{not interpolated}'")
    assert isinstance(plain, Str)
    assert not plain.interpolated
    assert plain.value == "#{not interpolated}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("42", 42),
        ("-7", -7),
        ("1_000_000", 1_000_000),
        ("0x1F", 31),
        ("0b101", 5),
        ("0755", 0o755),
        ("0o17", 15),
        ("1.5", 1.5),
        ("-2.5e3", -2500.0),
        ("1e-3", 0.001),
        ("+3", 3),
    ],
)
def test_numbers(source: str, expected: float) -> None:
    node = value_of(source)
    assert node.to_python() == expected
    assert type(node.to_python()) is type(expected)


@pytest.mark.parametrize(("source", "expected"), [("true", True), ("false", False), ("nil", None)])
def test_keywords(source: str, expected: bool | None) -> None:
    assert py(source) is expected


def test_symbols() -> None:
    node = value_of(":foo")
    assert isinstance(node, Symbol)
    assert node.name == "foo"
    assert py(":foo") == Sym("foo")
    assert isinstance(py(":foo"), Sym)
    assert py(":'with space'") == "with space"
    assert py(':"dq"') == "dq"
    assert py(":ready?") == "ready?"


def test_arrays() -> None:
    assert py("[]") == []
    assert py("[1, 'a', :b, nil, [true]]") == [1, "a", Sym("b"), None, [True]]
    assert py("[\n  1,\n  2, # comment\n  3,\n]") == [1, 2, 3]
    assert py("[1,\n2]") == [1, 2]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%w(a b c)", ["a", "b", "c"]),
        ("%w[10.0.0.1 10.0.0.2]", ["10.0.0.1", "10.0.0.2"]),
        ("%w{x}", ["x"]),
        ("%w<x y>", ["x", "y"]),
        ("%w|x y|", ["x", "y"]),
        ("%w()", []),
        ("%w(\n  multi\n  line\n)", ["multi", "line"]),
        ("%W(a b)", ["a", "b"]),
    ],
)
def test_word_arrays(source: str, expected: list[str]) -> None:
    node = value_of(source)
    assert isinstance(node, Array)
    assert node.to_python() == expected
    assert isinstance(node.to_python(), Words)


def test_symbol_arrays() -> None:
    assert py("%i(a b)") == [Sym("a"), Sym("b")]
    assert all(isinstance(item, Sym) for item in py("%I[a b]"))


@pytest.mark.parametrize(
    "source",
    [
        "{ key: 1 }",
        "{ 'key': 1 }",
        '{ "key": 1 }',
        "{ :key => 1 }",
    ],
)
def test_symbol_key_forms(source: str) -> None:
    result = py(source)
    assert result == {"key": 1}
    assert isinstance(next(iter(result)), Sym)


@pytest.mark.parametrize("source", ["{ 'key' => 1 }", '{ "key" => 1 }'])
def test_string_key_forms(source: str) -> None:
    result = py(source)
    assert result == {"key": 1}
    assert type(next(iter(result))) is str


def test_hash_nesting_comments_and_trailing_commas() -> None:
    source = """{
      listen_addr: '0.0.0.0:2305', # a comment
      auth: {
        token: 'test123',  ## another
      },
      'redis.addr' => 'redis://10.10.1.139:6379',
      1 => [ { 'host' => 'a', 'port' => 26379 }, ],
    }"""
    assert py(source) == {
        "listen_addr": "0.0.0.0:2305",
        "auth": {"token": "test123"},
        "redis.addr": "redis://10.10.1.139:6379",
        1: [{"host": "a", "port": 26379}],
    }
    node = value_of(source)
    assert isinstance(node, Hash)
    assert node.keys() == ["listen_addr", "auth", "redis.addr", "1"]
    assert node.get("auth") is not None
    assert [pair.style for pair in node.pairs] == ["label", "label", "arrow", "arrow"]


def test_empty_hash() -> None:
    assert py("{}") == {}


def test_heredocs() -> None:
    doc = parse(
        "a = <<~EOS\n  main:\n    label: 'LDAP'\nEOS\n"
        "b = YAML.load <<-'EOS'\n  raw #{x} \\n\n  EOS\n"
        'c = <<EOS.strip\nline "#{1}"\nEOS\n'
    )
    a, b, c = doc.assignments
    assert a.value.to_python() == "main:\n  label: 'LDAP'\n"
    assert isinstance(b.value, Expr)
    assert b.value.kind == "method"
    heredoc = b.value.children[1]
    assert isinstance(heredoc, Str)
    assert heredoc.value == "  raw #{x} \\n\n"
    assert not heredoc.interpolated
    assert isinstance(c.value, Expr)
    body = c.value.children[0]
    assert isinstance(body, Str)
    assert body.interpolated


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("['*'] * 2", ["*", "*"]),
        ("1024 * 1024", 1048576),
        ("200 * 1024 * 1024", 209715200),
        ("24 * 60 * 60", 86400),
        ("2 ** 10", 1024),
        ("7 / 2", 3),
        ("-7 / 2", -4),
        ("7 % 3", 1),
        ("1 + 2.5", 3.5),
        ("(1 + 2) * 3", 9),
        ("'a' + 'b'", "ab"),
        ("'ab' * 2", "abab"),
        ("[1] + [2]", [1, 2]),
        ("nil || 'default'", "default"),
        ("true ? 1 : 2", 1),
        ("-(3)", -3),
        ("!nil", True),
        ("'x'.freeze", "x"),
        ("1 == 1", True),
    ],
)
def test_computed_expressions(source: str, expected: Any) -> None:
    node = value_of(source)
    assert isinstance(node, Expr)
    assert node.computed
    assert node.to_python() == expected
    assert node.source == source


@pytest.mark.parametrize(
    "source",
    [
        "ENV['X']",
        "ENV.fetch('X', 'y')",
        "File.read('/x').strip",
        "File.read('/etc/gitlab/token').strip.chomp",
        "ENV['A'] || 'b'",
        "node['fqdn']",
        "Gitlab::Util.get_env('X')",
        "::File.exist?('/x')",
        "1 / 0",
        "10 ** 100000",
        "['*'] * 100000000",
        "x.y&.z",
        "[ENV['A']] * 2",
        "a ? 1 : 2",
        "/regex/i",
        "%r{a/b}",
        "@ivar",
        "$gvar",
        "1..5",
        "foo(*args, **opts, &blk)",
        "Integer('3')",
    ],
)
def test_opaque_expressions_keep_their_source(source: str) -> None:
    node = value_of(source)
    assert isinstance(node, Expr)
    assert not node.computed
    assert node.source == source
    assert node.to_python() == source


def test_method_chain_across_lines() -> None:
    node = value_of("File.read('/x')\n  .strip\n  .downcase")
    assert isinstance(node, Expr)
    assert node.kind == "method"
    assert node.name == "downcase"


def test_expression_tree_shape() -> None:
    node = value_of("ENV['X']")
    assert isinstance(node, Expr)
    assert node.kind == "index"
    receiver, key = node.children
    assert isinstance(receiver, Expr)
    assert receiver.kind == "const"
    assert receiver.name == "ENV"
    assert isinstance(key, Str)
    assert key.value == "X"


def test_integer_node_type() -> None:
    node = value_of("-5")
    assert isinstance(node, Int)
    assert node.value == -5
