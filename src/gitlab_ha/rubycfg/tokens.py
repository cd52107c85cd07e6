"""Tokens of the gitlab.rb Ruby subset, and source locations."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["Loc", "Tok", "Token"]


@dataclass(slots=True, unsafe_hash=True)
class Loc:
    """A span of source text. Lines and columns are 1-based; `end_*` point just past the span.

    Treat it as immutable (it is not frozen only because frozen dataclasses are 5x slower to build,
    and the tokenizer builds one per token)."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    offset: int
    end_offset: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    def to(self, other: Loc) -> Loc:
        """The span from the start of `self` to the end of `other`."""
        return Loc(self.file, self.line, self.column, other.end_line, other.end_column, self.offset, other.end_offset)


class Tok(Enum):
    """Token kinds."""

    IDENT = "identifier"  # also keywords (true, nil, if, ...): the parser tells them apart
    CONST = "constant"
    IVAR = "instance variable"
    GVAR = "global variable"
    INT = "integer"
    FLOAT = "float"
    STRING = "string"  # value: the decoded text
    SYMBOL = "symbol"  # value: the name
    LABEL = "label"  # `key:` or `'key':` in a hash or argument list; value: the name
    WORDS = "word list"  # %w %W %i %I; value: list of words
    REGEX = "regular expression"
    OP = "operator"  # punctuation too: the text says which
    NEWLINE = "end of line"  # also `;`
    EOF = "end of file"
    ERROR = "lexical error"  # value: the RubySyntaxError; the tokenizer stops after it


@dataclass(slots=True)
class Token:
    kind: Tok
    text: str  # the source text (for a heredoc, just the `<<~EOS` marker)
    value: Any
    loc: Loc
    space_before: bool
    interpolated: bool = False  # a double-quoted string or %W list with #{...}
    quoted: bool = False  # a LABEL or SYMBOL written with quotes

    def is_op(self, *texts: str) -> bool:
        return self.kind is Tok.OP and self.text in texts

    def describe(self) -> str:
        """How an error message names this token: `'}'`, `end of line`, `string 'abc'`."""
        if self.kind is Tok.NEWLINE and self.text == ";":
            return "';'"
        if self.kind in (Tok.NEWLINE, Tok.EOF):
            return str(self.kind.value)
        text = self.text if len(self.text) <= 30 else self.text[:27] + "..."
        if self.kind in (Tok.OP, Tok.IDENT):
            return f"'{text}'"
        return f"{self.kind.value} {text}"
