"""Small helpers shared by the rules: walking hash literals, addresses and storages."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gitlab_ha.lint.haproxy import split_hostport
from gitlab_ha.lint.inventory import Node
from gitlab_ha.rubycfg.nodes import MISSING, Array, Hash, Value, static_value


def child(value: Value | None, *keys: str) -> Value | None:
    """`value[k1][k2]...` through hash literals, or None."""
    for key in keys:
        if not isinstance(value, Hash):
            return None
        value = value.get(key)
    return value


Scalar = str | int | float | bool


def py(value: Value | None) -> Scalar | None:
    """A node's value when it is a literal string, number or boolean; None otherwise (absent, a list,
    a hash, or an expression that cannot be computed), so rules can compare and hash it safely."""
    if value is None:
        return None
    result = static_value(value)
    if result is MISSING or not isinstance(result, Scalar):
        return None
    return result


def opaque(value: Value | None) -> bool:
    """A value set by Ruby the linter does not run (`File.read(...)`, `"#{x}"`): present but unknowable.
    Rules compare only what they can know, so they skip it rather than call it wrong or missing."""
    return value is not None and not isinstance(value, Hash | Array) and py(value) is None


def port_number(value: Value | None) -> int | None:
    """A port written as a number or an all-digit string (`'26379'`, which Omnibus accepts too)."""
    result = py(value)
    if isinstance(result, bool):
        return None
    if isinstance(result, int):
        return result
    if isinstance(result, str) and result.isdigit():
        return int(result)
    return None


def majority_value(values: list[Value | None]) -> Scalar | None:
    """The value most of the knowable `values` share (None when there is none)."""
    counts = Counter(v for value in values if (v := py(value)) is not None)
    return counts.most_common(1)[0][0] if counts else None


def odd_ones(places: list[tuple[Node, str, Value | None]]) -> list[tuple[Node, str, Value]]:
    """The (node, label, value) whose knowable value differs from the one most places share: the one
    wrong node among N, where comparing against the union of every node's values would miss it. When
    no value has more places than another (two nodes, two values), every place is reported: which is
    wrong cannot be told."""
    counts = Counter(v for _, _, value in places if (v := py(value)) is not None)
    if len(counts) < 2:
        return []
    (common, first), (_, second) = counts.most_common(2)
    keep = () if first == second else (None, common)
    return [(n, label, value) for n, label, value in places if value is not None and py(value) not in keep]


def items(value: Value | None) -> list[Value]:
    return list(value.items) if isinstance(value, Array) else []


def address_port(text: Any) -> tuple[str | None, int | None]:
    """`tcp://10.0.0.1:8075`, `10.0.0.1:8075`, `0.0.0.0:2305` → (host, port)."""
    if not isinstance(text, str):
        return None, None
    if "://" in text:
        try:
            parts = urlsplit(text)
            return parts.hostname, parts.port
        except ValueError:
            return None, None
    host, port = split_hostport(text)
    return host, port


@dataclass
class PraefectNode:
    """One `node` entry of a Praefect virtual storage."""

    virtual_storage: str
    entry: Value
    storage: Value | None
    address: Value | None
    token: Value | None


def praefect_nodes(node: Node) -> list[PraefectNode]:
    out: list[PraefectNode] = []
    for storage in items(node.get("praefect['configuration']['virtual_storage']")):
        name = py(child(storage, "name"))
        for entry in items(child(storage, "node")):
            out.append(
                PraefectNode(str(name), entry, child(entry, "storage"), child(entry, "address"), child(entry, "token"))
            )
    return out


def virtual_storage_names(node: Node) -> list[str]:
    names = []
    for storage in items(node.get("praefect['configuration']['virtual_storage']")):
        name = py(child(storage, "name"))
        if isinstance(name, str):
            names.append(name)
    return names


def gitaly_storages(node: Node) -> list[tuple[str, Value]]:
    out = []
    for storage in items(node.get("gitaly['configuration']['storage']")):
        name_node = child(storage, "name")
        if isinstance(py(name_node), str) and name_node is not None:
            out.append((str(py(name_node)), name_node))
    return out


def listen_port(node: Node, key: str, default: int) -> int:
    _, port = address_port(node.value(key))
    return port if port is not None else default


@dataclass
class RailsStorage:
    """One repository storage as Rails sees it (`git_data_dirs` or `repositories_storages`)."""

    name: str
    name_loc: Value
    address: Value | None
    token: Value | None


def rails_storages(node: Node) -> list[RailsStorage]:
    out: list[RailsStorage] = []
    hashes: list[Value] = []
    if node.doc is not None:
        for call in node.doc.calls:
            if call.name == "git_data_dirs" and call.args:
                hashes.append(call.args[0])
    storages = node.get("gitlab_rails['repositories_storages']")
    if storages is not None:
        hashes.append(storages)
    for value in hashes:
        if not isinstance(value, Hash):
            continue
        for pair in value.pairs:
            name = py(pair.key)
            out.append(
                RailsStorage(
                    str(name), pair.key, child(pair.value, "gitaly_address"), child(pair.value, "gitaly_token")
                )
            )
    return out


def omnibus_nodes(nodes: list[Node]) -> list[Node]:
    return [node for node in nodes if node.doc is not None]
