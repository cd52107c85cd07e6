"""Recursive-descent parser for the Ruby subset of gitlab.rb files. It never executes Ruby.

Why hand-written: no maintained Python library parses this Ruby subset with locations, and the
subset is small — statements are assignments (`x['a'][:b] = v`), calls (`roles ['a']`,
`git_data_dirs({...})`) and a few other expressions; values are literals (strings, numbers,
symbols, arrays, hashes, `%w()` lists, heredocs) and simple expressions (`['*'] * 2`, `ENV['X']`,
`File.read('/x').strip`), which are kept opaque with their source text and, when built from
literals only, a computed value. Anything else (`if ... end`, blocks, `def`) is a syntax error.

Grammar (newlines end statements except after an operator, a comma or an opening bracket):

    program    := { statement (NEWLINE | ';') }
    statement  := expr [ ASSIGN_OP expr ] [ ('if' | 'unless' | ...) expr ]
    expr       := binary [ '?' expr ':' expr ]
    binary     := unary { BINARY_OP binary }            (precedence climbing)
    unary      := ('-' | '+' | '!' | '~') unary | postfix
    postfix    := primary { '[' args ']' | ('.' | '&.' | '::') NAME [ '(' args ')' | command_args ] }
    primary    := literal | array | hash | '(' expr ')' | NAME [ '(' args ')' | command_args ] | CONST | ...
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gitlab_ha.rubycfg.errors import RubySyntaxError
from gitlab_ha.rubycfg.lexer import VALUE_KEYWORDS, tokenize
from gitlab_ha.rubycfg.nodes import (
    MISSING,
    Array,
    Assignment,
    Bool,
    Call,
    Expr,
    ExprStatement,
    Float,
    Hash,
    Int,
    Nil,
    Pair,
    Statement,
    Str,
    Symbol,
    Target,
    Value,
    key_text,
    static_value,
)
from gitlab_ha.rubycfg.tokens import Loc, Tok, Token

__all__ = ["MAX_DEPTH", "MAX_ERRORS", "Parser"]

MAX_DEPTH = 48
"""Brackets and operators nested deeper than this are reported as a syntax error (real files nest < 10)."""

MAX_ERRORS = 50

ASSIGN_OPS = frozenset({"=", "||=", "&&=", "+=", "-=", "*=", "/=", "%=", "**=", "|=", "&=", "^=", "<<=", ">>="})
BINARY_PRECEDENCE = {
    "..": 1,
    "...": 1,
    "||": 2,
    "&&": 3,
    "<=>": 5,
    "==": 5,
    "===": 5,
    "!=": 5,
    "=~": 5,
    "!~": 5,
    "<": 6,
    "<=": 6,
    ">": 6,
    ">=": 6,
    "|": 7,
    "^": 7,
    "&": 8,
    "<<": 9,
    ">>": 9,
    "+": 10,
    "-": 10,
    "*": 11,
    "/": 11,
    "%": 11,
    "**": 13,
}
MODIFIERS = frozenset({"if", "unless", "while", "until", "rescue"})
UNSUPPORTED = frozenset(
    {
        "if",
        "unless",
        "while",
        "until",
        "case",
        "when",
        "def",
        "class",
        "module",
        "begin",
        "end",
        "for",
        "do",
        "then",
        "else",
        "elsif",
        "rescue",
        "ensure",
        "return",
        "yield",
        "break",
        "next",
        "redo",
        "retry",
        "alias",
        "undef",
        "super",
        "and",
        "or",
        "not",
        "in",
        "BEGIN",
        "END",
    }
)
_CLOSERS = (")", "]", "}")
_ARGUMENT_SPLATS = ("*", "**", "&")  # an array literal takes `*` only
_LIMIT_ITEMS = 100_000
_LIMIT_BITS = 8192


def _with_pairs(values: list[Value], pairs: list[Pair]) -> tuple[Value, ...]:
    """`values`, then the brace-less hash that `pairs` make together (if any), as Ruby passes them."""
    if pairs:
        values.append(Hash(pairs[0].loc.to(pairs[-1].loc), tuple(pairs), braces=False))
    return tuple(values)


def _truthy(value: Any) -> bool:
    return value is not None and value is not False


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _compute(op: str, left: Any, right: Any) -> Any:
    """Ruby's result of `left op right` for literal operands, or MISSING (never raises, never explodes)."""
    if left is MISSING or right is MISSING:
        return MISSING
    if op == "||":
        return left if _truthy(left) else right
    if op == "&&":
        return right if _truthy(left) else left
    try:
        if _number(left) and _number(right):
            return _arithmetic(op, left, right)
        if type(left) is str and type(right) is str:
            if op == "+" and len(left) + len(right) <= _LIMIT_ITEMS:
                return left + right
            if op in ("==", "!="):
                return (left == right) == (op == "==")
        if isinstance(left, (str, list)) and type(right) is int and op == "*" and right >= 0:
            if type(left) is str and len(left) * right <= _LIMIT_ITEMS:
                return left * right
            if isinstance(left, list) and len(left) * right <= _LIMIT_ITEMS:
                return list(left) * right
        if isinstance(left, list) and isinstance(right, list) and op == "+" and len(left) + len(right) <= _LIMIT_ITEMS:
            return list(left) + list(right)
    except (ArithmeticError, ValueError, TypeError):
        return MISSING
    return MISSING


