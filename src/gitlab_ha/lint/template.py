"""Known keys (and role names) of a release, read from its `gitlab.rb.template`.

Omnibus ships the template at `/opt/gitlab/etc/gitlab.rb.template`. Every assignment line, commented
(`# gitaly['configuration'] = {`) or not, names a key; a key written in a gitlab.rb is known when it
or one of its prefixes that ends at `]` is in the set (so `gitlab_rails['object_store']['objects']`
covers every bucket setting below it).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import read_user_bytes
from gitlab_ha.rubycfg.emit import format_key

MAX_TEMPLATE = 4 * 1024 * 1024  # the 18.x template is ~160 KB
_KEY_LINE = re.compile(
    r"""^[#\s]*([a-z_][a-z0-9_]*)((?:\[\s*(?:'[^']*'|"[^"]*"|:[a-z_][a-z0-9_]*)\s*\])+)\s*(?:\|\|)?=[^=~]"""
)
_INDEX = re.compile(r"""\[\s*(?:'([^']*)'|"([^"]*)"|:([a-z_][a-z0-9_]*))\s*\]""")
_ROLE = re.compile(r"\b([a-z_]+_role)\b")
_METHOD = re.compile(r"^[#\s]*([a-z_][a-z0-9_]*)[ (]['\"{\[%]")


@dataclass(frozen=True)
class Template:
    path: str
    keys: frozenset[str]
    roles: frozenset[str]
    methods: frozenset[str]

    def knows(self, key: str) -> bool:
        """Known when the key or one of its prefixes is listed, or when it is the parent of a listed key
        (`patroni['postgresql'] = { 'max_wal_senders' => 7 }` sets `patroni['postgresql']['max_wal_senders']`)."""
        return any(prefix in self.keys for prefix in prefixes(key)) or key in _parents(self.keys)


@functools.cache
def _parents(keys: frozenset[str]) -> frozenset[str]:
    return frozenset(prefix for key in keys for prefix in prefixes(key)[:-1])


def prefixes(key: str) -> list[str]:
    """`a['b']['c']` → [`a['b']`, `a['b']['c']`]: every prefix that ends at `]` (the key itself if none)."""
    out = [key[: index + 1] for index, char in enumerate(key) if char == "]"]
    return out or [key]


def extract(text: str, path: str = "<template>") -> Template:
    keys: set[str] = set()
    roles: set[str] = set()
    methods: set[str] = set()
    in_roles_block = False
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if match:
            parts = [a or b or c for a, b, c in _INDEX.findall(match.group(2))]
            keys.add(format_key((match.group(1), *parts)))
            continue
        stripped = line.strip()
        if stripped.startswith("## Roles"):
            in_roles_block = True
            continue
        if in_roles_block:
            if not stripped.startswith("#"):
                in_roles_block = False
            elif stripped.startswith("##!"):
                roles.update(_ROLE.findall(stripped))
            elif stripped.startswith("# roles"):
                in_roles_block = False
        method = _METHOD.match(line)
        if method:
            methods.add(method.group(1))
    return Template(path, frozenset(keys), frozenset(roles), frozenset(methods))


def load_template(path: Path) -> Template:
    text = read_user_bytes(path, limit=MAX_TEMPLATE).decode("utf-8", errors="replace")
    template = extract(text, str(path))
    if len(template.keys) < 10:
        raise InputError("not a gitlab.rb.template: it sets almost no keys", str(path))
    return template
