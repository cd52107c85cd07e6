"""Praefect ↔ Gitaly and Rails ↔ Praefect (or Gitaly): tokens, storage names, addresses and ports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from gitlab_ha.lint.context import Lint
from gitlab_ha.lint.findings import Finding, Severity
from gitlab_ha.lint.inventory import Cluster, Node, is_ip
from gitlab_ha.lint.registry import rule
from gitlab_ha.lint.rules.util import (
    address_port,
    child,
    gitaly_storages,
    items,
    listen_port,
    majority_value,
    odd_ones,
    opaque,
    praefect_nodes,
    py,
    rails_storages,
    virtual_storage_names,
)
from gitlab_ha.rubycfg.nodes import Value
from gitlab_ha.topology.facts import PORTS
from gitlab_ha.topology.roles import Role

_S = Severity
GITALY_PORT = PORTS["gitaly"]
PRAEFECT_PORT = PORTS["praefect"]


def _target(cluster: Cluster, address: Value | None) -> tuple[Node | None, int | None]:
    """The node an address (`tcp://host:port`) points at (None: no node of the cluster), and its port."""
    host, port = address_port(py(address))
    return cluster.by_address(host or ""), port


def _foreign_storage(gitaly: Node, storage: object) -> str | None:
    """Why `storage` is not one of `gitaly`'s storages (None: it is, or that Gitaly names none)."""
    names = [name for name, _ in gitaly_storages(gitaly)]
    if names and storage not in names:
        return f"storage {storage!r} is not a storage of Gitaly {gitaly.label} ({', '.join(names)})"
    return None


def _gitaly_token(node: Node) -> object:
    return node.value("gitaly['configuration']['auth']['token']")


