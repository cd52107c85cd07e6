"""A parser for the Ruby subset that gitlab.rb uses (it never executes Ruby), and an emitter.

    >>> doc = parse("gitlab_rails['db_host'] = '10.0.0.1'\\nroles ['consul_role']\\n")
    >>> doc.get("gitlab_rails['db_host']").to_python()
    '10.0.0.1'
    >>> [role.name for role in doc.roles()]
    ['consul_role']
    >>> assign('gitlab_rails', ('db_port',), 6432)
    "gitlab_rails['db_port'] = 6432"

Modules: `tokens` (token kinds, `Loc`), `lexer`, `nodes` (the tree), `parser`, `document`
(`parse`, `Document`), `emit` (Python values → Ruby text), `errors` (`RubySyntaxError`).
"""

from gitlab_ha.rubycfg.document import Document, RoleRef, format_key, parse, parse_file, parse_key
from gitlab_ha.rubycfg.emit import Sym, Words, assign, call, to_ruby
from gitlab_ha.rubycfg.errors import RubySyntaxError
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
)
from gitlab_ha.rubycfg.tokens import Loc

__all__ = [
    "MISSING",
    "Array",
    "Assignment",
    "Bool",
    "Call",
    "Document",
    "Expr",
    "ExprStatement",
    "Float",
    "Hash",
    "Int",
    "Loc",
    "Nil",
    "Pair",
    "RoleRef",
    "RubySyntaxError",
    "Statement",
    "Str",
    "Sym",
    "Symbol",
    "Target",
    "Value",
    "Words",
    "assign",
    "call",
    "format_key",
    "parse",
    "parse_file",
    "parse_key",
    "to_ruby",
]
