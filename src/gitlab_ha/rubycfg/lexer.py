"""Hand-written tokenizer for the Ruby subset of gitlab.rb files.

Why hand-written: no maintained Python library parses this Ruby subset and keeps line/column
locations, and Ruby's lexing is context dependent (`%w(...)` vs `a % b`, `/re/` vs `a / b`,
`roles ['a']` vs `x['a']`, heredocs), which a regular-expression table cannot decide alone. Each
regex used here matches one flat token (no nested quantifiers), so the scan stays linear.

The tokenizer decides "value position" (a literal may start here) from the previous token and the
spacing around the current character, the way Ruby itself does for command arguments.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
import unicodedata
from typing import Any

from gitlab_ha.rubycfg.errors import RubySyntaxError
from gitlab_ha.rubycfg.tokens import Loc, Tok, Token

__all__ = ["VALUE_KEYWORDS", "tokenize"]

_SPACE = re.compile(r"[ \t\r\f\v]+")
_IDENT = re.compile(r"[^\W\d]\w*")
_IVAR = re.compile(r"@@?[^\W\d]\w*")
_GVAR = re.compile(r"\$(?:[^\W\d]\w*|\d+|[!@&`'+~=/\\,;.<>_*$?:\"0])")
_SYMBOL_NAME = re.compile(r"[^\W\d]\w*[?!=]?")
_NUMBER = re.compile(
    r"0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*"
    r"|0[bB][01]+(?:_[01]+)*"
    r"|0[oO]?[0-7]+(?:_[0-7]+)*(?![.0-9eE])"
    r"|[0-9]+(?:_[0-9]+)*(?:\.[0-9]+(?:_[0-9]+)*)?(?:[eE][+-]?[0-9]+(?:_[0-9]+)*)?"
)
_OPS = re.compile(
    r"\*\*=|\|\|=|&&=|<=>|===|\.\.\.|<<=|>>=|\*\*|==|!=|>=|<=|&&|\|\||<<|>>|=>|=~|!~|::|\.\.|"
    r"\+=|-=|\*=|/=|%=|\|=|&=|\^=|->|&\.|[-+*/%=<>!&|^~?:,.()\[\]{}]"
)
_HEREDOC = re.compile(r"<<([~-]?)(?:(['\"])([^'\"\n]+)\2|([A-Za-z_]\w*))")
_EMBDOC_END = re.compile(r"^=end(?=[ \t\r\n]|\Z)", re.MULTILINE)
_ESCAPE = re.compile(r"u\{([0-9a-fA-F ]*)\}|u([0-9a-fA-F]{4})|x([0-9a-fA-F]{1,2})|([0-7]{1,3})|(\r?\n)|(.)", re.DOTALL)
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "s": " ", "r": "\r", "e": "\x1b", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
_PAIRS = {"(": ")", "[": "]", "{": "}", "<": ">"}
_PLAIN_OP_START = frozenset("[](){},.=+-*!&|^~?>")  # never the start of anything but an operator
_VALUE_END_OPS = frozenset({")", "]", "}"})

VALUE_KEYWORDS = frozenset(
    {
        "if",
        "unless",
        "while",
        "until",
        "and",
        "or",
        "not",
        "return",
        "when",
        "then",
        "else",
        "elsif",
        "do",
        "in",
        "case",
    }
)
"""Keywords after which a value (not an operator) comes."""

_MAX_NESTING = 40


class _ScanError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


_plain_cache: dict[tuple[str | None, str | None, bool], re.Pattern[str]] = {}


def _plain(close: str | None, open_: str | None, interp: bool) -> re.Pattern[str]:
    """A run of characters that need no attention inside a string."""
    key = (close, open_, interp)
    pattern = _plain_cache.get(key)
    if pattern is None:
        special = "\\" + (close or "") + (open_ or "") + ("#" if interp else "")
        pattern = re.compile("[^" + "".join(re.escape(c) for c in special) + "]+")
        _plain_cache[key] = pattern
    return pattern


def _decode_escape(text: str, i: int) -> tuple[str, int]:
    """Decode the double-quoted escape whose backslash is at `i`; return (text, index after it)."""
    m = _ESCAPE.match(text, i + 1)
    if m is None:  # a backslash at the very end
        raise _ScanError("unterminated string", i)
    braced, four, hexa, octal, newline, other = m.groups()
    if braced is not None:
        parts = braced.split()
        if not parts:
            raise _ScanError("invalid Unicode escape", i)
        return "".join(_codepoint(int(p, 16), i) for p in parts), m.end()
    if four is not None:
        return _codepoint(int(four, 16), i), m.end()
    if hexa is not None:
        return chr(int(hexa, 16)), m.end()
    if octal is not None:
        return chr(int(octal, 8) & 0xFF), m.end()
    if newline is not None:
        return "", m.end()
    return _SIMPLE_ESCAPES.get(other, other), m.end()


def _codepoint(value: int, offset: int) -> str:
    if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        raise _ScanError("invalid Unicode code point", offset)
    return chr(value)


def _scan(
    text: str, i: int, close: str | None, open_: str | None, interp: bool, depth: int = 0
) -> tuple[str, int, bool]:
    """Scan string content from `i` up to the unescaped, unnested `close` (or the end of `text` if None).

    Returns the decoded value (interpolations kept as raw `#{...}` text), the index after the
    closing delimiter, and whether the string interpolates.
    """
    if depth > _MAX_NESTING:
        raise _ScanError("string interpolation nested too deeply", i)
    n = len(text)
    out: list[str] = []
    nesting = 0
    interpolated = False
    plain = _plain(close, open_, interp)
    start = i
    while True:
        m = plain.match(text, i)
        if m:
            out.append(m.group())
            i = m.end()
        if i >= n:
            if close is None:
                return "".join(out), i, interpolated
            raise _ScanError(f"unterminated string: no closing {close!r}", start - 1)
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                raise _ScanError(f"unterminated string: no closing {close!r}", start - 1)
            nxt = text[i + 1]
            if interp and nxt not in (close, open_):
                piece, i = _decode_escape(text, i)
                out.append(piece)
            else:
                out.append(nxt if nxt in (close, open_, "\\") else "\\" + nxt)
                i += 2
        elif c == close:
            if nesting == 0:
                return "".join(out), i + 1, interpolated
            nesting -= 1
            out.append(c)
            i += 1
        elif c == open_:
            nesting += 1
            out.append(c)
            i += 1
        elif text.startswith("{", i + 1):
            end = _skip_interpolation(text, i + 2, depth)
            out.append(text[i:end])
            interpolated = True
            i = end
        else:
            if i + 1 < n and text[i + 1] in "@$":
                interpolated = True
            out.append("#")
            i += 1


def _skip_interpolation(text: str, i: int, depth: int) -> int:
    """Index just after the `}` that closes an interpolation whose content starts at `i`."""
    start = i - 2
    n = len(text)
    braces = 0
    while i < n:
        c = text[i]
        if c == "}":
            if braces == 0:
                return i + 1
            braces -= 1
        elif c == "{":
            braces += 1
        elif c == '"':
            i = _scan(text, i + 1, '"', None, True, depth + 1)[1]
            continue
        elif c == "'":
            i = _scan(text, i + 1, "'", None, False, depth + 1)[1]
            continue
        elif c == "\\":
            i += 1
        i += 1
    raise _ScanError("unterminated string interpolation '#{'", start)


class _Lexer:
    def __init__(self, text: str, filename: str) -> None:
        self.text = text
        self.file = filename
        self.n = len(text)
        self.line_starts = [0]
        find = text.find
        pos = find("\n")
        while pos >= 0:
            self.line_starts.append(pos + 1)
            pos = find("\n", pos + 1)
        self.line = 1  # the line of the last token, for `loc`
        self.tokens: list[Token] = []
        # (token index, terminator, squiggly, dash, interpolating)
        self.heredocs: list[tuple[int, str, bool, bool, bool]] = []

    # -- locations and errors -------------------------------------------------------------

    def position(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def loc(self, start: int, end: int) -> Loc:
        starts = self.line_starts
        line = self.line  # tokens come in order: move the cursor forward
        while line < len(starts) and starts[line] <= start:
            line += 1
        self.line = line
        first = starts[line - 1]
        if line == len(starts) or end < starts[line]:
            return Loc(self.file, line, start - first + 1, line, end - first + 1, start, end)
        end_line, end_column = self.position(end)
        return Loc(self.file, line, start - first + 1, end_line, end_column, start, end)

    def offset_of(self, err: RubySyntaxError) -> int:
        return min(self.line_starts[err.line - 1] + err.column - 1, self.n)

    def error(self, message: str, offset: int) -> RubySyntaxError:
        line, column = self.position(min(offset, self.n))
        return RubySyntaxError(message, self.file, line, column)

    def add(
        self, kind: Tok, start: int, end: int, value: Any, space: bool, interpolated: bool = False, quoted: bool = False
    ) -> None:
        self.tokens.append(Token(kind, self.text[start:end], value, self.loc(start, end), space, interpolated, quoted))

    # -- context ----------------------------------------------------------------------------

    def value_position(self, i: int, space: bool) -> bool:
        """May a literal start at `i` (rather than a binary operator)?"""
        if not self.tokens:
            return True
        prev = self.tokens[-1]
        kind = prev.kind
        if kind is Tok.NEWLINE or kind is Tok.LABEL:
            return True
        if kind is Tok.OP:
            return prev.text not in _VALUE_END_OPS
        if kind is Tok.IDENT:
            if prev.text in VALUE_KEYWORDS:
                return True
            # `roles %w(a b)`, `load <<~EOS`: a command argument, written with a space before only.
            nxt = self.text[i + 1] if i + 1 < self.n else " "
            return space and nxt not in " \t\r\n="
        return False

    # -- the scan -----------------------------------------------------------------------------

    def run(self) -> list[Token]:
        text = self.text
        n = self.n
        i = self.line_start(0)
        space = True
        while i < n:
            c = text[i]
            if c in " \t\r\f\v":
                m = _SPACE.match(text, i)
                assert m is not None
                i = m.end()
                space = True
                continue
            if c == "\\" and (text.startswith("\n", i + 1) or text.startswith("\r\n", i + 1)):
                i = text.index("\n", i) + 1
                space = True
                continue
            if c == "#":
                j = text.find("\n", i)
                i = n if j < 0 else j
                continue
            if c in {"\n", ";"}:
                if self.tokens and self.tokens[-1].kind is not Tok.NEWLINE:
                    self.add(Tok.NEWLINE, i, i + 1, None, space)
                i += 1
                if c == "\n":
                    if self.heredocs:
                        i = self.read_heredocs(i)
                    i = self.line_start(i)
                space = True
                continue
            i = self.token(i, c, space)
            space = False
        self.add(Tok.EOF, n, n, None, True)
        if self.heredocs:
            raise self.error(
                f"unterminated heredoc {self.tokens[self.heredocs[0][0]].text}: no line '{self.heredocs[0][1]}'",
                self.tokens[self.heredocs[0][0]].loc.offset,
            )
        return self.tokens

    def line_start(self, i: int) -> int:
        """Skip `=begin`/`=end` blocks and everything after `__END__` at the start of a line."""
        text = self.text
        while text.startswith("=begin", i) and (i + 6 >= self.n or text[i + 6] in " \t\r\n"):
            m = _EMBDOC_END.search(text, i + 6)
            if m is None:
                raise self.error("unterminated '=begin' block: no '=end' line", i)
            j = text.find("\n", m.end())
            i = self.n if j < 0 else j + 1
        if text.startswith("__END__", i) and text[i + 7 : i + 8] in ("", "\n", "\r"):
            return self.n
        return i

    def token(self, i: int, c: str, space: bool) -> int:
        text = self.text
        if c in _PLAIN_OP_START:
            m = _OPS.match(text, i)
            assert m is not None
            self.add(Tok.OP, i, m.end(), None, space)
            return m.end()
        if "0" <= c <= "9":
            return self.number(i, space)
        if c == "_" or c.isalpha():
            return self.identifier(i, space)
        if c in {"'", '"'}:
            return self.string(i, c, space)
        if c == ":":
            return self.colon(i, space)
        if c == "@":
            return self.simple(_IVAR, Tok.IVAR, i, space, "an instance variable name")
        if c == "$":
            return self.simple(_GVAR, Tok.GVAR, i, space, "a global variable name")
        if c == "%" and self.value_position(i, space):
            end = self.percent(i, space)
            if end is not None:
                return end
        if c == "/" and self.value_position(i, space):
            return self.regex(i, space)
        if c == "<" and text.startswith("<<", i) and self.value_position(i, space):
            m = _HEREDOC.match(text, i)
            if m is not None:
                return self.heredoc(m, space)
        if c == "`":
            raise self.error("backtick command strings are not supported in gitlab.rb", i)
        m = _OPS.match(text, i)
        if m is None:
            name = unicodedata.name(c, "") or f"U+{ord(c):04X}"
            raise self.error(f"unexpected character {c!r} ({name})", i)
        self.add(Tok.OP, i, m.end(), None, space)
        return m.end()

    def simple(self, pattern: re.Pattern[str], kind: Tok, i: int, space: bool, what: str) -> int:
        m = pattern.match(self.text, i)
        if m is None:
            raise self.error(f"expected {what} after {self.text[i]!r}", i)
        self.add(kind, i, m.end(), m.group(), space)
        return m.end()

    def number(self, i: int, space: bool) -> int:
        m = _NUMBER.match(self.text, i)
        assert m is not None
        end = m.end()
        raw = m.group().replace("_", "")
        if len(raw) > 1000:
            raise self.error("number literal too long", i)
        if end < self.n and self.text[end] == "_":
            raise self.error("trailing '_' in number", end)
        if "." in raw or (("e" in raw or "E" in raw) and not raw.startswith(("0x", "0X"))):
            self.add(Tok.FLOAT, i, end, float(raw), space)
            return end
        lower = raw.lower()
        if lower.startswith("0x"):
            value = int(raw[2:], 16)
        elif lower.startswith("0b"):
            value = int(raw[2:], 2)
        elif lower.startswith("0o"):
            value = int(raw[2:], 8)
        elif len(raw) > 1 and raw[0] == "0":
            if not raw.isdigit() or any(d in "89" for d in raw):
                raise self.error("invalid octal digit", i)
            value = int(raw, 8)
        else:
            value = int(raw)
        self.add(Tok.INT, i, end, value, space)
        return end

    def identifier(self, i: int, space: bool) -> int:
        text = self.text
        m = _IDENT.match(text, i)
        if m is None:
            raise self.error(f"unexpected character {text[i]!r}", i)
        end = m.end()
        if end < self.n and text[end] in "?!" and not text.startswith("=", end + 1):
            end += 1
        if end < self.n and text[end] == ":" and not text.startswith("::", end):
            prev = self.tokens[-1] if self.tokens else None
            # `a ? b :c` stays a ternary; otherwise `name:` is a hash label.
            if prev is None or not prev.is_op("?"):
                self.add(Tok.LABEL, i, end + 1, text[i:end], space)
                return end + 1
        kind = Tok.CONST if text[i].isupper() else Tok.IDENT
        self.add(kind, i, end, text[i:end], space)
        return end

    def wrap(self, err: _ScanError) -> RubySyntaxError:
        return self.error(err.message, err.offset)

    def string(self, i: int, quote: str, space: bool) -> int:
        try:
            value, end, interpolated = _scan(self.text, i + 1, quote, None, quote == '"')
        except _ScanError as err:
            raise self.wrap(err) from None
        if end < self.n and self.text[end] == ":" and not self.text.startswith("::", end):
            prev = self.tokens[-1] if self.tokens else None
            if prev is None or not prev.is_op("?"):
                self.add(Tok.LABEL, i, end + 1, value, space, interpolated=interpolated, quoted=True)
                return end + 1
        self.add(Tok.STRING, i, end, value, space, interpolated=interpolated)
        return end

    def colon(self, i: int, space: bool) -> int:
        text = self.text
        nxt = text[i + 1] if i + 1 < self.n else ""
        if nxt == ":":
            self.add(Tok.OP, i, i + 2, None, space)
            return i + 2
        if nxt in ("'", '"'):
            try:
                value, end, interpolated = _scan(text, i + 2, nxt, None, nxt == '"')
            except _ScanError as err:
                raise self.wrap(err) from None
            self.add(Tok.SYMBOL, i, end, value, space, interpolated=interpolated, quoted=True)
            return end
        m = _SYMBOL_NAME.match(text, i + 1)
        if m is not None:
            name = m.group()
            if name.endswith("=") and text.startswith(("=", ">", "~"), m.end() - 1):
                name = name[:-1]  # `:a=>1`
            end = i + 1 + len(name)
            self.add(Tok.SYMBOL, i, end, name, space)
            return end
        self.add(Tok.OP, i, i + 1, None, space)
        return i + 1

    def percent(self, i: int, space: bool) -> int | None:
        text = self.text
        j = i + 1
        kind = ""
        if j < self.n and text[j] in "wWiIqQrs" and j + 1 < self.n:
            kind = text[j]
            j += 1
        if j >= self.n:
            return None
        delim = text[j]
        if delim.isalnum() or delim.isspace() or delim == "=" or (not kind and delim not in "([{<|!/^~"):
            return None
        close = _PAIRS.get(delim, delim)
        open_ = delim if delim in _PAIRS else None
        interp = kind in ("", "Q", "W", "I", "r")
        try:
            if kind in ("w", "W", "i", "I"):
                raw, end, interpolated = _scan(text, j + 1, close, open_, False)
                words = raw.split()
                self.add(Tok.WORDS, i, end, words, space, interpolated=interp and "#{" in raw)
                return end
            value, end, interpolated = _scan(text, j + 1, close, open_, interp)
        except _ScanError as err:
            raise self.wrap(err) from None
        if kind == "r":
            end = self.regex_flags(end)
            self.add(Tok.REGEX, i, end, value, space, interpolated=interpolated)
        elif kind == "s":
            self.add(Tok.SYMBOL, i, end, value, space, quoted=True)
        else:
            self.add(Tok.STRING, i, end, value, space, interpolated=interpolated)
        return end

    def regex_flags(self, end: int) -> int:
        while end < self.n and self.text[end] in "imxounse":
            end += 1
        return end

    def regex(self, i: int, space: bool) -> int:
        try:
            value, end, interpolated = _scan(self.text, i + 1, "/", None, True)
        except _ScanError as err:
            raise self.error("unterminated regular expression", err.offset) from None
        end = self.regex_flags(end)
        self.add(Tok.REGEX, i, end, value, space, interpolated=interpolated)
        return end

    def heredoc(self, m: re.Match[str], space: bool) -> int:
        flag, quote, quoted_id, bare_id = m.groups()
        terminator = quoted_id if quoted_id is not None else bare_id
        self.heredocs.append((len(self.tokens), terminator, flag == "~", flag == "-", quote != "'"))
        self.add(Tok.STRING, m.start(), m.end(), "", space)
        return m.end()

    def read_heredocs(self, i: int) -> int:
        text = self.text
        for index, terminator, squiggly, dash, interp in self.heredocs:
            lines: list[str] = []
            while True:
                if i >= self.n:
                    marker = self.tokens[index]
                    raise self.error(f"unterminated heredoc {marker.text}: no line '{terminator}'", marker.loc.offset)
                j = text.find("\n", i)
                line = text[i : self.n if j < 0 else j]
                i = self.n if j < 0 else j + 1
                candidate = line.strip() if squiggly or dash else line.rstrip("\r")
                if candidate == terminator:
                    break
                lines.append(line + "\n")
            if squiggly:
                lines = _dedent(lines)
            body = "".join(lines)
            token = self.tokens[index]
            if interp:
                try:
                    value, _, interpolated = _scan(body, 0, None, None, True)
                except _ScanError as err:
                    raise self.error(f"in heredoc {token.text}: {err.message}", token.loc.offset) from None
            else:
                value, interpolated = body, False
            self.tokens[index] = dataclasses.replace(token, value=value, interpolated=interpolated)
        self.heredocs.clear()
        return i


def _dedent(lines: list[str]) -> list[str]:
    widths = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
    cut = min(widths, default=0)
    return [line[cut:] if line.strip() else line.lstrip(" \t") for line in lines]


def tokenize(text: str, filename: str = "<string>") -> list[Token]:
    """All tokens of `text`, ending with one EOF token.

    A lexical error (an unterminated string, a stray character) does not raise: the tokens end with
    an ERROR token holding the RubySyntaxError, so that the parser reports errors in file order.
    """
    lexer = _Lexer(text, filename)
    try:
        return lexer.run()
    except RubySyntaxError as err:
        offset = lexer.offset_of(err)
        loc = Loc(filename, err.line, err.column, err.line, err.column, offset, offset)
        lexer.tokens.append(Token(Tok.ERROR, "", err, loc, True))
        lexer.tokens.append(Token(Tok.EOF, "", None, loc, True))
        return lexer.tokens
