"""Syntax errors: RubySyntaxError with file, line, column and an expected/found message."""

from __future__ import annotations

import pickle

import pytest

from gitlab_ha.errors import InputError
from gitlab_ha.rubycfg import RubySyntaxError, parse


def error_of(source: str) -> RubySyntaxError:
    with pytest.raises(RubySyntaxError) as info:
        parse(source, "f.rb")
    return info.value


@pytest.mark.parametrize(
    ("source", "line", "column", "message"),
    [
        ("x = [1, 2", 1, 10, "expected ']' to close '[' opened at line 1, found end of file"),
        ("x = {a: 1", 1, 10, "expected '}' to close '{' opened at line 1, found end of file"),
        ("x = {\n  a: [1,\n  }\n", 3, 3, "expected ']' to close '[' opened at line 2, found '}'"),
        ("x = {a: 1 b: 2}", 1, 11, "expected ',' or '}' (to close '{' opened at line 1), found label b:"),
        ("x = (1", 1, 7, "expected ')' to close '(' opened at line 1, found end of file"),
        ("foo(1, 2]", 1, 9, "expected ')' to close '(' opened at line 1, found ']'"),
        ('x = "abc', 1, 5, "unterminated string: no closing '\"'"),
        ("a = 1\nx = 'abc", 2, 5, 'unterminated string: no closing "\'"'),
        ("x = %w(a b", 1, 7, "unterminated string: no closing ')'"),
        ('x["a"] = ', 1, 10, "expected a value, found end of file"),
        ("x = 1 +\n", 2, 1, "expected a value, found end of file"),
        ("x = ]", 1, 5, "expected a value, found ']'"),
        ("x = <<~E\nabc\n", 1, 5, "unterminated heredoc <<~E: no line 'E'"),
        ("=begin\nabc", 1, 1, "unterminated '=begin' block: no '=end' line"),
        ("x = \u00a0 1", 1, 5, "unexpected character '\\xa0' (NO-BREAK SPACE)"),
        ("x = 08", 1, 5, "invalid octal digit"),
        ("x = 1_", 1, 6, "trailing '_' in number"),
        ("x = {a: 1, b: }", 1, 15, "expected a value after 'b:', found '}'"),
        ("x = {1 2}", 1, 8, "expected '=>' after the hash key, found integer 2"),
        ("1 = 2", 1, 1, "cannot assign to '1'"),
        ("x = 1 2", 1, 7, "expected end of line after the statement, found integer 2"),
        ("a = 1\n  if x\n", 2, 3, "unsupported Ruby construct 'if'"),
    ],
)
def test_error_messages(source: str, line: int, column: int, message: str) -> None:
    error = error_of(source)
    assert (error.file, error.line, error.column) == ("f.rb", line, column)
    assert error.message.startswith(message)
    assert str(error) == f"f.rb:{line}:{column}: {error.message}"


def test_is_an_input_error() -> None:
    error = error_of("x = [")
    assert isinstance(error, InputError)
    assert error.where == "f.rb:1:6"
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.file, copy.line, copy.column, copy.message) == (error.file, error.line, error.column, error.message)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    assert "nested" in error_of("x = " + "[" * 500 + "1" + "]" * 500).message
    assert "nested" in error_of("x = " + "-" * 500 + "1").message
    assert "nested" in error_of("x = " + "2 ** " * 500 + "2").message
    assert "nested" in error_of('x = "' + '#{"' * 200 + "").message


def test_recovery_collects_several_errors() -> None:
    source = "a = [1,\nb = 2\nc = {\n  x: 1\n  y: 2\n}\nd = 'ok'\ne = (\nf = 3\n"
    doc = parse(source, "f.rb", recover=True)
    assert [(e.line, e.column) for e in doc.errors] == [(2, 3), (5, 3), (9, 3)]
    assert [s.target.base for s in doc.assignments] == ["d"]
    assert not doc.ok


def test_recovery_with_no_error() -> None:
    doc = parse("a = 1\n", recover=True)
    assert doc.ok
    assert doc.errors == ()


def test_first_error_is_raised_without_recovery() -> None:
    assert error_of("a = [\nb = {\n").line == 2
