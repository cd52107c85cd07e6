"""LAN gossip on UDP (port 8301): SWIM membership and failure detection, optionally AES-GCM sealed.

What Consul's serf/memberlist gives the agents, in the small: every agent knows every member (name,
address, tags: role, dc, RPC port …) and whether it is alive, suspected, failed or left. Each
`probe_interval` an agent pings the next member (round robin over a shuffled list); without an ack
within `probe_timeout` it asks `indirect_checks` others to ping it for it; still nothing by the end of
the interval and the member is *suspect*; unless the member refutes that (a suspect member that hears
of it raises its incarnation and says it is alive) it is *failed* after the suspicion timeout.
Changes ride on every ping and ack (each is sent a few times), and a full state exchange
(push-pull) runs at join and every `push_pull_interval`. Failed members are tried again now and then,
so a healed partition merges. A graceful leave announces `left`.

Three rules of memberlist make sure a live member hears an accusation in time to refute it, whatever
happened to the gossip that carried it (sent while the member was restarting, say): a ping to a suspect
member carries the suspicion; news still goes to failed members for `gossip_to_the_dead`; and a member
that hears itself alive at a higher incarnation than its own (it restarted, at incarnation 0) takes a
higher one, as it does when its tags differ (so others accept its new self at all).

Encryption (`encrypt`, a 16/24/32-byte base64 key): every packet is `0x01 | nonce(12) | AES-GCM(json)`.
`encrypt_verify_outgoing = false` sends plain packets (`0x00 | json`); `encrypt_verify_incoming = false`
accepts them; both true (the default) refuse anything not sealed with the key — which is how Consul
rolls encryption out: both false, then outgoing, then incoming. A node with another key cannot
decrypt (nor be decrypted) and never joins.

Why not `swim-protocol` (PyPI): it pickles packets (an unpickle of network input is code execution
for anyone who learns or guesses the HMAC secret, which defaults to the host's MAC address), it only
signs and never encrypts (node names and tags travel in clear text), it has no `left` state, needs a
TCP listener on the same port and names members `host:port`. What serf needs here is small enough to
write plainly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import math
import os
import random
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gitlab_ha.discovery.waits import cancel_and_wait, within

log = logging.getLogger("gitlab_ha.discovery.gossip")

ALIVE, SUSPECT, DEAD, LEFT = "alive", "suspect", "dead", "left"
_RANK = {ALIVE: 0, SUSPECT: 1, DEAD: 2, LEFT: 3}
SERF_STATUS = {ALIVE: 1, SUSPECT: 1, DEAD: 4, LEFT: 3}  # Consul's member status codes
PLAIN, SEALED = 0, 1
MAX_PACKET = 65000
DEFAULT_PORT = 8301


@dataclass(frozen=True)
class Profile:
    """Gossip timing. Consul's LAN defaults unless `gossip_lan` says otherwise (a dead node is failed after
    about probe 1 s + suspicion 4 × log10(n) s: 5-6 s in a 15-node cluster); `-dev` runs Consul's dev-mode
    timing (about 0.3 s)."""

    probe_interval: float = 1.0
    probe_timeout: float = 0.5
    suspicion_mult: float = 4.0  # suspicion timeout = suspicion_mult * probe_interval * max(1, log10(n))
    indirect_checks: int = 3
    retransmit_mult: int = 4
    push_pull_interval: float = 30.0
    reconnect_interval: float = 30.0
    gossip_interval: float = 0.2  # news is also sent to `gossip_nodes` members this often, not only on pings
    gossip_nodes: int = 3
    gossip_to_the_dead: float = 30.0  # memberlist's GossipToTheDeadTime: a failed member still hears news


CONSUL_LAN = Profile()
# Consul's -dev agent (agent/config/default.go, DevConsulSource): memberlist probes and gossip every 100 ms.
# push-pull and reconnect stay short here too: a dev cluster is small and restarts often.
DEV = Profile(probe_interval=0.1, probe_timeout=0.1, suspicion_mult=3.0, push_pull_interval=10.0,
              reconnect_interval=2.0, gossip_interval=0.1)  # fmt: skip


class Keyring:
    """The gossip key and Consul's two verify switches."""

    def __init__(self, key_b64: str = "", *, verify_incoming: bool = True, verify_outgoing: bool = True) -> None:
        self._aead = AESGCM(base64.b64decode(key_b64)) if key_b64 else None
        self.verify_incoming = verify_incoming
        self.verify_outgoing = verify_outgoing
        self._complained: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        return self._aead is not None

    def seal(self, data: bytes) -> bytes:
        if self._aead is None or not self.verify_outgoing:
            return bytes([PLAIN]) + data
        nonce = os.urandom(12)
        return bytes([SEALED]) + nonce + self._aead.encrypt(nonce, data, None)

    def open(self, packet: bytes, sender: tuple[str, int]) -> bytes | None:
        if not packet:
            return None
        kind = packet[0]
        if kind == SEALED:
            if self._aead is None:
                self._complain("encrypted gossip from %s:%s, but this agent has no key (set encrypt)", sender)
                return None
            try:
                return self._aead.decrypt(packet[1:13], packet[13:], None)
            except (InvalidTag, ValueError):
                self._complain("gossip from %s:%s could not be decrypted with this agent's key", sender)
                return None
        if kind == PLAIN:
            if self._aead is not None and self.verify_incoming:
                self._complain("unencrypted gossip from %s:%s refused (encrypt_verify_incoming)", sender)
                return None
            return packet[1:]
        return None

    def _complain(self, message: str, sender: tuple[str, int]) -> None:
        now = time.monotonic()
        if now - self._complained.get(message, -1e9) >= 10.0:  # once per 10 s per kind, not per packet
            self._complained[message] = now
            log.warning(message, *sender[:2])


