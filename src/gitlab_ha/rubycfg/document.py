"""A parsed gitlab.rb: its statements, and the configuration they leave behind.

`Document.get` and `Document.flat` answer "what does this file set?" the way Omnibus would read it:
later assignments win, an assignment of a hash literal sets every key inside it, and a string key
and a symbol key of the same name are the same key (Chef attributes store both as strings).
Conditional assignments (`x = 1 if y`) count as if the condition held.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from gitlab_ha.errors import InputError
from gitlab_ha.rubycfg.emit import format_key
from gitlab_ha.rubycfg.errors import RubySyntaxError
from gitlab_ha.rubycfg.nodes import (
    Array,
    Assignment,
    Call,
    Expr,
    Hash,
    Pair,
    Statement,
    Str,
    Symbol,
    Value,
    key_text,
)
from gitlab_ha.rubycfg.parser import Parser
from gitlab_ha.rubycfg.tokens import Loc

__all__ = ["Document", "RoleRef", "format_key", "parse", "parse_file", "parse_key"]


def parse_key(key: str | Sequence[str]) -> tuple[str, ...]:
    """A key path from its gitlab.rb form (`gitlab_rails['db_host']`, `x[:a]["b"]`) or a sequence of names."""
    if not isinstance(key, str):
        path = tuple(key)
        if not path or not all(isinstance(part, str) for part in path):
            raise ValueError(f"not a key path: {key!r}")
        return path
    parser = Parser(key, "<key>")
    try:
        target = parser.parse_target()
    except RubySyntaxError as err:
        raise ValueError(f"not a gitlab.rb key: {key!r} ({err.message})") from None
    return target.path


@dataclass(frozen=True, slots=True)
class RoleRef:
    """One role named by a `roles ...` call."""

    name: str
    loc: Loc

    def __str__(self) -> str:
        return self.name


class _Slot:
    """One key of the effective configuration: a value node, or (after a nested assignment) children."""

    __slots__ = ("children", "key", "loc", "node")

    def __init__(self, loc: Loc, key: Value | None = None, node: Value | None = None) -> None:
        self.loc = loc
        self.key = key
        self.node = node
        self.children: dict[str, _Slot] | None = None

    def explode(self) -> dict[str, _Slot]:
        """Turn a hash literal value into child slots, so one of its keys can be replaced."""
        children: dict[str, _Slot] = {}
        if isinstance(self.node, Hash):
            for pair in self.node.pairs:
                children[key_text(pair.key)] = _Slot(pair.loc, pair.key, pair.value)
        self.node = None
        self.children = children
        return children

    def materialize(self) -> Value | None:
        if self.children is None:
            return self.node
        pairs: list[Pair] = []
        for name, child in self.children.items():
            value = child.materialize()
            if value is not None:
                key = child.key if child.key is not None else Str(child.loc, name)
                pairs.append(Pair(child.loc, key, value))
        return Hash(self.loc, tuple(pairs), braces=False, synthetic=True)


class Document:
    """The result of parsing one gitlab.rb file."""

    def __init__(
        self, filename: str, text: str, statements: Sequence[Statement], errors: Sequence[RubySyntaxError] = ()
    ) -> None:
        self.filename = filename
        self.text = text
        self.statements: tuple[Statement, ...] = tuple(statements)
        self.errors: tuple[RubySyntaxError, ...] = tuple(errors)
        """Syntax errors found (only with `parse(..., recover=True)`; otherwise the first one is raised)."""

    def __iter__(self) -> Iterator[Statement]:
        return iter(self.statements)

    def __repr__(self) -> str:
        return f"<Document {self.filename}: {len(self.statements)} statements, {len(self.errors)} errors>"

    @property
    def ok(self) -> bool:
        return not self.errors

    @cached_property
    def assignments(self) -> tuple[Assignment, ...]:
        """Every assignment statement, in file order."""
        return tuple(s for s in self.statements if isinstance(s, Assignment))

    @cached_property
    def calls(self) -> tuple[Call, ...]:
        """Every top-level call of a bare name (`roles`, `external_url`, `git_data_dirs`, ...), in file order."""
        return tuple(s for s in self.statements if isinstance(s, Call))

    def source(self, node: Value | Statement | Loc) -> str:
        """The source text of a node (or of a location)."""
        loc = node if isinstance(node, Loc) else node.loc
        return self.text[loc.offset : loc.end_offset]

    def roles(self) -> list[RoleRef]:
        """The roles of every `roles ...` call, in order (literal strings and symbols only)."""
        found: list[RoleRef] = []

        def collect(node: Value) -> None:
            if isinstance(node, Array):
                for item in node.items:
                    collect(item)
            elif isinstance(node, Str) and not node.interpolated:
                found.append(RoleRef(node.value, node.loc))
            elif isinstance(node, Symbol):
                found.append(RoleRef(node.name, node.loc))

        for call in self.calls:
            if call.name == "roles":
                for arg in call.args:
                    collect(arg)
        return found

    @cached_property
    def _tree(self) -> dict[str, _Slot]:
        root: dict[str, _Slot] = {}
        for assignment in self.assignments:
            target = assignment.target
            slot = root.get(target.base)
            if slot is None:
                slot = root[target.base] = _Slot(target.loc)
            for index, key in enumerate(target.keys):
                children = slot.children if slot.children is not None else slot.explode()
                child = children.get(key)
                if child is None:
                    child = children[key] = _Slot(target.loc, target.key_nodes[index])
                slot = child
            if assignment.op == "||=" and (slot.node is not None or slot.children):
                continue
            value = assignment.value
            if assignment.op not in ("=", "||="):
                value = Expr(assignment.loc, "opassign", self.source(assignment), (value,), assignment.op)
            slot.node = value
            slot.children = None
        return root

    def get(self, key: str | Sequence[str]) -> Value | None:
        """The effective value of a key (`"gitlab_rails['db_host']"` or `("gitlab_rails", "db_host")`), or None.

        A hash that several assignments built (`x['a']['b'] = 1; x['a']['c'] = 2`, asked for
        `x['a']`) comes back as a `Hash` with `synthetic=True`.
        """
        path = parse_key(key)
        slot = self._tree.get(path[0])
        if slot is None:
            return None
        for index, name in enumerate(path[1:], start=1):
            if slot.children is None:
                node = slot.node
                for rest in path[index:]:
                    if not isinstance(node, Hash):
                        return None
                    node = node.get(rest)
                return node
            found = slot.children.get(name)
            if found is None:
                return None
            slot = found
        return slot.materialize()

    def flat(self) -> dict[str, Value]:
        """Every leaf key the file sets, in gitlab.rb form (`patroni['postgresql']['max_wal_senders']`), in order.

        Hash literals are walked into (non-empty ones); arrays are leaves.
        """
        out: dict[str, Value] = {}

        def walk_node(path: tuple[str, ...], node: Value) -> None:
            if isinstance(node, Hash) and node.pairs:
                for pair in node.pairs:
                    walk_node((*path, key_text(pair.key)), pair.value)
            else:
                out[format_key(path)] = node

        def walk(path: tuple[str, ...], slot: _Slot) -> None:
            if slot.children is not None:
                for name, child in slot.children.items():
                    walk((*path, name), child)
            elif slot.node is not None:
                walk_node(path, slot.node)

        for name, slot in self._tree.items():
            walk((name,), slot)
        return out

    def to_python(self) -> dict[str, Any]:
        """The effective configuration as nested Python values: `{'gitlab_rails': {'db_host': '10.0.0.1'}}`."""
        out: dict[str, Any] = {}
        for name, slot in self._tree.items():
            node = slot.materialize()
            if node is not None:
                out[name] = node.to_python()
        return out


def parse(text: str, filename: str = "<string>", *, recover: bool = False) -> Document:
    """Parse gitlab.rb text. Raises RubySyntaxError at the first error, unless `recover`: then the
    parser skips to the next statement after each error and lists them all in `Document.errors`."""
    parser = Parser(text, filename, recover=recover)
    statements = parser.parse_program()
    if parser.errors and not recover:
        raise parser.errors[0]
    return Document(filename, text, statements, parser.errors)


def parse_file(path: str | Path, *, recover: bool = False) -> Document:
    """Parse a gitlab.rb file (UTF-8; undecodable bytes become U+FFFD). Raises InputError if unreadable."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror or err}", str(path)) from None
    return parse(text, str(path), recover=recover)
