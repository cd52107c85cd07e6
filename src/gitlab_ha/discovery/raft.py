"""Raft among the servers: one leader appends commands to the log, a majority stores them, all apply them.

The log is `persist.Store` (fsynced JSON lines); the state machine is `state.State`; the messages go
over `rpc` (TLS when configured). Written for this agent rather than taken from pysyncobj (see
docs/discovery.md): pysyncobj sends pickles over TCP (code execution for anyone who reaches the port
unless a password is set), has no TLS (Consul's `verify_server_hostname` cannot be met), keeps its
journal in an mmap it never syncs (issue 84: acknowledged writes are lost at power loss) without
checksums, and runs its own thread beside the agent's event loop.

What this implementation does, as the Raft paper (and Consul's raft library) do:

- elections with randomised timeouts (`multiplier` × [1.0, 1.8] s; Consul's `raft_multiplier`), a
  pre-vote round so that a node cut off from the others does not inflate terms and depose a healthy
  leader when it returns, and leader stickiness (a follower that heard from its leader within the
  minimum timeout refuses to vote);
- a leader that cannot reach a majority within the minimum election timeout steps down (check
  quorum), so a minority never accepts writes: callers get Consul's "No cluster leader";
- a new leader commits a no-op of its term before it answers reads, then serves `read_index`:
  `default` is the leader's commit index (Consul's default mode), `consistent` additionally waits for
  a heartbeat round acknowledged by a majority (Consul's `?consistent`);
- log matching with conflict hints, batched appends (one fsync per batch), snapshots sent to a
  follower that is behind the compacted log, compaction in a child process off the event loop.

Membership: the voters are fixed when the cluster bootstraps (`bootstrap_expect` servers seen in
gossip) and kept in `raft.json`; the leader sends them with every append, so a server that lost its
data dir comes back as the same voter and catches up from a snapshot. Adding or removing voters of a
running cluster is not implemented.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitlab_ha.discovery.persist import Entry, LogWriteError, Store
from gitlab_ha.discovery.rpc import Pool, RPCError, Unreachable
from gitlab_ha.discovery.state import Command, CommandError, Noop, State
from gitlab_ha.discovery.waits import cancel_and_wait, wait_event
from gitlab_ha.proc import aio

log = logging.getLogger("gitlab_ha.discovery.raft")

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"
NO_LEADER = "No cluster leader"
BATCH_BYTES = 4 * 1024 * 1024
BATCH_ENTRIES = 512
SNAPSHOT_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class Timing:
    """Consul's raft_multiplier: 1 is its high-performance setting, 5 its default."""

    multiplier: int = 1

    @property
    def election_min(self) -> float:
        return 1.0 * self.multiplier

    @property
    def election_max(self) -> float:
        return 1.8 * self.multiplier

    @property
    def heartbeat(self) -> float:
        return 0.1 * self.multiplier

    @property
    def rpc_timeout(self) -> float:
        return 0.5 * self.multiplier

    @property
    def hold(self) -> float:
        """How long a write or read waits for a leader before "No cluster leader" (Consul: rpc_hold_timeout 7 s)."""
        return min(7.0, 3.0 * self.multiplier)


class NotLeader(Exception):
    def __init__(self, leader: str | None) -> None:
        super().__init__(f"not the leader (leader: {leader or 'unknown'})")
        self.leader = leader


