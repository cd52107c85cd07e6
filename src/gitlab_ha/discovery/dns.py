"""Consul's DNS interface: the names, the records, and the wire format, answered from a `Zone`.

Names under the agent's domain (default `consul`):

- `[tag.]<service>.service[.<dc>.dc].consul` and legacy `<service>.service.<dc>.consul`: A and SRV;
- several tags: `<tag1>.<tag2>.<service>.service.consul` keeps instances carrying *all* of them
  (Consul itself refuses more than one tag label);
- RFC 2782: `_<service>._<tag>.service.consul`, `_tcp` meaning "no tag filter";
- `<node>.node[.<dc>[.dc]].consul` and `<hex-ip>.addr[.<dc>[.dc]].consul`: A.

Instances with a critical check are left out (with `only_passing`, warning ones too); no instance left
gives NXDOMAIN with the SOA, as Consul does. Better than Consul: an answer cut to fit a UDP payload
(512 bytes, or the client's EDNS0 size) always has the TC bit set, so the client retries over TCP.

A `Zone` is what DNS needs of the state (node addresses, each instance's name, tags, address, port and
worst check status); the agent keeps one in step with the state and ships its changes to the DNS
worker processes (`dns_server`), which answer from their copy. Replies are encoded here, not by dnslib:
dnslib 0.9.26 writes compression pointers to offsets past 0x3FFF (which 14 bits cannot hold), so any
answer over ~16 KiB came out corrupt. A reply is cached whole, per query bytes (less the ID), until the
zone changes; a hit costs a dict lookup.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitlab_ha.discovery.ratelog import RateLimitedLog

log = logging.getLogger("gitlab_ha.discovery.dns")

UDP_DEFAULT = 512
UDP_MAX = 4096
TCP_MAX = 65535
CACHE_MAX = 10_000  # cached replies; random names cannot grow it without bound
VARIANTS = 4  # shuffled orders cached per name (Consul shuffles every answer)
POINTER_MAX = 0x3FFF  # the highest offset a compression pointer can hold

# record types and response codes (RFC 1035, 2782, 3596, 6891)
A, NS, CNAME, SOA, PTR, AAAA, SRV, OPT, ANY = 1, 2, 5, 6, 12, 28, 33, 41, 255
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
QR, AA, TC, RD = 0x8000, 0x0400, 0x0200, 0x0100
OPT_RR = b"\x00" + struct.pack("!HHIH", OPT, UDP_MAX, 0, 0)  # our EDNS0 record: root, 4096 bytes, no options

Labels = tuple[bytes, ...]


class BadQuery(Exception):
    """A query that cannot be answered as asked (one line: what is wrong with it)."""


# --- the wire --------------------------------------------------------------------------------------------------


@dataclass
class Query:
    id: int
    flags: int
    labels: Labels = ()  # the question's name as sent (its case echoed back)
    qtype: int = 0
    question: bytes = b""  # the question section as sent
    edns: bool = False
    udp_size: int = UDP_DEFAULT

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


def _read_name(data: bytes, at: int) -> tuple[Labels, int]:
    labels: list[bytes] = []
    size = 1
    while True:
        if at >= len(data):
            raise BadQuery("name runs past the end of the packet")
        length = data[at]
        if length == 0:
            return tuple(labels), at + 1
        if length & 0xC0 == 0xC0:
            raise BadQuery("compression pointer in a query name")
        if length > 63:
            raise BadQuery(f"label of {length} bytes (at most 63)")
        size += length + 1
        if size > 255:
            raise BadQuery("name longer than 255 bytes")
        if at + 1 + length > len(data):
            raise BadQuery("label runs past the end of the packet")
        labels.append(data[at + 1 : at + 1 + length])
        at += 1 + length


def parse_query(data: bytes) -> Query:
    """The header, the first question and the EDNS0 payload size of a query; BadQuery if malformed."""
    if len(data) < 12:
        raise BadQuery(f"{len(data)} bytes, shorter than a header")
    qid, flags, qdcount, ancount, nscount, arcount = struct.unpack("!6H", data[:12])
    query = Query(qid, flags)
    if qdcount == 0:
        return query
    labels, at = _read_name(data, 12)
    if at + 4 > len(data):
        raise BadQuery("question runs past the end of the packet")
    query.labels = labels
    query.qtype = struct.unpack("!H", data[at : at + 2])[0]
    query.question = data[12 : at + 4]
    at += 4
    if qdcount != 1 or ancount or nscount:
        return query
    for _ in range(arcount):  # look for the OPT record
        _name, at = _read_name(data, at)
        if at + 10 > len(data):
            raise BadQuery("record runs past the end of the packet")
        rtype, rclass, _ttl, rdlen = struct.unpack("!HHIH", data[at : at + 10])
        at += 10 + rdlen
        if rtype == OPT:
            query.edns = True
            query.udp_size = max(UDP_DEFAULT, min(rclass, UDP_MAX))
    return query


def name_labels(name: str) -> Labels | None:
    """A domain name as wire labels; None when it cannot be one (an empty or over-long label)."""
    try:
        labels = tuple(
            part.encode("idna") if not part.isascii() else part.encode() for part in name.rstrip(".").split(".")
        )
    except UnicodeError:
        return None
    if not all(0 < len(label) <= 63 for label in labels) or sum(len(x) + 1 for x in labels) + 1 > 255:
        return None
    return labels


def _lower(labels: Labels) -> Labels:
    return tuple(label.lower() for label in labels)


@dataclass(frozen=True, slots=True)
class Rec:
    """One resource record: `data` is the fixed part of the rdata, `names` the domain names in it
    (SOA: the names come first, then `data`; otherwise `data` first)."""

    owner: Labels
    rtype: int
    ttl: int
    data: bytes = b""
    names: tuple[Labels, ...] = ()


class Writer:
    """A DNS message being written, with name compression that only points below offset 0x4000."""

    def __init__(self) -> None:
        self.buf = bytearray(12)
        self.names: dict[Labels, int] = {}

    def name(self, labels: Labels) -> None:
        buf, names = self.buf, self.names
        for i in range(len(labels)):
            key = _lower(labels[i:])
            at = names.get(key)
            if at is not None:
                buf += struct.pack("!H", 0xC000 | at)
                return
            if len(buf) <= POINTER_MAX:
                names[key] = len(buf)
            buf.append(len(labels[i]))
            buf += labels[i]
        buf.append(0)

    def question(self, query: Query) -> None:
        self.name(query.labels)
        self.buf += query.question[-4:]

    def rr(self, rec: Rec) -> None:
        self.name(rec.owner)
        start = len(self.buf)
        self.buf += struct.pack("!HHIH", rec.rtype, 1, rec.ttl, 0)
        if rec.rtype != SOA:
            self.buf += rec.data
        for labels in rec.names:
            self.name(labels)
        if rec.rtype == SOA:
            self.buf += rec.data
        struct.pack_into("!H", self.buf, start + 8, len(self.buf) - start - 10)

    def estimate(self, rec: Rec) -> int:
        """At most how many bytes `rec` would take if written next (its owner is a pointer if known)."""
        owner = 2 if _lower(rec.owner) in self.names else sum(len(x) + 1 for x in rec.owner) + 1
        return owner + 10 + len(rec.data) + sum(sum(len(x) + 1 for x in n) + 1 for n in rec.names)


def encode(
    query: Query,
    flags: int,
    answers: Sequence[Rec],
    extras: Sequence[Rec | None] = (),
    authority: Sequence[Rec] = (),
    *,
    limit: int = TCP_MAX,
    max_answers: int = 0,
) -> bytes:
    """The reply without its 2-byte ID. `extras[i]` is the additional record answer i needs (an SRV
    target's address). Answers that do not fit `limit` (or beyond `max_answers`) are cut in order,
    each remaining SRV keeping its address record (Consul's order), and TC is set. Linear in the answers."""
    opt = OPT_RR if query.edns else b""
    w = Writer()
    if query.question:
        w.question(query)
    wanted = list(answers[:max_answers] if max_answers else answers)
    cut = len(wanted) < len(answers)
    ends: list[int] = []
    sizes: list[int] = []  # bytes the additional records of answers[:i+1] need, at most
    seen: set[Labels] = set()
    total = 0
    for i, rec in enumerate(wanted):
        w.rr(rec)
        ends.append(len(w.buf))
        extra = extras[i] if i < len(extras) else None
        if extra is not None and _lower(extra.owner) not in seen:
            seen.add(_lower(extra.owner))
            total += w.estimate(extra)
        sizes.append(total)
    fixed = len(opt) + sum(w.estimate(r) for r in authority)
    count = len(wanted)
    while count and ends[count - 1] + sizes[count - 1] + fixed > limit:
        count -= 1
    if count < len(wanted):
        cut = True
        w = Writer()
        if query.question:
            w.question(query)
        for rec in wanted[:count]:
            w.rr(rec)
    written: set[Labels] = set()
    additional = 0
    for i in range(count):
        extra = extras[i] if i < len(extras) else None
        if extra is not None and _lower(extra.owner) not in written:
            written.add(_lower(extra.owner))
            w.rr(extra)
            additional += 1
    auth = list(authority) if len(w.buf) + fixed <= limit else []
    for rec in auth:
        w.rr(rec)
    w.buf += opt
    if cut:
        flags |= TC
    struct.pack_into("!5H", w.buf, 2, flags, 1 if query.question else 0, count, len(auth), additional + bool(opt))
    return bytes(w.buf[2:])


def error_reply(data: bytes, rcode: int) -> bytes | None:
    """A bare reply with `rcode` to a packet we could not read (None: not even an ID to answer to)."""
    if len(data) < 2:
        return None
    flags = QR | rcode
    if len(data) >= 4:
        flags |= struct.unpack("!H", data[2:4])[0] & (0x7800 | RD)
    return data[:2] + struct.pack("!5H", flags, 0, 0, 0, 0)


# --- what DNS knows of the state -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Instance:
    """A service instance as DNS sees it; `status` is its worst check (node checks included)."""

    name: str
    tags: tuple[str, ...]
    address: str
    port: int
    status: str

    def to_json(self) -> list[Any]:
        return [self.name, list(self.tags), self.address, self.port, self.status]

    @classmethod
    def from_json(cls, raw: list[Any]) -> Instance:
        name, tags, address, port, status = raw
        return cls(str(name), tuple(str(t) for t in tags), str(address), int(port), str(status))


@dataclass
class Settings:
    """The DNS part of the agent's configuration."""

    domain: str = "consul"
    datacenter: str = "dc1"
    service_ttl: int = 0
    node_ttl: int = 0
    only_passing: bool = False
    udp_answer_limit: int = 0  # 0: as many as fit in the UDP payload (then TC is set)
    ns_address: str = ""  # the agent's own address, for `ns.<domain>`


@dataclass
class Zone:
    """Node addresses and service instances, changed only by `apply(update)`; `version` counts changes."""

    nodes: dict[str, str] = field(default_factory=dict)  # node -> address
    instances: dict[tuple[str, str], Instance] = field(default_factory=dict)  # (node, service id) -> instance
    index: int = 0  # the state index the zone reflects (the SOA serial)
    version: int = 0
    _by_name: dict[str, list[tuple[str, str]]] | None = None
    _node_names: dict[str, str] | None = None

    def apply(self, update: dict[str, Any]) -> None:
        """`{"nodes": {name: address | None}, "instances": [[node, id, instance | None]…], "index": n}`."""
        for name, address in update.get("nodes", {}).items():
            if address is None:
                self.nodes.pop(name, None)
            else:
                self.nodes[name] = str(address)
        for node, sid, raw in update.get("instances", []):
            if raw is None:
                self.instances.pop((node, sid), None)
            else:
                self.instances[(node, sid)] = Instance.from_json(raw)
        self.index = int(update.get("index", self.index))
        self.version += 1
        self._by_name = self._node_names = None

    def by_name(self, name: str) -> list[tuple[str, str]]:
        if self._by_name is None:
            index: dict[str, list[tuple[str, str]]] = {}
            for key in sorted(self.instances):
                index.setdefault(self.instances[key].name.lower(), []).append(key)
            self._by_name = index
        return self._by_name.get(name, [])

    def node(self, name: str) -> str | None:
        """The node's name as registered, matched case-insensitively."""
        if self._node_names is None:
            self._node_names = {n.lower(): n for n in self.nodes}
        return self._node_names.get(name.lower())


# --- answers ---------------------------------------------------------------------------------------------------


Records = tuple[int, list[Rec], list[Rec | None], list[Rec]]  # rcode, answers, each one's extra, authority


@dataclass
class Lookup:
    kind: str  # service | node | addr | apex
    name: str
    tags: list[str]


class Resolver:
    """Answers DNS queries from a zone. `handle` never raises."""

    def __init__(self, zone: Zone, settings: Settings) -> None:
        self.zone = zone
        self.settings = settings
        self._cache: dict[tuple[bool, bytes], list[bytes]] = {}
        self._cache_version = -1
        self._turn = 0
        self.trouble = RateLimitedLog(log)

    def set_settings(self, settings: Settings) -> None:
        self.settings = settings
        self._cache.clear()

    @property
    def _zone_labels(self) -> Labels:
        return tuple(self.settings.domain.encode().split(b"."))

    # -- wire level ----------------------------------------------------------------------------------------------

    def handle(self, data: bytes, *, udp: bool) -> bytes | None:
        """One query in, one reply out (None: a response, or not even an ID to answer to)."""
        data = bytes(data)
        if len(data) >= 3 and data[2] & 0x80:
            return None  # QR=1: a response, not a query; answering would let two servers ping-pong
        if self._cache_version != self.zone.version or len(self._cache) > CACHE_MAX:
            self._cache.clear()
            self._cache_version = self.zone.version
        key = (udp, data[2:])
        variants = self._cache.get(key)
        if variants is None:
            try:
                query = parse_query(data)
            except BadQuery as exc:
                self.trouble.warning("malformed", "DNS: malformed query dropped with FORMERR: %s", exc)
                return error_reply(data, FORMERR)
            try:
                variants = self.answer(query, udp=udp)
            except Exception as exc:
                self.trouble.warning("failed", "DNS: query failed: %s: %s", type(exc).__name__, exc)
                return error_reply(data, SERVFAIL)
            self._cache[key] = variants
        self._turn += 1
        return data[:2] + variants[self._turn % len(variants)]

    def answer(self, query: Query, *, udp: bool) -> list[bytes]:
        """The reply (without ID) in up to VARIANTS shuffled orders."""
        flags = QR | AA | (query.flags & (0x7800 | RD))
        if query.opcode != 0:
            return [encode(query, flags | NOTIMP, [])]
        if not query.question:
            return [encode(query, flags | FORMERR, [])]
        limit = query.udp_size if udp else TCP_MAX
        max_answers = self.settings.udp_answer_limit if udp else 0
        rcode, answers, extras, authority = self._records(query)
        if rcode == REFUSED:
            flags &= ~AA
        flags |= rcode
        if len(answers) < 2:
            return [encode(query, flags, answers, extras, authority, limit=limit, max_answers=max_answers)]
        out = []
        order = list(range(len(answers)))
        for _ in range(VARIANTS):
            random.shuffle(order)
            out.append(
                encode(
                    query,
                    flags,
                    [answers[i] for i in order],
                    [extras[i] for i in order] if extras else (),
                    authority,
                    limit=limit,
                    max_answers=max_answers,
                )
            )
        return out

    # -- names ---------------------------------------------------------------------------------------------------

    def parse_name(self, qname: str) -> Lookup | bool | None:
        """A Lookup; None for a name in our domain that cannot exist; False outside our domain."""
        labels = [label.lower() for label in qname.rstrip(".").split(".") if label]
        domain = self.settings.domain.split(".")
        if labels[-len(domain) :] != domain:
            return False
        labels = labels[: -len(domain)]
        dc = self.settings.datacenter
        if not labels:
            return Lookup("apex", "", [])
        if len(labels) >= 3 and labels[-1] == "dc":
            if labels[-2] != dc:
                return None
            labels = labels[:-2]
        elif len(labels) >= 3 and labels[-2] in ("service", "node", "addr"):
            if labels[-1] != dc:
                return None
            labels = labels[:-1]
        if len(labels) < 2 or labels[-1] not in ("service", "node", "addr"):
            return None
        kind, parts = labels[-1], labels[:-1]
        if kind != "service":
            return Lookup(kind, ".".join(parts), []) if len(parts) == 1 else None
        if len(parts) == 2 and parts[0].startswith("_") and parts[1].startswith("_"):
            tag = parts[1][1:]
            return Lookup("service", parts[0][1:], [] if tag == "tcp" else [tag])
        return Lookup("service", parts[-1], parts[:-1])

    def _soa(self) -> Rec:
        zone = self._zone_labels
        serial = self.zone.index & 0xFFFFFFFF
        return Rec(
            zone, SOA, 0, struct.pack("!5I", serial, 3600, 600, 86400, 0), ((b"ns", *zone), (b"hostmaster", *zone))
        )

    def _target(self, node: str, address: str, node_address: str) -> str:
        domain, dc = self.settings.domain, self.settings.datacenter
        if not address or address == node_address:
            return f"{node}.node.{dc}.{domain}."
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address.rstrip(".") + "."
        return f"{ip.packed.hex()}.addr.{dc}.{domain}."

    @staticmethod
    def _address_rec(owner: Labels, address: str, ttl: int) -> Rec | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            target = name_labels(address) if address else None
            return Rec(owner, CNAME, ttl, names=(target,)) if target else None
        return Rec(owner, A if ip.version == 4 else AAAA, ttl, ip.packed)

    # -- answers -------------------------------------------------------------------------------------------------

    def _records(self, query: Query) -> Records:
        """(rcode, answers, the additional record each answer needs, authority)."""
        qname = ".".join(label.decode("latin-1") for label in query.labels)
        owner, qtype = query.labels, query.qtype
        lower = qname.lower()
        if lower.endswith((".in-addr.arpa", ".ip6.arpa")) and qtype in (PTR, ANY):
            return self._reverse(owner, lower)
        lookup = self.parse_name(qname)
        if lookup is False:
            return REFUSED, [], [], []
        if lookup is None or lookup is True:
            return NXDOMAIN, [], [], [self._soa()]
        if lookup.kind == "apex":
            return self._apex(qtype)
        if lookup.kind == "service":
            return self._service(owner, qtype, lookup)
        ttl = self.settings.node_ttl
        if lookup.kind == "node":
            node = self.zone.node(lookup.name)
            if node is None:
                return NXDOMAIN, [], [], [self._soa()]
            return self._addresses(owner, qtype, [self.zone.nodes[node]], ttl)
        try:
            address = str(ipaddress.ip_address(bytes.fromhex(lookup.name)))
        except ValueError:
            return NXDOMAIN, [], [], [self._soa()]
        return self._addresses(owner, qtype, [address], ttl)

    def _reverse(self, owner: Labels, lower: str) -> Records:
        """PTR for a node's address (its node name) or a service's own address (the service name)."""
        try:
            if lower.endswith(".in-addr.arpa"):
                address = str(ipaddress.ip_address(".".join(reversed(lower[: -len(".in-addr.arpa")].split(".")))))
            else:
                nibbles = "".join(reversed(lower[: -len(".ip6.arpa")].split(".")))
                address = str(ipaddress.ip_address(bytes.fromhex(nibbles)))
        except ValueError:
            return NXDOMAIN, [], [], [self._soa()]
        domain, dc = self.settings.domain, self.settings.datacenter
        names = [f"{node}.node.{dc}.{domain}" for node, at in self.zone.nodes.items() if at == address]
        names += sorted({f"{i.name}.service.{domain}" for i in self.zone.instances.values() if i.address == address})
        ttl = self.settings.node_ttl
        answers = [Rec(owner, PTR, ttl, names=(labels,)) for labels in map(name_labels, names) if labels]
        if not answers:
            return NXDOMAIN, [], [], [self._soa()]
        return NOERROR, answers, [], []

    def _apex(self, qtype: int) -> Records:
        """The domain itself: its SOA and NS (`ns.<domain>`, this agent), as resolvers that forward to us ask."""
        zone = self._zone_labels
        answers: list[Rec] = []
        extras: list[Rec | None] = []
        if qtype in (SOA, ANY):
            answers.append(self._soa())
            extras.append(None)
        if qtype in (NS, ANY):
            answers.append(Rec(zone, NS, 0, names=((b"ns", *zone),)))
            extras.append(self._address_rec((b"ns", *zone), self.settings.ns_address, 0))
        if not answers:
            return NOERROR, [], [], [self._soa()]
        return NOERROR, answers, extras, []

    def _addresses(self, owner: Labels, qtype: int, addresses: list[str], ttl: int) -> Records:
        answers = []
        for address in dict.fromkeys(addresses):
            rec = self._address_rec(owner, address, ttl)
            if rec is not None and (qtype in (ANY, rec.rtype) or rec.rtype == CNAME):
                answers.append(rec)
        if not answers:
            return NOERROR, [], [], [self._soa()]
        return NOERROR, answers, [], []

    def healthy(self, name: str, tags: list[str]) -> Iterator[tuple[str, Instance]]:
        """(node, instance) of each healthy instance of a service (names and tags match case-insensitively)."""
        bad = ("critical", "warning") if self.settings.only_passing else ("critical",)
        wanted = {t.lower() for t in tags}
        for node, sid in self.zone.by_name(name):
            inst = self.zone.instances[(node, sid)]
            if inst.status in bad:
                continue
            if wanted and not wanted <= {t.lower() for t in inst.tags}:
                continue
            yield node, inst

    def _service(self, owner: Labels, qtype: int, lookup: Lookup) -> Records:
        found = list(self.healthy(lookup.name, lookup.tags))
        if not found:
            return NXDOMAIN, [], [], [self._soa()]
        ttl = self.settings.service_ttl
        answers: list[Rec] = []
        extras: list[Rec | None] = []
        if qtype == SRV:
            for node, inst in found:
                node_address = self.zone.nodes.get(node, "")
                target = name_labels(self._target(node, inst.address, node_address))
                if target is None:
                    continue
                answers.append(Rec(owner, SRV, ttl, struct.pack("!HHH", 1, 1, inst.port), (target,)))
                extra = self._address_rec(target, inst.address or node_address, ttl)
                extras.append(extra if extra is not None and extra.rtype != CNAME else None)
            return NOERROR, answers, extras, []
        return self._addresses(
            owner, qtype, [inst.address or self.zone.nodes.get(node, "") for node, inst in found], ttl
        )
