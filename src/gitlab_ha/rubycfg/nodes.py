"""The syntax tree: value nodes (literals and opaque expressions) and top-level statements.

Every node has a `loc`. Every value node has `to_python()`: dict / list / str / int / float / bool /
None, with symbols as `Sym`, `%w()` lists as `Words` (both from `gitlab_ha.rubycfg.emit`, so a value
read back can be written again unchanged) and opaque expressions as their computed value when the
parser could work it out from literals (`['*'] * 2`, `1024 * 1024`), else their source text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from gitlab_ha.rubycfg.emit import Sym, Words, format_key
from gitlab_ha.rubycfg.tokens import Loc

__all__ = [
    "MISSING",
    "Array",
    "Assignment",
    "Bool",
    "Call",
    "Expr",
    "ExprStatement",
    "Float",
    "Hash",
    "Int",
    "Nil",
    "Pair",
    "Statement",
    "Str",
    "Symbol",
    "Target",
    "Value",
    "key_text",
    "static_value",
]


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
"""The value of an expression the parser could not compute."""


@dataclass(frozen=True, slots=True)
class Value:
    """Base of every value node."""

    loc: Loc

    def to_python(self) -> Any:
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Str(Value):
    """A string literal. With `interpolated`, `value` keeps each `#{...}` as raw text."""

    value: str
    interpolated: bool = False

    def to_python(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Int(Value):
    value: int

    def to_python(self) -> int:
        return self.value


@dataclass(frozen=True, slots=True)
class Float(Value):
    value: float

    def to_python(self) -> float:
        return self.value


@dataclass(frozen=True, slots=True)
class Bool(Value):
    value: bool

    def to_python(self) -> bool:
        return self.value


@dataclass(frozen=True, slots=True)
class Nil(Value):
    def to_python(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Symbol(Value):
    """`:name` (or `:'quoted name'`)."""

    name: str

    def to_python(self) -> Sym:
        return Sym(self.name)


@dataclass(frozen=True, slots=True)
class Array(Value):
    """`[a, b]`; `words` is the letter of a `%w()`/`%i()`-style literal, else empty."""

    items: tuple[Value, ...]
    words: str = ""

    def to_python(self) -> list[Any]:
        if self.words in ("w", "W"):
            return Words(item.to_python() for item in self.items)
        return [item.to_python() for item in self.items]


@dataclass(frozen=True, slots=True)
class Pair:
    """One hash entry. `style` is `label` (`key: v`, `'key': v`) or `arrow` (`key => v`)."""

    loc: Loc
    key: Value
    value: Value
    style: str = "arrow"


def key_text(key: Value, source: str = "") -> str:
    """The name a hash or index key stands for: a string's or symbol's text, else its source."""
    if isinstance(key, Str):
        return key.value
    if isinstance(key, Symbol):
        return key.name
    if isinstance(key, Expr):
        return key.source
    python = key.to_python()
    if python is None:
        return "nil"
    if isinstance(python, bool):
        return "true" if python else "false"
    return source or str(python)


@dataclass(frozen=True, slots=True)
class Hash(Value):
    """`{ ... }`. `braces` is False for the brace-less hash of `call(a: 1)` and for hashes that
    `Document.get` assembles from several assignments (`synthetic`)."""

    pairs: tuple[Pair, ...]
    braces: bool = True
    synthetic: bool = False

    def get(self, key: str) -> Value | None:
        """The value of `key` (a string and a symbol of the same name are the same key; the last one wins)."""
        found: Value | None = None
        for pair in self.pairs:
            if key_text(pair.key) == key:
                found = pair.value
        return found

    def keys(self) -> list[str]:
        seen: dict[str, None] = {}
        for pair in self.pairs:
            seen[key_text(pair.key)] = None
        return list(seen)

    def to_python(self) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for pair in self.pairs:
            key = pair.key.to_python()
            try:
                hash(key)
            except TypeError:
                key = key_text(pair.key)
            out[key] = pair.value.to_python()
        return out


@dataclass(frozen=True, slots=True)
class Expr(Value):
    """An expression kept opaque, with its source text.

    `kind` says what it is: `binop` / `unary` (`name` is the operator), `ternary`, `paren`, `range`,
    `ident` (a bare name), `const`, `scope` (`A::B`), `ivar`, `gvar`, `regex`, `self`, `splat`,
    `call` (`name(args)`, no receiver; `children` are the arguments), `method` (`recv.name(args)`;
    `children[0]` is the receiver), `index` (`recv[args]`; `children[0]` is the receiver),
    `opassign` (`x += v`). `value` is the computed value or `MISSING`.
    """

    kind: str
    source: str
    children: tuple[Value, ...] = ()
    name: str = ""
    value: Any = field(default=MISSING)

    @property
    def computed(self) -> bool:
        return self.value is not MISSING

    def to_python(self) -> Any:
        return self.value if self.value is not MISSING else self.source


def static_value(node: Value) -> Any:
    """The Python value of a node built only from literals (and computable expressions), else MISSING."""
    if isinstance(node, Expr):
        return node.value
    if isinstance(node, Str) and node.interpolated:
        return MISSING
    if isinstance(node, Array):
        items = [static_value(item) for item in node.items]
        if any(item is MISSING for item in items):
            return MISSING
        return Words(items) if node.words in ("w", "W") else items
    if isinstance(node, Hash):
        out: dict[Any, Any] = {}
        for pair in node.pairs:
            key, value = static_value(pair.key), static_value(pair.value)
            if key is MISSING or value is MISSING:
                return MISSING
            try:
                out[key] = value
            except TypeError:
                return MISSING
        return out
    return node.to_python()


@dataclass(frozen=True, slots=True)
class Target:
    """The left side of an assignment: `base` and the keys of `base['k1'][:k2]` (names only)."""

    loc: Loc
    base: str
    keys: tuple[str, ...]
    key_nodes: tuple[Value, ...] = ()

    @property
    def path(self) -> tuple[str, ...]:
        return (self.base, *self.keys)

    @property
    def text(self) -> str:
        """The gitlab.rb form, string keys: `patroni['postgresql']['max_wal_senders']`."""
        return format_key(self.path)

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Assignment:
    """`target = value` (`op` may also be `||=`, `+=`, ...). `condition` is the `if`/`unless`
    modifier expression, if any (`keyword` says which)."""

    loc: Loc
    target: Target
    value: Value
    op: str = "="
    condition: Value | None = None
    keyword: str = ""


@dataclass(frozen=True, slots=True)
class Call:
    """A top-level call of a bare method name: `roles ['a']`, `external_url 'x'`, `git_data_dirs({...})`.

    Keyword arguments (`name(a: 1)`) arrive as one trailing `Hash` with `braces=False`."""

    loc: Loc
    name: str
    args: tuple[Value, ...]
    parens: bool = False
    condition: Value | None = None
    keyword: str = ""


@dataclass(frozen=True, slots=True)
class ExprStatement:
    """Any other top-level expression (`File.write(...)`, `x << 'y'`), kept opaque."""

    loc: Loc
    expr: Value
    condition: Value | None = None
    keyword: str = ""


Statement = Assignment | Call | ExprStatement
