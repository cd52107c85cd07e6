"""The Omnibus reference data in ../shared/reference/omnibus, read as its README describes."""

from __future__ import annotations

import csv
from functools import cache
from pathlib import Path

from gitlab_ha.topology.versions import Version, parse_version
from tests.conftest import REFERENCE


@cache
def keys(version: str) -> frozenset[str]:
    return frozenset(
        line.strip() for line in (REFERENCE / f"keys-{version}.txt").read_text().splitlines() if line.strip()
    )


@cache
def roles(version: str) -> frozenset[str]:
    return frozenset(
        line.strip() for line in (REFERENCE / f"roles-{version}.txt").read_text().splitlines() if line.strip()
    )


def prefixes(key: str) -> list[str]:
    """`a['b']['c']` → [`a['b']`, `a['b']['c']`]: every prefix that ends at `]`."""
    out = []
    for i, char in enumerate(key):
        if char == "]":
            out.append(key[: i + 1])
    return out or [key]


def is_known(key: str, version: str) -> bool:
    known = keys(version)
    return any(prefix in known for prefix in prefixes(key))


@cache
def deprecations() -> list[tuple[str, Version, Version]]:
    path: Path = REFERENCE / "deprecations.tsv"
    with path.open() as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return [(r["key"], parse_version(r["deprecated_in"]), parse_version(r["removed_in"])) for r in rows]


def removed(key: str, version: str) -> str | None:
    """The release that removed `key` (or a prefix of it), if it is removed at `version`."""
    current = parse_version(version)
    for dep_key, _, removed_in in deprecations():
        if (dep_key in prefixes(key) or dep_key == key) and current >= removed_in:
            return str(removed_in)
    return None


def deprecated(key: str, version: str) -> str | None:
    current = parse_version(version)
    for dep_key, deprecated_in, _ in deprecations():
        if (dep_key in prefixes(key) or dep_key == key) and current >= deprecated_in:
            return str(deprecated_in)
    return None
