"""The linted folder as a cluster: one node per folder, its files, its address and its roles.

A node is named by its folder. Its roles come from the topology (`--topology`, matching folder
names to node names or addresses) or, without one, from the files themselves: `roles [...]`,
`praefect['enable']`, `gitaly['enable']`, `consul['configuration']['server']`, a `haproxy.cfg`.
"""

from __future__ import annotations

import functools
import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitlab_ha.errors import InputError
from gitlab_ha.fsutil import read_user_bytes
from gitlab_ha.lint.haproxy import HaproxyConfig, parse_haproxy, split_hostport
from gitlab_ha.lint.knowledge import OMNIBUS_ROLES
from gitlab_ha.rubycfg import Document, RoleRef, parse, parse_key
from gitlab_ha.rubycfg.nodes import Value
from gitlab_ha.topology.model import Topology
from gitlab_ha.topology.roles import Role

RB = "gitlab.rb"
HAPROXY = "haproxy.cfg"


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@functools.cache
def _key_path(key: str) -> tuple[str, ...]:
    """Rules ask for the same few keys on every node: parse each key text once."""
    return parse_key(key)


@dataclass
class Node:
    name: str  # the folder name
    rb_file: str = ""  # relative to the linted folder, "" when there is no gitlab.rb
    cfg_file: str = ""
    doc: Document | None = None
    haproxy: HaproxyConfig | None = None
    address: str | None = None
    roles: set[Role] = field(default_factory=set)
    omnibus_roles: list[RoleRef] = field(default_factory=list)
    file_roles: set[Role] = field(default_factory=set)  # what the files say, before a topology overrides it

    def has(self, role: Role) -> bool:
        return role in self.roles

    def get(self, key: str) -> Value | None:
        return self.doc.get(_key_path(key)) if self.doc is not None else None

    def value(self, key: str) -> Any:
        node = self.get(key)
        return node.to_python() if node is not None else None

    @property
    def label(self) -> str:
        if self.address and self.address != self.name:
            return f"{self.name} ({self.address})"
        return self.name


@dataclass
class Cluster:
    root: Path
    nodes: list[Node]
    topology: Topology | None = None
    unmatched: list[str] = field(default_factory=list)  # topology nodes without a folder

    def with_role(self, role: Role) -> list[Node]:
        return [node for node in self.nodes if role in node.roles]

    def by_address(self, address: str) -> Node | None:
        for node in self.nodes:
            if node.address == address:
                return node
        return None

    def addresses(self, role: Role) -> set[str]:
        return {node.address for node in self.with_role(role) if node.address}

    def documents(self) -> dict[str, tuple[str, Document]]:
        """Each node with a gitlab.rb: name -> (address, or the name when none is known; the document).
        What the reconfigure model reads (`reconfigure.cluster.from_docs`)."""
        return {n.name: (n.address or n.name, n.doc) for n in self.nodes if n.doc is not None}


MAX_FILE = 512 * 1024  # the whole gitlab.rb.template is ~160 KB; parsing takes up to ~400x the size in memory


def read_folder(root: Path) -> list[Node]:
    """One node per sub-folder holding a gitlab.rb or a haproxy.cfg, sorted by name.

    A node file that is there but cannot be read (a symlink loop, a FIFO, a folder, a device, too
    large) is an InputError naming it, never a node silently left out; so is a symlink (folder or
    file) that leads out of the linted folder."""
    if not root.is_dir():
        raise InputError("not a folder", str(root))
    base = root.resolve()
    nodes: list[Node] = []
    try:
        children = sorted(root.iterdir())
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror or err}", str(root)) from None
    for child in children:
        if not child.is_dir():
            continue
        _inside(child, base)
        node = Node(child.name)
        rb, cfg = child / RB, child / HAPROXY
        if os.path.lexists(rb):
            node.rb_file = f"{child.name}/{RB}"
            node.doc = parse(_read(rb, base), node.rb_file, recover=True)
        if os.path.lexists(cfg):
            node.cfg_file = f"{child.name}/{HAPROXY}"
            node.haproxy = parse_haproxy(_read(cfg, base), node.cfg_file)
        if node.doc is not None or node.haproxy is not None:
            nodes.append(node)
    if not nodes:
        raise InputError(f"no node folders (each needs a {RB} or a {HAPROXY})", str(root))
    return nodes


def _inside(path: Path, base: Path) -> None:
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python 3.11's word for a loop
        raise InputError("is a symlink loop (too many levels of symbolic links)", str(path)) from None
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror or err}", str(path)) from None
    if not target.is_relative_to(base):
        raise InputError(f"is a symlink to {target}, outside the linted folder", str(path))


def _read(path: Path, base: Path) -> str:
    _inside(path, base)
    return read_user_bytes(path, limit=MAX_FILE).decode("utf-8", errors="replace")


