"""Consul's DNS interface over UDP and TCP, answered straight from the state (so a check result is
visible in DNS the moment it is applied).

Names under the agent's domain (default `consul`):

- `[tag.]<service>.service[.<dc>.dc].consul` and legacy `<service>.service.<dc>.consul`: A and SRV;
- several tags: `<tag1>.<tag2>.<service>.service.consul` keeps instances carrying *all* of them
  (Consul itself refuses more than one tag label);
- RFC 2782: `_<service>._<tag>.service.consul`, `_tcp` meaning "no tag filter";
- `<node>.node[.<dc>[.dc]].consul` and `<hex-ip>.addr[.<dc>[.dc]].consul`: A.

Instances with a critical check are left out (with `only_passing`, warning ones too); no instance left
gives NXDOMAIN with the SOA, as Consul does. Better than Consul: an answer cut to fit a UDP payload
(512 bytes, or the client's EDNS0 size) always has the TC bit set, so the client retries over TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import random
import struct
from dataclasses import dataclass
from typing import cast

from dnslib import AAAA, CNAME, EDNS0, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, A, DNSHeader, DNSRecord

from gitlab_ha.discovery.catalog import instances
from gitlab_ha.discovery.config import DNSConfig
from gitlab_ha.discovery.state import JSON, State

log = logging.getLogger("gitlab_ha.discovery.dns")

UDP_DEFAULT = 512
UDP_MAX = 4096
TCP_IDLE = 10.0
CACHE_MAX = 10_000  # names cached per state index; random names cannot grow it without bound


@dataclass
class Lookup:
    kind: str  # service | node | addr | apex
    name: str
    tags: list[str]


class Resolver:
    def __init__(self, state: State, *, domain: str, datacenter: str, config: DNSConfig) -> None:
        self.state = state
        self.domain = domain.strip(".").lower()
        self.datacenter = datacenter.lower()
        self.config = config
        self._cache: dict[tuple[str, int], tuple[list[RR], list[RR]]] = {}
        self._cache_index = -1

    def set_config(self, config: DNSConfig) -> None:
        self.config = config
        self._cache_index = -1  # cached records carry the old TTL / filter

    # -- wire level ----------------------------------------------------------------------------------------------

    def handle(self, data: bytes, *, udp: bool) -> bytes | None:
        """One query in, one reply out (None: not even a header to answer to). Never raises."""
        try:
            request = DNSRecord.parse(data)
        except Exception:
            return self._formerr(data)
        try:
            reply = self.answer(request)
            return self._pack(request, reply, udp=udp)
        except Exception:
            log.exception("DNS query failed")
            try:
                fail = DNSRecord(DNSHeader(id=request.header.id, qr=1, ra=0, rcode=RCODE.SERVFAIL), q=request.q)
                return bytes(fail.pack())
            except Exception:
                return self._formerr(data)

    @staticmethod
    def _formerr(data: bytes) -> bytes | None:
        if len(data) < 2:
            return None
        (qid,) = struct.unpack("!H", data[:2])
        return bytes(DNSRecord(DNSHeader(id=qid, qr=1, rcode=RCODE.FORMERR)).pack())

    def _pack(self, request: DNSRecord, reply: DNSRecord, *, udp: bool) -> bytes:
        edns = next((rr for rr in request.ar if rr.rtype == QTYPE.OPT), None)
        if edns is not None:
            reply.add_ar(EDNS0(udp_len=UDP_MAX))
        packed = bytes(reply.pack())
        limit = UDP_DEFAULT
        if edns is not None:
            limit = max(UDP_DEFAULT, min(int(edns.rclass), UDP_MAX))
        answer_limit = self.config.udp_answer_limit if udp else 0
        if answer_limit and len(reply.rr) > answer_limit:
            reply.rr = reply.rr[:answer_limit]
            reply.ar = [
                rr
                for rr in reply.ar
                if rr.rtype == QTYPE.OPT or any(rr.rname == a.rdata.target for a in reply.rr if a.rtype == QTYPE.SRV)
            ]
            reply.header.tc = 1
            packed = bytes(reply.pack())
        if not udp or len(packed) <= limit:
            return packed
        # drop extra records first, then answers, until the reply fits; a cut answer carries TC
        reply.ar = [rr for rr in reply.ar if rr.rtype == QTYPE.OPT]
        packed = bytes(reply.pack())
        while len(packed) > limit and reply.rr:
            reply.rr.pop()
            reply.header.tc = 1
            packed = bytes(reply.pack())
        if len(packed) > limit:
            reply.auth = []
            reply.header.tc = 1
            packed = bytes(reply.pack())
        return packed

    # -- names ---------------------------------------------------------------------------------------------------

    def parse_name(self, qname: str) -> Lookup | bool | None:
        """A Lookup; None for a name in our domain that cannot exist; False outside our domain."""
        labels = [label.lower() for label in qname.rstrip(".").split(".") if label]
        domain = self.domain.split(".")
        if labels[-len(domain) :] != domain:
            return False
        labels = labels[: -len(domain)]
        if not labels:
            return Lookup("apex", "", [])
        if len(labels) >= 3 and labels[-1] == "dc":
            if labels[-2] != self.datacenter:
                return None
            labels = labels[:-2]
        elif len(labels) >= 3 and labels[-2] in ("service", "node", "addr"):
            if labels[-1] != self.datacenter:
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

    def _soa(self) -> RR:
        zone = f"{self.domain}."
        return RR(
            zone,
            QTYPE.SOA,
            ttl=0,
            rdata=SOA(f"ns.{zone}", f"hostmaster.{zone}", (int(self.state.index) & 0xFFFFFFFF, 3600, 600, 86400, 0)),
        )

    def _target(self, node: str, address: str, node_address: str) -> str:
        if not address or address == node_address:
            return f"{node}.node.{self.datacenter}.{self.domain}."
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address.rstrip(".") + "."
        return f"{ip.packed.hex()}.addr.{self.datacenter}.{self.domain}."

    @staticmethod
    def _address_rr(name: str, address: str, ttl: int) -> RR | None:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return RR(name, QTYPE.CNAME, ttl=ttl, rdata=CNAME(address.rstrip(".") + ".")) if address else None
        if ip.version == 4:
            return RR(name, QTYPE.A, ttl=ttl, rdata=A(str(ip)))
        return RR(name, QTYPE.AAAA, ttl=ttl, rdata=AAAA(str(ip)))

    # -- answers -------------------------------------------------------------------------------------------------

    def answer(self, request: DNSRecord) -> DNSRecord:
        reply = request.reply()
        reply.header.ra = 0
        reply.header.aa = 1
        if request.header.opcode != 0:
            reply.header.rcode = RCODE.NOTIMP
            return reply
        if not request.questions:
            reply.header.rcode = RCODE.FORMERR
            return reply
        question = request.questions[0]
        qname = str(question.qname)
        qtype = question.qtype
        lower = qname.lower().rstrip(".")
        if lower.endswith((".in-addr.arpa", ".ip6.arpa")) and qtype in (QTYPE.PTR, QTYPE.ANY):
            return self._reverse(reply, qname, lower)
        lookup = self.parse_name(qname)
        if lookup is False:
            reply.header.rcode = RCODE.REFUSED
            reply.header.aa = 0
            return reply
        if lookup is None or lookup is True:
            return self._nxdomain(reply)
        if lookup.kind == "apex":
            return self._apex(reply, qname, qtype)
        if lookup.kind == "service":
            return self._service(reply, qname, qtype, lookup)
        if lookup.kind == "node":
            node = self.state.nodes.get(lookup.name) or next(
                (n for name, n in self.state.nodes.items() if name.lower() == lookup.name), None
            )
            if node is None:
                return self._nxdomain(reply)
            return self._addresses(reply, qname, qtype, [node["Address"]], int(self.config.node_ttl))
        try:
            address = str(ipaddress.ip_address(bytes.fromhex(lookup.name)))
        except ValueError:
            return self._nxdomain(reply)
        return self._addresses(reply, qname, qtype, [address], int(self.config.node_ttl))

    def _reverse(self, reply: DNSRecord, qname: str, lower: str) -> DNSRecord:
        """PTR for a node's address (its node name) or a service's own address (the service name)."""
        try:
            if lower.endswith(".in-addr.arpa"):
                address = str(ipaddress.ip_address(".".join(reversed(lower[: -len(".in-addr.arpa")].split(".")))))
            else:
                nibbles = "".join(reversed(lower[: -len(".ip6.arpa")].split(".")))
                address = str(ipaddress.ip_address(bytes.fromhex(nibbles)))
        except ValueError:
            return self._nxdomain(reply)
        names = [
            f"{n['Node']}.node.{self.datacenter}.{self.domain}."
            for n in self.state.nodes.values()
            if n["Address"] == address
        ]
        names += sorted(
            {f"{s['Service']}.service.{self.domain}." for _, s in self.state.all_services() if s["Address"] == address}
        )
        ttl = int(self.config.node_ttl)
        for name in names:
            reply.add_answer(RR(qname, QTYPE.PTR, ttl=ttl, rdata=PTR(name)))
        return reply if names else self._nxdomain(reply)

    def _apex(self, reply: DNSRecord, qname: str, qtype: int) -> DNSRecord:
        """The domain itself: its SOA and NS (`ns.<domain>`, this agent), as resolvers that forward to us ask."""
        zone = f"{self.domain}."
        if qtype in (QTYPE.SOA, QTYPE.ANY):
            reply.add_answer(self._soa())
        if qtype in (QTYPE.NS, QTYPE.ANY):
            reply.add_answer(RR(zone, QTYPE.NS, ttl=0, rdata=NS(f"ns.{zone}")))
            own = next(iter(self.state.nodes.values()), None)
            if own is not None:
                rr = self._address_rr(f"ns.{zone}", own["Address"], 0)
                if rr is not None:
                    reply.add_ar(rr)
        if not reply.rr:
            reply.add_auth(self._soa())
        return reply

    def _nxdomain(self, reply: DNSRecord) -> DNSRecord:
        reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(self._soa())
        return reply

    def _addresses(self, reply: DNSRecord, qname: str, qtype: int, addresses: list[str], ttl: int) -> DNSRecord:
        for address in dict.fromkeys(addresses):
            rr = self._address_rr(qname, address, ttl)
            if rr is None:
                continue
            if qtype in (QTYPE.ANY, rr.rtype) or rr.rtype == QTYPE.CNAME:
                reply.add_answer(rr)
        if not reply.rr:
            reply.add_auth(self._soa())
        return reply

    def healthy(self, name: str, tags: list[str]) -> list[JSON]:
        """Healthy instances of a service (name matched case-insensitively, as in Consul's DNS)."""
        found = instances(self.state, name, tags, passing=self.config.only_passing, skip_critical=True)
        if not found:
            for other in {svc["Service"] for _, svc in self.state.all_services()}:
                if other.lower() == name and other != name:
                    return instances(self.state, other, tags, passing=self.config.only_passing, skip_critical=True)
        return found

    def _service(self, reply: DNSRecord, qname: str, qtype: int, lookup: Lookup) -> DNSRecord:
        # The records of a name only change with the state: build them once per index, shuffle per query.
        if self._cache_index != self.state.index or len(self._cache) > CACHE_MAX:
            self._cache.clear()
            self._cache_index = self.state.index
        key = (qname, qtype)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._service_records(qname, qtype, lookup)
            self._cache[key] = cached
        answers, extra = cached
        if not answers:
            return self._nxdomain(reply) if not extra else self._empty(reply)
        shuffled = list(answers)
        random.shuffle(shuffled)
        for rr in shuffled:
            reply.add_answer(rr)
        for rr in extra:
            if rr.rtype != QTYPE.SOA:
                reply.add_ar(rr)
        return reply

    def _empty(self, reply: DNSRecord) -> DNSRecord:
        reply.add_auth(self._soa())
        return reply

    def _service_records(self, qname: str, qtype: int, lookup: Lookup) -> tuple[list[RR], list[RR]]:
        """(answers, additional records); no answers and a SOA in `extra` means the name exists but has no
        record of that type; no answers and nothing else means NXDOMAIN."""
        found = self.healthy(lookup.name, lookup.tags)
        if not found:
            return [], []
        ttl = int(self.config.service_ttl)
        answers: list[RR] = []
        if qtype == QTYPE.SRV:
            extra: dict[str, RR] = {}
            for item in found:
                node, svc = item["Node"], item["Service"]
                target = self._target(node["Node"], svc["Address"], node["Address"])
                srv = SRV(priority=1, weight=1, port=svc["Port"], target=target)
                answers.append(RR(qname, QTYPE.SRV, ttl=ttl, rdata=srv))
                rr = self._address_rr(target, svc["Address"] or node["Address"], ttl)
                if rr is not None and target not in extra and rr.rtype != QTYPE.CNAME:
                    extra[target] = rr
            return answers, list(extra.values())
        for address in dict.fromkeys(item["Service"]["Address"] or item["Node"]["Address"] for item in found):
            rr = self._address_rr(qname, address, ttl)
            if rr is not None and (qtype in (QTYPE.ANY, rr.rtype) or rr.rtype == QTYPE.CNAME):
                answers.append(rr)
        return answers, [] if answers else [self._soa()]


# --- servers -----------------------------------------------------------------------------------------------------


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.resolver.handle(data, udp=True)
        if reply is not None and self.transport is not None:
            with contextlib.suppress(OSError):
                self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("DNS UDP error: %s", exc)


class DNSServer:
    def __init__(self, resolver: Resolver, host: str, port: int) -> None:
        self.resolver = resolver
        self.host = host
        self.port = port
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        # TCP first: with port 0 it picks the port, and UDP takes the same number
        self._tcp = await asyncio.start_server(self._serve_tcp, self.host, self.port, reuse_address=True)
        self.port = self._tcp.sockets[0].getsockname()[1]
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UDP(self.resolver), local_addr=(self.host, self.port)
        )
        self._udp = transport

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        try:
            while True:
                header = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE)
                (length,) = struct.unpack("!H", header)
                data = await asyncio.wait_for(reader.readexactly(length), TCP_IDLE)
                reply = self.resolver.handle(data, udp=False)
                if reply is None:
                    break
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._clients.discard(task)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            for task in list(self._clients):
                task.cancel()
            with contextlib.suppress(Exception):
                await self._tcp.wait_closed()
