"""Secrets: MD5 hashes against plaintext set elsewhere, weak secrets, open allowlists and trust."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterator

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Node
from gitlab_ha.lint.registry import rule
from gitlab_ha.lint.rules.database import rails_nodes
from gitlab_ha.lint.rules.util import child, py
from gitlab_ha.rubycfg.document import format_key
from gitlab_ha.rubycfg.nodes import Array, Hash, Str, Value, key_text
from gitlab_ha.secrets.hashing import pg_md5
from gitlab_ha.topology.roles import Role

_S = Severity
_MD5 = re.compile(r"^(md5)?[0-9a-f]{32}$")


@rule(
    "GHA060",
    _S.ERROR,
    "MD5 hash does not match the password",
    "Recompute the hash with `gitlab-ctl pg-password-md5 <user>` from the password the clients use.",
)
def md5_mismatch(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    # user gitlab: every Rails' db_password against every database node's sql_user_password
    clients = [
        (rails, str(rails.value("gitlab_rails['db_username']") or "gitlab"), rails.get("gitlab_rails['db_password']"))
        for rails in rails_nodes(lint)
    ]
    databases = cluster.with_role(Role.PATRONI) + cluster.with_role(Role.POSTGRES)
    yield from _agree(lint, clients, databases, "gitlab")
    # user praefect: every Praefect's database password against the Praefect PostgreSQL's hash
    praefects = []
    for praefect in cluster.with_role(Role.PRAEFECT):
        user = py(child(praefect.get("praefect['configuration']"), "database", "user")) or "praefect"
        password = child(praefect.get("praefect['configuration']"), "database", "password")
        praefects.append((praefect, str(user), password))
    yield from _agree(lint, praefects, cluster.with_role(Role.PRAEFECT_POSTGRES), "praefect")


_HASH = "postgresql['sql_user_password']"


def _agree(
    lint: Lint, clients: list[tuple[Node, str, Value | None]], servers: list[Node], user: str
) -> Iterator[Finding]:
    """Each client's plaintext and each server's MD5 hash stand for one md5(password + user); every one
    that differs from the most common is reported where it is (a tie trusts the clients' plaintext)."""
    votes: list[tuple[Node, str, Value, str]] = []  # node, who, value node, the hash it stands for
    for node, client_user, value in clients:
        if isinstance(value, Str) and not value.interpolated:
            votes.append((node, "client", value, pg_md5(value.value, client_user)))
    has_client = bool(votes)
    for node in servers:
        value = node.get(_HASH)
        if isinstance(value, Str) and _MD5.match(value.value):
            votes.append((node, _HASH, value, value.value.removeprefix("md5")))
    if not has_client or not any(key == _HASH for _, key, _, _ in votes):
        return  # plaintext only, or hashes only: nothing to check against
    common = Counter(digest for _, _, _, digest in votes).most_common(1)[0][0]
    for node, key, value, digest in votes:
        if digest == common:
            continue
        if key == _HASH:
            message = f"{key} is not md5(password + {user!r}) of the password the clients use"
        else:
            message = "this password is not the one the database's MD5 hash and the other clients stand for"
        yield lint.finding(
            node,
            value,
            message,
            f"Set it to the output of `gitlab-ctl pg-password-md5 {user}` for that password.",
        )


_WORDS = frozenset(
    [
        "test",
        "testing",
        "password",
        "passwd",
        "secret",
        "changeme",
        "admin",
        "root",
        "gitlab",
        "redis",
        "postgres",
        "postgresql",
        "praefect",
        "gitaly",
        "consul",
        "patroni",
        "pgbouncer",
        "token",
        "default",
        "example",
        "qwerty",
        "letmein",
        "welcome",
        "abc",
    ]
)
_SECRET_KEY = re.compile(r"(password|token|secret|encryption_key)", re.IGNORECASE)
# Keys named after a secret that hold something else (a file, a name, a switch, a length).
_NOT_SECRET = re.compile(
    r"(_file|_path|_dir|_url|_uri|_id|_key_id|_name|_user|_username|_header|_length|_expires?\w*|_ttl|_command|_enabled?|_cron)$"
)
# Keys that hold an MD5 hash, not a password (judged by GHA060 instead).
_HASH_KEYS = re.compile(
    r"^postgresql\['(sql_user_password|sql_replication_password|pgbouncer_user_password)'\]|^pgbouncer\["
)


def _weakness(secret: str, user: str | None) -> str | None:
    lowered = secret.lower()
    if user and lowered == user.lower():
        return "equal to its user name"
    if lowered in _WORDS or re.sub(r"[\d\W_]+", "", lowered) in _WORDS:
        return "a dictionary word"
    if len(secret) < 16:
        return f"only {len(secret)} characters"
    if len(set(secret)) < 8:
        return "too few distinct characters"
    if len(secret) < 24 and any(word in lowered for word in _WORDS if len(word) >= 4):
        return "built from a dictionary word"
    return None


def _leaves(path: tuple[str, ...], value: Value) -> Iterator[tuple[tuple[str, ...], Value]]:
    if isinstance(value, Hash):
        for pair in value.pairs:
            yield from _leaves((*path, key_text(pair.key)), pair.value)
    elif isinstance(value, Array):
        for item in value.items:
            yield from _leaves(path, item)
    else:
        yield path, value


def _secret_values(node: Node) -> Iterator[tuple[str, str, Value, str | None]]:
    """(key, secret, node, user) for every plaintext secret the file sets."""
    if node.doc is None:
        return
    pairs: list[tuple[tuple[str, ...], Value]] = []
    for assignment in node.doc.assignments:
        pairs.extend(_leaves(assignment.target.path, assignment.value))
    for call in node.doc.calls:
        for arg in call.args:
            pairs.extend(_leaves((call.name,), arg))
    for path, value in pairs:
        key = format_key(path)
        if not _SECRET_KEY.search(path[-1]) or _NOT_SECRET.search(path[-1]) or _HASH_KEYS.match(key):
            continue
        if not isinstance(value, Str) or value.interpolated or not value.value or value.value.startswith("/"):
            continue
        user: str | None = None
        if path[-1] == "password":
            sibling = node.get(format_key((*path[:-1], "username")))
            user_value = py(sibling)
            user = user_value if isinstance(user_value, str) else None
        yield key, value.value, value, user


@rule(
    "GHA061",
    _S.WARNING,
    "weak secret",
    "Use a long random secret (`gitlab-ha secrets init` makes them); never a word, a short string or the user name.",
)
def weak_secrets(lint: Lint) -> Iterator[Finding]:
    for node in lint.cluster.nodes:
        for key, secret, value, user in _secret_values(node):
            if _MD5.match(secret):
                continue
            why = _weakness(secret, user)
            if why:
                yield lint.finding(node, value, f"{key} is weak: {why}")


# Allowlists and trust settings (md5_auth_cidr_addresses still asks for a password: not judged here).
_CIDR_KEY = re.compile(r"(allowlist|whitelist|trust)", re.IGNORECASE)


def _networks(node: Node) -> Iterator[tuple[str, Value, ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    if node.doc is None:
        return
    for key, value in node.doc.flat().items():
        if not _CIDR_KEY.search(key):
            continue
        entries = value.items if isinstance(value, Array) else (value,)
        for entry in entries:
            text = py(entry)
            if not isinstance(text, str):
                continue
            for part in text.split():
                try:
                    yield key, entry, ipaddress.ip_network(part, strict=False)
                except ValueError:
                    continue


@rule(
    "GHA062",
    _S.ERROR,
    "allowlist or trust open to every address",
    "List only the nodes that need access (their /32 addresses), never 0.0.0.0/0.",
)
def open_to_all(lint: Lint) -> Iterator[Finding]:
    for node in lint.cluster.nodes:
        for key, entry, network in _networks(node):
            if network.prefixlen == 0:
                yield lint.finding(node, entry, f"{key} allows every address ({network})")


@rule(
    "GHA063",
    _S.WARNING,
    "PostgreSQL trusts a whole network",
    "Trust only 127.0.0.1/32 and the Patroni nodes' own /32 addresses (pg_rewind logs in as the superuser "
    "without a password); give every other node md5 logins (md5_auth_cidr_addresses).",
)
def trust_network(lint: Lint) -> Iterator[Finding]:
    for node in lint.cluster.nodes:
        for key, entry, network in _networks(node):
            if "trust_auth" in key and 0 < network.prefixlen < network.max_prefixlen and not network.is_loopback:
                yield lint.finding(node, entry, f"{key}: anyone on {network} logs in as any user without a password")
