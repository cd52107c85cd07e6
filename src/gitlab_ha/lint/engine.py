"""The run: every registered rule is a function of the whole `Lint` context that yields findings;
`run` calls each one, bound to its rule, and sorts what they report."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

import gitlab_ha.lint.rules  # noqa: F401  (importing the package registers every rule)
from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding
from gitlab_ha.lint.registry import RULES, Rule
from gitlab_ha.reconfigure.cluster import from_docs

__all__ = ["Lint", "Rule", "all_rules", "run"]


def with_model(lint: Lint) -> Lint:
    """`lint` with the reconfigure model of every node that has a gitlab.rb (built once per run)."""
    if lint.model is not None:
        return lint
    return dataclasses.replace(lint, model=from_docs(lint.cluster.documents(), lint.target))


def run(lint: Lint, *, only: Iterable[str] = ()) -> list[Finding]:
    lint = with_model(lint)
    wanted = set(only)
    found: list[Finding] = []
    for spec in RULES.values():
        if wanted and spec.id not in wanted:
            continue
        found.extend(spec.check(lint.for_rule(spec)))
    # A file with a syntax error was parsed only up to where recovery could resume: what it seems to
    # lack (a finding with no line: "X is not set") may just sit after the error. Only GHA001 speaks there.
    broken = {n.name for n, doc in lint.parsed_nodes() if doc.errors}
    found = [f for f in found if not (f.node in broken and f.line == 0 and f.rule not in _LAYOUT_RULES)]
    return sorted(set(found), key=Finding.sort_key)


# Rules about the cluster's shape, not a file's content: a syntax error does not make them doubtful.
_LAYOUT_RULES = frozenset({"GHA002", "GHA070", "GHA071"})


def all_rules() -> Iterator[Rule]:
    yield from sorted(RULES.values(), key=lambda r: r.id)
