"""Per-file rules: syntax, the folder against the topology, keys and roles of the target release."""

from __future__ import annotations

from collections.abc import Iterator

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.knowledge import ATTRIBUTE_KEYS, PATRONI_CONSUL_KEYS, change_for, known_roles, role_since
from gitlab_ha.lint.own_keys import NO_VERSION, near_miss, unknown_group
from gitlab_ha.lint.registry import rule
from gitlab_ha.topology.roles import Role

_S = Severity


@rule(
    "GHA001",
    _S.ERROR,
    "gitlab.rb syntax error",
    "Fix the Ruby at this place; `gitlab-ctl reconfigure` stops at the first syntax error.",
)
def syntax(lint: Lint) -> Iterator[Finding]:
    for node, doc in lint.parsed_nodes():
        for error in doc.errors:
            yield lint.finding(node, (error.file, error.line, error.column), error.message)


@rule(
    "GHA002",
    _S.WARNING,
    "folder and topology disagree",
    "Name each folder after a node of the topology (its name or address), one folder per Omnibus node.",
)
def folders(lint: Lint) -> Iterator[Finding]:
    topology = lint.cluster.topology
    if topology is None:
        return
    names = {n.name for n in topology.nodes} | {n.ip for n in topology.nodes}
    for node in lint.cluster.nodes:
        if node.name not in names:
            yield lint.finding(node, None, f"folder {node.name!r} matches no node of the topology")
    for name in lint.cluster.unmatched:
        declared = topology.node(name)
        yield lint.finding(None, None, f"node {name} ({declared.ip}) of the topology has no folder")


@rule(
    "GHA010",
    _S.WARNING,
    "key unknown at the target release",
    "Check the spelling against the release's gitlab.rb.template; Omnibus ignores or rejects unknown keys.",
)
def unknown_keys(lint: Lint) -> Iterator[Finding]:
    template = lint.template
    for node, doc in lint.parsed_nodes():
        seen: set[str] = set()
        for assignment in doc.assignments:
            if not assignment.target.keys:
                continue  # a Ruby local variable (`x = 1`), not a setting
            key = assignment.target.text
            if key in seen or key in ATTRIBUTE_KEYS or key in PATRONI_CONSUL_KEYS or change_for(key) is not None:
                continue
            seen.add(key)
            if template is not None:
                if not template.knows(key):
                    yield lint.finding(node, assignment.target.loc, f"{key} is not a key of {template.path}")
            elif problem := unknown_group(key):
                yield lint.finding(node, assignment.target.loc, problem)
            elif guess := near_miss(key, lint.version or NO_VERSION):
                yield lint.finding(node, assignment.target.loc, f"{key} is unknown; did you mean {guess}?")


@rule(
    "GHA011",
    _S.ERROR,
    "key removed at the target release",
    "Use the replacement named in the message; the removed key breaks `gitlab-ctl reconfigure`.",
)
def removed_keys(lint: Lint) -> Iterator[Finding]:
    yield from _changes(lint, removed=True)


@rule(
    "GHA012",
    _S.WARNING,
    "key deprecated at the target release",
    "Move to the replacement named in the message before upgrading past the release that removes it.",
)
def deprecated_keys(lint: Lint) -> Iterator[Finding]:
    yield from _changes(lint, removed=False)


def _changes(lint: Lint, *, removed: bool) -> Iterator[Finding]:
    if lint.version is None:
        return
    current = lint.version
    for node, doc in lint.parsed_nodes():
        places = [(a.target.text, a.target.loc) for a in doc.assignments]
        places += [(c.name, c.loc) for c in doc.calls]
        for key, loc in places:
            change = change_for(key)
            if change is None:
                continue
            if removed and change.removed_at(current):
                yield lint.finding(
                    node,
                    loc,
                    f"{key} was removed in {change.removed_in} (target {lint.version})",
                    f"Use {change.replacement}.",
                )
            elif not removed and change.deprecated_at(current):
                until = (
                    f"and removed in {change.removed_in}"
                    if change.removed_in is not None
                    else "(it still works, with a warning at every reconfigure)"
                )
                yield lint.finding(
                    node,
                    loc,
                    f"{key} is deprecated since {change.deprecated_in} {until}",
                    f"Use {change.replacement}.",
                )


@rule(
    "GHA013",
    _S.ERROR,
    "unknown role",
    "Use a role name of the target release (see `roles` in its gitlab.rb.template).",
)
def unknown_roles(lint: Lint) -> Iterator[Finding]:
    known = known_roles(lint.version)
    if lint.template is not None:
        known = known | lint.template.roles
    for node, _ in lint.parsed_nodes():
        for ref in node.omnibus_roles:
            if ref.name in known:
                continue
            since = role_since(ref.name)
            if since:
                message = f"role {ref.name} exists only from {since} on (target {lint.version})"
            else:
                message = f"unknown role {ref.name!r}"
            yield lint.finding(node, ref.loc, message)


@rule(
    "GHA014",
    _S.NOTE,
    "what was not checked",
    "Pass --template /opt/gitlab/etc/gitlab.rb.template (from a node of the target release) and --version.",
)
def not_checked(lint: Lint) -> Iterator[Finding]:
    if lint.template is None:
        yield lint.finding(
            None,
            None,
            "no --template: keys were checked only against Omnibus' setting groups and the keys gitlab-ha renders",
        )
    if lint.version is None:
        yield lint.finding(None, None, "no --version (nor topology): removed and deprecated keys were not checked")


# The roles a file shows beyond doubt (a role list or `x['enable'] = true`), compared with the topology.
# Some kinds look the same in a file: which PostgreSQL is Praefect's, or which Redis is the cache, is the
# topology's to say, so each such pair counts as one kind.
_FILE_ROLES = (Role.RAILS, Role.SIDEKIQ, Role.GITALY, Role.PRAEFECT, Role.PATRONI, Role.REDIS, Role.SENTINEL)
_SAME_IN_A_FILE = {
    Role.PRAEFECT_POSTGRES: Role.POSTGRES,
    Role.REDIS_CACHE: Role.REDIS,
    Role.SENTINEL_CACHE: Role.SENTINEL,
}


def _kinds(roles: set[Role]) -> set[Role]:
    kinds = {_SAME_IN_A_FILE.get(role, role) for role in roles}
    return {kind for kind in kinds if kind in _FILE_ROLES or kind is Role.POSTGRES}


@rule(
    "GHA015",
    _S.ERROR,
    "the file's roles are not the topology's",
    "Make the node's `roles [...]` (or `x['enable']`) and its roles in the topology say the same.",
)
def file_roles(lint: Lint) -> Iterator[Finding]:
    if lint.cluster.topology is None:
        return
    known = known_roles(lint.version) | (lint.template.roles if lint.template is not None else frozenset())
    for node, _ in lint.parsed_nodes():
        if not node.roles:
            continue
        if any(ref.name not in known for ref in node.omnibus_roles):
            continue  # GHA013 speaks: Omnibus refuses the whole role list
        declared, written = _kinds(node.roles), _kinds(node.file_roles)
        missing, extra = sorted(declared - written), sorted(written - declared)
        if not missing and not extra:
            continue
        parts = [f"lacks {', '.join(r.value for r in missing)}"] if missing else []
        parts += [f"also runs {', '.join(r.value for r in extra)}"] if extra else []
        at = node.omnibus_roles[0].loc if node.omnibus_roles else None
        yield lint.finding(node, at, f"the topology gives {node.label} other roles: the file {'; '.join(parts)}")
