"""A gitlab.rb's effective settings as plain Python values: what `gitlab-ctl reconfigure` reads.

The parser keeps Ruby's shapes (symbols, `%w()` arrays, expressions it cannot compute); the model
wants plain values. Symbols become strings (Omnibus treats `server: true` and `'server' => true`
alike), and a value the parser could not compute becomes `Opaque`, so a consumer can say "computed
at reconfigure time" instead of guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitlab_ha.rubycfg import Document
from gitlab_ha.rubycfg.nodes import MISSING, Array, Bool, Expr, Float, Hash, Int, Nil, Str, Symbol, Value, key_text


@dataclass(frozen=True)
class Opaque:
    """A value only Ruby can compute (`ENV['X']`, `"#{a}"`, a method call): its source text."""

    source: str

    def __str__(self) -> str:
        return f"<computed: {self.source}>"


def plain(node: Value) -> Any:
    """A parsed value as plain Python: dict (str keys), list, str, int, float, bool, None or Opaque."""
    if isinstance(node, Hash):
        return {key_text(pair.key): plain(pair.value) for pair in node.pairs}
    if isinstance(node, Array):
        return [plain(item) for item in node.items]
    if isinstance(node, Str):
        return Opaque(node.value) if node.interpolated else node.value
    if isinstance(node, Symbol):
        return node.name
    if isinstance(node, (Int, Float, Bool)):
        return node.value
    if isinstance(node, Nil):
        return None
    if isinstance(node, Expr):
        if node.value is MISSING:
            return Opaque(node.source)
        return _python(node.value)
    return Opaque(type(node).__name__)


def _python(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _python(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_python(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def as_int(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return default


class Settings:
    """The effective values of one gitlab.rb (the last assignment of a key wins, as in Ruby)."""

    def __init__(self, doc: Document | None) -> None:
        self.doc = doc
        self._values: dict[str, Any] = {}
        self.roles: tuple[str, ...] = ()
        if doc is not None:
            for name in doc.to_python():
                node = doc.get((name,))
                if node is not None:
                    self._values[name] = plain(node)
            self.roles = tuple(ref.name.replace("-", "_") for ref in doc.roles())
            # `external_url 'https://…'` and `git_data_dirs({…})` are method calls that set a value.
            for call in doc.calls:
                if call.name != "roles" and len(call.args) == 1:
                    self._values[call.name] = plain(call.args[0])

    @classmethod
    def empty(cls) -> Settings:
        return cls(None)

    def get(self, *path: str, default: Any = None) -> Any:
        """`get('patroni', 'postgresql', 'max_wal_senders')` → the value, or `default` when unset (or nil)."""
        node: Any = self._values
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return default if node is None else node

    def is_set(self, *path: str) -> bool:
        return self.get(*path) is not None

    def hash(self, *path: str) -> dict[str, Any]:
        value = self.get(*path)
        return value if isinstance(value, dict) else {}

    def words(self, *path: str) -> list[str]:
        """A list setting as strings (`%w(a b)`, `['a', 'b']`, or one string); [] when unset."""
        value = self.get(*path)
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [str(item) for item in value if not isinstance(item, Opaque)]
        return []

    def number(self, *path: str, default: int) -> int:
        """An integer setting (a number or an all-digit string, as Omnibus takes ports); `default` when
        unset or not a number (reconfigure would reject it; the model stays answerable)."""
        return as_int(self.get(*path), default)

    def flag(self, *path: str) -> bool | None:
        """A boolean setting: True/False when set to one, None when unset (or not a boolean)."""
        value = self.get(*path)
        return value if isinstance(value, bool) else None
