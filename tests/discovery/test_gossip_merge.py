"""A healed node's full state says others are dead: like memberlist's mergeState, that only makes them
suspect, and a live member refutes it. (A partitioned node used to fail the new Patroni leader's node on
every server the moment it rejoined: the leader's session ended and the stale old leader took over.)"""

from __future__ import annotations

import asyncio
import json
import socket

from gitlab_ha.discovery.gossip import ALIVE, DEAD, DEV, SUSPECT, Gossip, Keyring


async def _until(predicate: object, seconds: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.02)
    return False


async def _scenario() -> tuple[str, str, str, int, int]:
    a = Gossip("a", "127.0.0.1", 0, profile=DEV)
    b = Gossip("b", "127.0.0.1", 0, profile=DEV)
    await a.start()
    await b.start()
    try:
        assert await a.join([f"127.0.0.1:{b.port}"]) == 1
        assert await _until(lambda: "a" in b.members and a.members.get("b") is not None, 5)
        before = a.members["b"].incarnation
        # what a healed node "c" sends in its push-pull: its own verdict that b is dead
        stale = {**a.members["b"].update(), "s": DEAD}
        packet = Keyring().seal(json.dumps({"t": "sync", "from": "c", "m": [stale], "reply": False}).encode())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(packet, ("127.0.0.1", a.port))
        assert await _until(lambda: a.members["b"].state != ALIVE, 5)
        heard = a.members["b"].state
        assert await _until(lambda: a.members["b"].state == ALIVE and a.members["b"].incarnation > before, 5)
        return heard, a.members["b"].state, b.members["a"].state, before, a.members["b"].incarnation
    finally:
        await a.stop()
        await b.stop()


def test_a_dead_verdict_in_remote_state_is_only_suspicion_and_is_refuted() -> None:
    heard, now, back, before, after = asyncio.run(_scenario())
    assert heard == SUSPECT  # not DEAD: serfHealth never turns critical for a live node
    assert (now, back) == (ALIVE, ALIVE) and after > before