class RaftNode:
    def __init__(
        self,
        name: str,
        store: Store,
        pool: Pool,
        *,
        address_of: Callable[[str], str | None],
        timing: Timing = Timing(),
        on_applied: Callable[[Entry, Any], None] | None = None,
        on_role: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.store = store
        self.state: State = store.state
        self.pool = pool
        self.address_of = address_of
        self.timing = timing
        self.on_applied = on_applied
        self.on_role = on_role
        self.role = FOLLOWER
        self.leader: str | None = None
        self.commit_index = store.snapshot_index
        self.last_applied = store.snapshot_index
        self.last_contact = 0.0  # monotonic time of the leader's last append (followers)
        self._deadline = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._replicators: dict[str, asyncio.Task[None]] = {}
        self._wake: dict[str, asyncio.Event] = {}
        self._next: dict[str, int] = {}
        self._match: dict[str, int] = {}
        self._heard: dict[str, float] = {}
        self._round = 0
        self._acked: dict[str, int] = {}
        self._acks_changed = asyncio.Event()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._queue: list[tuple[Command, asyncio.Future[Any]]] = []
        self._flush_scheduled = False
        self._leader_start = 0
        self.changed = asyncio.Event()  # set (and replaced) on every apply and role change
        self._snapshot_in: bytearray | None = None
        self._compacting: aio.AsyncProcess | None = None
        self._stopped = False

    # -- views ---------------------------------------------------------------------------------------------------

    @property
    def voters(self) -> dict[str, str]:
        return self.store.peers

    @property
    def term(self) -> int:
        return self.store.term

    def majority(self) -> int:
        return len(self.voters) // 2 + 1

    @property
    def is_leader(self) -> bool:
        return self.role == LEADER

    def leader_address(self) -> str | None:
        if self.leader is None:
            return None
        return self.address_of(self.leader) or self.voters.get(self.leader)

    def last_contact_ms(self) -> int:
        if self.role == LEADER:
            return 0
        if not self.last_contact:
            return 0
        return int((time.monotonic() - self.last_contact) * 1000)

    # -- life cycle ----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._apply_up_to(self.store.commit_hint)
        self.commit_index = max(self.commit_index, self.last_applied)
        self._reset_deadline(first=True)
        self._tasks.append(asyncio.create_task(self._ticker()))

    async def stop(self) -> None:
        self._stopped = True
        # Exception too: a replicator or timer loop that died of an error must not keep the pending
        # commits below from failing, nor the log from closing
        await cancel_and_wait([*self._tasks, *self._replicators.values()], also=(Exception,))
        self._fail_pending("leadership lost while committing log")
        if self._compacting is not None:
            with contextlib.suppress(Exception):
                await self._compacting.stop(grace=0)

    def bootstrap(self, voters: dict[str, str]) -> None:
        """Set the voters of a new cluster (only while none are known)."""
        if self.voters:
            return
        log.info("bootstrapping Raft with %s", ", ".join(sorted(voters)))
        self.store.save_meta(self.term, self.store.voted_for, voters)
        self._reset_deadline(first=True)

    def update_address(self, name: str, address: str) -> None:
        if name in self.voters and self.voters[name] != address:
            peers = dict(self.voters)
            peers[name] = address
            self.store.save_meta(self.term, self.store.voted_for, peers)

    def _reset_deadline(self, first: bool = False) -> None:
        if len(self.voters) == 1 and self.name in self.voters:
            self._deadline = time.monotonic()  # alone: no one to wait for
            return
        spread = random.uniform(self.timing.election_min, self.timing.election_max)
        self._deadline = time.monotonic() + spread

    def _notify(self) -> None:
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    # -- the ticker: elections and check-quorum -------------------------------------------------------------------

    async def _ticker(self) -> None:
        step = min(0.05, self.timing.heartbeat / 2)
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            try:
                if self.role == LEADER:
                    others = [p for p in self.voters if p != self.name]
                    fresh = sum(1 for p in others if now - self._heard.get(p, 0.0) < self.timing.election_min)
                    if fresh + 1 < self.majority() and now - self._leader_since >= self.timing.election_min:
                        log.warning("lost contact with a majority of the servers: stepping down")
                        self._become_follower(self.term, None)
                elif self.name in self.voters and now >= self._deadline:
                    await self._campaign()
                if self._snapshot_pending():
                    await self._maybe_compact()
            except Exception:
                log.exception("raft tick failed")

    async def _campaign(self) -> None:
        self._reset_deadline()
        others = [p for p in self.voters if p != self.name]
        ask = {
            "term": self.term + 1,
            "candidate": self.name,
            "last_index": self.store.last_index,
            "last_term": self.store.last_term,
        }
        if others:
            granted = 1 + sum(await asyncio.gather(*(self._ask_vote(p, {**ask, "pre": True}) for p in others)))
            if self.role == LEADER:
                return
            if granted < self.majority():
                # a peer may still have heard from the old leader a moment ago: ask again soon, not a whole
                # election timeout later (a pre-vote changes no term, so asking again disturbs no one)
                self._deadline = time.monotonic() + random.uniform(0.1, 0.3) * self.timing.multiplier
                return
        term = self.term + 1
        self.store.save_meta(term, self.name)
        self.role = CANDIDATE
        self.leader = None
        log.info("term %d: standing for election", term)
        ask["term"] = term
        votes = 1 + sum(await asyncio.gather(*(self._ask_vote(p, ask) for p in others)))
        if self.role == CANDIDATE and self.term == term and votes >= self.majority():
            self._become_leader()

    async def _ask_vote(self, peer: str, ask: dict[str, Any]) -> int:
        address = self.address_of(peer) or self.voters.get(peer)
        if not address:
            return 0
        try:
            reply = await self.pool.call(address, "raft.vote", ask, timeout=self.timing.rpc_timeout)
        except (RPCError, OSError):
            return 0
        if not isinstance(reply, dict):
            return 0
        if int(reply.get("term", 0)) > self.term and not ask.get("pre"):
            self._become_follower(int(reply["term"]), None)
            return 0
        return 1 if reply.get("granted") else 0

    # -- roles ---------------------------------------------------------------------------------------------------

    def _become_follower(self, term: int, leader: str | None) -> None:
        if term > self.term:
            self.store.save_meta(term, None)
        was = self.role
        self.role = FOLLOWER
        if leader is not None or was != FOLLOWER:
            self.leader = leader
        if was == LEADER:
            for task in self._replicators.values():
                task.cancel()
            self._replicators.clear()
            self._fail_pending("leadership lost while committing log")
        if was != FOLLOWER:
            self._reset_deadline()
            self._notify()
            if self.on_role is not None:
                self.on_role()

    def _become_leader(self) -> None:
        log.info("term %d: elected leader", self.term)
        self.role = LEADER
        self.leader = self.name
        self._leader_since = time.monotonic()
        now = time.monotonic()
        self._round = 0
        self._acked = {}
        for peer in self.voters:
            if peer == self.name:
                continue
            self._next[peer] = self.store.last_index + 1
            self._match[peer] = 0
            self._heard[peer] = now
            self._wake[peer] = asyncio.Event()
            self._replicators[peer] = asyncio.create_task(self._replicate(peer, self.term))
        self._leader_start = self.store.last_index + 1
        self._enqueue(Noop(), asyncio.get_running_loop().create_future())
        self._notify()
        if self.on_role is not None:
            self.on_role()

    _leader_since = 0.0

    # -- writing (leader) ----------------------------------------------------------------------------------------

    async def apply(self, cmd: Command) -> tuple[Any, int]:
        """Commit `cmd`: (what applying it returned, its index). NotLeader; CommandError if refused or not stored."""
        if self.role != LEADER:
            raise NotLeader(self.leader)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(cmd, fut)
        result, index = await fut
        if isinstance(result, CommandError):
            raise result
        return result, index

    def _enqueue(self, cmd: Command, fut: asyncio.Future[Any]) -> None:
        self._queue.append((cmd, fut))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Append everything queued in this loop iteration with one write and one fsync."""
        self._flush_scheduled = False
        queued, self._queue = self._queue, []
        if not queued:
            return
        if self.role != LEADER:
            for _, fut in queued:
                if not fut.done():
                    fut.set_exception(NotLeader(self.leader))
            return
        first = self.store.last_index + 1
        entries = [Entry(first + i, self.term, cmd) for i, (cmd, _) in enumerate(queued)]
        try:
            self.store.append(entries, self.commit_index)
        except LogWriteError as exc:
            for _, fut in queued:
                if not fut.done():
                    fut.set_exception(CommandError(exc.message, 500))
            return
        for entry, (_, fut) in zip(entries, queued, strict=True):
            self._pending[entry.index] = fut
        for event in self._wake.values():
            event.set()
        self._advance_commit()

    def _fail_pending(self, why: str) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(CommandError(why, 500))
        self._pending.clear()
        for _, fut in self._queue:
            if not fut.done():
                fut.set_exception(CommandError(why, 500))
        self._queue.clear()

    def _advance_commit(self) -> None:
        matches = sorted([self.store.last_index, *(self._match.get(p, 0) for p in self.voters if p != self.name)])
        if not self.voters or self.name not in self.voters:
            return
        candidate = matches[len(matches) - self.majority()]
        if candidate > self.commit_index and self.store.term_at(candidate) == self.term:
            self.commit_index = candidate
            self._apply_up_to(candidate)
            for event in self._wake.values():
                event.set()  # followers learn the new commit index now, not at the next heartbeat

    def _apply_up_to(self, index: int) -> None:
        applied_any = False
        while self.last_applied < min(index, self.store.last_index):
            entry = self.store.entry(self.last_applied + 1)
            result: Any
            try:
                result = self.state.apply(entry.cmd, entry.index)
            except CommandError as exc:
                result = exc
            self.last_applied = entry.index
            applied_any = True
            fut = self._pending.pop(entry.index, None)
            if fut is not None and not fut.done():
                fut.set_result((result, entry.index))
            if self.on_applied is not None:
                self.on_applied(entry, result)
        if applied_any:
            self._notify()

    # -- replication (leader) ------------------------------------------------------------------------------------

    async def _replicate(self, peer: str, term: int) -> None:
        wake = self._wake[peer]
        while self.role == LEADER and self.term == term and not self._stopped:
            wake.clear()  # before sending: a wake-up during the send is not lost
            address = self.address_of(peer) or self.voters.get(peer)
            sent_round = self._round
            try:
                if address is None:
                    raise Unreachable(f"no address for {peer}")
                if self._next[peer] <= self.store.snapshot_index:
                    await self._send_snapshot(peer, address, term)
                else:
                    await self._send_append(peer, address, term, sent_round)
            except (RPCError, OSError) as exc:
                log.debug("append to %s: %s", peer, exc)
                await asyncio.sleep(self.timing.heartbeat)
                continue
            if self._next[peer] <= self.store.last_index and self.role == LEADER:
                continue  # more to send
            if self._round > sent_round:
                continue
            await wait_event(wake, self.timing.heartbeat)

    async def _send_append(self, peer: str, address: str, term: int, sent_round: int) -> None:
        nxt = self._next[peer]
        prev = nxt - 1
        prev_term = self.store.term_at(prev)
        if prev_term is None:
            self._next[peer] = self.store.snapshot_index  # compacted under us: send the snapshot
            return
        batch: list[Any] = []
        size = 0
        for entry in self.store.entries_from(nxt, BATCH_ENTRIES):
            item = entry.to_json()
            size += len(json.dumps(item))
            batch.append(item)
            if size >= BATCH_BYTES:
                break
        reply = await self.pool.call(
            address,
            "raft.append",
            {
                "term": term,
                "leader": self.name,
                "prev_index": prev,
                "prev_term": prev_term,
                "entries": batch,
                "commit": self.commit_index,
                "peers": self.voters,
            },
            timeout=max(self.timing.rpc_timeout, 5.0 if batch else 0.0),
        )
        if self.role != LEADER or self.term != term:
            return
        if int(reply.get("term", 0)) > term:
            self._become_follower(int(reply["term"]), None)
            return
        self._heard[peer] = time.monotonic()
        if reply.get("success"):
            match = int(reply["match"])
            self._match[peer] = max(self._match.get(peer, 0), match)
            self._next[peer] = self._match[peer] + 1
            if sent_round > self._acked.get(peer, 0):
                self._acked[peer] = sent_round
                self._acks_changed.set()
            self._advance_commit()
        else:
            hint = int(reply.get("conflict") or prev)
            self._next[peer] = max(1, min(nxt - 1, hint))

    async def _send_snapshot(self, peer: str, address: str, term: int) -> None:
        payload = self.store.snapshot_bytes()
        index, snap_term = self.store.snapshot_index, self.store.snapshot_term
        log.info("sending the snapshot at %d to %s", index, peer)
        for offset in range(0, max(1, len(payload)), SNAPSHOT_CHUNK):
            chunk = payload[offset : offset + SNAPSHOT_CHUNK]
            reply = await self.pool.call(
                address,
                "raft.snapshot",
                {
                    "term": term,
                    "leader": self.name,
                    "index": index,
                    "last_term": snap_term,
                    "offset": offset,
                    "data": base64.b64encode(chunk).decode(),
                    "done": offset + SNAPSHOT_CHUNK >= len(payload),
                    "peers": self.voters,
                },
                timeout=30.0,
            )
            if int(reply.get("term", 0)) > term:
                self._become_follower(int(reply["term"]), None)
                return
        self._heard[peer] = time.monotonic()
        self._match[peer] = index
        self._next[peer] = index + 1

    # -- reads (leader) ------------------------------------------------------------------------------------------

    async def read_index(self, consistent: bool) -> int:
        """The index a read must see; NotLeader when this node is not (or can no longer prove to be) the leader."""
        if self.role != LEADER:
            raise NotLeader(self.leader)
        deadline = time.monotonic() + self.timing.hold
        while self.commit_index < self._leader_start:  # our no-op is not committed yet
            if self.role != LEADER or time.monotonic() >= deadline:
                raise NotLeader(self.leader if self.role != LEADER else None)
            await wait_event(self.changed, max(0.0, deadline - time.monotonic()))
        index = self.commit_index
        others = [p for p in self.voters if p != self.name]
        if consistent and others:
            self._round += 1
            target = self._round
            for event in self._wake.values():
                event.set()
            while sum(1 for p in others if self._acked.get(p, 0) >= target) + 1 < self.majority():
                if self.role != LEADER or time.monotonic() >= deadline:
                    raise NotLeader(None)
                self._acks_changed.clear()
                await wait_event(self._acks_changed, max(0.0, deadline - time.monotonic()))
        return index

    # -- handlers (followers) ------------------------------------------------------------------------------------

    async def handle_vote(self, args: Any) -> dict[str, Any]:
        term, candidate = int(args["term"]), str(args["candidate"])
        last = (int(args["last_term"]), int(args["last_index"]))
        pre = bool(args.get("pre"))
        now = time.monotonic()
        deny = {"term": self.term, "granted": False}
        if self.role == LEADER and candidate != self.name:
            return deny  # a healthy leader (check-quorum keeps it honest) ignores candidates
        if self.leader is not None and self.leader != candidate and now - self.last_contact < self.timing.election_min:
            return deny  # leader stickiness: we heard from a leader just now
        if term < self.term:
            return deny
        up_to_date = last >= (self.store.last_term, self.store.last_index)
        if pre:
            return {"term": self.term, "granted": up_to_date}
        if term > self.term:
            self._become_follower(term, None)
        if self.store.voted_for in (None, candidate) and up_to_date:
            if self.store.voted_for != candidate:
                self.store.save_meta(self.term, candidate)
            self._reset_deadline()
            return {"term": self.term, "granted": True}
        return {"term": self.term, "granted": False}

    def _heard_from_leader(self, term: int, leader: str, peers: Any) -> None:
        if term > self.term or self.role != FOLLOWER or self.leader != leader:
            was_leader = self.leader
            self._become_follower(term, leader)
            if was_leader != leader:
                self._notify()
                if self.on_role is not None:
                    self.on_role()
        self.last_contact = time.monotonic()
        self._reset_deadline()
        if isinstance(peers, dict) and peers and peers != self.voters:
            self.store.save_meta(self.term, self.store.voted_for, {str(k): str(v) for k, v in peers.items()})

    async def handle_append(self, args: Any) -> dict[str, Any]:
        term = int(args["term"])
        if term < self.term:
            return {"term": self.term, "success": False}
        self._heard_from_leader(term, str(args["leader"]), args.get("peers"))
        prev, prev_term = int(args["prev_index"]), int(args["prev_term"])
        store = self.store
        if prev > store.last_index:
            return {"term": self.term, "success": False, "conflict": store.last_index + 1}
        if prev >= store.snapshot_index:
            have = store.term_at(prev)
            if have != prev_term:
                first = prev
                while first - 1 > store.snapshot_index and store.term_at(first - 1) == have:
                    first -= 1
                return {"term": self.term, "success": False, "conflict": max(1, first)}
        entries = [Entry.from_json(raw) for raw in args.get("entries") or []]
        new: list[Entry] = []
        for entry in entries:
            if entry.index <= store.snapshot_index:
                continue
            if entry.index <= store.last_index:
                if store.term_at(entry.index) == entry.term:
                    continue
                if entry.index <= self.commit_index:
                    log.error("leader %s conflicts with committed entry %d", args["leader"], entry.index)
                    return {"term": self.term, "success": False, "conflict": self.commit_index + 1}
                store.truncate_from(entry.index)
            new.append(entry)
        last_new = entries[-1].index if entries else prev
        commit = min(int(args["commit"]), last_new)
        try:
            store.append(new, commit)
        except LogWriteError as exc:
            log.error("cannot append to the log: %s", exc.message)
            return {"term": self.term, "success": False, "conflict": store.last_index + 1}
        if commit > self.commit_index:
            self.commit_index = commit
            self._apply_up_to(commit)
        return {"term": self.term, "success": True, "match": last_new}

    async def handle_snapshot(self, args: Any) -> dict[str, Any]:
        term = int(args["term"])
        if term < self.term:
            return {"term": self.term}
        self._heard_from_leader(term, str(args["leader"]), args.get("peers"))
        if int(args["offset"]) == 0:
            self._snapshot_in = bytearray()
        if self._snapshot_in is None:
            raise RPCError("snapshot chunk out of order", 400)
        self._snapshot_in += base64.b64decode(args["data"])
        if args.get("done"):
            payload, self._snapshot_in = bytes(self._snapshot_in), None
            if self._compacting is not None:
                with contextlib.suppress(Exception):
                    await self._compacting.stop(grace=0)
                self._compacting = None
            index, _ = self.store.install_snapshot(payload, self.state)
            self.commit_index = max(self.commit_index, index)
            self.last_applied = index
            log.info("installed the leader's snapshot at %d", index)
            self._notify()
            if self.on_applied is not None:
                self.on_applied(Entry(index, int(args["last_term"]), Noop()), None)
        return {"term": self.term}

    # -- compaction ----------------------------------------------------------------------------------------------

    def _snapshot_pending(self) -> bool:
        return self._compacting is not None or self.store.compaction_due()

    async def _maybe_compact(self) -> None:
        if self._compacting is not None:
            if self._compacting.returncode is None:
                return
            code = await self._compacting.wait()
            upto = self._compact_upto
            self._compacting = None
            if code == 0:
                self.store.finish_compaction(upto)
                log.info("compacted the log up to %d", upto)
            else:
                log.error("log compaction failed (exit %d)", code)
            return
        upto = self.last_applied
        if upto <= self.store.snapshot_index:
            return
        self._compact_upto = upto
        self._compacting = await aio.AsyncProcess.spawn(self.store.compact_argv(upto))

    _compact_upto = 0
