"""The rule registry and the run: every rule is a function of the whole `Lint` context that yields
findings; `run` calls each one and sorts what they report."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Cluster, Node
from gitlab_ha.lint.template import Template
from gitlab_ha.rubycfg import Loc
from gitlab_ha.rubycfg.nodes import Value

Check = Callable[["Lint"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    hint: str
    check: Check


RULES: dict[str, Rule] = {}


def rule(rule_id: str, severity: Severity, title: str, hint: str) -> Callable[[Check], Check]:
    """Register a rule. `hint` is the default fix hint; a finding may give a more precise one."""

    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, severity, title, hint, check)
        return check

    return register


@dataclass
class Lint:
    """What every rule sees: the cluster, the target version (or None) and the template (or None)."""

    cluster: Cluster
    version: str | None = None
    template: Template | None = None

    @property
    def declared(self) -> bool:
        """Whether node roles come from a topology file (the layout is then the user's stated choice)."""
        return self.cluster.topology is not None

    def finding(
        self,
        rule_id: str,
        node: Node | None,
        at: Value | Loc | tuple[str, int, int] | None,
        message: str,
        hint: str | None = None,
        severity: Severity | None = None,
    ) -> Finding:
        spec = RULES[rule_id]
        file, line, column = "", 0, 0
        if isinstance(at, Value):
            at = at.loc
        if isinstance(at, Loc):
            file, line, column = at.file, at.line, at.column
        elif isinstance(at, tuple):
            file, line, column = at
        elif node is not None:
            file = node.rb_file or node.cfg_file
        return Finding(
            rule=rule_id,
            severity=severity or spec.severity,
            message=message,
            hint=hint or spec.hint,
            node=node.name if node is not None else "",
            file=file,
            line=line,
            column=column,
        )


def _load_rules() -> None:
    import gitlab_ha.lint.rules  # noqa: F401  (registers every rule)


def run(lint: Lint, *, only: Iterable[str] = ()) -> list[Finding]:
    _load_rules()
    wanted = set(only)
    found: list[Finding] = []
    for spec in RULES.values():
        if wanted and spec.id not in wanted:
            continue
        found.extend(spec.check(lint))
    # A file with a syntax error was parsed only up to where recovery could resume: what it seems to
    # lack (a finding with no line: "X is not set") may just sit after the error. Only GHA001 speaks there.
    broken = {n.name for n in lint.cluster.nodes if n.doc is not None and n.doc.errors}
    found = [f for f in found if not (f.node in broken and f.line == 0 and f.rule not in _LAYOUT_RULES)]
    return sorted(set(found), key=Finding.sort_key)


# Rules about the cluster's shape, not a file's content: a syntax error does not make them doubtful.
_LAYOUT_RULES = frozenset({"GHA002", "GHA070", "GHA071"})


def all_rules() -> Iterator[Rule]:
    _load_rules()
    yield from sorted(RULES.values(), key=lambda r: r.id)