@rule(
    "GHA020",
    _S.ERROR,
    "Gitaly token differs from Praefect's internal token",
    "Set gitaly['configuration'][:auth][:token] on every Gitaly to the token of Praefect's virtual storage nodes.",
)
def internal_token(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    used: dict[str, list[tuple[Node, Value, object]]] = {}
    for praefect in cluster.with_role(Role.PRAEFECT):
        for entry in praefect_nodes(praefect):
            host, _ = address_port(py(entry.address))
            if host is not None and entry.token is not None:
                used.setdefault(host, []).append((praefect, entry.token, py(entry.token)))
    for gitaly in cluster.with_role(Role.GITALY):
        uses = used.get(gitaly.address or "")
        if not uses:
            continue
        token_node = gitaly.get("gitaly['configuration']['auth']['token']")
        token = py(token_node)
        if any(value == token for _, _, value in uses):
            for praefect, node_loc, value in uses:
                if value != token:
                    yield lint.finding(
                        praefect,
                        node_loc,
                        f"the token for Gitaly {gitaly.label} differs from the auth token that Gitaly has",
                    )
        else:
            yield lint.finding(
                gitaly,
                token_node,
                "Gitaly's auth token is not the internal token Praefect uses for it"
                if token is not None
                else "Gitaly has no auth token; Praefect sends its internal token",
            )


@rule(
    "GHA021",
    _S.ERROR,
    "storage names do not match",
    "A Praefect node entry's storage must be a storage of that Gitaly; Rails' storages must be Praefect's "
    "virtual storages (or, without Praefect, the Gitaly's own storages).",
)
def storage_names(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    for praefect in cluster.with_role(Role.PRAEFECT):
        for entry in praefect_nodes(praefect):
            gitaly, _ = _target(cluster, entry.address)
            if gitaly is None or not gitaly.has(Role.GITALY) or entry.storage is None:
                continue
            if problem := _foreign_storage(gitaly, py(entry.storage)):
                yield lint.finding(praefect, entry.storage, problem)
    praefects = cluster.with_role(Role.PRAEFECT)
    by_node = {p.name: tuple(sorted(virtual_storage_names(p))) for p in praefects}
    shared = Counter(names for names in by_node.values() if names)
    common = shared.most_common(1)[0][0] if shared else ()
    for praefect in praefects:
        if not by_node[praefect.name] or by_node[praefect.name] == common:
            continue
        for virtual_storage in items(praefect.get("praefect['configuration']['virtual_storage']")):
            name = child(virtual_storage, "name")
            if py(name) not in common:
                yield lint.finding(
                    praefect,
                    name or virtual_storage,
                    f"virtual storage {py(name)!r} is not one of the other Praefect nodes' ({', '.join(common)}): "
                    "Rails' requests for theirs fail on this node",
                )
    virtual = set(common)
    for rails in _rails_nodes(lint):
        for storage in rails_storages(rails):
            if praefects:
                if virtual and storage.name not in virtual:
                    yield lint.finding(
                        rails,
                        storage.name_loc,
                        f"storage {storage.name!r} is not a virtual storage of Praefect ({', '.join(sorted(virtual))})",
                    )
                continue
            gitaly, _ = _target(cluster, storage.address)
            if gitaly is None:
                continue
            if problem := _foreign_storage(gitaly, storage.name):
                yield lint.finding(rails, storage.name_loc, problem)


@rule(
    "GHA022",
    _S.ERROR,
    "Praefect points at no Gitaly",
    "Each Praefect node entry's address must be tcp://<a Gitaly node>:<its listen port>.",
)
def praefect_addresses(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    for praefect in cluster.with_role(Role.PRAEFECT):
        for entry in praefect_nodes(praefect):
            gitaly, port = _target(cluster, entry.address)
            if gitaly is None or not gitaly.has(Role.GITALY):
                yield lint.finding(
                    praefect,
                    entry.address or entry.entry,
                    f"{py(entry.address)!r} is not the address of a Gitaly node",
                )
                continue
            expected = listen_port(gitaly, "gitaly['configuration']['listen_addr']", GITALY_PORT)
            if port != expected:
                yield lint.finding(
                    praefect,
                    entry.address,
                    f"Gitaly {gitaly.label} listens on port {expected}, not {port}",
                )


def _rails_nodes(lint: Lint) -> list[Node]:
    return [n for n in lint.cluster.nodes if (n.has(Role.RAILS) or n.has(Role.SIDEKIQ)) and n.doc is not None]


@rule(
    "GHA023",
    _S.ERROR,
    "Rails' Gitaly token is wrong",
    "gitaly_token must be Praefect's external token (praefect['configuration'][:auth][:token]); "
    "without Praefect, the Gitaly's auth token.",
)
def rails_token(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    places = [
        (p, "auth token", child(p.get("praefect['configuration']"), "auth", "token"))
        for p in cluster.with_role(Role.PRAEFECT)
    ]
    for praefect, _, value in odd_ones(places):
        yield lint.finding(
            praefect,
            value,
            "Praefect's external auth token differs from the other Praefect nodes': Rails, behind the "
            "load balancer, would fail on this node",
        )
    external = majority_value([value for _, _, value in places])
    for rails in _rails_nodes(lint):
        for storage in rails_storages(rails):
            token = py(storage.token)
            if opaque(storage.token):
                continue  # read from a file or computed: cannot be compared
            if cluster.with_role(Role.PRAEFECT):
                if external is not None and token != external:
                    yield lint.finding(
                        rails,
                        storage.token or storage.name_loc,
                        f"storage {storage.name!r}: gitaly_token is not Praefect's external token",
                    )
                continue
            gitaly, _ = _target(cluster, storage.address)
            if gitaly is not None and _gitaly_token(gitaly) is not None and token != _gitaly_token(gitaly):
                yield lint.finding(
                    rails,
                    storage.token or storage.name_loc,
                    f"storage {storage.name!r}: gitaly_token is not the auth token of Gitaly {gitaly.label}",
                )


@rule(
    "GHA024",
    _S.ERROR,
    "Rails' Gitaly address is wrong",
    "gitaly_address must be tcp://<internal LB>:2305 (Praefect behind it) or a Praefect node; "
    "without Praefect, tcp://<Gitaly node>:8075.",
)
def rails_address(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    praefects = cluster.with_role(Role.PRAEFECT)
    for rails in _rails_nodes(lint):
        for storage in rails_storages(rails):
            where = storage.address or storage.name_loc
            target, port = _target(cluster, storage.address)
            if praefects:
                if target is not None and target.has(Role.PRAEFECT):
                    expected = listen_port(target, "praefect['configuration']['listen_addr']", PRAEFECT_PORT)
                    if port != expected:
                        yield lint.finding(rails, where, f"Praefect {target.label} listens on {expected}, not {port}")
                    continue
                if target is not None and target.haproxy is not None:
                    _, servers = target.haproxy.servers_for_port(port or 0)
                    praefect_addresses = cluster.addresses(Role.PRAEFECT)
                    if any(s.host in praefect_addresses for s in servers):  # the backend's members: GHA080
                        continue
                    yield lint.finding(
                        rails,
                        where,
                        f"load balancer {target.label} sends port {port} to no Praefect node",
                    )
                    continue
                yield lint.finding(
                    rails,
                    where,
                    f"{py(storage.address)!r} is neither the internal load balancer nor a Praefect node",
                )
                continue
            if target is None or not target.has(Role.GITALY):
                yield lint.finding(rails, where, f"{py(storage.address)!r} is not a Gitaly node")
                continue
            expected = listen_port(target, "gitaly['configuration']['listen_addr']", GITALY_PORT)
            if port != expected:
                yield lint.finding(rails, where, f"Gitaly {target.label} listens on {expected}, not {port}")


def _reaches_rails(lint: Lint, host: str | None, port: int | None) -> bool:
    cluster = lint.cluster
    target = cluster.by_address(host or "")
    if target is None:
        return False
    if target.has(Role.RAILS):
        return True
    if target.haproxy is not None:
        _, servers = target.haproxy.servers_for_port(port or 80)
        return any(s.host in cluster.addresses(Role.RAILS) for s in servers)
    return False


@rule(
    "GHA025",
    _S.ERROR,
    "Gitaly's internal API URL reaches no Rails node",
    "Set gitlab_rails['internal_api_url'] on Gitaly nodes to http://<internal LB> (its Rails frontend) "
    "or a Rails node; Gitaly calls it for every push.",
)
def internal_api(lint: Lint) -> Iterator[Finding]:
    if not lint.cluster.with_role(Role.RAILS):
        return
    for gitaly in lint.cluster.with_role(Role.GITALY):
        if gitaly.has(Role.RAILS) or gitaly.has(Role.STANDALONE):
            continue
        value = gitaly.get("gitlab_rails['internal_api_url']")
        url = py(value)
        if value is None or not isinstance(url, str):
            continue
        host, port = address_port(url)
        if host is None or not is_ip(host):
            continue  # a DNS name (the external URL, say): not judged
        if port is None and url.startswith("https://"):
            port = 443
        if not _reaches_rails(lint, host, port):
            yield lint.finding(gitaly, value, f"{url!r} is neither a Rails node nor an LB sending to Rails")


@rule(
    "GHA026",
    _S.ERROR,
    "Praefect's database is not the Praefect PostgreSQL",
    "Point praefect['configuration'][:database][:host] (and session_pooled) at the Praefect PostgreSQL node.",
)
def praefect_database(lint: Lint) -> Iterator[Finding]:
    cluster = lint.cluster
    allowed = cluster.addresses(Role.PRAEFECT_POSTGRES) | cluster.addresses(Role.POSTGRES)
    if not allowed:
        return
    for praefect in cluster.with_role(Role.PRAEFECT):
        config = praefect.get("praefect['configuration']")
        for path in (("database", "host"), ("database", "session_pooled", "host")):
            value = child(config, *path)
            if value is not None and py(value) not in allowed:
                yield lint.finding(
                    praefect,
                    value,
                    f"database {'.'.join(path)} {py(value)!r} is not the Praefect PostgreSQL ({', '.join(sorted(allowed))})",
                )