@dataclass
class Member:
    name: str
    addr: str
    port: int
    tags: dict[str, str]
    incarnation: int = 0
    state: str = ALIVE
    since: float = field(default_factory=time.monotonic)

    def update(self) -> dict[str, Any]:
        return {"n": self.name, "a": self.addr, "p": self.port, "i": self.incarnation, "s": self.state, "t": self.tags}

    @property
    def status(self) -> int:
        return SERF_STATUS[self.state]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, gossip: Gossip) -> None:
        self.gossip = gossip
        self.closed = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.gossip._received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.debug("gossip socket: %s", exc)


class Gossip:
    def __init__(
        self,
        name: str,
        bind: str,
        port: int,
        *,
        advertise: str = "",
        tags: dict[str, str] | None = None,
        keyring: Keyring | None = None,
        profile: Profile = CONSUL_LAN,
        on_change: Callable[[Member], None] | None = None,
    ) -> None:
        self.name = name
        self.bind = bind
        self.port = port
        self.keyring = keyring or Keyring()
        self.profile = profile
        self.on_change = on_change
        self.me = Member(name, advertise or bind, port, dict(tags or {}))
        self.members: dict[str, Member] = {name: self.me}
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _Protocol | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._seq = 0
        self._acks: dict[int, asyncio.Future[bool]] = {}
        self._relays: dict[int, tuple[int, tuple[str, int]]] = {}  # our seq -> (their seq, requester)
        self._queue: dict[str, tuple[dict[str, Any], int]] = {}  # node -> (update, sends left)
        self._suspicions: dict[str, asyncio.TimerHandle] = {}
        self._order: list[str] = []
        self.leaving = False

    # -- life cycle ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.bind else socket.AF_INET
        transport, self._protocol = await loop.create_datagram_endpoint(
            lambda: _Protocol(self), local_addr=(self.bind, self.port), family=family
        )
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        self.me.port = self.port
        self._tasks = [
            asyncio.create_task(self._probe_loop()),
            asyncio.create_task(self._background_loop()),
            asyncio.create_task(self._gossip_loop()),
        ]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        for handle in self._suspicions.values():
            handle.cancel()
        if self._transport is not None and self._protocol is not None:
            self._transport.close()
            await self._protocol.closed  # the socket is closed only then: the port is free once stop returns

    async def leave(self, wait: float = 1.0) -> None:
        """Announce `left` to everyone (several times), then stop answering."""
        self.leaving = True
        self.me.incarnation += 1
        self.me.state = LEFT
        self._enqueue(self.me.update())
        peers = self._live_others()
        deadline = time.monotonic() + wait
        for _ in range(3):
            for member in peers:
                self._send(member, {"t": "sync", "from": self.name, "m": [self.me.update()], "reply": False})
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    async def join(self, addresses: list[str], timeout: float = 1.0) -> int:
        """Push-pull with each address (`host` or `host:port`); how many answered."""
        loop = asyncio.get_running_loop()
        answered = 0
        for address in addresses:
            host, port = split_host_port(address, DEFAULT_PORT)
            try:
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
            except OSError as exc:
                log.warning("join %s: %s", address, exc)
                continue
            target = (str(infos[0][4][0]), int(infos[0][4][1]))
            if target in ((self.me.addr, self.port), (self.bind, self.port)):
                continue
            self._seq += 1
            seq = self._seq
            fut: asyncio.Future[bool] = loop.create_future()
            self._acks[seq] = fut
            self._send_to(target, {"t": "sync", "from": self.name, "m": self._state(), "reply": True, "seq": seq})
            try:
                await within(fut, timeout)
                answered += 1
            except TimeoutError:
                log.debug("join %s: no answer", address)
            finally:
                self._acks.pop(seq, None)
        return answered

    # -- views ---------------------------------------------------------------------------------------------------

    def alive(self) -> list[Member]:
        return [m for m in self.members.values() if m.state in (ALIVE, SUSPECT)]

    def _live_others(self) -> list[Member]:
        return [m for m in self.members.values() if m.name != self.name and m.state in (ALIVE, SUSPECT)]

    def _state(self) -> list[dict[str, Any]]:
        return [m.update() for m in self.members.values()]

    # -- sending -------------------------------------------------------------------------------------------------

    def _send(self, member: Member, msg: dict[str, Any], about: Sequence[dict[str, Any]] = ()) -> None:
        self._send_to((member.addr, member.port), msg, about)

    def _send_to(self, target: tuple[str, int], msg: dict[str, Any], about: Sequence[dict[str, Any]] = ()) -> None:
        if self._transport is None or self._transport.is_closing():
            return
        if msg["t"] in ("ping", "ack", "ping_req", "gossip"):
            msg["u"] = [*about, *self._piggyback()]
        data = json.dumps(msg, separators=(",", ":")).encode()
        if len(data) > MAX_PACKET:
            msg.pop("u", None)
            data = json.dumps(msg, separators=(",", ":")).encode()
        with contextlib.suppress(OSError):
            self._transport.sendto(self.keyring.seal(data), target)

    def _enqueue(self, update: dict[str, Any]) -> None:
        sends = self.profile.retransmit_mult * max(1, math.ceil(math.log10(len(self.members) + 1)))
        self._queue[update["n"]] = (update, sends)

    def _piggyback(self, limit: int = 16) -> list[dict[str, Any]]:
        out = []
        for name, (update, left) in sorted(self._queue.items(), key=lambda kv: -kv[1][1])[:limit]:
            out.append(update)
            if left <= 1:
                del self._queue[name]
            else:
                self._queue[name] = (update, left - 1)
        return out

    # -- receiving -----------------------------------------------------------------------------------------------

    def _received(self, packet: bytes, sender: tuple[str, int]) -> None:
        data = self.keyring.open(packet, sender)
        if data is None or self.leaving:
            return
        try:
            msg = json.loads(data)
        except ValueError:
            return
        if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
            return
        try:
            self._handle(msg, sender)
        except (KeyError, TypeError, ValueError) as exc:
            log.debug("malformed gossip from %s: %s", sender, exc)

    def _handle(self, msg: dict[str, Any], sender: tuple[str, int]) -> None:
        for update in msg.get("u") or []:
            self._merge(update)
        kind = msg["t"]
        if kind == "ping":
            if msg.get("target") == self.name:
                self._send_to(sender, {"t": "ack", "seq": msg["seq"], "from": self.name})
        elif kind == "ack":
            seq = int(msg["seq"])
            relay = self._relays.pop(seq, None)
            if relay is not None:
                their_seq, requester = relay
                self._send_to(requester, {"t": "ack", "seq": their_seq, "from": self.name})
            fut = self._acks.get(seq)
            if fut is not None and not fut.done():
                fut.set_result(True)
        elif kind == "ping_req":
            target = self.members.get(str(msg["target"]))
            if target is not None:
                self._seq += 1
                self._relays[self._seq] = (int(msg["seq"]), sender)
                self._send(target, {"t": "ping", "seq": self._seq, "from": self.name, "target": target.name})
                asyncio.get_running_loop().call_later(5.0, self._relays.pop, self._seq, None)
        elif kind == "sync":
            for update in msg.get("m") or []:
                self._merge(update, remote_state=True)
            if msg.get("reply"):
                self._send_to(sender, {"t": "sync", "from": self.name, "m": self._state(), "reply": False,
                                       "seq": msg.get("seq")})  # fmt: skip
            reply_to = msg.get("seq")
            if not msg.get("reply") and isinstance(reply_to, int):
                fut = self._acks.get(reply_to)
                if fut is not None and not fut.done():
                    fut.set_result(True)

    def _merge(self, update: dict[str, Any], *, remote_state: bool = False) -> None:
        """Apply one member's news. `remote_state`: it comes from another member's full state (push-pull),
        where a death is only that member's opinion: like memberlist's mergeState, it makes the member
        suspect here, so that a live member refutes it instead of being failed at once. A partitioned
        node, healed, used to hand every server its verdict on the nodes it could not reach: the new
        Patroni leader's node was failed, its session ended and the stale old leader took over."""
        name, inc, state = str(update["n"]), int(update["i"]), str(update["s"])
        if state not in _RANK:
            return
        if remote_state and state == DEAD:
            state = SUSPECT
        if name == self.name:
            if not self.leaving and self._contradicts_me(update, state, inc):
                self.me.incarnation = inc + 1  # refute: we are alive, and as we are now
                self._enqueue(self.me.update())
            return
        member = self.members.get(name)
        if member is None:
            if state not in (ALIVE, SUSPECT):
                return  # news of the death of someone we never knew
            member = Member(name, str(update["a"]), int(update["p"]), dict(update.get("t") or {}), inc, ALIVE)
            self.members[name] = member
            self._enqueue(member.update())
            if state == SUSPECT:
                self._suspect(member, inc)
            self._changed(member)
            return
        newer = inc > member.incarnation
        same = inc == member.incarnation
        if state == ALIVE:
            if newer:
                was = member.state
                member.incarnation = inc
                member.addr, member.port = str(update["a"]), int(update["p"])
                member.tags = dict(update.get("t") or member.tags)
                member.state = ALIVE
                self._cancel_suspicion(name)
                self._enqueue(member.update())
                if was != ALIVE:
                    member.since = time.monotonic()
                    self._changed(member)
        elif newer or (same and _RANK[state] > _RANK[member.state]):
            if state == SUSPECT:
                if member.state == ALIVE or (newer and member.state == SUSPECT):
                    self._suspect(member, inc)
            else:
                self._set(member, state, inc)

    def _contradicts_me(self, update: dict[str, Any], state: str, inc: int) -> bool:
        """News about this member that others would believe over what it says of itself: an accusation at
        its incarnation or later, or an alive record from a previous life (a higher incarnation, or the same
        one with other tags or address) — memberlist's aliveNode refutes those too."""
        if state != ALIVE:
            return inc >= self.me.incarnation
        if inc > self.me.incarnation:
            return True
        return inc == self.me.incarnation and (
            dict(update.get("t") or {}) != self.me.tags
            or (str(update["a"]), int(update["p"])) != (self.me.addr, self.me.port)
        )

    def _suspect(self, member: Member, inc: int) -> None:
        member.incarnation = inc
        if member.state != SUSPECT:
            member.state = SUSPECT
            member.since = time.monotonic()
        self._enqueue(member.update())
        if member.name not in self._suspicions:
            n = max(1, len(self.members))
            timeout = self.profile.suspicion_mult * self.profile.probe_interval * max(1.0, math.log10(n))
            self._suspicions[member.name] = asyncio.get_running_loop().call_later(
                timeout, self._suspicion_over, member.name, inc
            )

    def _suspicion_over(self, name: str, inc: int) -> None:
        self._suspicions.pop(name, None)
        member = self.members.get(name)
        if member is not None and member.state == SUSPECT and member.incarnation == inc:
            log.info("member %s failed (no answer, suspicion not refuted)", name)
            self._set(member, DEAD, inc)

    def _cancel_suspicion(self, name: str) -> None:
        handle = self._suspicions.pop(name, None)
        if handle is not None:
            handle.cancel()

    def _set(self, member: Member, state: str, inc: int) -> None:
        self._cancel_suspicion(member.name)
        member.incarnation = inc
        changed = member.state != state
        member.state = state
        self._enqueue(member.update())
        if changed:
            member.since = time.monotonic()
            self._changed(member)

    def _changed(self, member: Member) -> None:
        log.info("member %s is %s (%s:%s)", member.name, member.state, member.addr, member.port)
        if self.on_change is not None:
            self.on_change(member)

    # -- probing -------------------------------------------------------------------------------------------------

    def _next_target(self) -> Member | None:
        while True:
            if not self._order:
                self._order = [m.name for m in self._live_others()]
                random.shuffle(self._order)
                if not self._order:
                    return None
            member = self.members.get(self._order.pop())
            if member is not None and member.state in (ALIVE, SUSPECT):
                return member

    async def _probe_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            target = self._next_target()
            if target is not None:
                try:
                    await self._probe(target, started)
                except Exception:
                    log.exception("gossip probe of %s failed", target.name)
            await asyncio.sleep(max(0.0, self.profile.probe_interval - (loop.time() - started)))

    async def _probe(self, target: Member, started: float) -> None:
        loop = asyncio.get_running_loop()
        self._seq += 1
        seq = self._seq
        fut: asyncio.Future[bool] = loop.create_future()
        self._acks[seq] = fut
        # a suspect member hears the suspicion with the ping, to refute it at once (memberlist's probeNode)
        about = [target.update()] if target.state == SUSPECT else []
        try:
            self._send(target, {"t": "ping", "seq": seq, "from": self.name, "target": target.name}, about)
            with contextlib.suppress(TimeoutError):
                await within(asyncio.shield(fut), self.profile.probe_timeout)
                return
            helpers = [m for m in self._live_others() if m.name != target.name]
            for helper in random.sample(helpers, min(len(helpers), self.profile.indirect_checks)):
                self._send(
                    helper,
                    {"t": "ping_req", "seq": seq, "from": self.name, "target": target.name},
                )
            self._send(target, {"t": "ping", "seq": seq, "from": self.name, "target": target.name}, about)
            left = max(self.profile.probe_timeout, self.profile.probe_interval - (loop.time() - started))
            with contextlib.suppress(TimeoutError):
                await within(asyncio.shield(fut), left)
                return
        finally:
            self._acks.pop(seq, None)
        if target.state == ALIVE:
            log.info("member %s suspected (no ack to a direct or indirect ping)", target.name)
            self._suspect(target, target.incarnation)

    async def _gossip_loop(self) -> None:
        """Spread queued news to a few random members every gossip_interval (memberlist's gossip)."""
        while True:
            await asyncio.sleep(self.profile.gossip_interval)
            if not self._queue:
                continue
            now = time.monotonic()
            recently_failed = [
                m for m in self.members.values() if m.state == DEAD and now - m.since < self.profile.gossip_to_the_dead
            ]  # a member failed wrongly hears it and refutes (memberlist's gossip to the dead)
            targets = self._live_others() + recently_failed
            for member in random.sample(targets, min(len(targets), self.profile.gossip_nodes)):
                if not self._queue:
                    break
                self._send(member, {"t": "gossip", "from": self.name})

    async def _background_loop(self) -> None:
        """Push-pull with a random live member now and then; knock on failed members' doors."""
        loop = asyncio.get_running_loop()
        next_sync = loop.time() + self.profile.push_pull_interval
        while True:
            await asyncio.sleep(self.profile.reconnect_interval)
            failed = [m for m in self.members.values() if m.state == DEAD]
            if failed:
                target = random.choice(failed)
                self._send(target, {"t": "sync", "from": self.name, "m": self._state(), "reply": True})
            if loop.time() >= next_sync:
                next_sync = loop.time() + self.profile.push_pull_interval
                live = self._live_others()
                if live:
                    self._send(random.choice(live), {"t": "sync", "from": self.name, "m": self._state(), "reply": True})


def split_host_port(address: str, default_port: int) -> tuple[str, int]:
    """`host`, `host:port`, `[v6]:port` → (host, port)."""
    text = address.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, default_port