def _truthy(value: Any) -> bool:
    return value is True


def _host(text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    host = split_hostport(text)[0] if ":" in text else text
    if not is_ip(host) or ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_unspecified:
        return None
    return host


def infer_address(node: Node) -> str | None:
    if is_ip(node.name):
        return node.name
    for key in (
        "consul['configuration']['bind_addr']",
        "redis['bind']",
        "node_exporter['listen_address']",
        "gitlab_workhorse['prometheus_listen_addr']",
    ):
        host = _host(node.value(key))
        if host:
            return host
    if node.haproxy is not None:
        for bind in node.haproxy.bind_hosts():
            if _host(bind):
                return bind
    return None


_ENABLES: tuple[tuple[str, Role], ...] = (
    ("praefect['enable']", Role.PRAEFECT),
    ("gitaly['enable']", Role.GITALY),
    ("pgbouncer['enable']", Role.PGBOUNCER),
    ("patroni['enable']", Role.PATRONI),
    ("redis['enable']", Role.REDIS),
    ("sentinel['enable']", Role.SENTINEL),
    ("puma['enable']", Role.RAILS),
    ("sidekiq['enable']", Role.SIDEKIQ),
)


def infer_roles(node: Node) -> set[Role]:
    roles: set[Role] = set()
    if node.doc is not None:
        node.omnibus_roles = node.doc.roles()
        for ref in node.omnibus_roles:
            roles.update(OMNIBUS_ROLES.get(ref.name, ()))
        # Hand-written nodes often switch services on one by one instead of naming a role.
        for key, role in _ENABLES:
            if _truthy(node.value(key)):
                roles.add(role)
        if _truthy(node.value("postgresql['enable']")) and Role.PATRONI not in roles:
            roles.add(Role.POSTGRES)  # split into Praefect's PostgreSQL later, by what uses it
        if _truthy(node.value("consul['configuration']['server']")):
            roles.add(Role.CONSUL)
        if Role.PATRONI in roles and Role.PGBOUNCER in roles and not _watches_postgresql(node):
            # a PgBouncer in front of this node's own PostgreSQL (for Rails' read load balancing),
            # not one of the leader-following PgBouncers behind the internal load balancer
            roles.discard(Role.PGBOUNCER)
    if node.haproxy is not None:
        ports = {port for section in node.haproxy.frontends() for _, port, _ in section.binds}
        roles.add(Role.EXTERNAL_LB if 443 in ports and not ports & {6432, 2305} else Role.INTERNAL_LB)
    return roles


def _watches_postgresql(node: Node) -> bool:
    watchers = node.value("consul['watchers']")
    return isinstance(watchers, list) and "postgresql" in watchers


def build(root: Path, topology: Topology | None = None) -> Cluster:
    nodes = read_folder(root)
    cluster = Cluster(root, nodes, topology)
    for node in nodes:
        node.address = infer_address(node)
        node.roles = infer_roles(node)
        node.file_roles = set(node.roles)
    if topology is not None:
        seen: set[str] = set()
        for node in nodes:
            for declared in topology.nodes:
                if node.name in (declared.name, declared.ip):
                    node.address = declared.ip
                    node.roles = set(declared.roles)
                    seen.add(declared.name)
                    break
        cluster.unmatched = [n.name for n in topology.nodes if n.name not in seen]
    else:
        _split_postgres(cluster)
        _split_redis_cache(cluster)
    return cluster


def _split_redis_cache(cluster: Cluster) -> None:
    """Nodes listed in Rails' `redis_cache_sentinels` belong to the separate Redis cache cluster."""
    cache: set[str] = set()
    for node in cluster.nodes:
        value = node.value("gitlab_rails['redis_cache_sentinels']")
        for item in value if isinstance(value, list) else []:
            if isinstance(item, dict) and isinstance(item.get("host"), str):
                cache.add(item["host"])
    for node in cluster.nodes:
        if node.address in cache:
            for plain, cached in ((Role.REDIS, Role.REDIS_CACHE), (Role.SENTINEL, Role.SENTINEL_CACHE)):
                if plain in node.roles:
                    node.roles.discard(plain)
                    node.roles.add(cached)


def _split_postgres(cluster: Cluster) -> None:
    """A `postgres_role` node is Praefect's database when Praefect points at it, or when Patroni
    holds GitLab's database elsewhere."""
    praefect_hosts = {
        host
        for node in cluster.with_role(Role.PRAEFECT)
        if isinstance(host := node.value("praefect['configuration']['database']['host']"), str)
    }
    has_patroni = bool(cluster.with_role(Role.PATRONI))
    for node in cluster.with_role(Role.POSTGRES):
        if node.address in praefect_hosts or has_patroni:
            node.roles.discard(Role.POSTGRES)
            node.roles.add(Role.PRAEFECT_POSTGRES)
