"""Deterministic Ruby literal text from Python values, for rendered gitlab.rb files.

The output is plain data Ruby (no method calls other than the one written by `call`), passes `ruby -c`,
and reads back to the same Python value through `gitlab_ha.rubycfg.parse(...)` and `.to_python()`.

Layout rules, so renders diff cleanly:

- strings are always single-quoted; only `\\` and `'` are escaped (a newline stays a newline);
- a non-empty hash is always written one entry per line, indented two spaces, with a trailing comma;
- an array of scalars is written on one line when it fits in `INLINE_WIDTH` characters, otherwise
  (or when it holds a hash or a non-empty array) one item per line with a trailing comma;
- `Sym` keys are written `key: value` (`'my-key': value` when not a plain identifier), `str` keys
  `'key' => value`;
- a `Words` list is written `%w(a b c)` when every word can be (non-empty, no whitespace, no
  parenthesis or backslash), otherwise as an ordinary array.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["INLINE_WIDTH", "Sym", "Words", "assign", "call", "key_path", "ruby_string", "to_ruby"]

INLINE_WIDTH = 100
"""Arrays of scalars whose one-line form is longer than this are written one item per line."""

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_WORD = re.compile(r"[^\s()\\]+\Z")


class Sym(str):
    """A Ruby symbol. As a hash key it is written `key: value`; as a value `:key`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Sym({str.__repr__(self)})"


class Words(list[str]):
    """A list of strings written as a `%w(...)` word array."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Words({list.__repr__(self)})"


def ruby_string(text: str) -> str:
    """`text` as a single-quoted Ruby string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _symbol(name: str) -> str:
    if _IDENT.match(name):
        return ":" + name
    return ":" + ruby_string(name)


def _scalar(value: Any) -> str | None:
    """The Ruby text of a scalar, or None if `value` is a container."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Sym):
        return _symbol(value)
    if isinstance(value, str):
        return ruby_string(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no Ruby literal")
        return repr(value)
    return None


def _is_empty_container(value: Any) -> bool:
    return isinstance(value, (Mapping, list, tuple)) and len(value) == 0


def _key(key: Any) -> str:
    if isinstance(key, Sym):
        if _IDENT.match(key):
            return f"{key}: "
        return f"{ruby_string(key)}: "
    text = _scalar(key)
    if text is None:
        raise TypeError(f"hash key {key!r} must be a string, symbol, number, boolean or None")
    return f"{text} => "


def _words(value: Words) -> str | None:
    if all(isinstance(word, str) and _WORD.match(word) for word in value):
        return "%w(" + " ".join(value) + ")"
    return None


def to_ruby(value: Any, indent: int = 0) -> str:
    """Ruby literal text for `value`.

    `indent` is the column (in spaces) of the line the value starts on: nested lines are indented
    two more spaces and the closing bracket goes back to `indent`. Supported types: dict (any
    Mapping), list, tuple, `Words`, str, `Sym`, int, float (finite), bool and None.
    """
    text = _scalar(value)
    if text is not None:
        return text
    pad = " " * (indent + 2)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        lines = [f"{pad}{_key(k)}{to_ruby(v, indent + 2)}," for k, v in value.items()]
        return "{\n" + "\n".join(lines) + "\n" + " " * indent + "}"
    if isinstance(value, Words):
        words = _words(value)
        if words is not None:
            return words
    if isinstance(value, (list, tuple)):
        if not value:
            return "[]"
        items: Sequence[Any] = value
        if all(_scalar(item) is not None or _is_empty_container(item) for item in items):
            inline = "[" + ", ".join(to_ruby(item) for item in items) + "]"
            if len(inline) <= INLINE_WIDTH:
                return inline
        lines = [f"{pad}{to_ruby(item, indent + 2)}," for item in items]
        return "[\n" + "\n".join(lines) + "\n" + " " * indent + "]"
    raise TypeError(f"cannot write {type(value).__name__} value {value!r} as Ruby")


def format_key(path: Sequence[str]) -> str:
    """The one gitlab.rb form of a key path: `('patroni', 'postgresql', 'port')` → `patroni['postgresql']['port']`.

    Every module that turns a key path into text (the parser's targets, the renderer, lint, the
    template reader) calls this, so a key reads the same wherever it is reported."""
    if not path:
        raise ValueError("an empty key path")
    return path[0] + "".join(f"[{ruby_string(str(key))}]" for key in path[1:])


def key_path(base: str, keys: Sequence[str] = ()) -> str:
    """`key_path('patroni', ('postgresql', 'port'))` → `patroni['postgresql']['port']`; `base` must be an identifier."""
    if not _IDENT.match(base):
        raise ValueError(f"{base!r} is not a Ruby identifier")
    return format_key((base, *keys))


def assign(base: str, keys: tuple[str, ...], value: Any) -> str:
    """One assignment line (more for a multi-line value): `gitlab_rails['db_host'] = '10.0.0.1'`."""
    return f"{key_path(base, keys)} = {to_ruby(value)}"


def call(name: str, *args: Any) -> str:
    """A top-level method call with parenthesised arguments: `roles(['a', 'b'])`."""
    if not _IDENT.match(name):
        raise ValueError(f"{name!r} is not a Ruby method name")
    return f"{name}(" + ", ".join(to_ruby(arg) for arg in args) + ")"
