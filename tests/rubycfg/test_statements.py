"""Statements: assignments, calls with and without parentheses, separators, comments, modifiers."""

from __future__ import annotations

import pytest

from gitlab_ha.rubycfg import Assignment, Call, ExprStatement, Hash, RubySyntaxError, Sym, parse


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("x['a']['b'] = 1", ("x", "a", "b")),
        ('x["a"]["b"] = 1', ("x", "a", "b")),
        ("x['a'][:b] = 1", ("x", "a", "b")),
        ("x[:a] = 1", ("x", "a")),
        ("local = 1", ("local",)),
        ("x['it\\'s'] = 1", ("x", "it's")),
    ],
)
def test_assignment_targets(source: str, path: tuple[str, ...]) -> None:
    (statement,) = parse(source).assignments
    assert statement.target.path == path
    assert statement.value.to_python() == 1


def test_target_text_is_gitlab_rb_form() -> None:
    (statement,) = parse('patroni[:postgresql]["max_wal_senders"] = 5').assignments
    assert statement.target.text == "patroni['postgresql']['max_wal_senders']"
    assert str(statement.target) == statement.target.text


@pytest.mark.parametrize(
    ("source", "name", "args", "parens"),
    [
        ("roles ['a', 'b']", "roles", [["a", "b"]], False),
        ("roles(['a'])", "roles", [["a"]], True),
        ("roles %w(a b)", "roles", [["a", "b"]], False),
        ("roles 'a', 'b'", "roles", ["a", "b"], False),
        ("external_url 'https://x'", "external_url", ["https://x"], False),
        ("external_url('https://x')", "external_url", ["https://x"], True),
        ("git_data_dirs({ 'default' => { 'path' => '/d' } })", "git_data_dirs", [{"default": {"path": "/d"}}], True),
        ("from_file '/etc/gitlab/extra.rb'", "from_file", ["/etc/gitlab/extra.rb"], False),
        ("some_call", "some_call", [], False),
        ("some_call()", "some_call", [], True),
        ("configure a: 1, 'b' => 2", "configure", [{"a": 1, "b": 2}], False),
        ("configure(1,\n  key: :v,\n)", "configure", [1, {"key": Sym("v")}], True),
        ("roles [\n  'a',\n  'b',\n]", "roles", [["a", "b"]], False),
        ("roles :a, :b", "roles", ["a", "b"], False),
    ],
)
def test_calls(source: str, name: str, args: list[object], parens: bool) -> None:
    (call,) = parse(source).calls
    assert call.name == name
    assert [arg.to_python() for arg in call.args] == args
    assert call.parens is parens


def test_keyword_arguments_become_a_braceless_hash() -> None:
    (call,) = parse("foo 1, a: 2").calls
    last = call.args[-1]
    assert isinstance(last, Hash)
    assert not last.braces


def test_separators_and_comments() -> None:
    doc = parse("a = 1; b = 2 # c = 3\n\n\n# d = 4\ne = 5;;\n")
    assert [s.target.base for s in doc.assignments] == ["a", "b", "e"]


def test_embedded_documentation_is_skipped() -> None:
    doc = parse("=begin\nx = {{{ broken\n=end\na = 1\n=begin\n=end trailing words\nb = 2\n")
    assert [s.target.base for s in doc.assignments] == ["a", "b"]


def test_end_marker_stops_the_file() -> None:
    assert [s.target.base for s in parse("a = 1\n__END__\n{{{ not ruby").assignments] == ["a"]


def test_line_continuation() -> None:
    (statement,) = parse("x['a'] =\n  1 +\n  2\n").assignments
    assert statement.value.to_python() == 3
    (statement,) = parse("x = 1 \\\n + 2").assignments
    assert statement.value.to_python() == 3


def test_modifiers_are_kept() -> None:
    doc = parse("x['a'] = 1 if ENV['A']\nroles ['r'] unless false\n")
    (assignment,) = doc.assignments
    assert assignment.keyword == "if"
    assert assignment.condition is not None
    (call,) = doc.calls
    assert call.keyword == "unless"


def test_operator_assignments() -> None:
    doc = parse("x['a'] ||= 1\nx['b'] += 2\n")
    assert [a.op for a in doc.assignments] == ["||=", "+="]


def test_other_expressions_are_expression_statements() -> None:
    doc = parse("x['list'] << 'item'\nFile.write('/x', 'y')\n")
    assert all(isinstance(s, ExprStatement) for s in doc.statements)
    assert doc.assignments == ()
    assert doc.calls == ()


def test_statement_kinds() -> None:
    doc = parse("a = 1\nroles ['x']\nFoo.bar\n")
    assert [type(s) for s in doc.statements] == [Assignment, Call, ExprStatement]


@pytest.mark.parametrize(
    "source",
    [
        "if x\n  y = 1\nend",
        "def foo; end",
        "[1].each { |x| x }",
        "[1].each do |x| end",
        "foo = -> { 1 }",
        "`rm -rf /`",
        "x = {a:}",
        "class Foo; end",
    ],
)
def test_unsupported_constructs_are_syntax_errors(source: str) -> None:
    with pytest.raises(RubySyntaxError):
        parse(source)


def test_roles() -> None:
    doc = parse("roles ['redis_master_role', :consul_role]\nroles('patroni_role')\nx = 1\n")
    assert [role.name for role in doc.roles()] == ["redis_master_role", "consul_role", "patroni_role"]
    first = doc.roles()[0]
    assert (first.loc.line, first.loc.column) == (1, 8)
    assert str(first) == "redis_master_role"