def _arithmetic(op: str, left: float, right: float) -> Any:
    both_int = isinstance(left, int) and isinstance(right, int)
    if op in ("+", "-", "*"):
        if both_int and op == "*" and int(left).bit_length() + int(right).bit_length() > _LIMIT_BITS:
            return MISSING
        return left + right if op == "+" else left - right if op == "-" else left * right
    if op in ("/", "%"):
        if right == 0:
            return MISSING
        if both_int:
            return int(left) // int(right) if op == "/" else int(left) % int(right)
        return left / right if op == "/" else left % right
    if op == "**":
        if both_int:
            if right < 0 or right * max(int(left).bit_length(), 1) > _LIMIT_BITS:
                return MISSING
            return int(left) ** int(right)
        if abs(right) > 1024:
            return MISSING
        result = left**right
        return result if isinstance(result, float) else MISSING
    comparisons = {
        "==": left == right,
        "!=": left != right,
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
    }
    return comparisons.get(op, MISSING)


def _unary(op: str, value: Any) -> Any:
    if value is MISSING:
        return MISSING
    if op == "!":
        return not _truthy(value)
    if _number(value):
        if op == "-":
            return -value
        if op == "+":
            return value
        if op == "~" and isinstance(value, int):
            return ~value
    return MISSING


class Parser:
    """Parses one file. Use `gitlab_ha.rubycfg.parse()` rather than this class directly."""

    def __init__(self, text: str, filename: str = "<string>", recover: bool = False) -> None:
        self.text = text
        self.file = filename
        self.recover = recover
        self.tokens: list[Token] = []
        self.pos = 0
        self.tok = Token(Tok.EOF, "", None, Loc(filename, 1, 1, 1, 1, 0, 0), True)
        self.prev: Token | None = None
        self.depth = 0
        self.errors: list[RubySyntaxError] = []

    # -- token helpers ----------------------------------------------------------------------

    def start(self) -> None:
        """Tokenize the text and point at the first token."""
        self.tokens = tokenize(self.text, self.file)
        self.pos = 0
        self.tok = self.tokens[0]
        self.check(self.tok)

    def check(self, token: Token) -> None:
        """Raise the tokenizer's error when the parser reaches it."""
        if token.kind is Tok.ERROR:
            raise token.value

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tok
        if token.kind is not Tok.EOF:
            self.pos += 1
            self.tok = self.tokens[self.pos]
            if self.tok.kind is Tok.ERROR:
                raise self.tok.value
        self.prev = token
        return token

    def skip_newlines(self) -> None:
        while self.tok.kind is Tok.NEWLINE:
            self.pos += 1
            self.tok = self.tokens[self.pos]
            self.check(self.tok)

    def span(self, start: Loc) -> Loc:
        """From `start` to the end of the last consumed token."""
        assert self.prev is not None
        return start.to(self.prev.loc)

    def source(self, loc: Loc) -> str:
        return self.text[loc.offset : loc.end_offset]

    def error(self, message: str, token: Token) -> RubySyntaxError:
        return RubySyntaxError(message, self.file, token.loc.line, token.loc.column)

    def expected(self, what: str, token: Token) -> RubySyntaxError:
        return self.error(f"expected {what}, found {token.describe()}", token)

    def close_error(self, closer: str, opener: Token, found: Token) -> RubySyntaxError:
        where = f"'{opener.text}' opened at line {opener.loc.line}"
        if found.kind is Tok.EOF or (found.kind is Tok.OP and found.text in _CLOSERS):
            return self.error(f"expected '{closer}' to close {where}, found {found.describe()}", found)
        return self.error(f"expected ',' or '{closer}' (to close {where}), found {found.describe()}", found)

    def is_wrong_closer(self, token: Token, closer: str) -> bool:
        return token.kind is Tok.EOF or (token.kind is Tok.OP and token.text in _CLOSERS and token.text != closer)

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"expression nested more than {MAX_DEPTH} levels deep", self.tok)

    def expr_node(
        self, kind: str, loc: Loc, children: tuple[Value, ...] = (), name: str = "", value: Any = MISSING
    ) -> Expr:
        return Expr(loc, kind, self.source(loc), children, name, value)

    # -- program and statements -----------------------------------------------------------------

    def parse_program(self) -> list[Statement]:
        statements: list[Statement] = []
        try:
            self.start()
            while True:
                self.skip_newlines()
                if self.tok.kind is Tok.EOF:
                    break
                try:
                    statement = self.statement()
                    if self.tok.kind not in (Tok.NEWLINE, Tok.EOF):
                        raise self.expected("end of line after the statement", self.tok)
                    statements.append(statement)
                except RubySyntaxError as err:
                    self.errors.append(err)
                    if not self.recover or len(self.errors) >= MAX_ERRORS or self.tok.kind is Tok.ERROR:
                        break
                    self.synchronize()
                finally:
                    self.depth = 0
        except RubySyntaxError as err:  # the tokenizer's error, reached while skipping
            self.errors.append(err)
        except RecursionError:
            self.errors.append(self.error("expression nested too deeply", self.tok))
        return statements

    def parse_target(self) -> Target:
        """Parse the whole text as one assignable key (`x['a'][:b]`); used to read key strings."""
        self.start()
        expr = self.expression()
        self.skip_newlines()
        if self.tok.kind is not Tok.EOF:
            raise self.expected("end of the key", self.tok)
        return self.target_of(expr)

    def synchronize(self) -> None:
        """Skip to the next line that starts like a statement (a name), after an error."""
        if self.tok.kind is not Tok.NEWLINE:
            while self.tok.kind not in (Tok.NEWLINE, Tok.EOF):
                self.advance()
        while True:
            self.skip_newlines()
            token = self.tok
            if token.kind is Tok.EOF:
                return
            if token.kind in (Tok.IDENT, Tok.CONST, Tok.IVAR, Tok.GVAR) and token.text not in UNSUPPORTED:
                return
            while self.tok.kind not in (Tok.NEWLINE, Tok.EOF):
                self.advance()

    def statement(self) -> Statement:
        first = self.tok
        if first.kind is Tok.IDENT and first.text in UNSUPPORTED:
            raise self.error(
                f"unsupported Ruby construct '{first.text}': only assignments, method calls and literal values are read",
                first,
            )
        expr = self.expression(command=True)
        token = self.tok
        statement: Statement
        if token.kind is Tok.OP and token.text in ASSIGN_OPS:
            target = self.target_of(expr)
            self.advance()
            self.skip_newlines()
            value = self.expression(command=True)
            statement = Assignment(expr.loc.to(value.loc), target, value, token.text)
        elif isinstance(expr, Expr) and expr.kind in ("ident", "call") and not expr.name[:1].isupper():
            statement = Call(expr.loc, expr.name, expr.children, expr.kind == "call" and self._has_parens(expr))
        else:
            statement = ExprStatement(expr.loc, expr)
        while self.tok.kind is Tok.IDENT and self.tok.text in MODIFIERS:
            keyword = self.advance().text
            condition = self.expression(command=True)
            loc = statement.loc.to(condition.loc)
            if isinstance(statement, Assignment):
                statement = Assignment(loc, statement.target, statement.value, statement.op, condition, keyword)
            elif isinstance(statement, Call):
                statement = Call(loc, statement.name, statement.args, statement.parens, condition, keyword)
            else:
                statement = ExprStatement(loc, statement.expr, condition, keyword)
        return statement

    def _has_parens(self, expr: Expr) -> bool:
        rest = expr.source[len(expr.name) :]
        return rest.startswith("(")

    def target_of(self, expr: Value) -> Target:
        key_nodes: list[Value] = []
        node = expr
        while isinstance(node, Expr) and node.kind == "index":
            if len(node.children) != 2:
                raise self.error(
                    f"an assigned key takes exactly one index, found {len(node.children) - 1}", self._tok_at(node.loc)
                )
            key_nodes.append(node.children[1])
            node = node.children[0]
        if not (isinstance(node, Expr) and node.kind in ("ident", "const", "ivar", "gvar")):
            raise self.error(f"cannot assign to '{self.source(expr.loc)}'", self._tok_at(expr.loc))
        key_nodes.reverse()
        keys = tuple(key_text(key) for key in key_nodes)
        return Target(expr.loc, node.name, keys, tuple(key_nodes))

    def _tok_at(self, loc: Loc) -> Token:
        return Token(Tok.OP, "", None, loc, False)

    # -- expressions ------------------------------------------------------------------------------

    def expression(self, command: bool = False) -> Value:
        self.enter()
        try:
            node = self.binary(0, command)
            if self.tok.is_op("?"):
                self.advance()
                self.skip_newlines()
                then = self.expression()
                self.skip_newlines()
                if not self.tok.is_op(":"):
                    raise self.expected("':' of 'condition ? a : b'", self.tok)
                self.advance()
                self.skip_newlines()
                other = self.expression()
                cond = static_value(node)
                value = MISSING if cond is MISSING else static_value(then if _truthy(cond) else other)
                node = self.expr_node("ternary", node.loc.to(other.loc), (node, then, other), "?", value)
            return node
        finally:
            self.depth -= 1

    def binary(self, min_precedence: int, command: bool) -> Value:
        left = self.unary(command)
        while True:
            token = self.tok
            if token.kind is not Tok.OP:
                return left
            precedence = BINARY_PRECEDENCE.get(token.text)
            if precedence is None or precedence < min_precedence:
                return left
            self.advance()
            self.skip_newlines()
            self.enter()
            try:
                right = self.binary(precedence if token.text == "**" else precedence + 1, False)
            finally:
                self.depth -= 1
            kind = "range" if token.text in ("..", "...") else "binop"
            value = MISSING if kind == "range" else _compute(token.text, static_value(left), static_value(right))
            left = self.expr_node(kind, left.loc.to(right.loc), (left, right), token.text, value)

    def unary(self, command: bool) -> Value:
        token = self.tok
        if token.kind is Tok.OP and token.text in ("-", "+", "!", "~"):
            nxt = self.peek()
            if token.text in ("-", "+") and nxt.kind in (Tok.INT, Tok.FLOAT) and not nxt.space_before:
                self.advance()
                self.advance()
                number = -nxt.value if token.text == "-" else nxt.value
                loc = token.loc.to(nxt.loc)
                literal: Value = Int(loc, number) if nxt.kind is Tok.INT else Float(loc, number)
                return self.postfix(literal, command)
            self.advance()
            self.enter()
            try:
                operand = self.unary(False)
            finally:
                self.depth -= 1
            loc = token.loc.to(operand.loc)
            return self.expr_node("unary", loc, (operand,), token.text, _unary(token.text, static_value(operand)))
        return self.postfix(self.primary(command), command)

    def postfix(self, node: Value, command: bool) -> Value:
        while True:
            token = self.tok
            if token.kind is Tok.OP:
                if token.text == "[" and not token.space_before:
                    opener = self.advance()
                    args = self.elements(opener, "]", _ARGUMENT_SPLATS)
                    node = self.expr_node("index", self.span(node.loc), (node, *args), "[]")
                    continue
                if token.text in (".", "&.", "::") and not (token.text == "::" and token.space_before):
                    node = self.method_call(node, command)
                    continue
            elif token.kind is Tok.NEWLINE and self.peek().is_op(".", "&."):
                self.advance()
                continue
            return node

    def method_call(self, receiver: Value, command: bool) -> Value:
        dot = self.advance()
        self.skip_newlines()
        name = self.tok
        if name.kind not in (Tok.IDENT, Tok.CONST):
            raise self.expected(f"a method name after '{dot.text}'", name)
        self.advance()
        if dot.text == "::" and name.kind is Tok.CONST and not (self.tok.is_op("(") and not self.tok.space_before):
            return self.expr_node("scope", self.span(receiver.loc), (receiver,), name.text)
        args = self.call_arguments(command)
        value = MISSING
        if name.text == "freeze" and not args:
            value = static_value(receiver)
        return self.expr_node("method", self.span(receiver.loc), (receiver, *args), name.text, value)

    def call_arguments(self, command: bool) -> tuple[Value, ...]:
        """Arguments after a method name: `(a, b)`, a command list `a, b`, or none; refuses blocks."""
        token = self.tok
        if token.is_op("(") and not token.space_before:
            opener = self.advance()
            args = self.elements(opener, ")", _ARGUMENT_SPLATS)
        elif command and self.command_argument_starts():
            args = self.command_arguments()
        else:
            args = ()
        if self.tok.is_op("{") or (self.tok.kind is Tok.IDENT and self.tok.text == "do"):
            raise self.error(f"blocks ('{self.tok.text} ... ') are not supported in gitlab.rb", self.tok)
        return args

    def command_argument_starts(self) -> bool:
        """Does the current token start the argument list of a call written without parentheses?"""
        token = self.tok
        if not token.space_before:
            return False
        kind = token.kind
        if kind in (
            Tok.STRING,
            Tok.INT,
            Tok.FLOAT,
            Tok.SYMBOL,
            Tok.WORDS,
            Tok.REGEX,
            Tok.IVAR,
            Tok.GVAR,
            Tok.CONST,
            Tok.LABEL,
        ):
            return True
        if kind is Tok.IDENT:
            return token.text not in UNSUPPORTED or token.text in ("not",)
        if kind is Tok.OP:
            if token.text in ("[", "("):
                return True
            if token.text in ("-", "+", "*", "**", "&", "::", "!", "->"):
                return not self.peek().space_before
        return False

    def element(self, splats: tuple[str, ...], values: list[Value], pairs: list[Pair]) -> None:
        """One element of an argument list or an array literal: `key: v` and `k => v` go to `pairs` (the
        brace-less hash they make together), a splat (one of `splats`) or any other value to `values`."""
        token = self.tok
        if token.kind is Tok.LABEL:
            self.advance()
            self.skip_newlines()
            value = self.expression()
            pairs.append(Pair(token.loc.to(value.loc), Symbol(token.loc, token.value), value, "label"))
        elif token.kind is Tok.OP and token.text in splats:
            self.advance()
            operand = self.expression()
            values.append(self.expr_node("splat", token.loc.to(operand.loc), (operand,), token.text))
        else:
            value = self.expression()
            if self.tok.is_op("=>"):
                self.advance()
                self.skip_newlines()
                target = self.expression()
                pairs.append(Pair(value.loc.to(target.loc), value, target, "arrow"))
            else:
                values.append(value)

    def bracketed(self, opener: Token, closer: str, item: Callable[[], None]) -> None:
        """Comma-separated items up to `closer` (consumed), newlines allowed around them; `item` reads one."""
        while True:
            self.skip_newlines()
            token = self.tok
            if token.is_op(closer):
                break
            if self.is_wrong_closer(token, closer):
                raise self.close_error(closer, opener, token)
            item()
            self.skip_newlines()
            if self.tok.is_op(","):
                self.advance()
                continue
            if self.tok.is_op(closer):
                break
            raise self.close_error(closer, opener, self.tok)
        self.advance()

    def elements(self, opener: Token, closer: str, splats: tuple[str, ...]) -> tuple[Value, ...]:
        """The elements of `[...]`, `(...)` or an index up to `closer` (consumed)."""
        values: list[Value] = []
        pairs: list[Pair] = []
        self.bracketed(opener, closer, lambda: self.element(splats, values, pairs))
        return _with_pairs(values, pairs)

    def command_arguments(self) -> tuple[Value, ...]:
        """The arguments of a call without parentheses: up to the first one not followed by a comma."""
        values: list[Value] = []
        pairs: list[Pair] = []
        while True:
            self.element(_ARGUMENT_SPLATS, values, pairs)
            if not self.tok.is_op(","):
                return _with_pairs(values, pairs)
            self.advance()
            self.skip_newlines()

    # -- primaries --------------------------------------------------------------------------------

    def primary(self, command: bool) -> Value:
        token = self.tok
        kind = token.kind
        if kind is Tok.INT:
            self.advance()
            return Int(token.loc, token.value)
        if kind is Tok.FLOAT:
            self.advance()
            return Float(token.loc, token.value)
        if kind is Tok.STRING:
            return self.string()
        if kind is Tok.SYMBOL:
            self.advance()
            return Symbol(token.loc, token.value)
        if kind is Tok.WORDS:
            self.advance()
            return self.words(token)
        if kind is Tok.REGEX:
            self.advance()
            return self.expr_node("regex", token.loc)
        if kind is Tok.IVAR or kind is Tok.GVAR:
            self.advance()
            return self.expr_node("ivar" if kind is Tok.IVAR else "gvar", token.loc, name=token.text)
        if kind is Tok.IDENT:
            return self.name(command)
        if kind is Tok.CONST:
            self.advance()
            if self.tok.is_op("(") and not self.tok.space_before:
                args = self.call_arguments(command)
                return self.expr_node("call", self.span(token.loc), args, token.text)
            return self.expr_node("const", token.loc, name=token.text)
        if kind is Tok.LABEL:
            raise self.error(f"unexpected label '{token.text}' outside a hash or an argument list", token)
        if kind is Tok.OP:
            if token.text == "[":
                return self.array()
            if token.text == "{":
                return self.hash()
            if token.text == "(":
                return self.parenthesised()
            if token.text == "::":
                self.advance()
                name = self.tok
                if name.kind is not Tok.CONST:
                    raise self.expected("a constant after '::'", name)
                self.advance()
                return self.expr_node("const", token.loc.to(name.loc), name="::" + name.text)
            if token.text == "->":
                raise self.error("lambdas ('->') are not supported in gitlab.rb", token)
        raise self.expected("a value", token)

    def string(self) -> Value:
        first = self.advance()
        value: str = first.value
        interpolated = first.interpolated
        # Adjacent literals concatenate: "a" 'b'
        while self.tok.kind is Tok.STRING and self.tok.space_before and not self.tok.text.startswith("<<"):
            nxt = self.advance()
            value += nxt.value
            interpolated = interpolated or nxt.interpolated
        return Str(self.span(first.loc), value, interpolated)

    def words(self, token: Token) -> Array:
        letter = token.text[1]
        items: list[Value] = []
        search = 3
        for word in token.value:
            at = token.text.find(word, search)
            if at < 0:
                loc = token.loc
            else:
                search = at + len(word)
                start = token.loc.offset + at
                loc = self._sub_loc(token.loc, at, start, len(word))
            items.append(
                Symbol(loc, word) if letter in ("i", "I") else Str(loc, word, token.interpolated and "#{" in word)
            )
        return Array(token.loc, tuple(items), letter)

    def _sub_loc(self, whole: Loc, at: int, start: int, length: int) -> Loc:
        if whole.line == whole.end_line or "\n" not in self.text[whole.offset : start]:
            column = whole.column + at
            return Loc(whole.file, whole.line, column, whole.line, column + length, start, start + length)
        line = whole.line + self.text.count("\n", whole.offset, start)
        column = start - self.text.rfind("\n", 0, start)
        return Loc(whole.file, line, column, line, column + length, start, start + length)

    def name(self, command: bool) -> Value:
        token = self.advance()
        text = token.text
        if text in {"true", "false"}:
            return Bool(token.loc, text == "true")
        if text == "nil":
            return Nil(token.loc)
        if text == "self":
            return self.expr_node("self", token.loc, name=text)
        if text in UNSUPPORTED or text in VALUE_KEYWORDS:
            raise self.error(
                f"unsupported Ruby construct '{text}': only assignments, method calls and literal values are read",
                token,
            )
        if (self.tok.is_op("(") and not self.tok.space_before) or (command and self.command_argument_starts()):
            args = self.call_arguments(command)
            return self.expr_node("call", self.span(token.loc), args, text)
        if (self.tok.is_op("{") and not self.tok.space_before) or (
            self.tok.kind is Tok.IDENT and self.tok.text == "do"
        ):
            raise self.error(f"blocks ('{self.tok.text} ... ') are not supported in gitlab.rb", self.tok)
        return self.expr_node("ident", token.loc, name=text)

    def array(self) -> Array:
        opener = self.advance()
        items = self.elements(opener, "]", ("*",))  # `[a => 1]` and `[a: 1]` hold one brace-less hash
        return Array(self.span(opener.loc), items)

    def hash(self) -> Hash:
        opener = self.advance()
        pairs: list[Pair] = []

        def pair() -> None:
            token = self.tok
            key: Value
            if token.kind is Tok.LABEL:
                self.advance()
                self.skip_newlines()
                if self.tok.is_op(",", "}"):
                    raise self.expected(f"a value after '{token.text}'", self.tok)
                key = Symbol(token.loc, token.value)
                style = "label"
            elif token.is_op("**"):
                raise self.error("'**' (double splat) is not supported in gitlab.rb hashes", token)
            else:
                key = self.expression()
                if not self.tok.is_op("=>"):
                    if self.is_wrong_closer(self.tok, "}"):
                        raise self.close_error("}", opener, self.tok)
                    raise self.expected("'=>' after the hash key", self.tok)
                self.advance()
                self.skip_newlines()
                style = "arrow"
            value = self.expression()
            pairs.append(Pair(key.loc.to(value.loc), key, value, style))

        self.bracketed(opener, "}", pair)
        return Hash(self.span(opener.loc), tuple(pairs))

    def parenthesised(self) -> Value:
        opener = self.advance()
        self.skip_newlines()
        if self.tok.is_op(")"):
            self.advance()
            return Nil(self.span(opener.loc))
        inner = self.expression(command=True)
        self.skip_newlines()
        if not self.tok.is_op(")"):
            if self.is_wrong_closer(self.tok, ")"):
                raise self.close_error(")", opener, self.tok)
            raise self.expected(f"')' to close '(' opened at line {opener.loc.line}", self.tok)
        self.advance()
        return self.expr_node("paren", self.span(opener.loc), (inner,), "()", static_value(inner))
