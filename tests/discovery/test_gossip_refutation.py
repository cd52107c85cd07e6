"""A live member must hear every accusation in time to refute it, as memberlist makes sure; real members
over UDP on loopback.

- A healed node's full state says others are dead: like memberlist's mergeState, that only makes them
  suspect, and a live member refutes it. (A partitioned node used to fail the new Patroni leader's node on
  every server the moment it rejoined: the leader's session ended and the stale old leader took over.)
- A suspicion spread while the member was restarting reaches it with the next ping (the whole discovery
  cluster once failed its only live server this way: every client answered "No known Consul servers").
- A member failed wrongly still hears news for a while, so it refutes its death.
- A restarted member (incarnation 0 again) outbids the incarnation others remember, and its new tags are
  believed."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections.abc import Callable
from typing import Any

from gitlab_ha.discovery.gossip import ALIVE, DEAD, DEV, SUSPECT, Gossip, Keyring, Profile

# probes every 0.2 s, an unrefuted suspicion fails a member after 4 s, no push-pull or reconnect to rescue
SLOW_SUSPICION = Profile(probe_interval=0.2, probe_timeout=0.1, suspicion_mult=20.0, gossip_interval=0.1,
                         push_pull_interval=60.0, reconnect_interval=60.0)  # fmt: skip


async def _until(predicate: Callable[[], bool], seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return False


def _tell(port: int, msg: dict[str, Any]) -> None:
    """A packet as a third member "c" would send it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(Keyring().seal(json.dumps(msg).encode()), ("127.0.0.1", port))


async def _pair(
    profile: Profile, b_tags: dict[str, str] | None = None, b_profile: Profile | None = None
) -> tuple[Gossip, Gossip]:
    a = Gossip("a", "127.0.0.1", 0, profile=profile)
    b = Gossip("b", "127.0.0.1", 0, profile=b_profile or profile, tags=b_tags)
    await a.start()
    await b.start()
    assert await a.join([f"127.0.0.1:{b.port}"]) == 1
    assert await _until(lambda: "a" in b.members and "b" in a.members, 5)
    return a, b


async def _remote_death() -> tuple[str, str, str, int, int]:
    a, b = await _pair(DEV)
    try:
        before = a.members["b"].incarnation
        # what a healed node "c" sends in its push-pull: its own verdict that b is dead
        _tell(a.port, {"t": "sync", "from": "c", "m": [{**a.members["b"].update(), "s": DEAD}], "reply": False})
        assert await _until(lambda: a.members["b"].state != ALIVE, 5)
        heard = a.members["b"].state
        assert await _until(lambda: a.members["b"].state == ALIVE and a.members["b"].incarnation > before, 5)
        return heard, a.members["b"].state, b.members["a"].state, before, a.members["b"].incarnation
    finally:
        await a.stop()
        await b.stop()


def test_a_dead_verdict_in_remote_state_is_only_suspicion_and_is_refuted() -> None:
    heard, now, back, before, after = asyncio.run(_remote_death())
    assert heard == SUSPECT  # not DEAD: serfHealth never turns critical for a live node
    assert (now, back) == (ALIVE, ALIVE) and after > before


async def _suspected_while_restarting() -> tuple[list[str], int]:
    a, b = await _pair(SLOW_SUSPICION)
    port = b.port
    await b.stop()
    b2: Gossip | None = None
    try:
        assert await _until(lambda: a.members["b"].state == SUSPECT, 3)
        # every copy of the suspicion went out while b was down: gossip alone will never tell the new b
        assert await _until(lambda: "b" not in a._queue, 3)
        suspected_inc = a.members["b"].incarnation
        b2 = Gossip("b", "127.0.0.1", port, profile=SLOW_SUSPICION)  # restarted: joins nobody yet
        await b2.start()
        seen: list[str] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + 6  # past the 4 s suspicion timeout
        while loop.time() < end:
            if not seen or seen[-1] != a.members["b"].state:
                seen.append(a.members["b"].state)
            await asyncio.sleep(0.02)
        return seen, a.members["b"].incarnation - suspected_inc
    finally:
        await a.stop()
        if b2 is not None:
            await b2.stop()


def test_a_suspect_member_hears_the_suspicion_with_the_next_ping_and_refutes_it() -> None:
    seen, raised = asyncio.run(_suspected_while_restarting())
    assert seen == [SUSPECT, ALIVE] and raised > 0  # never failed


async def _wrongly_failed() -> tuple[str, str]:
    # b does not ping a in this test (in a large cluster its turn to ping a comes late): the acks of its
    # pings cannot carry the news, only a's gossip can
    a, b = await _pair(SLOW_SUSPICION, b_profile=dataclasses.replace(SLOW_SUSPICION, probe_interval=60.0))
    try:
        # "c" gossips that b is dead (a death announced by its own prober, not a push-pull opinion)
        _tell(a.port, {"t": "gossip", "from": "c", "u": [{**a.members["b"].update(), "s": DEAD}]})
        assert await _until(lambda: a.members["b"].state == DEAD, 3)
        failed = a.members["b"].state
        await _until(lambda: a.members["b"].state == ALIVE, 3)  # reconnect (60 s here) would be too late
        return failed, a.members["b"].state
    finally:
        await a.stop()
        await b.stop()


def test_a_member_failed_wrongly_hears_of_its_death_and_refutes_it() -> None:
    assert asyncio.run(_wrongly_failed()) == (DEAD, ALIVE)


async def _restarted() -> tuple[int, int, dict[str, str], int]:
    a, b = await _pair(DEV, {"role": "node"})
    port = b.port
    try:
        # b's earlier life reached incarnation 5: it refuted a suspicion "c" raised at incarnation 4
        _tell(b.port, {"t": "gossip", "from": "c", "u": [{**b.me.update(), "s": SUSPECT, "i": 4}]})
        assert await _until(lambda: a.members["b"].incarnation == 5, 5)
    finally:
        await b.stop()
    b2 = Gossip("b", "127.0.0.1", port, profile=DEV, tags={"role": "consul"})  # restarted with new tags
    await b2.start()
    try:
        assert await b2.join([f"127.0.0.1:{a.port}"]) == 1
        await _until(lambda: a.members["b"].tags == {"role": "consul"}, 5)
        return b2.me.incarnation, a.members["b"].incarnation, a.members["b"].tags, a.members["b"].port
    finally:
        await a.stop()
        await b2.stop()


def test_a_restarted_member_outbids_its_previous_incarnation_and_its_new_tags_are_believed() -> None:
    own, seen, tags, port = asyncio.run(_restarted())
    assert own > 5 and seen == own and tags == {"role": "consul"} and port > 0
