"""Where an agent's writes go and how its reads are made consistent: a server (a Raft voter) or a client.

Both keep a full replica of the state (`State`) and serve HTTP reads and DNS from it:

- a **server** applies the Raft log it stores; its leader also does what Consul's leader does — turn
  gossip into `serfHealth` (a failed member's node critical, a left one deregistered, a new one
  registered) and expire sessions whose TTL ran out.
- a **client** holds no log: it subscribes to a server's committed log (a snapshot, then each entry
  as it is applied) and forwards writes, session renewals and read-index questions to a server.

Reads follow Consul's consistency modes (`ConsistencyMode`): `stale` answers from the local replica at
once; `default` first asks the leader for its commit index (without a quorum round) and waits until
the replica has applied it; `consistent` has the leader confirm its leadership with a majority first.
Writes return once the local replica has applied them, so an agent always reads its own writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from gitlab_ha.discovery.gossip import ALIVE, DEAD, LEFT, SUSPECT, Gossip, Member
from gitlab_ha.discovery.persist import Entry, Store
from gitlab_ha.discovery.raft import NO_LEADER, NotLeader, RaftNode, Timing
from gitlab_ha.discovery.rpc import Pool, RPCError, RPCServer, StreamSink, Unreachable
from gitlab_ha.discovery.state import (
    SERF_CHECK,
    Command,
    CommandError,
    DeregisterNode,
    RegisterNode,
    SessionCreate,
    SessionDestroy,
    State,
    UpdateCheck,
)
from gitlab_ha.discovery.waits import cancel_and_wait, wait_event

log = logging.getLogger("gitlab_ha.discovery.cluster")

SESSION_TTL_MULTIPLIER = 2.0  # Consul lets a session live up to twice its TTL
NO_SERVERS = "No known Consul servers"
STREAM_KEEPALIVE = 0.5
STREAM_BATCH = 256
RECONCILE_INTERVAL = 1.0
UNKNOWN_GRACE = 10.0  # a catalog node no member answers for turns critical this long after a leader starts


def server_rpc_address(member: Member) -> str:
    return f"{member.addr}:{member.tags.get('port', '8300')}"


class ClusterBase:
    """What the agent asks of the cluster, whichever role it has."""

    state: State
    timing: Timing

    def __init__(self) -> None:
        self.on_change: Callable[[], None] = lambda: None
        self.caught_up = asyncio.Event()  # the replica has seen the cluster's state at least once

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def submit(self, cmd: Command) -> Any:
        raise NotImplementedError

    async def consistent(self, mode: str) -> None:
        raise NotImplementedError

    async def renew_session(self, session_id: str) -> bool:
        raise NotImplementedError

    @property
    def known_leader(self) -> bool:
        raise NotImplementedError

    def last_contact_ms(self) -> int:
        raise NotImplementedError

    def leader_address(self) -> str:
        raise NotImplementedError

    def peer_addresses(self) -> list[str]:
        raise NotImplementedError

    async def status(self) -> tuple[str, list[str]]:
        """(the leader's RPC address or "", the voters' RPC addresses): /v1/status/leader and /peers."""
        return self.leader_address(), self.peer_addresses()

    def stats(self) -> dict[str, str]:
        return {}

    async def wait_applied(self, index: int, deadline: float) -> None:
        """Until the replica has applied `index`; CommandError (500) at the deadline."""
        while self.state.index < index:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CommandError(f"timed out waiting for the local replica to reach index {index}", 500)
            await self._applied_wait(left)

    async def _applied_wait(self, timeout: float) -> None:
        raise NotImplementedError


class ServerCluster(ClusterBase):
    def __init__(
        self,
        *,
        name: str,
        datacenter: str,
        store: Store,
        gossip: Gossip,
        pool: Pool,
        rpc: RPCServer,
        timing: Timing,
        bootstrap_expect: int,
    ) -> None:
        super().__init__()
        self.name = name
        self.datacenter = datacenter
        self.store = store
        self.state = store.state
        self.gossip = gossip
        self.pool = pool
        self.rpc = rpc
        self.timing = timing
        self.bootstrap_expect = bootstrap_expect
        self.raft = RaftNode(
            name,
            store,
            pool,
            address_of=self._address_of,
            timing=timing,
            on_applied=self._applied,
            on_role=self._role_changed,
        )
        rpc.handlers.update(
            {
                "raft.vote": self.raft.handle_vote,
                "raft.append": self.raft.handle_append,
                "raft.snapshot": self.raft.handle_snapshot,
                "apply": self._rpc_apply,
                "read_index": self._rpc_read_index,
                "session.renew": self._rpc_renew,
                "status": self._rpc_status,
            }
        )
        rpc.streams["subscribe"] = self._rpc_subscribe
        self._session_deadline: dict[str, float] = {}
        self._leader_task: asyncio.Task[None] | None = None
        self._members_changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- plumbing ------------------------------------------------------------------------------------------------

    def _address_of(self, name: str) -> str | None:
        member = self.gossip.members.get(name)
        if member is None or member.tags.get("role") != "consul":
            return None
        return server_rpc_address(member)

    def _applied(self, entry: Entry, result: Any) -> None:
        cmd = entry.cmd
        if self.raft.is_leader and isinstance(cmd, SessionCreate) and cmd.ttl > 0:
            self._session_deadline[cmd.session_id] = time.monotonic() + cmd.ttl * SESSION_TTL_MULTIPLIER
        self.on_change()

    def _role_changed(self) -> None:
        if self.raft.is_leader:
            now = time.monotonic()
            # as after a Consul leader election, surviving sessions get a full TTL again
            self._session_deadline = {
                sid: now + float(s["TTL"].rstrip("s")) * SESSION_TTL_MULTIPLIER
                for sid, s in self.state.sessions.items()
                if s["TTL"]
            }
            if self._leader_task is None or self._leader_task.done():
                self._leader_task = asyncio.create_task(self._leader_loop(self.raft.term))
        self.on_change()

    def member_changed(self, member: Member) -> None:
        if member.tags.get("role") == "consul" and member.state in (ALIVE, SUSPECT):
            self.raft.update_address(member.name, server_rpc_address(member))
        self._members_changed.set()

    async def _applied_wait(self, timeout: float) -> None:
        await wait_event(self.raft.changed, timeout)

    # -- life cycle ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        voters = self.raft.voters
        if self.bootstrap_expect == 1 and len(voters) == 1 and self.name not in voters:
            # a standalone server restarted under another node name is still the one voter of its data
            log.info("the data dir's only voter was %s: this server (%s) takes its place", *voters, self.name)
            self.store.save_meta(self.store.term, None, {self.name: next(iter(voters.values()))})
        await self.raft.start()
        self._tasks.append(asyncio.create_task(self._bootstrap_loop()))
        if self.raft.last_applied >= self.store.commit_hint:
            self.caught_up.set()

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._leader_task] if self._leader_task else [])]
        # Exception too: a task that died of an error must not keep Raft (and its port) from stopping
        await cancel_and_wait(tasks, also=(Exception,))
        await self.raft.stop()

    async def _bootstrap_loop(self) -> None:
        """Wait for `bootstrap_expect` servers in gossip, then fix the voters (once, for a new cluster)."""
        while not self.raft.voters:
            servers = {
                m.name: server_rpc_address(m)
                for m in self.gossip.alive()
                if m.tags.get("role") == "consul" and m.tags.get("dc") == self.datacenter
            }
            if self.bootstrap_expect and len(servers) >= self.bootstrap_expect:
                self.raft.bootstrap(servers)
                break
            self._members_changed.clear()
            await wait_event(self._members_changed, 1.0)
        # a new leader or follower catches up: mark the replica usable once it applied what it had
        while not self.caught_up.is_set():
            if self.raft.leader is not None and self.raft.last_applied >= self.raft.commit_index:
                self.caught_up.set()
                self.on_change()
                break
            await wait_event(self.raft.changed, 0.5)

    # -- writes and reads ----------------------------------------------------------------------------------------

    async def submit(self, cmd: Command) -> Any:
        result, index = await self._submit(cmd, time.monotonic() + self.timing.hold)
        await self.wait_applied(index, time.monotonic() + self.timing.hold)
        return result

    # _submit and read_index both go to the leader (here or over RPC) and retry until a deadline, but are
    # kept apart (D33) because what they retry differs and one helper would need a switch for each:
    # - a leader's refusal of a write (CAS failed, bad command: an RPCError other than "No cluster leader")
    #   is the write's answer and goes back to the caller; any RPCError of a remote read_index is a
    #   leadership problem (not leader, no quorum ack), so the read retries;
    # - Raft.apply raises NotLeader only when this node is not the leader, so the write forwards at once;
    #   Raft.read_index also raises it while still leader (its no-op not committed, no quorum), so the read
    #   waits for a Raft change before it asks again, and never forwards in that same round;
    # - the write's last wait is cut at its deadline; the read waits up to 0.2 s a round, whatever is left.
    async def _submit(self, cmd: Command, deadline: float) -> tuple[Any, int]:
        while True:
            if self.raft.is_leader:
                try:
                    return await self.raft.apply(cmd)
                except NotLeader:
                    continue
            address = self.raft.leader_address()
            if address is not None:
                try:
                    reply = await self.pool.call(address, "apply", {"cmd": cmd.to_json()}, timeout=self.timing.hold)
                    return reply["r"], int(reply["index"])
                except Unreachable:
                    pass
                except RPCError as exc:
                    if exc.message != NO_LEADER:
                        raise CommandError(exc.message, exc.status) from None
            if time.monotonic() >= deadline:
                raise CommandError(NO_LEADER, 500)
            await wait_event(self.raft.changed, min(0.2, max(0.01, deadline - time.monotonic())))

    async def read_index(self, consistent: bool) -> int:
        deadline = time.monotonic() + self.timing.hold
        while True:
            if self.raft.is_leader:
                try:
                    return await self.raft.read_index(consistent)
                except NotLeader:
                    pass
            else:
                address = self.raft.leader_address()
                if address is not None:
                    try:
                        return int(
                            await self.pool.call(
                                address, "read_index", {"consistent": consistent}, timeout=self.timing.hold
                            )
                        )
                    except (Unreachable, RPCError):
                        pass
            if time.monotonic() >= deadline:
                raise CommandError(NO_LEADER, 500)
            await wait_event(self.raft.changed, 0.2)

    async def consistent(self, mode: str) -> None:
        if mode == "stale":
            return
        index = await self.read_index(mode == "consistent")
        await self.wait_applied(index, time.monotonic() + self.timing.hold)

    async def renew_session(self, session_id: str) -> bool:
        if self.raft.is_leader:
            return self._renew(session_id)
        address = self.raft.leader_address()
        if address is None:
            raise CommandError(NO_LEADER, 500)
        try:
            return bool(await self.pool.call(address, "session.renew", {"id": session_id}, timeout=self.timing.hold))
        except Unreachable:
            raise CommandError(NO_LEADER, 500) from None

    def _renew(self, session_id: str) -> bool:
        session = self.state.sessions.get(session_id)
        if session is None:
            return False
        if session["TTL"]:
            ttl = float(session["TTL"].rstrip("s"))
            self._session_deadline[session_id] = time.monotonic() + ttl * SESSION_TTL_MULTIPLIER
        return True

    @property
    def known_leader(self) -> bool:
        return self.raft.leader is not None

    def last_contact_ms(self) -> int:
        return self.raft.last_contact_ms()

    def leader_address(self) -> str:
        return self.raft.leader_address() or ""

    def peer_addresses(self) -> list[str]:
        return sorted(self._address_of(n) or a for n, a in self.raft.voters.items())

    def stats(self) -> dict[str, str]:
        return {
            "server": "true",
            "leader": str(self.raft.is_leader).lower(),
            "leader_addr": self.leader_address(),
            "known_datacenters": "1",
            "state": self.raft.role.capitalize(),
            "term": str(self.raft.term),
            "commit_index": str(self.raft.commit_index),
            "applied_index": str(self.raft.last_applied),
            "last_log_index": str(self.store.last_index),
            "num_peers": str(max(0, len(self.raft.voters) - 1)),
        }

    # -- RPC handlers --------------------------------------------------------------------------------------------

    async def _rpc_apply(self, args: Any) -> Any:
        cmd = Command.from_json(args["cmd"])
        try:
            result, index = await self._submit(cmd, time.monotonic() + self.timing.hold)
        except CommandError as exc:
            raise RPCError(exc.message, exc.status) from None
        return {"r": result, "index": index}

    async def _rpc_read_index(self, args: Any) -> Any:
        try:
            return await self.read_index(bool(args.get("consistent")))
        except CommandError as exc:
            raise RPCError(exc.message, exc.status) from None

    async def _rpc_renew(self, args: Any) -> Any:
        try:
            return await self.renew_session(str(args["id"]))
        except CommandError as exc:
            raise RPCError(exc.message, exc.status) from None

    async def _rpc_status(self, args: Any) -> Any:
        return {"leader": self.leader_address(), "peers": self.peer_addresses()}

    async def _rpc_subscribe(self, args: Any, sink: StreamSink) -> None:
        """Stream the committed log from `from` on: a state snapshot when that part is compacted, then entries."""
        sent = int(args.get("from", 0))
        while True:
            while self.raft.last_applied < sent:  # the subscriber is ahead of us: wait until we catch up
                await wait_event(self.raft.changed, STREAM_KEEPALIVE)
                await sink.send(self._keepalive())
            if sent < self.store.snapshot_index or (sent == 0 and self.raft.last_applied > 0):
                await sink.send({"snapshot": self.state.snapshot(), "index": self.state.index})
                sent = self.state.index
            batch: list[Any] = []
            while sent < self.raft.last_applied and len(batch) < STREAM_BATCH:
                if sent + 1 <= self.store.snapshot_index:
                    break
                entry = self.store.entry(sent + 1)
                batch.append(entry.to_json())
                sent += 1
            if batch:
                await sink.send({"entries": batch, **self._keepalive()})
                continue
            if sent < self.store.snapshot_index:
                continue
            changed = self.raft.changed
            await wait_event(changed, STREAM_KEEPALIVE)
            if self.raft.last_applied <= sent:
                await sink.send(self._keepalive())

    def _keepalive(self) -> dict[str, Any]:
        return {"leader": self.known_leader, "contact": self.last_contact_ms(), "applied": self.raft.last_applied}

    # -- the leader's duties -------------------------------------------------------------------------------------

    async def _leader_loop(self, term: int) -> None:
        started = time.monotonic()
        next_reconcile = 0.0
        while self.raft.is_leader and self.raft.term == term:
            try:
                now = time.monotonic()
                for sid, deadline in list(self._session_deadline.items()):
                    if sid not in self.state.sessions:
                        del self._session_deadline[sid]
                    elif deadline <= now:
                        log.info("session %s expired", sid)
                        del self._session_deadline[sid]
                        with contextlib.suppress(CommandError):
                            await self.submit(SessionDestroy(sid, time.time()))
                if self._members_changed.is_set() or now >= next_reconcile:
                    self._members_changed.clear()
                    next_reconcile = now + RECONCILE_INTERVAL
                    await self._reconcile(now - started >= UNKNOWN_GRACE)
            except CommandError as exc:
                log.debug("leader duties: %s", exc.message)
            except Exception:
                log.exception("leader duties failed")
            await wait_event(self._members_changed, 0.1)

    async def _reconcile(self, past_grace: bool) -> None:
        """Gossip → catalog: serfHealth of every member, new members registered, left ones removed."""
        members = {
            m.name: m for m in self.gossip.members.values() if m.tags.get("dc", self.datacenter) == self.datacenter
        }
        for name, member in members.items():
            node = self.state.nodes.get(name)
            serf = self.state.checks.get(name, {}).get(SERF_CHECK)
            if member.state in (ALIVE, SUSPECT):
                if node is None:
                    await self.submit(
                        RegisterNode(name, member.tags.get("id", ""), member.addr, self.datacenter, {}, agent=True)
                    )
                elif serf is not None and serf["Status"] != "passing":
                    await self.submit(
                        UpdateCheck(name, SERF_CHECK, "passing", "Agent alive and reachable", time.time())
                    )
            elif member.state == DEAD:
                if serf is not None and serf["Status"] != "critical":
                    await self.submit(
                        UpdateCheck(name, SERF_CHECK, "critical", "Agent not live or unreachable", time.time())
                    )
            elif member.state == LEFT and node is not None and serf is not None:
                await self.submit(DeregisterNode(name, time.time()))
        if not past_grace:
            return
        for name in list(self.state.nodes):
            serf = self.state.checks.get(name, {}).get(SERF_CHECK)
            if name not in members and serf is not None and serf["Status"] != "critical":
                await self.submit(
                    UpdateCheck(name, SERF_CHECK, "critical", "Agent not live or unreachable", time.time())
                )


class ClientCluster(ClusterBase):
    """A client agent: a replica fed by a server's stream, writes forwarded."""

    def __init__(self, *, datacenter: str, gossip: Gossip, pool: Pool, timing: Timing) -> None:
        super().__init__()
        self.datacenter = datacenter
        self.gossip = gossip
        self.pool = pool
        self.timing = timing
        self.state = State()
        self.server: str | None = None
        self._leader_known = False
        self._contact_ms = 0
        self._contact_at = 0.0
        self._applied = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._servers_changed = asyncio.Event()

    def member_changed(self, member: Member) -> None:
        if member.tags.get("role") == "consul":
            self._servers_changed.set()

    def servers(self) -> list[str]:
        return [
            server_rpc_address(m)
            for m in self.gossip.alive()
            if m.tags.get("role") == "consul" and m.tags.get("dc", self.datacenter) == self.datacenter
        ]

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            # Exception too: a follower loop that died of an error must not break the agent's shutdown
            await cancel_and_wait([self._task], also=(Exception,))

    async def _applied_wait(self, timeout: float) -> None:
        self._applied.clear()
        await wait_event(self._applied, timeout)

    def _wake(self) -> None:
        self._applied.set()
        self.on_change()

    async def _follow(self) -> None:
        """Subscribe to a server's committed log; on a failure, to another one."""
        while True:
            servers = self.servers()
            if not servers:
                self._leader_known = False
                self._servers_changed.clear()
                await wait_event(self._servers_changed, 1.0)
                continue
            server = self.server if self.server in servers else random.choice(servers)
            self.server = server
            try:
                async for message in self.pool.get(server).stream("subscribe", {"from": self.state.index}):
                    self._received(message)
            except (RPCError, OSError) as exc:
                log.info("lost the log stream from %s: %s", server, exc)
            self.server = None
            self._leader_known = False
            await asyncio.sleep(0.2)

    def _received(self, message: Any) -> None:
        if not isinstance(message, dict):
            return
        if "snapshot" in message:
            fresh = State.restore(message["snapshot"])
            fresh.index = max(fresh.index, int(message["index"]))
            self.state.replace_with(fresh)
        for raw in message.get("entries") or []:
            entry = Entry.from_json(raw)
            if entry.index <= self.state.index:
                continue
            with contextlib.suppress(CommandError):
                self.state.apply(entry.cmd, entry.index)
        if "leader" in message:
            self._leader_known = bool(message["leader"])
            self._contact_ms = int(message.get("contact", 0))
            self._contact_at = time.monotonic()
            if self.state.index >= int(message.get("applied", 0)) and not self.caught_up.is_set():
                self.caught_up.set()
        self._wake()

    async def _call(self, method: str, args: Any) -> Any:
        """Ask a server (ours first); CommandError with Consul's words when none answers."""
        deadline = time.monotonic() + self.timing.hold
        tried: set[str] = set()
        while True:
            servers = self.servers()
            if not servers:
                if time.monotonic() >= deadline:
                    raise CommandError(NO_SERVERS, 500)
                await asyncio.sleep(0.2)
                continue
            choice = [s for s in servers if s not in tried] or servers
            server = self.server if self.server in choice else random.choice(choice)
            try:
                return await self.pool.call(server, method, args, timeout=self.timing.hold + 1.0)
            except Unreachable:
                tried.add(server)
                if time.monotonic() >= deadline:
                    raise CommandError(NO_LEADER, 500) from None
            except RPCError as exc:
                raise CommandError(exc.message, exc.status) from None

    async def submit(self, cmd: Command) -> Any:
        reply = await self._call("apply", {"cmd": cmd.to_json()})
        await self.wait_applied(int(reply["index"]), time.monotonic() + self.timing.hold)
        return reply["r"]

    async def consistent(self, mode: str) -> None:
        if mode == "stale":
            return
        index = int(await self._call("read_index", {"consistent": mode == "consistent"}))
        await self.wait_applied(index, time.monotonic() + self.timing.hold)

    async def renew_session(self, session_id: str) -> bool:
        return bool(await self._call("session.renew", {"id": session_id}))

    @property
    def known_leader(self) -> bool:
        return self._leader_known

    def last_contact_ms(self) -> int:
        if not self._contact_at:
            return 0
        return self._contact_ms + int((time.monotonic() - self._contact_at) * 1000)

    def leader_address(self) -> str:
        return ""

    def peer_addresses(self) -> list[str]:
        return sorted(self.servers())

    async def status(self) -> tuple[str, list[str]]:
        reply = await self._call("status", {})
        return str(reply["leader"]), [str(p) for p in reply["peers"]]

    def stats(self) -> dict[str, str]:
        return {"server": "false", "known_servers": str(len(self.servers()))}
