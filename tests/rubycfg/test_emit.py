"""The emitter: exact text, `ruby -c` acceptance, and emit → parse round trips (hypothesis)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitlab_ha.rubycfg import Sym, Words, assign, call, parse, to_ruby
from gitlab_ha.rubycfg.emit import key_path, ruby_string

RUBY = shutil.which("ruby")


def test_scalars() -> None:
    assert to_ruby(None) == "nil"
    assert to_ruby(True) == "true"
    assert to_ruby(False) == "false"
    assert to_ruby(6432) == "6432"
    assert to_ruby(-1) == "-1"
    assert to_ruby(0.5) == "0.5"
    assert to_ruby("it's a \\ path") == "'it\\'s a \\\\ path'"
    assert to_ruby(Sym("a")) == ":a"
    assert to_ruby(Sym("a-b")) == ":'a-b'"


def test_strings_are_single_quoted() -> None:
    assert ruby_string('say "#{x}"\n') == "'say \"#{x}\"\n'"


def test_hashes_and_arrays_layout() -> None:
    value = {
        Sym("listen_addr"): "0.0.0.0:2305",
        Sym("my-key"): 1,
        "redis.addr": "redis://a",
        Sym("auth"): {Sym("token"): "x"},
        Sym("retry_join"): Words(["10.0.0.1", "10.0.0.2"]),
        Sym("nodes"): [{Sym("storage"): "gitaly-1"}],
        Sym("empty"): {},
        Sym("list"): ["a", 1, None],
    }
    assert to_ruby(value) == (
        "{\n"
        "  listen_addr: '0.0.0.0:2305',\n"
        "  'my-key': 1,\n"
        "  'redis.addr' => 'redis://a',\n"
        "  auth: {\n"
        "    token: 'x',\n"
        "  },\n"
        "  retry_join: %w(10.0.0.1 10.0.0.2),\n"
        "  nodes: [\n"
        "    {\n"
        "      storage: 'gitaly-1',\n"
        "    },\n"
        "  ],\n"
        "  empty: {},\n"
        "  list: ['a', 1, nil],\n"
        "}"
    )


def test_long_arrays_go_one_item_per_line() -> None:
    items = [f"10.10.1.{n}" for n in range(20)]
    text = to_ruby(items)
    assert text.startswith("[\n  '10.10.1.0',\n")
    assert text.endswith("  '10.10.1.19',\n]")


def test_words_that_cannot_be_a_word_list() -> None:
    assert to_ruby(Words(["a b", "c"])) == "['a b', 'c']"
    assert to_ruby(Words(["(x)"])) == "['(x)']"
    assert to_ruby(Words([])) == "%w()"


def test_assign_and_call() -> None:
    assert assign("gitlab_rails", ("db_host",), "10.0.0.1") == "gitlab_rails['db_host'] = '10.0.0.1'"
    assert assign("patroni", ("postgresql", "max_wal_senders"), 5) == "patroni['postgresql']['max_wal_senders'] = 5"
    assert call("roles", ["a", "b"]) == "roles(['a', 'b'])"
    assert call("external_url", "https://x") == "external_url('https://x')"
    assert key_path("x", ("it's",)) == "x['it\\'s']"


@pytest.mark.parametrize(
    "bad",
    [lambda: to_ruby(float("nan")), lambda: to_ruby(object()), lambda: assign("not ok", (), 1), lambda: call("x y")],
)
def test_refuses_what_has_no_ruby_literal(bad: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        bad()


# -- round trips ------------------------------------------------------------------------------------

keys = st.text(min_size=1, max_size=12)
identifiers = st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    identifiers.map(Sym),
)
words = st.lists(st.from_regex(r"[A-Za-z0-9./:_-]{1,12}", fullmatch=True), max_size=5).map(Words)
values = st.recursive(
    scalars | words,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(keys, keys.map(Sym), st.integers(-5, 5)), inner, max_size=4),
    ),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal, with the types that matter kept: Sym vs str, Words vs list, int vs float vs bool."""
    if isinstance(a, dict):
        return (
            isinstance(b, dict)
            and list(a) == list(b)
            and all(type(x) is type(y) for x, y in zip(a, b, strict=True))
            and all(same(a[k], b[k]) for k in a)
        )
    if isinstance(a, list):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values)
def test_emit_then_parse_round_trips(value: Any) -> None:
    text = assign("x", ("key",), value)
    parsed = parse(text).get("x['key']")
    assert parsed is not None
    assert same(value, parsed.to_python()), text


@settings(max_examples=100, deadline=None)
@given(name=identifiers, args=st.lists(values, max_size=3))
def test_call_round_trips(name: str, args: list[Any]) -> None:
    (parsed,) = parse(call(name, *args)).calls
    assert parsed.name == name
    assert parsed.parens
    assert all(same(a, p.to_python()) for a, p in zip(args, parsed.args, strict=True))


@pytest.mark.skipif(RUBY is None, reason="ruby is not installed")
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(values, min_size=150, max_size=150))
def test_ruby_accepts_emitted_text(tmp_path: Path, batch: list[Any]) -> None:
    """One `ruby -c` run over a file of 150 random values (plus a fixed sample of every construct)."""
    fixed = {
        Sym("a"): [1, -2.5, None, True, {}, []],
        Sym("my-key"): Words(["x", "y"]),
        "it's": {1: Sym("odd-sym"), "k": "back\\slash\n"},
    }
    lines = [assign("fixed", ("v",), fixed), call("roles", ["a_role", "b_role"])]
    lines += [assign("gitlab_rails", (f"k{n}",), value) for n, value in enumerate(batch)]
    path = tmp_path / "gitlab.rb"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert RUBY is not None
    result = subprocess.run([RUBY, "-c", str(path)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "Syntax OK" in result.stdout
    doc = parse(path.read_text(encoding="utf-8"))
    for n, value in enumerate(batch):
        node = doc.get(("gitlab_rails", f"k{n}"))
        assert node is not None
        assert same(value, node.to_python())
