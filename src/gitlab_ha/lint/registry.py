"""The rule registry: every rule module registers its checks here with `@rule(...)`.

The registry knows nothing of the rules themselves (they import it, never the reverse), so the
engine loads the rules package and reads what it registered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitlab_ha.lint.findings import Finding, Severity

if TYPE_CHECKING:  # the context refers to the rule it runs for; only the types meet here
    from gitlab_ha.lint.context import Lint

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
    """Register a rule. `hint` is the default fix hint; a finding may give a more precise one. The
    check is called with a `Lint` bound to this rule, so its findings carry the id without retyping it."""

    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, severity, title, hint, check)
        return check

    return register
